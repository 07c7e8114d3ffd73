"""Build every artifact of one model and check it (parity, INT8 execution) before timing."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.shared import parity
from benchmarks.shared.artifacts import build_edgekit
from benchmarks.shared.models import MODELS
from benchmarks.shared.peer import quantize_by_hand

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    key: str  # stable id used in tables: torch_fp32, edgekit_fp32, edgekit_int8, peer_int8
    label: str
    kind: str  # "torch" or "ort": which runner the timing worker uses
    path: Path
    size_mb: float
    parity: parity.Parity | None = None
    qlinearconv: int | None = None


@dataclass(frozen=True)
class Prepared:
    model: str
    params_m: float
    source_convs: int
    build_s: dict[str, float]
    int8_identical_to_peer: bool
    variants: tuple[Variant, ...] = field(default=())

    def variant(self, key: str) -> Variant:
        return next(v for v in self.variants if v.key == key)


def onnx_size_mb(path: Path) -> float:
    """The .onnx file plus any external-data files it references (the torch 2.13 default)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    locations = {
        entry.value
        for init in model.graph.initializer
        for entry in init.external_data
        if entry.key == "location"
    }
    return (path.stat().st_size + sum((path.parent / loc).stat().st_size for loc in locations)) / 1e6


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_model(name: str, seed: int, x: np.ndarray):
    """Seeded random weights, BatchNorm statistics estimated on the calibration photos.

    With the init-time statistics (mean 0, var 1) MobileNetV2's activations shrink layer by
    layer to ~1e-10 logits, which makes parity and INT8 ranges meaningless. Latency is the
    same either way; no pretrained weights can be downloaded here.
    """
    return with_calibrated_bn(MODELS[name], seed, x)


def with_calibrated_bn(factory, seed: int, x: np.ndarray):
    """``factory()`` seeded, its BatchNorm statistics estimated on ``x`` (see build_model), in eval mode."""
    import torch

    torch.manual_seed(seed)
    model = factory()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over all batches
    model.train()
    with torch.no_grad():
        for batch in np.array_split(x, max(1, len(x) // 16)):
            model(torch.from_numpy(batch))
    return model.eval()


def _timed(build_s: dict[str, float], key: str, fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    build_s[key] = time.perf_counter() - t0
    return result


def _ort_variant(key: str, label: str, path: Path, ref: np.ndarray, x: np.ndarray, int8: bool) -> Variant:
    par = parity.compare(ref, parity.ort_logits(path, x))
    qconv = parity.optimized_op_counts(path)["QLinearConv"] if int8 else None
    return Variant(key, label, "ort", path, onnx_size_mb(path), par, qconv)


def reference_model(name: str, calib_npz: Path, work: Path, *, seed: int):
    """The seeded model, its saved FP32 weights and its logits on the calibration images: the
    baseline every suite (ONNX Runtime, OpenVINO) builds its variants from and compares them to."""
    import torch

    x = np.load(calib_npz)["x"]
    model = build_model(name, seed, x)
    work.mkdir(parents=True, exist_ok=True)
    weights = work / "torch_fp32.pt"
    torch.save(model.state_dict(), weights)
    return x, model, weights, parity.torch_logits(model, x)


def prepare_model(name: str, calib_npz: Path, work: Path, *, seed: int) -> Prepared:
    x, model, weights, ref = reference_model(name, calib_npz, work, seed=seed)

    build_s: dict[str, float] = {}
    ek = _timed(build_s, "edgekit", build_edgekit, model, calib_npz, work / "edgekit")
    peer = _timed(build_s, "peer", quantize_by_hand, ek["fp32"], calib_npz, work / "peer")
    variants = (
        Variant("torch_fp32", "FP32 torch eager", "torch", weights, weights.stat().st_size / 1e6),
        _ort_variant("edgekit_fp32", "edgekit FP32 ORT", ek["fp32"], ref, x, int8=False),
        _ort_variant("edgekit_int8", "edgekit INT8 ORT", ek["int8"], ref, x, int8=True),
        _ort_variant("peer_int8", "peer INT8 ORT (quantize_static by hand)", peer, ref, x, int8=True),
    )
    return Prepared(
        model=name,
        params_m=sum(p.numel() for p in model.parameters()) / 1e6,
        source_convs=parity.source_conv_count(ek["fp32"]),
        build_s=build_s,
        int8_identical_to_peer=_sha256(ek["int8"]) == _sha256(peer),
        variants=variants,
    )
