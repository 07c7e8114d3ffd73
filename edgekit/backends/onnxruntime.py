"""ONNX Runtime (CPU execution provider): INT8 as QDQ ONNX from onnxruntime.quantization.

Why this quantizer: NNCF's ONNX-backend QDQ output fuses only part of MobileNetV2 in ORT and
ran 2-5x slower than FP32 there (FIELD-NOTES), while ``quant_pre_process`` + ``quantize_static``
(per-channel S8 weights, U8 activations) fuses every conv into QLinearConv.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgekit.artifact import Format
from edgekit.backends.base import KernelCoverage
from edgekit.data import Dataset
from edgekit.deploy import run_onnxruntime as runner
from edgekit.errors import PipelineError
from edgekit.profile import Profile

log = logging.getLogger(__name__)

INT8_OPS = frozenset({"QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger", "QGemm",
                      "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QAttention", "QLinearConvTranspose"})
FLOAT_OPS = frozenset({"Conv", "FusedConv", "ConvTranspose", "MatMul", "FusedMatMul", "Gemm", "FusedGemm",
                       "Attention", "MultiHeadAttention"})


class OrtSession:
    def __init__(self, session: Any) -> None:
        self.session = session

    def run(self, x: Any) -> np.ndarray:
        """First output for ``x``: an array, or a dict of arrays named after the model's inputs."""
        return runner.run_batched(self.session, x)

    @property
    def fixed_batch(self) -> int | None:
        return runner.fixed_batch(self.session)


class CalibrationReader:
    """Feeds calibration samples one batch at a time (the model's fixed batch, else 1), as the session's
    input dict (every named input of a multi-input model, each in the dtype the model declares)."""

    def __init__(self, session: Any, x: Any, batch: int) -> None:
        feed, n = runner.feed_of(session, x), runner.common.count(x)
        if n < batch:
            feed, n = runner.make_batch(feed, batch), batch  # fewer samples than a fixed batch: repeat them
        self._items = iter([runner.common.take(feed, slice(i, i + batch)) for i in range(0, n - batch + 1, batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def preprocess(src: Path, dst: Path) -> tuple[Path, list[str]]:
    """quant_pre_process (shape inference + graph clean-up) into dst's folder; the source itself if it fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = dst.with_name("preprocessed.onnx")
    try:
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=False)
    except Exception as exc:  # pre-processing is an optimisation; quantization works without it
        return src, [f"quant_pre_process skipped: {str(exc).splitlines()[0][:200]}"]
    return prepared, []


def calibration_reader(src: Path, calib: Dataset, profile: Profile) -> CalibrationReader:
    session = runner.make_session(src, profile.target.threads, "disable")
    return CalibrationReader(session, calib.x, runner.fixed_batch(session) or 1)


def calibration_method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[name]


class OnnxRuntimeBackend:
    name: ClassVar[str] = "onnxruntime"
    native_format: ClassVar[Format] = Format.ONNX
    measures_on_host: ClassVar[bool] = True

    def versions(self) -> dict[str, str]:
        import onnx
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}

    def open(self, path: Path, profile: Profile) -> OrtSession:
        try:
            session = runner.make_session(path, profile.target.threads, profile.target.graph_optimization)
        except Exception as exc:
            raise PipelineError(f"ONNX Runtime cannot load {path}: {str(exc).splitlines()[0][:300]}",
                                "The model uses an operator or opset this onnxruntime does not support.") from exc
        return OrtSession(session)

    def quantize(self, src: Path, dst: Path, calib: Dataset, profile: Profile, *, evald: Dataset | None = None,
                 max_drop: float | None = None) -> dict[str, Any]:
        """QDQ INT8. ``evald``/``max_drop`` are unused: the budget is enforced by verification afterwards."""
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

        cfg = profile.quantize
        prepared, notes = preprocess(src, dst)
        types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
        reader = calibration_reader(src, calib, profile)
        excluded = self._nodes_of_types(prepared, set(cfg.exclude_op_types))
        quantize_static(
            str(prepared), str(dst), reader, quant_format=QuantFormat.QDQ, per_channel=cfg.per_channel,
            activation_type=types[cfg.activation_type], weight_type=types[cfg.weight_type],
            calibrate_method=calibration_method(cfg.calibration_method), nodes_to_exclude=excluded,
            extra_options={"ActivationSymmetric": cfg.symmetric_activations,
                           "WeightSymmetric": cfg.symmetric_weights},
            calibration_providers=["CPUExecutionProvider"],
        )
        if prepared != src:
            prepared.unlink()
        return {"quantizer": "onnxruntime.quantization.quantize_static", "format": "QDQ",
                "per_channel": cfg.per_channel, "activation_type": cfg.activation_type,
                "weight_type": cfg.weight_type, "calibration_method": cfg.calibration_method,
                "calibration_samples": len(calib), "excluded_nodes": len(excluded), "notes": notes}

    @staticmethod
    def _nodes_of_types(path: Path, op_types: set[str]) -> list[str]:
        if not op_types:
            return []
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        return [n.name for n in model.graph.node if n.op_type in op_types]

    def kernel_coverage(self, path: Path, profile: Profile, workdir: Path) -> KernelCoverage:
        """Count integer vs float compute kernels in the graph ORT actually executes."""
        import onnx

        optimized = workdir / f"{path.stem}.ort-optimized.onnx"
        runner.make_session(path, profile.target.threads, profile.target.graph_optimization, optimized)
        graph = onnx.load(str(optimized), load_external_data=False).graph
        optimized.unlink()
        counts = Counter(n.op_type for n in graph.node if n.op_type in INT8_OPS | FLOAT_OPS)
        int8 = sum(v for k, v in counts.items() if k in INT8_OPS)
        return KernelCoverage(int8, sum(counts.values()) - int8, dict(counts))
