"""How close a variant's outputs are to the original's: top-1 agreement, errors, cosine; top-1 accuracy.

Pure numpy, used by the verdict (pipeline/verify.py) and by the INT8 search (backends/int8_search.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgekit.deploy.runner_common import row_cosine, without_padding


@dataclass(frozen=True)
class Parity:
    top1_agreement: float
    max_abs: float
    mean_abs: float
    cosine: float
    samples: int
    # every reference output row is one value repeated (all zeros, say): its top-1 is arbitrary and its cosine
    # defined only by convention (row_cosine: identical rows 1.0), so the verdict says so and leans on max-abs
    constant_reference: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.constant_reference:  # said only when it is so
            del d["constant_reference"]
        return d


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1).astype(np.float64)


def compare(reference: np.ndarray, candidate: np.ndarray, inputs: Any = None) -> Parity:
    """Parity of ``candidate`` vs ``reference``; with multi-input ``inputs`` holding an attention_mask, padded
    token positions are left out (runner_common.without_padding)."""
    reference, candidate = without_padding(inputs, reference, candidate)
    ref, out = _flat(reference), _flat(candidate)
    cosine = row_cosine(ref, out)
    diff = np.abs(ref - out)
    return Parity(top1_agreement=float(np.mean(ref.argmax(1) == out.argmax(1))), max_abs=float(diff.max()),
                  mean_abs=float(diff.mean()), cosine=float(cosine.mean()), samples=int(ref.shape[0]),
                  constant_reference=bool(np.all(ref.max(1) == ref.min(1))))


def is_class_scores(outputs: np.ndarray) -> bool:
    """Does the first output read as class scores, N x C with C >= 2 (a classifier's logits or probabilities)?
    Per-token (N x seq x H) and spatial outputs are not; their top-1 (argmax over the flattened row) means nothing.
    A pooled N x D embedding has the same shape and is counted as class scores: its profile sets
    ``verify.min_top1_agreement = 0`` (README, "Verification")."""
    return outputs.ndim == 2 and outputs.shape[1] >= 2


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    return float(np.mean(_flat(outputs).argmax(1) == labels) * 100.0)
