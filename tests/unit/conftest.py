"""Unit-test fixtures on top of tests/conftest.py (the trained digits CNN and its files)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def digits_onnx(model_files) -> Path:
    """The trained digits CNN as FP32 ONNX with a dynamic batch (input 'input', output 'output')."""
    return model_files["onnx"]


@pytest.fixture(scope="session")
def quantized_digits(tmp_path_factory: pytest.TempPathFactory, digits_onnx, demo_assets) -> Path:
    """The digits CNN quantized to INT8 QDQ by the onnxruntime backend on the real calibration set."""
    from edgekit.backends.onnxruntime import OnnxRuntimeBackend
    from edgekit.data import load_data
    from edgekit.profile import load_profile

    out = tmp_path_factory.mktemp("quantized") / "model.onnx"
    OnnxRuntimeBackend().quantize(digits_onnx, out, load_data(demo_assets.calib), load_profile("cpu-onnxruntime"))
    return out
