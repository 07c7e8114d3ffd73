"""TensorRT (Jetson, NVIDIA GPUs): explicit-INT8 QDQ ONNX everywhere, engines only where they run.

INT8 is explicit quantization only (TensorRT 10.1 deprecated the INT8 calibrator, 11 removed it):
``onnxruntime.quantization.quantize_static`` with signed INT8 activations and weights, symmetric
(zero point 0), per-channel weights on the output axis, QDQ format, no INT32 bias, and only the
weighted ops (Conv/ConvTranspose/Gemm/MatMul) quantized, so Softmax, LayerNorm and the like stay
in float as TensorRT prefers. Every INT8 file is checked against TensorRT's rules
(edgekit.backends.tensorrt.rules) before it is accepted. Why not NVIDIA's ModelOpt: its ``[onnx]`` extra
installs onnxruntime-gpu next to onnxruntime, downgrades onnx and pulls cupy (benchmarks/RESULTS.md),
which breaks the CPU stack edgekit runs on; it remains the quantizer to try on a GPU host.

Two modes, chosen by feature detection when the backend is created:

- host can build (``import tensorrt`` works and a CUDA GPU is visible): each precision is compiled
  to an engine here (Format.TENSORRT_PLAN), verified and timed with deploy/run_tensorrt.py;
- host cannot (this CPU machine, a workstation preparing a Jetson bundle): the variants stay ONNX
  (FP32 ONNX for fp32/fp16, QDQ ONNX for int8). FP32 and INT8 are checked on ONNX Runtime's CPU
  as a host proxy, INT8 with its Q/DQ math emulated in float (``session.disable_quant_qdq``: this CPU's
  integer kernels are not TensorRT's and saturate where the GPU does not), nothing is timed, and the report says the
  engine is built and measured on the device by ``edgekit build-engine``.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from edgekit.artifact import Format
from edgekit.backends.base import KernelCoverage
from edgekit.backends.int8 import plan_recipes
from edgekit.data import Dataset
from edgekit.errors import BackendUnavailableError, PipelineError
from edgekit.hardware import HostFacts, detect
from edgekit.profile import Profile
from edgekit.progress import Progress

log = logging.getLogger(__name__)

WEIGHTED_OPS = ["Conv", "ConvTranspose", "Gemm", "MatMul"]
DEFERRED_REASON = "no TensorRT/GPU on this host: the engine is built and measured on the device (edgekit build-engine)"


def host_status() -> tuple[bool, str]:
    """(can build engines here, why / what): the TensorRT bindings import and a CUDA GPU is visible."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        return False, f"the TensorRT Python bindings are not installed ({exc})"
    from edgekit.deploy import cuda_runtime

    try:
        cuda = cuda_runtime.CudaRuntime()
        if cuda.device_count() < 1:
            return False, "no CUDA GPU is visible"
        return True, f"TensorRT {trt.__version__} on {cuda.device_name(0)}"
    except cuda_runtime.CudaError as exc:
        return False, str(exc)


def build_options(profile: Profile, precision: str) -> Any:
    from edgekit.deploy.trt_build import BuildOptions

    t, c = profile.target, profile.compile
    return BuildOptions(precision=precision, workspace_mb=c.workspace_mb, dla_core=t.dla_core,
                        gpu_fallback=t.gpu_fallback, sparse_weights=c.sparse_weights,
                        batch_sizes=tuple(profile.benchmark.batch_sizes), typing=c.typing)


