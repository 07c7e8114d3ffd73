"""The backend table resolves, missing runtimes say what to install, and INT8 kernels are counted."""

from __future__ import annotations

import importlib

from types import SimpleNamespace

import numpy as np
import pytest

from edgekit import backends
from edgekit.backends import BACKENDS, BackendSpec, get_backend
from edgekit.backends.int8 import RECIPE_CHOICES
from edgekit.backends.onnxruntime import OnnxRuntimeBackend, CalibrationReader
from edgekit.deploy import DEPLOY_DIR
from edgekit.errors import BackendUnavailableError, ExitCode, PipelineError
from edgekit.profile import load_profile


@pytest.fixture(scope="module")
def profile():
    return load_profile("cpu-onnxruntime")


# --- the tables ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_string_resolves(name):
    spec = BACKENDS[name]
    module_name, _, attr = spec.implementation.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    assert cls.name == name == spec.name
    backend = get_backend(name)
    assert isinstance(backend, cls)
    for method in ("versions", "quantize", "open", "kernel_coverage"):
        assert callable(getattr(backend, method))


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_spec_fact_is_usable(name):
    spec = BACKENDS[name]
    assert spec.extra and spec.runtime_name and spec.device_package
    assert (DEPLOY_DIR / spec.runner).is_file(), "write_deploy and the benchmark need a standalone runner"
    assert set(spec.precisions) <= {"fp32", "fp16", "int8"} and "fp32" in spec.precisions
    assert spec.bundle_suffix in spec.artifact_suffixes
    assert spec.int8_recipes[0] == "auto" and set(spec.int8_recipes) <= set(RECIPE_CHOICES)
    # every runner option names a real profile key, and the runner accepts the option
    profile = load_profile("cpu-onnxruntime")
    runner_text = (DEPLOY_DIR / spec.runner).read_text() + (DEPLOY_DIR / "runner_common.py").read_text()
    for option, key in spec.runner_options:
        section, _, field = key.partition(".")
        assert hasattr(getattr(profile, section), field), key
        assert f'"{option}"' in runner_text, option
    assert len(spec.runner_args(profile)) == 2 * len(spec.runner_options)


def test_unknown_backend_is_a_pipeline_error():
    with pytest.raises(PipelineError) as info:
        get_backend("tensorrt-typo")
    assert "onnxruntime" in info.value.hint


def fake_spec(name: str, implementation: str) -> BackendSpec:
    return BackendSpec(name, implementation, ("fp32",), f"edgekit[{name}]", "run_onnxruntime.py", name, name,
                       (".onnx",), ".onnx", ("auto",))


def test_missing_runtime_names_the_pip_extra(monkeypatch):
    monkeypatch.setitem(BACKENDS, "fakert", fake_spec("fakert", "edgekit_no_such_runtime_xyz.backend:FakeBackend"))
    with pytest.raises(BackendUnavailableError) as info:
        get_backend("fakert")
    err = info.value
    assert err.exit_code is ExitCode.BACKEND_UNAVAILABLE
    assert "'fakert'" in err.message and "edgekit_no_such_runtime_xyz" in err.message
    assert "pip install edgekit[fakert]" in err.hint
    assert isinstance(err.__cause__, ImportError)


