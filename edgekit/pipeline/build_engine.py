"""`edgekit build-engine BUNDLE`: on the device, turn a TensorRT bundle's ONNX files into engines,
verify each against the original model's outputs and benchmark it, with the device recorded.

Engines are cached in ``BUNDLE/deploy/engines/<key>/`` where the key hashes the ONNX, the TensorRT
version, the GPU's compute capability and the build options: a second run (or another variant sharing
an ONNX and options) reuses the engine; a new JetPack/TensorRT or another GPU builds a new one. The
report goes to ``BUNDLE/device/<gpu>-trt<version>/`` (report.json, report.md, report.html, plots/, environment.json),
written to a temp dir and renamed like every edgekit output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.artifact import Artifact, Format, sha256_path
from edgekit.pipeline.bundle import staged_output
from edgekit.data import Dataset
from edgekit.errors import BackendUnavailableError, ModelNotFoundError, PipelineError
from edgekit.hardware import detect
from edgekit.profile import Profile
from edgekit.progress import NullProgress, Progress
from edgekit.report.schema import Report
from edgekit.report.speed import unstable_warnings


def _load_bundle(bundle: Path) -> tuple[dict[str, Any], Profile]:
    from edgekit.profile import profile_from_dict

    deploy = bundle / "deploy"
    info_path = deploy / "bundle.json"
    if not info_path.is_file():
        raise ModelNotFoundError(f"{bundle} is not a TensorRT bundle: {info_path} does not exist.",
                                 "Make one with `edgekit compress MODEL --profile jetson-orin-nano ... --out BUNDLE` "
                                 "(any tensorrt profile, see `edgekit profiles list`).")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    profile = profile_from_dict(json.loads((deploy / "profile.json").read_text(encoding="utf-8")),
                                str(deploy / "profile.json"))
    return info, profile


def _reference(deploy: Path, info: dict[str, Any]) -> Any:
    from edgekit.pipeline.verify import Reference

    from edgekit.deploy.runner_common import pop_references

    with np.load(deploy / "verify.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    x, refs, y = arrays["x"].astype(np.float32), pop_references(arrays) or [], arrays.get("y")
    names = info["verify"].get("outputs") or [f"output{'' if i == 0 else f'_{i}'}" for i in range(len(refs))]
    return Reference(Dataset(x, y, source=str(deploy / "verify.npz")), refs[0],
                     runtime=info["verify"].get("reference_runtime") or "original model",
                     by_output=dict(zip(names, refs)), task=info["verify"].get("task"),
                     artifact_names=tuple(info["verify"].get("artifact_outputs") or ()))


def device_slug(env: dict[str, Any]) -> str:
    name = f"{env.get('gpu', 'gpu')}-trt{env.get('tensorrt', '')}"
    return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]+", "-", name)).strip("-").lower() or "device"


def _engine_for(deploy: Path, variant: dict[str, Any], profile: Profile, env: dict[str, Any],
                log: Any) -> tuple[Path, bool]:
    """The cached engine of this variant on this device, built when missing; (path, reused)."""
    from edgekit.backends.tensorrt.backend import build_options
    from edgekit.deploy.trt_build import BuildError, build_engine, check_engine_matches, engine_key

    onnx = deploy / variant["onnx"]
    options = build_options(profile, variant["precision"])
    key = engine_key(sha256_path(onnx), env["tensorrt"], env["compute_capability"], options)
    plan = deploy / "engines" / key / f"model-{variant['name']}.plan"
    if plan.exists() and check_engine_matches(plan, env["tensorrt"], env["compute_capability"]) is None:
        return plan, True
    try:
        build_engine(onnx, plan, options, timing_cache=deploy / "engines" / "timing.cache", log=log)
    except BuildError as exc:
        raise PipelineError(f"Building the {variant['name']} engine failed: {exc}",
                            "Check the profile's TensorRT settings in deploy/profile.json.") from exc
    return plan, False


def build_engines(bundle: str | Path, *, variants: tuple[str, ...] = (), force: bool = False,
                  progress: Progress | None = None, backend: Any = None) -> Report:
    """Build, verify and benchmark the engines of a TensorRT bundle on this machine (its GPU)."""
    from edgekit.backends.tensorrt.backend import TensorRTBackend
    from edgekit.deploy import trt_build
    from edgekit.pipeline.verify import recommend, verify_and_bench

    bundle = Path(bundle)
    info, profile = _load_bundle(bundle)
    deploy = bundle / "deploy"
    chosen = [v for v in info["variants"] if not variants or v["name"] in variants]
    missing = sorted(set(variants) - {v["name"] for v in info["variants"]})
    if missing:
        raise PipelineError(f"No variant(s) {missing} in {deploy / 'bundle.json'}.",
                            f"This bundle has: {', '.join(v['name'] for v in info['variants'])}.")
    backend = backend or TensorRTBackend()
    if not backend.can_build:
        raise BackendUnavailableError(
            f"Cannot build TensorRT engines on this machine: {backend.host}.",
            "Run this on the Jetson/GPU the bundle is for, with TensorRT installed (JetPack ships it; on x86 "
            "pip install 'edgekit[tensorrt]'); without TensorRT's Python bindings, deploy/jetson/build_engine.sh "
            "falls back to trtexec.")
    progress = progress or NullProgress()
    env = trt_build.environment()
    out = bundle / "device" / device_slug(env)
    reference = _reference(deploy, info)
    warnings = []
    expected = profile.target.power_mode
    if expected and env.get("jetson") and expected.lower() not in str(env.get("nvpmodel", "")).lower():
        warnings.append(f"The profile's numbers are meant for power mode {expected}; this device is in "
                        f"{env.get('nvpmodel')}. Set it with sudo nvpmodel -m <mode> for comparable numbers.")
    if env.get("jetson") and not str(env.get("jetson_clocks", "")).startswith("on"):
        warnings.append(f"jetson_clocks: {env.get('jetson_clocks')}: latency moves with the clocks; "
                        "sudo jetson_clocks pins them.")
    with staged_output(out, force) as root:
        results, cache = [], {}
        for variant in chosen:
            progress.start(f"engine-{variant['name']}", f"engine {variant['name']}", None)
            try:
                plan, reused = _engine_for(deploy, variant, profile, env, log=lambda m: None)
            finally:
                progress.finish(f"engine-{variant['name']}")
            cache[variant["name"]] = {"engine": str(plan.relative_to(bundle)), "reused": reused}
            result = verify_and_bench(variant["name"], variant["precision"], Artifact(Format.TENSORRT_PLAN, plan),
                                      bundle, reference, backend, profile, progress)
            result.runtime = {**result.runtime, "engine_cache": "reused" if reused else "built"}
            results.append(result)
        recommended, why = recommend(results)
        ref = reference.describe()
        report = Report(profile=profile.name, backend="tensorrt", model={"source": str(bundle)}, variants=results,
                        recommended=recommended, recommended_reason=why, reference=ref,
                        data={"verification_inputs": reference.inputs.source, "device": env, "engines": cache},
                        warnings=warnings + unstable_warnings(results), host=detect().to_dict(),
                        target_isa=profile.target.isa)
        (root / "environment.json").write_text(json.dumps(env, indent=2) + "\n", encoding="utf-8")
        from edgekit.report.html import write_report_files
        from edgekit.report.plots import write_plots

        write_plots(root, report, profile.verify.max_accuracy_drop)
        write_report_files(root, report)
    report.out_dir = str(out.resolve())
    return report
