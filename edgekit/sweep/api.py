"""``edgekit.sweep()``: every configuration through the pipeline, measured, the best one within budget chosen."""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgekit.data import ImagePreprocessing
from edgekit.distill.config import DistillConfig
from edgekit.errors import DataError, PipelineError
from edgekit.progress import NullProgress, Progress
from edgekit.pruning.config import PruneConfig
from edgekit.report.schema import Report
from edgekit.sweep.config import ExecutorKind, LatencyTarget, Objective, SweepConfig, TrialSpec

log = logging.getLogger(__name__)



def _enum(cls: Any, value: Any, what: str) -> Any:
    try:
        return cls(value)
    except ValueError as exc:
        raise PipelineError(f"Unknown {what} '{value}'.", f"Choose from {', '.join(m.value for m in cls)}.") from exc


def sweep(model: Any, profile: Any = None, *, out_dir: str | Path, eval_data: Any, calib_data: Any = None,
          prune_ratios: Sequence[float] = (0.3, 0.5, 0.7), precisions: Sequence[str] | None = None,
          distill: DistillConfig | None = None, train_data: Any = None, prune: PruneConfig | None = None,
          objective: str = "latency", max_accuracy_drop: float | None = None, target_latency: float | None = None,
          search_steps: int = 5, max_prune: float = 0.75, executor: str = "local", workers: int = 2,
          cache_dir: str | Path | None = None, resume: bool = False, weights: str | Path | None = None,
          trust_pickle: bool = False, calib_random: bool = False, input_shape: Sequence[int] | None = None,
          batch_sizes: Sequence[int] | None = None, image_prep: ImagePreprocessing | None = None, seed: int = 0,
          force: bool = False, energy: str | None = None, energy_seconds: float | None = None,
          tdp_watts: float | None = None, progress: Progress | None = None) -> Report:
    """Build the original and each pruning ratio (distilled with ``distill``) at each precision, verify each
    artifact on labelled ``eval_data``, time it on the profile's runtime, and pick the best on ``objective``
    (latency | energy | size) among those within ``max_accuracy_drop`` points. The chosen one is the bundle's
    recommended artifact (deploy/); ``report.sweep`` holds the trials, the Pareto front and the cache counts.

    Stage outputs are cached by content (``cache_dir``, default ``.OUT.sweep-cache`` beside ``out_dir``);
    ``resume`` also reuses measured trials from an interrupted run. ``target_latency`` (e.g. 0.5) first
    bisects the pruning ratio until measured latency <= that share of the original's. ``executor="ray"``
    runs builds as Ray tasks (``workers`` local CPUs, or the cluster at RAY_ADDRESS) and measurements one at a
    time on a whole node. No variant within budget: ``report.recommended`` is None and the reason names the
    closest variant (the CLI exits 9).
    """
    from edgekit.energy.protocol import with_energy
    from edgekit.pipeline.inputs import resolve_profile
    from edgekit.pipeline.bundle import check_output

    search = None if target_latency is None else LatencyTarget(float(target_latency), search_steps, max_prune)
    cfg = SweepConfig(prune_ratios=tuple(float(r) for r in prune_ratios),
                      precisions=tuple(precisions) if precisions else ("fp32", "int8"),
                      distill=distill is not None, objective=_enum(Objective, objective, "objective"),
                      executor=_enum(ExecutorKind, executor, "executor"), workers=int(workers),
                      cache_dir=Path(cache_dir) if cache_dir else None, resume=resume, latency_target=search)
    if search is not None:
        search = dataclasses.replace(search, precision=cfg.precisions[0])
    prof = resolve_profile(profile, max_accuracy_drop=max_accuracy_drop, batch_sizes=batch_sizes)
    prof = with_energy(prof, meter=energy, seconds=energy_seconds, tdp_watts=tdp_watts)
    prof = prof.replace_section("compile", precisions=list(cfg.precisions))
    if cfg.objective is Objective.ENERGY and prof.benchmark.energy_meter in ("none", "estimate"):
        raise PipelineError("--objective energy needs measured energy, and the profile measures none.",
                            "Pass --energy auto (or a meter: rapl, jetson, tegrastats, nvml).")
    out = Path(out_dir)
    check_output(out, force)
    if cfg.executor is ExecutorKind.RAY:
        from edgekit.sweep.executor import RayExecutor

        RayExecutor(cfg.workers)._ray()  # a missing ray is reported before any work
    ctx = _context(model, prof, cfg, out, eval_data=eval_data, calib_data=calib_data, train_data=train_data,
                   prune=prune, distill=distill, weights=weights, trust_pickle=trust_pickle, calib_random=calib_random,
                   input_shape=input_shape, image_prep=image_prep, seed=seed)
    return _run(ctx, cfg, search, out, force, progress or NullProgress())


