"""From measured windows to the report's `energy` field: per-trial figures, medians, warnings.

Energy per inference of trial k = average power over the meter's window x the runner's own
active seconds / the inferences it ran. The meter window brackets the runner's window (it starts
before the runner is told to go and stops after it reports the end), so the few milliseconds
of pipe latency dilute the average power by ~0.01% of a 10 s window; using the runner's clock
for the time keeps the figure independent of how each meter places its samples. The idle
baseline of trial k is the mean of the idle windows before and after it, which also cancels a
linear idle drift.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from edgekit.energy.base import EnergyResult, MeterInfo

SPREAD_WARNING = 0.10  # trials or idle windows further apart than this are flagged


def unavailable(reason: str, hint: str = "", meter: str | None = None,
                tried: dict[str, str] | None = None) -> dict[str, Any]:
    report = {"status": "unavailable", "reason": reason, "hint": hint, "meter": meter, "joules_per_inference": None}
    return {**report, "tried": tried} if tried else report


def estimate(tdp_watts: float, latency_ms: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """A TDP x time figure, only when asked for, and never in `joules_per_inference`."""
    if not latency_ms:
        return unavailable("estimate: no latency was measured to multiply the TDP with", meter="estimate")
    key, stats = next(iter(latency_ms.items()))
    batch = int(key.split("_")[1])
    value = tdp_watts * stats["mean"] / 1e3 / batch
    return {"status": "estimate", "meter": "estimate", "joules_per_inference": None,
            "estimated_joules_per_inference_from_tdp": value, "tdp_watts": tdp_watts, "batch_size": batch,
            "reason": f"NOT MEASURED: TDP {tdp_watts:g} W x mean latency {stats['mean']:.4g} ms at batch {batch}; "
                      "assumes the device draws exactly its TDP while inferring (real draw is usually lower, and "
                      "idle power is not separated)"}


def _idle_w(idle: Sequence[EnergyResult], trial: int) -> float | None:
    around = [r.average_power_w for r in idle[trial:trial + 2]]
    return sum(around) / len(around) if around else None


def trial_figures(result: EnergyResult, window: Mapping[str, Any], idle_w: float | None) -> dict[str, Any]:
    seconds, count = float(window["seconds"]), int(window["inferences"])
    power = result.average_power_w
    scale = seconds / count / result.duration_s if result.duration_s > 0 else 0.0
    return {"trial": int(window["trial"]), "inferences": count, "seconds": seconds, "average_power_w": power,
            "idle_power_w": idle_w, "joules_per_inference": power * seconds / count,
            "joules_per_inference_idle_subtracted": None if idle_w is None else (power - idle_w) * seconds / count,
            "joules_per_inference_by_domain": {d: j * scale for d, j in result.joules.items()},
            "meter_window_s": result.duration_s, "samples": result.samples}


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _warnings(trials: list[dict[str, Any]], idle: Sequence[EnergyResult], active: Sequence[EnergyResult],
              info: MeterInfo) -> list[str]:
    notes = list(dict.fromkeys(w for r in (*idle, *active) for w in r.warnings))
    totals = [t["joules_per_inference"] for t in trials]
    middle = statistics.median(totals)
    if len(totals) > 1 and middle > 0 and (max(totals) - min(totals)) / middle > SPREAD_WARNING:
        notes.append(f"trials differ by {(max(totals) - min(totals)) / middle:.0%} (DVFS, thermal throttling or "
                     "background load): compare medians with care")
    if len(idle) > 1 and idle[0].average_power_w > 0:
        drift = (idle[-1].average_power_w - idle[0].average_power_w) / idle[0].average_power_w
        if abs(drift) > SPREAD_WARNING:
            notes.append(f"idle power drifted {drift:+.0%} during the measurement ({idle[0].average_power_w:.2f} W -> "
                         f"{idle[-1].average_power_w:.2f} W): heating or background activity")
    if any(t["idle_power_w"] is not None and t["average_power_w"] <= t["idle_power_w"] for t in trials):
        notes.append("active power was not above the idle baseline in some trial: the model's own energy is below "
                     "the meter's noise; trust the total, not the idle-subtracted figure")
    if info.details.get("jetson_clocks", {}).get("state") == "off":
        notes.append("jetson_clocks is off: clocks follow the load (DVFS), so figures vary between runs; "
                     "`sudo jetson_clocks` pins them")
    return notes


def summarize(info: MeterInfo, idle: Sequence[EnergyResult], active: Sequence[tuple[EnergyResult, Mapping[str, Any]]],
              idle_seconds: float) -> dict[str, Any]:
    trials = [trial_figures(result, window, _idle_w(idle, k)) for k, (result, window) in enumerate(active)]
    batch = int(active[0][1]["batch_size"])
    domains = {d: _median([t["joules_per_inference_by_domain"][d] for t in trials]) for d in info.domains}
    window = statistics.median(t["seconds"] for t in trials)
    baseline = f", between idle windows of {idle_seconds:g} s" if idle else " (no idle baseline: energy_idle_seconds = 0)"
    return {
        "status": "measured",
        "reason": f"median of {len(trials)} trial(s) of {window:.3g} s back-to-back inference at batch {batch}"
                  f"{baseline}; {info.name}: {info.total}",
        "joules_per_inference": _median([t["joules_per_inference"] for t in trials]),
        "joules_per_inference_idle_subtracted": _median([t["joules_per_inference_idle_subtracted"] for t in trials]),
        "average_power_w": _median([t["average_power_w"] for t in trials]),
        "idle_power_w": statistics.mean(r.average_power_w for r in idle) if idle else None,
        "joules_per_inference_by_domain": domains,
        "batch_size": batch,
        "inferences": sum(t["inferences"] for t in trials),
        **info.to_dict(),
        "trials": trials,
        "warnings": _warnings(trials, idle, [r for r, _ in active], info),
    }
