"""The output directory: built in a temp dir beside the target and renamed at the end, so a
failed or interrupted run leaves nothing half-written and never touches an existing bundle
unless ``force`` is given."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgekit.artifact import size_bytes
from edgekit.errors import OutputExistsError, OutputNotWritableError, no_space_error

log = logging.getLogger(__name__)


def check_output(out_dir: Path, force: bool) -> None:
    """Before any work: --out is new (or --force and a directory) and its parent can be written."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"--out {out_dir} is an existing file, not a bundle directory; edgekit never "
                                "replaces a file with a bundle, not even with --force.",
                                "Pass a new directory path as --out.")
    if out_dir.exists() and not force:
        raise OutputExistsError(f"Output directory {out_dir} already exists.",
                                "Choose another --out, or pass --force to replace it.")
    _check_writable(out_dir)


def _check_writable(out_dir: Path) -> None:
    """The nearest existing ancestor of ``out_dir`` must be a directory this process may create entries in."""
    parent = out_dir.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputNotWritableError(f"--out {out_dir} lies below {parent}, which is a file, not a directory.",
                                     "Pass an --out whose parent is a directory.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputNotWritableError(f"--out {out_dir} cannot be written: this user may not create files in "
                                     f"{parent}.", "Pass an --out on a writable location (or fix its permissions).")


LOCK_SUFFIX = ".lock"
UNLOCKED_GRACE_S = 60.0  # a build dir without its lock file (an older edgekit, or a process killed while starting)


def _owner_alive(build: Path) -> bool:
    """Whether a live process still owns ``build``: it holds an exclusive flock on ``build``.lock while it works
    (the kernel drops the lock when the process dies, SIGKILL included)."""
    import fcntl
    import time

    lock = build.with_name(build.name + LOCK_SUFFIX)
    if not lock.exists():
        return time.time() - build.stat().st_mtime < UNLOCKED_GRACE_S
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def clean_stale_builds(out_dir: Path) -> list[Path]:
    """Remove the build and trash dirs that dead runs left beside ``out_dir`` (never one a live process owns)."""
    removed = []
    for pattern in (f".{out_dir.name}.building-*", f".{out_dir.name}.old-*"):
        for stale in sorted(out_dir.parent.glob(pattern)):
            if stale.is_dir() and not _owner_alive(stale):
                shutil.rmtree(stale, ignore_errors=True)
                stale.with_name(stale.name + LOCK_SUFFIX).unlink(missing_ok=True)
                removed.append(stale)
    if removed:
        log.warning("removed %d build dir(s) left by interrupted runs: %s", len(removed),
                    ", ".join(p.name for p in removed))
    return removed


@contextlib.contextmanager
def _locked_build_dir(out_dir: Path, kind: str) -> Iterator[Path]:
    """A temp dir beside ``out_dir``, flock-owned by this process while the block runs, removed after it."""
    import fcntl

    build = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{kind}-", dir=out_dir.parent))
    lock = build.with_name(build.name + LOCK_SUFFIX)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield build
        finally:
            if build.exists():
                shutil.rmtree(build, ignore_errors=True)
            lock.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_output(out_dir: Path, force: bool) -> Iterator[Path]:
    """Yield a temp build dir; on success it replaces ``out_dir`` atomically-ish (two renames). Build dirs left by
    killed runs are removed first; a full disk is reported as such (NoSpaceError), with nothing left behind."""
    out_dir = out_dir.resolve()
    check_output(out_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_builds(out_dir)
    with _locked_build_dir(out_dir, "building") as build:
        try:
            yield build
            check_output(out_dir, force)  # someone may have created it while we worked
            if out_dir.exists():
                with _locked_build_dir(out_dir, "old") as trash:
                    out_dir.rename(trash / out_dir.name)
                    build.rename(out_dir)
            else:
                build.rename(out_dir)
        except Exception as exc:
            written = size_bytes(build) if build.exists() else 0
            full = no_space_error(exc, f"{written / 2**20:,.0f} MiB written to the build dir")
            if full is not None:
                raise full from exc
            raise


def _markdown_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(no variants)"
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(r.values()) + " |" for r in rows])


