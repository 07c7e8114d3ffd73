"""Pruned and sparsified ONNX Runtime artifacts through edgekit's public API, and their checks.

One ``edgekit.compress(model, "cpu-onnxruntime", prune=edgekit.prune_config(...))`` call per
pruning setting gives four artifacts: the unpruned FP32 / INT8 and the pruned FP32 / INT8
(variants ``fp32``, ``int8``, ``pruned-fp32``, ``pruned-int8``). ResNet-18 gets a second call
for unstructured sparsity; its unpruned artifacts must be byte-identical to the first call's
(same weights, deterministic export and quantization), so the first call's are the baseline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.shared import parity
from benchmarks.shared.artifacts import INPUT_SHAPE, PROFILE
from benchmarks.shared.models import MODELS
from benchmarks.shared.prepare import build_model, onnx_size_mb

log = logging.getLogger(__name__)

STRUCTURED_RATIO = 0.5  # share of channels removed (uniform, L2, the profile's rounding)
UNSTRUCTURED_RATIO = 0.8  # share of weights zeroed (ResNet-18 only)
EXPORT_COSINE_MIN = 0.9999  # pruned FP32 ONNX vs the reloaded pruned torch module


@dataclass(frozen=True)
class PVariant:
    """One timed artifact; has the fields ``timing.time_all`` needs (key, kind, path)."""

    key: str  # dense_fp32, dense_int8, pruned_fp32, pruned_int8, sparse_fp32, sparse_int8
    label: str
    family: str  # dense | pruned | sparse
    precision: str  # fp32 | int8
    path: Path
    size_mb: float
    zip_mb: float  # the .onnx (+ external data) deflated, as zip does
    weight_zeros: float  # share of exact zeros in the Conv/Gemm weight tensors of the ONNX file
    qlinearconv: int | None  # INT8: QLinearConv in ORT's optimised graph
    source_convs: int  # Conv nodes of the FP32 ONNX of the same family
    kind: str = "ort"


@dataclass(frozen=True)
class ExportCheck:
    """Does the pruned model export cleanly? ONNX checker, pickle-free reload, ORT == torch."""

    checker_error: str | None
    reload_error: str | None
    pt2_error: str | None
    parity: parity.Parity | None
    rejected: list[str] = field(default_factory=list)  # edgekit variants marked rejected

    @property
    def passed(self) -> bool:
        return (self.checker_error is None and self.reload_error is None and self.pt2_error is None
                and not self.rejected and self.parity is not None
                and self.parity.top1_agreement == 1.0 and self.parity.cosine_min >= EXPORT_COSINE_MIN)

    def describe(self) -> str:
        parts = ["onnx.checker (full) OK" if self.checker_error is None else f"onnx.checker: {self.checker_error}"]
        parts.append("reload via edgekit.load_pruned (weights_only) OK" if self.reload_error is None
                     else f"reload: {self.reload_error}")
        parts.append(".pt2 saved" if self.pt2_error is None else f".pt2: {self.pt2_error}")
        if self.parity is not None:
            p = self.parity
            parts.append(f"ORT FP32 vs pruned torch: top-1 {p.top1_agreement:.0%}, cosine min {p.cosine_min:.6f}, "
                         f"max abs diff {p.max_abs_diff:.1e}")
        if self.rejected:
            parts.append(f"edgekit rejected {', '.join(self.rejected)}")
        return "; ".join(parts)


@dataclass(frozen=True)
class PruneRun:
    """One ``edgekit.compress(..., prune=cfg)`` call."""

    mode: str
    ratio: float
    config: str  # the PruneConfig, as edgekit.prune_config resolved it
    round_to: int  # kept channels are multiples of this (the profile's [prune] round_to)
    summary: dict[str, Any]  # edgekit's report.pruning (totals, ratios, zipped weights, ...)
    onnx_counts: dict[str, dict[str, int]]  # {"before"|"after": {"params", "macs"}} from edgekit.inspect_model
    nonzero_params: dict[str, int]  # {"before"|"after": parameters that are not exactly 0}
    export: ExportCheck
    build_s: float
    artifacts: dict[str, Path]  # edgekit variant name -> path
    head_only: dict[str, Any] | None = None  # structured: edgekit.prune summary with only the head kept whole


@dataclass(frozen=True)
class PruningModel:
    model: str
    variants: tuple[PVariant, ...]
    structured: PruneRun
    unstructured: PruneRun | None = None
    dense_identical: bool | None = None  # unstructured run's fp32/int8 == structured run's, byte for byte

    def variant(self, key: str) -> PVariant:
        return next(v for v in self.variants if v.key == key)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def zip_mb(path: Path) -> float:
    """Deflated size of the .onnx file and any external-data files it references."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    files = [path] + sorted({path.parent / e.value for i in model.graph.initializer for e in i.external_data
                             if e.key == "location"})
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.writestr(f.name, f.read_bytes())
    return packed.tell() / 1e6


