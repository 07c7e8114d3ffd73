"""Did pruning change anything? A pruned model identical to the original is not a variant.

Structured pruning can remove no channel at all: every layer ignored (layers writing the model's output are
always kept whole), channels rounded back to the full width by ``round_to``, channel groups coupled to
layers kept whole. Unstructured and 2:4 sparsity can zero nothing new (every layer ignored or skipped, or the
weights already that sparse). Then the "pruned" variants would be the original measured twice, and any latency
difference between them noise; `PruneStage` refuses to go on (`NothingPrunedError`, exit 8) and a sweep marks
the trial as having no effect instead of timing it.
"""

from __future__ import annotations

from typing import Any

from edgekit.errors import PipelineError
from edgekit.pruning.config import PruneConfig, PruneMode

NO_EFFECT = "no-effect"  # VariantResult.status of a sweep trial whose pruning removed nothing


class NothingPrunedError(PipelineError):
    """Pruning ran and removed nothing; the message says why, the hint what to change."""


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def rounded_back(cfg: PruneConfig, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Layers whose kept channels round back to their full width at this ratio (pruning/structured.rounded_kept:
    no wider than ``round_to``, or too few channels removed to drop a whole multiple): name -> 'name (C -> k
    channels)'."""
    from edgekit.pruning.structured import rounded_kept

    if cfg.ratio is None:
        return {}
    found = {}
    for row in rows:
        share = min(cfg.layer_ratios.get(row["layer"], cfg.ratio), cfg.max_channel_ratio)
        channels = row["channels_before"][1]
        kept = int(channels * (1.0 - share))
        if share > 0 and rounded_kept(kept, channels, cfg.round_to) == channels:
            found[row["layer"]] = f"{row['layer']} ({channels} -> {kept} channels)"
    return found


def _structured_reason(cfg: PruneConfig, summary: dict[str, Any]) -> str | None:
    rows = summary["layers"]
    if any(row["channels_after"] != row["channels_before"] for row in rows):
        return None
    ignored = list(summary.get("ignored", []))
    prunable = [row for row in rows if row["layer"] not in ignored]
    if not prunable:
        return (f"every layer with channels is kept whole: {_names(ignored)} "
                f"{'is' if len(ignored) == 1 else 'are'} kept whole (the --prune-ignore list, and the layers writing the "
                "model's output)")
    reasons = []
    rounded = list(rounded_back(cfg, prunable).values()) if cfg.round_to > 1 else []
    if rounded:
        reasons.append(f"round_to {cfg.round_to} keeps a multiple of {cfg.round_to} channels per layer, and "
                       f"{', '.join(rounded)} round back to the full layer")
    unsupported = [u["layer"] for u in summary.get("unsupported", [])]
    if unsupported:
        reasons.append(f"channel groups coupled to the unsupported layer(s) {_names(unsupported)} are kept whole")
    if not reasons:
        reasons.append(f"the channel groups of {_names([r['layer'] for r in prunable])} are coupled to layers kept "
                       f"whole ({_names(ignored)}) or too small to lose a channel")
    return "no channel was removed from any layer: " + "; ".join(reasons)


def _sparsity_reason(summary: dict[str, Any]) -> str | None:
    layers = summary.get("sparsity", [])
    zeros_after = sum(s["zeros"] for s in layers)
    if zeros_after > summary.get("zeros_before", 0):
        return None
    if not layers:
        return f"no layer's weights were considered: {_names(list(summary.get('ignored', [])))} are ignored"
    skipped = summary.get("skipped_2_4", [])
    if skipped and len(skipped) == len(layers):
        return "every layer was skipped by 2:4 (" + "; ".join(skipped) + ")"
    return (f"no weight was zeroed beyond the {zeros_after:,} already zero in "
            f"{_names([s['name'] for s in layers])}")


def nothing_removed(cfg: PruneConfig, summary: dict[str, Any]) -> str | None:
    """Why pruning left the model as it was (prune_module's summary), or None when it removed something."""
    if cfg.mode is PruneMode.STRUCTURED:
        return _structured_reason(cfg, summary)
    return _sparsity_reason(summary)


def _asked(cfg: PruneConfig) -> str:
    if cfg.mode is PruneMode.SEMI_2_4:
        return "--prune-mode 2:4"
    if cfg.target is not None:
        key, share = cfg.target
        return f"--target-{key} {share:g}"
    return f"--prune {cfg.ratio:g}" + ("" if cfg.mode is PruneMode.STRUCTURED else f" ({cfg.mode.value})")


def nothing_pruned_error(cfg: PruneConfig, why: str) -> NothingPrunedError:
    if cfg.mode is PruneMode.STRUCTURED:
        fix = ("Prune fewer layers whole (--prune-ignore NAME for each layer to keep, the rest are pruned), lower "
               "--prune-round-to, or drop --prune.")
    else:
        fix = "Ignore fewer layers (--prune-ignore), choose another --prune-mode, or drop --prune."
    return NothingPrunedError(
        f"{_asked(cfg)} removed nothing from the model: {why}. Its pruned-* variants would be the original again "
        "(any latency difference between them noise), so none is built.", fix)
