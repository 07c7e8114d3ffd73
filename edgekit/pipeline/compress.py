"""One compress run: plan, reference, stages, verification, benchmark, report, bundle."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.artifact import Artifact, Format
from edgekit.backends.base import Backend
from edgekit.pipeline.bundle import staged_output, write_deploy, write_manifest
from edgekit.data import Dataset
from edgekit.efficiency import efficiency
from edgekit.distill.config import DistillConfig
from edgekit.hardware import HostFacts, channel_multiple, detect, mismatch_warning
from edgekit.pipeline.inputs import data_scale_warnings, model_warnings
from edgekit.pipeline.verify import (Reference, check_labels, compute_reference, no_labels_warning, recommend,
                                     verify_and_bench)
from edgekit.models import LoadedModel, model_outputs
from edgekit.pipeline.plan import Plan, build_plan
from edgekit.pipeline.execute import library_versions, run_plan
from edgekit.pipeline.timings import Stopwatch, stop_rule
from edgekit.profile import Profile
from edgekit.pruning.config import PruneConfig
from edgekit.distill.report import distillation_report, still_improving_warning
from edgekit.qat.report import qat_report
from edgekit.pruning.report import pruning_report, slower_warnings
from edgekit.progress import Progress
from edgekit.report.html import write_report_files
from edgekit.report.plots import write_plots
from edgekit.report.schema import Report
from edgekit.report.speed import DEFAULT_OBJECTIVE
from edgekit.report.speed import unstable_warnings
from edgekit.stages.base import RunContext
from edgekit.stages.export import INPUT_NAME, ExportConfig
from edgekit.summary import summarize_onnx

log = logging.getLogger(__name__)


def add_efficiency(variants: list, plan: Plan, artifacts: dict[str, Artifact], host: HostFacts,
                   profile: Profile) -> None:
    """Each timed variant's hardware efficiency on this CPU (not for a GPU target): its MACs are counted on the
    nearest ONNX graph of its chain (the IR an OpenVINO variant ships is compiled from it; a pruned variant's is
    its own), so one counter serves report.model and this."""
    if profile.target.isa == "cuda":
        return
    macs: dict[Path, int] = {}
    for v in variants:
        onnx = next((artifacts[s.id].path for s in reversed(plan.chain(v.name))
                     if artifacts[s.id].path is not None and artifacts[s.id].path.suffix == ".onnx"), None)
        if v.throughput_by_batch and onnx is not None:
            if onnx not in macs:
                macs[onnx] = summarize_onnx(onnx).macs
            v.efficiency = efficiency(macs[onnx], v.throughput_by_batch, v.precision, host, profile.target.threads,
                                      v.runtime)


@dataclass
class CompressJob:
    model: LoadedModel
    profile: Profile
    backend: Backend
    calib: Dataset | None
    evald: Dataset | None
    input_shape: tuple[int, ...] | None
    seed: int
    progress: Progress
    command: list[str] = field(default_factory=list)
    prune: PruneConfig | None = None
    train: Dataset | None = None  # distillation's training data
    val: Dataset | None = None  # distillation's validation data (selects the kept epoch); None: held out of train
    distill: DistillConfig | None = None
    student: LoadedModel | None = None  # a user student architecture (instead of the pruned model)
    host: HostFacts = field(default_factory=detect)  # the CPU that runs (and measures) this job
    objective: str = DEFAULT_OBJECTIVE  # what the recommendation optimises (report/speed.OBJECTIVES)

    def _plan(self) -> Plan:
        fmt = Format.TORCH if self.model.is_torch else Format.ONNX
        export = None
        if self.input_shape is not None:
            export = ExportConfig(tuple(self.input_shape), self.profile.compile.opset, output=self.model.output)
        return build_plan(fmt, self.profile.compile.precisions, self.backend.name, export, prune=self.prune,
                          native=self.backend.native_format, distill=self.distill,
                          student=self.student.module if self.student else None,
                          student_source=self.student.source if self.student else None)

    def _source(self) -> Artifact:
        if self.model.is_torch:
            return Artifact(Format.TORCH, None, {"module": self.model.module, "sha256": self.model.sha256,
                                                "exported_program": self.model.exported_program,
                                                "kind": self.model.kind.value})
        return Artifact(Format.ONNX, self.model.onnx_path)

    def _verification_inputs(self) -> Dataset:
        data = self.evald or self.calib
        if data is None:
            raise AssertionError("compress() guarantees calibration or evaluation data")  # pragma: no cover
        return data

    def _context(self) -> RunContext:
        return RunContext(self.profile, self.backend, self.calib, self.evald, self.seed, self.progress,
                          train=self.train, val=self.val, teacher=self.model.module, host=self.host,
                          output=self.model.output, task=getattr(self.model, "task", None))

    def run(self, out_dir: Path, force: bool) -> Report:
        """Under torchrun every rank trains; rank 0 alone writes the bundle and the others return its report."""
        from edgekit.distill import distributed

        if distributed.env_world_size() == 1:
            return self._run(out_dir, force)
        if distributed.env_rank() == 0:
            report = self._run(out_dir, force)  # if it fails, torchrun stops the waiting ranks
            distributed.finish()
            return report
        self._train_only()
        distributed.finish()
        report = Report.from_dict(json.loads((out_dir / "report.json").read_text(encoding="utf-8")))
        report.out_dir = str(out_dir.resolve())
        return report

    def _train_only(self) -> None:
        """A rank > 0: only the training steps and what they consume (its share of the DDP work), in a
        throw-away dir. A QAT step exports only on rank 0, so its compile step is not needed here."""
        import tempfile

        import torch

        torch.manual_seed(self.seed)
        plan = self._plan()
        needed = {"distill", "qat"}
        for step in reversed(plan.steps):
            if step.id in needed:
                needed.add(step.source)
        steps = tuple(s for s in plan.steps if s.id in needed)
        with tempfile.TemporaryDirectory(prefix="edgekit-rank-") as tmp:
            run_plan(Plan(steps, {}), self._source(), self._context(), Path(tmp), {})

    def _run(self, out_dir: Path, force: bool) -> Report:
        import torch

        torch.manual_seed(self.seed)
        watch = Stopwatch()
        plan = self._plan()  # checked before anything is written
        with watch.phase("reference"):
            reference = compute_reference(self.model, self._verification_inputs(), self.backend, self.profile)
        # the INT8 search selects on these labels
        check_labels(self.calib, reference.classes, reference.segmentation, reference.outputs)
        versions = library_versions(self.backend.versions())
        ctx = self._context()
        with staged_output(out_dir, force) as root:
            artifacts, records = run_plan(plan, self._source(), ctx, root, versions)
            for record in records:
                watch.add(record["step"], record["wall_s"])
            variants = [verify_and_bench(name, plan.precision(name), artifacts[step], root, reference, self.backend,
                                         self.profile, self.progress, watch) for name, step in plan.variants.items()]
            add_efficiency(variants, plan, artifacts, self.host, self.profile)
            untimed = None if self.backend.measures_on_host else self.profile.compile.precisions
            chosen, why = recommend(variants, untimed, self.objective)
            report = self._report(artifacts[plan.steps[0].id], variants, chosen, why, reference)
            if "prune" in artifacts:
                report.pruning = pruning_report(artifacts["prune"].meta["pruning"], variants,
                                                channel_multiple(self.profile.target.isa, self.host))
                if (report.pruning.get("requested") or {}).get("shortfall"):
                    report.warnings.append(report.pruning["requested"]["shortfall"])
                report.warnings += slower_warnings(report.pruning)
            if "distill" in artifacts:
                stage_dir = next(f"stages/{r['index']:02d}-distill" for r in records if r["step"] == "distill")
                report.distillation = distillation_report(artifacts["distill"].meta["distillation"], variants,
                                                          stage_dir, reference)
                max_drop = self.profile.verify.max_accuracy_drop
                cut_short = still_improving_warning(report.distillation, variants, max_drop)
                report.warnings += [cut_short] if cut_short else []
            if "qat" in artifacts:
                stage_dir = next(f"stages/{r['index']:02d}-qat" for r in records if r["step"] == "qat")
                report.qat = qat_report(artifacts["qat"].meta["qat"], variants, plan, stage_dir, reference)
            with watch.phase("bundle and plots"):
                write_deploy(root, report, reference, self.profile, INPUT_NAME)
                write_plots(root, report, self.profile.verify.max_accuracy_drop)
            report.timings = watch.to_dict(stop_rule(self.profile.benchmark))
            write_report_files(root, report)
            write_manifest(root, self._manifest(versions, records))
        report.out_dir = str(out_dir.resolve())
        return report

    def _report(self, fp32: Artifact, variants: list, chosen: str | None, why: str, reference: Reference) -> Report:
        summary = summarize_onnx(fp32.path) if fp32.path else None
        model = {"source": self.model.source, "kind": self.model.kind.value, "sha256": self.model.sha256,
                 **model_outputs(self.model), **(summary.to_dict() if summary else {})}
        warnings = []
        mismatch = mismatch_warning(self.profile.name, self.profile.target.isa, self.host)
        if mismatch:
            warnings.append(mismatch + self._profiles_for_host())
        warnings += model_warnings(self.model, reference.accuracy, reference.classes)
        warnings += data_scale_warnings(("calibration", self.calib), ("evaluation", self.evald),
                                        ("training", self.train))
        if self.calib is not None and self.calib.random:
            warnings.append("INT8 was calibrated on RANDOM inputs (--calib-random): its ranges do not reflect real "
                            "data; trust the accuracy figures, not the parity on random inputs.")
        if reference.accuracy is None:
            warnings.append(no_labels_warning(self.profile.verify, reference))
        warnings += unstable_warnings(variants)
        if not self.backend.measures_on_host:
            warnings.append(f"No TensorRT engine was built here ({getattr(self.backend, 'host', '')}): FP32/INT8 ONNX "
                            "were checked on ONNX Runtime's CPU, nothing was timed. On the device run "
                            "`edgekit build-engine BUNDLE` (or deploy/jetson/build_engine.sh): it builds, verifies "
                            "and benchmarks the engines.")
        data = {"calibration": self.calib.describe() if self.calib else None,
                "evaluation": self.evald.describe() if self.evald else None,
                "verification_inputs": reference.inputs.source}
        if self.train is not None:
            data["training"] = self.train.describe()
        if self.val is not None:
            data["validation"] = self.val.describe()
        ref = reference.describe()
        return Report(profile=self.profile.name, backend=self.backend.name, model=model, variants=variants,
                      recommended=chosen, recommended_reason=why, reference=ref, data=data, warnings=warnings,
                      host=self.host.to_dict(), target_isa=self.profile.target.isa, objective=self.objective)

    def _profiles_for_host(self) -> str:
        """' Profiles for this host (backend): ...' naming the built-in profiles of the same backend that target it."""
        from edgekit.hardware import target_matches
        from edgekit.profile import builtin_profile_names, load_profile

        fits = [name for name in builtin_profile_names()
                if (p := load_profile(name)).target.backend == self.profile.target.backend
                and p.target.isa != "host" and target_matches(p.target.isa, self.host)]
        return f" Built-in {self.profile.target.backend} profiles for this host: {', '.join(fits)}." if fits else ""

    def _manifest(self, versions: dict[str, str], records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"schema_version": 1, "versions": versions, "seed": self.seed, "command": self.command,
                "input_model": {"source": self.model.source, "kind": self.model.kind.value, "sha256": self.model.sha256},
                "data": {"calibration": self.calib.describe() if self.calib else None,
                         "evaluation": self.evald.describe() if self.evald else None,
                         "training": self.train.describe() if self.train else None,
                         "validation": self.val.describe() if self.val else None},
                "input_shape": list(self.input_shape) if self.input_shape else None,
                "profile": self.profile.to_dict(), "profile_source": self.profile.source, "host": self.host.to_dict(),
                "stages": records}
