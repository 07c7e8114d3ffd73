"""The output directory: built in a temp dir beside the target and renamed at the end, so a
failed or interrupted run leaves nothing half-written and never touches an existing bundle
unless ``force`` is given."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgekit.errors import OutputExistsError


def check_output(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not force:
        raise OutputExistsError(f"Output directory {out_dir} already exists.",
                                "Choose another --out, or pass --force to replace it.")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"Output path {out_dir} exists and is not a directory.", "Choose another --out.")


@contextlib.contextmanager
def staged_output(out_dir: Path, force: bool) -> Iterator[Path]:
    """Yield a temp build dir; on success it replaces ``out_dir`` atomically-ish (two renames)."""
    out_dir = out_dir.resolve()
    check_output(out_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        yield build
        check_output(out_dir, force)  # someone may have created it while we worked
        if out_dir.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            out_dir.rename(trash / out_dir.name)
            build.rename(out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            build.rename(out_dir)
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)


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
    from edgekit.report.markdown import variant_row

    deploy = root / "deploy"
    deploy.mkdir()
    spec = backend_spec(report.backend)
    shutil.copy2(DEPLOY_DIR / spec.runner, deploy / "run.py")
    shutil.copy2(DEPLOY_DIR / "runner_common.py", deploy / "runner_common.py")
    samples = min(8, reference.outputs.shape[0])
    inputs = reference.inputs.head(samples)
    np.savez(deploy / "sample.npz", **(inputs if isinstance(inputs, dict) else {"x": inputs}),
             ref=reference.outputs[:samples])
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
