"""The INT8 coverage gate weighs compute nodes by their MACs: a float squeeze-excitation conv on a 1x1 pooled map
costs nothing, a float conv over the full map costs its share (KernelCoverage.basis "macs"); the node share is the
fallback when a shape is unknown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.backends.base import KernelCoverage
from edgekit.parity import Parity
from edgekit.pipeline.verify import judge
from edgekit.profile import VerifyConfig
from edgekit.summary import compute_macs, conv_macs, matmul_macs

torch = pytest.importorskip("torch")
CFG = VerifyConfig(max_accuracy_drop=1.0, min_int8_coverage=0.8)
GOOD = Parity(top1_agreement=1.0, max_abs=0.01, mean_abs=0.001, cosine=0.9999, samples=8)


class BigConvAndSE(torch.nn.Module):
    """One 3x3 conv over a 32x32 map (~1.8 M MACs) and four 1x1 convs on the 1x1 pooled map (4 K MACs each)."""

    def __init__(self) -> None:
        super().__init__()
        self.big = torch.nn.Conv2d(3, 64, 3, padding=1)
        self.se = torch.nn.ModuleList([torch.nn.Conv2d(64, 64, 1) for _ in range(4)])

    def forward(self, x):
        y = self.big(x).relu()
        p = y.mean((2, 3), keepdim=True)
        for conv in self.se:
            p = conv(p).relu()
        return (y * p).mean((2, 3))


@pytest.fixture(scope="module")
def fp32(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("macs") / "se.onnx"
    torch.manual_seed(0)
    torch.onnx.export(BigConvAndSE().eval(), torch.randn(1, 3, 32, 32), str(path), input_names=["x"],
                      dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    return path


def _ort_int8(src: Path, dst: Path, float_convs: str) -> Path:
    """QDQ INT8 with the convs whose node name contains ``float_convs`` kept float."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.items = iter([{"x": rng.standard_normal((1, 3, 32, 32), dtype=np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.items, None)

    names = [n.name for n in onnx.load(str(src)).graph.node if n.op_type == "Conv" and float_convs in n.name]
    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=names)
    return dst


def test_mac_formulas():
    # grouped conv: weight C_out x C_in/groups x kh x kw (a depthwise 3x3 on 32 channels, 16x16 out)
    assert conv_macs((1, 32, 16, 16), (32, 1, 3, 3)) == 32 * 16 * 16 * 9
    assert conv_macs((1, 64, 8, 8), (64, 16, 3, 3)) == 64 * 8 * 8 * 16 * 9  # groups=2 of 32 input channels
    assert matmul_macs((1, 197, 64), 192) == 197 * 64 * 192  # MatMul: output elements x K
    assert matmul_macs((1, 10), 64) == 640  # Gemm


def test_compute_macs_of_onnx_graph(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, (32, 8, 3, 3), np.zeros(32 * 8 * 9, np.float32))
    b = helper.make_tensor("b", TensorProto.FLOAT, (32, 10), np.zeros(320, np.float32))
    m = helper.make_tensor("m", TensorProto.FLOAT, (10, 5), np.zeros(50, np.float32))
    graph = helper.make_graph(  # the batch is symbolic ("N"): MACs per sample
        [helper.make_node("Conv", ["x", "w"], ["y"], name="gconv", group=4, pads=[1, 1, 1, 1]),
         helper.make_node("GlobalAveragePool", ["y"], ["p"]),
         helper.make_node("Flatten", ["p"], ["f"]),
         helper.make_node("Gemm", ["f", "b"], ["z"], name="gemm"),
         helper.make_node("MatMul", ["z", "m"], ["o"], name="matmul")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 32, 8, 8])],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, ["N", 5])], [w, b, m])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "g.onnx")
    macs = {layer.name: layer.macs for layer in compute_macs(tmp_path / "g.onnx")}
    assert macs == {"gconv": 32 * 8 * 8 * 8 * 9, "gemm": 10 * 32, "matmul": 5 * 10}


