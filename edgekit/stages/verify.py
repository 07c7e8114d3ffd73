"""Verification of a variant against the FP32 original: parity, accuracy, INT8 execution.

A variant is rejected, never silently reported, when it breaks the accuracy budget or when
an INT8 file does not run INT8 kernels (an INT8 file that runs as float is not a variant).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgekit.backends.base import KernelCoverage
from edgekit.deploy.runner_common import without_padding
from edgekit.profile import VerifyConfig


@dataclass(frozen=True)
class Parity:
    top1_agreement: float
    max_abs: float
    mean_abs: float
    cosine: float
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1).astype(np.float64)


def compare(reference: np.ndarray, candidate: np.ndarray, inputs: Any = None) -> Parity:
    """Parity of ``candidate`` vs ``reference``; with multi-input ``inputs`` holding an attention_mask, padded
    token positions are left out (runner_common.without_padding)."""
    reference, candidate = without_padding(inputs, reference, candidate)
    ref, out = _flat(reference), _flat(candidate)
    denom = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
    cosine = np.sum(ref * out, axis=1) / np.maximum(denom, 1e-12)
    diff = np.abs(ref - out)
    return Parity(top1_agreement=float(np.mean(ref.argmax(1) == out.argmax(1))), max_abs=float(diff.max()),
                  mean_abs=float(diff.mean()), cosine=float(cosine.mean()), samples=int(ref.shape[0]))


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    return float(np.mean(_flat(outputs).argmax(1) == labels) * 100.0)


@dataclass(frozen=True)
class Verdict:
    status: str  # "accepted" | "rejected"
    reason: str


def judge(precision: str, cfg: VerifyConfig, *, accuracy_drop: float | None, parity: Parity,
          coverage: KernelCoverage | None) -> Verdict:
    problems = []
    if not (math.isfinite(parity.max_abs) and math.isfinite(parity.cosine)):
        problems.append("outputs contain NaN or Inf")
    # without labels, output parity is the budget; with labels accuracy is (a distilled student's logits
    # legitimately differ from the teacher's: cosine 0.83 at the same top-1)
    if accuracy_drop is None and math.isfinite(parity.cosine) and parity.cosine < cfg.min_cosine:
        problems.append(f"outputs' mean cosine to the original {parity.cosine:.4f} is below min_cosine "
                        f"{cfg.min_cosine:g}")
    if accuracy_drop is not None and accuracy_drop > cfg.max_accuracy_drop:
        problems.append(f"accuracy drop {accuracy_drop:.2f} points exceeds the budget of {cfg.max_accuracy_drop:g}")
    if precision == "int8" and coverage is not None:
        if coverage.int8_nodes == 0:
            problems.append("no INT8 kernel runs in ONNX Runtime's optimised graph: the file would execute as float")
        elif coverage.ratio < cfg.min_int8_coverage:
            floats = f"; in float: {coverage.describe_float()}" if coverage.float_layers else ""
            problems.append(f"only {coverage.int8_nodes}/{coverage.int8_nodes + coverage.float_nodes} compute nodes "
                            f"run INT8 ({coverage.ratio:.0%} < min_int8_coverage {cfg.min_int8_coverage:.0%}){floats}")
    if problems:
        return Verdict("rejected", "; ".join(problems))
    if accuracy_drop is None:
        return Verdict("accepted", "no labels: accuracy budget not checked "
                                   f"(top-1 agreement with the original {parity.top1_agreement:.1%})")
    return Verdict("accepted", f"accuracy drop {accuracy_drop:.2f} <= {cfg.max_accuracy_drop:g} points")
