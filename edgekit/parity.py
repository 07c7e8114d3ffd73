"""How close a variant's outputs are to the original's: top-1 agreement, errors, cosine, per-pixel agreement; the
task metric against labels: top-1 accuracy, or mIoU and pixel accuracy for semantic segmentation.

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
    # segmentation logits (N x C x H x W): share of pixels whose argmax class matches the original's (None: not asked)
    pixel_agreement: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.constant_reference:  # said only when it is so
            del d["constant_reference"]
        if self.pixel_agreement is None:
            del d["pixel_agreement"]
        return d


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1).astype(np.float64)


def compare(reference: np.ndarray, candidate: np.ndarray, inputs: Any = None, *, segmentation: bool = False) -> Parity:
    """Parity of ``candidate`` vs ``reference``; with multi-input ``inputs`` holding an attention_mask, padded
    token positions are left out (runner_common.without_padding). ``segmentation``: the outputs are N x C x H x W
    logits, and the per-pixel argmax agreement is measured too."""
    reference, candidate = without_padding(inputs, reference, candidate)
    ref, out = _flat(reference), _flat(candidate)
    cosine = row_cosine(ref, out)
    diff = np.abs(ref - out)
    pixels = (float(np.mean(reference.argmax(1) == candidate.argmax(1)))
              if segmentation and reference.ndim == 4 and reference.shape == candidate.shape else None)
    return Parity(top1_agreement=float(np.mean(ref.argmax(1) == out.argmax(1))), max_abs=float(diff.max()),
                  mean_abs=float(diff.mean()), cosine=float(cosine.mean()), samples=int(ref.shape[0]),
                  constant_reference=bool(np.all(ref.max(1) == ref.min(1))), pixel_agreement=pixels)


def is_class_scores(outputs: np.ndarray) -> bool:
    """Does the first output read as class scores, N x C with C >= 2 (a classifier's logits or probabilities)?
    Per-token (N x seq x H) and spatial outputs are not; their top-1 (argmax over the flattened row) means nothing.
    A pooled N x D embedding has the same shape and is counted as class scores: its profile sets
    ``verify.min_top1_agreement = 0`` (README, "Verification")."""
    return outputs.ndim == 2 and outputs.shape[1] >= 2


def is_segmentation(outputs: np.ndarray, labels: np.ndarray | None = None) -> bool:
    """N x C x H x W logits; with ``labels``, also N x H' x W' label maps (one class index per pixel)."""
    return outputs.ndim == 4 and outputs.shape[1] >= 2 and (labels is None or labels.ndim == 3)


def segmentation_task(task: str | None, outputs: np.ndarray, labels: np.ndarray | None) -> bool:
    """Semantic segmentation: the task says so (``--task semantic-segmentation``, a SegFormer-like folder), or no
    task is known and the outputs are N x C x H x W logits with N x H x W label maps."""
    if task == SEGMENTATION:
        return True
    return task is None and labels is not None and is_segmentation(outputs, labels)


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """The task metric in percent: top-1 accuracy for one label per sample; mIoU for per-pixel label maps
    (``segmentation_metrics``)."""
    if labels.ndim == 3:
        return segmentation_metrics(outputs, labels)["mIoU"]
    return float(np.mean(_flat(outputs).argmax(1) == labels) * 100.0)


def metric_name(labels_or_task: Any) -> str:
    """The name of ``accuracy()``'s figure for these labels (an array) or this task (a string)."""
    if isinstance(labels_or_task, str):
        return "mIoU" if labels_or_task == SEGMENTATION else "top-1 accuracy"
    return "mIoU" if getattr(labels_or_task, "ndim", 1) == 3 else "top-1 accuracy"


# --- semantic segmentation, the Hugging Face convention (transformers' semantic-segmentation post-processing and
# the `evaluate` mean_iou metric): logits smaller than the label map (SegFormer's are H/4 x W/4) are upsampled
# bilinearly, align_corners=False, to the label size before the argmax; label 255 is "ignore" (void / boundary
# pixels); IoU per class over the whole set (intersections and unions summed over the images), the mean over the
# classes present in the labels or the predictions (a class absent from both has no IoU and is left out)

SEGMENTATION = "semantic-segmentation"
IGNORE_INDEX = 255


def _resize_weights(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of a bilinear resize along one axis, align_corners=False (torch's formula:
    src = (dst + 0.5) * in / out - 0.5, clamped at 0)."""
    scale = size_in / size_out
    src = np.maximum((np.arange(size_out, dtype=np.float64) + 0.5) * scale - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    return low, high, (src - low).astype(np.float32)


def upsample_bilinear(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``logits`` (C x h x w or N x C x h x w) resized to ``size`` (H, W): bilinear, align_corners=False, as
    torch.nn.functional.interpolate; unchanged when already that size."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    y0, y1, wy = _resize_weights(logits.shape[-2], size[0])
    x0, x1, wx = _resize_weights(logits.shape[-1], size[1])
    rows = logits[..., y0, :] * (1 - wy)[:, None] + logits[..., y1, :] * wy[:, None]
    return rows[..., x0] * (1 - wx) + rows[..., x1] * wx


def segmentation_predictions(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """N x H x W class indices: each sample's logits upsampled to ``size``, then the argmax over classes (one
    sample at a time: N x C x H x W float upsampled at once can be gigabytes)."""
    return np.stack([upsample_bilinear(np.asarray(s, dtype=np.float32), size).argmax(0) for s in logits])


def segmentation_metrics(logits: np.ndarray, labels: np.ndarray, ignore_index: int = IGNORE_INDEX) -> dict[str, Any]:
    """mIoU and pixel accuracy in percent of N x C x h x w ``logits`` against N x H x W ``labels``, with the
    per-class IoU (None for a class absent from labels and predictions) and the class count."""
    classes = int(logits.shape[1])
    predicted = segmentation_predictions(logits, tuple(labels.shape[-2:]))
    keep = labels != ignore_index
    truth, guess = labels[keep].astype(np.int64), predicted[keep].astype(np.int64)
    confusion = np.bincount(truth * classes + guess, minlength=classes * classes).reshape(classes, classes)
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    present = union > 0
    iou = np.where(present, intersection / np.maximum(union, 1), np.nan)
    pixels = int(keep.sum())
    return {"mIoU": float(np.nanmean(iou) * 100.0) if present.any() else 0.0,
            "pixel_accuracy": float(intersection.sum() / pixels * 100.0) if pixels else 0.0,
            "per_class_iou": [None if np.isnan(v) else round(float(v) * 100.0, 4) for v in iou],
            "classes_present": int(present.sum()), "pixels": pixels}