def artifact_files(path: Path) -> list[Path]:
    """An artifact and its sidecar files (an OpenVINO IR is .xml + .bin)."""
    sidecar = path.with_suffix(".bin")
    return [path, sidecar] if path.suffix == ".xml" and sidecar.exists() else [path]


def write_deploy(root: Path, report: Any, reference: Any, profile: Any, input_name: str) -> None:
    """deploy/: the standalone runner, the recommended artifact, real sample inputs + reference outputs."""
    import numpy as np

    from edgekit import __version__
    from edgekit.bench.latency import runner_args
    from edgekit.backends import backend_spec
    from edgekit.deploy import DEPLOY_DIR
    from edgekit.deploy.runner_common import REF_NAMES, reference_keys
    from edgekit.report.markdown import variant_row

    deploy = root / "deploy"
    deploy.mkdir()
    spec = backend_spec(report.backend)
    shutil.copy2(DEPLOY_DIR / spec.runner, deploy / "run.py")
    shutil.copy2(DEPLOY_DIR / "runner_common.py", deploy / "runner_common.py")
    samples = min(8, reference.outputs.shape[0])
    inputs = reference.inputs.head(samples)
    refs = dict(zip(reference_keys(len(reference.by_output)), (a[:samples] for a in reference.by_output.values())))
    if len(reference.artifact_names) == len(reference.by_output):  # the model file's names: the runner aligns by them
        refs[REF_NAMES] = np.array(reference.artifact_names)
    np.savez(deploy / "sample.npz", **(inputs if isinstance(inputs, dict) else {"x": inputs}), **refs)
    if reference.inputs.multi_input:
        input_text = ", ".join(f"`{k}` {v.dtype} shape {['N', *v.shape[1:]]}" for k, v in inputs.items())
        input_text = f"Inputs (named arrays in sample.npz, N first): {input_text}."
    else:
        input_text = f"Input `{input_name}`: float32, shape {['N', *reference.inputs.x.shape[1:]]} (N first)."
    chosen = report.variant(report.recommended) if report.recommended else None
    model_file = "model" + (Path(chosen.artifact).suffix if chosen else spec.bundle_suffix)
    if spec.engines_on_device:  # engines are built on the device (deploy/jetson/), from the model-<variant>.onnx files
        model_file = f"engines/model-{chosen.name}.plan" if chosen else "engines/model.plan"
    elif chosen is not None:
        for src in artifact_files(root / chosen.artifact):
            shutil.copy2(src, deploy / f"model{src.suffix}")
    template = (DEPLOY_DIR / "README.template.md").read_text(encoding="utf-8")
    text = template.format(
        runtime_name=spec.runtime_name, pip_package=spec.device_package, model_file=model_file,
        run_options=" ".join(runner_args(profile)),
        model_source=report.model.get("source", "model"), edgekit_version=__version__, profile=profile.name,
        description=profile.description, variant=chosen.name if chosen else "NONE",
        precision=chosen.precision if chosen else "-", reason=report.recommended_reason,
        batch_sizes=",".join(map(str, profile.benchmark.batch_sizes)),
        iterations=profile.benchmark.iterations, samples=samples,
        top1=chosen.parity.get("top1_agreement", 0.0) if chosen else 0.0,
        cosine=chosen.parity.get("cosine", 0.0) if chosen else 0.0,
        input_text=input_text,
        table=_markdown_table([variant_row(v) for v in report.variants]),
    )
    if chosen is None:
        text = (f"**No variant passed verification: there is no {model_file} here.** "
                "See ../report.md for why.\n\n") + text
    if spec.engines_on_device:
        from edgekit.backends.tensorrt.jetson_bundle import jetson_readme, write_tensorrt_deploy

        write_tensorrt_deploy(root, report, reference, profile, input_name)
        text += jetson_readme(report, profile)
    (deploy / "README.md").write_text(text, encoding="utf-8")


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """manifest.json: versions, seed, hashes of the input model, data and every file of the bundle."""
    from edgekit.artifact import sha256_file

    files = {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*"))
             if p.is_file() and p.name != "manifest.json"}
    (root / "manifest.json").write_text(json.dumps({**manifest, "files": files}, indent=2) + "\n", encoding="utf-8")
