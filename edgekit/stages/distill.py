"""torch -> torch: the student (the pruned model, or a user architecture) distilled from the original."""

from __future__ import annotations

import copy
import json
import logging
import shutil
from pathlib import Path
from typing import Any, ClassVar

from edgekit.artifact import Artifact, Format
from edgekit.distill.config import DistillConfig
from edgekit.errors import DataError, PipelineError
from edgekit.stages.base import RunContext

log = logging.getLogger(__name__)


def keep_checkpoint(checkpoint_dir: Path, stage_dir: Path) -> None:
    """The resumable copy lived outside the bundle (a killed run deletes its build dir); the
    finished run keeps its final checkpoint in the bundle and frees the outside one."""
    last = checkpoint_dir / "last.pt"
    if last.is_file() and checkpoint_dir != stage_dir / "checkpoints":
        (stage_dir / "checkpoints").mkdir(exist_ok=True)
        shutil.copy2(last, stage_dir / "checkpoints" / "last.pt")
        shutil.rmtree(checkpoint_dir, ignore_errors=True)


class DistillStage:
    """Teacher: the original model (``ctx.teacher``; the input artifact when ``student`` is given).
    Student: the consumed artifact (the pruned model), or ``student`` (a module from ``module:factory``)."""

    name: ClassVar[str] = "distill"
    consumes: ClassVar[frozenset[Format]] = frozenset({Format.TORCH})
    produces: ClassVar[Format] = Format.TORCH

    def __init__(self, config: DistillConfig, input_shape: tuple[int, ...], *, student: Any = None,
                 student_source: str | None = None) -> None:
        self.config = config
        self.input_shape = input_shape
        self.student = student
        self.student_source = student_source

    def config_dict(self) -> dict[str, Any]:
        return {**self.config.to_dict(), "input_shape": list(self.input_shape),
                "student": self.student_source or "the consumed (pruned) model"}

    def _models(self, artifact: Artifact, ctx: RunContext) -> tuple[Any, Any]:
        if self.student is not None:
            return copy.deepcopy(artifact.meta["module"]), copy.deepcopy(self.student)
        if ctx.teacher is None:
            raise PipelineError("Distillation has no teacher: the original model was not passed to the run.",
                                "Run distillation through edgekit.compress().")  # pragma: no cover
        return copy.deepcopy(ctx.teacher), copy.deepcopy(artifact.meta["module"])

    def run(self, artifact: Artifact, ctx: RunContext, stage_dir: Path) -> Artifact:
        import torch

        from edgekit.distill.distributed import is_main_process
        from edgekit.distill.train import distill

        if ctx.train is None:
            raise DataError("Distillation needs training data.", "Pass --train-data (.npz, image folder or module:callable).")
        teacher, student = self._models(artifact, ctx)
        checkpoint_dir = Path(self.config.checkpoint_dir) if self.config.checkpoint_dir else stage_dir / "checkpoints"
        main = is_main_process()
        result = distill(teacher, student, ctx.train, ctx.evald, self.config, val=ctx.val, seed=ctx.seed,
                         checkpoint_dir=checkpoint_dir, log_dir=stage_dir if main else None, progress=ctx.progress,
                         output=ctx.output)
        summary = result.summary
        if main:
            self._save(result.student, torch.zeros(self.input_shape, dtype=torch.float32), result.history, summary,
                       checkpoint_dir, stage_dir, ctx.output)
        return Artifact(Format.TORCH, stage_dir / "state_dict.pt", {"module": result.student, "distillation": summary})

    def _save(self, student: Any, example: Any, history: list[dict[str, Any]], summary: dict[str, Any],
              checkpoint_dir: Path, stage_dir: Path, output: str | None = None) -> None:
        from edgekit.distill.plot import write_plot
        from edgekit.pruning.spec import save_pruned
        from edgekit.stages.prune import save_exported

        files = {k: v.name for k, v in save_pruned(student, stage_dir).items()}
        pt2_error = save_exported(student, example, stage_dir / "model.pt2", output)
        if pt2_error:
            summary["pt2_error"] = pt2_error
        else:
            files["exported_program"] = "model.pt2"
        files.update(log_csv="log.csv", log_json="log.json")
        plot_error = write_plot(history, stage_dir / "training.png")
        if plot_error:
            summary["plot_error"] = plot_error
        else:
            files["plot"] = "training.png"
        keep_checkpoint(checkpoint_dir, stage_dir)
        files["checkpoint"] = "checkpoints/last.pt"
        summary["files"] = files
        summary["history"] = history
        (stage_dir / "distill.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
