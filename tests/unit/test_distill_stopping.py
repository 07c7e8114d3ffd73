"""Early stopping and the still-improving verdict on synthetic learning curves (pure functions, no training), and
how the report and a rejected variant say that the budget cut a still-improving run short."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edgekit.distill.report import still_improving_warning, stopping_lines
from edgekit.distill.stopping import DEFAULT_PATIENCE, anneal_epochs, improves, last_gain, suggest_epochs, verdict


def test_a_gain_counts_only_past_min_delta_below_the_last_counted_gain() -> None:
    assert improves(1.0, None, 0.01) and improves(0.98, 1.0, 0.01)
    assert not improves(0.995, 1.0, 0.01) and not improves(1.1, 1.0, 0.0)
    # one noisy dip below the plateau does not count; a slow creep counts once it adds up past min_delta
    assert last_gain([8.0, 1.0, 0.995, 1.0, 0.996], 0.01) == 1
    assert last_gain([8.0, 1.0, 0.994, 0.988, 0.982], 0.01) == 3
    assert last_gain([1.0, 2.0, 1.5], 0.01) == 0  # nothing beat the starting weights


def test_a_plateau_before_the_budget_is_not_still_improving() -> None:
    plateau = [8.0, 2.0, 0.5, 0.2, 0.15, 0.15, 0.16, 0.149, 0.15, 0.151, 0.15]
    v = verdict(plateau, stop_reason="epochs", window=5, min_delta=0.01)
    assert v == {"still_improving": False, "last_gain_epoch": 4, "suggestion": None}
    # patience ended it: by definition it saw the plateau
    falling = [8.0, 4.0, 2.0, 1.0]
    assert not verdict(falling, stop_reason="patience", window=5, min_delta=0.01)["still_improving"]
    # nothing ever beat the starting weights: not "still improving", however short the run
    assert not verdict([1.0, 1.2], stop_reason="epochs", window=5, min_delta=0.01)["still_improving"]


@pytest.mark.parametrize("reason", ["epochs", "steps", "time"])
def test_a_budget_that_ends_a_falling_curve_says_so_and_suggests_more(reason: str) -> None:
    falling = [8.0, 2.0, 0.5, 0.3, 0.2, 0.16, 0.14, 0.13, 0.125, 0.12, 0.116]  # slowing, still ~3% an epoch
    v = verdict(falling, stop_reason=reason, window=5, min_delta=0.01)
    assert v["still_improving"] and v["last_gain_epoch"] == 10
    assert 20 <= v["suggestion"]["epochs"] <= 40 and "An estimate" in v["suggestion"]["basis"]


def test_the_suggestion_fits_the_recent_falls_within_two_to_four_times_the_run() -> None:
    # the loss halves over epochs 11-15 and falls by a factor sqrt(2) over 16-20: the log-fall halves per 5 epochs,
    # so a 5-epoch fall drops under 1% after 6 more halvings (ln 2 / 2 * 0.5^6 = 0.0054 < ln(1/0.99) = 0.01005):
    # 20 + 30 + 5 epochs of patience = 55, within [40, 80]
    curve = [8.0 / (1 + e) for e in range(11)]
    curve += [curve[10] * 0.5 ** (k / 5) for k in range(1, 6)]
    curve += [curve[15] * 0.5 ** (k / 10) for k in range(1, 6)]
    epochs, basis = suggest_epochs(curve, 5, 0.01)
    assert epochs == 55 and "fell 50.0% in the 5 epochs before the last 5, 29.3% in them" in basis
    assert "after 30 more epochs, plus 5 of patience: 55 epochs" in basis
    # falls not slowing down: nothing to fit, twice the run
    assert suggest_epochs([0.9 ** e for e in range(11)], 5, 0.01)[0] == 20
    # a fit beyond 4x the run is capped there; a short run still gets at least the patience window more
    slow = [1.0 * 0.9 ** min(e, 5) * 0.91 ** max(e - 5, 0) for e in range(11)]  # barely slowing: ~100s more
    assert suggest_epochs(slow, 5, 0.01)[0] == 40
    assert suggest_epochs([8.0, 1.0], DEFAULT_PATIENCE, 0.01)[0] == 1 + DEFAULT_PATIENCE


def _section(**changes) -> dict:
    d = {"config": {"epochs": 10, "steps": None, "max_minutes": None}, "epochs_run": 10, "max_epochs": 10,
         "stop_reason": "epochs", "patience": 5, "min_delta": 0.01, "early_stopping": "on", "still_improving": True,
         "last_gain_epoch": 10, "suggestion": {"epochs": 25, "option": "--epochs 25", "basis": "the fit"}}
    return {**d, **changes}


def test_the_report_says_why_training_ended_and_what_to_try() -> None:
    lines = stopping_lines(_section())
    assert lines[0] == "- the epoch budget (--epochs 10) ended training after 10 of at most 10 epochs"
    assert "**still improving when the budget ended**" in lines[1] and "Try `--epochs 25`: the fit." in lines[1]
    patience = stopping_lines(_section(stop_reason="patience", epochs_run=23, max_epochs=60, still_improving=False))
    assert patience == ["- stopped early at epoch 23 of at most 60: the validation loss had not fallen by more "
                        "than 1% for 5 epochs"]
    timed = stopping_lines(_section(stop_reason="time", config={"max_minutes": 0.5}, max_epochs=60,
                                    suggestion={"option": "--max-minutes 2", "basis": "b"}))
    assert "the time budget (--max-minutes 0.5) ended training after 10 of at most 60" in timed[0]
    assert "`--max-minutes 2` with `--resume`" in timed[1]
    off = stopping_lines(_section(early_stopping="no validation split (--val-fraction is 0)", patience=0,
                                  still_improving=None, suggestion=None))
    assert off == ["- the epoch budget (--epochs 10) ended training after 10 of at most 10 epochs; no early stopping "
                   "(no validation split (--val-fraction is 0))"]
    assert stopping_lines({"config": {}}) == []  # a report from before the stop was recorded
    annealed = stopping_lines(_section(stop_reason="patience", epochs_run=30, max_epochs=60, still_improving=False,
                                       plateau_epoch=24, anneal_epochs=6))
    assert annealed == ["- the validation loss plateaued at epoch 24 (no fall of more than 1% for 5 epochs); the "
                        "learning rate then annealed to 0 over 6 epochs and training stopped at epoch 30 of at most 60"]


def test_the_anneal_after_a_plateau_is_a_quarter_of_the_run_at_least_the_patience_within_the_budget() -> None:
    assert anneal_epochs(40, 5, 20) == 10  # a quarter of the epochs run
    assert anneal_epochs(12, 5, 48) == 5  # at least the patience
    assert anneal_epochs(41, 5, 50) == 11  # rounded up
    assert anneal_epochs(40, 5, 3) == 3 and anneal_epochs(40, 5, 0) == 0  # never past the budget


def test_the_schedule_anneals_from_where_it_is_to_zero_once_started() -> None:
    from edgekit.distill.train import _Anneal, _schedule

    anneal = _Anneal()
    factor = _schedule(100, 0.05, anneal)
    before = [factor(k) for k in range(100)]
    assert before[4] == 1.0 and before[99] < 0.01 and before[30] > 0.7  # warm-up 5 steps, then cosine over 100
    anneal.start, anneal.steps = 30, 10
    assert [factor(k) for k in range(31)] == before[:31]  # nothing changes before the start: continuous there
    after = [factor(k) for k in range(30, 45)]
    assert all(a > b for a, b in zip(after[:10], after[1:11]))  # falls every step of the anneal
    assert after[10] == 0.0 and after[14] == 0.0  # 0 at its end, and after


def test_a_variant_rejected_for_accuracy_points_to_the_cut_short_run() -> None:
    def variant(name: str, status: str, drop: float | None) -> SimpleNamespace:
        return SimpleNamespace(name=name, status=status, accuracy_drop=drop, reason="accuracy drop over budget")

    variants = [variant("int8", "rejected", 3.0), variant("pruned-fp32", "rejected", 3.5),
                variant("pruned-int8", "accepted", 0.5), variant("student-fp32", "rejected", 0.5)]
    warning = still_improving_warning(_section(), variants, 1.0)
    assert warning.startswith("pruned-fp32 exceeded the 1-point accuracy budget") and "Try --epochs 25" in warning
    assert variants[1].reason.endswith("still improving when its budget ended (try --epochs 25)")
    assert variants[0].reason == variants[3].reason == "accuracy drop over budget"  # not the student's / not accuracy
    assert still_improving_warning(_section(still_improving=False), variants, 1.0) is None
    assert still_improving_warning(_section(), variants[2:], 1.0) is None
