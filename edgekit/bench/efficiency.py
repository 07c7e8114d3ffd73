"""`edgekit bench`'s hardware efficiency: the timed artifact's ops and precision, then edgekit/efficiency.py.

An ONNX file is counted directly (``summary.summarize_onnx``: MACs, and INT8 when its weights come through
DequantizeLinear). An OpenVINO IR is compiled from an ONNX that is not beside it: inside a bundle its variant in
report.json has the count (the bundle's own ``stages/...`` path, or ``deploy/model.xml`` = the recommended variant);
outside one the figure is not computed, and the result says why.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edgekit.deploy import runner_common as rc
from edgekit.efficiency import efficiency
from edgekit.hardware import HostFacts

REPORT = "report.json"


def _bundle_variant(path: Path) -> dict[str, Any] | None:
    """The report.json variant of the bundle ``path`` lies in whose artifact it is; None outside a bundle."""
    manifest = rc.find_manifest(path)
    report_path = manifest.parent / REPORT if manifest else None
    if report_path is None or not report_path.is_file():
        return None
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    relative = Path(os.path.abspath(path)).relative_to(report_path.parent).as_posix()
    for v in report.get("variants", []):
        deployed = v["name"] == report.get("recommended") and relative == f"deploy/model{Path(v['artifact']).suffix}"
        if v.get("artifact") == relative or deployed:
            return v
    return None


def artifact_ops(path: Path) -> tuple[int, str] | str:
    """(MACs per inference, precision) of the artifact at ``path``; a string says why they are unknown."""
    if path.suffix.lower() == ".onnx":
        from edgekit.summary import summarize_onnx

        summary = summarize_onnx(path)
        return summary.macs, "int8" if any(layer.int8 for layer in summary.layers) else "fp32"
    variant = _bundle_variant(path)
    if variant is None or not variant.get("efficiency"):
        return (f"{path.name} is not an ONNX file and its bundle's report.json does not count it: its MACs are "
                "counted on the ONNX it was compiled from (bench that file, or the IR inside its bundle)")
    return variant["efficiency"]["ops_per_inference"] // 2, variant["precision"]


def bench_efficiency(path: Path, result: dict[str, Any], host: HostFacts, threads: int,
                     target_isa: str = "host") -> dict[str, Any]:
    """report.json's per-variant ``efficiency`` for one `edgekit bench` result, or {"unavailable": why}."""
    if target_isa == "cuda":
        return {"unavailable": "the profile targets an NVIDIA GPU; the peak table covers CPUs"}
    counted = artifact_ops(path)
    if isinstance(counted, str):
        return {"unavailable": counted}
    macs, precision = counted
    return efficiency(macs, result["throughput_per_s"], precision, host, threads, result.get("details"))
