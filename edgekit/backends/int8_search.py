"""Accuracy-aware INT8 for QDQ ONNX (ONNX Runtime and TensorRT): try the next candidate before giving up.

When the first INT8 attempt breaks the budget on the selection split, edgekit tries, in order:
the target ISA's other recipes, the other calibration methods (percentile, entropy), then keeps
the most sensitive compute layers in float, one more at a time, until the budget holds or
``verify.min_int8_coverage`` would be broken. Layers are ranked by how much quantization error each
adds between what it reads and what it writes (relative error of its output minus that of the
dequantized input it reads, with the Q/DQ math emulated in float, all layers in one run). Keeping a
layer in float is ONNX Runtime's ``nodes_to_exclude``: its weights and its own output stay float; an
activation it shares with a quantized neighbour stays quantized, the way NNCF's accuracy control ranks them for OpenVINO.

The split that selects is the calibration data; the evaluation data, which judges the variant
afterwards, is never looked at here. With labelled evaluation data the budget is accuracy points:
measured on the calibration labels when they exist (mIoU for segmentation label maps: parity.accuracy, the
verdict's figure), else bounded by the top-1 disagreement with the FP32 model (each disagreement can cost at
most one correct answer; segmentation logits: the per-pixel agreement floor, a proxy). Without labels it is
the verdict's label-free gate: ``verify.min_cosine`` on the outputs and, for class-score outputs,
``verify.min_top1_agreement``, for segmentation logits ``verify.min_pixel_agreement`` (pipeline/verify.judge).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.int8 import Recipe
from edgekit.progress import NullProgress, Progress
from edgekit.parity import accuracy, compare, is_class_scores, segmentation_task

log = logging.getLogger(__name__)

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
RANK_SAMPLES = 64


@dataclass(frozen=True)
class Attempt:
    recipe: Recipe
    calibration_method: str
    float_nodes: tuple[str, ...] = ()

    def label(self) -> str:
        floats = f", {len(self.float_nodes)} layer(s) in float" if self.float_nodes else ""
        return f"{self.recipe.name} / {self.calibration_method}{floats}"


@dataclass
class Outcome:
    attempt: Attempt
    metric: str
    value: float
    ok: bool
    path: Path
    error: str = ""  # the quantizer or the runtime failed on this attempt (the search goes on with the next)

    @property
    def badness(self) -> float:
        """Lower is better whatever the metric (cosine is better high)."""
        value = -self.value if self.metric == "cosine" else self.value
        return value if math.isfinite(value) else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.attempt.recipe.name, "calibration_method": self.attempt.calibration_method,
                "float_layers": list(self.attempt.float_nodes), "metric": self.metric,
                "value": round(self.value, 5) if math.isfinite(self.value) else None,
                "within_budget": self.ok, **({"error": self.error} if self.error else {})}


class Selection:
    """The split that selects: calibration inputs, their labels if any, and the FP32 model's outputs on them."""

    def __init__(self, x: Any, labels: np.ndarray | None, reference: np.ndarray, *, max_drop: float,
                 min_cosine: float, labelled_task: bool, min_agreement: float | None = None,
                 segmentation: bool = False, min_pixel_agreement: float = 0.98) -> None:
        """``min_agreement``: without labels, the top-1 agreement floor (None: the outputs are not class scores).
        ``segmentation``: the outputs are N x C x H x W logits, scored per pixel as the verdict scores them (the
        pixel agreement floor ``min_pixel_agreement``; with label maps the mIoU drop)."""
        self.x, self.labels, self.reference = x, labels, reference
        self.max_drop, self.min_cosine, self.labelled_task = max_drop, min_cosine, labelled_task
        self.min_agreement = min_agreement
        self.segmentation, self.min_pixel_agreement = segmentation, min_pixel_agreement

    @property
    def criterion(self) -> str:
        pixels = f"per-pixel class agreement with the FP32 model >= {self.min_pixel_agreement:g}"
        if not self.labelled_task:
            agreement = (f" and {pixels}" if self.segmentation else
                         "" if self.min_agreement is None else f" and top-1 agreement >= {self.min_agreement:g}")
            return f"mean output cosine >= {self.min_cosine:g}{agreement} on the calibration inputs"
        if self.labels is not None:
            what = "mIoU" if self.segmentation else "accuracy"
            return f"{what} drop <= {self.max_drop:g} points on the labelled calibration data"
        if self.segmentation:
            return (f"{pixels} on the calibration inputs (they carry no label maps: a proxy for the mIoU drop, "
                    "which the verdict measures on the evaluation data)")
        return (f"top-1 disagreement with the FP32 model <= {self.max_drop:g}% on the calibration inputs "
                "(an upper bound on the accuracy drop: they carry no labels)")

    def score(self, outputs: np.ndarray) -> tuple[str, float, bool]:
        parity = compare(self.reference, outputs, self.x, segmentation=self.segmentation)
        pixels_ok = not self.segmentation or (parity.pixel_agreement is not None
                                              and parity.pixel_agreement >= self.min_pixel_agreement)
        if not self.labelled_task:
            agrees = (pixels_ok if self.segmentation else
                      self.min_agreement is None or parity.top1_agreement >= self.min_agreement)
            return "cosine", parity.cosine, math.isfinite(parity.cosine) and parity.cosine >= self.min_cosine and agrees
        if self.labels is not None:  # accuracy(): mIoU for label maps, the verdict's figure
            drop = accuracy(self.reference, self.labels) - accuracy(outputs, self.labels)
            return ("mIoU drop" if self.segmentation else "accuracy drop", drop,
                    math.isfinite(parity.max_abs) and drop <= self.max_drop)
        if self.segmentation:
            disagreement = (1.0 - (parity.pixel_agreement or 0.0)) * 100.0
            return "pixel disagreement %", disagreement, math.isfinite(parity.max_abs) and pixels_ok
        disagreement = (1.0 - parity.top1_agreement) * 100.0
        return "top-1 disagreement %", disagreement, math.isfinite(parity.max_abs) and disagreement <= self.max_drop


