"""`edgekit sweep` end to end on the digits CNN, and its one-paragraph errors with edgekit's exit codes."""

from __future__ import annotations

import json

import numpy as np

from clitools import run

from edgekit.errors import ExitCode


def args(demo_assets, fast_profile, out, *extra):
    return ("sweep", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "-p", fast_profile,
            "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--out", out, *extra)


def test_sweep_writes_a_bundle_with_the_chosen_variant(demo_assets, fast_profile, tmp_path) -> None:
    out = tmp_path / "out"
    # the budget: half the channels of every layer but the head, stem included, no distillation, costs a few points
    code, output = run(*args(demo_assets, fast_profile, out, "--prune", "0.5", "--precisions", "int8",
                             "--objective", "size", "--max-accuracy-drop", "10", "--cache-dir", tmp_path / "cache"))
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    assert report["recommended"] == report["sweep"]["chosen"] == "pruned-0.5-int8"
    assert f"Chosen: {report['recommended']}" in output and "Stage cache:" in output
    assert (out / "report.html").is_file() and (out / "plots" / "accuracy_vs_latency.png").is_file()
    code, output = run(*args(demo_assets, fast_profile, out, "--prune", "0.5"))
    assert code == ExitCode.OUTPUT_EXISTS and "already exists" in output and "Traceback" not in output
    # every INT8 variant calibrated on dim images (x 0.05) breaks the budget: nothing is chosen, exit 9
    with np.load(demo_assets.calib) as c:
        np.savez(tmp_path / "dim.npz", x=c["x"] * 0.05, y=c["y"])
    dim = list(args(demo_assets, fast_profile, out, "--prune", "0.5", "--precisions", "int8",
                    "--max-accuracy-drop", "0.5", "--force", "--cache-dir", tmp_path / "cache-dim"))
    dim[dim.index("--calib-data") + 1] = tmp_path / "dim.npz"
    code, output = run(*dim)
    assert code == ExitCode.VERIFICATION_FAILED
    assert "no variant meets the 0.5-point accuracy budget; the closest is" in output
    assert (out / "report.md").is_file()  # the report that explains the failure is still written


def test_bad_sweep_options_are_one_paragraph_errors(demo_assets, fast_profile, tmp_path) -> None:
    code, output = run(*args(demo_assets, fast_profile, tmp_path / "o", "--precisions", "fp16"))
    assert code == ExitCode.USAGE and "Unknown precision" in output and "Traceback" not in output
    code, output = run(*args(demo_assets, fast_profile, tmp_path / "o", "--prune", "1.5"))
    assert code == ExitCode.USAGE and "ratios must be in [0, 1)" in output
    code, output = run(*args(demo_assets, fast_profile, tmp_path / "o", "--objective", "energy"))
    assert code == ExitCode.USAGE and "--energy auto" in output
    code, output = run("sweep", "edgekit.demo:digits_cnn", "-p", fast_profile, "--out", tmp_path / "o",
                       "--eval-data", demo_assets.calib.parent / "missing.npz", "--weights", demo_assets.weights)
    assert code == ExitCode.NOT_FOUND and "does not exist" in output
    assert not (tmp_path / "o").exists()
