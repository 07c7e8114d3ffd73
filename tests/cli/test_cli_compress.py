"""`edgekit compress` end to end on the real digits CNN, through the CLI (in-process click runner)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgekit.artifact import sha256_file
from clitools import run
from edgekit.errors import ExitCode



@pytest.fixture(scope="module")
def factory_bundle(tmp_path_factory, demo_assets, fast_profile) -> Path:
    out = tmp_path_factory.mktemp("cli") / "bundle"
    code, output = run("compress", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights,
                       "--profile", fast_profile, "--calib-data", demo_assets.calib,
                       "--eval-data", demo_assets.eval, "--out", out)
    assert code == 0, output
    return out


def test_bundle_has_artifacts_reports_and_deploy(factory_bundle: Path) -> None:
    for name in ("report.json", "report.md", "report.html", "manifest.json", "deploy/run.py", "deploy/README.md",
                 "deploy/sample.npz", "deploy/model.onnx"):
        assert (factory_bundle / name).is_file(), name
    report = json.loads((factory_bundle / "report.json").read_text())
    assert report["schema_version"] == 1 and report["profile"] == "test-fast"
    assert {v["name"] for v in report["variants"]} == {"fp32", "int8"}
    assert report["model"]["params"] == 151_306 and report["model"]["macs"] == 1_330_432
    assert not list(factory_bundle.parent.glob(".bundle.building-*"))


def test_int8_is_qdq_per_channel_and_runs_int8_within_budget(factory_bundle: Path) -> None:
    report = json.loads((factory_bundle / "report.json").read_text())
    int8 = next(v for v in report["variants"] if v["name"] == "int8")
    graph = onnx.load(str(factory_bundle / int8["artifact"])).graph
    ops = [n.op_type for n in graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    scales = {i.name: i for i in graph.initializer}
    weight_dq = [n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in scales
                 and len(scales[n.input[0]].dims) == 4]
    assert weight_dq and all(len(scales[n.input[1]].dims) == 1 and scales[n.input[1]].dims[0] > 1 for n in weight_dq)
    assert int8["int8_coverage"]["int8_nodes"] == 4 and int8["int8_coverage"]["float_nodes"] == 0
    assert int8["status"] == "accepted"
    # real held-out digits: INT8 must stay within one point of the FP32 original
    assert int8["accuracy"] is not None and int8["accuracy_drop"] <= 1.0
    assert int8["accuracy"] > 95.0
    assert int8["parity"]["top1_agreement"] >= 0.98 and int8["parity"]["cosine"] > 0.99
    assert int8["size_bytes"] < 0.5 * next(v for v in report["variants"] if v["name"] == "fp32")["size_bytes"]


def test_latency_and_energy_fields(factory_bundle: Path) -> None:
    report = json.loads((factory_bundle / "report.json").read_text())
    for variant in report["variants"]:
        for batch in ("batch_1", "batch_4"):
            stats = variant["latency_ms"][batch]
            assert 0 < stats["p50"] <= stats["p90"] <= stats["p99"]
            assert stats["iterations"] == 10
        assert variant["throughput_per_s"] > 0
        assert 0 < variant["peak_rss_bytes"] < 2**30
        assert variant["energy"]["status"] == "unavailable" and variant["energy"]["joules_per_inference"] is None
        assert variant["energy"]["reason"]


def test_manifest_hashes_every_file_and_the_inputs(factory_bundle: Path, demo_assets) -> None:
    manifest = json.loads((factory_bundle / "manifest.json").read_text())
    assert manifest["input_model"]["sha256"] == sha256_file(demo_assets.weights)
    assert manifest["data"]["calibration"]["sha256"] == sha256_file(demo_assets.calib)
    assert manifest["data"]["evaluation"]["sha256"] == sha256_file(demo_assets.eval)
    assert manifest["seed"] == 0 and manifest["versions"]["onnxruntime"]
    assert manifest["profile"]["name"] == "test-fast"
    files = {str(p.relative_to(factory_bundle)) for p in factory_bundle.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == files - {"manifest.json"}
    for rel, digest in manifest["files"].items():
        assert sha256_file(factory_bundle / rel) == digest
    assert [s["step"] for s in manifest["stages"]] == ["export", "quantize-int8"]
    for stage in manifest["stages"]:
        stage_json = factory_bundle / "stages" / f"{stage['index']:02d}-{stage['step']}" / "stage.json"
        assert json.loads(stage_json.read_text())["output"]["sha256"] == stage["output"]["sha256"]


def test_report_md_reads_like_text_not_python(factory_bundle: Path) -> None:
    """Data as lines (issue 16 item 9), latency with its spread and items/s at the p50 (item 5), the batch dim and
    the layers' module names (item 6)."""
    report = json.loads((factory_bundle / "report.json").read_text())
    md = (factory_bundle / "report.md").read_text()
    data = md.split("## Data", 1)[1].split("\n## ", 1)[0]
    assert "{" not in data and "'" not in data, data
    digest = report["data"]["calibration"]["sha256"][:12]
    calib = next(line for line in data.splitlines() if line.startswith("- calibration: "))
    assert "samples, shape 1x8x8 per sample, labels" in calib and f"sha256 {digest}" in calib, calib
    assert "- evaluation: " in data and "labels yes" in data
    assert "- inputs: {'input': ['batch', 1, 8, 8]}" in md
    assert report["model"]["modules"] == {"/conv1/Conv": "conv1", "/conv2/Conv": "conv2", "/fc1/Gemm": "fc1",
                                          "/fc2/Gemm": "fc2"}
    for v in report["variants"]:
        stats = v["latency_ms"]["batch_1"]
        assert v["throughput_per_s"] == pytest.approx(1000.0 / stats["p50"])
        assert "unstable" in stats
        assert f"batch_1: p50 {stats['p50']:.3f} ms (min {stats['min']:.3f}, p90 {stats['p90']:.3f}, p99" in md
        for batch, stats in v["latency_ms"].items():  # the runner's flag, each flagged timing named in a warning
            named = any(f"{v['name']} at {batch}: {stats['unstable']}" in w for w in report["warnings"])
            assert bool(stats["unstable"]) == named


