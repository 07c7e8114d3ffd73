"""The split distillation selects on (keep-best, early stopping), never the one that judges the variants.

The evaluation data decides whether a variant is accepted; choosing the kept epoch on it too would
make that accuracy optimistic. So the loop selects on ``--val-data`` when given, else on a seeded
held-out share of the training data (``DistillConfig.val_fraction``), which it then does not train on.
Light: numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.data import Dataset
from edgekit.errors import DataError

# fewer held-out samples than this select on noise (one sample = 5 points): then nothing is held out
MIN_HELD_OUT = 20


@dataclass(frozen=True)
class Selection:
    train: Dataset  # the samples the student trains on
    val: Dataset | None  # the samples keep-best and patience select on; None: nothing selects (last weights)
    info: dict[str, Any]  # for the report: which split, its size, the metric, or why there is none

    @classmethod
    def none(cls, train: Dataset, reason: str) -> Selection:
        """No validation split: every sample trains and the last epoch's weights are kept."""
        return cls(train, None, {"name": None, "samples": 0, "metric": None, "reason": reason})


def held_out_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) sample indices, disjoint and sorted; the same for the same (n, fraction, seed)."""
    held = round(n * fraction)
    order = np.random.default_rng((seed % 2**32, 0x5E1EC7)).permutation(n)
    return np.sort(order[held:]), np.sort(order[:held])


def _take(data: Dataset, index: np.ndarray, labels: bool, source: str) -> Dataset:
    return Dataset(data.x[index], data.y[index] if labels and data.y is not None else None, source)


def _describe(name: str, val: Dataset, **extra: Any) -> dict[str, Any]:
    labels = val.y is not None
    return {"name": name, "source": val.source, "samples": len(val), "labels": labels,
            "metric": "val_accuracy" if labels else "val_agreement", **extra}


def selection_split(train: Dataset, val: Dataset | None, fraction: float, seed: int, use_labels: bool) -> Selection:
    """The training samples and the validation split: ``val`` as given, else a held-out share of ``train``
    (its labels when ``use_labels``; without labels the student is selected on top-1 agreement with the
    teacher), else none when the share would be too small to select on."""
    if val is not None:
        return Selection(train, val, _describe("validation data (--val-data)", val))
    n = len(train)
    keep, held = held_out_indices(n, fraction, seed)
    if fraction > 0 and len(held) >= MIN_HELD_OUT:
        share = _take(train, held, use_labels, f"{train.source} (held out)")
        return Selection(_take(train, keep, True, train.source), share,
                         _describe(f"held-out {fraction:.0%} of the training data", share, seed=seed))
    why = ("--val-fraction is 0" if fraction <= 0 else
           f"{n} training samples x {fraction:g} leave {len(held)} to hold out, fewer than {MIN_HELD_OUT}")
    return Selection.none(train, why)


def check_not_eval(val: Dataset | None, evald: Dataset | None) -> None:
    """Validation data that is the evaluation data would select on what judges: refused."""
    if val is None or evald is None or val.multi_input or evald.multi_input:
        return
    if val.x.shape == evald.x.shape and np.array_equal(val.x, evald.x):
        raise DataError("The validation data is the evaluation data: the epoch kept would be chosen on the data "
                        "that then judges the variant, and its accuracy would be optimistic.",
                        "Pass a separate --val-data, or drop it to hold out a share of the training data "
                        "(--val-fraction).")
