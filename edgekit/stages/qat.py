"""torch -> QDQ ONNX: quantization-aware distillation of the INT8 variant (``--qat``).

The consumed model (the distilled student, or the original when nothing smaller was asked for) is
fake-quantized (edgekit.qat), its ranges initialised on the calibration data, fine-tuned with the
distillation loop against the original FP32 model, and exported as QDQ ONNX. The backend's PTQ
never touches this file: the plan sends it straight to verification (ONNX Runtime) or to the
IR compile step (OpenVINO reads the Q/DQ pairs as INT8 FakeQuantize).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, ClassVar

from edgekit.artifact import Artifact, Format
from edgekit.backends.int8 import CheckMode, Recipe, check_mode, plan_recipes
from edgekit.distill.config import DistillConfig
from edgekit.errors import DataError, PipelineError
from edgekit.stages.base import RunContext
from edgekit.stages.distill import keep_checkpoint
from edgekit.stages.export import INPUT_NAME, OUTPUT_NAME


class QatStage:
    name: ClassVar[str] = "qat"
    consumes: ClassVar[frozenset[Format]] = frozenset({Format.TORCH})
    produces: ClassVar[Format] = Format.ONNX

    def __init__(self, config: DistillConfig, input_shape: tuple[int, ...]) -> None:
        self.config = config
        self.input_shape = input_shape

    def config_dict(self) -> dict[str, Any]:
        return {**self.config.qat_phase().to_dict(), "input_shape": list(self.input_shape)}

    def _checkpoint_dir(self, stage_dir: Path) -> Path:
        # beside the distillation's own directory, not inside it: that one is deleted when the FP32
        # distillation finishes, which a resumed run repeats before it gets back to QAT
        if self.config.checkpoint_dir is None:
            return stage_dir / "checkpoints"
        outside = Path(self.config.checkpoint_dir)
        return outside.with_name(outside.name + ".qat")

    def run(self, artifact: Artifact, ctx: RunContext, stage_dir: Path) -> Artifact:
        import torch

        from edgekit.distill.distributed import is_main_process
        from edgekit.distill.train import distill
        from edgekit.outputs import only_selected
        from edgekit.qat.model import calibrate, export_qdq, prepare, qdq_summary
        from edgekit.qat.quantizer import QatScheme

        if ctx.train is None:
            raise DataError("Quantization-aware distillation needs training data.", "Pass --train-data.")
        if ctx.calib is None or ctx.teacher is None:
            raise PipelineError("Quantization-aware distillation needs calibration data and the original model.",
                                "Pass --calib-data; run it through edgekit.compress().")  # pragma: no cover
        q = ctx.profile.quantize
        recipe, check = qat_recipe(ctx)
        scheme = QatScheme(recipe.activation_type, recipe.symmetric_activations, q.per_channel, recipe.weight_range)
        example = torch.zeros((2, *self.input_shape[1:]), dtype=torch.float32)
        student = prepare(only_selected(artifact.meta["module"], example, ctx.output)[0], example, scheme)
        batches = calibrate(student, ctx.calib.x)
        cfg = self.config.qat_phase()
        checkpoint_dir = self._checkpoint_dir(stage_dir)
        main = is_main_process()
        result = distill(copy.deepcopy(ctx.teacher), student, ctx.train, ctx.evald, cfg, val=ctx.val, seed=ctx.seed,
                         checkpoint_dir=checkpoint_dir, log_dir=stage_dir if main else None, progress=ctx.progress,
                         progress_key="qat", output=ctx.output)
        out = stage_dir / "model.onnx"
        summary = result.summary
        summary["history"] = result.history
        summary["calibration"] = {"samples": len(ctx.calib), "batches": batches}
        summary["scheme"] = {"recipe": recipe.name, "activations": f"{recipe.activation_type} per tensor, "
                                            f"{'symmetric' if recipe.symmetric_activations else 'asymmetric'}",
                             "weights": f"int8 symmetric {recipe.weight_range} "
                                        f"{'per channel' if q.per_channel else 'per tensor'}",
                             "batchnorm": "folded into the conv before QAT (frozen statistics)"}
        if main:
            export_qdq(result.student, example, out, INPUT_NAME, OUTPUT_NAME)
            summary["onnx"] = qdq_summary(out)
            keep_checkpoint(checkpoint_dir, stage_dir)
            (stage_dir / "qat.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
        info = {"quantizer": "edgekit QAT (torchao PT2E prepare_qat_pt2e + convert_pt2e, dynamo ONNX export)",
                "format": "QDQ", "per_channel": q.per_channel, "recipe": recipe.to_dict(),
                "activation_type": recipe.activation_type, "weight_type": "int8", "reduce_range": recipe.reduce_range,
                "calibration_samples": len(ctx.calib), "trained_steps": summary["steps"], "check": check.to_dict()}
        return Artifact(Format.ONNX, out, {"quantization": info, "qat": summary, "module": result.student})


def qat_recipe(ctx: RunContext) -> tuple[Recipe, CheckMode]:
    """The target's first INT8 recipe with int8 weights (QAT trains symmetric int8 weights), and how it is checked."""
    plan = plan_recipes(ctx.profile.quantize.recipe, ctx.profile.target.isa, ctx.host)
    recipe = next((r for r in plan.ladder if r.weight_type == "int8"), None)
    if recipe is None:
        raise PipelineError(f"--qat trains symmetric int8 weights, but the profile's INT8 recipe is "
                            f"{ctx.profile.quantize.recipe} (uint8 weights).",
                            "Use another [quantize] recipe (or auto), or drop --qat.")
    return recipe, check_mode(recipe, plan.isa, ctx.host)