def test_report_html_shows_the_run_with_its_figures_all_in_the_manifest(factory_bundle: Path) -> None:
    from htmlcheck import check_page, text

    report = json.loads((factory_bundle / "report.json").read_text())
    doc = check_page(factory_bundle, ["fp32", "int8"])
    assert report["plots"] == {"latency": "plots/latency.png", "accuracy_vs_latency": "plots/accuracy_vs_latency.png",
                               "size": "plots/size.png"} and report["plots_not_drawn"] == {}
    assert [img.get("src") for img in doc.iter("img")] == list(report["plots"].values())
    assert "one panel per batch size (batch 1, batch 4)" in report["plot_captions"]["latency"]
    assert f"Recommended: {report['recommended']}" in text(doc.find("body"))
    files = json.loads((factory_bundle / "manifest.json").read_text())["files"]
    assert {"report.html", *report["plots"].values()} <= set(files)


def test_recommended_artifact_is_the_deployed_model(factory_bundle: Path) -> None:
    report = json.loads((factory_bundle / "report.json").read_text())
    chosen = next(v for v in report["variants"] if v["name"] == report["recommended"])
    assert chosen["status"] == "accepted"
    assert sha256_file(factory_bundle / "deploy" / "model.onnx") == chosen["sha256"]
    md = (factory_bundle / "report.md").read_text()
    assert "| fp32 |" in md and "| int8 |" in md


@pytest.mark.parametrize("kind", ["pt2", "torchscript", "onnx"])
def test_every_model_format_compresses(kind: str, model_files, demo_assets, fast_profile, tmp_path: Path) -> None:
    out = tmp_path / "b"
    code, output = run("compress", model_files[kind], "--profile", fast_profile, "--calib-data", demo_assets.calib,
                       "--eval-data", demo_assets.eval, "--out", out, "--batch-sizes", "1")
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    stages = sorted(p.name for p in (out / "stages").iterdir())
    # an ONNX model skips the torch stages; it is copied into the bundle instead
    assert stages == (["01-import", "02-quantize-int8"] if kind == "onnx" else ["01-export", "02-quantize-int8"])
    assert all(v["status"] == "accepted" for v in report["variants"])
    assert report["reference"]["runtime"].startswith("onnxruntime" if kind == "onnx" else "torch")


def test_pickled_model_needs_trust_flag(model_files, demo_assets, fast_profile, tmp_path: Path) -> None:
    args = ["compress", model_files["pickle"], "--profile", fast_profile, "--calib-data", demo_assets.calib,
            "--out", tmp_path / "b", "--batch-sizes", "1"]
    code, output = run(*args)
    assert code == ExitCode.UNTRUSTED_PICKLE and "--trust-pickle" in output and "arbitrary code" in output
    assert "Traceback" not in output and not (tmp_path / "b").exists()
    code, output = run(*args, "--trust-pickle")
    assert code == 0, output


def test_calib_random_is_allowed_only_explicitly_and_flagged(demo_assets, fast_profile, tmp_path: Path) -> None:
    base = ["compress", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "--profile", fast_profile,
            "--eval-data", demo_assets.eval, "--out", tmp_path / "b", "--batch-sizes", "1"]
    code, output = run(*base)
    assert code == ExitCode.BAD_DATA and "--calib-random" in output
    code, output = run(*base, "--calib-random")
    assert code in (0, ExitCode.VERIFICATION_FAILED), output
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["data"]["calibration"]["random"] is True
    assert any("RANDOM" in w for w in report["warnings"])


