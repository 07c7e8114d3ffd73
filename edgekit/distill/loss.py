"""Distillation losses: soft-target KD (+ cross-entropy on labels) and hint (feature) losses.

KD follows Hinton et al.: ``T^2 * KL(p_t || p_s)`` with ``p = softmax(logits / T)``, i.e.
``F.kl_div(log p_s, log p_t)``; the T^2 keeps its gradient scale independent of T, so
``alpha`` means the same thing at every temperature.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgekit.distill.config import HintPair
from edgekit.errors import PipelineError
from edgekit.outputs import primary


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """``T^2 * KL(softmax(t/T) || softmax(s/T))``, averaged over the batch."""
    t = float(temperature)
    log_s = F.log_softmax(student_logits.float() / t, dim=-1)
    log_t = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return F.kl_div(log_s, log_t, reduction="batchmean", log_target=True) * (t * t)


def distill_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor | None, *, temperature: float,
                 alpha: float) -> dict[str, Tensor]:
    """``alpha * KD + (1 - alpha) * CE`` with labels; pure KD (alpha = 1) without them."""
    kd = kd_loss(student_logits, teacher_logits, temperature)
    if labels is None:
        return {"total": kd, "kd": kd}
    ce = F.cross_entropy(student_logits.float(), labels)
    return {"total": alpha * kd + (1.0 - alpha) * ce, "kd": kd, "ce": ce}


class FeatureTaps:
    """Forward hooks keeping the latest output of named submodules."""

    def __init__(self, model: nn.Module, names: list[str], role: str) -> None:
        modules = dict(model.named_modules())
        self.names = list(names)
        self.outputs: dict[str, Tensor] = {}
        self._handles = []
        for name in self.names:
            if name not in modules or not name:
                layers = ", ".join(n for n in modules if n and "." not in n)
                raise PipelineError(f"Hint layer '{name}' is not a module of the {role}.",
                                    f"Name {role} modules as in named_modules(); top-level ones: {layers}.")
            self._handles.append(modules[name].register_forward_hook(self._hook(name)))

    def _hook(self, name: str) -> Any:
        def keep(_module: nn.Module, _inputs: Any, output: Any) -> None:
            self.outputs[name] = output[0] if isinstance(output, (tuple, list)) else output
        return keep

    def take(self) -> list[Tensor]:
        missing = [n for n in self.names if n not in self.outputs]
        if missing:
            raise PipelineError(f"Hint layer(s) {', '.join(missing)} did not run in the forward pass.",
                                "Pick layers that every forward pass uses.")
        values = [self.outputs[n] for n in self.names]
        self.outputs = {}
        return values

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def make_adapter(student_shape: tuple[int, ...], teacher_shape: tuple[int, ...], pair: HintPair) -> nn.Module:
    """Maps a student feature to the teacher's width: 1x1 conv for (N,C,H,W), linear on the last axis else."""
    conv = len(student_shape) == 4
    axis = 1 if conv else len(student_shape) - 1
    rest_s = [d for i, d in enumerate(student_shape) if i not in (0, axis)]
    rest_t = [d for i, d in enumerate(teacher_shape) if i not in (0, axis)]
    if len(student_shape) != len(teacher_shape) or rest_s != rest_t:
        raise PipelineError(f"Hint {pair.student}:{pair.teacher}: student feature {list(student_shape[1:])} and "
                            f"teacher feature {list(teacher_shape[1:])} differ beyond the channel width.",
                            "Pair layers with the same spatial size / sequence length.")
    c_s, c_t = student_shape[axis], teacher_shape[axis]
    if c_s == c_t:
        return nn.Identity()
    return nn.Conv2d(c_s, c_t, kernel_size=1, bias=False) if conv else nn.Linear(c_s, c_t, bias=False)


def hint_loss(student_feats: list[Tensor], teacher_feats: list[Tensor]) -> Tensor:
    """Mean over the pairs of the MSE between the adapted student feature and the teacher feature."""
    losses = [F.mse_loss(s.float(), t.float()) for s, t in zip(student_feats, teacher_feats)]
    return torch.stack(losses).mean()


class StudentWithAdapters(nn.Module):
    """The trained unit: student + hint adapters, so DDP averages the adapters' gradients too."""

    def __init__(self, student: nn.Module, hints: tuple[HintPair, ...], adapters: nn.ModuleList,
                 output: str | None = None) -> None:
        super().__init__()
        self.student = student
        self.adapters = adapters
        self.output = output  # which of the student's outputs is the logits (edgekit/outputs.py)
        self._taps = FeatureTaps(student, [h.student for h in hints], "student") if hints else None

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        logits = primary(self.student(x), self.output)
        if self._taps is None:
            return logits, []
        return logits, [adapter(f) for adapter, f in zip(self.adapters, self._taps.take())]

    def remove_hooks(self) -> None:
        if self._taps is not None:
            self._taps.remove()


def build_adapters(student: nn.Module, teacher: nn.Module, hints: tuple[HintPair, ...], example: Tensor
                   ) -> tuple[nn.ModuleList, list[dict[str, Any]]]:
    """One adapter per hint pair, sized from a trial forward pass on ``example``."""
    if not hints:
        return nn.ModuleList(), []
    s_taps = FeatureTaps(student, [h.student for h in hints], "student")
    t_taps = FeatureTaps(teacher, [h.teacher for h in hints], "teacher")
    try:
        with torch.no_grad():
            student.eval()(example)
            teacher.eval()(example)
        s_feats, t_feats = s_taps.take(), t_taps.take()
    finally:
        s_taps.remove()
        t_taps.remove()
    adapters, described = nn.ModuleList(), []
    for pair, s, t in zip(hints, s_feats, t_feats):
        adapter = make_adapter(tuple(s.shape), tuple(t.shape), pair)
        adapters.append(adapter)
        described.append({"student": pair.student, "teacher": pair.teacher, "student_shape": list(s.shape[1:]),
                          "teacher_shape": list(t.shape[1:]), "adapter": type(adapter).__name__})
    return adapters, described
