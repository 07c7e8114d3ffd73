"""Requested vs achieved: what a pruning run was asked, what it removed, and what held channels back (each layer
kept whole, the groups coupled to them, rounding, the per-layer cap, unsupported layers), with the option that
releases each. A run that removes far less than asked says so instead of leaving the ratios to be decoded."""

from __future__ import annotations

from typing import Any

from edgekit.pruning.config import PruneConfig, PruneMode
from edgekit.pruning.effect import rounded_back

SHORTFALL = 0.5  # achieved below half of what was asked: a report warning, not only a line in the section


def _asked(cfg: PruneConfig) -> tuple[str, str, float]:
    """(what was asked, the measure it is about, the share to remove)."""
    if cfg.target is not None:
        kind, keep = cfg.target
        return f"--target-{kind} {keep:g} (keep <= {keep:.0%} of the {kind.upper()})", kind, 1.0 - keep
    return f"--prune {cfg.ratio:g} (remove {cfg.ratio:.0%} of each prunable layer's channels)", "channels", cfg.ratio


def _channels_removed(layers: list[dict[str, Any]], ignored: set[str]) -> float:
    """The share of output channels removed from the layers the ratio applied to (not those kept whole)."""
    asked = [r for r in layers if r["layer"] not in ignored]
    before = sum(r["channels_before"][1] for r in asked)
    after = sum((r["channels_after"] or [0, 0])[1] for r in asked)
    return 1.0 - after / before if before else 0.0


def _held_back(cfg: PruneConfig, summary: dict[str, Any]) -> list[str]:
    ignored = set(summary.get("ignored") or [])
    outputs = summary.get("output_layers") or {}
    held = []
    if outputs:
        held.append(f"kept whole because their channels are the model's output: {', '.join(sorted(outputs))} (required: "
                    "pruning them would change the output's shape)")
    chosen = sorted(ignored - set(outputs))
    if chosen:
        source = "--prune-ignore" if cfg.ignored_layers is not None else "default: a transformer's residual stream"
        held.append(f"kept whole ({source}): {', '.join(chosen)} (leave them out of --prune-ignore to prune them)")
    unchanged = [r for r in summary.get("layers", []) if r["layer"] not in ignored
                 and r["channels_after"] and r["channels_after"][1] == r["channels_before"][1]]
    rounded = rounded_back(cfg, unchanged) if cfg.round_to > 1 else {}
    frozen = [r["layer"] for r in unchanged if r["layer"] not in rounded]
    if frozen and ignored:
        held.append(f"unchanged because their channels are coupled to a layer kept whole (residual adds, "
                    f"concatenations, gates): {', '.join(frozen)}")
    if cfg.round_to > 1:
        small = f"; too narrow to lose a whole multiple, so kept: {', '.join(rounded.values())}" if rounded else ""
        held.append(f"channels rounded to multiples of {cfg.round_to} (--prune-round-to 1 releases it){small}")
    if summary.get("capped"):
        held.append(str(summary["capped"]))
    for u in summary.get("unsupported", []):
        held.append(f"{u['layer']}: {u['reason']} (kept with its coupled channels)")
    return held


def requested_vs_achieved(cfg: PruneConfig, summary: dict[str, Any]) -> dict[str, Any]:
    """For report.json's pruning section: ``asked``, ``achieved``, ``held_back`` and ``shortfall`` (None, or the
    sentence a report warning uses)."""
    ratios = summary["ratios"]
    if cfg.mode is not PruneMode.STRUCTURED:
        want = 0.5 if cfg.mode is PruneMode.SEMI_2_4 else (cfg.ratio or 0.0)
        asked = ("--prune-mode 2:4 (2 of every 4 weights zeroed)" if cfg.mode is PruneMode.SEMI_2_4
                 else f"--prune {want:g} ({want:.0%} of the weights zeroed)")
        got = summary.get("overall_sparsity", 0.0)
        achieved = f"{got:.0%} of the weights of the pruned layers are zero"
        short = got < SHORTFALL * want
        return {"asked": asked, "achieved": achieved, "held_back": [],
                "shortfall": f"Asked {asked}, got {achieved}." if short else None}
    asked, measure, want = _asked(cfg)
    removed = {"channels": _channels_removed(summary.get("layers", []), set(summary.get("ignored") or [])),
               "macs": 1.0 - ratios["macs"],
               "params": 1.0 - ratios["params"]}
    achieved = (f"{removed['channels']:.0%} of the prunable layers' channels, {removed['macs']:.0%} of the MACs and "
                f"{removed['params']:.0%} of the parameters removed (MACs {ratios['macs']:.2f}, params "
                f"{ratios['params']:.2f} of the original)")
    held = _held_back(cfg, summary)
    short = removed[measure] < SHORTFALL * want
    sentence = (f"Pruning delivered far less than asked: {asked}; achieved: {achieved}. Held back by: "
                f"{'; '.join(held) or 'the dependency graph (coupled groups)'}.") if short else None
    return {"asked": asked, "achieved": achieved, "removed": removed, "held_back": held, "shortfall": sentence}
