"""The sweep's bundle: report.json/md/html, plots, the Pareto front's artifacts, deploy/ for the chosen one."""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from edgekit.hardware import detect
from edgekit.report.schema import Report, VariantResult
from edgekit.report.speed import unstable_warnings
from edgekit.sweep.config import SweepConfig

LIMIT = ("processes outside this sweep (other users, other jobs on the node) are not controlled; on a shared "
         "machine timings drift +-40% between rounds, so latencies within 15% of each other count as ties")


def _cache_counts(outcomes: list[Any], root: Path) -> dict[str, Any]:
    by_stage: dict[str, list[int]] = {}
    for o in outcomes:
        if o.from_journal:
            continue
        for e in o.events:
            stage = e.step.split("-")[0]
            counts = by_stage.setdefault(stage, [0, 0])
            counts[0 if e.hit else 1] += 1
    hits = sum(v[0] for v in by_stage.values())
    misses = sum(v[1] for v in by_stage.values())
    return {"dir": str(root), "hits": hits, "misses": misses, "by_stage": by_stage,
            "trials_from_journal": sum(1 for o in outcomes if o.from_journal)}


def _trial_rows(outcomes: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for o in outcomes:
        hits = Counter(e.hit for e in o.events)
        rows.append({**o.spec.to_dict(), "key": o.key[:16], "from_journal": o.from_journal, "hits": hits[True],
                     "misses": hits[False], "build_s": round(o.build_s, 3), "stages": [e.to_dict() for e in o.events]})
    return rows


def _copy_artifacts(root: Path, variants: list[VariantResult], keep: set[str], cache_root: Path) -> None:
    """Front + chosen artifacts into variants/NAME/; the others are referenced in the cache (absolute path)."""
    from edgekit.pipeline.bundle import artifact_files

    for v in variants:
        source = cache_root / v.artifact
        if v.name not in keep:
            v.artifact = str(source)
            continue
        target = root / "variants" / v.name
        target.mkdir(parents=True)
        for f in artifact_files(source):
            shutil.copy2(f, target / f.name)
        v.artifact = str((target / source.name).relative_to(root))


def write_sweep_bundle(ctx: Any, cfg: SweepConfig, outcomes: list[Any], runner: Any, search: Any, out: Path,
                       force: bool, wall_s: float, command: list[str]) -> Report:
    from edgekit.models import model_outputs
    from edgekit.pipeline.bundle import staged_output, write_deploy, write_manifest
    from edgekit.stages.export import INPUT_NAME
    from edgekit.summary import summarize_onnx
    from edgekit.sweep.pareto import choose, off_front_reason, pareto_front
    from edgekit.sweep.trials import StageCache, resolve, trial_chain
    from edgekit.sweep.config import TrialSpec
    from edgekit.report.html import write_report_files
    from edgekit.report.plots import write_plots

    variants = [dataclasses.replace(o.result) for o in outcomes]
    max_drop = ctx.profile.verify.max_accuracy_drop
    front = pareto_front(variants, cfg.objective)
    choice = choose(variants, cfg.objective, max_drop)
    executor = {"kind": runner.kind, "workers": cfg.workers if runner.kind == "ray" else 1,
                "measurement": runner.measurement or "every trial came from the journal", "limit": LIMIT}
    sweep = {"objective": cfg.objective.value, "max_accuracy_drop": max_drop, "chosen": choice.chosen,
             "reason": choice.reason, "closest": choice.closest, "pareto": front,
             "pareto_note": off_front_reason(variants, front, choice, cfg.objective), "trials": _trial_rows(outcomes),
             "cache": _cache_counts(outcomes, ctx.cache_root), "executor": executor,
             "latency_search": None if search is None else {**search.to_dict(), "precision": cfg.precisions[0]},
             "config": {"prune_ratios": list(cfg.prune_ratios), "precisions": list(cfg.precisions),
                        "distill": cfg.distill, "resume": cfg.resume}, "wall_s": round(wall_s, 1)}
    export = resolve(ctx, StageCache(ctx.cache_root), trial_chain(ctx, TrialSpec(0.0, False, "fp32"))[0], [])
    summary = summarize_onnx(export.path) if export.path and export.path.suffix == ".onnx" else None
    ref = ctx.reference
    report = Report(profile=ctx.profile.name, backend=ctx.backend_name,
                    model={"source": ctx.model.source, "kind": ctx.model.kind.value, "sha256": ctx.model.sha256,
                           **model_outputs(ctx.model), **(summary.to_dict() if summary else {})},
                    variants=variants, recommended=choice.chosen, recommended_reason=choice.reason,
                    reference={"runtime": ref.runtime, "accuracy": ref.accuracy, "samples": len(ref.inputs)},
                    data={"calibration": ctx.calib.describe() if ctx.calib else None,
                          "evaluation": ctx.evald.describe(),
                          **({"training": ctx.train.describe()} if ctx.train else {}),
                          **({"validation": ctx.val.describe()} if ctx.val else {})},
                    warnings=([] if choice.chosen else [choice.reason]) + unstable_warnings(variants), sweep=sweep,
                    host=detect().to_dict(), target_isa=ctx.profile.target.isa)
    with staged_output(out, force) as root:
        _copy_artifacts(root, variants, set(front) | ({choice.chosen} if choice.chosen else set()), ctx.cache_root)
        sweep["plots"] = write_plots(root, report, max_drop)  # report.plots, also kept where sweeps had it
        write_deploy(root, report, ref, ctx.profile, INPUT_NAME)
        write_report_files(root, report)
        write_manifest(root, {"schema_version": 1, "versions": ctx.versions, "seed": ctx.seed, "command": command,
                              "input_model": {"source": ctx.model.source, "kind": ctx.model.kind.value,
                                              "sha256": ctx.model.sha256},
                              "input_shape": list(ctx.input_shape), "profile": ctx.profile.to_dict(),
                              "sweep": {k: sweep[k] for k in ("objective", "config", "chosen", "pareto", "pareto_note")}})
    report.out_dir = str(out.resolve())
    return report
