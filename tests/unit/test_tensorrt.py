"""TensorRT engine build and runner against a fake tensorrt (10 and 11 API generations) and a fake
libcudart; the fake engine runs the ONNX it was built from, so outputs and copies are real."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import faketrt
from edgekit.deploy import run_tensorrt, trt_build
from edgekit.deploy.trt_build import BuildError, BuildOptions


@pytest.fixture(scope="module")
def onnx_pair(tmp_path_factory, model_files, eval_arrays):
    """The digits model as FP32 ONNX and as TensorRT-style INT8 QDQ ONNX."""
    from edgekit.backends.tensorrt.backend import quantize_for_tensorrt
    from edgekit.data import Dataset
    from edgekit.profile import load_profile

    int8 = tmp_path_factory.mktemp("trt") / "int8.onnx"
    quantize_for_tensorrt(model_files["onnx"], int8, Dataset(eval_arrays[0][:64]), load_profile("jetson-orin-nano"))
    return model_files["onnx"], int8


def reference(onnx_file, x):
    """What the fake GPU computes: the ONNX with its Q/DQ math in float (no x86 int16 saturation)."""
    from edgekit.deploy.run_onnxruntime import make_session

    return make_session(onnx_file, emulate_qdq=True).run(None, {"input": x})[0]


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_trt10_builds_weakly_typed_with_the_right_flags(monkeypatch, tmp_path, onnx_pair, precision):
    trt, _ = faketrt.install(monkeypatch, generation=10)
    src = onnx_pair[1] if precision == "int8" else onnx_pair[0]
    meta = trt_build.build_engine(src, tmp_path / "m.plan", BuildOptions(precision, workspace_mb=256, batch_sizes=(1, 8)))
    built = trt.built[-1]
    assert meta["typing"] == "weak" and not built["header"]["strong"]
    assert meta["flags"] == {"fp32": [], "fp16": ["FP16"], "int8": ["FP16", "INT8"]}[precision]
    assert built["config"].pools[trt.MemoryPoolType.WORKSPACE] == 256 << 20
    assert built["config"].profiles[0].shapes["input"] == ([1, 1, 8, 8], [1, 1, 8, 8], [8, 1, 8, 8])
    side = json.loads((tmp_path / "m.plan.json").read_text())
    assert side["tensorrt"] == "10.3.0" and side["compute_capability"] == [8, 7] and side["gpu"] == "Orin (fake)"
    assert len(side["key"]) == 16 and side["onnx"]["sha256"] == trt_build.sha256_file(src)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_trt11_builds_strongly_typed_and_converts_fp16(monkeypatch, tmp_path, onnx_pair, precision):
    trt, _ = faketrt.install(monkeypatch, generation=11)
    assert not trt_build.features(trt)["weak_typing"]
    src = onnx_pair[1] if precision == "int8" else onnx_pair[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # onnxconverter-common: tiny weights truncated to fp16
        meta = trt_build.build_engine(src, tmp_path / "m.plan", BuildOptions(precision, batch_sizes=(1, 4)))
    built = trt.built[-1]
    assert meta["typing"] == "strong" and built["header"]["strong"] and meta["flags"] == []
    assert (built["network"].fp16_initializers > 0) == (precision == "fp16")  # FP16 comes from the ONNX types


def test_typing_requests_that_this_tensorrt_cannot_serve(monkeypatch, tmp_path, onnx_pair):
    faketrt.install(monkeypatch, generation=11)
    with pytest.raises(BuildError, match="TensorRT 11 removed them"):
        trt_build.build_engine(onnx_pair[0], tmp_path / "m.plan", BuildOptions("fp16", typing="weak"))


def test_dla_options(monkeypatch, tmp_path, onnx_pair):
    faketrt.install(monkeypatch, generation=10, dla_cores=0)
    with pytest.raises(BuildError, match="Orin Nano has none"):
        trt_build.build_engine(onnx_pair[0], tmp_path / "a.plan", BuildOptions("fp16", dla_core=0))
    monkeypatch.undo()
    trt, _ = faketrt.install(monkeypatch, generation=10, dla_cores=2)
    with pytest.raises(BuildError, match="FP16 or INT8 only"):
        trt_build.build_engine(onnx_pair[0], tmp_path / "b.plan", BuildOptions("fp32", dla_core=1))
    meta = trt_build.build_engine(onnx_pair[0], tmp_path / "c.plan", BuildOptions("fp16", dla_core=1, sparse_weights=True))
    config = trt.built[-1]["config"]
    assert config.default_device_type == trt.DeviceType.DLA and config.DLA_core == 1
    assert {"GPU_FALLBACK", "SPARSE_WEIGHTS"} <= set(meta["flags"])


def test_timing_cache_is_written_then_reused(monkeypatch, tmp_path, onnx_pair):
    faketrt.install(monkeypatch)
    cache = tmp_path / "timing.cache"
    first = trt_build.build_engine(onnx_pair[0], tmp_path / "a.plan", BuildOptions("fp16"), timing_cache=cache)
    second = trt_build.build_engine(onnx_pair[0], tmp_path / "b.plan", BuildOptions("fp16"), timing_cache=cache)
    assert first["timing_cache"]["reused"] is False and second["timing_cache"]["reused"] is True
    assert cache.read_bytes() == b"fake-timing-cache"


def test_parser_errors_are_reported(monkeypatch, tmp_path):
    faketrt.install(monkeypatch)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(BuildError, match="ONNX parser rejected"):
        trt_build.build_engine(bad, tmp_path / "m.plan", BuildOptions("fp16"))
    assert not (tmp_path / "m.plan").exists()


def test_engine_key_changes_with_what_makes_an_engine_different():
    base = trt_build.engine_key("abc", "10.3.0", (8, 7), BuildOptions("int8"))
    assert base == trt_build.engine_key("abc", "10.3.0", (8, 7), BuildOptions("int8"))
    for other in (trt_build.engine_key("abd", "10.3.0", (8, 7), BuildOptions("int8")),
                  trt_build.engine_key("abc", "10.4.0", (8, 7), BuildOptions("int8")),
                  trt_build.engine_key("abc", "10.3.0", (8, 6), BuildOptions("int8")),
                  trt_build.engine_key("abc", "10.3.0", (8, 7), BuildOptions("fp16")),
                  trt_build.engine_key("abc", "10.3.0", (8, 7), BuildOptions("int8", workspace_mb=64))):
        assert other != base


@pytest.mark.parametrize("generation", [10, 11])
def test_runner_runs_the_engine_through_device_buffers(monkeypatch, tmp_path, onnx_pair, eval_arrays, generation):
    _, cudart = faketrt.install(monkeypatch, generation=generation)
    plan = tmp_path / "m.plan"
    trt_build.build_engine(onnx_pair[1], plan, BuildOptions("int8", batch_sizes=(1, 8)))
    x = eval_arrays[0][:37]
    session = run_tensorrt.open_session(plan)
    out = run_tensorrt.Adapter.run_batched(session, x)  # chunks of 8 (the profile's max), the last one partial
    np.testing.assert_allclose(out, reference(onnx_pair[1], x), atol=1e-5)
    assert session.max_batch == 8 and cudart.calls["h2d"] == 5 and cudart.calls["sync"] == 5
    with pytest.raises(ValueError, match="exceeds the engine's optimization profile"):
        session.prepare(x[:9])
    session.close()
    assert cudart.calls["free"] == cudart.calls["malloc"] and not cudart.buffers


def test_runner_main_times_and_checks_parity(monkeypatch, tmp_path, onnx_pair, eval_arrays):
    faketrt.install(monkeypatch)
    plan = tmp_path / "m.plan"
    trt_build.build_engine(onnx_pair[0], plan, BuildOptions("fp16", batch_sizes=(1, 4)))
    x = eval_arrays[0][:16]
    np.savez(tmp_path / "s.npz", x=x, ref=reference(onnx_pair[0], x))
    out = tmp_path / "r.json"
    assert run_tensorrt.main(["--model", str(plan), "--input", str(tmp_path / "s.npz"), "--batch-sizes", "1,4",
                              "--warmup", "1", "--iterations", "5", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["latency_ms"]) == {"batch_1", "batch_4"}
    assert result["parity_vs_reference"]["top1_agreement"] == 1.0
    assert 0 < result["parity_vs_reference"]["max_abs"] < 0.05  # FP16 rounding, not bit-exact
    assert result["details"]["engine_precision"] == "fp16" and "execute_async_v3" in result["details"]["timing"]


def test_engine_from_another_gpu_is_refused_with_the_fix(monkeypatch, tmp_path, onnx_pair):
    faketrt.install(monkeypatch, cudart=faketrt.FakeCudart(cc=(8, 7)))
    plan = tmp_path / "m.plan"
    trt_build.build_engine(onnx_pair[0], plan, BuildOptions("fp16"))
    monkeypatch.undo()
    faketrt.install(monkeypatch, cudart=faketrt.FakeCudart(cc=(9, 0), name=b"H100 (fake)"))
    with pytest.raises(RuntimeError, match=r"compute capability \[8, 7\].*rebuild it on this device"):
        run_tensorrt.open_session(plan)


def test_backend_probe_and_missing_tensorrt(monkeypatch):
    import sys

    from edgekit.backends.tensorrt.backend import TensorRTBackend, host_status

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    ok, why = host_status()
    assert not ok and "not installed" in why
    backend = TensorRTBackend()
    assert backend.native_format.value == "onnx" and not backend.measures_on_host
    monkeypatch.undo()
    faketrt.install(monkeypatch, cudart=faketrt.FakeCudart(devices=0))
    assert host_status() == (False, "no CUDA GPU is visible")
    monkeypatch.undo()
    faketrt.install(monkeypatch)
    backend = TensorRTBackend()
    assert backend.can_build and backend.native_format.value == "tensorrt_plan" and "Orin (fake)" in backend.host


def test_engine_inspector_counts_int8_layers(monkeypatch, tmp_path, onnx_pair):
    from edgekit.backends.tensorrt.backend import TensorRTBackend
    from edgekit.profile import load_profile

    faketrt.install(monkeypatch)
    backend = TensorRTBackend()
    for precision, src, int8 in (("int8", onnx_pair[1], 4), ("fp16", onnx_pair[0], 0)):
        plan = tmp_path / f"{precision}.plan"
        trt_build.build_engine(src, plan, BuildOptions(precision))
        coverage = backend.kernel_coverage(plan, load_profile("jetson-orin-nano"), tmp_path)
        assert (coverage.int8_nodes, coverage.float_nodes) == (int8, 4 - int8)


TEGRA_RELEASE = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025\n"
NVPMODEL = "NV Power Mode: 15W\n0\n"
CLOCKS_ON = "SOC family:tegra234  Machine:NVIDIA Jetson Orin Nano Developer Kit\nOnline CPUs: 0-5\n" + "".join(
    f"cpu{i}: Online=1 Governor=schedutil MinFreq=1510400 MaxFreq=1510400 CurrentFreq=1510400 IdleStates: WFI=0 c7=0\n"
    for i in range(6))


def test_jetson_facts_from_a_fake_device(monkeypatch, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text(TEGRA_RELEASE)
    (tmp_path / "proc" / "device-tree").mkdir(parents=True)
    (tmp_path / "proc" / "device-tree" / "model").write_text("NVIDIA Jetson Orin Nano Engineering Reference Developer Kit\0")
    monkeypatch.setenv("EDGEKIT_SYSFS_ROOT", str(tmp_path))
    answers = {"nvpmodel": (0, NVPMODEL), "jetson_clocks": (0, CLOCKS_ON)}
    facts = trt_build.jetson_facts(run=lambda cmd: answers[cmd[0]])
    assert facts["l4t"] == "36.4.3" and facts["jetpack_major"] == "6"
    assert facts["nvpmodel"] == "15W (mode 0)" and facts["jetson_clocks"].startswith("on")
    assert facts["model"].startswith("NVIDIA Jetson Orin Nano")
    scaling = CLOCKS_ON.replace("MinFreq=1510400", "MinFreq=729600", 1)
    facts = trt_build.jetson_facts(run=lambda cmd: (0, scaling) if cmd[0] == "jetson_clocks" else (1, "not found"))
    assert facts["jetson_clocks"].startswith("off") and facts["nvpmodel"].startswith("unknown")


def test_not_a_jetson(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEKIT_SYSFS_ROOT", str(tmp_path))
    assert trt_build.jetson_facts(run=lambda cmd: (1, "")) == {"jetson": False}


TRTEXEC_OUTPUT = """\
[11/22/2026-10:01:02] [I] === Performance summary ===
[11/22/2026-10:01:02] [I] Throughput: 2114.75 qps
[11/22/2026-10:01:02] [I] Latency: min = 0.512 ms, max = 1.204 ms, mean = 0.561 ms, median = 0.549 ms, percentile(90%) = 0.601 ms, percentile(95%) = 0.640 ms, percentile(99%) = 0.802 ms
[11/22/2026-10:01:02] [I] GPU Compute Time: min = 0.401 ms, max = 1.003 ms, mean = 0.452 ms, median = 0.440 ms, percentile(90%) = 0.488 ms, percentile(95%) = 0.512 ms, percentile(99%) = 0.650 ms
"""


def test_trtexec_fallback_command_and_output():
    cmd = trt_build.trtexec_command("trtexec", "m.onnx", "m.plan", BuildOptions("int8", 2048, 0, True, True, (1, 8)),
                                    "input", [3, 224, 224], timing_cache="t.cache")
    assert {"--fp16", "--int8", "--memPoolSize=workspace:2048M", "--useDLACore=0", "--allowGPUFallback",
            "--sparsity=enable", "--timingCacheFile=t.cache", "--minShapes=input:1x3x224x224",
            "--optShapes=input:1x3x224x224", "--maxShapes=input:8x3x224x224"} <= set(cmd)
    strong = trt_build.trtexec_command("trtexec", "m.onnx", "m.plan", BuildOptions("int8"), "input", [3, 8, 8],
                                       weak_typing=False)
    assert "--stronglyTyped" in strong and "--int8" not in strong
    stats = trt_build.parse_trtexec_times(TRTEXEC_OUTPUT)
    assert stats["GPU Compute Time"]["p50"] == 0.440 and stats["GPU Compute Time"]["p99"] == 0.650
    assert stats["Latency"]["p90"] == 0.601 and stats["throughput_qps"] == 2114.75


@pytest.mark.parametrize("cpuinfo", ["zen3-epyc-avx2", "zen4-epyc-vnni"])
def test_a_tensorrt_file_is_checked_on_the_emulated_math_whatever_the_profile_isa(model_files, eval_arrays, tmp_path,
                                                                               cpuinfo):
    """A TensorRT profile that leaves [target] isa at "host" still gets the GPU's check, not this CPU's kernels."""
    from pathlib import Path

    from edgekit.backends.tensorrt.backend import quantize_for_tensorrt
    from edgekit.data import Dataset
    from edgekit.hardware import parse_cpuinfo
    from edgekit.profile import load_profile

    host = parse_cpuinfo((Path(__file__).parent / "data" / "cpuinfo" / f"{cpuinfo}.txt").read_text())
    profile = load_profile("nvidia-gpu").replace_section("target", isa="host")
    info = quantize_for_tensorrt(model_files["onnx"], tmp_path / "int8.onnx", Dataset(eval_arrays[0][:64]), profile,
                                 host=host)
    assert info["check"]["emulated"] and info["recipe_plan"]["target_isa"] == "cuda"