def quantize_for_tensorrt(src: Path, dst: Path, calib: Dataset, profile: Profile, *, evald: Dataset | None = None,
                          host: HostFacts | None = None, progress: Progress | None = None,
                          task: str | None = None) -> dict[str, Any]:
    """Symmetric INT8 QDQ that TensorRT accepts, accuracy-aware like the ONNX Runtime backend's (calibration
    method, then layers kept in float), checked with the Q/DQ math emulated in float: this host's integer kernels
    are not TensorRT's. Raises PipelineError if the result breaks TensorRT's rules."""
    from edgekit.backends.onnxruntime import quantize_accuracy_aware
    from edgekit.backends.tensorrt.rules import check_tensorrt_rules, describe_violations

    host = host or detect()
    plan = plan_recipes(profile.quantize.recipe, "cuda", host)
    info = quantize_accuracy_aware(
        src, dst, calib, profile, plan, host, evald=evald, progress=progress, task=task, op_types=WEIGHTED_OPS,
        quantizer="onnxruntime.quantization.quantize_static (TensorRT explicit INT8)",
        extra={"QuantizeBias": False, "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}})
    rules = check_tensorrt_rules(dst)
    if not rules.ok:
        raise PipelineError(f"The INT8 ONNX breaks TensorRT's explicit-quantization rules: {describe_violations(rules)}",
                            "Report this model to edgekit; meanwhile exclude the named nodes with [quantize] "
                            "ignored_names in the profile.")
    return {**info, "activation_type": "int8 (symmetric)", "weight_type": "int8 (symmetric)",
            "quantized_op_types": WEIGHTED_OPS, "tensorrt_rules": rules.to_dict()}


class TensorRTBackend:
    name: ClassVar[str] = "tensorrt"

    def __init__(self, status: tuple[bool, str] | None = None) -> None:
        self.can_build, self.host = status if status is not None else host_status()
        # deferred: the bundle carries ONNX; engines are built by `edgekit build-engine` on the device
        self.native_format = Format.TENSORRT_PLAN if self.can_build else Format.ONNX
        self.measures_on_host = self.can_build

    def versions(self) -> dict[str, str]:
        import onnx
        import onnxruntime

        versions = {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
        if self.can_build:
            versions["tensorrt"] = importlib.import_module("tensorrt").__version__
        else:
            versions["tensorrt"] = f"not on this host ({self.host})"
        return versions

    def quantize(self, src: Path, dst: Path, calib: Dataset, profile: Profile, *, evald: Dataset | None = None,
                 max_drop: float | None = None, host: HostFacts | None = None,
                 progress: Progress | None = None, task: str | None = None) -> dict[str, Any]:
        return quantize_for_tensorrt(src, dst, calib, profile, evald=evald, host=host, progress=progress, task=task)

    def compile(self, src: Path, dst: Path, profile: Profile, precision: str = "fp32") -> dict[str, Any]:
        if not self.can_build:
            raise BackendUnavailableError(f"Cannot build a TensorRT engine here: {self.host}.",
                                          "Build it on the device: edgekit build-engine BUNDLE.")
        from edgekit.deploy.trt_build import BuildError, build_engine

        import shutil

        shutil.copy2(src, dst.with_suffix(".onnx"))  # what the device rebuilds the engine from
        try:
            return build_engine(src, dst, build_options(profile, precision), timing_cache=dst.parent / "timing.cache",
                                log=log.info)
        except BuildError as exc:
            raise PipelineError(f"TensorRT engine build failed: {exc}",
                                "Check the profile's [compile]/[target] TensorRT settings.") from exc

    def open(self, path: Path, profile: Profile, *, emulate_qdq: bool = False) -> Any:
        if path.suffix == ".plan":
            from edgekit.deploy.run_tensorrt import open_session

            try:
                return open_session(path)
            except RuntimeError as exc:
                raise PipelineError(f"TensorRT cannot load {path}: {exc}", "Rebuild the engine on this device.") from exc
        from edgekit.backends.onnxruntime import OnnxRuntimeBackend

        # host proxy for an ONNX bound for TensorRT (INT8: the Q/DQ math emulated in float, see backends.int8)
        return OnnxRuntimeBackend().open(path, profile, emulate_qdq=emulate_qdq)

    def kernel_coverage(self, path: Path, profile: Profile, workdir: Path) -> KernelCoverage:
        """INT8 compute nodes: in a built engine, layers the inspector reports with INT8 inputs; in the
        ONNX that ships to the device, Conv/Gemm/MatMul with Q/DQ on input and weight (TensorRT's rule)."""
        if path.suffix == ".plan":
            return engine_coverage(self.open(path, profile))
        from edgekit.backends.tensorrt.rules import check_tensorrt_rules

        rules = check_tensorrt_rules(path)
        return KernelCoverage(rules.quantized_compute_nodes, rules.compute_nodes - rules.quantized_compute_nodes,
                              {"QDQ Conv/Gemm/MatMul": rules.quantized_compute_nodes})


COMPUTE_LAYER_HINTS = ("conv", "gemm", "matrixmultiply", "deconv", "fullyconnected")


def engine_coverage(session: Any) -> KernelCoverage:
    """Count compute layers whose inputs are INT8 in the engine inspector's layer information."""
    engine, trt = session.engine, session.trt
    if not hasattr(engine, "create_engine_inspector"):
        return KernelCoverage(0, 0, {"inspector": 0})
    info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    counts: Counter[str] = Counter()
    int8 = other = 0
    for layer in info.get("Layers", []):
        if not isinstance(layer, dict):
            continue
        kind = str(layer.get("LayerType", ""))
        if not any(h in kind.lower() for h in COMPUTE_LAYER_HINTS):
            continue
        formats = " ".join(str(i.get("Format/Datatype", "")) for i in layer.get("Inputs", []))
        is_int8 = "int8" in formats.lower()
        int8 += is_int8
        other += not is_int8
        counts[f"{kind} ({'int8' if is_int8 else 'float'})"] += 1
    return KernelCoverage(int8, other, dict(counts))
