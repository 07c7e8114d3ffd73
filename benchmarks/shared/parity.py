"""Output parity against FP32 torch, and proof that an INT8 file runs INT8 kernels.

FIELD-NOTES: an INT8 artifact that exports is not an INT8 artifact that runs INT8; the
check is the number of QLinearConv nodes in ONNX Runtime's *optimised* graph.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Parity:
    top1_agreement: float
    cosine_mean: float
    cosine_min: float
    max_abs_diff: float


def _session(path: Path, optimized_to: Path | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # the "hardware-specific optimisations" notice on save is expected
    if optimized_to is not None:
        so.optimized_model_filepath = str(optimized_to)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_logits(path: Path, x: np.ndarray) -> np.ndarray:
    sess = _session(path)
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])


def torch_logits(model, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return np.concatenate([model(torch.from_numpy(x[i : i + 1])).numpy() for i in range(len(x))])


def compare(ref: np.ndarray, got: np.ndarray) -> Parity:
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    return Parity(
        top1_agreement=float((ref.argmax(1) == got.argmax(1)).mean()),
        cosine_mean=float(cos.mean()),
        cosine_min=float(cos.min()),
        max_abs_diff=float(np.abs(ref - got).max()),
    )


def optimized_op_counts(path: Path) -> Counter:
    """Op types of the graph ONNX Runtime actually runs (after ORT_ENABLE_ALL fusion)."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        opt = Path(tmp) / "optimized.onnx"
        _session(path, optimized_to=opt)
        graph = onnx.load(str(opt), load_external_data=False).graph
    return Counter(node.op_type for node in graph.node)


def source_conv_count(path: Path) -> int:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(node.op_type == "Conv" for node in graph.node)