def test_import_error_inside_the_backend_module_is_reported(monkeypatch, tmp_path):
    # a backend module that exists but whose runtime import fails (the usual missing-extra case)
    (tmp_path / "edgekit_fake_backend_mod.py").write_text("import edgekit_fake_runtime_xyz\nclass B: name = 'fb'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(BACKENDS, "fb", fake_spec("fb", "edgekit_fake_backend_mod:B"))
    with pytest.raises(BackendUnavailableError, match="edgekit_fake_runtime_xyz"):
        get_backend("fb")


def test_backend_table_is_not_imported_eagerly():
    # the table holds facts and "module:Class" strings; resolving one is the only import
    assert all(":" in spec.implementation for spec in backends.BACKENDS.values())


def test_backends_are_named_only_in_the_table():
    """No `backend == "tensorrt"` ladders outside the table: a fourth backend is a spec, a class and a runner."""
    import re
    from pathlib import Path

    root = Path(backends.__file__).resolve().parents[1]
    pattern = re.compile(r"""(backend(_name)?|\.backend)\s*(==|!=|in|not in)\s*[("']+(onnxruntime|openvino|tensorrt)""")
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders


# --- onnxruntime backend on the real digits model ------------------------------------------

def test_kernel_coverage_of_the_quantized_model(quantized_digits, profile, tmp_path):
    cov = OnnxRuntimeBackend().kernel_coverage(quantized_digits, profile, tmp_path)
    assert cov.int8_nodes == 4 and cov.float_nodes == 0
    assert cov.ratio == 1.0
    assert sum(cov.by_op.values()) == 4
    assert list(tmp_path.iterdir()) == [], "the optimised graph dump is removed"


def test_kernel_coverage_of_the_fp32_model(digits_onnx, profile, tmp_path):
    cov = OnnxRuntimeBackend().kernel_coverage(digits_onnx, profile, tmp_path)
    assert cov.int8_nodes == 0 and cov.float_nodes == 4
    assert cov.ratio == 0.0


def test_quantized_model_is_close_to_the_original(quantized_digits, digits_onnx, profile, eval_arrays):
    from edgekit.parity import accuracy, compare

    x, y = eval_arrays
    backend = OnnxRuntimeBackend()
    fp32 = backend.open(digits_onnx, profile).run(x)
    int8 = backend.open(quantized_digits, profile).run(x)
    assert int8.shape == fp32.shape == (len(x), 10)
    assert compare(fp32, int8).top1_agreement > 0.97
    assert accuracy(fp32, y) - accuracy(int8, y) < 2.0
    assert quantized_digits.stat().st_size < digits_onnx.stat().st_size / 2


def test_quantize_reports_what_it_did(digits_onnx, demo_assets, profile, tmp_path):
    from edgekit.data import load_data

    calib = load_data(demo_assets.calib).subset(32, seed=0)
    info = OnnxRuntimeBackend().quantize(digits_onnx, tmp_path / "q.onnx", calib, profile)
    assert info["format"] == "QDQ" and info["calibration_samples"] == 32
    assert info["activation_type"] == "uint8" and info["weight_type"] == "int8"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.onnx"], "no pre-processing leftovers"


def test_open_runs_like_torch(digits_onnx, digits_model, profile, eval_arrays):
    import torch

    x = eval_arrays[0][:40]
    session = OnnxRuntimeBackend().open(digits_onnx, profile)
    assert session.fixed_batch is None
    with torch.no_grad():
        expected = digits_model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(x.astype(np.float64)), expected, rtol=1e-4, atol=1e-4)


def test_open_garbage_is_a_pipeline_error(tmp_path, profile):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"garbage")
    with pytest.raises(PipelineError, match="cannot load"):
        OnnxRuntimeBackend().open(path, profile)


def test_versions():
    import onnxruntime

    assert OnnxRuntimeBackend().versions()["onnxruntime"] == onnxruntime.__version__


class InputsOnly:
    """The part of an onnxruntime.InferenceSession the calibration reader reads: the model's inputs."""

    def __init__(self, *inputs: tuple[str, str]) -> None:
        self.inputs = [SimpleNamespace(name=n, shape=["batch", 1], type=t) for n, t in inputs]

    def get_inputs(self):
        return self.inputs


def test_calibration_reader_batches():
    x = np.arange(10, dtype=np.float32)[:, None]
    session = InputsOnly(("input", "tensor(float)"))
    reader = CalibrationReader(session, x, 4)
    chunks = []
    while (item := reader.get_next()) is not None:
        chunks.append(item["input"][:, 0].tolist())
    assert chunks == [[0, 1, 2, 3], [4, 5, 6, 7]]  # a fixed-batch model cannot take the last 2
    one = CalibrationReader(session, x[:3], 1)
    assert [one.get_next()["input"].shape for _ in range(3)] == [(1, 1)] * 3 and one.get_next() is None


def test_calibration_reader_feeds_every_named_input_in_the_models_dtype():
    x = {"input_ids": np.arange(6, dtype=np.int32)[:, None], "attention_mask": np.ones((6, 1), np.int32)}
    reader = CalibrationReader(InputsOnly(("input_ids", "tensor(int64)"), ("attention_mask", "tensor(int64)")), x, 2)
    items = [reader.get_next() for _ in range(3)]
    assert reader.get_next() is None
    assert [i["input_ids"][:, 0].tolist() for i in items] == [[0, 1], [2, 3], [4, 5]]
    assert {v.dtype for i in items for v in i.values()} == {np.dtype("int64")}
