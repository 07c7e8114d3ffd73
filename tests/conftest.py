"""Shared fixtures: a real digits CNN (trained once per session, cached in a temp dir) and its data."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

FAST_PROFILE = """\
schema_version = 1
name = "test-fast"
description = "cpu-onnxruntime with few benchmark iterations, for tests"

[target]
backend = "onnxruntime"
threads = 1

[prune]
round_to = 1  # the default follows the host's ISA (8 or 16): tests prune the same on every host

[benchmark]
batch_sizes = [1, 4]
warmup = 2
iterations = 10
"""

# FP32 only, one batch size, a fixed 3 timed calls: for tests of what is built and verified, not of its speed
FP32_PROFILE = """\
schema_version = 1
name = "test-fp32"
description = "FP32 only, one batch size, few iterations"

[target]
backend = "onnxruntime"
threads = 1

[compile]
precisions = ["fp32"]

[benchmark]
batch_sizes = [1]
warmup = 1
iterations = 3
target_ci = 0
"""


@pytest.fixture(scope="session")
def fp32_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profiles") / "test-fp32.toml"
    path.write_text(FP32_PROFILE)
    return path


@pytest.fixture(scope="session")
def demo_assets(tmp_path_factory: pytest.TempPathFactory):
    """The digits CNN trained on real digits, plus calib.npz / eval.npz (held-out, labelled)."""
    from edgekit.demo import prepare_demo

    root = tmp_path_factory.mktemp("cache")
    os.environ["EDGEKIT_CACHE_DIR"] = str(root)  # the CLI's `demo` command reuses this cache
    return prepare_demo(seed=0, root=root / "demo")


@pytest.fixture(scope="session")
def digits_model(demo_assets):
    import torch

    from edgekit.demo import digits_cnn

    model = digits_cnn()
    model.load_state_dict(torch.load(demo_assets.weights, weights_only=True))
    return model.eval()


@pytest.fixture(scope="session")
def fast_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profiles") / "test-fast.toml"
    path.write_text(FAST_PROFILE)
    return path


@pytest.fixture(scope="session")
def eval_arrays(demo_assets) -> tuple[np.ndarray, np.ndarray]:
    with np.load(demo_assets.eval) as data:
        return data["x"], data["y"]


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory, digits_model) -> dict[str, Path]:
    """The same trained model saved in every form edgekit accepts (and one it refuses by default)."""
    import torch

    root = tmp_path_factory.mktemp("models")
    example = torch.zeros(2, 1, 8, 8)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(digits_model, (example,), dynamic_shapes=({0: batch},))
    files = {"pt2": root / "digits.pt2", "torchscript": root / "digits.ts", "pickle": root / "digits_full.pt",
             "state_dict": root / "digits_sd.pt", "onnx": root / "digits.onnx"}
    torch.export.save(program, str(files["pt2"]))
    torch.jit.save(torch.jit.trace(digits_model, example), str(files["torchscript"]))
    torch.save(digits_model, files["pickle"])
    torch.save(digits_model.state_dict(), files["state_dict"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is chosen on purpose
        torch.onnx.export(digits_model, (example,), str(files["onnx"]), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    return files
