"""Interleaved rounds that re-run a model's round when other processes took the cores during it.

A variant of ``timing.time_all`` (same fresh processes, rotation, quiet-CPU wait and others'-CPU
accounting; its helpers are reused): the 5% and 10% targets of the OpenVINO suite are tighter than
what a round shared with another session's test run can resolve, so a round in which any measurement
of a model saw more than ``quiet_cpus`` of others' CPU is measured again, while a retry budget lasts.
The discarded attempts are counted and reported; when the budget is spent, the contended round is kept
(and shows up as not quiet in RESULTS.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.shared.timing import Settings, _rotated, run_worker, wait_for_quiet

log = logging.getLogger(__name__)

Measure = Callable[[], dict]  # runs one fresh process, returns a result with "median_ms" and "others_cpus"


@dataclass
class Budgets:
    quiet_cpus: float
    quiet_wait_s: float  # longest wait for quiet before one measurement
    quiet_s: float  # total waiting for quiet left
    retry_s: float  # total time of discarded (re-run) rounds left


def interleaved(groups: dict[str, Sequence[tuple[str, Measure]]], rounds: int,
                budgets: Budgets) -> tuple[dict[str, dict[str, list[dict]]], dict[str, int]]:
    """``({group: {key: [result per round]}}, {group: discarded attempts})``."""
    results = {g: {key: [] for key, _ in items} for g, items in groups.items()}
    discarded = {g: 0 for g in groups}
    for r in range(rounds):
        for g, items in groups.items():
            while True:
                started = time.monotonic()
                attempt = {}
                for key, measure in _rotated(list(items), r):
                    t0 = time.monotonic()
                    before = wait_for_quiet(budgets.quiet_cpus, min(budgets.quiet_wait_s, budgets.quiet_s))
                    budgets.quiet_s = max(0.0, budgets.quiet_s - (time.monotonic() - t0))
                    attempt[key] = res = measure()
                    log.info("round %d %s %-21s %8.2f ms  (others' CPU before %.2f, during %.2f)",
                             r + 1, g, key, res["median_ms"], before, res["others_cpus"])
                spent = time.monotonic() - started
                contended = [k for k, res in attempt.items() if res["others_cpus"] > budgets.quiet_cpus]
                if contended and budgets.retry_s >= spent:
                    budgets.retry_s -= spent
                    discarded[g] += 1
                    log.warning("round %d %s: others used the cores during %s: measuring the round again "
                                "(%.0f s of retry budget left)", r + 1, g, ", ".join(contended), budgets.retry_s)
                    continue
                break
            for key, res in attempt.items():
                results[g][key].append(res)
    return results, discarded


def worker_groups(prepared: Sequence, settings: Settings) -> dict[str, list[tuple[str, Measure]]]:
    """The ``timing.run_worker`` measurements of every variant of every model (``timing.Group`` objects)."""
    def one(model: str, variant) -> Measure:
        return lambda: run_worker(model, variant, settings)

    return {p.model: [(v.key, one(p.model, v)) for v in p.variants] for p in prepared}