def selection_for(calib: Any, evald: Any, reference: np.ndarray, verify: Any, task: str | None = None) -> Selection:
    """The selection of ``calib`` (a Dataset) held to what the verdict will hold the variant to: ``evald``
    labelled: the budget (on the calibration labels when they exist); else the label-free gate of these outputs
    (class scores: top-1 agreement; segmentation logits, ``task`` or label maps say so: pixel agreement)."""
    labelled = evald is not None and evald.y is not None
    labels = calib.y if labelled else None
    segmentation = segmentation_task(task, reference, evald.y if labelled else calib.y)
    return Selection(calib.x, labels, reference, max_drop=verify.max_accuracy_drop, min_cosine=verify.min_cosine,
                     labelled_task=labelled,
                     min_agreement=verify.min_top1_agreement if is_class_scores(reference) and not segmentation else None,
                     segmentation=segmentation and reference.ndim == 4,
                     min_pixel_agreement=verify.min_pixel_agreement)


@dataclass
class SearchResult:
    chosen: Outcome
    outcomes: list[Outcome]
    ranked: list[str] = field(default_factory=list)

    def to_dict(self, criterion: str) -> dict[str, Any]:
        return {"criterion": criterion, "attempts": [o.to_dict() for o in self.outcomes],
                "chosen": self.outcomes.index(self.chosen), "float_layers": list(self.chosen.attempt.float_nodes),
                **({"sensitivity_order": self.ranked[:20]} if self.ranked else {})}


def first_attempts(ladder: tuple[Recipe, ...], method: str, accuracy_control: bool) -> list[Attempt]:
    """The ladder's recipes with the profile's calibration method, then the first recipe with the others."""
    attempts = [Attempt(ladder[0], method)]
    if accuracy_control:
        attempts += [Attempt(r, method) for r in ladder[1:]]
        attempts += [Attempt(ladder[0], m) for m in CALIBRATION_METHODS if m != method]
    return attempts


def search(quantize: Callable[[Attempt, Path], None], evaluate: Callable[[Attempt, Path], np.ndarray],
           selection: Selection,
           attempts: list[Attempt], workdir: Path, *, rank: Callable[[Path], list[str]] | None = None,
           compute_nodes: int = 0, min_int8_coverage: float = 0.8, progress: Progress | None = None,
           key: str = "int8-search", macs: FloatBudget | None = None) -> SearchResult:
    """Quantize ``attempts`` in order (then layer fallback with ``rank``) until one meets the selection budget.
    A search that goes past its first attempt shows each further attempt on its own progress line ``key``.
    ``macs``: the compute nodes' MACs, so the layers sent to float keep ``min_int8_coverage`` of the compute as the
    verdict measures it (KernelCoverage's MAC share); without it, of the ``compute_nodes``."""
    progress = progress or NullProgress()
    outcomes: list[Outcome] = []

    def attempt(a: Attempt) -> Outcome:
        path = workdir / f"attempt-{len(outcomes) + 1:02d}.onnx"
        if len(outcomes) == 1:
            progress.start(key, "INT8 over budget: trying the next candidates", None)
        if outcomes:
            progress.update(key, len(outcomes), None, f"INT8 attempt {len(outcomes) + 1}: {a.label()}")
        try:
            quantize(a, path)
            metric, value, ok = selection.score(evaluate(a, path))
        except Exception as exc:  # recorded in the report; the search goes on, and fails only if every attempt did
            error = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            log.warning("INT8 attempt %s failed: %s", a.label(), error)
            outcomes.append(Outcome(a, "error", math.inf, False, path, error))
            if all(o.error for o in outcomes) and len(outcomes) == len(attempts):
                raise
            return outcomes[-1]
        outcomes.append(Outcome(a, metric, value, ok, path))
        log.info("INT8 attempt %s: %s %.4f (%s)", a.label(), metric, value, "ok" if ok else "over budget")
        return outcomes[-1]

    try:
        return _search(attempt, outcomes, attempts, rank, compute_nodes, min_int8_coverage, macs)
    finally:
        if len(outcomes) > 1:
            progress.finish(key)


