"""Latency numbers that agree with each other (issue 16 item 5): items/s from the p50, the spread shown, unstable
timings flagged. Fake latency stats only: no timing runs here."""

from __future__ import annotations

import pytest

from edgekit.deploy import runner_common as rc
from edgekit.pipeline.verify import recommend
from edgekit.report.markdown import COMPACT_COLUMNS, latency_line, render_markdown, variant_row
from edgekit.report.schema import Report, VariantResult
from edgekit.report.speed import UNSTABLE_MARK, unstable_warnings

# the demo run of the issue: fp32's mean pulled down... its p50 10% slower than int8's, yet 4555 vs 1732 items/s
FP32 = {"p50": 0.220, "p90": 0.240, "p99": 0.300, "mean": 0.2195, "std": 0.01, "min": 0.20, "iterations": 200}
INT8 = {"p50": 0.200, "p90": 0.210, "p99": 32.0, "mean": 0.577, "std": 3.0, "min": 0.19, "iterations": 200}


def stats(**kw: float) -> dict:
    base = dict(INT8, p99=0.25)
    return {**base, **kw}


def variant(name: str, latency: dict, size: int = 1000) -> VariantResult:
    unstable = rc.instability(latency)
    return VariantResult(name=name, backend="onnxruntime", precision="fp32", artifact=f"{name}.onnx", size_bytes=size,
                         status="accepted", latency_ms={"batch_1": {**latency, "unstable": unstable}},
                         throughput_per_s=rc.throughput(1, latency),
                         throughput_by_batch={"batch_1": rc.throughput(1, latency)})


def test_throughput_is_taken_at_the_p50_not_the_mean():
    assert rc.throughput(1, INT8) == pytest.approx(5000.0)
    assert rc.throughput(8, FP32) == pytest.approx(8 * 1000 / 0.220)
    # the variant with the faster p50 has the higher items/s, whatever one stalled call did to its mean
    assert rc.throughput(1, INT8) > rc.throughput(1, FP32)


def test_a_long_tail_is_unstable_and_says_by_how_much():
    reason = rc.instability(INT8)
    assert reason is not None
    assert reason == "p99 32.000 ms = 160.0x the p50 0.200 ms"
    assert rc.instability(stats(p99=0.2 * rc.UNSTABLE_TAIL_RATIO)) is None  # at the threshold: stable
    assert rc.instability(stats(p99=0.2 * rc.UNSTABLE_TAIL_RATIO * 1.01)) is not None


def test_cpu_contention_is_unstable():
    assert rc.instability(stats(others_cpu_load=None)) is None  # unknown (no /proc): not judged
    assert rc.instability(stats(others_cpu_load=rc.CONTENTION_SHARE)) is None
    reason = rc.instability(stats(others_cpu_load=0.8))
    assert reason == "other processes used 80% of the CPUs"


def test_others_cpu_load_subtracts_this_process():
    # (busy ticks of all CPUs, all ticks, this process's ticks)
    assert rc.others_cpu_load((100, 1000, 10), (250, 1200, 60)) == pytest.approx(0.5)  # 150 busy, 50 ours, of 200
    assert rc.others_cpu_load((100, 1000, 10), (150, 1200, 60)) == 0.0  # only ours
    assert rc.others_cpu_load(None, (1, 2, 3)) is None
    assert rc.others_cpu_load((1, 2, 3), (1, 2, 3)) is None  # no time passed
    ticks = rc.cpu_ticks()
    assert ticks is None or (len(ticks) == 3 and ticks[0] <= ticks[1])


def test_recommend_never_ranks_by_the_mean():
    # same p50/p90, wildly different means: a tie by the noise rule, so the smaller wins
    calm, stalled = dict(FP32), dict(FP32, mean=5.0, p99=40.0)
    name, _ = recommend([variant("calm", calm, size=2000), variant("stalled", stalled, size=1000)])
    assert name == "stalled"


def test_unstable_marker_warning_and_report_json():
    variants = [variant("fp32", FP32), variant("int8", INT8)]
    rows = [variant_row(v) for v in variants]
    assert "p99 ms" in COMPACT_COLUMNS
    assert rows[0]["p99 ms"] == "0.300" and rows[1]["p99 ms"] == f"32.000 {UNSTABLE_MARK}"
    assert rows[1]["items/s"] == "5000" and rows[0]["items/s"] == "4545"
    (warning,) = unstable_warnings(variants)
    assert "int8 at batch_1: p99 32.000 ms = 160.0x the p50" in warning and "fp32" not in warning
    assert f"{rc.UNSTABLE_TAIL_RATIO:g}x" in warning and f"{rc.CONTENTION_SHARE:.0%}" in warning
    report = Report(profile="p", backend="onnxruntime", model={"source": "m"}, variants=variants, recommended="int8",
                    recommended_reason="r", reference={"runtime": "torch", "accuracy": None, "samples": 1},
                    data={}, warnings=[warning])
    saved = report.to_dict()["variants"][1]["latency_ms"]["batch_1"]
    assert saved["unstable"].startswith("p99 32.000 ms")
    assert report.to_dict()["variants"][0]["latency_ms"]["batch_1"]["unstable"] is None
    text = render_markdown(report)
    assert "batch_1: p50 0.200 ms (min 0.190, p90 0.210, p99 32.000)" in text
    assert "5000 items/s (at the p50); **unstable !**: p99 32.000 ms = 160.0x" in text


def test_latency_line_without_the_optional_figures():
    # TensorRT's trtexec summary has no std; a line still prints
    assert latency_line({"p50": 1.0, "p99": 1.5}, None) == "p50 1.000 ms (p99 1.500), n/a items/s (at the p50)"
