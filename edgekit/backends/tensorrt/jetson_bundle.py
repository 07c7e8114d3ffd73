"""The TensorRT part of a bundle's deploy/ folder: what a Jetson (or any GPU host) needs to build,
verify and benchmark the engines itself, with or without edgekit installed there.

    deploy/
      run.py, runner_common.py, cuda_runtime.py, trt_build.py   # standalone: tensorrt + numpy
      model-<variant>.onnx        # FP32 ONNX (fp32/fp16 engines), QDQ INT8 ONNX (int8 engine)
      bundle.json                 # variants, build options, benchmark settings, trtexec fallback lines
      profile.json                # the full profile (edgekit build-engine rebuilds it from here)
      sample.npz, verify.npz      # real inputs + the original model's outputs (+ labels)
      jetson/check_env.sh, build_engine.sh, benchmark.sh
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.deploy import DEPLOY_DIR
from edgekit.deploy.runner_common import reference_keys

STANDALONE = ("cuda_runtime.py", "trt_build.py")
JETSON_SCRIPTS = ("check_env.sh", "build_engine.sh", "benchmark.sh")
VERIFY_BYTES = 32 << 20  # verify.npz: as many held-out inputs as fit (ResNet-18 at 224: ~50)
VERIFY_MAX = 512


def variant_onnx(root: Path, artifact: str) -> Path:
    """The ONNX a variant's engine is built from (a host-built engine keeps a copy beside it)."""
    path = root / artifact
    return path if path.suffix == ".onnx" else path.with_suffix(".onnx")


def write_tensorrt_deploy(root: Path, report: Any, reference: Any, profile: Any, input_name: str) -> None:
    from edgekit.backends.tensorrt.backend import build_options
    from edgekit.deploy.trt_build import trtexec_command

    deploy = root / "deploy"
    for name in STANDALONE:
        shutil.copy2(DEPLOY_DIR / name, deploy / name)
    (deploy / "jetson").mkdir()
    for name in JETSON_SCRIPTS:
        shutil.copy2(DEPLOY_DIR / "jetson" / name, deploy / "jetson" / name)
        (deploy / "jetson" / name).chmod(0o755)
    x = reference.inputs.x
    count = int(max(1, min(VERIFY_MAX, x.shape[0], VERIFY_BYTES // max(1, x[:1].nbytes))))
    arrays = {"x": x[:count], **{key: a[:count] for key, a in zip(reference_keys(len(reference.by_output)),
                                                                   reference.by_output.values())}}
    if reference.inputs.y is not None:
        arrays["y"] = reference.inputs.y[:count]
    np.savez(deploy / "verify.npz", **arrays)
    sample_shape = list(x.shape[1:])
    variants = []
    for v in report.variants:
        if v.status == "rejected":
            continue
        onnx = variant_onnx(root, v.artifact)
        # FP16 and FP32 engines come from the same float ONNX: ship it once, named after fp32
        target = f"model-{v.name.replace('fp16', 'fp32') if v.precision == 'fp16' else v.name}.onnx"
        if not (deploy / target).exists():
            shutil.copy2(onnx, deploy / target)
        options = build_options(profile, v.precision)
        variants.append({
            "name": v.name, "precision": v.precision, "onnx": target, "host_status": v.status,
            "engine": f"engines/model-{v.name}.plan",
            "trtexec": trtexec_command("TRTEXEC", target, f"engines/model-{v.name}.plan", options, input_name,
                                       sample_shape, weak_typing=True, timing_cache="engines/timing.cache")[1:],
            "trtexec_strongly_typed": trtexec_command("TRTEXEC", target, f"engines/model-{v.name}.plan", options,
                                                      input_name, sample_shape, weak_typing=False,
                                                      timing_cache="engines/timing.cache")[1:],
        })
    b = profile.benchmark
    info = {"schema_version": 1, "profile": profile.name, "description": profile.description,
            "input_name": input_name, "sample_shape": sample_shape, "recommended": report.recommended,
            "build": build_options(profile, "fp32").to_dict() | {"precision": None},
            "power_mode": profile.target.power_mode,
            "benchmark": {"batch_sizes": list(b.batch_sizes), "warmup": b.warmup, "iterations": b.iterations,
                          "energy_meter": b.energy_meter},
            "verify": {"max_accuracy_drop": profile.verify.max_accuracy_drop, "samples": count,
                       "reference_accuracy": report.reference.get("accuracy"),
                       "reference_runtime": report.reference.get("runtime"),
                       # every verified output by name, in the order of verify.npz's ref, ref.1, ...; the names
                       # the ONNX gives them (what the engine's outputs are called, to align by); the task
                       "outputs": list(reference.by_output), "artifact_outputs": list(reference.artifact_names),
                       "task": reference.task},
            "variants": variants}
    (deploy / "bundle.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (deploy / "profile.json").write_text(json.dumps(profile.to_dict(), indent=2) + "\n", encoding="utf-8")


def jetson_readme(report: Any, profile: Any) -> str:
    """The deploy/README.md section that walks the device side (appended to the common README)."""
    names = ", ".join(f"`{v.name}`" for v in report.variants if v.status != "rejected")
    return f"""
## TensorRT on the device ({profile.name})

The engines are not in this bundle: a TensorRT engine only runs on the GPU model and TensorRT
version that built it, so it is built on the device from the ONNX files here ({names}).
`model-*-int8.onnx` / `model-int8.onnx` is explicitly quantized (symmetric INT8 Q/DQ, checked against
TensorRT's rules when the bundle was made); FP16 and FP32 engines are built from the FP32 ONNX.

    ./jetson/check_env.sh          # JetPack/L4T, TensorRT, GPU, nvpmodel mode, jetson_clocks
    sudo nvpmodel -m <mode> && sudo jetson_clocks   # the power mode you want numbers for{f" (profile: {profile.target.power_mode})" if profile.target.power_mode else ""}
    ./jetson/build_engine.sh       # edgekit build-engine if installed, else trt_build.py, else trtexec
    ./jetson/benchmark.sh          # run.py on each engine: parity vs sample.npz, p50/p99, throughput

With edgekit installed on the device, `edgekit build-engine ..` (this bundle's root) does all of it:
builds each engine (cached by TensorRT version + compute capability + build options), checks parity
and accuracy on verify.npz against the budget, benchmarks in a fresh process (with the Jetson power
meter when the profile asks for energy) and writes `device/<gpu>/report.md`.
"""
