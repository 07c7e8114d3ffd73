"""The Pareto front (objective vs accuracy) and the choice of the best variant within the budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekit.pipeline.verify import NOISE_MARGIN
from edgekit.pruning.report import not_faster_than_twin
from edgekit.report.speed import first_latency, latency_ties
from edgekit.report.schema import VariantResult
from edgekit.sweep.config import Objective

UNITS = {Objective.LATENCY: "ms p50", Objective.ENERGY: "J/inference", Objective.SIZE: "MiB"}


def p50(v: VariantResult) -> float | None:
    stats = first_latency(v)
    return stats["p50"] if stats else None


def metric(v: VariantResult, objective: Objective) -> float | None:
    """Lower is better: p50 latency (first batch size), joules per inference, or artifact size."""
    if objective is Objective.LATENCY:
        return p50(v)
    if objective is Objective.ENERGY:
        return (v.energy or {}).get("joules_per_inference")
    return v.size_bytes / 2**20


def pareto_front(variants: list[VariantResult], objective: Objective) -> list[str]:
    """Names of the accepted variants no other accepted variant beats on both the objective and accuracy (ties
    kept). A rejected variant is never on it: the front lists what may be deployed."""
    points = [(v.name, metric(v, objective), v.accuracy) for v in variants if v.status == "accepted"]
    points = [(n, m, a) for n, m, a in points if m is not None and a is not None]
    front = []
    for name, m, a in points:
        dominated = any(m2 <= m and a2 >= a and (m2 < m or a2 > a) for n2, m2, a2 in points if n2 != name)
        if not dominated:
            front.append(name)
    return front


@dataclass(frozen=True)
class Choice:
    chosen: str | None
    reason: str
    closest: dict[str, Any] | None = None  # when nothing meets the budget: the variant nearest to it
    rule: str = "best"  # "best" on the objective, or "noise-band": the smallest of those tied within NOISE_MARGIN


def choose(variants: list[VariantResult], objective: Objective, max_drop: float) -> Choice:
    """Best accepted variant on the objective. Measured objectives (latency, energy) are noisy on shared
    machines: variants noise cannot tell from the best count as tied and the smallest of them wins, the rule
    `compress` uses (latency: report/speed.compare_latency). Size is exact."""
    accepted = [v for v in variants if v.status == "accepted" and metric(v, objective) is not None]
    if not accepted:
        return _none_feasible(variants, objective, max_drop)
    if objective is Objective.LATENCY:  # as compress: a pruned trial no faster than its unpruned twin never wins latency
        slow_pruned = not_faster_than_twin(accepted)
        accepted = [v for v in accepted if v.name not in slow_pruned]
    best = min(metric(v, objective) for v in accepted)
    near = _tied(accepted, objective, best)
    pick = min(near, key=lambda v: (v.size_bytes, metric(v, objective), -(v.accuracy or 0.0), v.name))
    unit = UNITS[objective]
    value = metric(pick, objective)
    if len(near) == 1 or objective is Objective.SIZE:
        return Choice(pick.name, f"best {objective.value} among the {len(accepted)} variant(s) within the "
                                 f"{max_drop:g}-point budget ({value:.4g} {unit}, drop {pick.accuracy_drop:+.2f})")
    return Choice(pick.name, f"smallest of the {len(near)} variants with no measurable difference from the best "
                             f"{objective.value} (within {NOISE_MARGIN - 1:.0%}{' or its p50/p90 spread' if objective is Objective.LATENCY else ''}: "
                             f"{value:.4g} vs {best:.4g} {unit}), drop {pick.accuracy_drop:+.2f} <= {max_drop:g} points",
                  rule="noise-band")


def _tied(accepted: list[VariantResult], objective: Objective, best: float) -> list[VariantResult]:
    """The variants timing noise cannot tell from the best: for latency the compress rule (report/speed.py: the
    15% band and the p50/p90 spread), for energy the 15% band; size is exact."""
    if objective is Objective.SIZE:
        return [v for v in accepted if metric(v, objective) <= best]
    if objective is Objective.LATENCY:
        return latency_ties(accepted)[1]
    return [v for v in accepted if metric(v, objective) <= best * NOISE_MARGIN]


def off_front_reason(variants: list[VariantResult], front: list[str], choice: Choice,
                     objective: Objective) -> str | None:
    """Why the chosen variant is not on the Pareto front; None when it is (or nothing was chosen)."""
    if choice.chosen is None or choice.chosen in front:
        return None
    by_name = {v.name: v for v in variants}
    pick = by_name[choice.chosen]
    value = metric(pick, objective)
    if value is None or pick.accuracy is None:
        return f"{pick.name} is not on the Pareto front: it has no measured {objective.value} or accuracy"
    better = [n for n in front if metric(by_name[n], objective) <= value and by_name[n].accuracy >= pick.accuracy]
    by = f"{', '.join(better) or 'another accepted variant'} is at least as good on {objective.value} and accuracy"
    if choice.rule == "noise-band":
        return (f"{pick.name} is off the Pareto front ({by}): it was chosen by the noise-band tie rule, the smallest "
                f"artifact ({pick.size_bytes / 2**20:.3f} MiB) with no measurable difference from the best "
                f"{objective.value} (within {NOISE_MARGIN - 1:.0%} or the timing spread), which noise cannot tell "
                "apart")
    return f"{pick.name} is off the Pareto front ({by}); it was chosen as {choice.reason}"


def _none_feasible(variants: list[VariantResult], objective: Objective, max_drop: float) -> Choice:
    measured = [v for v in variants if v.accuracy_drop is not None]
    if not measured:
        return Choice(None, "no variant could be verified")
    close = min(measured, key=lambda v: (v.accuracy_drop, metric(v, objective) or float("inf")))
    closest = {"name": close.name, "accuracy_drop": close.accuracy_drop, "over_budget": close.accuracy_drop - max_drop,
               "status": close.status, "reason": close.reason, "metric": metric(close, objective)}
    why = (f"no variant meets the {max_drop:g}-point accuracy budget; the closest is {close.name} "
           f"(drop {close.accuracy_drop:.2f} points, {max(closest['over_budget'], 0):.2f} over the budget"
           f"{'' if close.status == 'accepted' else '; ' + close.reason})")
    return Choice(None, why, closest)