def weight_zero_share(path: Path) -> float:
    """Exact zeros among the Conv/Gemm/MatMul weight initializers (FP32 or the INT8 QDQ weights)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    # In a QDQ file a Conv's weight input is a DequantizeLinear output: follow it to the int8 tensor.
    dq = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    zeros = total = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2:
            continue
        name = dq.get(node.input[1], node.input[1])
        if name in inits:
            w = numpy_helper.to_array(inits[name])
            zeros += int((w == 0).sum())
            total += w.size
    return zeros / total if total else 0.0


def _counts(path: Path) -> dict[str, int]:
    import edgekit

    s = edgekit.inspect_model(str(path))
    return {"params": int(s.params), "macs": int(s.macs)}


def _nonzero(module: Any) -> int:
    return int(sum(int((p != 0).sum()) for p in module.parameters()))


def _prune_stage_dir(out_dir: Path) -> Path:
    found = sorted((out_dir / "stages").glob("*-prune"))
    if len(found) != 1:
        raise RuntimeError(f"expected one prune stage directory under {out_dir / 'stages'}, found {found}")
    return found[0]


def _export_check(name: str, report: Any, out_dir: Path, fp32_onnx: Path, x: np.ndarray) -> tuple[ExportCheck, Any]:
    import edgekit
    import onnx

    try:
        onnx.checker.check_model(str(fp32_onnx), full_check=True)
        checker_error = None
    except Exception as exc:  # reported, not raised: "exports cleanly" is a verdict
        checker_error = str(exc).splitlines()[0][:200]
    stage = _prune_stage_dir(out_dir)
    files = report.pruning.get("files", {})
    module, reload_error, par = None, None, None
    try:
        module = edgekit.load_pruned(MODELS[name], stage / files["architecture"], stage / files["state_dict"])
    except Exception as exc:
        reload_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    if module is not None:
        par = parity.compare(parity.torch_logits(module, x), parity.ort_logits(fp32_onnx, x))
    rejected = [v.name for v in report.variants if v.status != "accepted"]
    return ExportCheck(checker_error, reload_error, report.pruning.get("pt2_error"), par, rejected), module


def run_compress(name: str, model: Any, calib_npz: Path, out_dir: Path, *, mode: str, ratio: float,
                 x: np.ndarray) -> PruneRun:
    import edgekit

    cfg = edgekit.prune_config(PROFILE, ratio=ratio, mode=mode)
    t0 = time.perf_counter()
    report = edgekit.compress(
        model, PROFILE, calib_data=str(calib_npz), out_dir=str(out_dir), prune=cfg,
        # batch_sizes=[1]: compress's own latency table; the suite times everything itself
        options=edgekit.RunOptions(input_shape=INPUT_SHAPE, force=True, batch_sizes=[1]),
    )
    build_s = time.perf_counter() - t0
    paths = {v.name: out_dir / v.artifact for v in report.variants}
    missing = {"fp32", "int8", "pruned-fp32", "pruned-int8"} - paths.keys()
    if missing or report.pruning is None:
        raise RuntimeError(f"edgekit report lacks variant(s) {sorted(missing)} or its pruning section")
    export, module = _export_check(name, report, out_dir, paths["pruned-fp32"], x)
    log.info("%s %s %.0f%%: params %.3f, MACs %.3f of unpruned; export %s (%.0f s)", name, mode, ratio * 100,
             report.pruning["ratios"]["params"], report.pruning["ratios"]["macs"],
             "clean" if export.passed else "NOT clean", build_s)
    return PruneRun(
        mode=mode, ratio=ratio, config=repr(cfg), round_to=cfg.round_to, summary=report.pruning,
        onnx_counts={"before": _counts(paths["fp32"]), "after": _counts(paths["pruned-fp32"])},
        nonzero_params={"before": _nonzero(model), "after": _nonzero(module) if module is not None else -1},
        export=export, build_s=build_s, artifacts=paths,
    )


_LABELS = {"dense": "unpruned", "pruned": f"{STRUCTURED_RATIO:.0%} channels removed",
           "sparse": f"{UNSTRUCTURED_RATIO:.0%} unstructured sparsity"}


def _variant(family: str, precision: str, path: Path, fp32_path: Path) -> PVariant:
    int8 = precision == "int8"
    return PVariant(
        key=f"{family}_{precision}", label=f"{_LABELS[family]} {precision.upper()}", family=family,
        precision=precision, path=path, size_mb=onnx_size_mb(path), zip_mb=zip_mb(path),
        weight_zeros=weight_zero_share(path),
        qlinearconv=parity.optimized_op_counts(path)["QLinearConv"] if int8 else None,
        source_convs=parity.source_conv_count(fp32_path),
    )


def prune_head_only(model: Any, x: np.ndarray) -> dict[str, Any]:
    """The same structured pruning with only the classifier head kept whole (the stem pruned too):
    not timed, it shows what keeping the stem whole (edgekit's default) costs in MACs."""
    import edgekit
    import torch
    from torch import nn

    heads = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1:]
    cfg = edgekit.prune_config(PROFILE, ratio=STRUCTURED_RATIO, ignored_layers=heads)
    return edgekit.prune(model, torch.zeros(INPUT_SHAPE), cfg, calib_x=x).summary