def _context(model: Any, prof: Any, cfg: SweepConfig, out: Path, *, eval_data: Any, calib_data: Any, train_data: Any,
             prune: PruneConfig | None, distill: DistillConfig | None, weights: Any, trust_pickle: bool,
             calib_random: bool, input_shape: Any, image_prep: Any, seed: int) -> Any:
    from edgekit.api import prune_config
    from edgekit.pipeline import inputs
    from edgekit.backends import get_backend
    from edgekit.pipeline.verify import compute_reference
    from edgekit.models import load_model
    from edgekit.pipeline.execute import library_versions
    from edgekit.sweep.trials import SweepContext

    if eval_data is None:
        raise DataError("A sweep needs labelled evaluation data: the accuracy budget decides which variants count.",
                        "Pass --eval-data (a .npz with x and y, or an image folder).")
    backend = get_backend(prof.target.backend)
    if not backend.measures_on_host:
        raise PipelineError(f"A sweep picks variants by latency measured on the target runtime, and this machine "
                            f"cannot run the {prof.name} profile's engines ({getattr(backend, 'host', '')}).",
                            "Run the sweep on the device (Jetson/GPU with TensorRT), or use edgekit compress here "
                            "and edgekit build-engine there.")
    loaded = load_model(model, weights=weights, trust_pickle=trust_pickle)
    calib, evald = inputs.load_datasets(prof, calib_data, eval_data, image_prep, seed)
    if evald is None or evald.y is None:
        raise DataError(f"The evaluation data {eval_data} has no labels (y): the accuracy budget cannot be checked.",
                        "Save it with np.savez(path, x=inputs, y=labels).")
    if any(d is not None and d.multi_input for d in (calib, evald)):
        raise PipelineError("edgekit sweep takes single-input models: its pruning and distillation trials train "
                            "and re-export a torch model with one input.",
                            "For a multi-input ONNX model, run edgekit compress (FP32 and INT8 on ONNX Runtime or "
                            "OpenVINO).")
    train = inputs.training_data(train_data, distill, image_prep)
    shape = inputs.input_shape(input_shape, loaded, calib, evald, train)
    if shape is None:
        raise DataError("The sweep needs the model's input shape.", "Pass --input-shape, e.g. 1,3,224,224.")
    calib = inputs.require_calibration(prof, calib, calib_random, shape, seed)
    wants_pruning = any(r > 0 for r in cfg.prune_ratios) or cfg.latency_target is not None
    if wants_pruning and not loaded.is_torch or wants_pruning and loaded.kind.value in ("exported_program", "torchscript"):
        raise PipelineError(f"Pruning needs the model's layers, and {loaded.source} is a "
                            f"{loaded.kind.value.replace('_', ' ')}.",
                            "Pass 'package.module:factory' with --weights (or an nn.Module), or sweep with --prune 0.")
    base = (prune or prune_config(prof, ratio=0.5)) if wants_pruning else None
    if distill is not None:  # checkpoints live in the cache entry being built; its key ignores run locations
        distill = dataclasses.replace(distill, checkpoint_dir=None, resume=False)
    reference = compute_reference(loaded, evald, backend, prof)
    cache_root = cfg.cache_dir or out.resolve().parent / f".{out.name}.sweep-cache"
    return SweepContext(loaded, prof, backend.name, calib, evald, train, reference, tuple(shape), seed,
                        library_versions(backend.versions()), Path(cache_root).resolve(), base, distill)


def _latency_search(ctx: Any, search: LatencyTarget, progress: Progress) -> Any:
    from edgekit.sweep.pareto import p50
    from edgekit.sweep.search import bisect_ratio
    from edgekit.sweep.trials import build_trial, measure_trial

    baseline = build_trial(ctx, TrialSpec(0.0, False, search.precision))
    progress.start("search", f"latency search (<= {search.ratio:.0%} of the original)", search.steps + 1)

    def measure(ratio: float) -> tuple[float, float]:
        cand = build_trial(ctx, TrialSpec(ratio, False, search.precision))
        base_p50 = p50(measure_trial(ctx, baseline))  # the pair is timed back to back: a within-round ratio
        cand_p50 = p50(measure_trial(ctx, cand))
        progress.update("search", len(trace) + 1, search.steps + 1)
        trace.append(ratio)
        return cand_p50, base_p50

    trace: list[float] = []
    try:
        result = bisect_ratio(measure, search.ratio, max_prune=search.max_prune, steps=search.steps)
    finally:
        progress.finish("search")
    return result


def _run(ctx: Any, cfg: SweepConfig, search: LatencyTarget | None, out: Path, force: bool, progress: Progress) -> Report:
    from edgekit.sweep.executor import make_executor, split_journal

    started = time.perf_counter()
    search_result = None
    if search is not None:
        search_result = _latency_search(ctx, search, progress)
        found = search_result.ratio if search_result.met else search.max_prune
        cfg = dataclasses.replace(cfg, extra_ratios=(found,))
    specs = cfg.trials()
    plan = split_journal(ctx, specs, cfg.resume)
    runner = make_executor(cfg.executor.value, cfg.workers)
    progress.start("sweep", f"sweep: {len(specs)} trials ({len(plan.done)} from the journal)", len(specs))
    progress.update("sweep", len(plan.done), len(specs))
    count = [len(plan.done)]

    def on_done(outcome: Any) -> None:
        count[0] += 1
        log.info("trial %s: %s", outcome.spec.name, outcome.result.status)
        progress.update("sweep", count[0], len(specs), description=f"sweep: {outcome.spec.name} done")

    try:
        ran = runner.run(ctx, plan.todo, progress, on_done)
    finally:
        progress.finish("sweep")
    outcomes = {**plan.done, **{o.spec: o for o in ran}}
    ordered = [outcomes[s] for s in specs]
    from edgekit.sweep.bundle import write_sweep_bundle

    return write_sweep_bundle(ctx, cfg, ordered, runner, search_result, out, force, time.perf_counter() - started,
                              command=list(sys.argv))

