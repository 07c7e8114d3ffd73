"""INT8 recipes end to end on the real digits CNN: the target's recipe, how it is checked, the search, the report.

Every assertion holds on an AVX2-only host and on an AVX-512 VNNI one: where the host matters, the test
states the rule edgekit follows for the host it runs on (a file for a VNNI target is checked on the emulated
Q/DQ math exactly when this host's kernels would saturate), never a number that only one CPU produces.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgekit
from clitools import run
from int8_models import dead_channel_outlier
from edgekit.hardware import detect
from edgekit.profile import load_profile

MODEL = "edgekit.demo:digits_cnn"


def fast(name: str, **verify):
    profile = load_profile(name).replace_section("target", threads=1)
    profile = profile.replace_section("benchmark", batch_sizes=[1], warmup=2, iterations=10)
    return profile.replace_section("verify", **verify) if verify else profile


def compress(demo_assets, profile, out: Path, calib=None):
    return edgekit.compress(MODEL, profile, calib_data=calib or str(demo_assets.calib), eval_data=str(demo_assets.eval),
                            out_dir=out, options=edgekit.RunOptions(weights=demo_assets.weights))


def test_a_vnni_target_gets_full_range_u8s8_checked_as_the_target_runs_it(demo_assets, tmp_path: Path) -> None:
    report = compress(demo_assets, fast("cpu-onnxruntime-vnni"), tmp_path / "vnni")
    int8 = report.variant("int8")
    q = int8.quantization
    assert q["recipe"]["name"] == "u8s8" and q["recipe_plan"]["target_isa"] == "x86-vnni"
    host = detect()
    # on a host whose u8 x s8 kernels saturate (no VNNI) the file is judged on the emulated Q/DQ math
    assert q["check"]["emulated"] is host.u8s8_saturates and q["host_isa"] == host.isa
    assert int8.status == "accepted" and int8.accuracy_drop <= 1.0
    assert report.host["isa"] == host.isa and report.target_isa == "x86-vnni"
    matches = host.isa in ("x86-vnni", "x86-amx")
    assert any("targets x86-vnni" in w for w in report.warnings) is not matches
    md = (tmp_path / "vnni" / "report.md").read_text()
    assert "INT8 recipe u8s8" in md and f"Measured on {host.isa}" in md and "INT8 check:" in md
    manifest = json.loads((tmp_path / "vnni" / "manifest.json").read_text())
    assert manifest["host"]["isa"] == host.isa and manifest["profile"]["target"]["isa"] == "x86-vnni"


def test_the_portable_profile_uses_7_bit_weights_and_the_integer_kernels(demo_assets, tmp_path: Path) -> None:
    import onnx

    report = compress(demo_assets, fast("cpu-onnxruntime"), tmp_path / "any")
    int8 = report.variant("int8")
    assert int8.quantization["recipe"]["name"] == "u8s8-rr" and not int8.quantization["check"]["emulated"]
    assert int8.status == "accepted" and int8.accuracy_drop <= 1.0 and int8.int8_coverage["int8_nodes"] == 4
    model = onnx.load(str(tmp_path / "any" / int8.artifact))
    weights = [onnx.numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert weights and max(int(np.abs(w).max()) for w in weights) <= 64  # reduce_range: 7-bit weights
    if detect().arch == "x86_64":  # every x86-64 host is this profile's target
        assert not any("targets x86-64" in w for w in report.warnings)


def test_the_search_keeps_the_sensitive_layer_in_float_and_says_so(demo_assets, digits_model, tmp_path: Path) -> None:
    import torch

    model = dead_channel_outlier(digits_model)
    with np.load(demo_assets.eval) as e, torch.no_grad():  # the surgery leaves an accurate FP32 model
        assert (model(torch.from_numpy(e["x"])).argmax(1).numpy() == e["y"]).mean() >= 0.97
    # conv2 is ~89% of the model's MACs: a coverage floor of 10% of the compute lets it fall back to float
    report = edgekit.compress(model, fast("cpu-onnxruntime", min_int8_coverage=0.1), calib_data=str(demo_assets.calib),
                              eval_data=str(demo_assets.eval), out_dir=tmp_path / "outlier")
    int8 = report.variant("int8")
    search = int8.quantization["search"]
    attempts = search["attempts"]
    tried = [(a["recipe"], a["calibration_method"]) for a in attempts[:4]]
    assert tried == [("u8s8-rr", "minmax"), ("u8u8", "minmax"), ("u8s8-rr", "percentile"), ("u8s8-rr", "entropy")]
    assert not any(a["within_budget"] for a in attempts[:4]) and attempts[0]["value"] > 5
    assert search["criterion"].startswith("accuracy drop <= 1 points on the labelled calibration data")
    # conv2's weights are what INT8 breaks: ranked first, kept in float, and that alone restores the accuracy
    assert search["sensitivity_order"][0] == "/conv2/Conv" and search["float_layers"] == ["/conv2/Conv"]
    assert len(attempts) == 5 and attempts[search["chosen"]]["within_budget"]
    assert int8.accuracy_drop <= 1.0 and int8.status == "accepted"
    assert int8.int8_coverage["int8_nodes"] == 3 and int8.int8_coverage["float_nodes"] == 1
    assert int8.int8_coverage["basis"] == "macs" and 0.1 <= int8.int8_coverage["ratio"] < 0.2
    assert [f["op"] for f in int8.int8_coverage["float_layers"]] in (["Conv"], ["FusedConv"])  # ORT's fused name
    md = (tmp_path / "outlier" / "report.md").read_text()
    assert "accuracy-aware search" in md and "u8u8/minmax" in md and "layers kept in float: conv2 (/conv2/Conv)" in md  # the module name first


def test_the_search_never_sends_more_compute_to_float_than_the_coverage_floor_allows(demo_assets, digits_model,
                                                                                   tmp_path: Path) -> None:
    """The same model with a floor of 75% of the compute: conv2 (~89% of the MACs) would break it, so the search
    passes it over (budgeting by MACs, as the verdict measures) and the variant is rejected for its accuracy, never
    shipped as an "INT8" file whose compute runs mostly in float."""
    report = edgekit.compress(dead_channel_outlier(digits_model), fast("cpu-onnxruntime", min_int8_coverage=0.75),
                              calib_data=str(demo_assets.calib), eval_data=str(demo_assets.eval),
                              out_dir=tmp_path / "floor")
    int8 = report.variant("int8")
    search = int8.quantization["search"]
    assert search["sensitivity_order"][0] == "/conv2/Conv"
    fallback = [a["float_layers"] for a in search["attempts"] if a["float_layers"]]
    assert fallback and all("/conv2/Conv" not in layers for layers in fallback)  # the cheaper layers were tried
    assert int8.status == "rejected" and "accuracy drop" in int8.reason and report.recommended == "fp32"


def test_without_the_layer_fallback_the_same_model_is_rejected(demo_assets, digits_model, tmp_path: Path) -> None:
    profile = fast("cpu-onnxruntime", min_int8_coverage=0.75).replace_section("quantize", accuracy_control=False)
    report = edgekit.compress(dead_channel_outlier(digits_model), profile, calib_data=str(demo_assets.calib),
                              eval_data=str(demo_assets.eval), out_dir=tmp_path / "off")
    int8 = report.variant("int8")
    assert len(int8.quantization["search"]["attempts"]) == 1
    assert int8.status == "rejected" and "accuracy drop" in int8.reason and report.recommended == "fp32"


def test_cli_int8_recipe_override(demo_assets, fast_profile, tmp_path: Path) -> None:
    out = tmp_path / "u8u8"
    code, output = run("compress", MODEL, "--weights", demo_assets.weights, "--profile", fast_profile,
                       "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--out", out,
                       "--int8-recipe", "u8u8", "--batch-sizes", "1")
    assert code == 0, output
    int8 = next(v for v in json.loads((out / "report.json").read_text())["variants"] if v["name"] == "int8")
    assert int8["quantization"]["recipe"]["name"] == "u8u8" and "explicitly" in int8["quantization"]["recipe_plan"]["why"]
    assert "INT8 recipe u8u8" in output and "host" in output
    code, output = run("compress", MODEL, "--weights", demo_assets.weights, "--calib-data", demo_assets.calib,
                       "--out", tmp_path / "bad", "--int8-recipe", "u4u4")
    assert code == 2 and "u4u4" in output and "Traceback" not in output and not (tmp_path / "bad").exists()


@pytest.mark.parametrize("fixture", ["zen3-epyc-avx2", "zen4-epyc-vnni"])
def test_the_default_profile_follows_the_faked_host(fixture: str, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "proc").mkdir()
    source = Path(__file__).parents[1] / "unit" / "data" / "cpuinfo" / f"{fixture}.txt"
    (tmp_path / "proc" / "cpuinfo").write_text(source.read_text())
    monkeypatch.setenv("EDGEKIT_SYSFS_ROOT", str(tmp_path))
    code, output = run("profiles", "list")
    expected = "cpu-onnxruntime-vnni" if "vnni" in fixture else "cpu-onnxruntime "
    assert code == 0 and f"* {expected}" in output and ("x86-vnni" if "vnni" in fixture else "x86-avx2") in output