def prepare_pruning(name: str, calib_npz: Path, work: Path, *, seed: int, unstructured: bool) -> PruningModel:
    x = np.load(calib_npz)["x"]
    model = build_model(name, seed, x)
    s = run_compress(name, model, calib_npz, work / "structured", mode="structured", ratio=STRUCTURED_RATIO, x=x)
    s = dataclasses.replace(s, head_only=prune_head_only(model, x))
    a = s.artifacts
    variants = [_variant("dense", "fp32", a["fp32"], a["fp32"]), _variant("dense", "int8", a["int8"], a["fp32"]),
                _variant("pruned", "fp32", a["pruned-fp32"], a["pruned-fp32"]),
                _variant("pruned", "int8", a["pruned-int8"], a["pruned-fp32"])]
    u, identical = None, None
    if unstructured:
        u = run_compress(name, model, calib_npz, work / "unstructured", mode="unstructured",
                         ratio=UNSTRUCTURED_RATIO, x=x)
        b = u.artifacts
        identical = all(_sha256(a[k]) == _sha256(b[k]) for k in ("fp32", "int8"))
        if not identical:
            log.warning("%s: the unstructured run's unpruned artifacts differ from the structured run's; "
                        "the structured run's are the baseline for both", name)
        variants += [_variant("sparse", "fp32", b["pruned-fp32"], b["pruned-fp32"]),
                     _variant("sparse", "int8", b["pruned-int8"], b["pruned-fp32"])]
    return PruningModel(name, tuple(variants), s, u, identical)
