"""Interleaved rounds, each measurement in a fresh subprocess (see benchmarks/README.md)."""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

# the module run fresh per measurement (python -m, with the repo root on PYTHONPATH)
WORKER = "benchmarks.shared.worker"
REPO_ROOT = Path(__file__).resolve().parents[2]
THREADS = 2
_HZ = os.sysconf("SC_CLK_TCK")


class Timed(Protocol):
    """One artifact to time (``prepare.Variant`` is one): ``kind`` picks the worker's runner."""

    key: str
    kind: str  # "torch" or "ort"
    path: Path


class Group(Protocol):
    """Artifacts of one model, timed back to back within a round (``prepare.Prepared`` is one)."""

    model: str
    variants: Sequence[Timed]


@dataclass(frozen=True)
class Settings:
    rounds: int
    iterations: int
    warmup: int
    input_npz: Path
    timeout_s: float = 300.0
    quiet_cpus: float = 0.3  # others' CPU use (in CPUs) below which the box counts as quiet
    quiet_wait_s: float = 15.0  # longest wait for quiet before one measurement
    quiet_budget_s: float = 150.0  # longest total wait in a run, so a busy box still finishes


def _busy_cpu_s() -> float:
    """CPU-seconds spent busy on the whole machine so far (all CPUs, steal included)."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _HZ


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _others_cpus(window_s: float = 0.5) -> float:
    b0 = _busy_cpu_s()
    time.sleep(window_s)
    return (_busy_cpu_s() - b0) / window_s


def wait_for_quiet(threshold: float, max_wait_s: float) -> float:
    """Wait (bounded) until other processes leave the cores alone; return what they used last."""
    deadline = time.monotonic() + max_wait_s
    others = _others_cpus()
    while others > threshold and time.monotonic() < deadline:
        others = _others_cpus()
    return others


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # Belt and braces: the worker pins threads itself, these keep OpenMP/MKL pools in line.
    env.update(OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_worker(model: str, variant: Timed, settings: Settings) -> dict:
    spec = {
        "kind": variant.kind,
        "path": str(variant.path),
        "model": model,
        "input": str(settings.input_npz),
        "iterations": settings.iterations,
        "warmup": settings.warmup,
        "threads": THREADS,
    }
    busy0, child0, t0 = _busy_cpu_s(), _children_cpu_s(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", WORKER, json.dumps(spec)],
        capture_output=True, text=True, timeout=settings.timeout_s, env=_worker_env(), check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"timing worker failed for {model}/{variant.key}:\n{proc.stderr[-3000:]}")
    wall = time.perf_counter() - t0
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # Machine-wide busy time minus the worker's own: what other processes took meanwhile.
    result["others_cpus"] = max(0.0, (_busy_cpu_s() - busy0 - (_children_cpu_s() - child0)) / wall)
    return result


def _rotated(items: Sequence, r: int) -> list:
    # Rotate the start each round so no variant always runs first (cold box) or last.
    k = r % len(items)
    return [*items[k:], *items[:k]]


def time_all(prepared: Sequence[Group], settings: Settings) -> dict[str, dict[str, list[dict]]]:
    """Return ``{model: {variant key: [result of round 0, round 1, ...]}}``.

    Shared by the ort suite (torch eager / edgekit / peer) and the pruning suite (pruned vs unpruned):
    every group's variants run back to back in each round, one fresh process each.
    """
    results: dict[str, dict[str, list[dict]]] = {p.model: {v.key: [] for v in p.variants} for p in prepared}
    budget = settings.quiet_budget_s
    for r in range(settings.rounds):
        for p in prepared:
            for v in _rotated(p.variants, r):
                t0 = time.monotonic()
                before = wait_for_quiet(settings.quiet_cpus, min(settings.quiet_wait_s, budget))
                budget = max(0.0, budget - (time.monotonic() - t0))
                res = run_worker(p.model, v, settings)
                results[p.model][v.key].append(res)
                log.info("round %d %s %-15s %8.2f ms  (others' CPU before %.2f, during %.2f)",
                         r + 1, p.model, v.key, res["median_ms"], before, res["others_cpus"])
    return results
