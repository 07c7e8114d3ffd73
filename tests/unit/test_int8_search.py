"""The accuracy-aware INT8 search: the order of attempts, the budget on the selection split, the layer fallback.

A fake quantizer stands for onnxruntime: each attempt's outputs are the reference logits with the damage a
recipe, a calibration method or a float layer would do, so every branch is reached on any CPU. The real
thing runs end to end in test_int8_recipes.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.backends.int8 import RECIPES
from edgekit.backends.int8_search import Attempt, Selection, first_attempts, search

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 10, 200)
REFERENCE = np.eye(10)[LABELS] * 5 + RNG.normal(0, 0.3, (200, 10))  # a model that is right on every sample


def damaged(fraction: float, seed: int = 1) -> np.ndarray:
    """The reference outputs with the top-1 of ``fraction`` of the samples moved elsewhere."""
    out = REFERENCE.copy()
    rows = np.random.default_rng(seed).choice(200, int(fraction * 200), replace=False)
    out[rows, (LABELS[rows] + 1) % 10] += 20
    return out


class FakeQuantizer:
    """Damage per attempt: ``by_recipe`` / ``by_method``; each float layer named in ``repairs`` undoes its share."""

    def __init__(self, by_recipe: dict[str, float], by_method: dict[str, float] | None = None,
                 repairs: dict[str, float] | None = None) -> None:
        self.by_recipe, self.by_method, self.repairs = by_recipe, by_method or {}, repairs or {}
        self.calls: list[Attempt] = []

    def quantize(self, attempt: Attempt, path: Path) -> None:
        self.calls.append(attempt)
        path.write_bytes(b"onnx")

    def evaluate(self, attempt: Attempt, path: Path) -> np.ndarray:
        damage = self.by_recipe.get(attempt.recipe.name, 0.0) + self.by_method.get(attempt.calibration_method, 0.0)
        damage -= sum(self.repairs.get(n, 0.0) for n in attempt.float_nodes)
        return damaged(max(damage, 0.0))


def selection(labelled: bool = True, labels: bool = True) -> Selection:
    return Selection(np.zeros((200, 4), np.float32), LABELS if labels else None, REFERENCE, max_drop=1.0,
                     min_cosine=0.99, labelled_task=labelled)


LADDER = (RECIPES["u8s8-rr"], RECIPES["u8u8"])


def test_the_first_attempt_that_holds_ends_the_search(tmp_path: Path) -> None:
    fake = FakeQuantizer({"u8s8-rr": 0.0})
    result = search(fake.quantize, fake.evaluate, selection(), first_attempts(LADDER, "minmax", True), tmp_path)
    assert len(fake.calls) == 1 and result.chosen.ok and result.chosen.attempt.recipe.name == "u8s8-rr"
    assert result.to_dict("c")["attempts"][0]["metric"] == "accuracy drop"


def test_a_saturating_recipe_falls_back_to_the_next_one(tmp_path: Path) -> None:
    fake = FakeQuantizer({"u8s8-rr": 0.06, "u8u8": 0.0})
    result = search(fake.quantize, fake.evaluate, selection(), first_attempts(LADDER, "minmax", True), tmp_path)
    assert [a.recipe.name for a in fake.calls] == ["u8s8-rr", "u8u8"]
    assert result.chosen.attempt.recipe.name == "u8u8" and result.chosen.value == pytest.approx(0.0)
    assert not result.outcomes[0].ok and result.outcomes[0].value == pytest.approx(6.0)


def test_then_other_calibration_methods(tmp_path: Path) -> None:
    fake = FakeQuantizer({"u8s8-rr": 0.02, "u8u8": 0.02}, {"minmax": 0.02, "entropy": 0.01, "percentile": -0.02})
    result = search(fake.quantize, fake.evaluate, selection(), first_attempts(LADDER, "minmax", True), tmp_path)
    assert [(a.recipe.name, a.calibration_method) for a in fake.calls] == [
        ("u8s8-rr", "minmax"), ("u8u8", "minmax"), ("u8s8-rr", "percentile")]
    assert result.chosen.attempt.calibration_method == "percentile"


def test_then_the_most_sensitive_layers_go_to_float_one_at_a_time(tmp_path: Path) -> None:
    fake = FakeQuantizer({"u8s8-rr": 0.05, "u8u8": 0.06}, repairs={"fc": 0.02, "conv2": 0.025, "conv1": 0.001})
    ranked = ["fc", "conv2", "conv1", "conv3"]
    result = search(fake.quantize, fake.evaluate, selection(), first_attempts(LADDER, "minmax", True), tmp_path,
                    rank=lambda path: ranked, compute_nodes=10, min_int8_coverage=0.8)
    assert result.chosen.ok and result.chosen.attempt.float_nodes == ("fc", "conv2")
    assert result.chosen.attempt.recipe.name == "u8s8-rr"  # the best of the whole-model attempts
    assert result.to_dict("c")["float_layers"] == ["fc", "conv2"] and result.ranked == ranked


def test_layer_fallback_stops_at_the_int8_coverage_floor(tmp_path: Path) -> None:
    fake = FakeQuantizer({"u8s8-rr": 0.3, "u8u8": 0.3}, repairs={"a": 0.01, "b": 0.01, "c": 0.01})
    result = search(fake.quantize, fake.evaluate, selection(), first_attempts(LADDER, "minmax", True), tmp_path,
                    rank=lambda path: ["a", "b", "c"], compute_nodes=10, min_int8_coverage=0.8)
    assert not result.chosen.ok  # the verdict afterwards rejects it, as it should
    assert max(len(a.float_nodes) for a in fake.calls) == 2  # 8/10 must stay INT8
    assert result.chosen.value == min(o.value for o in result.outcomes)


def test_without_accuracy_control_one_attempt_only(tmp_path: Path) -> None:
    fake = FakeQuantizer({"u8s8-rr": 0.5})
    result = search(fake.quantize, fake.evaluate, selection(), first_attempts(LADDER, "minmax", False), tmp_path)
    assert len(fake.calls) == 1 and not result.chosen.ok


def test_unlabelled_calibration_is_held_to_disagreement_and_no_labels_at_all_to_cosine() -> None:
    metric, value, ok = selection(labels=False).score(damaged(0.005))
    assert metric == "top-1 disagreement %" and value == pytest.approx(0.5) and ok
    assert not selection(labels=False).score(damaged(0.02))[2]
    metric, value, ok = selection(labelled=False).score(REFERENCE * 1.0001)
    assert metric == "cosine" and value > 0.999 and ok
    assert not selection(labelled=False).score(np.where(np.isnan(REFERENCE), 0, -REFERENCE))[2]


def test_nan_outputs_never_pass() -> None:
    broken = REFERENCE.copy()
    broken[0, 0] = np.nan
    assert not selection().score(broken)[2]
    assert not selection(labels=False).score(broken)[2]


def test_an_attempt_that_fails_is_recorded_and_the_next_one_tried(tmp_path: Path) -> None:
    fake = FakeQuantizer({"u8s8-rr": 0.05, "u8u8": 0.0})

    def flaky(attempt: Attempt, path: Path) -> None:
        if attempt.recipe.name == "u8s8-rr":
            raise ValueError("autodetected range of [0.1, inf] is not finite")
        fake.quantize(attempt, path)

    result = search(flaky, fake.evaluate, selection(), first_attempts(LADDER, "minmax", True), tmp_path)
    first = result.to_dict("c")["attempts"][0]
    assert first["error"].startswith("autodetected range") and first["value"] is None and not first["within_budget"]
    assert result.chosen.attempt.recipe.name == "u8u8" and result.chosen.ok


def test_when_every_attempt_fails_the_error_surfaces(tmp_path: Path) -> None:
    def broken(attempt: Attempt, path: Path) -> None:
        raise ValueError("no kernel")

    with pytest.raises(ValueError, match="no kernel"):
        search(broken, FakeQuantizer({}).evaluate, selection(), first_attempts(LADDER, "minmax", True), tmp_path)


def test_without_labels_class_scores_are_also_held_to_the_agreement_floor() -> None:
    """The search aims at the verdict's label-free gate: cosine alone would keep an attempt that moves the top-1
    class of 5% of the inputs (mean cosine ~0.96)."""
    def label_free(min_agreement: float | None) -> Selection:
        return Selection(np.zeros((200, 4), np.float32), None, REFERENCE, max_drop=1.0, min_cosine=0.9,
                         labelled_task=False, min_agreement=min_agreement)

    metric, value, ok = label_free(None).score(damaged(0.05))
    assert metric == "cosine" and 0.9 < value < 0.99 and ok
    assert not label_free(0.99).score(damaged(0.05))[2]
    assert label_free(0.99).score(damaged(0.005))[2]
    assert label_free(0.99).criterion == "mean output cosine >= 0.9 and top-1 agreement >= 0.99 on the calibration inputs"
    assert label_free(None).criterion == "mean output cosine >= 0.9 on the calibration inputs"


def test_with_macs_known_layer_fallback_keeps_the_share_of_the_compute_and_passes_over_a_layer_too_big(tmp_path) -> None:
    """The verdict measures INT8 coverage by MACs: the search sends to float only what keeps 80% of the compute
    INT8. The most sensitive layer here is 89% of it, so it is passed over for the next ones that fit."""
    from edgekit.backends.int8_search import FloatBudget

    fake = FakeQuantizer({"u8s8-rr": 0.05, "u8u8": 0.06}, repairs={"big": 0.04, "small": 0.02, "tiny": 0.028})
    macs = FloatBudget({"big": 890, "small": 60, "tiny": 40, "head": 10}, total=1000)
    result = search(fake.quantize, fake.evaluate, selection(), first_attempts(LADDER, "minmax", True), tmp_path,
                    rank=lambda path: ["big", "small", "tiny", "head"], compute_nodes=4, min_int8_coverage=0.8,
                    macs=macs)
    assert all("big" not in a.float_nodes for a in fake.calls)
    assert result.chosen.ok and result.chosen.attempt.float_nodes == ("small", "tiny")
    # compute already float before the search counts against the same allowance
    fake = FakeQuantizer({"u8s8-rr": 0.05, "u8u8": 0.06}, repairs={"big": 0.04, "small": 0.02, "tiny": 0.028})
    search(fake.quantize, fake.evaluate, selection(), first_attempts(LADDER, "minmax", True), tmp_path,
           rank=lambda path: ["big", "small", "tiny", "head"], compute_nodes=4, min_int8_coverage=0.8,
           macs=FloatBudget({"big": 800, "small": 60, "tiny": 40, "head": 10}, total=1000, already_float=150))
    # 200 allowed - 150 already float = 50: small (60) no longer fits, tiny (40) and head (10) do
    assert max((a.float_nodes for a in fake.calls), key=len) == ("tiny", "head")
