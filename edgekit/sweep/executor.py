"""Runs trials: sequentially in this process (``local``) or as Ray tasks (``ray``).

Both executors call the same two functions (trials.build_trial, trials.measure_trial), skip the
trials the journal already holds (``resume``), and journal each trial as soon as it is measured.

Clean measurements under Ray: builds (export, prune, distill, quantize, verification) run as
1-CPU tasks side by side, but a measurement is a task that asks for *every* CPU of a node, and
only one measurement is in flight at a time. Ray does not place a task on a node until its CPUs
are free, and places nothing else there while it runs, so no build of this sweep and no other
measurement shares cores with the runner being timed. The runner is the bundle's own
deploy/run.py in a fresh process, as in `compress`. Processes outside Ray (other users) are not
controlled: the report says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgekit.errors import BackendUnavailableError, EdgekitError
from edgekit.progress import Progress
from edgekit.report.schema import VariantResult
from edgekit.sweep import trials
from edgekit.sweep.cache import CacheEvent, TrialJournal
from edgekit.sweep.config import TrialSpec

log = logging.getLogger(__name__)


@dataclass
class TrialOutcome:
    spec: TrialSpec
    result: VariantResult
    events: list[CacheEvent]
    from_journal: bool
    build_s: float = 0.0
    key: str = ""

    def to_record(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"spec": self.spec.to_dict(), "result": asdict(self.result), "build_s": round(self.build_s, 3),
                "events": [e.to_dict() for e in self.events], "key": self.key}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TrialOutcome:
        s = record["spec"]
        events = [CacheEvent(e["step"], e["key"], e["hit"], e["wall_s"]) for e in record["events"]]
        return cls(TrialSpec(s["prune"], s["distill"], s["precision"]), VariantResult(**record["result"]), events,
                   True, record["build_s"], record["key"])


@dataclass
class Journaled:
    """Splits the trials into those the journal holds (resume) and those still to run."""

    done: dict[TrialSpec, TrialOutcome] = field(default_factory=dict)
    todo: list[TrialSpec] = field(default_factory=list)


def split_journal(ctx: trials.SweepContext, specs: list[TrialSpec], resume: bool) -> Journaled:
    journal = TrialJournal(ctx.cache_root)
    out = Journaled()
    for spec in specs:
        record = journal.get(trials.journal_key(ctx, trials.leaf_key(ctx, spec))) if resume else None
        if record is not None:
            out.done[spec] = TrialOutcome.from_record(record)
        else:
            out.todo.append(spec)
    return out


def _finish(ctx: trials.SweepContext, built: trials.BuiltTrial, result: VariantResult) -> TrialOutcome:
    outcome = TrialOutcome(built.spec, result, built.events, False, built.build_s, built.key)
    TrialJournal(ctx.cache_root).put(trials.journal_key(ctx, built.key), outcome.to_record())
    return outcome


class LocalExecutor:
    kind = "local"
    measurement = ("sequential: each trial is built, verified and then timed before the next one starts, so "
                   "no other trial of this sweep runs while a runner is timed")

    def run(self, ctx: trials.SweepContext, specs: list[TrialSpec], progress: Progress,
            on_done: Callable[[TrialOutcome], None]) -> list[TrialOutcome]:
        outcomes = []
        for spec in specs:
            built = trials.build_trial(ctx, spec)
            outcome = _finish(ctx, built, trials.measure_trial(ctx, built, progress))
            outcomes.append(outcome)
            on_done(outcome)
        return outcomes


class RayExecutor:
    kind = "ray"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.measure_cpus = 0
        self.measurement = ""

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError as exc:
            raise BackendUnavailableError(f"--executor ray needs Ray: {exc}.",
                                          "pip install 'edgekit[ray]' (or use --executor local).") from exc
        return ray

    def run(self, ctx: trials.SweepContext, specs: list[TrialSpec], progress: Progress,
            on_done: Callable[[TrialOutcome], None]) -> list[TrialOutcome]:
        ray = self._ray()
        started_here = not ray.is_initialized()
        if started_here:  # a local Ray on this machine; with RAY_ADDRESS set, ray.init joins that cluster
            ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        try:
            return self._run(ray, ctx, specs, on_done)
        finally:
            if started_here:
                ray.shutdown()

    def _node_cpus(self, ray: Any) -> int:
        cpus = [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
        return max(cpus) if cpus else 1

    def _run(self, ray: Any, ctx: trials.SweepContext, specs: list[TrialSpec],
             on_done: Callable[[TrialOutcome], None]) -> list[TrialOutcome]:
        self.measure_cpus = self._node_cpus(ray)
        self.measurement = (f"builds ran as 1-CPU Ray tasks in parallel ({self.workers} workers); each measurement "
                            f"was a Ray task holding all {self.measure_cpus} CPUs of its node, one at a time, so no "
                            "build or other measurement of this sweep shared its cores")
        build = ray.remote(num_cpus=1, max_retries=0)(trials.build_trial)
        measure = ray.remote(num_cpus=self.measure_cpus, max_retries=0)(trials.measure_trial)
        ctx_ref = ray.put(ctx)
        pending = {build.remote(ctx_ref, spec): spec for spec in specs}
        finished: dict[TrialSpec, TrialOutcome] = {}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                spec = pending.pop(ready[0])
                built = self._get(ray, ready[0])
                # one measurement at a time; it waits here for the node's CPUs to be free of builds
                result = self._get(ray, measure.remote(ctx_ref, built))
                finished[spec] = _finish(ctx, built, result)
                on_done(finished[spec])
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return [finished[s] for s in specs]

    def _get(self, ray: Any, ref: Any) -> Any:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, (EdgekitError, KeyboardInterrupt)):
                raise cause from exc
            raise


def make_executor(kind: str, workers: int) -> LocalExecutor | RayExecutor:
    return RayExecutor(workers) if kind == "ray" else LocalExecutor()



