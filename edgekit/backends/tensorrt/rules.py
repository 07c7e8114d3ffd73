"""What TensorRT accepts as an explicitly quantized (Q/DQ) ONNX model, checked on any machine.

TensorRT builds INT8 engines only from explicit quantization (its INT8 calibrator was deprecated
in 10.1 and removed in 11). Its ONNX parser takes QuantizeLinear/DequantizeLinear with:

- INT8 data (no UINT8: a UINT8 zero point of 128 is what ONNX Runtime's CPU quantizer writes by
  default, and TensorRT cannot represent it), zero points all 0 (symmetric);
- scales that are build-time constants, positive and finite, scalar (per tensor) or 1-D
  (per channel) with zero points of the same shape;
- per-channel weights along the output-channel axis: 0 for Conv, 1 for ConvTranspose, the
  output dimension for Gemm/MatMul;
- no INT32 dequantize (quantized biases): TensorRT fuses the bias itself;
- operators in the standard ONNX domain (not com.microsoft contrib Q/DQ), opset >= 13.

And edgekit's own placement rule: a quantized Conv/Gemm/MatMul has Q/DQ on both its input and
its weight, so TensorRT can fuse it into one INT8 kernel instead of running half of it in float.
Only ``onnx`` is needed (no TensorRT, no GPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIN_OPSET = 13
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


@dataclass(frozen=True)
class Violation:
    rule: str
    node: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "node": self.node, "message": self.message}


@dataclass
class RulesResult:
    path: str
    opset: int
    qdq_nodes: int
    compute_nodes: int  # Conv/ConvTranspose/Gemm/MatMul
    quantized_compute_nodes: int  # of those, with Q/DQ on both input and weight
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def is_quantized(self) -> bool:
        return self.qdq_nodes > 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "opset": self.opset, "qdq_nodes": self.qdq_nodes,
                "compute_nodes": self.compute_nodes, "quantized_compute_nodes": self.quantized_compute_nodes,
                "violations": [v.to_dict() for v in self.violations]}

    def summary(self) -> str:
        if not self.is_quantized:
            return f"{self.path}: no Q/DQ nodes (a float model: TensorRT builds it as FP32/FP16; no INT8 rules apply)"
        head = (f"{self.path}: {self.quantized_compute_nodes}/{self.compute_nodes} Conv/Gemm/MatMul nodes quantized, "
                f"{self.qdq_nodes} Q/DQ nodes, opset {self.opset}")
        if self.ok:
            return head + ": meets TensorRT's explicit-quantization rules"
        return head + f": {len(self.violations)} violation(s) of TensorRT's explicit-quantization rules"


FIXES = {
    "opset": "Export with opset >= 13 (edgekit export --opset 17).",
    "uint8": "Quantize with signed INT8 activations and weights (onnxruntime quantize_static: activation_type="
             "QuantType.QInt8, weight_type=QuantType.QInt8), or let edgekit quantize for a TensorRT profile.",
    "zero-point": "Use symmetric quantization (ActivationSymmetric=True, WeightSymmetric=True): zero points must be 0.",
    "int32-bias": "Do not quantize biases (quantize_static extra_options QuantizeBias=False): TensorRT has no INT32 "
                  "dequantize and fuses the float bias itself.",
    "scale": "Scales must be positive finite initializers (scalar or 1-D), with zero points of the same shape.",
    "axis": "Quantize weights per output channel: axis 0 for Conv, 1 for ConvTranspose, the output dimension for "
            "Gemm/MatMul (quantize_static extra_options QDQOpTypePerChannelSupportToAxis={'MatMul': 1}).",
    "domain": "Use the standard ONNX QuantizeLinear/DequantizeLinear (quantize_static UseQDQContribOps=False).",
    "placement": "Quantize both the input and the weight of each Conv/Gemm/MatMul (or neither).",
    "dtype": "TensorRT's Q/DQ carry INT8 (FP8/INT4 only on GPUs and TensorRT versions edgekit does not target).",
}


class _Graph:
    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        graph = model.graph
        self.init = {t.name: t for t in graph.initializer}
        self.const = {n.output[0]: n.attribute[0].t for n in graph.node
                      if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: dict[str, list[tuple[Any, int]]] = {}
        for n in graph.node:
            for i, name in enumerate(n.input):
                self.consumers.setdefault(name, []).append((n, i))
        self.to_array = numpy_helper.to_array

    def tensor(self, name: str) -> Any | None:
        return self.init.get(name) or self.const.get(name)

    def array(self, name: str) -> Any | None:
        t = self.tensor(name)
        return None if t is None else self.to_array(t)


def _dtype_name(elem_type: int) -> str:
    from onnx import TensorProto

    return TensorProto.DataType.Name(elem_type)


def _quantized_type(node: Any, g: _Graph) -> int | None:
    """The integer type a Q/DQ node works in: its zero point's type, else (Q without zero point) UINT8,
    else (DQ) the type of the tensor it dequantizes when that is known."""
    from onnx import TensorProto

    if len(node.input) > 2 and node.input[2]:
        zp = g.tensor(node.input[2])
        if zp is not None:
            return zp.data_type
    if node.op_type == "QuantizeLinear":
        for attr in node.attribute:
            if attr.name == "output_dtype" and attr.i:
                return attr.i
        return TensorProto.UINT8  # the ONNX default
    src = g.tensor(node.input[0])
    if src is not None:
        return src.data_type
    producer = g.producer.get(node.input[0])
    if producer is not None and producer.op_type == "QuantizeLinear":
        return _quantized_type(producer, g)
    return None


def _axis(node: Any) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 1)


def _expected_weight_axis(consumer: Any, index: int, rank: int) -> int | None:
    if index != 1:
        return None
    if consumer.op_type == "Conv":
        return 0
    if consumer.op_type == "ConvTranspose":
        return 1
    if consumer.op_type == "Gemm":
        trans_b = next((a.i for a in consumer.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    if consumer.op_type == "MatMul":
        return rank - 1
    return None


def _check_qdq(node: Any, g: _Graph, add: Any) -> None:
    import numpy as np
    from onnx import TensorProto

    name = node.name or node.output[0]
    if node.domain not in ("", "ai.onnx"):
        add("domain", name, f"{node.op_type} is in domain '{node.domain}', which TensorRT's ONNX parser does not know")
    qtype = _quantized_type(node, g)
    if qtype == TensorProto.UINT8:
        add("uint8", name, f"{node.op_type} works in UINT8; TensorRT needs INT8")
    elif qtype == TensorProto.INT32:
        add("int32-bias", name, f"{node.op_type} dequantizes INT32 (a quantized bias); TensorRT has no INT32 Q/DQ")
    elif qtype is not None and qtype != TensorProto.INT8:
        add("dtype", name, f"{node.op_type} works in {_dtype_name(qtype)}; edgekit's TensorRT profiles take INT8")
    scale = g.array(node.input[1]) if len(node.input) > 1 else None
    if scale is None:
        add("scale", name, f"scale '{node.input[1] if len(node.input) > 1 else ''}' is not a build-time constant")
        return
    if scale.ndim > 1 or not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        add("scale", name, f"scale must be positive, finite, scalar or 1-D (shape {list(scale.shape)})")
    if len(node.input) > 2 and node.input[2]:
        zp = g.array(node.input[2])
        if zp is None:
            add("scale", name, f"zero point '{node.input[2]}' is not a build-time constant")
        else:
            if np.any(zp != 0) and qtype != TensorProto.UINT8:  # UINT8 is already reported
                add("zero-point", name, f"zero point(s) {sorted(set(zp.reshape(-1).tolist()))[:4]} are not 0 "
                                        "(asymmetric quantization)")
            if zp.shape != scale.shape:
                add("scale", name, f"zero point shape {list(zp.shape)} differs from scale shape {list(scale.shape)}")


def _check_weight_axis(dq: Any, g: _Graph, add: Any) -> None:
    scale = g.array(dq.input[1])
    weight = g.tensor(dq.input[0])
    if scale is None or scale.ndim == 0 or scale.size == 1 or weight is None:
        return  # per tensor, or nothing to compare with
    rank, axis = len(weight.dims), _axis(dq)
    axis = axis + rank if axis < 0 else axis
    for consumer, index in g.consumers.get(dq.output[0], []):
        expected = _expected_weight_axis(consumer, index, rank)
        if expected is not None and axis != expected:
            add("axis", dq.name or dq.output[0], f"per-channel weight of {consumer.op_type} '{consumer.name}' is "
                                                 f"quantized on axis {axis}; TensorRT needs axis {expected}")


def _dequantized(name: str, g: _Graph) -> bool:
    producer = g.producer.get(name)
    return producer is not None and producer.op_type == "DequantizeLinear"


def check_tensorrt_rules(model_or_path: Any) -> RulesResult:
    """Check an ONNX model (path or ModelProto) against TensorRT's explicit-quantization rules."""
    import onnx

    if isinstance(model_or_path, (str, Path)):
        path = str(model_or_path)
        model = onnx.load(path, load_external_data=False)
    else:
        path, model = "<model>", model_or_path
    g = _Graph(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    violations: list[Violation] = []

    def add(rule: str, node: str, message: str) -> None:
        violations.append(Violation(rule, node, message))

    qdq = [n for n in model.graph.node if n.op_type in QDQ_OPS]
    if qdq and opset < MIN_OPSET:
        add("opset", "<model>", f"opset {opset} < {MIN_OPSET}: per-channel Q/DQ needs opset 13")
    for node in qdq:
        _check_qdq(node, g, add)
        if node.op_type == "DequantizeLinear" and node.input[0] in g.init:
            _check_weight_axis(node, g, add)
    compute = [n for n in model.graph.node if n.op_type in WEIGHTED_OPS]
    quantized = 0
    for node in compute:
        if len(node.input) < 2:
            continue
        act, weight = _dequantized(node.input[0], g), _dequantized(node.input[1], g)
        quantized += act and weight
        if act != weight and (g.tensor(node.input[1]) is not None or _dequantized(node.input[1], g)):
            which = "weight" if weight else "input"
            add("placement", node.name or node.output[0],
                f"{node.op_type} has Q/DQ on its {which} only; TensorRT would run it in float around a lone Q/DQ")
    return RulesResult(path, opset, len(qdq), len(compute), quantized, violations)


def describe_violations(result: RulesResult, limit: int = 8) -> str:
    """One paragraph: what is wrong (grouped by rule, first nodes named) and how to fix each kind."""
    by_rule: dict[str, list[Violation]] = {}
    for v in result.violations:
        by_rule.setdefault(v.rule, []).append(v)
    parts = []
    for rule, items in by_rule.items():
        nodes = ", ".join(v.node for v in items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")
        parts.append(f"{items[0].message} ({len(items)} node(s): {nodes}). Fix: {FIXES[rule]}")
    return " ".join(parts)
