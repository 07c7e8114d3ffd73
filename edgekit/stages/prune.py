"""torch -> torch: a pruned, smaller dense module (or a sparsified one), saved without pickles."""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from edgekit.artifact import Artifact, Format
from edgekit.errors import PipelineError
from edgekit.pruning.config import PruneConfig
from edgekit.stages.base import RunContext

log = logging.getLogger(__name__)

# model kinds whose module structure is gone (a traced graph): nothing to remove channels from
GRAPH_ONLY_KINDS = {"exported_program", "torchscript"}


def save_exported(module: Any, example: Any, path: Path, output: str | None = None) -> str | None:
    """``module`` as a torch.export .pt2 with a dynamic batch, returning the selected output(s) (edgekit/outputs.py);
    the reason when that is impossible."""
    import torch

    from edgekit.outputs import only_selected

    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(only_selected(module, example, output)[0], (torch.cat([example, example]),),
                                          dynamic_shapes=({0: batch},))
        torch.export.save(program, str(path))
    except Exception as exc:  # a model torch.export cannot trace still has its state_dict + spec
        return str(exc).splitlines()[0][:300]
    return None


class PruneStage:
    name: ClassVar[str] = "prune"
    consumes: ClassVar[frozenset[Format]] = frozenset({Format.TORCH})
    produces: ClassVar[Format] = Format.TORCH

    def __init__(self, config: PruneConfig, input_shape: tuple[int, ...]) -> None:
        self.config = config
        self.input_shape = input_shape

    def config_dict(self) -> dict[str, Any]:
        return {**asdict(self.config), "input_shape": list(self.input_shape)}

    def run(self, artifact: Artifact, ctx: RunContext, stage_dir: Path) -> Artifact:
        import torch

        from edgekit.pruning.effect import nothing_pruned_error
        from edgekit.pruning.run import prune_module
        from edgekit.pruning.spec import save_pruned

        if artifact.meta.get("kind") in GRAPH_ONLY_KINDS:
            raise PipelineError(
                f"Cannot prune a {artifact.meta['kind'].replace('_', ' ')}: it is a traced graph without the "
                "module structure (layers) that channel pruning edits.",
                "Pass the model as 'package.module:factory' with --weights (or an nn.Module from Python).")
        example = torch.zeros(self.input_shape, dtype=torch.float32)
        calib = ctx.calib
        result = prune_module(artifact.meta["module"], example, self.config,
                              calib_x=None if calib is None or calib.random else calib.x,
                              calib_y=None if calib is None else calib.y, output=ctx.output)
        if result.summary["removed_nothing"]:
            raise nothing_pruned_error(self.config, result.summary["removed_nothing"])
        files = save_pruned(result.model, stage_dir)
        pt2_error = save_exported(result.model, example, stage_dir / "model.pt2", ctx.output)
        result.summary["files"] = {k: v.name for k, v in files.items()}
        if pt2_error:
            result.summary["pt2_error"] = pt2_error
        else:
            result.summary["files"]["exported_program"] = "model.pt2"
        (stage_dir / "prune.json").write_text(json.dumps(result.summary, indent=1, default=str) + "\n")
        return Artifact(Format.TORCH, stage_dir / "state_dict.pt", {"module": result.model, "pruning": result.summary})
