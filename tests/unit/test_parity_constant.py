"""Identical outputs never fail parity, also when the reference is all zeros; real mismatches still do."""

from __future__ import annotations

import numpy as np

from edgekit.deploy.runner_common import parity as runner_parity
from edgekit.parity import compare
from edgekit.pipeline.verify import judge
from edgekit.profile import VerifyConfig


def _judge(reference: np.ndarray, candidate: np.ndarray):
    return judge("fp32", VerifyConfig(), accuracy_drop=None, parity=compare(reference, candidate), coverage=None,
                 class_scores=True)


def test_identical_zero_outputs_pass_and_the_verdict_says_the_reference_is_constant() -> None:
    zeros = np.zeros((8, 10), np.float32)
    p = compare(zeros, zeros.copy())
    assert p.cosine == 1.0 and p.max_abs == 0.0 and p.top1_agreement == 1.0 and p.constant_reference
    verdict = _judge(zeros, zeros.copy())
    assert verdict.status == "accepted" and "constant" in verdict.reason
    assert runner_parity(zeros, zeros.copy())["cosine"] == 1.0  # the bundle's runner uses the same rule


def test_a_constant_nonzero_reference_copied_exactly_passes() -> None:
    ref = np.full((4, 6), 3.0, np.float32)
    assert _judge(ref, ref.copy()).status == "accepted"


def test_real_mismatches_against_a_zero_reference_still_fail() -> None:
    zeros = np.zeros((8, 10), np.float32)
    other = np.random.default_rng(0).standard_normal((8, 10)).astype(np.float32)
    p = compare(zeros, other)
    assert p.cosine == 0.0 and p.constant_reference
    verdict = _judge(zeros, other)
    assert verdict.status == "rejected" and "min_cosine" in verdict.reason and "constant" in verdict.reason


def test_an_ordinary_reference_is_not_constant_and_keeps_the_top1_gate() -> None:
    ref = np.random.default_rng(1).standard_normal((16, 10)).astype(np.float32)
    shuffled = ref[:, ::-1].copy()
    assert not compare(ref, ref).constant_reference
    verdict = _judge(ref, shuffled)
    assert verdict.status == "rejected" and "top-1 agreement" in verdict.reason
