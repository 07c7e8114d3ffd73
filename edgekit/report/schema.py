"""The report: what was produced, how it was verified and how fast it ran.

``report.json`` is a contract (schema_version 1): fields are added, never renamed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from edgekit.report.speed import DEFAULT_OBJECTIVE

SCHEMA_VERSION = 1


@dataclass
class VariantResult:
    name: str
    backend: str
    precision: str
    artifact: str  # relative to the bundle root
    size_bytes: int
    status: str = "accepted"  # accepted | rejected | pending (measured on the device: TensorRT FP16 off-GPU)
    reason: str = ""
    # the guard that judged its outputs: "accuracy budget" (labels), "cosine + top-1 agreement" (no labels, class
    # scores), "cosine" (no labels, other outputs); "" when not judged here (pending)
    gate: str = ""
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    throughput_per_s: float | None = None
    throughput_by_batch: dict[str, float] = field(default_factory=dict)
    peak_rss_bytes: int | None = None
    load_s: float | None = None
    # what the runtime really did while timed: e.g. OpenVINO's float precision (f32 / bf16), streams,
    # cold vs warm compile, async throughput
    runtime: dict[str, Any] = field(default_factory=dict)
    # the task metric with labels, in percent / points: top-1 accuracy, or mIoU for semantic segmentation (``metric``
    # names it: "top-1 accuracy" | "mIoU"; "" before this field existed or when not applicable)
    accuracy: float | None = None
    accuracy_drop: float | None = None
    metric: str = ""
    pixel_accuracy: float | None = None  # segmentation with labels: labelled pixels predicted right, %
    # the primary (first selected) output's parity with the original; with several selected outputs,
    # parity_by_output holds each one's, by name in order, with the gate it was held to
    parity: dict[str, Any] = field(default_factory=dict)
    parity_by_output: dict[str, dict[str, Any]] = field(default_factory=dict)
    int8_coverage: dict[str, Any] | None = None
    energy: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] | None = None
    sha256: str = ""
    # hardware efficiency at the best measured batch: GOP/s against the host's peak (edgekit/efficiency.py)
    efficiency: dict[str, Any] | None = None


@dataclass
class Report:
    profile: str
    backend: str
    model: dict[str, Any]
    variants: list[VariantResult]
    recommended: str | None
    recommended_reason: str
    reference: dict[str, Any]
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    pruning: dict[str, Any] | None = None
    distillation: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None  # edgekit sweep: trials, Pareto front, cache counts
    qat: dict[str, Any] | None = None  # quantization-aware distillation (--qat): PTQ vs QAT
    # where the run's wall time went (pipeline/timings.py): seconds per phase and variant, total, benchmark share
    timings: dict[str, Any] | None = None
    host: dict[str, Any] = field(default_factory=dict)  # the CPU that measured (edgekit.hardware.HostFacts)
    target_isa: str = ""  # what the profile targets ([target] isa)
    objective: str = DEFAULT_OBJECTIVE  # what the recommendation optimised (compress --objective; report/speed.OBJECTIVES)
    # the report's figures (report/plots.py): name -> PNG path relative to the bundle, name -> what it shows, and
    # name -> why a figure that applies could not be drawn (left out; a figure never fails a run)
    plots: dict[str, str] = field(default_factory=dict)
    plot_captions: dict[str, str] = field(default_factory=dict)
    plots_not_drawn: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    out_dir: str = ""

    def variant(self, name: str) -> VariantResult:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"no variant named {name!r}; have {[v.name for v in self.variants]}")

    @property
    def efficiency(self) -> dict[str, dict[str, Any]]:
        """Each timed variant's hardware efficiency by name (report.md's section; stored per variant)."""
        return {v.name: v.efficiency for v in self.variants if v.efficiency}

    @property
    def rejected(self) -> list[VariantResult]:
        return [v for v in self.variants if v.status == "rejected"]

    def summary(self) -> str:
        """The variants table the CLI prints (plain text), the recommendation, rejections and warnings."""
        import importlib  # report/text.py renders this class and imports it: named here, not imported (no cycle)

        return importlib.import_module("edgekit.report.text").summary(self)

    def __repr__(self) -> str:
        shown = ", ".join(f"{v.name}{'*' if v.name == self.recommended else ''} {v.status}" for v in self.variants)
        where = f", out_dir={self.out_dir!r}" if self.out_dir else ""
        return f"Report(profile={self.profile!r}, recommended={self.recommended!r}, variants=[{shown}]{where})"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("out_dir")
        return data

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        fields_ = {**data, "variants": [VariantResult(**v) for v in data["variants"]]}
        return cls(**fields_)
