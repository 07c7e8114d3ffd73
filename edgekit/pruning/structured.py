"""Structured channel pruning on Torch-Pruning's dependency graph (DepGraph).

Coupled layers (residual adds, concatenations, depthwise/grouped convs, BatchNorm, attention
heads) are pruned together, so the result is a smaller *dense* module that every runtime runs
faster. Torch-Pruning's API stays inside this module.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from edgekit.errors import PipelineError
from edgekit.pruning.config import Importance, PruneConfig, Scope

log = logging.getLogger(__name__)

# blocks (by class name) whose channel coupling Torch-Pruning's dependency graph cannot follow: refused before it is
# built, since building it does not finish
UNTRACEABLE_BLOCKS = {
    "FocalNetModulation": "its forward splits the input projection by the channel count it reads and gates every "
                          "channel with one-channel slices, which Torch-Pruning's dependency graph does not resolve "
                          "(grouping does not finish)",
}

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
    output_layers: dict[str, str] = field(default_factory=dict)  # kept whole because they write the output: why


def default_ignored(model: Any) -> list[str]:
    """Unstructured and 2:4 sparsity leave the stem (first conv) and the classifier head (last Linear) dense: they
    are the most sensitive layers and hold few of the weights."""
    from torch import nn

    convs = [n for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)]
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    return [n for n in (convs[:1] + linears[-1:]) if n]


def residual_stream_linears(model: Any) -> list[str]:
    """In a transformer every Linear writing the hidden size feeds the residual stream, which structured pruning
    keeps: only attention heads and FFN widths are pruned."""
    from torch import nn

    attention = _attention(model)
    hidden = {projections(m)[0].in_features for m in attention}
    qkv = {p for m in attention for p in projections(m)}
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.out_features in hidden
            and m not in qkv]


def _output_groups(graph: Any, model: Any) -> dict[str, str]:
    """Layers whose output channels are the model's output channels (the classifier head, a segmentation head, every
    layer writing into a residual stream that is itself returned): pruning them would change the output's shape, so
    they always keep their width, whatever --prune-ignore says. Layer name -> why, for the report."""
    from torch_pruning import ops

    names = {m: n for n, m in model.named_modules()}
    kept: dict[str, str] = {}
    for group in graph.get_all_groups():
        writers = [dep.target.module for dep, _ in group if graph.is_out_channel_pruning_fn(dep.handler)]
        direct = [m for m in writers if m in graph.module2node and not graph.module2node[m].outputs]
        if direct or any(isinstance(dep.target.module, ops._OutputOp) for dep, _ in group):
            why = "its output is the model's output" if len(writers) == 1 else \
                "their channels are the model's output (coupled through adds or concatenations)"
            kept.update({names[m]: why for m in writers if m in names})
    return kept


def _importance(kind: Importance) -> Any:
    import torch_pruning as tp

    if kind is Importance.L1:
        return tp.importance.GroupMagnitudeImportance(p=1)
    if kind is Importance.L2:
        return tp.importance.GroupMagnitudeImportance(p=2)
    if kind is Importance.GROUP_NORM:
        return tp.importance.GroupMagnitudeImportance(p=2, group_reduction="mean", normalizer="mean")
    return tp.importance.GroupTaylorImportance()


# an attention block's query/key/value Linears, per Hugging Face naming: BERT-style (BERT, MobileViT) and the q_proj
# style (ViT, DeiT, DINOv2, Swin, SegFormer in transformers 5)
PROJECTION_NAMES = (("query", "key", "value"), ("q_proj", "k_proj", "v_proj"))


def projections(module: Any) -> tuple[Any, ...]:
    """The query/key/value Linears of an attention block, else ()."""
    from torch import nn

    for names in PROJECTION_NAMES:
        if all(isinstance(getattr(module, n, None), nn.Linear) for n in names):
            return tuple(getattr(module, n) for n in names)
    return ()


def _head_size(module: Any) -> int:
    return int(getattr(module, "attention_head_size", None) or module.head_dim)


def _attention(model: Any) -> dict[Any, tuple[str, int]]:
    """Attention blocks: query/key/value Linears sharing a head count (``num_attention_heads``) of a fixed size
    (``attention_head_size`` or ``head_dim``)."""
    found = {}
    for name, module in model.named_modules():
        if isinstance(getattr(module, "num_attention_heads", None), int) and projections(module) and (
                isinstance(getattr(module, "attention_head_size", None), int) or isinstance(getattr(module, "head_dim", None), int)):
            found[module] = (name, module.num_attention_heads)
    return found


@dataclass
class BareParameters:
    """Parameters outside every layer type Torch-Pruning has a pruner for, by what their axes mean."""
    channels: dict[Any, int] = field(default_factory=dict)  # parameter -> its channel axis, pruned with the channels
    head_tables: dict[str, Any] = field(default_factory=dict)  # name -> attention block: one column per head
    unknown: dict[Any, str] = field(default_factory=dict)  # parameter -> name: its channel axis is unknown


def bare_parameters(model: Any) -> BareParameters:
    """A per-channel vector (layer scale, ConvNeXt V2's GRN gamma/beta, DINOv2's mask token: one axis longer than 1)
    or a token / position embedding ``(1, tokens, channels)`` (ViT's class token and position embeddings) is pruned
    along that axis, the last, with the channels it meets; a 2-D table with one column per head of the attention
    block holding it (Swin's relative position bias) loses the columns of the heads pruned (``_step``); the
    rest are unknown, and refused."""
    import torch_pruning as tp

    prunable = set(tp.DependencyGraph().REGISTERED_PRUNERS) - {tp.ops.OPTYPE.ELEMENTWISE}
    wrapped = {id(p) for m in model.modules() if tp.ops.module2type(m) in prunable for p in m.parameters()}
    attention = {name: module for module, (name, _) in _attention(model).items()}
    found = BareParameters()
    for name, p in model.named_parameters():
        if id(p) in wrapped:
            continue
        long = [axis for axis, size in enumerate(p.shape) if size > 1]
        block = next((m for a, m in attention.items() if name.startswith(a + ".")), None)
        if len(long) == 1 or (p.dim() == 3 and p.shape[0] == 1):
            found.channels[p] = p.dim() - 1 if p.dim() == 3 else long[0]
        elif block is not None and p.dim() == 2 and p.shape[-1] == block.num_attention_heads:
            found.head_tables[name] = block
        else:
            found.unknown[p] = name
    return found


def kept_by_architecture(model: Any) -> list[str]:
    """Layers whose width the architecture fixes where the dependency graph cannot see it: the spatial reduction of
    an efficient attention block (SegFormer, PVT) is reshaped with the channel count it reads, the residual width."""
    from torch import nn

    blocks = [name for _, (name, _) in _attention(model).items()]
    return [n for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)
            and any(n.startswith(b + ".") for b in blocks)]


def _unsupported_parameters(graph: Any, model: Any) -> dict[Any, str]:
    """Parameters that no registered pruner owns and whose channel axis is unknown (``bare_parameters``)."""
    return bare_parameters(model).unknown


def _graph(model: Any, example: Any) -> Any:
    import torch_pruning as tp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tp.DependencyGraph().build_dependency(model, example_inputs=example)


def _guard_unsupported(graph: Any, model: Any, cfg: PruneConfig, ignored: list[Any],
                       result: StructuredResult) -> list[Any]:
    """Name the layers the dependency graph does not understand; with skip_unsupported keep
    every channel group that touches them, otherwise stop with the layer and the reason."""
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


def _resolve_ignored(graph: Any, model: Any, cfg: PruneConfig, result: StructuredResult) -> list[Any]:
    """The layers kept whole: those whose channels are the model's output (always), then --prune-ignore's list, or
    by default a transformer's residual stream. The stem is not kept by default: keeping it would freeze every
    group coupled to it (a ResNet's whole residual stream, SE gates, concatenations) while the network's input width
    is fixed anyway."""
    modules = dict(model.named_modules())
    chosen = list(cfg.ignored_layers) if cfg.ignored_layers is not None else residual_stream_linears(model)
    missing = [n for n in chosen if n not in modules]
    if missing:
        raise PruneError(f"Ignored layer(s) not found in the model: {', '.join(missing)}.",
                         f"Use module names from `edgekit inspect`, e.g. {', '.join(list(modules)[1:4])}.")
    result.output_layers = _output_groups(graph, model)
    names = list(result.output_layers) + [n for n in chosen if n not in result.output_layers]
    return [modules[n] for n in names]


def rounded_kept(kept: int, channels: int, round_to: int) -> int:
    """``kept`` channels of ``channels`` rounded to the nearest multiple of ``round_to`` (Torch-Pruning rounds down,
    so --prune 0.3 on 32 channels removed half), at least one multiple and at most the layer: a layer no wider than
    ``round_to`` keeps its width."""
    return min(max(int(kept / round_to + 0.5) * round_to, round_to), channels)


class _WholeHeadSchedule:
    """Torch-Pruning removes ceil(ratio x heads) heads per step, the ratio being the cumulative target and the heads
    those left: 0.3 of 4 heads removed 2, of 1 head (SegFormer's first stage) all of it, and iterative steps compound.
    Here each step removes what brings the block to round(initial x (1 - target)) heads, never the last one."""

    def get_target_head_pruning_ratio(self, module: Any) -> float:
        target = super().get_target_head_pruning_ratio(module)  # type: ignore[misc]
        current, initial = self.num_heads[module], self.init_num_heads.get(module, self.num_heads[module])  # type: ignore[attr-defined]
        remove = current - max(1, round(initial * (1.0 - target)))
        return max(remove - 0.5, 0.0) / current  # ceil((remove - 0.5) / current x current) == remove


def _pruner_class() -> Any:
    import torch_pruning as tp

    class GroupAwareRounding(_WholeHeadSchedule, tp.pruner.BasePruner):
        """Torch-Pruning rounds the kept channels of a channel group to ``round_to`` against the layer's full width,
        while the count it rounds is per channel group (a grouped conv's groups, attention heads): with round_to 8
        a groups=4 conv coupled to the stem (the gated digits CNN) had its 4 pruned channels per group rounded to the
        whole layer, and its group was left unpruned. Here the kept channels per group are rounded (rounded_kept) so
        that the layer's kept total is a multiple of ``round_to``."""

        _rounding_group: Any = None

        def _is_atten_group(self, group: Any) -> Any:
            self._rounding_group = group  # called for each group just before _round_to, in the same loop
            return super()._is_atten_group(group)

        def _round_to(self, n_pruned: int, current_channels: int, round_to: int) -> int:
            groups = self._get_channel_groups(self._rounding_group) if self._rounding_group is not None else 1
            per_group = current_channels // groups
            step = round_to // math.gcd(round_to, groups)
            return per_group - rounded_kept(per_group - n_pruned, per_group, step)

    return GroupAwareRounding


def _make_pruner(model: Any, example: Any, cfg: PruneConfig, ignored: list[Any], ratio: float, steps: int) -> Any:
    modules = dict(model.named_modules())
    attention = _attention(model)
    num_heads = {p: heads for m, (_, heads) in attention.items() for p in projections(m)}
    bare = bare_parameters(model)
    parameters = dict(model.named_parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unsupported parameters were already reported or refused
        return _pruner_class()(
            model, example, importance=_importance(cfg.importance), global_pruning=cfg.scope is Scope.GLOBAL,
            # Torch-Pruning applies max_pruning_ratio only to the layers' running check, not to a uniform ratio
            # (0.95 kept 3 of 64 channels, 0.999 removed nothing): the cap is applied to the ratios here
            pruning_ratio=min(ratio, cfg.max_channel_ratio),
            pruning_ratio_dict={modules[n]: min(r, cfg.max_channel_ratio) for n, r in cfg.layer_ratios.items()},
            max_pruning_ratio=cfg.max_channel_ratio, iterative_steps=steps,
            # per-head tables are pruned with their heads by _step, never along a channel axis
            ignored_layers=ignored + [parameters[n] for n in bare.head_tables],
            unwrapped_parameters=list(bare.channels.items()),
            round_to=cfg.round_to if cfg.round_to > 1 else None, num_heads=num_heads,
            prune_num_heads=bool(num_heads), prune_head_dims=False, head_pruning_ratio=ratio if num_heads else 0.0,
        )


def _removed_heads(group: Any, graph: Any, blocks: set[Any]) -> dict[Any, list[int]]:
    """The heads a pruning group removes, per attention block in ``blocks`` (whole heads: head dims are kept)."""
    queries = {projections(block)[0]: block for block in blocks}
    removed = {}
    for dep, idxs in group:
        block = queries.get(dep.target.module)
        if block is not None and graph.is_out_channel_pruning_fn(dep.handler) and idxs:
            removed[block] = sorted({int(i) // _head_size(block) for i in idxs})
    return removed


def _prune_head_tables(model: Any, tables: dict[str, Any], removed: dict[Any, list[int]]) -> None:
    """Drop the columns of the removed heads from each per-head table (Swin's relative position bias)."""
    from torch import nn

    modules, parameters = dict(model.named_modules()), dict(model.named_parameters())
    for name, block in tables.items():
        if block in removed:
            table = parameters[name]
            keep = [h for h in range(table.shape[-1]) if h not in removed[block]]
            owner, _, attr = name.rpartition(".")
            setattr(modules[owner], attr, nn.Parameter(table.data[..., keep].clone(), requires_grad=table.requires_grad))


def _step(pruner: Any, model: Any, example: Any, cfg: PruneConfig, loss_fn: Any) -> None:
    if cfg.importance is Importance.TAYLOR:
        model.zero_grad()
        loss_fn(model).backward()
    tables = bare_parameters(model).head_tables
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for group in pruner.step(interactive=True):
            removed = _removed_heads(group, pruner.DG, set(tables.values()))
            group.prune()
            _prune_head_tables(model, tables, removed)
    _fix_attention(model)  # the next step's forward (Taylor, a MAC target) runs the pruned blocks


def _fix_attention(model: Any) -> list[str]:
    """Head pruning shrinks query/key/value; the block's head bookkeeping must follow."""
    names = []
    for module, (name, _) in _attention(model).items():
        query = projections(module)[0]
        module.num_attention_heads = query.out_features // _head_size(module)
        if hasattr(module, "all_head_size"):
            module.all_head_size = query.out_features
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


def _output_shapes(model: Any, example: Any) -> dict[str, tuple[int, ...]]:
    from edgekit.outputs import select
    from edgekit.pruning.stats import forward

    return {name: tuple(t.shape) for name, t in select(forward(model, example))}


def _check_runs(model: Any, example: Any, shapes: dict[str, tuple[int, ...]]) -> None:
    """The pruned model must run and give the output the original gave: a coupling the graph missed stops here,
    named, rather than in export or on the device."""
    try:
        after = _output_shapes(model, example)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's forward is the finding
        raise PruneError(f"Structured pruning left {type(model).__name__} unable to run: {str(exc).splitlines()[0][:300]} "
                         "(a layer's width is fixed by its forward in a way the dependency graph cannot see).",
                         "Keep the layer named in the error whole with --prune-ignore, or use --prune-mode "
                         "unstructured.") from None
    if after != shapes:
        raise PruneError(f"Structured pruning changed {type(model).__name__}'s output shape: {shapes} -> {after}.",
                         "Keep the layers writing that output whole with --prune-ignore.")


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
    untraceable = [(n, UNTRACEABLE_BLOCKS[type(m).__name__]) for n, m in model.named_modules()
                   if type(m).__name__ in UNTRACEABLE_BLOCKS]
    if untraceable:
        raise PruneError(f"Cannot prune structurally: layer {untraceable[0][0]} ({len(untraceable)} such block(s)): "
                         f"{untraceable[0][1]}.",
                         "Use --prune-mode unstructured, or --distill with a smaller --student.")
    shapes = _output_shapes(model, example)
    graph = _graph(model, example)
    modules = dict(model.named_modules())
    ignored = _guard_unsupported(graph, model, cfg, _resolve_ignored(graph, model, cfg, result)
                                 + [modules[n] for n in kept_by_architecture(model)], result)
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
    _check_runs(model, example, shapes)
    return result
