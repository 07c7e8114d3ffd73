"""The Python API on a real in-memory module, and the bundle's standalone runner."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.errors import DataError, OutputExistsError


@pytest.fixture(scope="module")
def api_report(tmp_path_factory, digits_model, demo_assets, fast_profile, eval_arrays):
    x, y = eval_arrays
    out = tmp_path_factory.mktemp("api") / "bundle"
    report = edgekit.compress(digits_model, fast_profile, calib_data=str(demo_assets.calib), eval_data=(x, y),
                              out_dir=out)
    return report, out


def test_compress_accepts_a_module_and_arrays(api_report) -> None:
    report, out = api_report
    assert isinstance(report, edgekit.Report)
    assert report.out_dir == str(out.resolve())
    assert report.model["kind"] == "module"
    int8 = report.variant("int8")
    assert int8.status == "accepted" and int8.accuracy_drop is not None and int8.accuracy_drop <= 1.0
    assert report.reference["accuracy"] > 95.0 and report.reference["samples"] == 540
    assert report.recommended in ("fp32", "int8")


def test_the_report_reads_well_in_python(api_report) -> None:
    report, out = api_report
    text = report.summary()
    lines = text.splitlines()
    assert lines[0].startswith(f"edgekit · {report.profile}") and lines[2].split()[:3] == ["variant", "prec", "size"]
    assert any(line.startswith(f"{report.recommended}*") for line in lines)
    int8 = report.variant("int8")
    assert f"{int8.accuracy:.2f}" in text and str(int8.accuracy) not in text  # rounded as shown, not 99.2592592...
    assert f"Bundle: {out.resolve()}" in text
    shown = repr(report)
    assert shown.startswith("Report(profile=") and f"{report.recommended}* accepted" in shown and len(shown) < 300


def test_the_api_shows_progress_unless_told_not_to(digits_model, demo_assets, fast_profile, tmp_path, capsys) -> None:
    x = np.load(demo_assets.calib)["x"][:32]
    edgekit.compress(digits_model, fast_profile, calib_data=x, out_dir=tmp_path / "a", options=edgekit.RunOptions(
        batch_sizes=[1], calib_random=False))
    drawn = capsys.readouterr().err
    assert "loading" in drawn and "quantize-int8" in drawn
    edgekit.compress(digits_model, fast_profile, calib_data=x, out_dir=tmp_path / "b", progress=False,
                     options=edgekit.RunOptions(batch_sizes=[1]))
    assert "quantize-int8" not in capsys.readouterr().err


def test_report_json_round_trips(api_report) -> None:
    report, out = api_report
    on_disk = json.loads((out / "report.json").read_text())
    loaded = edgekit.Report.from_dict(on_disk)
    assert json.loads(json.dumps(loaded.to_dict())) == on_disk == json.loads(json.dumps(report.to_dict()))


def test_deploy_runner_is_standalone_and_checks_parity(api_report) -> None:
    _, out = api_report
    runner = out / "deploy" / "run.py"
    imports = set()
    for node in ast.walk(ast.parse(runner.read_text())):
        if isinstance(node, ast.Import):
            imports |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imports.add(node.module.split(".")[0])
    assert imports - set(sys.stdlib_module_names) == {"onnxruntime", "runner_common"}
    assert (out / "deploy" / "runner_common.py").is_file()
    result_path = out / "run.json"
    # -I: isolated mode, the runner must not need edgekit or the working directory
    subprocess.run([sys.executable, "-I", str(runner), "--iterations", "5", "--warmup", "1", "--json",
                    str(result_path)], check=True, cwd=out.parent, capture_output=True)
    result = json.loads(result_path.read_text())
    assert result["parity_vs_reference"]["top1_agreement"] >= 0.875
    assert result["latency_ms"]["batch_1"]["iterations"] == 5


def test_image_folder_and_callable_data(tmp_path: Path, digits_model, eval_arrays, fast_profile) -> None:
    from PIL import Image

    x, y = eval_arrays
    for i in range(40):
        folder = tmp_path / "images" / f"digit_{y[i]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((x[i, 0] * 255).astype(np.uint8)).save(folder / f"{i}.png")
    module = tmp_path / "mydata.py"
    module.write_text("import numpy as np\n"
                      f"def batches():\n    d = np.load({str(tmp_path / 'd.npz')!r})\n"
                      "    return [(d['x'][i:i + 16], d['y'][i:i + 16]) for i in range(0, 64, 16)]\n")
    np.savez(tmp_path / "d.npz", x=x[:64], y=y[:64])
    sys.path.insert(0, str(tmp_path))
    try:
        report = edgekit.compress(
            digits_model, fast_profile, calib_data=str(tmp_path / "images"), eval_data="mydata:batches",
            out_dir=tmp_path / "out", options=edgekit.RunOptions(image_prep=edgekit_image_prep(), batch_sizes=[1]))
    finally:
        sys.path.remove(str(tmp_path))
    assert report.data["calibration"]["samples"] == 40 and report.data["evaluation"]["samples"] == 64
    assert report.variant("int8").status == "accepted"


def edgekit_image_prep():
    from edgekit.data import ImagePreprocessing

    # digits were scaled to [0, 1]: grayscale, no mean/std shift, 8x8
    return ImagePreprocessing(size=(8, 8), mean=(0.0,), std=(1.0,), grayscale=True)


def test_api_errors_are_typed(digits_model, demo_assets, fast_profile, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="calibration data"):
        edgekit.compress(digits_model, fast_profile, eval_data=str(demo_assets.eval), out_dir=tmp_path / "a")
    (tmp_path / "b").mkdir()
    with pytest.raises(OutputExistsError):
        edgekit.compress(digits_model, fast_profile, calib_data=str(demo_assets.calib), out_dir=tmp_path / "b")


def test_benchmark_api(api_report, fast_profile) -> None:
    report, out = api_report
    result = edgekit.benchmark(out / report.variant("int8").artifact, fast_profile, batch_sizes=[2])
    assert list(result["latency_ms"]) == ["batch_2"] and result["profile"] == "test-fast"


def test_real_sigint_mid_run_leaves_nothing(tmp_path: Path, demo_assets) -> None:
    """Ctrl-C in a terminal signals the whole process group: edgekit and its benchmark runner."""
    slow = tmp_path / "slow.toml"
    slow.write_text('schema_version = 1\nname = "slow"\n[target]\nthreads = 1\n'
                    "[benchmark]\nbatch_sizes = [1]\nwarmup = 1\niterations = 100000000\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "edgekit.cli.main", "compress", "edgekit.zoo:digits_cnn", "--weights",
           str(demo_assets.weights), "--profile", str(slow), "--calib-data", str(demo_assets.calib), "--out", str(out)]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".out.building-*/stages/02-quantize-int8/stage.json")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never reached the benchmark"
            time.sleep(0.1)
        time.sleep(0.5)  # inside the (endless) benchmark now
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out.*"))
