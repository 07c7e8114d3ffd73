"""Model summary from the ONNX graph: parameters, MACs, a layer table, input/output shapes.

Counting on the exported graph (not torch hooks) gives one answer for every input kind:
modules, TorchScript, ExportedPrograms and user ONNX files alike.
"""

from __future__ import annotations

import ast
import contextlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


# onnx.TensorProto FLOAT, UINT8, INT8, INT32 (quantized bias), FLOAT16, DOUBLE, BFLOAT16; not the
# INT64 shape constants
_PARAM_TYPES = (1, 2, 3, 6, 10, 11, 16)


@dataclass(frozen=True)
class Layer:
    name: str  # the ONNX node
    op: str
    weight_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int
    module: str = ""  # the torch module it came from ("layer1.0.conv2", what --prune-layer takes); else the node
    int8: bool = False  # its weight reaches it through a DequantizeLinear (a QDQ INT8 layer)


BATCH = "batch"  # how a symbolic first dim is shown (the exporters name it "batch", "s77", "N", ...)
SCOPES = "pkg.torch.onnx.name_scopes"  # the dynamo exporter's module path of a node: ['', 'layer1', 'layer1.0', ...]


@dataclass
class ModelSummary:
    params: int
    macs: int
    inputs: dict[str, list[Any]]
    outputs: dict[str, list[Any]]
    layers: list[Layer] = field(default_factory=list)
    opset: int | None = None

    def to_dict(self, with_layers: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_layers:
            data.pop("layers")
        # ONNX node -> torch module, where they differ: the report shows the module names the options take
        data["modules"] = {layer.name: layer.module for layer in self.layers if layer.module not in ("", layer.name)}
        return data


def _dims(value_info: Any) -> list[Any]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value_info.type.tensor_type.shape.dim]


def _io_dims(value_info: Any) -> list[Any]:
    """A graph input's or output's dims with a symbolic first dim shown as "batch"."""
    dims = _dims(value_info)
    return [BATCH, *dims[1:]] if dims and not isinstance(dims[0], int) else dims


def _joined(scopes: list[str]) -> str:
    """'layer1', 'layer1.0', 'conv2' (legacy: local names, some already qualified) -> 'layer1.0.conv2'."""
    path = ""
    for part in filter(None, scopes):
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path


def module_name(node: Any, weight: str | None) -> str:
    """The torch module a Conv/Gemm/MatMul node came from: its weight's parameter name ("layer1.0.conv2.weight"),
    else the dynamo exporter's name scopes, else the legacy exporter's node name ("/layer1/layer1.0/conv2/Conv");
    the node name when the file carries none of them (an ONNX from elsewhere)."""
    if weight and weight.endswith(".weight") and "::" not in weight:
        return weight[:-len(".weight")]
    props = {p.key: p.value for p in getattr(node, "metadata_props", [])}
    if SCOPES in props:
        with contextlib.suppress(ValueError, SyntaxError):
            return _joined(ast.literal_eval(props[SCOPES])[:-1]) or node.name
    if node.name.startswith("/") and node.name.count("/") > 1:
        return _joined(node.name.strip("/").split("/")[:-1])
    return node.name


def _concrete(shape: list[Any]) -> tuple[int, ...]:
    """Symbolic dims (the batch) count as 1: MACs are reported per sample."""
    return tuple(d if isinstance(d, int) and d > 0 else 1 for d in shape)


def _macs(op: str, attrs: dict[str, Any], in_shapes: list[tuple[int, ...]], w: tuple[int, ...],
          out: tuple[int, ...]) -> int:
    if not out:
        return 0
    if op == "Conv" and len(w) >= 3:
        return math.prod(out) * math.prod(w[1:])
    if op == "ConvTranspose" and len(w) >= 3 and in_shapes:
        return math.prod(in_shapes[0]) * math.prod(w[1:])
    if op == "Gemm" and in_shapes:
        a = in_shapes[0]
        k = a[0] if attrs.get("transA") else a[-1]
        return math.prod(out) * k
    if op == "MatMul" and in_shapes and in_shapes[0]:
        return math.prod(out) * in_shapes[0][-1]
    return 0


