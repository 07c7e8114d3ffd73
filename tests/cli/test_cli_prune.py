"""`edgekit compress --prune` end to end on the digits CNN: pruned variants, measured, reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from clitools import run
from edgekit.errors import ExitCode
from edgekit.models import load_model



@pytest.fixture(scope="module")
def pruned_bundle(tmp_path_factory, demo_assets, fast_profile) -> Path:
    out = tmp_path_factory.mktemp("prune") / "bundle"
    code, output = run("compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights, "--profile",
                       fast_profile, "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval,
                       "--out", out, "--prune", "0.5", "--batch-sizes", "1", "--max-accuracy-drop", "10")
    assert code == 0, output  # the budget: half the channels of every layer but the head, stem included, no distillation
    return out


def test_pruned_variants_are_built_verified_and_measured(pruned_bundle: Path) -> None:
    report = json.loads((pruned_bundle / "report.json").read_text())
    names = [v["name"] for v in report["variants"]]
    assert names == ["fp32", "int8", "pruned-fp32", "pruned-int8"]
    by_name = {v["name"]: v for v in report["variants"]}
    assert by_name["pruned-int8"]["precision"] == "int8" and by_name["pruned-int8"]["int8_coverage"]["int8_nodes"] == 4
    assert by_name["pruned-fp32"]["size_bytes"] < 0.5 * by_name["fp32"]["size_bytes"]
    # half of every layer's channels, the stem's too, with BatchNorm re-estimated and no distillation: a few points
    assert 0 < by_name["pruned-fp32"]["accuracy_drop"] <= 10.0 and by_name["pruned-fp32"]["status"] == "accepted"
    pruning = report["pruning"]
    assert pruning["mode"] == "structured" and pruning["batchnorm_recalibrated"] == 2
    assert pruning["ratios"]["macs"] < 0.3 and pruning["ignored"] == ["fc2"]
    assert pruning["output_layers"] == {"fc2": "its output is the model's output"}
    assert {m["vs"] for m in pruning["measured"].values()} == {"fp32", "int8"}
    layers = {row["layer"]: row for row in pruning["layers"]}
    assert layers["conv2"]["channels_after"] == [16, 32] and layers["conv2"]["channels_before"] == [32, 64]
    md = (pruned_bundle / "report.md").read_text()
    assert "## Pruning" in md and "| conv2 | Conv2d | 32/64 | 16/32 |" in md
    for name, m in pruning["measured"].items():
        # a speed-up is claimed only outside the noise, and then with its p50/p90 spread
        assert m["measurable"] == (not m["text"].startswith("no measurable difference")), m
        assert ("across the p50/p90 spread" in m["text"]) == m["measurable"]
        assert f"- measured: **{name}** vs {m['vs']} at batch_1: {m['text']}" in md


def test_pruned_variants_count_their_own_ops_for_hardware_efficiency(pruned_bundle: Path) -> None:
    """Each variant's ops come from its own graph (one counter, summary.summarize_onnx): a pruned variant does
    fewer than its dense twin, its INT8 twin the same; GOP/s is ops x the best batch's items/s."""
    from edgekit.summary import summarize_onnx

    report = json.loads((pruned_bundle / "report.json").read_text())
    by_name = {v["name"]: v for v in report["variants"]}
    assert by_name["fp32"]["efficiency"]["ops_per_inference"] == 2 * report["model"]["macs"]
    for name in ("pruned-fp32", "pruned-int8"):
        e = by_name[name]["efficiency"]
        assert e["ops_per_inference"] == 2 * summarize_onnx(pruned_bundle / by_name[name]["artifact"]).macs
        assert e["gops"] == pytest.approx(e["ops_per_inference"] * by_name[name]["throughput_by_batch"]["batch_1"] / 1e9)
    assert by_name["pruned-int8"]["efficiency"]["ops_per_inference"] \
        == by_name["pruned-fp32"]["efficiency"]["ops_per_inference"] < by_name["fp32"]["efficiency"]["ops_per_inference"]
    assert "## Hardware efficiency" in (pruned_bundle / "report.md").read_text()


