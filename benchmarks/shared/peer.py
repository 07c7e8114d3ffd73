"""The peer: the same FP32 ONNX quantized by hand with onnxruntime.quantization.

This is what an engineer who knows ONNX Runtime would write without edgekit
(FIELD-NOTES: the path that fully fuses to QLinearConv on these CNNs).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

log = logging.getLogger(__name__)


class _NpzReader(CalibrationDataReader):
    """CalibrationDataReader over an (N, C, H, W) array, one sample per batch."""

    def __init__(self, x: np.ndarray, input_name: str) -> None:
        super().__init__()
        self._batches = iter([{input_name: x[i : i + 1]} for i in range(len(x))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_by_hand(fp32_onnx: Path, calib_npz: Path, out_dir: Path) -> Path:
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out_dir.mkdir(parents=True, exist_ok=True)
    pre = out_dir / "model_pre.onnx"
    out = out_dir / "model_int8.onnx"
    quant_pre_process(str(fp32_onnx), str(pre))
    input_name = onnx.load(str(pre), load_external_data=False).graph.input[0].name
    reader = _NpzReader(np.load(calib_npz)["x"], input_name)
    quantize_static(
        str(pre),
        str(out),
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    log.info("peer INT8 (quantize_static by hand) -> %s", out)
    return out