def summarize_onnx(path: Path) -> ModelSummary:
    import onnx
    from onnx import helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    inits = {i.name: tuple(i.dims) for i in graph.initializer}
    # in a QDQ (INT8) graph weights reach Conv/Gemm through DequantizeLinear: see through it
    via_dq = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits}
    weights = {name: inits[src] for name, src in via_dq.items()} | inits
    qparams = {name for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") for name in n.input[1:]}
    shapes = {vi.name: _concrete(_dims(vi)) for vi in [*graph.value_info, *graph.input, *graph.output]}
    shapes.update(weights)
    layers = []
    for node in graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        in_shapes = [shapes.get(n, ()) for n in node.input]
        weight = weights.get(node.input[1], ()) if len(node.input) > 1 else ()
        out = shapes.get(node.output[0], ())
        params = sum(math.prod(weights[n]) for n in node.input[1:] if n in weights)
        source = via_dq.get(node.input[1], node.input[1]) if len(node.input) > 1 else None
        layers.append(Layer(node.name or node.output[0], node.op_type, weight, out, params,
                            _macs(node.op_type, attrs, in_shapes, weight, out), module_name(node, source),
                            len(node.input) > 1 and node.input[1] in via_dq))
    params = sum(math.prod(i.dims) for i in graph.initializer if i.data_type in _PARAM_TYPES and i.name not in qparams)
    init_names = set(inits)
    return ModelSummary(
        params=int(params), macs=int(sum(layer.macs for layer in layers)),
        inputs={i.name: _io_dims(i) for i in graph.input if i.name not in init_names},
        outputs={o.name: _io_dims(o) for o in graph.output}, layers=layers,
        opset=next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
    )


# --- MACs per compute node, for the INT8 coverage gate (verify.min_int8_coverage weighs nodes by their MACs) ---

# the ONNX compute ops, with the input index of their activation and of their weight (the integer ops included:
# a QOperator / dynamically quantized file names them directly)
COMPUTE_INPUTS = {"Conv": (0, 1), "ConvTranspose": (0, 1), "Gemm": (0, 1), "MatMul": (0, 1),
                  "QLinearConv": (0, 3), "ConvInteger": (0, 1), "QLinearMatMul": (0, 3), "MatMulInteger": (0, 1),
                  "QGemm": (0, 3), "DynamicQuantizeMatMul": (0, 1), "MatMulIntegerToFloat": (0, 1)}
_AS_FLOAT_OP = {"QLinearConv": "Conv", "ConvInteger": "Conv", "QLinearMatMul": "MatMul", "MatMulInteger": "MatMul",
                "QGemm": "Gemm", "DynamicQuantizeMatMul": "MatMul", "MatMulIntegerToFloat": "MatMul"}


# the activations ONNX Runtime fuses into a Conv / Gemm (FusedConv, NCHWc Conv): its output then carries their name
_FUSED_ACTIVATIONS = frozenset({"Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid"})


def conv_macs(out: tuple[int, ...], weight: tuple[int, ...]) -> int:
    """Conv: output elements x (C_in / groups) x kernel area; ``weight`` is C_out x C_in/groups x k..."""
    return math.prod(out) * math.prod(weight[1:])


def matmul_macs(out: tuple[int, ...], k: int) -> int:
    """MatMul / Gemm: output elements x the reduced dimension K."""
    return math.prod(out) * k


def static_dims(shape: list[Any]) -> tuple[int, ...] | None:
    """Dims with a symbolic first (batch) dim taken as 1; None when any other dim is unknown (MACs are per sample;
    a symbolic sequence length would change the share between layers)."""
    if not shape:
        return None
    dims = [1 if i == 0 and not (isinstance(d, int) and d > 0) else d for i, d in enumerate(shape)]
    return tuple(dims) if all(isinstance(d, int) and d > 0 for d in dims) else None


@dataclass(frozen=True)
class ComputeMacs:
    name: str  # the ONNX node
    op: str
    macs: int | None  # None: a shape is unknown
    int8: bool  # an integer op, or a float compute op whose activation and weight both come through DequantizeLinear
    tensors: tuple[str, ...] = ()  # its activation, weight and output tensors (whose shapes give the MACs)
    # names a runtime's rewrite of it may keep: the node's, its weight / bias initializers (and what they dequantize),
    # its output and the outputs of the activations fused into it
    keys: frozenset[str] = frozenset()


def compute_macs(path: Path, measured: dict[str, tuple[int, ...]] | None = None) -> list[ComputeMacs]:
    """Every compute node of an ONNX file (Conv/ConvTranspose/Gemm/MatMul, plain or integer) with its MACs from
    ONNX shape inference (``measured``: tensor shapes found otherwise, e.g. by running the file, where inference
    stops at a computed Reshape), and whether it is an INT8 layer: an integer op, or a Q/DQ pattern (both inputs
    through DequantizeLinear; a Conv also needs its output quantized) that ONNX Runtime fuses into an integer
    kernel."""
    import onnx
    from onnx import helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    inits = {i.name: tuple(i.dims) for i in graph.initializer}
    dq = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    consumers: dict[str, list[str]] = {}
    users: dict[str, list[Any]] = {}
    for n in graph.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n.op_type)
            users.setdefault(name, []).append(n)
    shapes: dict[str, tuple[int, ...] | None] = {
        vi.name: static_dims(_dims(vi)) for vi in [*graph.value_info, *graph.input, *graph.output]}
    shapes.update({name: dims for name, dims in inits.items()})
    shapes.update({out: inits[src] for out, src in dq.items() if src in inits})
    shapes.update({name: static_dims(list(dims)) for name, dims in (measured or {}).items()})
    layers = []
    for node in graph.node:
        if node.op_type not in COMPUTE_INPUTS:
            continue
        x_at, w_at = COMPUTE_INPUTS[node.op_type]
        x = shapes.get(node.input[x_at]) if len(node.input) > x_at else None
        w = shapes.get(node.input[w_at]) if len(node.input) > w_at else None
        out = shapes.get(node.output[0])
        op = _AS_FLOAT_OP.get(node.op_type, node.op_type)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        macs = None
        if out and w and x:
            if op == "Conv" and len(w) >= 3:
                macs = conv_macs(out, w)
            elif op == "ConvTranspose" and len(w) >= 3:
                macs = math.prod(x) * math.prod(w[1:])  # input elements x (C_out / groups) x kernel area
            elif op == "Gemm":
                macs = matmul_macs(out, x[0] if attrs.get("transA") else x[-1])
            elif op == "MatMul":
                macs = matmul_macs(out, x[-1])
        if node.op_type in _AS_FLOAT_OP:
            int8 = True
        else:
            inputs_dq = len(node.input) > w_at and node.input[x_at] in dq and node.input[w_at] in dq
            quantized_out = node.op_type not in ("Conv", "ConvTranspose") or consumers.get(node.output[0]) == ["QuantizeLinear"]
            int8 = inputs_dq and quantized_out
        chain, out_name = [node.output[0]], node.output[0]
        while len(users.get(out_name, [])) == 1 and users[out_name][0].op_type in _FUSED_ACTIVATIONS:
            out_name = users[out_name][0].output[0]
            chain.append(out_name)
        params = [n for i, n in enumerate(node.input) if i != x_at and (n in inits or n in dq)]
        keys = frozenset([node.name, *chain, *params, *(dq[n] for n in params if n in dq)]) - {""}
        tensors = (node.input[x_at] if len(node.input) > x_at else "", node.input[w_at] if len(node.input) > w_at else "",
                   node.output[0])
        layers.append(ComputeMacs(node.name or node.output[0], node.op_type, macs, int8, tensors, keys))
    return layers
