"""ONNX -> the backend's own runnable format (OpenVINO IR, TensorRT engine). Backends that run
ONNX as it is (ONNX Runtime) get no compile step: the ONNX file is the deployable artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.artifact import Artifact, Format
from edgekit.errors import PipelineError
from edgekit.stages.base import RunContext

# the file each native format is written as inside its stage directory
FILE_NAMES = {Format.OPENVINO_IR: "model.xml", Format.TENSORRT_PLAN: "model.plan", Format.ONNX: "model.onnx"}


class CompileStage:
    name = "compile"

    def __init__(self, target: Format, precision: str | None = None) -> None:
        self.consumes = frozenset({Format.ONNX})
        self.produces = target
        self.precision = precision  # TensorRT: the engine's precision is a build setting

    def config_dict(self) -> dict[str, Any]:
        return {"target_format": self.produces.value, **({"precision": self.precision} if self.precision else {})}

    def run(self, artifact: Artifact, ctx: RunContext, stage_dir: Path) -> Artifact:
        out = stage_dir / FILE_NAMES[self.produces]
        try:
            extra = {"precision": self.precision} if self.precision else {}
            info = ctx.backend.compile(artifact.path, out, ctx.profile, **extra)
        except PipelineError:
            raise
        except Exception as exc:
            raise PipelineError(f"Compiling for {ctx.backend.name} failed: {str(exc).splitlines()[0][:400]}",
                                "The model uses an operator the runtime's converter does not support.") from exc
        return Artifact(self.produces, out, {"compile": info})
