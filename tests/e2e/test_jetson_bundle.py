"""A Jetson bundle end to end: made on this CPU machine (no TensorRT, no GPU), then built, verified and
benchmarked on a "device" that is a fake TensorRT 10 or 11 with a fake libcudart (tests/faketrt.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import faketrt
from clitools import run

JETSON_FAST = """\
schema_version = 1
name = "jetson-test"
description = "jetson-orin-nano with few benchmark iterations, for tests"

[target]
backend = "tensorrt"
device = "cuda:0"
isa = "cuda"
power_mode = "15W"

[quantize]
calibration_samples = 128
recipe = "s8s8"

[compile]
precisions = ["int8", "fp16", "fp32"]
workspace_mb = 512

[benchmark]
batch_sizes = [1, 4]
warmup = 2
iterations = 10
"""


@pytest.fixture(scope="module")
def jetson_profile(tmp_path_factory):
    path = tmp_path_factory.mktemp("profiles") / "jetson-test.toml"
    path.write_text(JETSON_FAST)
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, demo_assets, jetson_profile):
    """compress for a Jetson on this machine: no TensorRT here, so the bundle carries ONNX + scripts."""
    sys.modules.pop("tensorrt", None)
    out = tmp_path_factory.mktemp("jetson") / "bundle"
    code, output = run("compress", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "--profile",
                       jetson_profile, "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--out", out)
    assert code == 0, output
    return out, output


def test_jetson_bundle_is_made_without_a_gpu(bundle):
    out, output = bundle
    report = json.loads((out / "report.json").read_text())
    variants = {v["name"]: v for v in report["variants"]}
    assert variants["int8"]["status"] == "accepted" and variants["fp32"]["status"] == "accepted"
    assert variants["fp16"]["status"] == "pending" and "build-engine" in variants["fp16"]["reason"]
    assert all(not v["latency_ms"] for v in report["variants"])  # nothing timed on a host that is not the device
    assert variants["int8"]["int8_coverage"]["int8_nodes"] == 4
    assert variants["int8"]["accuracy_drop"] <= 1.0
    # judged on the Q/DQ math emulated in float, so the verdict does not depend on this CPU's integer kernels
    assert variants["int8"]["quantization"]["check"]["emulated"] and report["host"]["isa"]
    assert report["recommended"] == "int8" and "on the device" in report["recommended_reason"]
    assert any("No TensorRT engine was built here" in w for w in report["warnings"])
    deploy = out / "deploy"
    for name in ("run.py", "runner_common.py", "cuda_runtime.py", "trt_build.py", "bundle.json", "profile.json",
                 "verify.npz", "sample.npz", "model-int8.onnx", "model-fp32.onnx", "jetson/check_env.sh",
                 "jetson/build_engine.sh", "jetson/benchmark.sh"):
        assert (deploy / name).is_file(), name
    assert not (deploy / "model-fp16.onnx").exists()  # FP16 engines come from the FP32 ONNX
    info = json.loads((deploy / "bundle.json").read_text())
    assert {v["name"]: v["onnx"] for v in info["variants"]} == {
        "int8": "model-int8.onnx", "fp16": "model-fp32.onnx", "fp32": "model-fp32.onnx"}
    assert "--int8" in info["variants"][0]["trtexec"] and "--stronglyTyped" in info["variants"][0]["trtexec_strongly_typed"]
    readme = (deploy / "README.md").read_text()
    assert "TensorRT on the device" in readme and "./jetson/build_engine.sh" in readme
    with np.load(deploy / "verify.npz") as data:
        assert data["x"].shape[0] == data["ref"].shape[0] == data["y"].shape[0] > 100


def test_bundled_int8_onnx_meets_tensorrt_rules(bundle):
    code, output = run("inspect", "--tensorrt-rules", bundle[0] / "deploy" / "model-int8.onnx")
    assert code == 0 and "meets TensorRT's explicit-quantization rules" in output


def test_build_engine_refuses_without_tensorrt(bundle, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    code, output = run("build-engine", bundle[0])
    assert code == 7 and "deploy/jetson/build_engine.sh" in output and "Traceback" not in output


@pytest.mark.parametrize("generation", [10, 11])
def test_build_engine_on_the_device(bundle, monkeypatch, tmp_path, generation):
    """On the "device": every variant's engine is built, verified on verify.npz and benchmarked in a
    fresh process by the bundle's runner; a second run reuses the cached engines."""
    out = bundle[0]
    faketrt.install(monkeypatch, generation)
    faketrt.subprocess_env(monkeypatch, tmp_path, generation)
    code, output = run("build-engine", out, "--force")
    assert code == 0, output
    device_dirs = sorted((out / "device").iterdir())
    report = json.loads((device_dirs[-1] / "report.json").read_text())
    assert device_dirs[-1].name == f"orin-fake-trt{'10.3.0' if generation == 10 else '11.0.0'}"
    variants = {v["name"]: v for v in report["variants"]}
    assert set(variants) == {"int8", "fp16", "fp32"}
    for v in variants.values():
        assert v["status"] == "accepted", v["reason"]
        assert v["parity"]["top1_agreement"] >= 0.99
        assert set(v["latency_ms"]) == {"batch_1", "batch_4"} and v["latency_ms"]["batch_1"]["iterations"] == 10
        assert v["artifact"].startswith("deploy/engines/") and v["artifact"].endswith(".plan")
    assert variants["int8"]["int8_coverage"]["int8_nodes"] == 4 and variants["fp16"]["int8_coverage"] is None
    assert variants["fp16"]["parity"]["max_abs"] > 0  # FP16 rounding shows
    assert report["data"]["device"]["gpu"] == "Orin (fake)"
    assert report["recommended"] in variants
    code, output = run("build-engine", out, "--force", "--variant", "int8")
    again = json.loads((device_dirs[-1] / "report.json").read_text())
    assert code == 0 and [v["name"] for v in again["variants"]] == ["int8"]
    assert again["variants"][0]["runtime"]["engine_cache"] == "reused"
    code, output = run("build-engine", out, "--variant", "int8")
    assert code == 6  # the device report exists: refused without --force
    code, output = run("build-engine", out, "--force", "--variant", "int4")
    assert code == 8 and "int8" in output


