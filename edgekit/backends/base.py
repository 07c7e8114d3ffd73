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
    """Which compute nodes run as integer kernels in the runtime's optimised graph, and how much of the compute.

    ``ratio`` (what verify.min_int8_coverage gates) is the share of the compute nodes' MACs that runs INT8 when the
    backend knew the MACs of every compute node (basis "macs"), else the share of the nodes (basis "nodes", with
    ``macs_note`` saying why): a squeeze-excitation conv on a 1x1 pooled map left float costs almost nothing, a big
    conv left float costs its share."""

    int8_nodes: int
    float_nodes: int
    by_op: dict[str, int] = field(default_factory=dict)
    # the compute layers that did not run INT8: {"name", "op", "reason"} (the runtime's reason where it can be found)
    float_layers: tuple[dict[str, str], ...] = ()
    # MACs (multiply-accumulates per sample) of the INT8 / float compute nodes; None when not known for every node
    int8_macs: int | None = None
    float_macs: int | None = None
    macs_note: str = ""  # why the MACs are not used, when they are not

    @property
    def basis(self) -> str:
        known = self.int8_macs is not None and self.float_macs is not None
        return "macs" if known and (self.int8_macs or 0) + (self.float_macs or 0) > 0 else "nodes"

    @property
    def node_ratio(self) -> float:
        total = self.int8_nodes + self.float_nodes
        return self.int8_nodes / total if total else 0.0

    @property
    def macs_ratio(self) -> float | None:
        if self.basis != "macs":
            return None
        return (self.int8_macs or 0) / ((self.int8_macs or 0) + (self.float_macs or 0))

    @property
    def ratio(self) -> float:
        macs = self.macs_ratio
        return self.node_ratio if macs is None else macs

    def to_dict(self) -> dict[str, Any]:
        return {"int8_nodes": self.int8_nodes, "float_nodes": self.float_nodes, "ratio": self.ratio,
                "basis": self.basis, "int8_macs": self.int8_macs, "float_macs": self.float_macs,
                "node_ratio": self.node_ratio, "macs_ratio": self.macs_ratio,
                **({"macs_note": self.macs_note} if self.macs_note else {}),
                "by_op": dict(sorted(self.by_op.items())), "float_layers": list(self.float_layers[:50])}

    def describe_share(self) -> str:
        """'71% of the compute (MACs) runs INT8 (10/14 compute nodes)' or, without MACs, '10/14 compute nodes
        run INT8 (71%; MACs unknown ...)'."""
        nodes = f"{self.int8_nodes}/{self.int8_nodes + self.float_nodes} compute nodes"
        if self.basis == "macs":
            return f"{self.ratio:.0%} of the compute (MACs) runs INT8 ({nodes})"
        why = f"; by node count: {self.macs_note}" if self.macs_note else "; by node count"
        return f"{nodes} run INT8 ({self.ratio:.0%}{why})"

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
