"""`edgekit compress --prune --distill` end to end on the digits CNN, bad input, and torchrun (slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clitools import run
from edgekit.errors import ExitCode


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, demo_assets, fast_profile) -> Path:
    out = tmp_path_factory.mktemp("distill") / "bundle"
    code, output = run("compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights, "--profile", fast_profile,
                       "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--out", out,
                       "--prune", "0.6", "--distill", "--train-data", demo_assets.train, "--epochs", "2",
                       "--hint", "conv2:conv2", "--batch-sizes", "1", "--max-accuracy-drop", "5")
    assert code == 0, output
    return out


def test_prune_distill_bundle(distilled: Path) -> None:
    report = json.loads((distilled / "report.json").read_text())
    assert [v["name"] for v in report["variants"]] == ["fp32", "int8", "pruned-fp32", "pruned-int8"]
    assert report["variants"][2]["artifact"] == "stages/05-export-pruned/model.onnx"
    d = report["distillation"]
    assert d["epochs_run"] == 2 and d["steps"] == 2 * d["steps_per_epoch"] and len(d["history"]) == 3
    # the explicit --epochs 2 is the budget that ended it (early stopping on, default patience)
    assert d["stop_reason"] == "epochs" and d["max_epochs"] == 2 and d["patience"] == 5 and d["early_stopping"] == "on"
    assert all(row["val_loss"] > 0 for row in d["history"]) and d["last_gain_epoch"] in (0, 1, 2)
    assert d["config"]["hints"] == ["conv2:conv2"] and d["labels_used"] and d["world_size"] == 1
    assert d["accuracy_before"] is not None and d["accuracy_after"] is not None
    # keep-best chose on a held-out share of the training data, never on the eval data that judged the variants
    chose, judged = d["selected_on"], d["judged_on"]
    assert chose["name"] == "held-out 10% of the training data" and chose["samples"] == 126
    assert chose["metric"] == "val_accuracy" and d["train_samples"] == 1257 - 126
    assert judged["name"] == "evaluation data" and judged["samples"] == report["reference"]["samples"]
    kept = d["history"][d["best_epoch"]]["val_accuracy"]
    assert kept == max(r["val_accuracy"] for r in d["history"]) >= d["history"][0]["val_accuracy"]
    assert d["teacher_accuracy"] == pytest.approx(report["reference"]["accuracy"])
    assert set(d["variant_accuracy"]) == {"pruned-fp32", "pruned-int8"}
    assert d["files"]["plot"] == "stages/04-distill/training.png"
    stage = distilled / "stages" / "04-distill"
    assert {"state_dict.pt", "architecture.json", "model.pt2", "log.csv", "log.json", "training.png", "distill.json",
            "stage.json"} <= {p.name for p in stage.iterdir()}
    assert (stage / "checkpoints" / "last.pt").is_file()
    assert not (distilled.parent / ".bundle.distill").exists()  # the resumable copy beside --out is freed
    assert (stage / "log.csv").read_text().splitlines()[0].startswith("epoch,step,lr,loss")
    md = (distilled / "report.md").read_text()
    assert "## Distillation" in md and "accuracy per epoch): in Plots above" in md
    assert report["plots"]["distillation_training"] == "plots/distillation_training.png"
    assert "![Distillation training curve](plots/distillation_training.png)" in md
    assert (distilled / "plots" / "distillation_training.png").is_file()
    assert "- selected on: held-out 10% of the training data" in md and "judged on: evaluation data" in md
    assert "- the epoch budget (--epochs 2) ended training after 2 of at most 2 epochs" in md
    assert d["still_improving"] == ("**still improving when the budget ended**" in md)
    assert d["still_improving"] is False or d["suggestion"]["option"] == f"--epochs {d['suggestion']['epochs']}"
    assert report["data"]["training"]["samples"] == 1257


def test_val_data_chooses_the_kept_epoch(demo_assets, fast_profile, tmp_path: Path) -> None:
    val = tmp_path / "val.npz"
    with np.load(demo_assets.train) as data:
        np.savez(val, x=data["x"][:200], y=data["y"][:200])
    common = ["compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights, "--profile", fast_profile,
              "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--prune", "0.6",
              "--batch-sizes", "1", "--max-accuracy-drop", "100"]
    code, output = run(*common, "--out", tmp_path / "v", "--distill", "--train-data", demo_assets.train,
                       "--val-data", val, "--epochs", "1")
    assert code == 0, output
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    d = report["distillation"]
    assert d["selected_on"]["name"] == "validation data (--val-data)" and d["selected_on"]["samples"] == 200
    assert d["train_samples"] == 1257 and report["data"]["validation"]["samples"] == 200  # nothing held out
    assert d["judged_on"]["name"] == "evaluation data" and d["best_epoch"] in (0, 1)
    assert "- selected on: validation data (--val-data)" in (tmp_path / "v" / "report.md").read_text()
    code, output = run(*common, "--out", tmp_path / "e", "--distill", "--train-data", demo_assets.train,
                       "--val-data", demo_assets.eval, "--epochs", "1")
    assert code == ExitCode.BAD_DATA and "validation data is the evaluation data" in output
    code, output = run(*common, "--out", tmp_path / "n", "--val-data", val)
    assert code == ExitCode.PIPELINE and "only used by distillation" in output
    code, output = run(*common, "--out", tmp_path / "f", "--distill", "--train-data", demo_assets.train,
                       "--val-fraction", "0.9")
    assert code == ExitCode.USAGE and "--val-fraction" in output
    assert not any((tmp_path / name).exists() for name in "enf") and "Traceback" not in output


def test_student_factory_is_distilled_from_the_original(demo_assets, fast_profile, tmp_path: Path) -> None:
    out = tmp_path / "student"
    code, output = run("compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights, "--profile", fast_profile,
                       "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--out", out,
                       "--student", "distill_student:small_digits_cnn", "--distill", "--kd-no-labels",
                       "--train-data", demo_assets.train, "--epochs", "3", "--lr", "0.01", "--batch-sizes", "1",
                       "--max-accuracy-drop", "100")
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    assert [v["name"] for v in report["variants"]][2:] == ["student-fp32", "student-int8"]
    d = report["distillation"]
    assert not d["labels_used"] and d["accuracy_after"] > d["accuracy_before"] + 30  # an untrained student
    assert "pruning" not in report or report["pruning"] is None


def test_bad_distillation_input(demo_assets, fast_profile, tmp_path: Path) -> None:
    common = ["compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights, "--profile", fast_profile,
              "--calib-data", demo_assets.calib, "--out", tmp_path / "o"]
    code, output = run(*common, "--distill", "--train-data", demo_assets.train)
    assert code == ExitCode.USAGE and "needs a student" in output and "--prune" in output
    code, output = run(*common, "--prune", "0.5", "--distill")
    assert code == ExitCode.BAD_DATA and "--train-data" in output
    code, output = run(*common, "--prune", "0.5", "--epochs", "3")
    assert code == ExitCode.USAGE and "--epochs is a distillation option" in output
    code, output = run(*common, "--prune", "0.5", "--distill", "--train-data", tmp_path / "missing.npz")
    assert code == ExitCode.NOT_FOUND
    bad = tmp_path / "bad.npz"
    with np.load(demo_assets.train) as data:
        np.savez(bad, x=data["x"][:64], y=data["y"][:64] + 10)
    code, output = run(*common, "--prune", "0.5", "--distill", "--train-data", bad)
    assert code == ExitCode.BAD_DATA and "class indices 0..9" in output
    code, output = run(*common, "--prune", "0.5", "--distill", "--train-data", demo_assets.train, "--kd-alpha", "2")
    assert code == ExitCode.USAGE and "alpha" in output
    code, output = run(*common, "--student", "distill_student:small_digits_cnn", "--prune", "0.5", "--distill",
                       "--train-data", demo_assets.train)
    assert code == ExitCode.USAGE and "pick one" in output
    assert not (tmp_path / "o").exists() and "Traceback" not in output


@pytest.mark.slow
def test_torchrun_two_gloo_processes(demo_assets, fast_profile, distilled: Path, tmp_path: Path) -> None:
    """The same command data-parallel: rank 0 writes the bundle, the result matches one process."""
    if shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("torchrun is not installed beside this python")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2",
           "-m", "edgekit.cli.main", "compress", "edgekit.zoo:digits_cnn", "--weights", str(demo_assets.weights),
           "--profile", str(fast_profile), "--calib-data", str(demo_assets.calib), "--eval-data", str(demo_assets.eval),
           "--out", str(out), "--prune", "0.6", "--distill", "--train-data", str(demo_assets.train), "--epochs", "2",
           "--hint", "conv2:conv2", "--batch-sizes", "1", "--max-accuracy-drop", "5"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    d = json.loads((out / "report.json").read_text())["distillation"]
    single = json.loads((distilled / "report.json").read_text())["distillation"]
    assert d["world_size"] == 2 and d["backend"] == "gloo" and d["steps"] == single["steps"]
    # same global batches; only per-shard BatchNorm statistics and reduction order differ
    assert abs(d["accuracy_after"] - single["accuracy_after"]) <= 1.0
    assert not list(tmp_path.glob(".ddp.*")), "a rank left files beside the bundle"


RANK_SCRIPT = """
import os, sys, numpy as np, torch
from edgekit.data import Dataset
from edgekit.demo import digits_cnn
from edgekit.distill.config import DistillConfig
from edgekit.distill.train import distill
torch.set_num_threads(1)
teacher = digits_cnn(); teacher.load_state_dict(torch.load(sys.argv[1], weights_only=True))
data = np.load(sys.argv[2]); student = digits_cnn()
result = distill(teacher, student, Dataset(data["x"][:256], data["y"][:256]), None, DistillConfig(epochs=1), seed=0)
torch.save(result.student.state_dict(), os.path.join(sys.argv[3], f"rank{os.environ['RANK']}.pt"))
"""


@pytest.mark.slow
def test_both_ranks_end_with_identical_weights(demo_assets, tmp_path: Path) -> None:
    import torch

    script = tmp_path / "ranks.py"
    script.write_text(RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2", str(script),
           str(demo_assets.weights), str(demo_assets.train), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)  # parameters all-reduced, BatchNorm buffers from rank 0