def test_trt_build_script_falls_back_to_trtexec(bundle, tmp_path):
    """No TensorRT Python bindings on the device: trt_build.py --bundle runs trtexec with bundle.json's options."""
    deploy = bundle[0] / "deploy"
    log = tmp_path / "trtexec.log"
    fake = tmp_path / "bin" / "trtexec"
    fake.parent.mkdir()
    fake.write_text(f"""#!/bin/sh
if [ "$1" = "--help" ]; then echo "  --int8  Enable int8 precision"; exit 0; fi
echo "$@" >> {log}
for a in "$@"; do case "$a" in --saveEngine=*) : > "${{a#--saveEngine=}}";; esac; done
""")
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}
    done = subprocess.run([sys.executable, "-S", str(deploy / "trt_build.py"), "--bundle", str(deploy), "--variant",
                           "int8"], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    args = log.read_text().split()
    assert "--onnx=model-int8.onnx" in args and "--int8" in args and "--memPoolSize=workspace:512M" in args
    assert "--maxShapes=input:4x1x8x8" in args and (deploy / "engines" / "model-int8.plan").exists()


def test_compress_on_a_gpu_host_builds_and_times_engines(demo_assets, jetson_profile, monkeypatch, tmp_path):
    """With TensorRT and a GPU on the build host, each precision is compiled to an engine and timed there."""
    faketrt.install(monkeypatch, 10)
    faketrt.subprocess_env(monkeypatch, tmp_path, 10)
    out = tmp_path / "gpu-bundle"
    code, output = run("compress", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "--profile",
                       jetson_profile, "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--out", out)
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    variants = {v["name"]: v for v in report["variants"]}
    assert all(v["artifact"].endswith("model.plan") and v["latency_ms"] for v in variants.values())
    assert variants["int8"]["int8_coverage"]["int8_nodes"] == 4
    assert "No TensorRT engine was built here" not in " ".join(report["warnings"])
    stages = [r["step"] for r in json.loads((out / "manifest.json").read_text())["stages"]]
    assert stages == ["export", "quantize-int8", "compile-int8", "compile-fp16", "compile-fp32"]
    assert (out / "deploy" / "model-int8.onnx").exists()  # the device rebuilds from the ONNX, not this host's engine


def test_sweep_refuses_a_target_it_cannot_measure(demo_assets, jetson_profile, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    code, output = run("sweep", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "--profile", jetson_profile,
                       "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--prune", "0.5",
                       "--out", tmp_path / "s")
    assert code == 8 and "build-engine" in output and not (tmp_path / "s").exists()
