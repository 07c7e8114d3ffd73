"""The Stage protocol and what a stage gets to work with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from edgekit.artifact import Artifact, Format
from edgekit.backends.base import Backend
from edgekit.data import Dataset
from edgekit.hardware import HostFacts, detect
from edgekit.profile import Profile
from edgekit.progress import NullProgress, Progress


@dataclass
class RunContext:
    profile: Profile
    backend: Backend
    calib: Dataset | None = None
    evald: Dataset | None = None  # labelled eval data, for quantizers with accuracy control
    seed: int = 0
    progress: Progress = field(default_factory=NullProgress)
    train: Dataset | None = None  # training data (distillation)
    val: Dataset | None = None  # validation data distillation selects its kept epoch on (never evald)
    teacher: Any = None  # the original torch module, for stages that learn from it (distillation)
    host: HostFacts = field(default_factory=detect)  # the CPU this runs on: picks INT8 recipes and how they are checked
    output: str | None = None  # --output: the model output compared, pruned on, distilled and exported (outputs.py)
    task: str | None = None  # --task (or a Hugging Face folder's): the INT8 search holds segmentation to pixel agreement


class Stage(Protocol):
    name: ClassVar[str]
    consumes: ClassVar[frozenset[Format]]
    produces: ClassVar[Format]

    def config_dict(self) -> dict[str, Any]: ...

    def run(self, artifact: Artifact, ctx: RunContext, stage_dir: Path) -> Artifact: ...
