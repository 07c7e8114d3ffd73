"""The validation split distillation selects on: held out of the training data, disjoint, seeded; never eval data."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.data import Dataset
from edgekit.distill.config import DistillConfig
from edgekit.distill.split import MIN_HELD_OUT, check_not_eval, held_out_indices, selection_split
from edgekit.errors import DataError


def numbered(n: int, labels: bool = True) -> Dataset:
    """Samples whose single pixel is their index: which samples went where can be read back from x."""
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)
    return Dataset(x, np.arange(n) % 10 if labels else None, source="train.npz")


def ids(data: Dataset) -> set[int]:
    return {int(v) for v in data.x.reshape(-1)}


def test_the_held_out_share_is_disjoint_from_the_training_samples_and_seeded() -> None:
    data = numbered(500)
    split = selection_split(data, None, 0.1, seed=3, use_labels=True)
    trained, held = ids(split.train), ids(split.val)
    assert len(held) == 50 and len(trained) == 450
    assert trained.isdisjoint(held) and trained | held == set(range(500))
    np.testing.assert_array_equal(split.val.y, split.val.x.reshape(-1).astype(int) % 10)  # labels follow samples
    again = selection_split(data, None, 0.1, seed=3, use_labels=True)
    assert ids(again.val) == held and np.array_equal(again.train.x, split.train.x)  # deterministic by seed
    assert ids(selection_split(data, None, 0.1, seed=4, use_labels=True).val) != held  # another seed, another share
    assert held != set(range(450, 500)) and held != set(range(50))  # drawn at random, not a slice
    info = split.info
    assert info["name"] == "held-out 10% of the training data" and info["samples"] == 50
    assert info["metric"] == "val_accuracy" and info["seed"] == 3
    train_idx, held_idx = held_out_indices(500, 0.1, 3)
    assert sorted(held_idx) == sorted(int(v) for v in split.val.x.reshape(-1)) and len(train_idx) == 450


def test_without_labels_the_share_selects_on_agreement_with_the_teacher() -> None:
    unlabelled = selection_split(numbered(300, labels=False), None, 0.2, seed=0, use_labels=True)
    assert unlabelled.val.y is None and unlabelled.info["metric"] == "val_agreement"
    ignored = selection_split(numbered(300), None, 0.2, seed=0, use_labels=False)  # --kd-no-labels
    assert ignored.val.y is None and ignored.train.y is not None and ignored.info["metric"] == "val_agreement"


def test_too_little_training_data_holds_nothing_out_and_says_why() -> None:
    small = numbered(100)
    split = selection_split(small, None, 0.1, seed=0, use_labels=True)  # 10 < MIN_HELD_OUT
    assert split.val is None and split.train is small and split.info["name"] is None
    assert f"fewer than {MIN_HELD_OUT}" in split.info["reason"]
    assert "--val-fraction is 0" in selection_split(numbered(500), None, 0.0, 0, True).info["reason"]


def test_given_validation_data_is_used_as_is_and_all_training_data_trains() -> None:
    train, val = numbered(500), Dataset(np.full((30, 1, 1, 1), -1, np.float32), np.zeros(30, int), source="v.npz")
    split = selection_split(train, val, 0.1, seed=0, use_labels=True)
    assert split.train is train and split.val is val
    assert split.info == {"name": "validation data (--val-data)", "source": "v.npz", "samples": 30, "labels": True,
                          "metric": "val_accuracy"}


def test_the_evaluation_data_is_refused_as_validation_data() -> None:
    evald = numbered(40)
    with pytest.raises(DataError, match="validation data is the evaluation data"):
        check_not_eval(Dataset(evald.x.copy(), evald.y), evald)
    check_not_eval(numbered(41), evald)
    check_not_eval(None, evald)


@pytest.mark.parametrize("fraction", [-0.1, 0.6, float("nan")])
def test_a_bad_validation_share_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match="validation share"):
        DistillConfig(val_fraction=fraction)


def test_the_split_is_part_of_what_a_checkpoint_matches() -> None:
    assert DistillConfig().result_fields()["val_fraction"] == 0.1
    assert DistillConfig(val_fraction=0.2).result_fields() != DistillConfig().result_fields()
