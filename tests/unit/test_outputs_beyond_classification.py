"""Verification beyond one classification output (issue 17 item 3): the mIoU math (hand-computed), the ignore
index, the bilinear upsampling, per-output parity and the verdict on each output, segmentation labels, and the
runner's every-output check."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.data import Dataset
from edgekit.deploy import runner_common as common
from edgekit.errors import DataError
from edgekit.parity import (IGNORE_INDEX, accuracy, compare, metric_name, segmentation_metrics,
                            segmentation_predictions, upsample_bilinear)
from edgekit.pipeline.verify import (CLASS_SCORES, GATE_ACCURACY, GATE_AGREEMENT, GATE_COSINE, GATE_PIXEL, OTHER,
                                     SEGMENTATION_MAP, OutputCheck, Reference, align_outputs, check_labels,
                                     compare_outputs, judge, no_labels_warning)
from edgekit.profile import VerifyConfig

CFG = VerifyConfig()


def one_hot_logits(classes_map: np.ndarray, classes: int) -> np.ndarray:
    """N x C x H x W logits whose argmax is ``classes_map`` (N x H x W)."""
    return np.moveaxis(np.eye(classes, dtype=np.float32)[classes_map], -1, 1)


# --- the mIoU math -------------------------------------------------------------------------------------------------

def test_miou_and_pixel_accuracy_match_a_hand_computed_example() -> None:
    labels = np.array([[[0, 0], [1, 2]]])
    predicted = np.array([[[0, 1], [1, 1]]])
    scores = segmentation_metrics(one_hot_logits(predicted, 4), labels)
    # class 0: I=1, U=2 -> 0.5; class 1: I=1, U=3 -> 1/3; class 2: I=0, U=1 -> 0; class 3 absent from both: left out
    assert scores["per_class_iou"][:3] == pytest.approx([50.0, 100 / 3, 0.0], abs=1e-3)
    assert scores["per_class_iou"][3] is None and scores["classes_present"] == 3
    assert scores["mIoU"] == pytest.approx((0.5 + 1 / 3 + 0.0) / 3 * 100)
    assert scores["pixel_accuracy"] == pytest.approx(50.0)
    assert accuracy(one_hot_logits(predicted, 4), labels) == pytest.approx(scores["mIoU"])  # the metric of label maps


def test_iou_is_summed_over_the_whole_set_not_averaged_per_image() -> None:
    labels = np.array([[[0, 0]], [[1, 1]]])
    predicted = np.array([[[0, 1]], [[1, 1]]])
    scores = segmentation_metrics(one_hot_logits(predicted, 2), labels)
    # class 0: I=1, U=2; class 1: I=2, U=3 (over both images)
    assert scores["mIoU"] == pytest.approx((1 / 2 + 2 / 3) / 2 * 100)


def test_the_ignore_index_leaves_pixels_out_of_every_count() -> None:
    labels = np.array([[[0, IGNORE_INDEX], [1, IGNORE_INDEX]]])
    predicted = np.array([[[0, 2], [1, 1]]])  # wrong on the ignored pixels only
    scores = segmentation_metrics(one_hot_logits(predicted, 3), labels)
    assert scores["mIoU"] == pytest.approx(100.0) and scores["pixel_accuracy"] == pytest.approx(100.0)
    assert scores["pixels"] == 2 and scores["per_class_iou"][2] is None  # class 2 predicted only where ignored


def test_logits_smaller_than_the_labels_are_upsampled_bilinearly_like_torch() -> None:
    import torch

    logits = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    ours = upsample_bilinear(logits, (16, 13))
    theirs = torch.nn.functional.interpolate(torch.from_numpy(logits), size=(16, 13), mode="bilinear",
                                             align_corners=False).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    assert segmentation_predictions(logits, (16, 13)).shape == (2, 16, 13)
    np.testing.assert_array_equal(segmentation_predictions(logits, (16, 13)), theirs.argmax(1))
    assert upsample_bilinear(logits, (4, 5)) is logits  # already the label size


def test_the_metric_is_named_after_the_labels() -> None:
    assert metric_name(np.zeros(3, dtype=np.int64)) == "top-1 accuracy"
    assert metric_name(np.zeros((3, 4, 4), dtype=np.int64)) == "mIoU"
    assert metric_name("semantic-segmentation") == "mIoU"


# --- per-output parity and the verdict --------------------------------------------------------------------------

def two_output_reference(task: str | None = None) -> Reference:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    by_output = {"logits": rng.standard_normal((16, 5)).astype(np.float32),
                 "embedding": rng.standard_normal((16, 6, 4)).astype(np.float32)}
    return Reference(Dataset(x), by_output["logits"], "test", by_output, ("output", "output_embedding"), task=task)


def test_every_output_is_compared_and_a_broken_second_output_is_rejected_by_name() -> None:
    ref = two_output_reference()
    good = [ref.by_output["logits"] + 1e-4, ref.by_output["embedding"] * 1.001]
    checks = compare_outputs(ref, good)
    assert [(c.name, c.kind) for c in checks] == [("logits", CLASS_SCORES), ("embedding", OTHER)]
    verdict = judge("int8", CFG, accuracy_drop=None, parity=checks[0].parity, coverage=None, class_scores=True,
                    others=tuple(checks[1:]), primary_name="logits")
    assert verdict.status == "accepted" and verdict.gate == GATE_AGREEMENT and "embedding cosine" in verdict.reason

    broken = [good[0], -ref.by_output["embedding"]]
    checks = compare_outputs(ref, broken)
    verdict = judge("int8", CFG, accuracy_drop=None, parity=checks[0].parity, coverage=None, class_scores=True,
                    others=tuple(checks[1:]), primary_name="logits")
    assert verdict.status == "rejected"
    assert "output 'embedding': outputs' mean cosine" in verdict.reason and "(gate: cosine)" in verdict.reason
    assert "'logits'" not in verdict.reason  # the primary passed


def test_with_labels_the_other_outputs_are_still_held_to_parity() -> None:
    ref = two_output_reference()
    checks = compare_outputs(ref, [ref.by_output["logits"], np.zeros_like(ref.by_output["embedding"])])
    verdict = judge("fp32", CFG, accuracy_drop=0.0, parity=checks[0].parity, coverage=None, class_scores=True,
                    others=tuple(checks[1:]), primary_name="logits")
    assert verdict.status == "rejected" and verdict.gate == GATE_ACCURACY and "output 'embedding'" in verdict.reason


def test_a_feature_extractor_is_held_to_cosine_on_every_output_never_top1() -> None:
    ref = two_output_reference(task="feature-extraction")
    assert ref.kind("logits") == OTHER and not ref.class_scores  # a pooled N x D embedding is not class scores
    shuffled = [ref.by_output["logits"] * 0.999, ref.by_output["embedding"]]
    checks = compare_outputs(ref, shuffled)
    verdict = judge("fp32", CFG, accuracy_drop=None, parity=checks[0].parity, coverage=None,
                    class_scores=ref.class_scores, others=tuple(checks[1:]), primary_name="logits")
    assert verdict.status == "accepted" and verdict.gate == GATE_COSINE
    assert "feature extractor" in no_labels_warning(CFG, ref) and "each of the 2 outputs" in no_labels_warning(CFG, ref)


def test_outputs_listed_in_another_order_are_put_back_in_the_selection_order() -> None:
    a, b = np.zeros(2), np.ones(2)
    assert align_outputs(["output_embedding", "output"], [b, a], ("output", "output_embedding")) == [a, b]
    assert align_outputs(["output", "output_embedding"], [a, b], ("output", "output_embedding")) == [a, b]
    assert align_outputs(["x", "y"], [a, b], ("output", "output_embedding")) == [a, b]  # other names: as written


# --- segmentation: gates and labels -----------------------------------------------------------------------------

def segmentation_reference(labels: np.ndarray | None = None, task: str | None = None) -> Reference:
    logits = np.random.default_rng(2).standard_normal((4, 3, 8, 8)).astype(np.float32)
    x = np.zeros((4, 3, 16, 16), dtype=np.float32)
    return Reference(Dataset(x, labels), logits, "test", task=task)


def test_segmentation_without_labels_is_held_to_pixel_agreement() -> None:
    ref = segmentation_reference(task="semantic-segmentation")
    assert ref.segmentation and ref.kind("output") == SEGMENTATION_MAP and ref.metric == "mIoU"
    flipped = ref.outputs.copy()
    flipped[0] = flipped[0, ::-1]  # one image of four with its classes swapped: ~75% of pixels agree
    checks = compare_outputs(ref, [flipped])
    assert checks[0].parity.pixel_agreement is not None and checks[0].parity.pixel_agreement < 0.9
    verdict = judge("int8", CFG, accuracy_drop=None, parity=checks[0].parity, coverage=None, segmentation=True)
    assert verdict.status == "rejected" and verdict.gate == GATE_PIXEL and "per-pixel class agreement" in verdict.reason
    same = judge("fp32", CFG, accuracy_drop=None, parity=compare_outputs(ref, [ref.outputs])[0].parity,
                 coverage=None, segmentation=True)
    assert same.status == "accepted" and "pixel agreement 100.0%" in same.reason
    assert "min_pixel_agreement" in no_labels_warning(CFG, ref)


def test_label_maps_make_it_segmentation_and_the_budget_is_on_miou() -> None:
    labels = np.random.default_rng(3).integers(0, 3, (4, 16, 16))
    ref = segmentation_reference(labels)
    assert ref.segmentation and ref.metric == "mIoU" and ref.classes == 3
    assert ref.describe()["metric"] == "mIoU" and ref.describe()["pixel_accuracy"] is not None
    verdict = judge("int8", CFG, accuracy_drop=5.0, parity=compare(ref.outputs, ref.outputs), coverage=None,
                    segmentation=True, metric="mIoU")
    assert verdict.status == "rejected" and "mIoU drop 5.00 points exceeds the budget" in verdict.reason


def test_segmentation_labels_are_checked() -> None:
    logits = np.zeros((2, 3, 4, 4), dtype=np.float32)
    fine = np.full((2, 8, 8), IGNORE_INDEX)
    fine[:, :4] = 2
    check_labels(Dataset(np.zeros((2, 1)), fine, source="seg.npz"), 3, True, logits)  # 255 = ignore
    bad = fine.copy()
    bad[0, 0, 0] = 7
    with pytest.raises(DataError, match=r"seg.npz must hold class indices in \[0, 3\).*values: 7"):
        check_labels(Dataset(np.zeros((2, 1)), bad, source="seg.npz"), 3, True, logits)
    with pytest.raises(DataError, match="one label per sample.*N x H x W map"):
        check_labels(Dataset(np.zeros((2, 1)), np.array([0, 1]), source="seg.npz"), 3, True, logits)
    with pytest.raises(DataError, match="per-pixel labels need N x C x H x W logits"):
        check_labels(Dataset(np.zeros((2, 1)), fine, source="cls.npz"), 10, False, np.zeros((2, 10)))


def test_label_maps_keep_their_shape_when_read() -> None:
    from edgekit.data import _finish

    data = _finish(np.zeros((2, 3, 4, 4), dtype=np.float32), np.zeros((2, 4, 4), dtype=np.uint8), "m.npz", None)
    assert data.y.shape == (2, 4, 4) and data.y.dtype == np.int64
    assert _finish(np.zeros((2, 3), dtype=np.float32), np.zeros((2, 1), dtype=np.int64), "c.npz", None).y.shape == (2,)


# --- the deploy runner checks every output ------------------------------------------------------------------------

def test_the_runner_reads_and_compares_every_reference_output() -> None:
    arrays = {"x": np.zeros(2), "ref": np.ones((2, 3)), "ref.1": np.ones((2, 4)), "y": np.zeros(2)}
    refs = common.pop_references(arrays)
    assert [r.shape for r in refs] == [(2, 3), (2, 4)] and set(arrays) == {"x", "y"}
    assert common.reference_keys(3) == ["ref", "ref.1", "ref.2"]
    checked = common.parity_all([np.ones((2, 3)), -np.ones((2, 4))], refs)
    assert checked[0]["cosine"] == pytest.approx(1.0) and checked[1]["cosine"] == pytest.approx(-1.0)
    with pytest.raises(SystemExit, match="1 output"):
        common.parity_all([np.ones((2, 3))], refs)


def test_run_in_chunks_concatenates_every_output() -> None:
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    outs = common.run_in_chunks(lambda chunk: [chunk * 2, chunk[:, :0] + 1], x, batch_size=3)
    assert isinstance(outs, list) and outs[0].shape == (10, 1) and outs[1].shape == (10, 0)
    np.testing.assert_array_equal(outs[0], x * 2)
    padded = common.run_in_chunks(lambda chunk: [chunk, chunk + 1], x, fixed=4)
    np.testing.assert_array_equal(padded[1], x + 1)
    assert isinstance(common.run_in_chunks(lambda chunk: chunk, x, batch_size=3), np.ndarray)  # one output: as before


def test_output_check_defaults() -> None:
    check = OutputCheck("a", compare(np.ones((2, 2)), np.ones((2, 2))))
    assert check.kind == OTHER