def test_float_se_convs_pass_on_the_mac_share(fp32, tmp_path):
    from edgekit.backends.onnxruntime import OnnxRuntimeBackend
    from edgekit.profile import load_profile

    path = _ort_int8(fp32, tmp_path / "se-float.onnx", "/se.")
    cov = OnnxRuntimeBackend().kernel_coverage(path, load_profile("cpu-onnxruntime"), tmp_path)
    assert (cov.int8_nodes, cov.float_nodes) == (1, 4) and cov.basis == "macs"
    assert cov.node_ratio < CFG.min_int8_coverage  # counting nodes would reject it
    assert cov.int8_macs == 64 * 32 * 32 * 27 and cov.float_macs == 4 * 64 * 64 and cov.ratio > 0.99
    v = judge("int8", CFG, accuracy_drop=None, parity=GOOD, coverage=cov)
    assert v.status == "accepted", v.reason
    assert cov.to_dict()["basis"] == "macs" and cov.to_dict()["int8_macs"] == cov.int8_macs


def test_float_big_conv_is_rejected_on_the_mac_share(fp32, tmp_path):
    from edgekit.backends.onnxruntime import OnnxRuntimeBackend
    from edgekit.profile import load_profile

    path = _ort_int8(fp32, tmp_path / "big-float.onnx", "/big/")
    cov = OnnxRuntimeBackend().kernel_coverage(path, load_profile("cpu-onnxruntime"), tmp_path)
    assert (cov.int8_nodes, cov.float_nodes) == (4, 1) and cov.basis == "macs"
    assert cov.node_ratio >= CFG.min_int8_coverage  # counting nodes would accept it
    v = judge("int8", CFG, accuracy_drop=None, parity=GOOD, coverage=cov)
    assert v.status == "rejected" and "of the compute (MACs) runs INT8 (4/5 compute nodes)" in v.reason


def test_a_float_file_is_still_rejected(fp32, tmp_path):
    from edgekit.backends.onnxruntime import OnnxRuntimeBackend
    from edgekit.profile import load_profile

    cov = OnnxRuntimeBackend().kernel_coverage(fp32, load_profile("cpu-onnxruntime"), tmp_path)
    assert cov.int8_nodes == 0 and cov.int8_macs == 0 and cov.ratio == 0.0
    v = judge("int8", CFG, accuracy_drop=None, parity=GOOD, coverage=cov)
    assert v.status == "rejected" and "execute as float" in v.reason


def test_node_share_is_the_fallback_and_says_so():
    cov = KernelCoverage(10, 4, macs_note="MACs unknown for /x (a dynamic shape)")
    assert cov.basis == "nodes" and cov.ratio == pytest.approx(10 / 14) and cov.to_dict()["macs_ratio"] is None
    v = judge("int8", CFG, accuracy_drop=None, parity=GOOD, coverage=cov)
    assert "only 10/14 compute nodes run INT8 (71%; by node count: MACs unknown for /x" in v.reason
    by_macs = KernelCoverage(10, 4, int8_macs=990, float_macs=10)
    assert by_macs.basis == "macs" and by_macs.ratio == 0.99 and by_macs.node_ratio == pytest.approx(10 / 14)
    assert judge("int8", CFG, accuracy_drop=None, parity=GOOD, coverage=by_macs).status == "accepted"


def _ov_int8(fp32: Path, dst: Path, float_convs: str) -> Path:
    import nncf
    import openvino as ov

    model = ov.convert_model(str(fp32))
    names = [op.get_friendly_name() for op in model.get_ordered_ops()
             if op.get_type_name() == "Convolution" and float_convs in op.get_friendly_name()]
    rng = np.random.default_rng(0)
    data = nncf.Dataset([rng.standard_normal((1, 3, 32, 32), dtype=np.float32) for _ in range(4)])
    quantized = nncf.quantize(model, data, subset_size=4, ignored_scope=nncf.IgnoredScope(names=names))
    ov.save_model(quantized, str(dst))
    return dst


