"""Where a compress run's wall time went: each phase (reference, every plan step, each variant's verification and
benchmark, the bundle), the benchmark's share and the total, for report.json ``timings`` and report.md."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgekit.profile import BenchmarkConfig

VERIFY, BENCHMARK = "verify", "benchmark"


@dataclass
class Stopwatch:
    """Phases in the order they ran; a phase timed twice adds up (verify and benchmark run once per variant)."""

    clock: Callable[[], float] = time.perf_counter
    started: float = field(init=False)
    seconds: dict[str, float] = field(default_factory=dict)
    variants: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @contextmanager
    def phase(self, name: str, variant: str | None = None) -> Iterator[None]:
        start = self.clock()
        try:
            yield
        finally:
            self.add(name, self.clock() - start, variant)

    def add(self, name: str, seconds: float, variant: str | None = None) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        if variant is not None:
            self.variants.setdefault(variant, {})[name] = seconds

    def to_dict(self, stop_rule: dict[str, Any] | None = None) -> dict[str, Any]:
        """report.json ``timings``: seconds per phase, per variant, the total so far, the benchmark's share and the
        rest (building the report; the report files themselves are written after this)."""
        total = self.clock() - self.started
        return {"seconds": {k: round(v, 3) for k, v in self.seconds.items()},
                "variants": {k: {p: round(s, 3) for p, s in v.items()} for k, v in self.variants.items()},
                "other_s": round(max(total - sum(self.seconds.values()), 0.0), 3), "total_s": round(total, 3),
                "benchmark_share": round(self.seconds.get(BENCHMARK, 0.0) / total, 4) if total > 0 else None,
                **({"stop_rule": stop_rule} if stop_rule else {})}


def stop_rule(b: BenchmarkConfig) -> dict[str, Any]:
    """The profile's benchmark stop rule, as the report records it."""
    return {"warmup": b.warmup, "iterations": b.iterations, "min_iterations": b.min_iterations,
            "target_ci": b.target_ci, "min_seconds": b.min_seconds, "max_seconds": b.max_seconds}


def stop_rule_text(rule: dict[str, Any]) -> str:
    """The benchmark's stop rule (profile [benchmark]) in words."""
    cap = f"at most {rule['iterations']} calls" + (f" or {rule['max_seconds']:g} s" if rule.get("max_seconds") else "")
    if not rule.get("target_ci"):
        return f"a fixed {rule['iterations']} timed calls per batch size after {rule['warmup']} warm-up calls"
    return (f"after {rule['warmup']} warm-up calls, timed until the median's 95% confidence interval is within "
            f"+-{rule['target_ci']:.1%} of it (at least {rule['min_iterations']} calls and {rule['min_seconds']:g} s), "
            f"{cap} per batch size")


def render_timings_markdown(report: Any) -> list[str]:
    """report.md "Where the time went": one row per phase with its share, then what each benchmark reached."""
    t = report.timings
    total = t["total_s"]
    rows = [*t["seconds"].items(), ("other (report, bundle bookkeeping)", t["other_s"])]
    lines = ["", "## Where the time went", "", f"Wall time of this run: {total:.1f} s (from the plan to the report; "
             f"loading the model and data before it is not counted). The benchmark took "
             f"{(t.get('benchmark_share') or 0.0):.0%}.", "", "| phase | seconds | share |", "|---|---:|---:|"]
    lines += [f"| {name} | {s:.1f} | {s / total:.0%} |" for name, s in rows if total > 0]
    if t.get("stop_rule"):
        lines += ["", f"Benchmark stop rule: {stop_rule_text(t['stop_rule'])}."]
    for v in report.variants:
        reached = [f"{batch} {s['iterations']} calls, median +-{s['ci95_rel']:.1%} ({s['stop']['reason'].replace('_', ' ')})"
                   for batch, s in v.latency_ms.items() if "stop" in s]
        if reached:
            lines.append(f"- {v.name}: " + "; ".join(reached))
    return lines
