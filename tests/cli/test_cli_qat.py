"""`edgekit compress --prune --distill --qat` end to end on the digits CNN, and its usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clitools import run
from edgekit.errors import ExitCode

pytest.importorskip("torchao", reason="--qat needs torchao (edgekit[qat])")


def test_prune_distill_qat_bundle(demo_assets, fast_profile, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    code, output = run("compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights, "--profile", fast_profile,
                       "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--out", out,
                       "--prune", "0.65", "--distill", "--qat", "--train-data", demo_assets.train, "--epochs", "1",
                       "--qat-epochs", "1", "--batch-sizes", "1", "--max-accuracy-drop", "5")
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    variants = {v["name"]: v for v in report["variants"]}
    assert list(variants) == ["fp32", "int8", "pruned-fp32", "pruned-int8", "pruned-int8-qat"]
    qat = variants["pruned-int8-qat"]
    assert qat["precision"] == "int8" and qat["status"] == "accepted" and qat["artifact"] == "stages/07-qat/model.onnx"
    assert qat["int8_coverage"]["int8_nodes"] == 4 and qat["int8_coverage"]["float_nodes"] == 0
    assert qat["quantization"]["format"] == "QDQ"
    q = report["qat"]
    assert q["variant"] == "pruned-int8-qat" and q["ptq"]["variant"] == "pruned-int8" and q["fp32"]["variant"] == "pruned-fp32"
    assert q["qat"]["accuracy"] == pytest.approx(qat["accuracy"])
    assert q["gain_over_ptq"] == pytest.approx(qat["accuracy"] - variants["pruned-int8"]["accuracy"])
    assert q["config"]["epochs"] == 1 and q["config"]["lr"] == pytest.approx(3e-4) and q["config"]["hints"] == []
    assert q["qat"]["accuracy"] >= q["ptq"]["accuracy"] - 1.0
    stage = json.loads((out / "stages" / "07-qat" / "stage.json").read_text())
    assert stage["source"] == "distill" and stage["input"]["format"] == "torch" and stage["output"]["format"] == "onnx"
    md = (out / "report.md").read_text()
    assert "## Quantization-aware distillation (INT8)" in md and "INT8 post-training (PTQ)" in md
    assert "artifact `pruned-int8-qat`" in md
    assert not list(tmp_path.glob(".bundle.distill*")), "checkpoints left beside the bundle"


def test_qat_usage_errors(demo_assets, fast_profile, tmp_path: Path) -> None:
    common = ["compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights,
              "--calib-data", demo_assets.calib, "--out", tmp_path / "o"]
    code, output = run(*common, "--profile", fast_profile, "--prune", "0.5", "--qat", "--train-data", demo_assets.train)
    assert code == ExitCode.USAGE and "--qat is a distillation option: add --distill" in output
    code, output = run(*common, "--profile", fast_profile, "--prune", "0.5", "--distill", "--qat")
    assert code == ExitCode.BAD_DATA and "(--qat) needs training data" in output and "--train-data" in output
    fp32_only = tmp_path / "fp32.toml"
    fp32_only.write_text(fast_profile.read_text() + '\n[compile]\nprecisions = ["fp32"]\n')
    code, output = run(*common, "--profile", fp32_only, "--distill", "--qat", "--train-data", demo_assets.train)
    assert code == ExitCode.PIPELINE and "builds only fp32" in output and "int8" in output
    code, output = run(*common, "--profile", fast_profile, "--distill", "--qat", "--train-data", demo_assets.train,
                       "--qat-lr", "0")
    assert code == ExitCode.USAGE and "QAT learning rate" in output
    assert not (tmp_path / "o").exists() and "Traceback" not in output
