"""A pruned variant that is not faster than its unpruned twin says so and why (issue 20 item 5)."""

from __future__ import annotations

from edgekit.pruning.report import pruning_report, render_pruning_markdown, slower_warnings
from edgekit.report.schema import VariantResult


def variant(name: str, p50: float) -> VariantResult:
    return VariantResult(name=name, backend="onnxruntime", precision=name.removeprefix("pruned-"),
                         artifact=f"stages/{name}/model.onnx", size_bytes=1000, status="accepted",
                         latency_ms={"batch_1": {"p50": p50, "p90": p50 * 1.1}})


SUMMARY = {"totals_before": {"macs": 2_000_000, "params": 50_000}, "totals_after": {"macs": 560_000, "params": 14_000},
           "layers": [{"layer": "conv1", "channels_before": [1, 32], "channels_after": [1, 20]},
                      {"layer": "conv2", "channels_before": [32, 64], "channels_after": [20, 36]},
                      {"layer": "fc", "channels_before": [64, 10], "channels_after": [40, 10]}]}


def test_a_pruned_variant_slower_than_its_twin_is_explained():
    report = pruning_report(SUMMARY, [variant("fp32", 0.135), variant("pruned-fp32", 0.245)], lanes=8)
    measured = report["measured"]["pruned-fp32"]
    assert measured["vs"] == "fp32" and measured["measurable"] and measured["speedup"] < 1
    why = " ".join(measured["why_not_faster"])
    assert "MACs fell to 0.28x" in why and "2.0 M MACs in 0.135 ms" in why and "per-operator overhead" in why
    assert "2 pruned layer(s) have channel counts that are not multiples of 8" in why and "conv1, conv2" in why
    assert "--prune-round-to 8" in why
    [warning] = slower_warnings(report)
    assert warning.startswith("Pruning did not make pruned-fp32 faster than fp32 at batch_1: 1.81x slower")
    assert "never preferred for latency" in warning


def test_a_faster_pruned_variant_needs_no_explanation():
    report = pruning_report(SUMMARY, [variant("fp32", 1.0), variant("pruned-fp32", 0.3)], lanes=16)
    assert "why_not_faster" not in report["measured"]["pruned-fp32"] and slower_warnings(report) == []


def test_the_markdown_lists_the_reasons():
    class Report:
        pruning = {**pruning_report(SUMMARY, [variant("fp32", 0.135), variant("pruned-fp32", 0.245)], lanes=8),
                   "mode": "structured", "ratios": {"params": 0.28, "macs": 0.28},
                   "zipped_weight_bytes_before": 1, "zipped_weight_bytes_after": 1}

    Report.pruning["totals_before"] = {"macs": 2_000_000, "params": 50_000}
    Report.pruning["totals_after"] = {"macs": 560_000, "params": 14_000}
    Report.pruning["layers"] = [dict(r, type="Conv2d", params_before=1, params_after=1, macs_before=1, macs_after=1)
                                for r in SUMMARY["layers"]]
    md = "\n".join(render_pruning_markdown(Report))
    assert "  - why not faster: time is not proportional to MACs here" in md
