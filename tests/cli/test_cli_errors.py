"""Bad input: one-paragraph error, a distinct exit code, no traceback, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clitools import run
from edgekit.errors import ExitCode



@pytest.fixture
def base(demo_assets, fast_profile, tmp_path: Path) -> list[str]:
    return ["edgekit.demo:digits_cnn", "--weights", str(demo_assets.weights), "--profile", str(fast_profile),
            "--calib-data", str(demo_assets.calib), "--eval-data", str(demo_assets.eval), "--out",
            str(tmp_path / "out"), "--batch-sizes", "1"]


def assert_clean_failure(code: int, output: str, expected: ExitCode, tmp_path: Path, *needles: str) -> None:
    assert code == expected, output
    # one paragraph, last; before it at most the "done: ..." lines of steps that finished (a log, not a terminal)
    before, _, error = output.partition("Error:")
    assert error and all(line.startswith("done: ") for line in before.splitlines()), output
    assert "Traceback" not in output and output.count("Error:") == 1, output
    for needle in needles:
        assert needle in output, (needle, output)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if ".building-" in p.name]


def test_missing_data_file(base, tmp_path) -> None:
    args = list(base)
    args[args.index("--calib-data") + 1] = str(tmp_path / "nope.npz")
    code, output = run("compress", *args)
    assert_clean_failure(code, output, ExitCode.NOT_FOUND, tmp_path, "nope.npz")


def test_missing_model_file(base, tmp_path) -> None:
    code, output = run("compress", str(tmp_path / "nope.pt2"), *base[3:])
    assert_clean_failure(code, output, ExitCode.NOT_FOUND, tmp_path, "nope.pt2", "does not exist")


def test_truncated_model_file(model_files, base, tmp_path) -> None:
    broken = tmp_path / "broken.pt2"
    broken.write_bytes(model_files["pt2"].read_bytes()[:400])
    code, output = run("compress", str(broken), *base[3:])
    assert_clean_failure(code, output, ExitCode.BAD_MODEL, tmp_path, "broken.pt2", "truncated or corrupt")


def test_corrupt_onnx(base, tmp_path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage" * 10)
    code, output = run("compress", str(broken), *base[3:])
    assert_clean_failure(code, output, ExitCode.BAD_MODEL, tmp_path, "broken.onnx")


def test_data_shape_mismatch(base, tmp_path) -> None:
    np.savez(tmp_path / "rgb.npz", x=np.zeros((4, 3, 32, 32), np.float32))
    args = list(base)
    args[args.index("--calib-data") + 1] = str(tmp_path / "rgb.npz")
    args[args.index("--eval-data") + 1] = str(tmp_path / "rgb.npz")
    code, output = run("compress", *args)
    assert_clean_failure(code, output, ExitCode.SHAPE_MISMATCH, tmp_path, "rgb.npz", "[3, 32, 32]")


def test_input_shape_disagreeing_with_data(base, tmp_path) -> None:
    code, output = run("compress", *base, "--input-shape", "1,3,8,8")
    assert_clean_failure(code, output, ExitCode.SHAPE_MISMATCH, tmp_path, "--input-shape")


def test_misspelt_profile_key(base, tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('schema_version = 1\nname = "bad"\n[benchmark]\nitertions = 3\n')
    args = list(base)
    args[args.index("--profile") + 1] = str(bad)
    code, output = run("compress", *args)
    assert_clean_failure(code, output, ExitCode.BAD_PROFILE, tmp_path, "bad.toml", "benchmark.itertions",
                         "benchmark.iterations")


def test_unknown_profile_name_lists_valid_ones(base, tmp_path) -> None:
    args = list(base)
    args[args.index("--profile") + 1] = "cpu-onnxrunime"
    code, output = run("compress", *args)
    assert_clean_failure(code, output, ExitCode.UNKNOWN_PROFILE, tmp_path, "cpu-onnxruntime", "arm64-onnxruntime")


def test_existing_output_dir_is_refused_and_untouched(base, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, output = run("compress", *base)
    assert code == ExitCode.OUTPUT_EXISTS and "--force" in output and "Traceback" not in output
    assert (out / "keep.txt").read_text() == "mine"


def test_force_replaces_output_dir(base, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    code, output = run("compress", *base, "--force")
    assert code == 0, output
    assert not (out / "old.txt").exists() and (out / "report.json").is_file()


def test_ctrl_c_mid_run_leaves_nothing(base, tmp_path, monkeypatch) -> None:
    import edgekit.pipeline.compress

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(edgekit.pipeline.compress, "verify_and_bench", interrupted)
    code, output = run("compress", *base)
    assert code == ExitCode.INTERRUPTED and "Interrupted" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if ".building-" in p.name]


def test_debug_shows_the_traceback(base, tmp_path) -> None:
    code, output = run("--debug", "compress", str(tmp_path / "nope.pt2"), *base[3:])
    assert code == ExitCode.NOT_FOUND and "Traceback" in output


def test_weights_that_do_not_fit(base, tmp_path) -> None:
    import torch

    torch.save({"conv1.weight": torch.zeros(3, 3)}, tmp_path / "wrong.pt")
    args = list(base)
    args[args.index("--weights") + 1] = str(tmp_path / "wrong.pt")
    code, output = run("compress", *args)
    assert_clean_failure(code, output, ExitCode.BAD_MODEL, tmp_path, "do not match")


def test_exit_codes_are_distinct() -> None:
    values = [int(c) for c in ExitCode]
    assert len(values) == len(set(values))


@pytest.mark.parametrize("shift", [100, -1])
def test_labels_outside_the_models_classes_are_a_data_error(base, tmp_path, eval_arrays, shift) -> None:
    """Before: every accuracy 0.00%, every drop +0.00, all accepted, exit 0."""
    x, y = eval_arrays
    bad = tmp_path / "eval_bad.npz"
    y = y.copy()
    y[:5] = y[:5] + shift if shift > 0 else shift
    np.savez(bad, x=x, y=y)
    args = list(base)
    args[args.index("--eval-data") + 1] = str(bad)
    code, output = run("compress", *args)
    assert_clean_failure(code, output, ExitCode.BAD_DATA, tmp_path, "eval_bad.npz", "[0, 10)", "5 of 540")


def test_calibration_labels_are_checked_too(base, tmp_path, demo_assets) -> None:
    with np.load(demo_assets.calib) as c:
        bad = tmp_path / "calib_bad.npz"
        np.savez(bad, x=c["x"], y=c["y"] + 10)
    args = list(base)
    args[args.index("--calib-data") + 1] = str(bad)
    code, output = run("compress", *args)
    assert_clean_failure(code, output, ExitCode.BAD_DATA, tmp_path, "calib_bad.npz", "[0, 10)")


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "101", "lots"])
def test_the_accuracy_budget_must_be_a_finite_number_of_points(base, tmp_path, value) -> None:
    """Before: nan switched the guard off ("drop 0.00 <= nan"), -1 rejected FP32 itself; both exit 0."""
    code, output = run("compress", *base, "--max-accuracy-drop", value)
    assert code == 2 and "--max-accuracy-drop" in output and "Traceback" not in output, output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("key", "value"), [("max_accuracy_drop", "nan"), ("max_accuracy_drop", "-1.0"),
                                            ("min_int8_coverage", "1.5"), ("min_cosine", "nan"),
                                            ("min_top1_agreement", "nan"), ("min_top1_agreement", "1.5")])
def test_a_profile_cannot_switch_the_guard_off(base, tmp_path, key, value) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(f'schema_version = 1\nname = "p"\n[verify]\n{key} = {value}\n')
    args = list(base)
    args[args.index("--profile") + 1] = str(profile)
    code, output = run("compress", *args)
    assert_clean_failure(code, output, ExitCode.BAD_PROFILE, tmp_path, f"verify.{key}", "finite")
