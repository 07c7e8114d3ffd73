"""bench, inspect, export, profiles, demo, --help."""

from __future__ import annotations

import json
from pathlib import Path


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
