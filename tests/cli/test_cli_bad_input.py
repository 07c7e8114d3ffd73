"""Issue 14's bad inputs that used to pass silently or misname their cause: each is refused before any work with
one paragraph that names it, its own exit code, no traceback, and nothing left behind (docs/ERRORS.md)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clitools import run
from edgekit.errors import ExitCode, NoSpaceError, no_space_error
from test_cli_errors import assert_clean_failure


@pytest.fixture
def base(demo_assets, fast_profile, tmp_path: Path) -> list[str]:
    return ["edgekit.demo:digits_cnn", "--weights", str(demo_assets.weights), "--profile", str(fast_profile),
            "--calib-data", str(demo_assets.calib), "--eval-data", str(demo_assets.eval), "--out",
            str(tmp_path / "out"), "--batch-sizes", "1"]


def with_option(args: list[str], option: str, value: object) -> list[str]:
    args = list(args)
    args[args.index(option) + 1] = str(value)
    return args


def calib_x(demo_assets) -> np.ndarray:
    with np.load(demo_assets.calib) as data:
        return data["x"]


# --- a model without its weights --------------------------------------------------------------------------------

def test_a_factory_without_weights_is_refused(base, tmp_path) -> None:
    args = base[:1] + base[3:]  # no --weights
    code, output = run("compress", *args)
    assert_clean_failure(code, output, ExitCode.BAD_MODEL, tmp_path, "no --weights", "--random-weights")


def test_random_weights_on_purpose_are_flagged(base, tmp_path) -> None:
    code, output = run("compress", *base[:1], *base[3:], "--random-weights", "--max-accuracy-drop", "100")
    assert code == 0, output
    assert "RANDOM weights" in (tmp_path / "out" / "report.md").read_text()


def test_random_weights_and_weights_contradict(base, tmp_path) -> None:
    code, output = run("compress", *base, "--random-weights")
    assert_clean_failure(code, output, ExitCode.USAGE, tmp_path, "--random-weights and --weights")


def test_an_untrained_original_is_called_out(base, tmp_path, digits_model) -> None:
    """Trained weights that do not fit the labels (shuffled labels): the original scores near chance."""
    import torch

    from edgekit.demo import digits_cnn

    untrained = digits_cnn()
    torch.manual_seed(3)
    torch.save(untrained.state_dict(), tmp_path / "untrained.pt")
    code, output = run("compress", *with_option(base, "--weights", tmp_path / "untrained.pt"))
    assert code in (0, ExitCode.VERIFICATION_FAILED), output
    report = (tmp_path / "out" / "report.md").read_text()
    assert "near chance for 10 classes" in report and "looks untrained" in report


# --- data that cannot be right ----------------------------------------------------------------------------------

@pytest.mark.parametrize("poison", ["nan", "inf"])
def test_non_finite_inputs_are_refused_with_counts(base, tmp_path, demo_assets, poison) -> None:
    x = calib_x(demo_assets).copy()
    x[[0, 5], 0, 0, 0] = float(poison)
    np.savez(tmp_path / "bad.npz", x=x)
    code, output = run("compress", *with_option(base, "--calib-data", tmp_path / "bad.npz"))
    kind = "NaN" if poison == "nan" else "infinite"
    assert_clean_failure(code, output, ExitCode.BAD_DATA, tmp_path, "bad.npz", f"2 {kind}", "in 2 of")


def test_integer_images_are_refused(base, tmp_path, demo_assets) -> None:
    x = (calib_x(demo_assets) * 255).astype(np.uint8)
    np.savez(tmp_path / "u8.npz", x=x)
    code, output = run("compress", *with_option(base, "--calib-data", tmp_path / "u8.npz"))
    assert_clean_failure(code, output, ExitCode.BAD_DATA, tmp_path, "uint8 (values 0..255)", "float32", "/ 255")


def test_differently_scaled_data_is_warned_about(base, tmp_path, demo_assets) -> None:
    np.savez(tmp_path / "scaled.npz", x=calib_x(demo_assets) * 255.0)
    code, output = run("compress", *with_option(base, "--calib-data", tmp_path / "scaled.npz"))
    report = (tmp_path / "out" / "report.md").read_text()
    assert "look scaled differently" in report, output


def test_random_bytes_are_not_a_npz(base, tmp_path) -> None:
    (tmp_path / "noise.npz").write_bytes(np.random.default_rng(0).bytes(1000))
    code, output = run("compress", *with_option(base, "--calib-data", tmp_path / "noise.npz"))
    assert_clean_failure(code, output, ExitCode.BAD_DATA, tmp_path, "not a .npz archive")
    assert "allow_pickle" not in output


def test_a_npz_without_x_is_named(base, tmp_path, demo_assets) -> None:
    np.savez(tmp_path / "images.npz", images=calib_x(demo_assets))
    code, output = run("compress", *with_option(base, "--calib-data", tmp_path / "images.npz"))
    assert_clean_failure(code, output, ExitCode.BAD_DATA, tmp_path, "images.npz holds arrays named images",
                         "no 'x'")


def test_calibration_shape_is_checked_against_a_pt2(base, tmp_path, model_files) -> None:
    np.savez(tmp_path / "big.npz", x=np.zeros((8, 1, 16, 16), np.float32))
    args = [str(model_files["pt2"]), *with_option(base, "--calib-data", tmp_path / "big.npz")[3:]]
    code, output = run("compress", *args)
    assert_clean_failure(code, output, ExitCode.SHAPE_MISMATCH, tmp_path, "calibration data", "[1, 16, 16]",
                         "[?, 1, 8, 8]")


def test_a_fixed_batch_pt2_is_named(base, tmp_path, digits_model) -> None:
    import torch

    torch.export.save(torch.export.export(digits_model, (torch.zeros(1, 1, 8, 8),)), str(tmp_path / "b1.pt2"))
    code, output = run("compress", str(tmp_path / "b1.pt2"), *base[3:])
    assert_clean_failure(code, output, ExitCode.SHAPE_MISMATCH, tmp_path, "fixed batch of 1", "Dim('batch')")


# --- options: the usage code, before any work ------------------------------------------------------------------

@pytest.mark.parametrize("extra", [
    ["--prune", "1.5"], ["--prune", "-0.1"], ["--prune", "nan"], ["--prune", "0.5", "--target-macs", "0.5"],
    ["--prune", "0.5", "--prune-layer", "conv1=2.0"], ["--batch-sizes", "0"], ["--input-shape", "1,0,8,8"],
    ["--prune", "0.5", "--distill", "--student", "edgekit.demo:digits_cnn", "--train-data", "x.npz"],
])
def test_bad_option_values_exit_2_before_any_work(base, tmp_path, extra) -> None:
    code, output = run("compress", *base, *extra)
    assert code == ExitCode.USAGE, output
    assert "Traceback" not in output and not (tmp_path / "out").exists()


def test_pruning_a_traced_graph_is_a_usage_error(base, tmp_path, model_files) -> None:
    code, output = run("compress", str(model_files["pt2"]), *base[3:], "--prune", "0.5")
    assert_clean_failure(code, output, ExitCode.USAGE, tmp_path, "torch.export .pt2 is a traced graph")


# --- messages that name the real cause --------------------------------------------------------------------------

def test_a_directory_as_model(base, tmp_path) -> None:
    (tmp_path / "models").mkdir()
    code, output = run("compress", str(tmp_path / "models"), *base[3:])
    assert_clean_failure(code, output, ExitCode.BAD_MODEL, tmp_path, "is a directory without a config.json")


def test_a_file_as_out_is_refused_even_with_force(base, tmp_path) -> None:
    (tmp_path / "out").write_text("mine")
    code, output = run("compress", *base, "--force")
    assert code == ExitCode.OUTPUT_EXISTS and "existing file" in output and "not even with --force" in output
    assert (tmp_path / "out").read_text() == "mine"


def test_state_dict_mismatch_names_the_keys(base, tmp_path, digits_model) -> None:
    import torch

    state = dict(digits_model.state_dict())
    state.pop(next(iter(state)))
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "partial.pt")
    code, output = run("compress", *with_option(base, "--weights", tmp_path / "partial.pt"))
    assert_clean_failure(code, output, ExitCode.BAD_MODEL, tmp_path, "Missing key(s)", "extra.weight")


# --- the output location and the disk --------------------------------------------------------------------------

def test_out_below_a_file(base, tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    code, output = run("compress", *with_option(base, "--out", tmp_path / "file" / "out"))
    assert code == ExitCode.OUTPUT_NOT_WRITABLE and "which is a file" in output and "Traceback" not in output


def test_out_on_a_location_this_user_cannot_write(base, tmp_path, monkeypatch) -> None:
    import edgekit.pipeline.bundle as bundle

    real = os.access  # root ignores chmod: fake the verdict for --out's parent only
    monkeypatch.setattr(bundle.os, "access", lambda path, mode: Path(path) != tmp_path and real(path, mode))
    code, output = run("compress", *base)
    assert_clean_failure(code, output, ExitCode.OUTPUT_NOT_WRITABLE, tmp_path, "cannot be written")


@pytest.mark.parametrize("wrapped", [False, True])
def test_a_full_disk_is_its_own_error_and_leaves_nothing(base, tmp_path, monkeypatch, wrapped) -> None:
    import edgekit.pipeline.compress as compress

    def full(root, *args, **kwargs):
        (root / "manifest.json").write_bytes(b"x" * 1000)
        error = OSError(errno.ENOSPC, "No space left on device", str(root / "manifest.json"))
        if not wrapped:
            raise error
        from edgekit.errors import PipelineError

        raise PipelineError("Export failed.", "Check the input shape.") from error  # how a stage wraps it

    monkeypatch.setattr(compress, "write_manifest", full)
    code, output = run("compress", *base)
    error = output[output.index("Error:"):]  # after the progress bars of the work done before the disk filled
    assert_clean_failure(code, error, ExitCode.NO_SPACE, tmp_path, "The disk filled up", "manifest.json", "free")
    assert "input shape" not in output and "Traceback" not in output


def test_no_space_error_finds_enospc_in_a_cause_chain() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("export failed") from exc
    except RuntimeError as outer:
        assert isinstance(no_space_error(outer), NoSpaceError)
    assert no_space_error(RuntimeError("other")) is None


# --- recovery after SIGKILL -------------------------------------------------------------------------------------

def test_build_dirs_of_killed_runs_are_cleaned_and_live_ones_kept(base, tmp_path, demo_assets) -> None:
    """A SIGKILLed compress leaves .out.building-*; the next run removes it, never one a live process holds."""
    args = [sys.executable, "-m", "edgekit.cli.main", "compress", *with_option(base, "--out", tmp_path / "out")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.building-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = [p for p in tmp_path.glob(".out.building-*") if p.is_dir()]
    assert left, "the killed run left no build dir (it should have been mid-run)"
    live = tmp_path / ".out.building-live"
    live.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'w'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(300)",
                               str(tmp_path / ".out.building-live.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, output = run("compress", *with_option(base, "--out", tmp_path / "out"))
        assert code == 0, output
        assert not any(p.exists() for p in left) and live.is_dir()
    finally:
        holder.kill()
        holder.wait()


def test_compress_recommends_on_the_objective_and_says_so(base, tmp_path) -> None:
    import json

    code, output = run("compress", *base, "--objective", "size")
    assert code == 0, output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    smallest = min((v for v in report["variants"] if v["status"] == "accepted"), key=lambda v: v["size_bytes"])
    assert report["objective"] == "size" and report["recommended"] == smallest["name"]
    assert report["recommended_reason"].startswith("objective size")


def test_an_energy_objective_without_a_meter_is_a_usage_error(base, tmp_path) -> None:
    code, output = run("compress", *base, "--objective", "energy")
    assert_clean_failure(code, output, ExitCode.USAGE, tmp_path, "--objective energy needs measured energy")