def test_pruned_stage_saves_pt2_and_spec(pruned_bundle: Path, eval_arrays) -> None:
    stage = pruned_bundle / "stages" / "03-prune"
    assert {"model.pt2", "state_dict.pt", "architecture.json", "prune.json", "stage.json"} <= {p.name for p in stage.iterdir()}
    loaded = load_model(stage / "model.pt2")
    x = torch.from_numpy(eval_arrays[0][:16])
    onnx_report = json.loads((pruned_bundle / "report.json").read_text())
    assert loaded.kind.value == "exported_program" and loaded.module(x).shape == (16, 10)
    assert onnx_report["variants"][2]["artifact"] == "stages/04-export-pruned/model.onnx"


def test_target_macs_and_2_4_through_the_cli(demo_assets, fast_profile, tmp_path: Path) -> None:
    common = ["compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights, "--profile", fast_profile,
              "--calib-data", demo_assets.calib, "--batch-sizes", "1"]
    # the stem is pruned too now: without distillation the pruned digits CNN drops ~1 point, which is not the subject
    code, output = run(*common, "--out", tmp_path / "macs", "--target-macs", "0.5", "--max-accuracy-drop", "5")
    assert code == 0, output
    ratio = json.loads((tmp_path / "macs" / "report.json").read_text())["pruning"]["ratios"]["macs"]
    assert ratio <= 0.5
    code, output = run(*common, "--out", tmp_path / "s24", "--prune-mode", "2:4")
    assert code == 0, output
    pruning = json.loads((tmp_path / "s24" / "report.json").read_text())["pruning"]
    assert [s["name"] for s in pruning["sparsity"]] == ["conv2", "fc1"]
    assert all(s["pattern_2_4"] for s in pruning["sparsity"])


def test_pruning_a_traced_graph_or_onnx_is_refused(model_files, demo_assets, fast_profile, tmp_path: Path) -> None:
    for kind in ("pt2", "onnx"):
        code, output = run("compress", model_files[kind], "--profile", fast_profile, "--calib-data",
                           demo_assets.calib, "--out", tmp_path / kind, "--prune", "0.5")
        assert code == ExitCode.USAGE, output  # found before the model is loaded
        assert "factory" in output and "Traceback" not in output and not (tmp_path / kind).exists()


def test_bad_prune_options(demo_assets, fast_profile, tmp_path: Path) -> None:
    common = ["compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights, "--profile", fast_profile,
              "--calib-data", demo_assets.calib, "--out", tmp_path / "o"]
    code, output = run(*common, "--prune", "1.5")
    assert code == ExitCode.USAGE and "out of range" in output
    code, output = run(*common, "--prune", "0.5", "--prune-layer", "conv2")
    assert code == ExitCode.USAGE and "NAME=RATIO" in output
    code, output = run(*common, "--prune", "0.5", "--prune-ignore", "nope")
    assert code == ExitCode.PIPELINE and "nope" in output and not (tmp_path / "o").exists()


@pytest.mark.parametrize("why", [
    # --prune 0.999 (capped at 0.9) with round_to 128: every layer is at most 128 wide, so rounds back to its width
    ("--prune", "0.999", "--prune-round-to", "128"),
    ("--prune", "0.5", *[arg for layer in ("conv1", "conv2", "fc1", "fc2") for arg in ("--prune-ignore", layer)]),
])
def test_pruning_that_removes_nothing_builds_no_pruned_variant(demo_assets, fast_profile, tmp_path: Path,
                                                               why: tuple[str, ...]) -> None:
    """Before: every layer unchanged (params ratio 1.0), yet pruned-* variants were built and a 1.44x "speed-up"
    of the original over itself reported. Now the run stops at the prune step, says why, writes no bundle."""
    out = tmp_path / "o"
    code, output = run("compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights, "--profile",
                       fast_profile, "--calib-data", demo_assets.calib, "--out", out, "--batch-sizes", "1", *why)
    flat = " ".join(output.split())
    assert code == ExitCode.PIPELINE, output
    assert f"{why[0]} {why[1]} removed nothing from the model" in flat and "so none is built" in flat
    assert ("round_to 128" in flat) if "--prune-round-to" in why else ("conv1, conv2, fc1, fc2 are kept whole" in flat)
    assert "--prune-ignore" in flat and "Traceback" not in output
    assert not out.exists() and not list(tmp_path.glob(".o.building-*"))