@dataclass(frozen=True)
class FloatBudget:
    """What layer fallback may send to float by compute: each searchable node's MACs, the MACs of every compute
    node of the file (those already float included) and how many of them are float before the search."""

    node_macs: dict[str, int]
    total: int
    already_float: int = 0

    def allowance(self, min_int8_coverage: float) -> float:
        return (1.0 - min_int8_coverage) * self.total - self.already_float


def float_budget(path: Path, searchable: list[str]) -> FloatBudget | None:
    """The MAC budget of the file's compute nodes (summary.compute_macs); None when any node's MACs are unknown (the
    search then budgets by node count, as the verdict then counts nodes)."""
    from edgekit.summary import compute_macs

    try:
        layers = compute_macs(path)
    except Exception:  # the verdict falls back to the node share in the same case
        return None
    if not layers or any(layer.macs is None for layer in layers):
        return None
    macs = {layer.name: int(layer.macs or 0) for layer in layers}
    wanted = set(searchable)
    return FloatBudget({n: m for n, m in macs.items() if n in wanted}, sum(macs.values()),
                       sum(m for n, m in macs.items() if n not in wanted))


def _search(attempt: Callable[[Attempt], Outcome], outcomes: list[Outcome], attempts: list[Attempt],
            rank: Callable[[Path], list[str]] | None, compute_nodes: int, min_int8_coverage: float,
            macs: FloatBudget | None = None) -> SearchResult:
    for a in attempts:
        if attempt(a).ok:
            return SearchResult(outcomes[-1], outcomes)
    best = _best(outcomes)
    if rank is None or compute_nodes == 0 or best.error:
        return SearchResult(best, outcomes)
    ranked = rank(best.path)
    floats: list[str] = []
    if macs is not None and all(n in macs.node_macs for n in ranked):
        # keep min_int8_coverage of the compute: the most sensitive layers that fit what the MACs allow go to float
        # (a big one that does not fit is passed over for the next, cheaper one)
        left = macs.allowance(min_int8_coverage)
        for node in ranked:
            if macs.node_macs[node] > left + 1e-9:
                continue
            left -= macs.node_macs[node]
            floats.append(node)
            if attempt(replace(best.attempt, float_nodes=tuple(floats))).ok:
                return SearchResult(outcomes[-1], outcomes, ranked)
        return SearchResult(_best(outcomes), outcomes, ranked)
    # keep min_int8_coverage: at most this many compute layers may fall back to float
    budget = int(math.floor((1.0 - min_int8_coverage) * compute_nodes + 1e-9))
    for node in ranked[:budget]:
        floats.append(node)
        if attempt(replace(best.attempt, float_nodes=tuple(floats))).ok:
            return SearchResult(outcomes[-1], outcomes, ranked)
    return SearchResult(_best(outcomes), outcomes, ranked)


def _best(outcomes: list[Outcome]) -> Outcome:
    """The closest to the budget; on a tie, one that ran rather than one that failed."""
    return min(outcomes, key=lambda o: (o.badness, bool(o.error)))


def compute_node_names(path: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type in COMPUTE_OPS and n.name]


def _with_outputs(path: Path, nodes: list[str]) -> tuple[bytes, dict[str, tuple[str, str]]]:
    """The model with each named compute node's first input (in a QDQ model: the dequantized value the node
    reads) and its output exposed as graph outputs."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    by_name = {n.name: n for n in model.graph.node}
    present = {o.name for o in model.graph.output}
    tensors: dict[str, tuple[str, str]] = {}
    for name in nodes:
        node = by_name.get(name)
        if node is None or not node.input or not node.output:
            continue
        tensors[name] = (node.input[0], node.output[0])
        for t in tensors[name]:
            if t not in present:
                model.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
                present.add(t)
    return model.SerializeToString(), tensors


def rank_by_sensitivity(fp32: Path, qdq: Path, x: Any, nodes: list[str], make_session: Callable[..., Any],
                        feed_of: Callable[[Any, Any], dict]) -> list[str]:
    """Compute nodes, most sensitive first: the relative quantization error each adds to its own output."""
    from edgekit.deploy.runner_common import count, take

    sample = take(x, slice(0, min(RANK_SAMPLES, count(x))))
    values = []
    for path, emulate in ((fp32, False), (qdq, True)):
        blob, tensors = _with_outputs(path, nodes)
        session = make_session(blob, emulate)
        names = [o.name for o in session.get_outputs()]
        values.append((dict(zip(names, session.run(None, feed_of(session, sample)))), tensors))
    (ref, ref_t), (q, q_t) = values

    def rel(a: np.ndarray, b: np.ndarray) -> float:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-12)) if a.shape == b.shape else 0.0

    gains = {}
    for name in nodes:
        if name in ref_t and name in q_t:
            (fi, fo), (qi, qo) = ref_t[name], q_t[name]
            gains[name] = rel(ref[fo], q[qo]) - rel(ref[fi], q[qi])
    return sorted(gains, key=lambda n: -gains[n]) + [n for n in nodes if n not in gains]
