"""Parity metrics and the accept/reject verdict for a variant."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgekit.backends.base import KernelCoverage
from edgekit.profile import VerifyConfig
from edgekit.data import Dataset
from edgekit.parity import Parity, accuracy, compare, is_class_scores
from edgekit.pipeline.verify import (GATE_ACCURACY, GATE_AGREEMENT, GATE_COSINE, Reference, judge,
                                     no_labels_warning)

CFG = VerifyConfig(max_accuracy_drop=1.0, min_int8_coverage=0.8)
GOOD_PARITY = Parity(top1_agreement=0.99, max_abs=0.05, mean_abs=0.01, cosine=0.999, samples=100)
FULL_INT8 = KernelCoverage(int8_nodes=4, float_nodes=0, by_op={"QLinearConv": 2, "QGemm": 2})


# --- compare / accuracy -------------------------------------------------------------------

def test_compare_known_values():
    ref = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    out = np.array([[1.0, 0.0], [1.0, 0.0], [3.0, 4.5]])
    p = compare(ref, out)
    assert p.samples == 3
    assert p.max_abs == pytest.approx(2.0)
    assert p.mean_abs == pytest.approx((0 + 0 + 1 + 2 + 0 + 0.5) / 6)
    # per-row cosine: 1, 0 (orthogonal), (9 + 18) / (5 * sqrt(29.25))
    expected_cos = (1.0 + 0.0 + 27.0 / (5.0 * math.sqrt(29.25))) / 3
    assert p.cosine == pytest.approx(expected_cos)
    assert p.top1_agreement == pytest.approx(2 / 3)
    assert p.to_dict() == {"top1_agreement": p.top1_agreement, "max_abs": p.max_abs, "mean_abs": p.mean_abs,
                           "cosine": p.cosine, "samples": 3}


def test_compare_identical_and_scaled():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((16, 10)).astype(np.float32)
    same = compare(ref, ref.copy())
    assert same.max_abs == 0.0 and same.mean_abs == 0.0
    assert same.cosine == pytest.approx(1.0) and same.top1_agreement == 1.0
    scaled = compare(ref, 2 * ref)  # same direction, same argmax, different magnitude
    assert scaled.cosine == pytest.approx(1.0) and scaled.top1_agreement == 1.0
    assert scaled.max_abs == pytest.approx(float(np.abs(ref).max()))
    negated = compare(ref, -ref)
    assert negated.cosine == pytest.approx(-1.0)


def test_compare_flattens_spatial_outputs():
    ref = np.zeros((2, 3, 2, 2))
    ref[0, 0, 0, 0] = ref[1, 2, 1, 1] = 1.0
    out = ref.copy()
    out[1, 2, 1, 1] = 0.0
    out[1, 0, 0, 1] = 1.0
    p = compare(ref, out)
    assert p.top1_agreement == 0.5 and p.cosine == pytest.approx(0.5)


def test_compare_zero_rows_do_not_divide_by_zero():
    p = compare(np.zeros((2, 3)), np.zeros((2, 3)))
    assert p.cosine == 1.0 and np.isfinite(p.cosine)  # identical (zero) rows agree fully (runner_common.row_cosine)


def test_accuracy_in_percent(eval_arrays):
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert accuracy(logits, np.array([1, 0, 0, 0])) == pytest.approx(75.0)
    assert accuracy(logits, np.array([0, 1, 0, 1])) == 0.0
    _, y = eval_arrays
    one_hot = np.eye(10)[y]
    assert accuracy(one_hot, y) == 100.0


def test_digits_model_parity_against_itself(digits_model, eval_arrays):
    import torch

    x, y = eval_arrays
    with torch.no_grad():
        out = digits_model(torch.from_numpy(x)).numpy()
    assert accuracy(out, y) > 95.0  # the trained teacher is genuinely good on held-out digits
    assert compare(out, out).top1_agreement == 1.0


# --- judge --------------------------------------------------------------------------------

def test_within_budget_is_accepted():
    v = judge("int8", CFG, accuracy_drop=0.4, parity=GOOD_PARITY, coverage=FULL_INT8)
    assert v.status == "accepted" and "0.40" in v.reason


def test_drop_equal_to_budget_is_accepted():
    assert judge("fp32", CFG, accuracy_drop=1.0, parity=GOOD_PARITY, coverage=None).status == "accepted"


def test_negative_drop_is_accepted():
    assert judge("int8", CFG, accuracy_drop=-0.5, parity=GOOD_PARITY, coverage=FULL_INT8).status == "accepted"


def test_budget_exceeded_is_rejected():
    v = judge("int8", CFG, accuracy_drop=1.01, parity=GOOD_PARITY, coverage=FULL_INT8)
    assert v.status == "rejected"
    assert "accuracy drop 1.01" in v.reason and "budget of 1" in v.reason


def test_fp32_budget_exceeded_is_rejected_too():
    assert judge("fp32", CFG, accuracy_drop=3.0, parity=GOOD_PARITY, coverage=None).status == "rejected"


def test_int8_that_runs_as_float_is_rejected():
    coverage = KernelCoverage(int8_nodes=0, float_nodes=4, by_op={"Conv": 2, "Gemm": 2})
    v = judge("int8", CFG, accuracy_drop=0.0, parity=GOOD_PARITY, coverage=coverage)
    assert v.status == "rejected"
    assert "execute as float" in v.reason


def test_low_int8_coverage_is_rejected():
    coverage = KernelCoverage(int8_nodes=2, float_nodes=3)
    v = judge("int8", CFG, accuracy_drop=0.0, parity=GOOD_PARITY, coverage=coverage)
    assert v.status == "rejected"
    assert "only 2/5" in v.reason and "40%" in v.reason and "80%" in v.reason


def test_coverage_at_threshold_is_accepted():
    coverage = KernelCoverage(int8_nodes=4, float_nodes=1)
    assert judge("int8", CFG, accuracy_drop=0.0, parity=GOOD_PARITY, coverage=coverage).status == "accepted"


def test_coverage_is_ignored_for_fp32():
    coverage = KernelCoverage(int8_nodes=0, float_nodes=4)
    assert judge("fp32", CFG, accuracy_drop=0.0, parity=GOOD_PARITY, coverage=coverage).status == "accepted"


def test_every_problem_is_reported():
    coverage = KernelCoverage(int8_nodes=0, float_nodes=4)
    v = judge("int8", CFG, accuracy_drop=5.0, parity=GOOD_PARITY, coverage=coverage)
    assert v.status == "rejected"
    assert "accuracy drop" in v.reason and "execute as float" in v.reason


def test_no_labels_is_accepted_with_a_note():
    v = judge("int8", CFG, accuracy_drop=None, parity=GOOD_PARITY, coverage=FULL_INT8)
    assert v.status == "accepted"
    assert "no labels" in v.reason and "99.0%" in v.reason


def test_no_labels_still_rejects_int8_running_as_float():
    v = judge("int8", CFG, accuracy_drop=None, parity=GOOD_PARITY, coverage=KernelCoverage(0, 4))
    assert v.status == "rejected"


# BUG: judge() never looks at parity. Without labels (calibration data only, or unlabelled eval
# data) a variant whose outputs are NaN -- max_abs and cosine NaN, top-1 agreement ~chance -- is
# "accepted" and can be recommended. Non-finite outputs should always reject.

def test_nan_outputs_are_rejected_even_without_labels():
    ref = np.random.default_rng(0).standard_normal((8, 10))
    parity = compare(ref, np.full_like(ref, np.nan))
    assert math.isnan(parity.max_abs)
    v = judge("int8", CFG, accuracy_drop=None, parity=parity, coverage=FULL_INT8)
    assert v.status == "rejected"


def test_kernel_coverage_ratio_and_dict():
    cov = KernelCoverage(3, 1, {"QGemm": 1, "QLinearConv": 2, "Conv": 1})
    assert cov.ratio == 0.75
    # no MACs known: the gate is on the node share (basis "nodes"); int8-coverage-macs
    assert cov.to_dict() == {"int8_nodes": 3, "float_nodes": 1, "ratio": 0.75, "basis": "nodes", "int8_macs": None,
                             "float_macs": None, "node_ratio": 0.75, "macs_ratio": None,
                             "by_op": {"Conv": 1, "QGemm": 1, "QLinearConv": 2}, "float_layers": []}
    assert KernelCoverage(0, 0).ratio == 0.0


# --- parity floor without labels, padded tokens -------------------------------------------

DRIFTED = Parity(top1_agreement=0.75, max_abs=6.3, mean_abs=0.4, cosine=0.48, samples=16)


def test_low_cosine_without_labels_is_rejected():
    v = judge("int8", CFG, accuracy_drop=None, parity=DRIFTED, coverage=FULL_INT8)
    assert v.status == "rejected" and "0.4800 is below min_cosine 0.9" in v.reason
    assert judge("int8", CFG, accuracy_drop=None, parity=GOOD_PARITY, coverage=FULL_INT8).status == "accepted"


def test_with_labels_the_accuracy_budget_rules_not_the_cosine():
    # a distilled student's logits differ in scale from the teacher's at the same top-1
    assert judge("fp32", CFG, accuracy_drop=0.2, parity=DRIFTED, coverage=None).status == "accepted"


def test_padded_token_positions_are_left_out_of_parity():
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0]])
    ref = np.random.default_rng(0).standard_normal((2, 4, 3))
    out = ref.copy()
    out[mask == 0] = 100.0  # what a model computes at padded positions is never used
    inputs = {"input_ids": np.zeros((2, 4), np.int64), "attention_mask": mask}
    assert compare(ref, out, inputs).cosine == pytest.approx(1.0) and compare(ref, out, inputs).max_abs == 0.0
    assert compare(ref, out).cosine < 0.5  # without the mask the padding dominates
    pooled = ref[:, 0]  # an output that is not per token is compared whole
    assert compare(pooled, pooled + 1.0, inputs).max_abs == pytest.approx(1.0)


def test_coverage_rejection_names_the_layers_that_stayed_float():
    floats = tuple({"name": f"conv{i}", "op": "GroupConvolution", "reason": "runs f32 here"} for i in range(6))
    v = judge("int8", CFG, accuracy_drop=0.0, parity=GOOD_PARITY, coverage=KernelCoverage(4, 6, {}, floats))
    assert v.status == "rejected" and "conv0 (GroupConvolution: runs f32 here)" in v.reason and "2 more" in v.reason


# --- the top-1 agreement gate without labels (class-score outputs) ------------------------

# the INT8 photos: cosine just over the floor, top-1 changed on 22% of inputs
COSINE_ONLY_PASS = Parity(top1_agreement=0.78, max_abs=2.1, mean_abs=0.3, cosine=0.905, samples=500)


def test_class_scores_without_labels_are_held_to_the_agreement_floor():
    v = judge("int8", CFG, accuracy_drop=None, parity=COSINE_ONLY_PASS, coverage=FULL_INT8, class_scores=True)
    assert v.status == "rejected" and v.gate == GATE_AGREEMENT == "cosine + top-1 agreement"
    assert "top-1 agreement with the original 78.0% is below min_top1_agreement 99.0%" in v.reason
    assert v.reason.endswith("(gate: cosine + top-1 agreement)")


def test_agreement_at_the_floor_is_accepted_and_the_reason_names_both_gates():
    at_floor = Parity(top1_agreement=CFG.min_top1_agreement, max_abs=0.1, mean_abs=0.01, cosine=0.95, samples=100)
    v = judge("int8", CFG, accuracy_drop=None, parity=at_floor, coverage=FULL_INT8, class_scores=True)
    assert v.status == "accepted" and v.gate == GATE_AGREEMENT
    assert "held to cosine + top-1 agreement" in v.reason and "99.0% >= 99.0%" in v.reason
    assert "accuracy budget not checked" in v.reason


def test_outputs_that_are_not_class_scores_keep_the_cosine_gate_only():
    v = judge("int8", CFG, accuracy_drop=None, parity=COSINE_ONLY_PASS, coverage=FULL_INT8, class_scores=False)
    assert v.status == "accepted" and v.gate == GATE_COSINE
    assert "not gated: the outputs are not class scores" in v.reason


def test_with_labels_the_agreement_floor_does_not_apply():
    v = judge("int8", CFG, accuracy_drop=0.5, parity=COSINE_ONLY_PASS, coverage=FULL_INT8, class_scores=True)
    assert v.status == "accepted" and v.gate == GATE_ACCURACY and v.reason == "accuracy drop 0.50 <= 1 points"
    over = judge("int8", CFG, accuracy_drop=1.5, parity=COSINE_ONLY_PASS, coverage=FULL_INT8, class_scores=True)
    assert over.status == "rejected" and "top-1 agreement" not in over.reason and "(gate: accuracy budget)" in over.reason


def test_a_looser_profile_floor_is_honoured():
    loose = VerifyConfig(min_top1_agreement=0.75)
    assert judge("int8", loose, accuracy_drop=None, parity=COSINE_ONLY_PASS, coverage=FULL_INT8,
                 class_scores=True).status == "accepted"


@pytest.mark.parametrize(("shape", "expected"), [((8, 10), True), ((8, 2), True), ((8, 1), False),
                                                 ((8, 16, 384), False), ((8, 3, 4, 4), False), ((8,), False)])
def test_class_scores_are_two_dimensional_with_two_or_more_columns(shape, expected):
    assert is_class_scores(np.zeros(shape, np.float32)) is expected


def test_the_no_labels_warning_names_the_gates_that_applied():
    x = Dataset(np.zeros((4, 1, 8, 8), np.float32), None, "eval.npz")
    classifier = no_labels_warning(CFG, Reference(x, np.zeros((4, 10), np.float32), "torch eager"))
    assert "cosine + top-1 agreement" in classifier and "verify.min_top1_agreement 0.99" in classifier
    assert "verify.min_cosine 0.9" in classifier and "1-point accuracy budget" in classifier
    tokens = no_labels_warning(CFG, Reference(x, np.zeros((4, 16, 384), np.float32), "torch eager"))
    assert "top-1 agreement is not a gate" in tokens and "[16, 384]" in tokens
