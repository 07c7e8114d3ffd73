"""Names a user can act on (issue 16 item 6): ONNX nodes shown as the torch modules --prune-layer takes."""

from __future__ import annotations

from types import SimpleNamespace

from edgekit.report.markdown import int8_lines, module_names
from edgekit.summary import Layer, ModelSummary, module_name


def node(name: str, scopes: str | None = None) -> SimpleNamespace:
    props = [SimpleNamespace(key="pkg.torch.onnx.name_scopes", value=scopes)] if scopes else []
    return SimpleNamespace(name=name, metadata_props=props)


def test_module_name_from_each_exporter():
    # the weight's parameter name wins (a dynamo Conv with BatchNorm folded in is scoped to the BN)
    assert module_name(node("node_Conv_17", "['', 'layer1', 'layer1.0', 'layer1.0.bn', 'bn']"),
                       "layer1.0.conv2.weight") == "layer1.0.conv2"
    assert module_name(node("node_linear", "['', 'fc', 'linear']"), "view") == "fc"  # dynamo scopes
    assert module_name(node("/layer1/layer1.0/conv2/Conv"), "onnx::Conv_29") == "layer1.0.conv2"  # legacy
    assert module_name(node("/conv1/Conv"), "onnx::Conv_31") == "conv1"
    assert module_name(node("Conv_0"), "W") == "Conv_0"  # an ONNX from elsewhere: the node itself


def test_report_shows_modules_beside_the_nodes():
    layers = [Layer("node_Conv_19", "Conv", (), (), 0, 0, "conv1"), Layer("fc", "Gemm", (), (), 0, 0, "fc")]
    modules = ModelSummary(0, 0, {}, {}, layers).to_dict()["modules"]
    assert modules == {"node_Conv_19": "conv1"}  # only where they differ
    assert module_names(["node_Conv_19", "fc"], modules) == "conv1 (node_Conv_19), fc"
    q = {"recipe": {"name": "u8s8", "activations": "a", "weights": "w"}, "search": {"float_layers": ["node_Conv_19"]}}
    assert int8_lines(q, modules)[-1] == "layers kept in float: conv1 (node_Conv_19)"
    assert int8_lines(q)[-1] == "layers kept in float: node_Conv_19"
