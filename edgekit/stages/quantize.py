"""Post-training INT8 quantization, done the way the target backend runs INT8 best."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from edgekit.artifact import Artifact, Format
from edgekit.errors import PipelineError
from edgekit.stages.base import RunContext


class QuantizeStage:
    name: ClassVar[str] = "quantize"
    consumes: ClassVar[frozenset[Format]] = frozenset({Format.ONNX})
    produces: ClassVar[Format] = Format.ONNX

    def __init__(self, precision: str = "int8") -> None:
        self.precision = precision

    def config_dict(self) -> dict[str, Any]:
        return {"precision": self.precision}

    def run(self, artifact: Artifact, ctx: RunContext, stage_dir: Path) -> Artifact:
        if ctx.calib is None:
            raise PipelineError("INT8 quantization needs calibration data and none was given.",
                                "Pass --calib-data (or --calib-random to accept random calibration).")
        out = stage_dir / "model.onnx"
        assert artifact.path is not None  # the chain check guarantees an ONNX file here
        try:
            info = ctx.backend.quantize(artifact.path, out, ctx.calib, ctx.profile)
        except PipelineError:
            raise
        except Exception as exc:
            raise PipelineError(f"INT8 quantization failed: {str(exc).splitlines()[0][:400]}",
                                "Exclude the failing op types with [quantize] exclude_op_types in the profile, "
                                "or report the model to edgekit.") from exc
        info["config"] = asdict(ctx.profile.quantize)
        return Artifact(Format.ONNX, out, {"quantization": info})
