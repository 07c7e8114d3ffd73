"""Runs a plan: every step into ``stages/NN-id/`` with its ``stage.json`` (config, wall time, versions, hashes)."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from edgekit.artifact import Artifact, sha256_path
from edgekit.pipeline.plan import INPUT, Plan, Step
from edgekit.stages.base import RunContext


def _stage_record(step: Step, index: int, src: Artifact, out: Artifact, wall_s: float,
                  versions: dict[str, str]) -> dict[str, Any]:
    return {"stage": step.stage.name, "step": step.id, "index": index, "source": step.source,
            "config": step.stage.config_dict(), "wall_s": round(wall_s, 4), "versions": versions,
            "input": {"format": src.format.value, "sha256": sha256_path(src.path) if src.path else src.meta.get("sha256")},
            "output": {"format": out.format.value, "path": str(out.path.name) if out.path else None,
                       "sha256": sha256_path(out.path) if out.path else None},
            "meta": {k: v for k, v in out.meta.items() if k not in ("module", "exported_program")}}


def run_plan(plan: Plan, source: Artifact, ctx: RunContext, root: Path, versions: dict[str, str]
             ) -> tuple[dict[str, Artifact], list[dict[str, Any]]]:
    """Run every step into ``root/stages/NN-id/``; returns the artifact of every step and the records."""
    artifacts: dict[str, Artifact] = {INPUT: source}
    records = []
    for index, step in enumerate(plan.steps, start=1):
        stage_dir = root / "stages" / f"{index:02d}-{step.id}"
        stage_dir.mkdir(parents=True)
        ctx.progress.start(step.id, f"{step.id}", None)
        started = time.perf_counter()
        try:
            out = step.stage.run(artifacts[step.source], ctx, stage_dir)
        finally:
            ctx.progress.finish(step.id)
        record = _stage_record(step, index, artifacts[step.source], out, time.perf_counter() - started, versions)
        (stage_dir / "stage.json").write_text(json.dumps(record, indent=2) + "\n")
        artifacts[step.id] = out
        records.append(record)
    return artifacts, records


def library_versions(backend_versions: dict[str, str]) -> dict[str, str]:
    import numpy
    import torch

    from edgekit import __version__

    return {"edgekit": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, **backend_versions}
