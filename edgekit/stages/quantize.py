"""Post-training INT8 quantization, done the way the target backend runs INT8 best."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from edgekit.artifact import Artifact, Format
from edgekit.errors import PipelineError
from edgekit.stages.base import RunContext
from edgekit.stages.compile import FILE_NAMES


class QuantizeStage:
    """INT8 in the backend's own format: QDQ ONNX for ONNX Runtime, an NNCF-quantized IR for OpenVINO."""

    name: ClassVar[str] = "quantize"

    def __init__(self, precision: str = "int8", fmt: Format = Format.ONNX) -> None:
        self.precision = precision
        self.consumes = frozenset({fmt})
        self.produces = fmt

    def config_dict(self) -> dict[str, Any]:
        return {"precision": self.precision}

    def run(self, artifact: Artifact, ctx: RunContext, stage_dir: Path) -> Artifact:
        if ctx.calib is None:
            raise PipelineError("INT8 quantization needs calibration data and none was given.",
                                "Pass --calib-data (or --calib-random to accept random calibration).")
        out = stage_dir / FILE_NAMES[self.produces]
        try:
            info = ctx.backend.quantize(artifact.path, out, ctx.calib, ctx.profile, evald=ctx.evald,
                                        max_drop=ctx.profile.verify.max_accuracy_drop, host=ctx.host,
                                        progress=ctx.progress, task=ctx.task)
        except PipelineError:
            raise
        except Exception as exc:
            raise PipelineError(f"INT8 quantization failed: {str(exc).splitlines()[0][:400]}",
                                "Exclude the failing op types with [quantize] exclude_op_types in the profile, "
                                "or report the model to edgekit.") from exc
        info["config"] = asdict(ctx.profile.quantize)
        return Artifact(self.produces, out, {"quantization": info})
