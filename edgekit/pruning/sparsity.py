"""Unstructured magnitude sparsity and 2:4 semi-structured sparsity, made permanent (zeros in
the dense weights). Dense runtimes do not run faster from zeros; the report says so. 2:4 along
the input-channel axis is the layout TensorRT's sparse tensor cores consume.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import asdict, dataclass
from typing import Any

from edgekit.pruning.config import PruneConfig


@dataclass(frozen=True)
class LayerSparsity:
    name: str
    weights: int
    zeros: int
    pattern_2_4: bool | None = None  # None: not checked / not applicable

    @property
    def sparsity(self) -> float:
        return self.zeros / self.weights if self.weights else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sparsity": self.sparsity}


def _weights(model: Any, ignored: set[str]) -> dict[str, Any]:
    from torch import nn

    return {name: m.weight for name, m in model.named_modules()
            if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) and name not in ignored}


def apply_unstructured(model: Any, cfg: PruneConfig, ignored: set[str]) -> list[LayerSparsity]:
    """Zero the smallest-magnitude weights: one global threshold, or the same share per layer; no
    layer beyond ``max_layer_sparsity`` (a global threshold once deleted whole layers)."""
    import torch

    weights = _weights(model, ignored)
    ratio = float(cfg.ratio or 0.0)
    threshold = None
    if cfg.scope.value == "global":
        flat = torch.cat([w.detach().abs().flatten() for w in weights.values()])
        threshold = torch.kthvalue(flat, max(1, int(ratio * flat.numel()))).values
    with torch.no_grad():
        for name, w in weights.items():
            share = cfg.layer_ratios.get(name, ratio)
            keep_min = int(round(w.numel() * (1.0 - cfg.max_layer_sparsity)))
            magnitude = w.abs().flatten()
            if threshold is not None and name not in cfg.layer_ratios:
                mask = magnitude > threshold
            else:
                k = int(share * w.numel())
                mask = magnitude > torch.kthvalue(magnitude, k).values if k > 0 else torch.ones_like(magnitude, dtype=torch.bool)
            if int(mask.sum()) < keep_min:
                mask = torch.zeros_like(mask)
                mask[magnitude.topk(keep_min).indices] = True
            w.mul_(mask.view_as(w).to(w.dtype))
    return measure(model, ignored)


def _input_channel_groups(w: Any) -> Any:
    """Weights as (..., groups of 4 consecutive input channels, 4)."""
    moved = w.movedim(1, -1) if w.dim() > 2 else w  # conv (K, C, R, S) -> (K, R, S, C)
    return moved.reshape(*moved.shape[:-1], moved.shape[-1] // 4, 4)


def apply_2_4(model: Any, ignored: set[str]) -> tuple[list[LayerSparsity], list[str]]:
    """In every group of 4 consecutive input channels keep the 2 largest magnitudes."""
    import torch

    skipped = []
    with torch.no_grad():
        for name, w in _weights(model, ignored).items():
            if w.shape[1] % 4:
                skipped.append(f"{name}: {w.shape[1]} input channels is not a multiple of 4")
                continue
            groups = _input_channel_groups(w)
            drop = groups.abs().topk(2, dim=-1, largest=False).indices
            mask = torch.ones_like(groups).scatter_(-1, drop, 0.0)
            masked = (groups * mask).reshape(*groups.shape[:-2], -1)
            w.copy_(masked.movedim(-1, 1) if w.dim() > 2 else masked)
    return measure(model, ignored, check_2_4=True), skipped


def has_2_4_pattern(w: Any) -> bool:
    if w.shape[1] % 4:
        return False
    return bool(((_input_channel_groups(w) != 0).sum(-1) <= 2).all())


def measure(model: Any, ignored: set[str], check_2_4: bool = False) -> list[LayerSparsity]:
    return [LayerSparsity(name, w.numel(), int((w == 0).sum()), has_2_4_pattern(w) if check_2_4 else None)
            for name, w in _weights(model, ignored).items()]


def zipped_weight_bytes(model: Any) -> int:
    """Size of the state_dict after deflate: what zeros buy on disk and over the air."""
    import torch

    raw = io.BytesIO()
    torch.save(model.state_dict(), raw)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("weights", raw.getvalue())
    return packed.tell()
