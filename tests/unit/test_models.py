"""Model loading: every accepted form loads the same trained network; every refusal says what to do."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import ExitCode, ModelLoadError, ModelNotFoundError, UntrustedPickleError
from edgekit.models import ModelKind, load_model


def run_torch(module, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


@pytest.fixture(scope="module")
def reference(digits_model, eval_arrays) -> tuple[np.ndarray, np.ndarray]:
    x = eval_arrays[0][:64]
    return x, run_torch(digits_model, x)


def load_error(*args, cls=ModelLoadError, exit_code=ExitCode.BAD_MODEL, **kwargs) -> ModelLoadError:
    with pytest.raises(cls) as info:
        load_model(*args, **kwargs)
    assert info.value.exit_code is exit_code
    assert info.value.hint
    return info.value


# --- what loads --------------------------------------------------------------------------

def test_exported_program(model_files, reference):
    loaded = load_model(model_files["pt2"])
    assert loaded.kind is ModelKind.EXPORTED_PROGRAM and loaded.is_torch
    assert loaded.example_shape == (2, 1, 8, 8)
    assert loaded.exported_program is not None
    assert loaded.source == str(model_files["pt2"]) and len(loaded.sha256) == 64
    x, expected = reference
    np.testing.assert_allclose(run_torch(loaded.module, x), expected, rtol=1e-5, atol=1e-5)


def test_torchscript(model_files, reference):
    loaded = load_model(str(model_files["torchscript"]))
    assert loaded.kind is ModelKind.TORCHSCRIPT and loaded.is_torch
    assert loaded.exported_program is None
    x, expected = reference
    np.testing.assert_allclose(run_torch(loaded.module, x), expected, rtol=1e-5, atol=1e-5)


def test_onnx(model_files):
    loaded = load_model(model_files["onnx"])
    assert loaded.kind is ModelKind.ONNX and not loaded.is_torch
    assert loaded.module is None and loaded.onnx_path == model_files["onnx"]
    assert loaded.example_shape == (1, 1, 8, 8)  # dynamic batch -> 1, the rest from the graph


def test_factory_with_weights(demo_assets, reference):
    loaded = load_model("edgekit.demo:digits_cnn", weights=demo_assets.weights)
    assert loaded.kind is ModelKind.FACTORY and loaded.source == "edgekit.demo:digits_cnn"
    assert not loaded.module.training
    from edgekit.artifact import sha256_file

    assert loaded.sha256 == sha256_file(demo_assets.weights)
    x, expected = reference
    np.testing.assert_allclose(run_torch(loaded.module, x), expected, rtol=1e-6, atol=1e-6)


def test_in_memory_module_is_put_in_eval_mode(digits_model):
    from edgekit.demo import digits_cnn

    module = digits_cnn().train()
    loaded = load_model(module)
    assert loaded.kind is ModelKind.MODULE and loaded.module is module and not module.training


def test_sha256_identifies_the_file(model_files):
    from edgekit.artifact import sha256_file

    for key in ("pt2", "torchscript", "onnx"):
        assert load_model(model_files[key]).sha256 == sha256_file(model_files[key])


# --- pickles -------------------------------------------------------------------------------

def test_pickled_module_is_refused_by_default(model_files):
    err = load_error(model_files["pickle"], cls=UntrustedPickleError, exit_code=ExitCode.UNTRUSTED_PICKLE)
    assert "arbitrary code" in err.message
    assert "--trust-pickle" in err.hint
    assert err.__cause__ is not None


def test_pickled_module_loads_when_trusted(model_files, reference):
    loaded = load_model(model_files["pickle"], trust_pickle=True)
    assert loaded.kind is ModelKind.PICKLED_MODULE and not loaded.module.training
    x, expected = reference
    np.testing.assert_allclose(run_torch(loaded.module, x), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("trust", [False, True])
def test_state_dict_as_model_says_use_factory_and_weights(model_files, trust):
    err = load_error(model_files["state_dict"], trust_pickle=trust)
    assert not isinstance(err, UntrustedPickleError)
    assert "state_dict" in err.message
    assert "factory" in err.hint and "--weights" in err.hint


def test_pickled_non_module_is_refused(tmp_path):
    import torch

    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    assert "not a torch.nn.Module" in load_error(path).message


# --- broken files --------------------------------------------------------------------------

def test_truncated_pt2_head(model_files, tmp_path):
    path = tmp_path / "trunc.pt2"
    path.write_bytes(model_files["pt2"].read_bytes()[:500])
    err = load_error(path)
    assert not isinstance(err, UntrustedPickleError)
    assert str(path) in err.message and "truncated or corrupt" in err.message


# A .pt2 missing only its last bytes (an interrupted copy) still holds the *nested* zip archive
# torch.export stores inside it (data/sample_inputs/model.pt, whose end-of-central-directory record
# is intact and is the last one zipfile finds): it must be called truncated/corrupt, never "a whole
# pickled model ... pass --trust-pickle" (which would tell the user to disable the pickle guard).

def test_truncated_pt2_tail_is_not_called_a_pickle(model_files, tmp_path):
    path = tmp_path / "tail.pt2"
    path.write_bytes(model_files["pt2"].read_bytes()[:-300])
    err = load_error(path)
    assert not isinstance(err, UntrustedPickleError)
    assert "--trust-pickle" not in err.hint


# With trust_pickle=True a corrupt archive must still be a ModelLoadError (exit code 3 with a hint),
# not torch's raw RuntimeError ("PytorchStreamReader failed reading zip archive").

def test_corrupt_file_with_trust_pickle_is_a_model_load_error(model_files, tmp_path):
    path = tmp_path / "tail.pt2"
    path.write_bytes(model_files["pt2"].read_bytes()[:-300])
    load_error(path, trust_pickle=True)


def test_truncated_torchscript(model_files, tmp_path):
    path = tmp_path / "trunc.ts"
    path.write_bytes(model_files["torchscript"].read_bytes()[:800])
    assert "truncated or corrupt" in load_error(path).message


def test_garbage_onnx(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"definitely not protobuf " * 20)
    err = load_error(path)
    assert str(path) in err.message and "ONNX" in err.message
    assert err.__cause__ is not None


def test_truncated_onnx(model_files, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(model_files["onnx"].read_bytes()[:1000])
    assert str(path) in load_error(path).message


@pytest.mark.parametrize("spec", ["/no/such/model.pt2", "missing.onnx", "./rel/model.pt2"])
def test_nonexistent_path(spec):
    err = load_error(spec, cls=ModelNotFoundError, exit_code=ExitCode.NOT_FOUND)
    assert "does not exist" in err.message


# --- factories and weights -----------------------------------------------------------------

def test_factory_module_missing():
    err = load_error("edgekit_no_such_module_xyz:build")
    assert "edgekit_no_such_module_xyz" in err.message and "importable" in err.hint


def test_factory_attribute_missing():
    err = load_error("edgekit.demo:no_such_factory")
    assert "no attribute 'no_such_factory'" in err.message


def test_factory_that_needs_arguments():
    err = load_error("edgekit.demo:train_digits_cnn", random_weights=True)
    assert "failed when called with no arguments" in err.message


def test_factory_returning_a_non_module():
    err = load_error("edgekit.demo:cache_dir", random_weights=True)
    assert "not a torch.nn.Module" in err.message


def test_weights_that_do_not_match_the_architecture(tmp_path):
    import torch

    path = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    err = load_error("edgekit.demo:digits_cnn", weights=path)
    assert "do not match the architecture" in err.message and str(path) in err.message


def test_weights_that_are_a_pickled_module_are_refused(model_files):
    err = load_error("edgekit.demo:digits_cnn", weights=model_files["pickle"])
    assert "weights_only=True" in err.message
    assert "never loaded as weights" in err.hint


def test_weights_file_missing(tmp_path):
    err = load_error("edgekit.demo:digits_cnn", weights=tmp_path / "nope.pt", cls=ModelNotFoundError,
                     exit_code=ExitCode.NOT_FOUND)
    assert "does not exist" in err.message


def test_weights_with_a_file_model(model_files):
    err = load_error(model_files["onnx"], weights=model_files["state_dict"])
    assert "--weights" in err.message and "drop --weights" in err.hint


def test_non_module_object():
    err = load_error(42)
    assert "int" in err.message


def test_in_memory_modules_are_hashed_by_their_weights(digits_model):
    import copy

    import torch

    from edgekit.models import load_model

    same = load_model(copy.deepcopy(digits_model)).sha256
    assert same == load_model(digits_model).sha256 and len(same) == 64
    changed = copy.deepcopy(digits_model)
    with torch.no_grad():
        changed.fc2.bias[0] += 1e-3
    assert load_model(changed).sha256 != same


def test_a_factory_without_weights_is_refused_unless_said(monkeypatch) -> None:
    """Compressing random weights reported 8% top-1 as if it were the user's model: refused, with the ways out."""
    err = load_error("edgekit.demo:digits_cnn")
    assert "no --weights" in err.message and "--random-weights" in err.hint
    assert load_model("edgekit.demo:digits_cnn", random_weights=True).random_weights
    import edgekit.demo

    monkeypatch.setattr(edgekit.demo.digits_cnn, "edgekit_loads_weights", True, raising=False)
    loaded = load_model("edgekit.demo:digits_cnn")  # a factory that loads its own trained weights
    assert loaded.kind is ModelKind.FACTORY and not loaded.random_weights
