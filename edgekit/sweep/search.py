"""Latency-targeted pruning: bisection on the pruning ratio over *measured* latency.

Each step prunes at a ratio, builds the artifact for the profile's runtime (through the stage
cache), and times it right after the unpruned artifact of the same precision, each in a fresh
process; the step's latency ratio is taken within that pair, so slow drifts of a shared machine
cancel (FIELD-NOTES: medians move +-40% between rounds, ratios within a round far less).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# ratio -> (candidate p50, baseline p50), both measured in this step
Measure = Callable[[float], tuple[float, float]]


@dataclass
class SearchResult:
    target: float
    ratio: float | None  # the smallest ratio found that meets the target; None if even max_prune misses it
    met: bool
    trace: list[dict[str, Any]] = field(default_factory=list)
    closest: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "ratio": self.ratio, "met": self.met, "trace": self.trace,
                "closest": self.closest}


def bisect_ratio(measure: Measure, target: float, *, max_prune: float, steps: int) -> SearchResult:
    """Smallest pruning ratio in (0, max_prune] whose latency ratio is <= target, in ``steps`` measurements
    after the first one at max_prune (which tells whether the target is reachable at all)."""
    trace: list[dict[str, Any]] = []

    def probe(ratio: float) -> float:
        cand, base = measure(ratio)
        rel = cand / base
        trace.append({"step": len(trace) + 1, "ratio": round(ratio, 4), "p50_ms": cand, "baseline_p50_ms": base,
                      "latency_ratio": rel, "meets": rel <= target})
        return rel

    if probe(max_prune) > target:
        best = min(trace, key=lambda t: t["latency_ratio"])
        return SearchResult(target, None, False, trace, closest=best)
    lo, hi = 0.0, max_prune
    for _ in range(steps):
        mid = round((lo + hi) / 2, 3)
        if mid in (lo, hi):
            break
        if probe(mid) <= target:
            hi = mid
        else:
            lo = mid
    return SearchResult(target, hi, True, trace)