def test_accuracy_budget_is_enforced(demo_assets, fast_profile, tmp_path: Path) -> None:
    """Calibrating on inputs at 5% of the real scale clips real activations: INT8 loses many points."""
    with np.load(demo_assets.calib) as data:
        np.savez(tmp_path / "bad_calib.npz", x=data["x"] * 0.05)
    out = tmp_path / "b"
    code, output = run("compress", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights,
                       "--profile", fast_profile, "--calib-data", tmp_path / "bad_calib.npz",
                       "--eval-data", demo_assets.eval, "--out", out, "--batch-sizes", "1")
    assert code == ExitCode.VERIFICATION_FAILED, output
    report = json.loads((out / "report.json").read_text())
    int8 = next(v for v in report["variants"] if v["name"] == "int8")
    assert int8["status"] == "rejected" and "exceeds the budget" in int8["reason"]
    assert int8["accuracy_drop"] > 1.0
    assert report["recommended"] == "fp32"
    fp32 = next(v for v in report["variants"] if v["name"] == "fp32")
    assert sha256_file(out / "deploy" / "model.onnx") == fp32["sha256"]


def test_int8_that_runs_as_float_is_rejected(demo_assets, tmp_path: Path) -> None:
    profile = tmp_path / "nofuse.toml"
    profile.write_text('schema_version = 1\nname = "nofuse"\n[quantize]\nexclude_op_types = ["Conv", "Gemm"]\n'
                       "[benchmark]\nbatch_sizes = [1]\nwarmup = 1\niterations = 5\n")
    out = tmp_path / "b"
    code, output = run("compress", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "--profile", profile,
                       "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--out", out)
    assert code == ExitCode.VERIFICATION_FAILED, output
    int8 = next(v for v in json.loads((out / "report.json").read_text())["variants"] if v["name"] == "int8")
    assert int8["status"] == "rejected" and "execute as float" in int8["reason"]
    assert int8["int8_coverage"]["int8_nodes"] == 0


def test_max_accuracy_drop_option_overrides_profile(factory_bundle: Path, demo_assets, fast_profile, tmp_path) -> None:
    out = tmp_path / "b"
    code, output = run("compress", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "--profile",
                       fast_profile, "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval,
                       "--out", out, "--batch-sizes", "1", "--max-accuracy-drop", "0.25")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["profile"]["verify"]["max_accuracy_drop"] == 0.25
    report = json.loads((out / "report.json").read_text())
    int8 = next(v for v in report["variants"] if v["name"] == "int8")
    assert (int8["status"] == "accepted") == (int8["accuracy_drop"] <= 0.25)
    assert code == (0 if int8["status"] == "accepted" else ExitCode.VERIFICATION_FAILED)


def test_report_says_where_the_time_went(factory_bundle: Path) -> None:
    """report.json timings: every phase, each variant's verification and benchmark, the total and the benchmark's
    share; the plan steps' times are those their stage.json records; report.md has the table and the stop rule."""
    report = json.loads((factory_bundle / "report.json").read_text())
    manifest = json.loads((factory_bundle / "manifest.json").read_text())
    t = report["timings"]
    steps = {s["step"]: s["wall_s"] for s in manifest["stages"]}
    assert list(t["seconds"]) == ["reference", *steps, "verify", "benchmark", "bundle and plots"]
    assert all(t["seconds"][step] == pytest.approx(wall, abs=1e-3) for step, wall in steps.items())
    assert set(t["variants"]) == {"fp32", "int8"}
    for phase in ("verify", "benchmark"):
        assert sum(v[phase] for v in t["variants"].values()) == pytest.approx(t["seconds"][phase], abs=2e-3)
    assert t["seconds"]["benchmark"] > 0 and t["other_s"] >= 0
    assert sum(t["seconds"].values()) + t["other_s"] == pytest.approx(t["total_s"], abs=0.01)
    assert t["benchmark_share"] == pytest.approx(t["seconds"]["benchmark"] / t["total_s"], abs=1e-3)
    assert t["stop_rule"] == {"warmup": 2, "iterations": 10, "min_iterations": 50, "target_ci": 0.03,
                              "min_seconds": 0.5, "max_seconds": 10.0}
    md = (factory_bundle / "report.md").read_text()
    section = md.split("## Where the time went", 1)[1].split("\n## ", 1)[0]
    assert f"Wall time of this run: {t['total_s']:.1f} s" in section
    assert f"| quantize-int8 | {t['seconds']['quantize-int8']:.1f} |" in section
    assert "Benchmark stop rule: after 2 warm-up calls, timed until the median's 95% confidence interval is within " \
           "+-3.0% of it (at least 50 calls and 0.5 s), at most 10 calls or 10 s per batch size." in section
    for v in report["variants"]:
        for batch, stats in v["latency_ms"].items():  # the fast profile's cap of 10 calls comes before 50
            assert stats["iterations"] == 10 and stats["stop"]["reason"] in ("max_iterations", "max_seconds")
            assert f"{batch} 10 calls, median +-{stats['ci95_rel']:.1%}" in section