@pytest.mark.parametrize(("float_convs", "accepted"), [("/se.", True), ("/big/", False)])
def test_openvino_weighs_runtime_layers_by_macs(fp32, tmp_path, float_convs, accepted):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    from edgekit.backends.openvino import OpenVinoBackend
    from edgekit.profile import load_profile

    path = _ov_int8(fp32, tmp_path / "q.xml", float_convs)
    cov = OpenVinoBackend().kernel_coverage(path, load_profile("x86-openvino"), tmp_path)
    assert cov.basis == "macs", cov.macs_note
    assert cov.int8_macs + cov.float_macs == 64 * 32 * 32 * 27 + 4 * 64 * 64
    assert (cov.node_ratio < CFG.min_int8_coverage) == accepted  # the node share says the opposite
    v = judge("int8", CFG, accuracy_drop=None, parity=GOOD, coverage=cov)
    assert (v.status == "accepted") == accepted, v.reason


def test_float_kernels_are_matched_to_the_file_layers_by_name():
    """ORT left a Q/DQ layer float (the file's count of Q/DQ layers is not ORT's count of integer kernels): its float
    kernels are matched to the file's layers by the names they keep."""
    from onnx import TensorProto, helper

    from edgekit.backends.onnxruntime import _float_layers_by_name
    from edgekit.summary import ComputeMacs

    layers = [ComputeMacs(n, "Conv", 100, True, keys=frozenset({n, f"{n}.w", f"{n}_out"})) for n in ("a", "b", "c")]
    w = helper.make_tensor("b.w", TensorProto.FLOAT, (1,), [0.0])

    def graph(*nodes):
        return helper.make_graph(list(nodes), "g", [], [], [w])

    by_weight = graph(helper.make_node("FusedConv", ["x", "b.w"], ["y"], name="fused_token_7"))
    assert _float_layers_by_name(layers, by_weight, int8_kernels=2) == {"b"}
    by_output = graph(helper.make_node("Conv", ["x", "reorder_1"], ["z"], name="c_out_nchwc"))
    assert _float_layers_by_name(layers, by_output, int8_kernels=2) == {"c"}
    assert _float_layers_by_name(layers, by_output, int8_kernels=1) is None  # the rest is not the integer kernels
    unknown = graph(helper.make_node("Conv", ["x", "reorder_1"], ["q"], name="elsewhere"))
    assert _float_layers_by_name(layers, unknown, int8_kernels=2) is None


class ComputedReshape(torch.nn.Module):
    """A Linear after a Reshape to a size computed from the input's shape (MobileViT's unfolding): ONNX shape
    inference leaves its shapes open with a symbolic batch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(32, 16)

    def forward(self, x):
        y = self.conv(x)
        return self.fc(y.reshape(y.shape[0], (y.shape[2] * y.shape[3]) // 4, -1))


def test_shapes_shape_inference_leaves_open_are_measured(tmp_path):
    from edgekit.backends.onnxruntime import OnnxRuntimeBackend
    from edgekit.profile import load_profile

    path = tmp_path / "reshape.onnx"
    torch.onnx.export(ComputedReshape().eval(), torch.randn(1, 3, 8, 8), str(path), input_names=["x"],
                      dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    macs = {layer.op: layer.macs for layer in compute_macs(path)}
    assert macs["Conv"] == 8 * 8 * 8 * 27
    cov = OnnxRuntimeBackend().kernel_coverage(path, load_profile("cpu-onnxruntime"), tmp_path)
    assert cov.basis == "macs", cov.macs_note
    assert cov.float_macs == 8 * 8 * 8 * 27 + 16 * 16 * 32 and cov.int8_macs == 0  # fc: 16 rows x 16 out x K 32
