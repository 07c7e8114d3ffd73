"""Which variant the bundle recommends: fastest, unless a smaller one is within the noise margin."""

from __future__ import annotations

import pytest

from edgekit.pipeline.verify import NOISE_MARGIN, recommend
from edgekit.report.schema import VariantResult

MIB = 2**20


def variant(name: str, p50: float | None, size: int, status: str = "accepted") -> VariantResult:
    latency = {} if p50 is None else {"batch_1": {"p50": p50, "p90": p50 * 1.1}, "batch_8": {"p50": p50 * 5}}
    return VariantResult(name=name, backend="onnxruntime", precision=name, artifact=f"stages/{name}/model.onnx",
                         size_bytes=size, status=status, latency_ms=latency)


def test_noise_margin_is_fifteen_percent():
    assert NOISE_MARGIN == pytest.approx(1.15)


def test_fastest_wins_when_clearly_faster():
    name, why = recommend([variant("fp32", 1.0, 600_000), variant("int8", 2.0, 170_000)])
    assert name == "fp32"
    assert "fastest" in why and "1.000 ms" in why and "batch_1" in why


def test_smaller_wins_within_the_margin():
    name, why = recommend([variant("fp32", 1.0, 600_000), variant("int8", 1.14, 170_000)])
    assert name == "int8"
    assert "smallest" in why and "15%" in why and "1.140 ms vs 1.000 ms" in why


def test_just_outside_the_margin_the_fastest_wins():
    name, _ = recommend([variant("fp32", 1.0, 600_000), variant("int8", 1.16, 170_000)])
    assert name == "fp32"


def test_smaller_and_faster_wins():
    name, why = recommend([variant("fp32", 1.5, 2 * MIB), variant("int8", 1.0, MIB // 2)])
    assert name == "int8" and "fastest" in why


def test_equal_size_ties_go_to_the_faster():
    name, _ = recommend([variant("a", 1.1, 1000), variant("b", 1.0, 1000)])
    assert name == "b"


def test_rejected_is_never_recommended_even_if_fastest_and_smallest():
    name, why = recommend([variant("fp32", 1.0, 600_000), variant("int8", 0.2, 10, status="rejected")])
    assert name == "fp32" and "fastest" in why


def test_rejected_does_not_set_the_margin():
    # int8 (rejected) is 10x faster; fp16 is within 15% of fp32 only, so it competes with fp32 alone
    name, _ = recommend([variant("fp32", 1.0, 600_000), variant("fp16", 1.1, 300_000),
                         variant("int8", 0.1, 100_000, status="rejected")])
    assert name == "fp16"


def test_none_accepted():
    name, why = recommend([variant("fp32", 1.0, 1, status="rejected"), variant("int8", 1.0, 1, status="rejected")])
    assert name is None and why == "no variant passed verification"


def test_no_variants():
    assert recommend([]) == (None, "no variant passed verification")


def test_accepted_without_timings_is_not_recommended():
    assert recommend([variant("fp32", None, 100)])[0] is None
    assert recommend([variant("fp32", None, 100), variant("int8", 3.0, 200)])[0] == "int8"
