"""Produce the edgekit FP32 and INT8 ONNX Runtime artifacts through edgekit's public API."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

PROFILE = "cpu-onnxruntime"
INPUT_SHAPE = (1, 3, 224, 224)


def build_edgekit(model, calib_npz: Path, out_dir: Path) -> dict[str, Path]:
    """Run ``edgekit.compress`` and return ``{variant name: artifact path}`` for fp32/int8."""
    import edgekit

    report = edgekit.compress(
        model,
        PROFILE,
        calib_data=str(calib_npz),
        eval_data=None,
        out_dir=str(out_dir),
        options=edgekit.RunOptions(force=True, input_shape=INPUT_SHAPE),
    )
    paths = {v.name: out_dir / v.artifact for v in report.variants}
    missing = {"fp32", "int8"} - paths.keys()
    if missing:
        raise RuntimeError(f"edgekit report has no variant(s) {sorted(missing)}: got {sorted(paths)}")
    log.info("edgekit artifacts: %s", {k: str(v) for k, v in paths.items()})
    return paths

