"""The pruning part of the report: what was removed, and what it bought on the target runtime."""

from __future__ import annotations

from typing import Any

from edgekit.report.speed import SpeedComparison, compare_latency, first_latency


PRUNED_PREFIX = "pruned-"  # pipeline/plan.py and sweep/config.py name pruned variants so; the twin is the precision


def twins(variants: list[Any]) -> dict[str, tuple[Any, Any, SpeedComparison]]:
    """Each timed pruned variant -> (itself, its timed unpruned twin, the pruned one's speed against the twin at
    the first batch size)."""
    by_name = {v.name: v for v in variants}
    found = {}
    for v in variants:
        # compress: pruned-int8 -> int8; a sweep trial: pruned-0.5-kd-int8 -> int8 (TrialSpec.name)
        names = (v.precision, v.name.removeprefix(PRUNED_PREFIX)) if v.name.startswith(PRUNED_PREFIX) else ()
        twin = next((by_name[n] for n in names if n in by_name and not n.startswith(PRUNED_PREFIX)), None)
        mine, theirs = first_latency(v), twin and first_latency(twin)
        if mine and theirs and mine["p50"] and theirs["p50"]:
            found[v.name] = (v, twin, compare_latency(mine, theirs))
    return found


def not_faster_than_twin(variants: list[Any]) -> dict[str, str]:
    """Pruned variants whose accepted unpruned twin is as fast or faster (no measurable speed-up): a latency
    recommendation never prefers them, whatever their size. Name -> the comparison, for the reason."""
    return {name: f"{name} vs {twin.name}: {cmp.text()}" for name, (_, twin, cmp) in twins(variants).items()
            if twin.status == "accepted" and not cmp.faster}


def _why_not_faster(summary: dict[str, Any], twin: Any, lanes: int) -> list[str]:
    """Why removing MACs did not buy latency: time not proportional to MACs (per-operator overhead on a small
    model), and channel counts that leave vector lanes empty."""
    why = []
    macs_before, macs_after = summary["totals_before"]["macs"], summary["totals_after"]["macs"]
    p50 = first_latency(twin)["p50"]
    if macs_before:
        rate = macs_before / (p50 * 1e-3) / 1e9
        why.append(f"time is not proportional to MACs here: MACs fell to {macs_after / macs_before:.2f}x of the "
                   f"original, yet the unpruned model does {macs_before / 1e6:.1f} M MACs in {p50:.3f} ms "
                   f"({rate:.1f} GMAC/s), so per-operator overhead (dispatch, memory traffic, layout reorders) rather "
                   "than arithmetic sets its latency, and a thinner network runs the same number of operators")
    odd = [r["layer"] for r in summary.get("layers", []) if r["channels_after"]
           and r["channels_after"][1] != r["channels_before"][1] and r["channels_after"][1] % lanes]
    if odd:
        why.append(f"{len(odd)} pruned layer(s) have channel counts that are not multiples of {lanes} (this target's "
                   f"vector width), which leaves lanes empty: {', '.join(odd[:5])}{' ...' if len(odd) > 5 else ''} "
                   f"(--prune-round-to {lanes})")
    return why


def pruning_report(summary: dict[str, Any], variants: list[Any], lanes: int = 8) -> dict[str, Any]:
    """The prune stage's summary plus measured speed-ups of each pruned variant over its unpruned twin: a ratio
    with its p50/p90 spread, flagged ``measurable`` only outside the timing noise (report/speed.py); a pruned
    variant that is not measurably faster says why (``lanes``: the target's channel multiple, hardware.py)."""
    speedups = {}
    for name, (v, twin, comparison) in twins(variants).items():
        speedups[name] = {"vs": twin.name, "latency_ratio": first_latency(v)["p50"] / first_latency(twin)["p50"],
                          "batch": next(iter(v.latency_ms)), **comparison.to_dict()}
        if not comparison.faster:
            speedups[name]["why_not_faster"] = _why_not_faster(summary, twin, lanes)
    return {**summary, "measured": speedups}


def slower_warnings(pruning: dict[str, Any]) -> list[str]:
    """A report warning per pruned variant that pruning did not make faster, with why."""
    return [f"Pruning did not make {name} faster than {m['vs']} at {m['batch']}: {m['text']}; so it is never "
            f"preferred for latency. Why: {'; '.join(m['why_not_faster'])}."
            for name, m in pruning.get("measured", {}).items() if "why_not_faster" in m]


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
        lines += [f"  - why not faster: {why}" for why in m.get("why_not_faster", [])]
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
