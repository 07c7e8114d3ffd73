"""Structured channel pruning on Torch-Pruning's dependency graph (DepGraph).

Coupled layers (residual adds, concatenations, depthwise/grouped convs, BatchNorm, attention
heads) are pruned together, so the result is a smaller *dense* module that every runtime runs
faster. Torch-Pruning's API stays inside this module.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

from edgekit.errors import PipelineError
from edgekit.pruning.config import Importance, PruneConfig, Scope
from edgekit.pruning.spec import ATTENTION_ATTRS

log = logging.getLogger(__name__)

# how many steps towards a MAC/parameter target to try, each removing a bit more, before giving up
TARGET_STEPS = 40


class PruneError(PipelineError):
    pass


@dataclass
class StructuredResult:
    ignored: list[str] = field(default_factory=list)
    unsupported: list[dict[str, str]] = field(default_factory=list)
    attention_modules: list[str] = field(default_factory=list)
    steps_run: int = 0
    capped: str = ""  # a ratio above max_channel_ratio, and what was removed instead


def default_ignored(model: Any) -> list[str]:
    """The stem (first conv) and the classifier head (last Linear) keep their channels; in a
    transformer so does the residual stream (every Linear writing the hidden size), so only
    attention heads and FFN widths are pruned."""
    from torch import nn

    convs = [n for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)]
    linears = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    names = [n for n in (convs[:1] + list(linears)[-1:]) if n]
    hidden = {m.query.in_features for m in _attention(model)}
    names += [n for n, m in linears.items() if m.out_features in hidden and n not in names
              and not n.endswith((".query", ".key", ".value"))]
    return names


def _importance(kind: Importance) -> Any:
    import torch_pruning as tp

    if kind is Importance.L1:
        return tp.importance.GroupMagnitudeImportance(p=1)
    if kind is Importance.L2:
        return tp.importance.GroupMagnitudeImportance(p=2)
    if kind is Importance.GROUP_NORM:
        return tp.importance.GroupMagnitudeImportance(p=2, group_reduction="mean", normalizer="mean")
    return tp.importance.GroupTaylorImportance()


def _attention(model: Any) -> dict[Any, tuple[str, int]]:
    """BERT-style attention blocks: query/key/value Linears sharing a head count."""
    found = {}
    for name, module in model.named_modules():
        if all(hasattr(module, a) for a in ATTENTION_ATTRS) and all(hasattr(module, p) for p in ("query", "key", "value")):
            found[module] = (name, int(module.num_attention_heads))
    return found


def _unsupported_parameters(graph: Any, model: Any) -> dict[Any, str]:
    """Parameters that no registered pruner owns: the graph cannot know which axis is a channel."""
    names = {p: n for n, p in model.named_parameters()}
    return {item.parameters: names.get(item.parameters, "?") for item in graph.unwrapped_parameters}


def _guard_unsupported(model: Any, example: Any, cfg: PruneConfig, ignored: list[Any],
                       result: StructuredResult) -> list[Any]:
    """Name the layers the dependency graph does not understand; with skip_unsupported keep
    every channel group that touches them, otherwise stop with the layer and the reason."""
    import torch_pruning as tp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=example, ignored_layers=ignored)
    unsupported = _unsupported_parameters(graph, model)
    if not unsupported:
        return ignored
    owners = sorted({name.rpartition(".")[0] or name for name in unsupported.values()})
    result.unsupported = [{"layer": o, "reason": "uses a parameter directly (no known layer type), so its channel axis "
                           "is unknown"} for o in owners]
    if not cfg.skip_unsupported:
        raise PruneError(
            f"Cannot prune structurally: layer(s) {', '.join(owners)} use parameters "
            f"({', '.join(sorted(unsupported.values()))}) outside any layer type the dependency graph understands, "
            "so the channels coupled to them cannot be removed consistently.",
            "Pass --skip-unsupported to keep every channel connected to those layers and prune the rest.")
    extra = []
    for group in graph.get_all_groups(ignored_layers=ignored):
        if any(dep.target.module in unsupported for dep, _ in group):
            extra.append(group[0][0].target.module)
    return ignored + extra


def _resolve_ignored(model: Any, cfg: PruneConfig) -> list[Any]:
    modules = dict(model.named_modules())
    names = list(cfg.ignored_layers) if cfg.ignored_layers is not None else default_ignored(model)
    missing = [n for n in names if n not in modules]
    if missing:
        raise PruneError(f"Ignored layer(s) not found in the model: {', '.join(missing)}.",
                         f"Use module names from `edgekit inspect`, e.g. {', '.join(list(modules)[1:4])}.")
    return [modules[n] for n in names]


def _make_pruner(model: Any, example: Any, cfg: PruneConfig, ignored: list[Any], ratio: float, steps: int) -> Any:
    import torch_pruning as tp

    modules = dict(model.named_modules())
    attention = _attention(model)
    num_heads = {getattr(m, p): heads for m, (_, heads) in attention.items() for p in ("query", "key", "value")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unsupported parameters were already reported or refused
        return tp.pruner.BasePruner(
            model, example, importance=_importance(cfg.importance), global_pruning=cfg.scope is Scope.GLOBAL,
            # Torch-Pruning applies max_pruning_ratio only to the layers' running check, not to a uniform ratio
            # (0.95 kept 3 of 64 channels, 0.999 removed nothing): the cap is applied to the ratios here
            pruning_ratio=min(ratio, cfg.max_channel_ratio),
            pruning_ratio_dict={modules[n]: min(r, cfg.max_channel_ratio) for n, r in cfg.layer_ratios.items()},
            max_pruning_ratio=cfg.max_channel_ratio, iterative_steps=steps, ignored_layers=ignored,
            round_to=cfg.round_to if cfg.round_to > 1 else None, num_heads=num_heads,
            prune_num_heads=bool(num_heads), prune_head_dims=False, head_pruning_ratio=ratio if num_heads else 0.0,
        )


def _step(pruner: Any, model: Any, example: Any, cfg: PruneConfig, loss_fn: Any) -> None:
    if cfg.importance is Importance.TAYLOR:
        model.zero_grad()
        loss_fn(model).backward()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruner.step()


def _fix_attention(model: Any) -> list[str]:
    """Head pruning shrinks query/key/value; the block's head bookkeeping must follow."""
    names = []
    for module, (name, _) in _attention(model).items():
        module.all_head_size = module.query.out_features
        module.num_attention_heads = module.all_head_size // module.attention_head_size
        names.append(name)
    return names


