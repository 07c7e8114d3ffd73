"""OpenVINO's ONNX frontend refuses an AveragePool whose kernel is larger than its input, which Hugging Face's
EfficientNet uses as its global pool (``nn.AvgPool2d(hidden_dim, ceil_mode=True)``; PyTorch and ONNX Runtime clip the
window to the input). `backends/openvino.py: whole_input_pools` converts such pools as GlobalAveragePool."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install 'edgekit[openvino]')")
pytest.importorskip("nncf", reason="nncf is not installed (pip install 'edgekit[openvino]')")

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from edgekit.backends.openvino import OpenVinoBackend, whole_input_pools  # noqa: E402
from edgekit.pipeline.inputs import resolve_profile  # noqa: E402

pytestmark = pytest.mark.openvino


def _pool_model(path: Path, kernel: int, size: int) -> Path:
    """conv 3->4 (so the pool's input is computed), then AveragePool(kernel, stride kernel, ceil_mode)."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 1, 1], rng.standard_normal(12).astype(np.float32))
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["c"], name="conv"),
         helper.make_node("AveragePool", ["c"], ["output"], name="pool", kernel_shape=[kernel, kernel],
                          strides=[kernel, kernel], ceil_mode=1, pads=[0, 0, 0, 0])],
        "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _compile_and_compare(src: Path, tmp_path: Path, x: np.ndarray, reference: np.ndarray) -> dict:
    backend, profile = OpenVinoBackend(), resolve_profile("cpu-openvino-avx2")
    info = backend.compile(src, tmp_path / "ir" / "model.xml", profile)
    out = backend.open(tmp_path / "ir" / "model.xml", profile).run(x)
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)
    return info


def test_pool_larger_than_its_input_compiles_as_a_global_mean(tmp_path: Path) -> None:
    src = _pool_model(tmp_path / "m.onnx", kernel=16, size=5)
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 5)).astype(np.float32)
    reference = ort.InferenceSession(str(src)).run(None, {"input": x})[0]
    # ONNX Runtime clips the window to the input: the global mean, as PyTorch computes it
    conv = np.einsum("oc,nchw->nohw", onnx.numpy_helper.to_array(onnx.load(str(src)).graph.initializer[0])[:, :, 0, 0], x)
    np.testing.assert_allclose(reference, conv.mean(axis=(2, 3), keepdims=True), rtol=1e-5, atol=1e-5)
    info = _compile_and_compare(src, tmp_path, x, reference)
    assert info["global_pools"] == ["pool"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ir", "m.onnx"]  # the rewritten copy was temporary


def test_pool_the_frontend_converts_is_left_alone(tmp_path: Path) -> None:
    src = _pool_model(tmp_path / "m.onnx", kernel=2, size=4)
    assert whole_input_pools(src, tmp_path / "rewritten.onnx") == []
    assert not (tmp_path / "rewritten.onnx").exists()
    x = np.random.default_rng(1).standard_normal((1, 3, 4, 4)).astype(np.float32)
    info = _compile_and_compare(src, tmp_path, x, ort.InferenceSession(str(src)).run(None, {"input": x})[0])
    assert "global_pools" not in info


def test_hf_efficientnet_and_its_pruned_twin_compile_with_exact_parity(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="transformers is not installed (pip install -e .[dev])")
    import torch

    from benchmarks.coverage.families import IMAGE_SIZE, example, families
    from edgekit.artifact import Artifact, Format
    from edgekit.outputs import primary
    from edgekit.pruning.config import PruneConfig
    from edgekit.pruning.run import prune_module
    from edgekit.stages.export import ExportConfig, ExportStage

    original = families()["efficientnet"]()
    pruned = prune_module(original, example(), PruneConfig(ratio=0.3, round_to=8)).model.eval()
    x = example(1)
    for name, model in (("fp32", original), ("pruned", pruned)):
        (tmp_path / name).mkdir()
        onnx_file = ExportStage(ExportConfig((1, 3, IMAGE_SIZE, IMAGE_SIZE))).export(
            Artifact(Format.TORCH, None, {"module": model}), tmp_path / name).path
        with torch.no_grad():
            reference = primary(model(x)).numpy()
        info = _compile_and_compare(onnx_file, tmp_path / name, x.numpy(), reference)
        assert info["global_pools"] == ["/inner/efficientnet/pooler/AveragePool"]


def test_no_partial_conversion_when_no_pool_can_exceed_its_input(tmp_path: Path, monkeypatch) -> None:
    """A pool the frontend converts (kernel 2 on 4x4, sizes known to ONNX shape inference) needs no rewrite, so the
    frontend's partial conversion, a second conversion of the whole model, is not run."""
    import openvino.frontend

    class Refuse:
        def __init__(self) -> None:
            raise AssertionError("the partial conversion ran")

    monkeypatch.setattr(openvino.frontend, "FrontEndManager", Refuse)
    assert whole_input_pools(_pool_model(tmp_path / "m.onnx", kernel=2, size=4), tmp_path / "r.onnx") == []


def test_a_padded_pool_is_never_rewritten(tmp_path: Path) -> None:
    """With padding, count_include_pad decides the divisor: not a global mean, so left to the frontend."""
    src = _pool_model(tmp_path / "m.onnx", kernel=16, size=5)
    model = onnx.load(str(src))
    pool = model.graph.node[1]
    for a in pool.attribute:
        if a.name == "pads":
            a.ints[:] = [1, 1, 1, 1]
    pool.attribute.append(helper.make_attribute("count_include_pad", 1))
    onnx.save(model, str(src))
    assert whole_input_pools(src, tmp_path / "r.onnx") == []
