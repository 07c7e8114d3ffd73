"""The benchmark's adaptive stop rule (deploy/runner_common: median_ci, stop_reason, time_loop) on synthetic samples
and a fake clock: no wall-clock thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgekit.deploy import run_onnxruntime as runner
from edgekit.deploy import runner_common as common
from edgekit.profile import BenchmarkConfig

RULE = {"target_ci": 0.03, "min_iterations": 50, "max_iterations": 200, "min_seconds": 0.5, "max_seconds": 10.0}


class Clock:
    """Advances by each call's latency (the infer below moves it), so elapsed time is exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def infer_with(clock: Clock, latencies):
    it = iter(latencies)

    def infer() -> None:
        clock.now += next(it)
    return infer


def test_median_ci_is_the_order_statistics_interval() -> None:
    # n = 100: ranks 50 -+ 1.96 * 10 / 2 -> the 40th and 61st smallest values (1-based), the textbook interval
    assert common.median_ci([float(v) for v in range(100, 0, -1)]) == (40.0, 61.0)
    assert common.median_ci([3.0]) == (3.0, 3.0)
    assert common.ci_relative([2.0] * 20) == 0.0
    assert common.ci_relative([float(v) for v in range(1, 101)]) == pytest.approx((61 - 40) / 2 / 50.5)


def test_a_steady_latency_stops_once_both_minimums_are_met() -> None:
    steady = [0.010] * 49
    assert common.stop_reason(steady, 0.49, RULE) is None  # under min_iterations
    assert common.stop_reason(steady + [0.010], 0.50, RULE) == "converged"
    assert common.stop_reason(steady + [0.010], 0.20, RULE) is None  # under min_seconds: a short burst is no measure
    assert common.stop_reason([0.010] * 51, 0.6, RULE) is None  # the interval is looked at every STOP_CHECK_EVERY calls


def test_a_noisy_latency_runs_to_the_caps() -> None:
    noisy = [0.010, 0.020] * 60  # the median is anywhere between 10 and 20 ms: never within 3%
    assert common.ci_relative(noisy) > RULE["target_ci"]
    assert common.stop_reason(noisy[:100], 1.5, RULE) is None
    assert common.stop_reason(noisy * 2, 3.6, RULE) == "max_iterations"
    assert common.stop_reason(noisy[:7], 10.0, RULE) == "max_seconds"  # the time cap wins over min_iterations


def test_target_zero_is_a_fixed_count() -> None:
    fixed = {**RULE, "target_ci": 0.0, "max_seconds": math.inf}
    assert common.stop_reason([0.01] * 199, 100.0, fixed) is None
    assert common.stop_reason([0.01] * 200, 100.0, fixed) == "max_iterations"


def test_time_loop_stops_early_on_a_steady_model_and_records_why() -> None:
    clock = Clock()
    events = []
    stats = common.time_loop(infer_with(clock, [1.0] * 5 + [0.02] * 500), warmup=5, iterations=200,
                             on_progress=lambda *e: events.append(e), clock=clock, rule=RULE)
    assert stats["iterations"] == 50 and stats["p50"] == pytest.approx(20.0)
    assert stats["ci95_rel"] == 0.0
    assert stats["stop"] == {"reason": "converged", "seconds": pytest.approx(1.0)}
    assert events[-1] == ("timed", 50, 50)


def test_time_loop_on_a_noisy_model_keeps_every_sample_up_to_the_time_cap() -> None:
    clock = Clock()
    stats = common.time_loop(infer_with(clock, [0.01, 0.5] * 200), warmup=0, iterations=200, clock=clock,
                             rule={**RULE, "max_seconds": 5.0})
    # after 19 calls 4.6 s (ten of 0.01 s, nine of 0.5 s), the 20th brings it to 5.1 s: far below min_iterations 50
    assert stats["stop"]["reason"] == "max_seconds" and stats["iterations"] == 20
    assert stats["ci95_rel"] > 0.03


def test_runner_options_default_to_the_profile_defaults() -> None:
    """The shipped runner cannot import edgekit, so its defaults are a copy: the same numbers as the profile's."""
    args = common.parser_for(runner.__doc__, "model.onnx").parse_args([])
    b = BenchmarkConfig()
    assert common.stop_rule(args) == {"target_ci": b.target_ci, "min_iterations": b.min_iterations,
                                      "max_iterations": b.iterations, "min_seconds": b.min_seconds,
                                      "max_seconds": b.max_seconds}
    assert args.warmup == b.warmup


def test_runner_json_records_the_rule_and_each_timing_its_stop(tmp_path, digits_onnx) -> None:
    out = tmp_path / "r.json"
    assert runner.main(["--model", str(digits_onnx), "--random", "--json", str(out), "--batch-sizes", "1,2",
                        "--warmup", "1", "--iterations", "12", "--min-iterations", "5", "--no-verify"]) == 0
    import json

    result = json.loads(out.read_text())
    assert result["stop_rule"] == {"target_ci": 0.03, "min_iterations": 5, "max_iterations": 12, "min_seconds": 0.5,
                                   "max_seconds": 10.0}
    for stats in result["latency_ms"].values():
        assert 5 <= stats["iterations"] <= 12 and stats["ci95_rel"] >= 0
        assert stats["stop"]["reason"] in ("converged", "max_iterations", "max_seconds")
        assert np.isfinite(stats["stop"]["seconds"])