def _prune_to_target(model: Any, example: Any, cfg: PruneConfig, ignored: list[Any], measure: Any, loss_fn: Any,
                     result: StructuredResult) -> None:
    """Small steps towards the per-layer cap until the MAC or parameter budget is met."""
    key, share = cfg.target
    original = measure(model)[key]
    pruner = _make_pruner(model, example, cfg, ignored, cfg.max_channel_ratio, TARGET_STEPS)
    while measure(model)[key] > share * original:
        if result.steps_run == TARGET_STEPS:
            raise PruneError(f"Could not reach --target-{key} {share}: after removing up to "
                             f"{cfg.max_channel_ratio:.0%} of each layer, {key} are "
                             f"{measure(model)[key] / original:.1%} of the original.",
                             "Ask for a higher target, or ignore fewer layers.")
        _step(pruner, model, example, cfg, loss_fn)
        result.steps_run += 1


def prune_structured(model: Any, example: Any, cfg: PruneConfig, *, measure: Any, loss_fn: Any = None
                     ) -> StructuredResult:
    """Prune ``model`` in place. ``measure(model) -> {"macs": int, "params": int}``; ``loss_fn(model)`` for
    Taylor importance."""
    if cfg.importance is Importance.TAYLOR and loss_fn is None:
        raise PruneError("Taylor importance needs data to compute gradients.", "Pass --calib-data, or use l2.")
    result = StructuredResult()
    missing = [n for n in cfg.layer_ratios if n not in dict(model.named_modules())]
    if missing:
        raise PruneError(f"Per-layer ratio for unknown layer(s): {', '.join(missing)}.",
                         "Use module names from `edgekit inspect`.")
    ignored = _guard_unsupported(model, example, cfg, _resolve_ignored(model, cfg), result)
    result.ignored = [n for n, m in model.named_modules() if m in ignored]
    if cfg.ratio is not None:
        over = {n: r for n, r in {"--prune": cfg.ratio, **cfg.layer_ratios}.items() if r > cfg.max_channel_ratio}
        if over:
            result.capped = (f"{', '.join(f'{n} {r:g}' for n, r in over.items())} above max_channel_ratio "
                             f"{cfg.max_channel_ratio:g}, the cap applied instead: a layer loses at most ~"
                             f"{cfg.max_channel_ratio:.0%} of its channels (whole channels)")
        pruner = _make_pruner(model, example, cfg, ignored, cfg.ratio, cfg.steps)
        for _ in range(cfg.steps):
            _step(pruner, model, example, cfg, loss_fn)
            result.steps_run += 1
    else:
        _prune_to_target(model, example, cfg, ignored, measure, loss_fn, result)
    result.attention_modules = _fix_attention(model)
    return result
