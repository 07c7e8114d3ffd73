"""The pruning part of the report: what was removed, and what it bought on the target runtime."""

from __future__ import annotations

from typing import Any

from edgekit.report.speed import compare_latency


def _first(variant: Any) -> tuple[str, dict[str, float]] | None:
    """(batch, latency stats) of the first batch size, when timed."""
    return next(iter(variant.latency_ms.items()), None)


def pruning_report(summary: dict[str, Any], variants: list[Any]) -> dict[str, Any]:
    """The prune stage's summary plus measured speed-ups of each pruned variant over its unpruned twin: a ratio
    with its p50/p90 spread, flagged ``measurable`` only outside the timing noise (report/speed.py)."""
    by_name = {v.name: v for v in variants}
    speedups = {}
    for v in variants:
        twin = by_name.get(v.name.removeprefix("pruned-")) if v.name.startswith("pruned-") else None
        mine, theirs = _first(v), twin and _first(twin)
        if mine and theirs and mine[1]["p50"] and theirs[1]["p50"]:
            comparison = compare_latency(mine[1], theirs[1])
            speedups[v.name] = {"vs": twin.name, "latency_ratio": mine[1]["p50"] / theirs[1]["p50"],
                                "batch": mine[0], **comparison.to_dict()}
    return {**summary, "measured": speedups}


def render_pruning_markdown(report: Any) -> list[str]:
    pruning = report.pruning
    b, a = pruning["totals_before"], pruning["totals_after"]
    lines = ["", "## Pruning", "",
             f"Mode **{pruning['mode']}**: parameters {b['params']:,} -> {a['params']:,} "
             f"({pruning['ratios']['params']:.1%}), MACs {b['macs']:,} -> {a['macs']:,} ({pruning['ratios']['macs']:.1%}); "
             f"zipped weights {pruning['zipped_weight_bytes_before']:,} -> {pruning['zipped_weight_bytes_after']:,} bytes."]
    asked = pruning.get("requested")
    if asked:
        lines.append(f"- asked: {asked['asked']}; achieved: {asked['achieved']}")
        lines += [f"- held back: {why}" for why in asked["held_back"]]
    for name, m in pruning.get("measured", {}).items():
        lines.append(f"- measured: **{name}** vs {m['vs']} at {m['batch']}: {m['text']}")
    if pruning.get("note"):
        lines.append(f"- note: {pruning['note']}")
    if pruning.get("capped"):
        lines.append(f"- capped: {pruning['capped']}")
    if pruning.get("ignored"):
        lines.append(f"- kept whole (ignored): {', '.join(pruning['ignored'])}")
    for u in pruning.get("unsupported", []):
        lines.append(f"- unsupported, kept with its coupled channels: {u['layer']} ({u['reason']})")
    if pruning.get("batchnorm_recalibrated"):
        lines.append(f"- BatchNorm statistics re-estimated on the calibration data "
                     f"({pruning['batchnorm_recalibrated']} layers)")
    lines += ["", "| layer | type | channels in/out before | after | params before | after | MACs before | after |",
              "|---|---|---|---|---|---|---|---|"]
    for row in pruning["layers"]:
        after = row["channels_after"] or ["-", "-"]
        lines.append(f"| {row['layer']} | {row['type']} | {row['channels_before'][0]}/{row['channels_before'][1]} | "
                     f"{after[0]}/{after[1]} | {row['params_before']:,} | {row['params_after']:,} | "
                     f"{row['macs_before']:,} | {row['macs_after']:,} |")
    if pruning.get("sparsity"):
        lines += ["", "| layer | weights | zeros | sparsity | 2:4 pattern |", "|---|---|---|---|---|"]
        for s in pruning["sparsity"]:
            pattern = "-" if s["pattern_2_4"] is None else ("yes" if s["pattern_2_4"] else "NO")
            lines.append(f"| {s['name']} | {s['weights']:,} | {s['zeros']:,} | {s['sparsity']:.1%} | {pattern} |")
    return lines
