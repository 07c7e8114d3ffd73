"""Which variant the bundle recommends: fastest, unless a smaller one is within the noise margin."""

from __future__ import annotations

import pytest

from edgekit.pipeline.verify import NOISE_MARGIN, recommend
from edgekit.report.schema import VariantResult
from edgekit.report.speed import compare_latency

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


# --- a latency ratio is shown with its spread, or as no measurable difference ---------------

def stats(p50: float, p90: float | None = None) -> dict[str, float]:
    return {"p50": p50} if p90 is None else {"p50": p50, "p90": p90}


def test_the_same_model_timed_twice_has_no_measurable_difference():
    # the issue: an unpruned "pruned" model 1.44x "faster" at p50, its own p90 above the twin's p50
    c = compare_latency(stats(1.0, 1.9), stats(1.44, 1.6))
    assert c.speedup == pytest.approx(1.44) and not c.measurable and not c.faster
    assert c.text().startswith("no measurable difference (p50 ratio 1.44x")
    assert "faster" not in c.text()


def test_inside_the_noise_band_is_no_difference_even_with_tight_spreads():
    c = compare_latency(stats(1.0, 1.01), stats(1.1, 1.11))
    assert not c.measurable and "15% noise band" in c.text()


def test_a_separated_speedup_is_shown_with_its_spread():
    c = compare_latency(stats(1.0, 1.1), stats(2.0, 2.2))
    assert c.measurable and c.faster
    assert (c.speedup, c.low, c.high) == pytest.approx((2.0, 2.0 / 1.1, 2.2))
    assert c.text() == "2.00x faster (p50; 1.82-2.20x across the p50/p90 spread)"
    d = c.to_dict()
    assert d["measurable"] is True and d["text"] == c.text() and d["speedup"] == pytest.approx(2.0)


def test_a_slowdown_is_shown_as_slower_with_its_spread():
    c = compare_latency(stats(2.0, 2.2), stats(1.0, 1.1))
    assert c.measurable and not c.faster
    assert c.text() == "2.00x slower (p50; 1.82-2.20x across the p50/p90 spread)"


def test_without_p90_the_spread_is_the_p50():
    c = compare_latency(stats(1.0), stats(1.5))
    assert (c.low, c.high) == pytest.approx((1.5, 1.5)) and c.measurable


def test_a_variant_slower_only_within_the_fastest_spread_is_tied():
    fast = VariantResult(name="fp32", backend="onnxruntime", precision="fp32", artifact="a", size_bytes=600_000,
                         latency_ms={"batch_1": {"p50": 1.0, "p90": 1.5}})
    slow = variant("int8", 1.2, 170_000)  # 20% slower at p50, but below the fastest's p90
    name, why = recommend([fast, slow])
    assert name == "int8" and "no measurable latency difference" in why


def test_the_fastest_names_the_next_variant_with_the_spread():
    name, why = recommend([variant("fp32", 1.0, 600_000), variant("int8", 2.0, 170_000)])
    assert name == "fp32" and "the next, int8, is 2.00x slower (p50; " in why


def _measured(name: str, p50: float, size: int, items_per_s: float, joules: float | None = None) -> VariantResult:
    v = variant(name, p50, size)
    v.throughput_by_batch = {"batch_1": items_per_s / 2, "batch_8": items_per_s}
    if joules is not None:
        v.energy = {"joules_per_inference": joules}
    return v


def test_the_objective_decides_what_best_means() -> None:
    fast_big = _measured("fp32", 1.0, 5000, items_per_s=900, joules=0.010)
    slow_small = _measured("int8", 2.0, 1000, items_per_s=1000, joules=0.020)
    assert recommend([fast_big, slow_small])[0] == "fp32"  # latency, the default
    name, why = recommend([fast_big, slow_small], objective="size")
    assert name == "int8" and why.startswith("objective size")
    name, why = recommend([fast_big, slow_small], objective="throughput")
    assert name == "int8" and "tie within" in why  # 1000 vs 900 items/s: inside the 15% band, smaller wins
    name, why = recommend([fast_big, slow_small], objective="energy")
    assert name == "fp32" and "J/inference" in why


def test_a_tie_on_throughput_names_both_figures_and_the_rule() -> None:
    a, b = _measured("fp32", 1.0, 5000, items_per_s=1000), _measured("int8", 1.0, 1000, items_per_s=950)
    name, why = recommend([a, b], objective="throughput")
    assert name == "int8" and "tie within the 15% noise band" in why and "fp32 1000" in why and "int8 950" in why
    assert "smallest artifact wins" in why


def test_energy_without_a_measurement_recommends_nothing_and_says_so() -> None:
    name, why = recommend([variant("fp32", 1.0, 10)], objective="energy")
    assert name is None and "no accepted variant has a measured energy" in why


def test_a_pruned_variant_no_faster_than_its_twin_is_never_preferred_for_latency():
    """Issue 20: the pruned FP32 ran no faster than the unpruned one; its smaller file must not win the latency tie."""
    name, why = recommend([variant("fp32", 1.0, 600_000), variant("pruned-fp32", 1.05, 200_000)])
    assert name == "fp32"
    assert "not preferred, pruning bought no speed: pruned-fp32 vs fp32: no measurable difference" in why
    # measurably faster: the pruned variant wins as before
    assert recommend([variant("fp32", 1.0, 600_000), variant("pruned-fp32", 0.5, 200_000)])[0] == "pruned-fp32"
    # the smaller INT8 still wins a tie it is in; only the pruned twin is passed over
    name, _ = recommend([variant("fp32", 1.0, 600_000), variant("int8", 1.05, 170_000),
                         variant("pruned-int8", 1.0, 60_000)])
    assert name == "int8"
    # a rejected twin does not hold the pruned variant back
    assert recommend([variant("fp32", 1.0, 600_000, "rejected"), variant("pruned-fp32", 1.05, 200_000)])[0] == "pruned-fp32"


def test_size_objective_still_takes_the_smallest_pruned_variant():
    name, _ = recommend([variant("fp32", 1.0, 600_000), variant("pruned-fp32", 1.05, 200_000)], objective="size")
    assert name == "pruned-fp32"
