"""bench, inspect, export, profiles, demo, --help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


from clitools import run
from edgekit.errors import ExitCode



def test_bench_an_onnx_artifact(model_files, fast_profile, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    code, output = run("bench", model_files["onnx"], "--profile", fast_profile, "--batch-sizes", "1,2", "--json", out)
    assert code == 0, output
    result = json.loads(out.read_text())
    assert set(result["latency_ms"]) == {"batch_1", "batch_2"}
    assert result["latency_ms"]["batch_1"]["iterations"] == 10
    assert result["random_inputs"] is True and "p50" in output


def test_bench_prints_gops_and_share_of_a_faked_hosts_peak(model_files, fast_profile, tmp_path: Path,
                                                           monkeypatch) -> None:
    """The host is a recorded Zen 4 cpuinfo with a 3 GHz cpufreq clock: the peak (and so the verdict) is the same on
    every machine; the test profile runs 1 thread, so 1 core x 32 FP32 ops/cycle (AVX-512 as 2x256 on AMD) x 3 GHz."""
    root = tmp_path / "sysfs"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "cpuinfo").write_text((Path(__file__).parents[1] / "unit/data/cpuinfo/zen4-epyc-vnni.txt").read_text())
    freq = root / "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"
    freq.parent.mkdir(parents=True)
    freq.write_text("3000000\n")
    monkeypatch.setenv("EDGEKIT_SYSFS_ROOT", str(root))
    out = tmp_path / "bench.json"
    code, output = run("bench", model_files["onnx"], "--profile", fast_profile, "--batch-sizes", "1,2", "--json", out)
    assert code == 0, output
    result = json.loads(out.read_text())
    e = result["efficiency"]
    assert e["ops_per_inference"] == 2 * 1_330_432 and e["precision"] == "fp32"  # the digits CNN's MACs
    best = max(result["throughput_per_s"], key=result["throughput_per_s"].get)
    assert e["best_batch"] == int(best.split("_")[1])
    assert e["gops"] == pytest.approx(2 * 1_330_432 * result["throughput_per_s"][best] / 1e9)
    assert e["peak_gops"] == pytest.approx(96.0) and e["share_of_peak"] == pytest.approx(e["gops"] / 96.0)
    assert "x86-vnni" in e["peak_basis"] and "cpuinfo_max_freq" in e["peak_basis"]
    assert f"{e['share_of_peak']:.0%}" in output and "96.0" in output and "peak: FP32 peak 96.0 GOP/s" in output


def test_bench_refuses_torch_models(model_files, fast_profile) -> None:
    code, output = run("bench", model_files["pt2"], "--profile", fast_profile)
    assert code == ExitCode.BAD_DATA and "not an artifact the onnxruntime backend runs" in output


def test_inspect_counts_params_and_macs(demo_assets) -> None:
    code, output = run("inspect", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights,
                       "--input-shape", "1,1,8,8", "--json")
    assert code == 0, output
    summary = json.loads(output)
    assert summary["params"] == 151_306 and summary["macs"] == 1_330_432
    assert [layer["op"] for layer in summary["layers"]] == ["Conv", "Conv", "Gemm", "Gemm"]


def test_inspect_pt2_uses_its_example_shape(model_files) -> None:
    code, output = run("inspect", model_files["pt2"])
    assert code == 0, output
    assert "1,330,432" in output and "151,306" in output


def _layer_rows(output: str) -> list[list[str]]:
    return [line.replace("│", " ").split() for line in output.splitlines()
            if any(f" {op} " in line.replace("│", " ") for op in ("Conv", "Gemm"))]


def test_inspect_names_modules_and_the_batch_dim(model_files, demo_assets) -> None:
    # the names --prune-layer / --prune-ignore / --hint take, and "batch" for the symbolic dim, from either exporter:
    # dynamo (.pt2: nodes node_Conv_19, dim s77) and legacy (module:factory: nodes /conv1/Conv, dim batch)
    for model, extra in ((model_files["pt2"], ()),
                         ("edgekit.demo:digits_cnn", ("--weights", demo_assets.weights, "--input-shape", "1,1,8,8"))):
        code, output = run("inspect", model, *extra)
        assert code == 0, output
        assert [row[0] for row in _layer_rows(output)] == ["conv1", "conv2", "fc1", "fc2"], output
        assert "'batch', 1, 8, 8" in output and "s77" not in output
        code, output = run("inspect", model, *extra, "--json")
        summary = json.loads(output)
        assert [layer["module"] for layer in summary["layers"]] == ["conv1", "conv2", "fc1", "fc2"]
        assert summary["inputs"]["input"][0] == "batch"


def test_export_writes_onnx_and_refuses_overwrite(demo_assets, tmp_path: Path) -> None:
    import onnxruntime as ort

    out = tmp_path / "m.onnx"
    args = ["export", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "--input-shape", "1,1,8,8",
            "--out", out]
    code, output = run(*args)
    assert code == 0, output
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch"
    code, output = run(*args)
    assert code == ExitCode.OUTPUT_EXISTS
    code, output = run(*args, "--force")
    assert code == 0


def test_profiles_list_show_validate(tmp_path: Path) -> None:
    code, output = run("profiles", "list")
    assert code == 0 and "cpu-onnxruntime" in output and "arm64-onnxruntime" in output and "*" in output
    code, output = run("profiles", "show", "cpu-onnxruntime", "--json")
    assert code == 0 and json.loads(output)["target"]["backend"] == "onnxruntime"
    code, output = run("profiles", "show", "x86-openvino")  # TOML, as the user would write it: it loads back
    assert code == 0 and output.startswith("# x86-openvino") and '\n[target]\nbackend = "openvino"' in output
    (tmp_path / "copy.toml").write_text(output)
    from edgekit.profile import load_profile

    assert load_profile(tmp_path / "copy.toml").to_dict() == load_profile("x86-openvino").to_dict()
    bad = tmp_path / "p.toml"
    bad.write_text('schema_version = 1\nname = "p"\n[target]\nbakend = "onnxruntime"\n')
    code, output = run("profiles", "validate", bad)
    assert code == ExitCode.BAD_PROFILE and "target.bakend" in output and "target.backend" in output
    assert str(bad) in output
    good = tmp_path / "g.toml"
    good.write_text('schema_version = 1\nname = "g"\n')
    code, output = run("profiles", "validate", good)
    assert code == 0 and "valid" in output


def test_demo_runs_and_reuses_cached_teacher(demo_assets, tmp_path: Path, monkeypatch) -> None:
    # demo_assets trained the teacher into EDGEKIT_CACHE_DIR; the demo must reuse it
    monkeypatch.chdir(tmp_path)
    code, output = run("demo", "--profile", "cpu-onnxruntime")
    assert code == 0, output
    assert "cached" in output and "int8" in output and "fp32" in output
    assert (tmp_path / "edgekit-demo" / "deploy" / "model.onnx").is_file()
    # a second run replaces its own bundle, but never a directory it did not make
    code, output = run("demo", "--profile", "cpu-onnxruntime")
    assert code == 0, output
    (tmp_path / "mine").mkdir()
    code, output = run("demo", "--out", "mine")
    assert code == ExitCode.OUTPUT_EXISTS and "left untouched" in output


def test_help_lists_every_command() -> None:
    code, output = run("--help")
    assert code == 0
    for command in ("compress", "bench", "export", "inspect", "profiles", "demo"):
        assert command in output
