"""torch -> ONNX. The legacy TorchScript-based exporter is used for modules (fast, opset 17,
handles TorchScript); an ExportedProgram goes through the dynamo exporter, which keeps the
program's own dynamic dimensions (the legacy one cannot re-trace an unlifted program)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgekit.artifact import Artifact, Format
from edgekit.errors import EdgekitError, PipelineError
from edgekit.stages.base import RunContext

INPUT_NAME = "input"
OUTPUT_NAME = "output"


@dataclass(frozen=True)
class ExportConfig:
    input_shape: tuple[int, ...]
    opset: int = 17
    dynamic_batch: bool = True
    output: str | None = None  # which of the model's outputs become the ONNX outputs (edgekit/outputs.py)


EXPORT_LOGGERS = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")


@contextlib.contextmanager
def quiet_exporter(extra_loggers: tuple[str, ...] = ()):
    """Warnings off and these loggers (the exporter's, plus ``extra_loggers``) at ERROR for the block."""
    loggers = [logging.getLogger(n) for n in (*EXPORT_LOGGERS, *extra_loggers)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class ExportStage:
    name: ClassVar[str] = "export"
    consumes: ClassVar[frozenset[Format]] = frozenset({Format.TORCH})
    produces: ClassVar[Format] = Format.ONNX

    def __init__(self, config: ExportConfig) -> None:
        self.config = config

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def run(self, artifact: Artifact, ctx: RunContext, stage_dir: Path) -> Artifact:
        return self.export(artifact, stage_dir)

    def export(self, artifact: Artifact, stage_dir: Path) -> Artifact:
        """The export itself; needs no run context, so `edgekit export` uses it directly."""
        import torch

        from edgekit.outputs import onnx_names, only_selected

        out = stage_dir / "model.onnx"
        example = torch.zeros(self.config.input_shape, dtype=torch.float32)
        program = artifact.meta.get("exported_program")
        try:
            with quiet_exporter(), torch.no_grad():
                if program is not None:
                    torch.onnx.export(program, (example,), str(out), dynamo=True, external_data=False,
                                      input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False)
                else:
                    module, selected = only_selected(artifact.meta["module"], example, self.config.output)
                    # the first selected is "output", the others output_<name>
                    outputs = onnx_names(selected, OUTPUT_NAME)
                    axes = ({n: {0: "batch"} for n in (INPUT_NAME, *outputs)} if self.config.dynamic_batch else None)
                    torch.onnx.export(module, (example,), str(out), dynamo=False, opset_version=self.config.opset,
                                      input_names=[INPUT_NAME], output_names=outputs, dynamic_axes=axes)
        except EdgekitError:
            raise  # already says what is wrong and the fix (an --output the model does not have)
        except Exception as exc:
            raise PipelineError(f"Exporting the model to ONNX failed: {str(exc).splitlines()[0][:400]}",
                                "Check that the model runs on an input of shape "
                                f"{list(self.config.input_shape)}; export it yourself to .onnx and pass that file.") from exc
        return Artifact(Format.ONNX, out, {"exporter": "dynamo" if program is not None else "torchscript"})


class ImportOnnxStage:
    """Brings a user's ONNX file into the bundle (external data inlined), so every variant lives there."""

    name: ClassVar[str] = "import"
    consumes: ClassVar[frozenset[Format]] = frozenset({Format.ONNX})
    produces: ClassVar[Format] = Format.ONNX

    def config_dict(self) -> dict[str, Any]:
        return {}

    def run(self, artifact: Artifact, ctx: RunContext, stage_dir: Path) -> Artifact:
        import onnx

        out = stage_dir / "model.onnx"
        model = onnx.load(str(artifact.path), load_external_data=True)
        onnx.save(model, str(out))
        return Artifact(Format.ONNX, out, {"imported_from": str(artifact.path)})
