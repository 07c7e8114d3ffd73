"""Build and check every OpenVINO artifact of one model before timing.

(a) FP32 torch eager; (b) edgekit's FP32 IR and (c) INT8 IR from one
``edgekit.compress(model, "x86-openvino", ...)`` call; (d) the peer: edgekit's FP32 ONNX through
``ov.convert_model`` + ``nncf.quantize`` by hand with the same calibration images; (b') the FP32 IR
again at the CPU's default precision (bf16 on AVX-512 BF16 CPUs), an extra row.

Checks: parity vs (a) and what the CPU plugin really runs (``runtimePrecision`` of every
Convolution / FullyConnected / MatMul in the compiled runtime model: FIELD-NOTES, an INT8 IR
that loads is not an INT8 IR that runs INT8).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.shared import parity
from benchmarks.openvino.worker import ov_config
from benchmarks.shared.prepare import reference_model

log = logging.getLogger(__name__)

PROFILE = "x86-openvino"
INPUT_SHAPE = (1, 3, 224, 224)
THREADS = 2
COMPUTE_LAYERS = frozenset({"Convolution", "GroupConvolution", "FullyConnected", "MatMul", "Deconvolution"})
INT8 = frozenset({"u8", "i8"})


@dataclass(frozen=True)
class OvVariant:
    key: str  # torch_fp32, ov_fp32, ov_fp32_default, edgekit_int8, peer_int8
    label: str
    kind: str  # "torch" or "ov:<precision>": the worker's runner (timing.Timed)
    path: Path
    size_mb: float
    parity: parity.Parity | None = None
    layers: Counter | None = None  # "layer:runtimePrecision" of the compute layers, OpenVINO only

    @property
    def int8_layers(self) -> int:
        return sum(n for k, n in (self.layers or {}).items() if k.rsplit(":", 1)[1] in INT8)

    @property
    def compute_layers(self) -> int:
        return sum((self.layers or {}).values())

    def layers_text(self) -> str:
        return ", ".join(f"{k} {n}" for k, n in sorted((self.layers or {}).items())) or "–"


@dataclass(frozen=True)
class OvPrepared:
    model: str
    params_m: float
    build_s: dict[str, float]
    fake_quantize: dict[str, int]  # FakeQuantize nodes in the edgekit / peer INT8 IR
    identical_int8: bool
    compress_report_p50: dict[str, float]  # edgekit's own compress report, batch 1 (profile threads)
    edgekit_quantization: dict
    variants: tuple[OvVariant, ...] = field(default=())

    def variant(self, key: str) -> OvVariant:
        return next(v for v in self.variants if v.key == key)


def ir_size_mb(xml: Path) -> float:
    return (xml.stat().st_size + xml.with_suffix(".bin").stat().st_size) / 1e6


def _ir_sha(xml: Path) -> str:
    h = hashlib.sha256(xml.read_bytes())
    h.update(xml.with_suffix(".bin").read_bytes())
    return h.hexdigest()


def _compiled(path: Path, precision: str):
    import openvino as ov

    return ov.Core().compile_model(str(path), "CPU", ov_config(THREADS, precision))


def ov_logits(path: Path, x: np.ndarray, precision: str) -> np.ndarray:
    request = _compiled(path, precision).create_infer_request()
    return np.concatenate([np.array(request.infer([x[i:i + 1]])[0]) for i in range(len(x))])


def runtime_layers(path: Path, precision: str) -> Counter:
    """``{"Convolution:u8": n, ...}``: compute layers by the precision the CPU plugin runs them in."""
    counts: Counter = Counter()
    for op in _compiled(path, precision).get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        if layer in COMPUTE_LAYERS:
            prec = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"
            counts[f"{layer}:{prec}"] += 1
    return counts


def fake_quantize_count(xml: Path) -> int:
    import openvino as ov

    return sum(op.get_type_name() == "FakeQuantize" for op in ov.Core().read_model(str(xml)).get_ordered_ops())


def exported_onnx(out_dir: Path) -> Path:
    """edgekit's FP32 ONNX inside the bundle. The Report names only the final variants' artifacts, so
    the export stage's file is found through manifest.json (stages/<index>-<step>/<output path>)."""
    manifest = json.loads((out_dir / "manifest.json").read_text())
    for stage in manifest["stages"]:
        if stage["step"] == "export" and stage["output"]["format"] == "onnx":
            path = out_dir / "stages" / f"{stage['index']:02d}-{stage['step']}" / stage["output"]["path"]
            if hashlib.sha256(path.read_bytes()).hexdigest() != stage["output"]["sha256"]:
                raise RuntimeError(f"{path} does not match the sha256 its manifest records")
            return path
    raise RuntimeError(f"no ONNX export stage in {out_dir / 'manifest.json'}")


