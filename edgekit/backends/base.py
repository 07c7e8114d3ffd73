"""What every backend provides. Backends are plain classes named in ``edgekit.backends.BACKENDS``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from edgekit.artifact import Format
from edgekit.data import Dataset
from edgekit.hardware import HostFacts
from edgekit.profile import Profile
from edgekit.progress import Progress


@dataclass(frozen=True)
class KernelCoverage:
    """Which compute nodes run as integer kernels in the runtime's optimised graph."""

    int8_nodes: int
    float_nodes: int
    by_op: dict[str, int] = field(default_factory=dict)
    # the compute layers that did not run INT8: {"name", "op", "reason"} (the runtime's reason where it can be found)
    float_layers: tuple[dict[str, str], ...] = ()

    @property
    def ratio(self) -> float:
        total = self.int8_nodes + self.float_nodes
        return self.int8_nodes / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"int8_nodes": self.int8_nodes, "float_nodes": self.float_nodes, "ratio": self.ratio,
                "by_op": dict(sorted(self.by_op.items())), "float_layers": list(self.float_layers[:50])}

    def describe_float(self, limit: int = 4) -> str:
        """'conv3 (GroupConvolution: runs f32 ...), ...' for messages."""
        parts = [f"{f['name']} ({f['op']}: {f['reason']})" for f in self.float_layers[:limit]]
        more = len(self.float_layers) - limit
        return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


class Session(Protocol):
    # x: one array, or a dict of arrays named after the model's inputs (a multi-input model); the first output
    def run(self, x: Any) -> np.ndarray: ...

    # every output, in the artifact's output order (the names of ``output_names``): each one is verified
    def run_all(self, x: Any) -> list[np.ndarray]: ...

    @property
    def output_names(self) -> list[str]: ...


class Backend(Protocol):
    name: ClassVar[str]
    native_format: ClassVar[Format]
    # False when this host cannot run the backend's artifacts (TensorRT without a GPU): variants are then
    # checked on a host proxy, never timed, and the device measures them (edgekit build-engine)
    measures_on_host: bool

    def versions(self) -> dict[str, str]: ...

    # host: the CPU facts that pick the INT8 recipe (edgekit.hardware); progress: the accuracy-aware search's attempts;
    # task: the model's (--task), so the search scores segmentation logits per pixel as the verdict does
    def quantize(self, src: Path, dst: Path, calib: Dataset, profile: Profile, *, evald: Dataset | None = None,
                 max_drop: float | None = None, host: HostFacts | None = None,
                 progress: Progress | None = None, task: str | None = None) -> dict[str, Any]: ...

    # only for backends whose native_format is not ONNX: ONNX -> native (e.g. OpenVINO IR)
    def compile(self, src: Path, dst: Path, profile: Profile) -> dict[str, Any]: ...

    # emulate_qdq: run an INT8 QDQ file with its quantization emulated in float (backends.int8.check_mode)
    def open(self, path: Path, profile: Profile, *, emulate_qdq: bool = False) -> Session: ...

    def kernel_coverage(self, path: Path, profile: Profile, workdir: Path) -> KernelCoverage: ...
