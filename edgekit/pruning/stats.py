"""Per-layer channels, parameters and MACs of a torch module, measured with forward hooks."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LayerStat:
    name: str
    type: str
    in_channels: int
    out_channels: int
    params: int
    macs: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _macs(module: Any, inp: Any, out: Any) -> int:
    """Multiply-accumulates for one sample (``inp``/``out`` are already sliced to batch 1)."""
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return inp.numel() * (module.out_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.modules.conv._ConvNd):
        return out.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


def layer_stats(model: Any, example: Any) -> dict[str, LayerStat]:
    """Conv and Linear layers in execution order, MACs for one sample of ``example``'s shape."""
    import torch
    from torch import nn

    stats: dict[str, LayerStat] = {}
    hooks = []

    def hook(name: str):
        def record(module: Any, args: Any, out: Any) -> None:
            if name in stats or not isinstance(out, torch.Tensor):
                return
            is_conv = isinstance(module, nn.modules.conv._ConvNd)
            stats[name] = LayerStat(
                name, type(module).__name__,
                module.in_channels if is_conv else module.in_features,
                module.out_channels if is_conv else module.out_features,
                sum(p.numel() for p in module.parameters(recurse=False)),
                _macs(module, args[0][:1], out[:1]))
        return record

    for name, module in model.named_modules():
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
            hooks.append(module.register_forward_hook(hook(name)))
    try:
        forward(model, example)
    finally:
        for h in hooks:
            h.remove()
    return stats


def forward(model: Any, example: Any) -> Any:
    """``model`` on one example batch (a tensor, or a tuple of inputs), without gradients."""
    import torch

    with torch.no_grad():
        return model(*example) if isinstance(example, (tuple, list)) else model(example)


def totals(stats: dict[str, LayerStat], model: Any) -> dict[str, int]:
    return {"params": sum(p.numel() for p in model.parameters()), "macs": sum(s.macs for s in stats.values())}
