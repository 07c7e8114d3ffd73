"""What a latency comparison may claim: a ratio with its spread, or "no measurable difference".

Two runs of the same model on a shared CPU differ by up to ~15% at the median (FIELD-NOTES), and each run's
own p50 -> p90 spread says how much its calls scatter. A speed-up is claimed only when the medians differ by
more than that noise band AND the faster side's p90 is below the slower side's p50 (their bulk does not
overlap); anything less is reported as no measurable difference, never as a ratio. `recommend()` uses the same
rule to decide which variants are tied.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edgekit.deploy.runner_common import CONTENTION_SHARE, UNSTABLE_TAIL_RATIO

# FIELD-NOTES: on shared CPUs latency differences under ~15% are noise, not a ranking.
NOISE_MARGIN = 1.15
# what compress's recommendation optimises (--objective); latency: p50 at the first batch size, throughput: the best
# items/s over the batch sizes, size: artifact bytes, energy: joules per inference (needs a meter)
OBJECTIVES = ("latency", "throughput", "size", "energy")
DEFAULT_OBJECTIVE = "latency"


@dataclass(frozen=True)
class SpeedComparison:
    """``candidate`` against ``baseline`` at one batch size; ``speedup`` > 1 means the candidate is faster."""

    speedup: float  # baseline p50 / candidate p50
    low: float  # baseline p50 / candidate p90: the candidate at its slow tail
    high: float  # baseline p90 / candidate p50: the baseline at its slow tail
    measurable: bool

    @property
    def faster(self) -> bool:
        return self.measurable and self.speedup > 1.0

    def text(self) -> str:
        """'1.44x faster (p50; 1.21-1.70x across the p50/p90 spread)', or 'no measurable difference (...)'."""
        if not self.measurable:
            return (f"no measurable difference (p50 ratio {self.speedup:.2f}x is within the {NOISE_MARGIN - 1:.0%} "
                    f"noise band or the p50/p90 spread {self.low:.2f}-{self.high:.2f}x)")
        if self.speedup > 1.0:
            return f"{self.speedup:.2f}x faster (p50; {self.low:.2f}-{self.high:.2f}x across the p50/p90 spread)"
        return (f"{1 / self.speedup:.2f}x slower (p50; {1 / self.high:.2f}-{1 / self.low:.2f}x across the p50/p90 "
                "spread)")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text()}


def compare_latency(candidate: dict[str, float], baseline: dict[str, float]) -> SpeedComparison:
    """Latency stats of one batch size each (``p50``, and ``p90`` when the runner gave it)."""
    c50, b50 = candidate["p50"], baseline["p50"]
    c90, b90 = max(candidate.get("p90", c50), c50), max(baseline.get("p90", b50), b50)
    speedup, low, high = b50 / c50, b50 / c90, b90 / c50
    measurable = (speedup > NOISE_MARGIN and low > 1.0) or (speedup < 1.0 / NOISE_MARGIN and high < 1.0)
    return SpeedComparison(speedup, low, high, measurable)


def first_latency(variant: Any) -> dict[str, float] | None:
    """A variant's latency stats at its first batch size (the one every comparison ranks), or None if untimed."""
    return next(iter(variant.latency_ms.values()), None)


def latency_ties(variants: list[Any]) -> tuple[Any, list[Any]]:
    """The fastest of timed ``variants`` (p50 at the first batch size) and those timing noise cannot tell from it
    (compare_latency: the 15% band or overlapping p50/p90 spreads), itself included. The one tie rule of
    compress's recommend() and the sweep's choose()."""
    fastest = min(variants, key=lambda v: first_latency(v)["p50"])
    return fastest, [v for v in variants if not compare_latency(first_latency(fastest), first_latency(v)).faster]


UNSTABLE_MARK = "!"  # after the p99 in the report tables: that timing is unstable (latency_ms[batch]["unstable"])


def unstable_warnings(variants: list[Any]) -> list[str]:
    """One report warning per variant and batch size whose timing the runner flagged (deploy/runner_common.py:
    instability(): p99 over UNSTABLE_TAIL_RATIO x p50, or other processes busy on the CPUs)."""
    flagged = [f"{v.name} at {batch}: {stats['unstable']}" for v in variants
               for batch, stats in v.latency_ms.items() if stats.get("unstable")]
    if not flagged:
        return []
    return [f"Unstable timing ({UNSTABLE_MARK} in the table: a p99 over {UNSTABLE_TAIL_RATIO:g}x the p50, or other processes "
            f"busy on over {CONTENTION_SHARE:.0%} of the CPUs while timed): {'; '.join(flagged)}. The p50s and items/s "
            "(batch / p50) still compare; the mean and the tail do not. Re-run on a quiet machine for a clean spread."]
