"""The PT2E quantizer edgekit's QAT uses: which tensors of an exported graph get fake-quantized.

Why our own annotator (FIELD-NOTES, measured on the digits CNN): torchao's X86InductorQuantizer
is written for Inductor, not ONNX Runtime: it quantizes a conv's output *before* its ReLU (twice
the Q/DQ pairs) and leaves the last Linear's output float, so ORT runs that Gemm in float (3/4 INT8
kernels, below min_int8_coverage). The XNNPACK quantizer gets 4/4 but lives in ``torchao.testing``.
The rule here is the one ``onnxruntime.quantization.quantize_static`` (the ORT backend's PTQ)
applies, so QAT and PTQ artifacts fuse the same way in ORT:

- Conv1d/2d/3d and Linear: the input activation (per tensor) and the weight (per output channel,
  symmetric, [-127, 127], or [-64, 63] with the recipe's 7-bit weights; BatchNorm is folded into it by PT2E during QAT and at conversion),
- the output of the chain conv/linear [-> BatchNorm] [-> ReLU]: a ReLU before the Q node is removed by
  ORT (the Q clamp does it), so Conv -> Q fuses to QLinearConv / QGemm,
- max-pooling shares its input's quantization (an INT8 max-pool runs without re-quantizing).
"""

from __future__ import annotations

import contextlib
import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch.fx import GraphModule, Node

from edgekit.stages.export import quiet_exporter


def quiet() -> contextlib.AbstractContextManager[None]:
    """torchao logs a warning per optional CUDA kernel library it cannot load, and export warns a lot."""
    return quiet_exporter(("torchao", "torch.utils._pytree", "torch._export", "torchao.kernel.intmm"))


with quiet():
    from torchao.quantization.pt2e import (FusedMovingAvgObsFakeQuantize, MovingAverageMinMaxObserver,
                                           MovingAveragePerChannelMinMaxObserver)
    from torchao.quantization.pt2e.quantizer import (QuantizationAnnotation, QuantizationSpec, Quantizer,
                                                     SharedQuantizationSpec)

aten = torch.ops.aten
COMPUTE_OPS = {aten.conv1d.default, aten.conv2d.default, aten.conv3d.default, aten.linear.default}
FOLLOWERS = {aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default,
             aten._native_batch_norm_legit.default, aten.relu.default, aten.relu_.default}
SHARED_OPS = {aten.max_pool1d.default, aten.max_pool2d.default, aten.max_pool3d.default}
RANGES = {"uint8": (torch.uint8, 0, 255), "int8": (torch.int8, -128, 127)}
EPS = 2 ** -12  # smallest scale: keeps an all-zero channel from dividing by zero


@dataclass(frozen=True)
class QatScheme:
    """From the profile's [quantize] section, so QAT and PTQ artifacts use the same INT8 types."""

    activation_type: str = "uint8"
    symmetric_activations: bool = False
    per_channel: bool = True
    # the INT8 recipe's weight range: 7-bit (-64..63) where full-range u8 x s8 saturates (x86 without VNNI)
    weight_range: tuple[int, int] = (-127, 127)

    def activation_spec(self) -> QuantizationSpec:
        dtype, qmin, qmax = RANGES[self.activation_type]
        return QuantizationSpec(
            dtype=dtype, quant_min=qmin, quant_max=qmax,
            qscheme=torch.per_tensor_symmetric if self.symmetric_activations else torch.per_tensor_affine,
            observer_or_fake_quant_ctr=FusedMovingAvgObsFakeQuantize.with_args(
                observer=MovingAverageMinMaxObserver, eps=EPS))

    def weight_spec(self) -> QuantizationSpec:
        per_channel = self.per_channel
        return QuantizationSpec(
            dtype=torch.int8, quant_min=self.weight_range[0], quant_max=self.weight_range[1], ch_axis=0,
            qscheme=torch.per_channel_symmetric if per_channel else torch.per_tensor_symmetric,
            observer_or_fake_quant_ctr=FusedMovingAvgObsFakeQuantize.with_args(
                observer=MovingAveragePerChannelMinMaxObserver if per_channel else MovingAverageMinMaxObserver,
                eps=EPS))


def _chain_end(node: Node) -> Node:
    """conv/linear [-> batch_norm [-> getitem 0]] [-> relu]: the last node of that chain."""
    while len(node.users) == 1:
        user = next(iter(node.users))
        if user.op != "call_function":
            break
        if user.target in FOLLOWERS or (user.target is operator.getitem and node.target in FOLLOWERS
                                        and user.args[1] == 0):
            node = user
            continue
        break
    return node


def _is_annotated(node: Node) -> bool:
    annotation = node.meta.get("quantization_annotation")
    return annotation is not None and annotation._annotated


class EdgeQuantizer(Quantizer):
    """Annotates an exported (``torch.export``) graph for ``prepare_qat_pt2e`` (see the module doc)."""

    def __init__(self, scheme: QatScheme) -> None:
        super().__init__()
        self.scheme = scheme

    def annotate(self, model: GraphModule) -> GraphModule:
        act, weight = self.scheme.activation_spec(), self.scheme.weight_spec()
        for node in list(model.graph.nodes):
            if node.op != "call_function":
                continue
            if node.target in COMPUTE_OPS and not _is_annotated(node):
                inputs: dict[Node, Any] = {node.args[0]: act, node.args[1]: weight}
                node.meta["quantization_annotation"] = QuantizationAnnotation(input_qspec_map=inputs, _annotated=True)
                end = _chain_end(node)
                if end is node:
                    node.meta["quantization_annotation"].output_qspec = act
                else:
                    end.meta["quantization_annotation"] = QuantizationAnnotation(output_qspec=act, _annotated=True)
            elif node.target in SHARED_OPS and isinstance(node.args[0], Node) and not _is_annotated(node):
                source = node.args[0]
                shared = SharedQuantizationSpec((source, node))
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={source: act}, output_qspec=shared, _annotated=True)
        return model

    def validate(self, model: GraphModule) -> None:
        return None
