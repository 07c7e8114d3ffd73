"""What every backend provides. Backends are plain classes named in ``edgekit.backends.BACKENDS``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from edgekit.artifact import Format
from edgekit.data import Dataset
from edgekit.profile import Profile


@dataclass(frozen=True)
class KernelCoverage:
    """Which compute nodes run as integer kernels in the runtime's optimised graph."""

    int8_nodes: int
    float_nodes: int
    by_op: dict[str, int] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        total = self.int8_nodes + self.float_nodes
        return self.int8_nodes / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"int8_nodes": self.int8_nodes, "float_nodes": self.float_nodes, "ratio": self.ratio,
                "by_op": dict(sorted(self.by_op.items()))}


class Session(Protocol):
    # x: one array, or a dict of arrays named after the model's inputs (a multi-input model)
    def run(self, x: Any) -> np.ndarray: ...


class Backend(Protocol):
    name: ClassVar[str]
    native_format: ClassVar[Format]
    # False when this host cannot run the backend's artifacts (TensorRT without a GPU): variants are then
    # checked on a host proxy, never timed, and the device measures them (edgekit build-engine)
    measures_on_host: bool

    def versions(self) -> dict[str, str]: ...

    def quantize(self, src: Path, dst: Path, calib: Dataset, profile: Profile, *, evald: Dataset | None = None,
                 max_drop: float | None = None) -> dict[str, Any]: ...

    # only for backends whose native_format is not ONNX: ONNX -> native (e.g. OpenVINO IR)
    def compile(self, src: Path, dst: Path, profile: Profile) -> dict[str, Any]: ...

    def open(self, path: Path, profile: Profile) -> Session: ...

    def kernel_coverage(self, path: Path, profile: Profile, workdir: Path) -> KernelCoverage: ...
