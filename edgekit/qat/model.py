"""The fake-quantized student (PT2E QAT) and its export to QDQ ONNX.

Route (see docs/ARCHITECTURE.md for the evidence): ``torch.export`` -> BatchNorm folded into
the preceding conv -> torchao's ``prepare_qat_pt2e`` with ``EdgeQuantizer`` (fake-quant nodes)
-> KD training -> ``convert_pt2e`` (INT8 weight constants) -> the dynamo ONNX exporter, which
writes ``quantized_decomposed`` ops as QuantizeLinear / DequantizeLinear.

Why BatchNorm is folded *before* QAT (frozen statistics) instead of PT2E's simulated folding:
with BatchNorm in the graph, ``convert_pt2e`` re-traces ~100 conv-bn patterns with torch.export
(17 s for the digits CNN on this 2-core box, whatever the model size), and freezing BatchNorm for
a short fine-tune from a converged FP32 model is the usual QAT practice anyway. NNCF's torch QAT is not used: its modules do not export to ONNX that ORT runs
INT8 with torch 2.13 (FIELD-NOTES).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from edgekit.errors import PipelineError
from edgekit.qat.quantizer import EdgeQuantizer, quiet

CALIBRATION_BATCH = 64
MAX_BATCH = 1 << 16


@functools.cache
def _pt2e() -> SimpleNamespace:
    """The torchao PT2E entry points QAT uses (some private: torchao exports no public name for them)."""
    with quiet():
        from torchao.quantization.pt2e import disable_observer, enable_observer
        from torchao.quantization.pt2e.export_utils import _move_exported_model_to_eval, _move_exported_model_to_train
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e
        from torchao.quantization.pt2e.utils import _fuse_conv_bn_
    return SimpleNamespace(move_to_train=_move_exported_model_to_train, move_to_eval=_move_exported_model_to_eval,
                           prepare_qat_pt2e=prepare_qat_pt2e, convert_pt2e=convert_pt2e, fold_batchnorm=_fuse_conv_bn_,
                           enable_observer=enable_observer, disable_observer=disable_observer)


def _batch_dim() -> Any:
    return ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},)


class FakeQuantStudent(nn.Module):
    """A PT2E-prepared graph the distillation loop can drive like any module.

    ``train()``/``eval()`` switch the graph's BatchNorm ops (an exported graph has no modules to
    switch) and the range observers: ranges follow the training batches (moving average) and are
    frozen in eval mode, so evaluating on the eval data never moves a quantization range.
    """

    def __init__(self, graph: torch.fx.GraphModule) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, x: Tensor) -> Tensor:
        return self.graph(x)

    def train(self, mode: bool = True) -> FakeQuantStudent:
        pt2e = _pt2e()
        self.training = mode
        (pt2e.move_to_train if mode else pt2e.move_to_eval)(self.graph)
        self.graph.apply(pt2e.enable_observer if mode else pt2e.disable_observer)
        return self

    def fake_quantizers(self) -> list[nn.Module]:
        return [m for m in self.graph.modules() if hasattr(m, "activation_post_process")]


def prepare(module: nn.Module, example: Tensor, scheme: Any) -> FakeQuantStudent:
    """Export ``module`` (a copy) with a dynamic batch and insert the fake-quant nodes."""
    pt2e = _pt2e()
    try:
        with quiet():
            module = copy.deepcopy(module).cpu().eval()
            graph = torch.export.export(module, (example,), dynamic_shapes=_batch_dim()).module()
            pt2e.fold_batchnorm(graph)
            prepared = pt2e.prepare_qat_pt2e(graph, EdgeQuantizer(scheme))
    except Exception as exc:
        raise PipelineError(f"Preparing the model for quantization-aware training failed (torch.export + "
                            f"prepare_qat_pt2e): {str(exc).splitlines()[0][:300]}",
                            "The student must be exportable with torch.export with a dynamic batch; drop --qat "
                            "to keep post-training INT8.") from exc
    for param in prepared.parameters():
        # the module may have served as a frozen teacher (the distillation loop freezes the teacher it is given)
        param.requires_grad_(True)
    student = FakeQuantStudent(prepared)
    if not student.fake_quantizers():
        raise PipelineError("Quantization-aware training found no Conv or Linear layer to quantize.",
                            "QAT needs a model with Conv1d/2d/3d or Linear layers; drop --qat.")
    return student.eval()


@torch.no_grad()
def calibrate(student: FakeQuantStudent, x: np.ndarray) -> int:
    """Initial ranges from calibration data: the mean of the per-batch min/max (eval-mode BatchNorm).

    The observers' moving average (constant 0.01) would keep the first batch's ranges almost
    unchanged; 1/(k+1) for batch k makes them the plain mean over all calibration batches.
    """
    pt2e = _pt2e()
    fqs = student.fake_quantizers()
    constants = [fq.activation_post_process.averaging_constant for fq in fqs]
    student.eval()
    student.graph.apply(pt2e.enable_observer)
    batches = 0
    try:
        for k, start in enumerate(range(0, len(x), CALIBRATION_BATCH)):
            for fq in fqs:
                fq.activation_post_process.averaging_constant = 1.0 / (k + 1)
            student(torch.from_numpy(np.ascontiguousarray(x[start:start + CALIBRATION_BATCH])))
            batches += 1
    finally:
        for fq, constant in zip(fqs, constants):
            fq.activation_post_process.averaging_constant = constant
        student.graph.apply(pt2e.disable_observer)
    return batches


def export_qdq(student: FakeQuantStudent, example: Tensor, out: Path, input_name: str, output_name: str) -> None:
    """Convert (INT8 weight constants, BatchNorm folded) and write QDQ ONNX with a dynamic batch."""
    pt2e = _pt2e()
    try:
        with quiet(), torch.no_grad():
            graph = copy.deepcopy(student.graph)
            pt2e.move_to_eval(graph)
            converted = pt2e.convert_pt2e(graph, fold_quantize=True)
            pt2e.move_to_eval(converted)
            torch.onnx.export(converted, (example,), str(out), dynamo=True, external_data=False,
                              input_names=[input_name], output_names=[output_name],
                              dynamic_shapes=_batch_dim(), verbose=False)
    except Exception as exc:
        raise PipelineError(f"Exporting the quantization-aware trained model to QDQ ONNX failed: "
                            f"{str(exc).splitlines()[0][:300]}", "Drop --qat to keep post-training INT8, and "
                            "report the model to edgekit.") from exc


def qdq_summary(path: Path) -> dict[str, Any]:
    """What the QDQ file holds: Q/DQ counts and the zero-point types (int8 / uint8)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    types = {t.name: onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name for t in model.graph.initializer}
    ops: dict[str, int] = {}
    zero_points: dict[str, int] = {}
    for node in model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
            kind = types.get(node.input[2], "?")
            zero_points[kind] = zero_points.get(kind, 0) + 1
    return {"ops": dict(sorted(ops.items())), "zero_point_types": zero_points,
            "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)}
