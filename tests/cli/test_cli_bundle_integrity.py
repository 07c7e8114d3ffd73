"""A tampered bundle must not run: `edgekit verify`, the bundle's own deploy/run.py and `edgekit bench` check
every file they use against manifest.json (issue 14, "nothing wrong passes silently")."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clitools import run
from test_cli_compress import factory_bundle  # noqa: F401  (a module fixture: `compress` of the digits CNN)
from edgekit.deploy import DEPLOY_DIR
from edgekit.deploy import runner_common as rc
from edgekit.errors import ExitCode

VERIFY_FAILED = int(ExitCode.VERIFICATION_FAILED)


@pytest.fixture
def bundle(factory_bundle: Path, tmp_path: Path) -> Path:
    """A fresh copy per test of the bundle `compress` built (with the fast profile) for this module, so one test's
    tampering never reaches another."""
    return Path(shutil.copytree(factory_bundle, tmp_path / "bundle"))


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def run_py(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(bundle / "deploy" / "run.py"), "--warmup", "1", "--iterations", "2",
                           *args], capture_output=True, text=True, cwd=bundle / "deploy", timeout=300)


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


def test_an_intact_bundle_verifies_and_its_parity_is_rerun(bundle: Path) -> None:
    code, output = run("verify", bundle)
    no_traceback(output)
    assert code == 0, output
    assert "intact" in output and "parity ok" in output
    assert "11 of 11 files match" in output or "files match manifest.json" in output
    assert not (bundle / "deploy" / "__pycache__").exists()  # verify leaves the bundle as it found it


def test_the_api_returns_what_was_checked(bundle: Path) -> None:
    import edgekit

    check = edgekit.verify_bundle(bundle)
    assert check.ok and check.problems == []
    assert {f.status for f in check.files} == {"ok"}
    assert check.parity["status"] == "ok" and check.parity["sample"]["top1_agreement"] == 1.0
    assert json.loads(json.dumps(check.to_dict()))["ok"] is True


def test_one_flipped_byte_in_the_model_fails_verify(bundle: Path) -> None:
    flip_byte(bundle / "deploy" / "model.onnx")
    code, output = run("verify", bundle)
    no_traceback(output)
    assert code == VERIFY_FAILED, output
    assert "deploy/model.onnx changed" in output
    assert "Do not deploy it" in output
    assert "runner is not run" in output  # a changed bundle's code is never executed


def test_the_bundles_runner_refuses_a_tampered_model(bundle: Path) -> None:
    intact = run_py(bundle, "--check")
    assert intact.returncode == 0, intact.stderr
    assert "deploy/model.onnx matches manifest.json" in intact.stdout
    flip_byte(bundle / "deploy" / "model.onnx")
    proc = run_py(bundle)
    no_traceback(proc.stdout + proc.stderr)
    assert proc.returncode == rc.VERIFICATION_FAILED == VERIFY_FAILED, proc.stderr
    assert "deploy/model.onnx does not match" in proc.stderr and "--no-verify" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1  # one paragraph
    assert proc.stdout == ""  # nothing was loaded or run


def test_no_verify_runs_a_tampered_bundle_and_says_so(bundle: Path) -> None:
    flip_byte(bundle / "deploy" / "sample.npz")
    refused = run_py(bundle, "--check")
    assert refused.returncode == VERIFY_FAILED and "deploy/sample.npz does not match" in refused.stderr
    proc = run_py(bundle, "--check", "--no-verify")
    no_traceback(proc.stderr)
    # a flipped byte in a .npz may break its zip CRC: the run may then fail on reading, but never silently passes
    assert "--no-verify" in proc.stderr
    if proc.returncode == 0:
        assert "integrity: not checked (--no-verify)" in proc.stdout


def test_no_verify_runs_the_model(bundle: Path) -> None:
    flip_byte(bundle / "deploy" / "README.md")  # a file the runner does not read: no reason to refuse
    proc = run_py(bundle, "--check")
    assert proc.returncode == 0, proc.stderr
    (bundle / "deploy" / "model.onnx").write_bytes((bundle / "stages" / "01-export" / "model.onnx").read_bytes())
    proc = run_py(bundle, "--check", "--no-verify")
    assert proc.returncode == 0, proc.stderr
    assert "warning: --no-verify" in proc.stderr and "parity vs original" in proc.stdout


def test_bench_refuses_a_tampered_artifact_before_running_it(bundle: Path, fast_profile: Path) -> None:
    flip_byte(bundle / "deploy" / "model.onnx")
    code, output = run("bench", bundle / "deploy" / "model.onnx", "--profile", fast_profile)
    no_traceback(output)
    assert code == VERIFY_FAILED, output
    assert "deploy/model.onnx does not match" in output and "Nothing was run" in output
    assert "p50" not in output


def test_bench_checks_stage_artifacts_too(bundle: Path, fast_profile: Path) -> None:
    flip_byte(bundle / "stages" / "02-quantize-int8" / "model.onnx")
    code, output = run("bench", bundle / "stages" / "02-quantize-int8" / "model.onnx", "--profile", fast_profile)
    no_traceback(output)
    assert code == VERIFY_FAILED and "stages/02-quantize-int8/model.onnx does not match" in output


def test_a_removed_manifest_entry_and_a_missing_file_are_reported(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["files"]["deploy/model.onnx"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    (bundle / "report.md").unlink()
    (bundle / "deploy" / "numpy.py").write_text("raise SystemExit('imported in place of numpy')\n")
    code, output = run("verify", bundle)
    no_traceback(output)
    assert code == VERIFY_FAILED, output
    for text in ("deploy/model.onnx unlisted", "report.md missing", "deploy/numpy.py unlisted"):
        assert text in " ".join(output.split()), output
    (bundle / "deploy" / "numpy.py").unlink()  # run.py would import it in place of numpy: why verify fails on it
    proc = run_py(bundle)  # the runner will not load a model the manifest does not list
    no_traceback(proc.stderr)
    assert proc.returncode == VERIFY_FAILED and "deploy/model.onnx is not listed" in proc.stderr


def test_files_written_on_the_device_and_byte_code_are_not_failures(bundle: Path) -> None:
    (bundle / "deploy" / "engines").mkdir()
    (bundle / "deploy" / "engines" / "model-int8.plan").write_bytes(b"engine")
    (bundle / "deploy" / "__pycache__").mkdir()
    (bundle / "deploy" / "__pycache__" / "runner_common.cpython-311.pyc").write_bytes(b"pyc")
    check = __import__("edgekit").verify_bundle(bundle)
    assert check.ok, check.problems
    assert [(f.path, f.status) for f in check.files if f.status != "ok"] == [("deploy/engines/model-int8.plan",
                                                                              "device")]


def test_a_path_that_is_not_a_bundle(tmp_path: Path, bundle: Path) -> None:
    code, output = run("verify", tmp_path / "nowhere")
    no_traceback(output)
    assert code == int(ExitCode.NOT_FOUND) and "does not exist" in output
    (tmp_path / "folder").mkdir()
    code, output = run("verify", tmp_path / "folder")
    assert code == int(ExitCode.NOT_FOUND) and "is not an edgekit bundle" in output
    code, output = run("verify", bundle / "deploy" / "model.onnx")
    assert code == int(ExitCode.NOT_FOUND) and f"edgekit verify {bundle}" in " ".join(output.split())
    (bundle / "manifest.json").write_text("{not json")
    code, output = run("verify", bundle)
    no_traceback(output)
    assert code == VERIFY_FAILED and "cannot be read" in output


def test_outside_a_bundle_the_runner_says_it_did_not_check(bundle: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    shutil.copy2(bundle / "deploy" / "model.onnx", model)
    proc = subprocess.run([sys.executable, str(DEPLOY_DIR / "run_onnxruntime.py"), "--model", str(model), "--check",
                           "--input", str(bundle / "deploy" / "sample.npz")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "integrity: not checked (model.onnx is not in an edgekit bundle" in proc.stdout
    assert "deploy/sample.npz matches manifest.json" in proc.stdout  # the bundle's data is still the bundle's


def test_the_runner_shares_edgekits_exit_code_and_hash() -> None:
    from edgekit.artifact import sha256_file

    assert rc.VERIFICATION_FAILED == int(ExitCode.VERIFICATION_FAILED)
    assert rc.sha256_file(Path(rc.__file__)) == sha256_file(Path(rc.__file__))
