"""The output directory is built beside the target and renamed into place only on success."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.pipeline.bundle import check_output, staged_output, write_manifest
from edgekit.errors import ExitCode, OutputExistsError


def leftovers(parent, name):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def test_success_renames_into_place(tmp_path):
    out = tmp_path / "bundle"
    with staged_output(out, force=False) as build:
        assert build.parent == tmp_path and build.name.startswith(".bundle.building-")
        assert not out.exists(), "nothing appears at the target while building"
        (build / "report.json").write_text("{}")
        (build / "deploy").mkdir()
        (build / "deploy" / "run.py").write_text("print()")
    assert (out / "report.json").read_text() == "{}"
    assert (out / "deploy" / "run.py").exists()
    assert not build.exists()
    assert leftovers(tmp_path, "bundle") == []


def test_creates_missing_parents(tmp_path):
    out = tmp_path / "a" / "b" / "bundle"
    with staged_output(out, force=False) as build:
        (build / "f").write_text("x")
    assert (out / "f").exists()


@pytest.mark.parametrize("exc", [RuntimeError("stage failed"), KeyboardInterrupt()])
def test_failure_leaves_nothing(tmp_path, exc):
    out = tmp_path / "bundle"
    with pytest.raises(type(exc)):
        with staged_output(out, force=False) as build:
            (build / "half-written.onnx").write_bytes(b"\0" * 100)
            raise exc
    assert not out.exists()
    assert leftovers(tmp_path, "bundle") == []
    assert list(tmp_path.iterdir()) == []


def test_existing_dir_refused_without_force(tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(OutputExistsError) as info:
        with staged_output(out, force=False):
            pytest.fail("must refuse before yielding")
    assert info.value.exit_code is ExitCode.OUTPUT_EXISTS
    assert "--force" in info.value.hint
    assert (out / "old.txt").read_text() == "keep me"
    assert leftovers(tmp_path, "bundle") == []


def test_existing_dir_replaced_with_force(tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "old.txt").write_text("old")
    (out / "sub").mkdir()
    (out / "sub" / "old.onnx").write_text("old")
    with staged_output(out, force=True) as build:
        assert (out / "old.txt").exists(), "the old bundle stays until the new one is complete"
        (build / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert leftovers(tmp_path, "bundle") == []


def test_failed_forced_run_keeps_the_old_bundle(tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_output(out, force=True) as build:
            (build / "new.txt").write_text("new")
            raise RuntimeError("boom")
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    assert leftovers(tmp_path, "bundle") == []


def test_target_created_while_building_is_not_overwritten(tmp_path):
    out = tmp_path / "bundle"
    with pytest.raises(OutputExistsError):
        with staged_output(out, force=False) as build:
            (build / "new.txt").write_text("new")
            out.mkdir()
            (out / "theirs.txt").write_text("theirs")
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]
    assert leftovers(tmp_path, "bundle") == []


def test_existing_file_is_refused_even_with_force(tmp_path):
    out = tmp_path / "bundle"
    out.write_text("a file")
    with pytest.raises(OutputExistsError, match="not a bundle directory"):
        check_output(out, force=True)
    with pytest.raises(OutputExistsError):
        with staged_output(out, force=True):
            pass
    assert out.read_text() == "a file"


def test_relative_path_is_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with staged_output(Path("bundle"), force=False) as build:
        assert build.is_absolute()
        (build / "f").write_text("x")
    assert (tmp_path / "bundle" / "f").exists()


def test_manifest_hashes_every_file_but_itself(tmp_path):
    from edgekit.artifact import sha256_file

    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "model.onnx").write_bytes(b"onnx")
    (tmp_path / "report.json").write_text("{}")
    write_manifest(tmp_path, {"seed": 0})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["seed"] == 0
    assert manifest["files"] == {"deploy/model.onnx": sha256_file(tmp_path / "deploy" / "model.onnx"),
                                 "report.json": sha256_file(tmp_path / "report.json")}
    write_manifest(tmp_path, {"seed": 1})  # rewriting does not hash the previous manifest
    assert "manifest.json" not in json.loads((tmp_path / "manifest.json").read_text())["files"]
