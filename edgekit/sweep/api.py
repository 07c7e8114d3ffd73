"""``edgekit.sweep()``: every configuration through the pipeline, measured, the best one within budget chosen."""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Any

from edgekit.distill.config import DistillConfig
from edgekit.errors import DataError, PipelineError
from edgekit.progress import Progress, progress_for
from edgekit.pruning.config import PruneConfig
from edgekit.pipeline.options import RunOptions
from edgekit.report.schema import Report
from edgekit.sweep.config import BASE_PRUNE_RATIO, ExecutorKind, LatencyTarget, SweepConfig, TrialSpec

log = logging.getLogger(__name__)


def sweep(model: Any, profile: Any = None, *, out_dir: str | Path, eval_data: Any, calib_data: Any = None,
          train_data: Any = None, val_data: Any = None, prune: PruneConfig | None = None,
          distill: DistillConfig | None = None, config: SweepConfig | None = None, options: RunOptions | None = None,
          progress: Progress | bool | None = None) -> Report:
    """Build the original and each pruning ratio (distilled with ``distill``) at each precision, verify each
    artifact on labelled ``eval_data``, time it on the profile's runtime, and pick the best on the objective
    (latency | energy | size) among those within ``options.max_accuracy_drop`` points. The chosen one is the
    bundle's recommended artifact (deploy/); ``report.sweep`` holds the trials, the Pareto front of the accepted
    variants and the cache counts. Distillation keeps the epoch best on ``val_data`` (default: a held-out share of
    ``train_data``), never on ``eval_data``.

    ``config`` (a SweepConfig): the ratios, precisions, objective, executor, cache and latency search; e.g.
    ``SweepConfig(prune_ratios=(0.3, 0.5), latency_target=LatencyTarget(0.5))`` first bisects the pruning ratio
    until measured latency <= 50% of the original's. ``prune``: the base PruneConfig each ratio is applied to
    (default: the profile's). ``options`` (a RunOptions): weights, seed, --force and the profile overrides.

    Stage outputs are cached by content (``config.cache_dir``, default ``.OUT.sweep-cache`` beside ``out_dir``);
    ``config.resume`` also reuses measured trials from an interrupted run. ``executor="ray"`` runs builds as Ray
    tasks (``workers`` local CPUs, or the cluster at RAY_ADDRESS) and measurements one at a time on a whole node.
    No variant within budget: ``report.recommended`` is None and the reason names the closest variant (the CLI
    exits 9).
    """
    from edgekit.pipeline.bundle import check_output

    opts = RunOptions.of(options)
    cfg = dataclasses.replace(config or SweepConfig(), distill=distill is not None)
    search = cfg.latency_target
    if search is not None:
        search = dataclasses.replace(search, precision=cfg.precisions[0])
    prof = opts.profile(profile).replace_section("compile", precisions=list(cfg.precisions))
    from edgekit.api import check_objective

    check_objective(cfg.objective.value, prof)  # energy needs a meter: the same check and words as compress
    out = Path(out_dir)
    check_output(out, opts.force)
    if cfg.executor is ExecutorKind.RAY:
        from edgekit.sweep.executor import RayExecutor

        RayExecutor(cfg.workers)._ray()  # a missing ray is reported before any work
    with progress_for(progress) as bar:
        bar.start("inputs", "loading the model and data; the original's reference outputs")
        ctx = _context(model, prof, cfg, out, opts, eval_data=eval_data, calib_data=calib_data,
                       train_data=train_data, val_data=val_data, prune=prune, distill=distill)
        bar.finish("inputs")
        return _run(ctx, cfg, search, out, opts.force, bar)


def _context(model: Any, prof: Any, cfg: SweepConfig, out: Path, opts: RunOptions, *, eval_data: Any,
             calib_data: Any, train_data: Any, val_data: Any, prune: PruneConfig | None,
             distill: DistillConfig | None) -> Any:
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
    loaded = load_model(model, weights=opts.weights, trust_pickle=opts.trust_pickle,
                        random_weights=opts.random_weights, output=opts.output, task=opts.task)
    prep = inputs.image_prep_for(loaded, opts.image_prep)
    calib, evald = inputs.load_datasets(prof, calib_data, eval_data, prep, opts.seed)
    if evald is None or evald.y is None:
        raise DataError(f"The evaluation data {eval_data} has no labels (y): the accuracy budget cannot be checked.",
                        "Save it with np.savez(path, x=inputs, y=labels).")
    if any(d is not None and d.multi_input for d in (calib, evald)):
        raise PipelineError("edgekit sweep takes single-input models: its pruning and distillation trials train "
                            "and re-export a torch model with one input.",
                            "For a multi-input ONNX model, run edgekit compress (FP32 and INT8 on ONNX Runtime or "
                            "OpenVINO).")
    train = inputs.training_data(train_data, distill, prep)
    val = inputs.validation_data(val_data, distill, prep)
    inputs.check_data_shapes(loaded, ("calibration", calib), ("evaluation", evald), ("training", train))
    shape = inputs.input_shape(opts.input_shape, loaded, calib, evald, train)
    if shape is None:
        raise DataError("The sweep needs the model's input shape.", "Pass --input-shape, e.g. 1,3,224,224.")
    calib = inputs.require_calibration(prof, calib, opts.calib_random, shape, opts.seed)
    wants_pruning = any(r > 0 for r in cfg.prune_ratios) or cfg.latency_target is not None
    if wants_pruning and not loaded.is_torch or wants_pruning and loaded.kind.value in ("exported_program", "torchscript"):
        raise PipelineError(f"Pruning needs the model's layers, and {loaded.source} is a "
                            f"{loaded.kind.value.replace('_', ' ')}.",
                            "Pass 'package.module:factory' with --weights (or an nn.Module), or sweep with --prune 0.")
    base = (prune or prune_config(prof, ratio=BASE_PRUNE_RATIO)) if wants_pruning else None
    if distill is not None:  # checkpoints live in the cache entry being built; its key ignores run locations
        distill = dataclasses.replace(distill, checkpoint_dir=None, resume=False)
    reference = compute_reference(loaded, evald, backend, prof)
    cache_root = cfg.cache_dir or out.resolve().parent / f".{out.name}.sweep-cache"
    return SweepContext(loaded, prof, backend.name, calib, evald, train, reference, tuple(shape), opts.seed,
                        library_versions(backend.versions()), Path(cache_root).resolve(), base, distill, val=val)


def _latency_search(ctx: Any, search: LatencyTarget, progress: Progress) -> Any:
    from edgekit.pruning.effect import NO_EFFECT
    from edgekit.sweep.pareto import p50
    from edgekit.sweep.search import bisect_ratio
    from edgekit.sweep.trials import build_trial, measure_trial

    baseline = build_trial(ctx, TrialSpec(0.0, False, search.precision))
    progress.start("search", f"latency search (<= {search.ratio:.0%} of the original)", search.steps + 1)

    def measure(ratio: float) -> tuple[float, float]:
        cand = build_trial(ctx, TrialSpec(ratio, False, search.precision))
        base_p50 = p50(measure_trial(ctx, baseline))  # the pair is timed back to back: a within-round ratio
        # a ratio that removed nothing is the original itself: its latency is the baseline's, not a second timing
        cand_p50 = base_p50 if cand.result.status == NO_EFFECT else p50(measure_trial(ctx, cand))
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

