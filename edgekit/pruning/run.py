"""``prune_module``: one entry point for every pruning mode, never mutating the caller's model."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekit.pruning.config import PruneConfig, PruneMode
from edgekit.pruning.stats import layer_stats, totals

log = logging.getLogger(__name__)


@dataclass
class PruneResult:
    model: Any
    summary: dict[str, Any] = field(default_factory=dict)


def _batches(x: np.ndarray, size: int = 64) -> Any:
    import torch

    for start in range(0, x.shape[0], size):
        yield torch.from_numpy(x[start:start + size])


def recalibrate_batchnorm(model: Any, x: np.ndarray) -> int:
    """Re-estimate BatchNorm running statistics on ``x`` (no labels, no gradients), as a cumulative average over
    its batches; each layer's momentum is restored afterwards. Left at None, every later training step (distillation,
    QAT) folded into one average since the re-estimate, so the running statistics lagged the weights and the
    student's eval-mode accuracy collapsed (the gated digits CNN pruned 50%, then 10 epochs of fine-tuning: 61% on
    held-out digits, 96% with the momentum restored)."""
    import torch
    from torch import nn

    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over all batches
    model.eval()
    for bn in norms:
        bn.train()
    with torch.no_grad():
        for batch in _batches(x):
            model(batch)
    model.eval()
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    return len(norms)


def _taylor_loss(model: Any, x: np.ndarray | None, y: np.ndarray | None, output: str | None) -> Any:
    """Cross-entropy of the compared output (edgekit/outputs.py) on labels, or on the unpruned model's own
    predictions when there are none."""
    if x is None:
        return None
    import torch
    import torch.nn.functional as F

    from edgekit.outputs import primary

    xt = torch.from_numpy(x[:64])
    if y is not None:
        target = torch.from_numpy(y[:64])
    else:
        with torch.no_grad():
            target = primary(model(xt), output).argmax(-1)
    return lambda m: F.cross_entropy(primary(m(xt), output), target)


def _layer_table(before: dict, after: dict) -> list[dict[str, Any]]:
    rows = []
    for name, b in before.items():
        a = after.get(name)
        rows.append({"layer": name, "type": b.type,
                     "channels_before": [b.in_channels, b.out_channels],
                     "channels_after": [a.in_channels, a.out_channels] if a else None,
                     "params_before": b.params, "params_after": a.params if a else 0,
                     "macs_before": b.macs, "macs_after": a.macs if a else 0})
    return rows


def prune_module(model: Any, example: Any, cfg: PruneConfig, *, calib_x: np.ndarray | None = None,
                 calib_y: np.ndarray | None = None, output: str | None = None) -> PruneResult:
    """A pruned copy of ``model``; ``example`` is one input batch used to trace the graph; ``output``: the output
    Taylor importance scores (edgekit/outputs.py)."""
    from edgekit.pruning import sparsity
    from edgekit.pruning.effect import nothing_removed
    from edgekit.pruning.shortfall import requested_vs_achieved
    from edgekit.pruning.structured import default_ignored, prune_structured

    pruned = copy.deepcopy(model).eval()
    # Torch-Pruning traces the graph through autograd: a model with frozen weights (requires_grad False, as many are
    # loaded for inference) leaves no grad_fn to follow, so nothing was coupled and nothing pruned
    pruned.requires_grad_(True)
    before = layer_stats(pruned, example)
    summary: dict[str, Any] = {"mode": cfg.mode.value, "totals_before": totals(before, pruned),
                               "zipped_weight_bytes_before": sparsity.zipped_weight_bytes(pruned)}
    if cfg.mode is PruneMode.STRUCTURED:
        def measure(m: Any) -> dict[str, int]:
            return totals(layer_stats(m, example), m)

        result = prune_structured(pruned, example, cfg, measure=measure, loss_fn=_taylor_loss(pruned, calib_x, calib_y, output))
        summary.update(ignored=result.ignored, output_layers=result.output_layers, unsupported=result.unsupported,
                       steps=result.steps_run,
                       attention_modules=result.attention_modules, **({"capped": result.capped} if result.capped else {}))
        if cfg.recalibrate_bn and calib_x is not None:
            summary["batchnorm_recalibrated"] = recalibrate_batchnorm(pruned, calib_x)
    else:
        ignored = set(cfg.ignored_layers if cfg.ignored_layers is not None else default_ignored(pruned))
        summary["zeros_before"] = sum(s.zeros for s in sparsity.measure(pruned, ignored))
        if cfg.mode is PruneMode.UNSTRUCTURED:
            layers = sparsity.apply_unstructured(pruned, cfg, ignored)
        else:
            layers, skipped = sparsity.apply_2_4(pruned, ignored)
            summary["skipped_2_4"] = skipped
        total = sum(s.weights for s in layers)
        summary.update(ignored=sorted(ignored), sparsity=[s.to_dict() for s in layers],
                       overall_sparsity=sum(s.zeros for s in layers) / total if total else 0.0,
                       note="zeros in dense weights: ONNX Runtime and OpenVINO run them at the same speed; "
                            "they shrink the compressed (zip) size only")
    after = layer_stats(pruned, example)
    summary.update(totals_after=totals(after, pruned), layers=_layer_table(before, after),
                   zipped_weight_bytes_after=sparsity.zipped_weight_bytes(pruned))
    b, a = summary["totals_before"], summary["totals_after"]
    summary["ratios"] = {"params": a["params"] / b["params"], "macs": a["macs"] / b["macs"] if b["macs"] else 1.0}
    summary["removed_nothing"] = nothing_removed(cfg, summary)  # None, or why the model is unchanged
    summary["requested"] = requested_vs_achieved(cfg, summary)
    return PruneResult(pruned, summary)