def build_edgekit(model, calib_npz: Path, out_dir: Path):
    """One ``edgekit.compress`` call: the FP32 and INT8 IRs (and its report)."""
    import edgekit

    # batch_sizes=[1]: compress also benchmarks every variant; the profile's batch 8 only costs time here.
    report = edgekit.compress(model, PROFILE, calib_data=str(calib_npz), out_dir=str(out_dir),
                              options=edgekit.RunOptions(input_shape=INPUT_SHAPE, force=True, batch_sizes=[1]))
    names = {v.name for v in report.variants}
    if not {"fp32", "int8"} <= names:
        raise RuntimeError(f"edgekit report has variants {sorted(names)}, expected fp32 and int8")
    return report


def quantize_by_hand(fp32_onnx: Path, calib_npz: Path, out_dir: Path) -> Path:
    """The peer: what an engineer who knows OpenVINO writes without edgekit (NNCF defaults)."""
    import nncf
    import openvino as ov

    x = np.load(calib_npz)["x"]
    model = ov.convert_model(str(fp32_onnx))
    quantized = nncf.quantize(model, nncf.Dataset([x[i:i + 1] for i in range(len(x))]), subset_size=len(x))
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "model_int8.xml"
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    log.info("peer INT8 (nncf.quantize by hand) -> %s", out)
    return out


def _ov_variant(key: str, label: str, path: Path, precision: str, ref: np.ndarray, x: np.ndarray) -> OvVariant:
    par = parity.compare(ref, ov_logits(path, x, precision))
    return OvVariant(key, label, f"ov:{precision}", path, ir_size_mb(path), par, runtime_layers(path, precision))


def prepare_openvino(name: str, calib_npz: Path, work: Path, *, seed: int) -> OvPrepared:
    x, model, weights, ref = reference_model(name, calib_npz, work, seed=seed)

    build_s: dict[str, float] = {}
    t0 = time.perf_counter()
    report = build_edgekit(model, calib_npz, work / "edgekit")
    build_s["edgekit"] = time.perf_counter() - t0
    bundle = work / "edgekit"
    fp32_ir = bundle / report.variant("fp32").artifact
    int8_ir = bundle / report.variant("int8").artifact
    t0 = time.perf_counter()
    peer_ir = quantize_by_hand(exported_onnx(bundle), calib_npz, work / "peer")
    build_s["peer"] = time.perf_counter() - t0

    variants = (
        OvVariant("torch_fp32", "FP32 torch eager", "torch", weights, weights.stat().st_size / 1e6),
        _ov_variant("ov_fp32", "edgekit FP32 IR, f32", fp32_ir, "f32", ref, x),
        _ov_variant("edgekit_int8", "edgekit INT8 IR, f32 hint", int8_ir, "f32", ref, x),
        _ov_variant("peer_int8", "peer INT8 IR (nncf.quantize by hand), f32 hint", peer_ir, "f32", ref, x),
        _ov_variant("ov_fp32_default", "edgekit FP32 IR, CPU default precision (extra row)", fp32_ir, "auto",
                    ref, x),
    )
    return OvPrepared(
        model=name,
        params_m=sum(p.numel() for p in model.parameters()) / 1e6,
        build_s=build_s,
        fake_quantize={"edgekit": fake_quantize_count(int8_ir), "peer": fake_quantize_count(peer_ir)},
        identical_int8=_ir_sha(int8_ir) == _ir_sha(peer_ir),
        compress_report_p50={v.name: v.latency_ms["batch_1"]["p50"] for v in report.variants if v.latency_ms},
        edgekit_quantization={k: v for k, v in (report.variant("int8").quantization or {}).items() if k != "config"},
        variants=variants,
    )
