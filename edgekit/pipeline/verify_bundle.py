"""`edgekit verify BUNDLE` (``edgekit.verify_bundle``): is this bundle still the one edgekit wrote?

Every file manifest.json lists is hashed again (changed, missing), files it does not list are named, and the
deployed model's parity on the bundle's own deploy/sample.npz is re-run by the bundle's own runner
(``deploy/run.py --check``) when every file matched. ``check_in_bundle`` is the check `edgekit bench` runs on an
artifact that lies in a bundle. The hashing, the manifest lookup and the messages are the runners'
(deploy/runner_common.py), so edgekit and a bundle's run.py agree on what "matches" means.

The manifest is a checksum list, not a signature: it catches a corrupted or partly copied bundle and a file
changed by hand, not someone who rewrites manifest.json as well.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit.deploy import runner_common as rc
from edgekit.errors import EdgekitError, ModelNotFoundError, VerificationError

# the deployed model's cosine to the original on sample.npz may exceed twice the error recorded at build time by
# this much (another CPU's kernels, bf16 float layers) before the check fails
PARITY_SLACK = 0.01
FAILED = ("changed", "missing", "unlisted")


@dataclass(frozen=True)
class FileCheck:
    path: str  # relative to the bundle, with /
    status: str  # ok | changed | missing | unlisted (these three fail) | device (written on the device: reported)
    detail: str = ""


@dataclass
class BundleCheck:
    bundle: str
    files: list[FileCheck]
    parity: dict[str, Any] = field(default_factory=dict)  # status ok | failed | skipped, detail, numbers

    @property
    def problems(self) -> list[str]:
        found = [f"{f.path} {f.status} ({f.detail})" for f in self.files if f.status in FAILED]
        if self.parity.get("status") == "failed":
            found.append(f"parity on deploy/sample.npz failed ({self.parity['detail']})")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "ok": self.ok, "problems": self.problems,
                "files": [asdict(f) for f in self.files], "parity": self.parity}

    def raise_for_problems(self) -> None:
        """VerificationError (exit 9) naming what differs; nothing when the bundle is intact."""
        problems = self.problems
        if not problems:
            return
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        if any(f.status in FAILED for f in self.files):
            hint = ("Do not deploy it: copy the bundle again from where it was built, or rebuild it with "
                    "edgekit compress (the table above lists every file).")
        else:
            hint = ("Every file matches, so this machine's runtime computes differently from the one that built "
                    "the bundle (another version or CPU): compare `python deploy/run.py` here and there.")
        raise VerificationError(f"The bundle {self.bundle} does not match its manifest.json: {shown}.", hint)


def check_in_bundle(files: list[Path]) -> None:
    """`edgekit bench` on an artifact in a bundle: its files checked against the bundle's manifest.json before
    anything runs (changed, missing or unlisted: VerificationError); outside a bundle there is nothing to check."""
    for path in files:
        try:
            rc.check_file(path, required=True)
        except rc.IntegrityError as exc:
            raise VerificationError(exc.message, f"{exc.hint} Nothing was run.") from exc


def _manifest_files(bundle: Path) -> dict[str, str]:
    manifest = bundle / rc.MANIFEST
    if not bundle.exists():
        raise ModelNotFoundError(f"Bundle {bundle} does not exist.", "Pass the folder edgekit compress wrote (--out).")
    fix = "Pass the folder edgekit compress or sweep wrote (--out): it holds manifest.json, report.json and deploy/."
    if bundle.is_file():
        inside = rc.find_manifest(bundle)
        raise ModelNotFoundError(f"{bundle} is a file, not a bundle folder.",
                                 f"Pass the bundle it lies in: edgekit verify {inside.parent}" if inside else fix)
    if not manifest.is_file():
        raise ModelNotFoundError(f"{bundle} is not an edgekit bundle: {manifest} does not exist.", fix)
    try:
        files = rc.read_manifest(manifest)
    except rc.IntegrityError as exc:
        raise VerificationError(exc.message, exc.hint) from exc
    if files is None:
        raise VerificationError(f"{manifest} lists no files (no \"files\" table), so nothing can be checked.",
                                "Copy the bundle again from where it was built.")
    return files


def _listed(bundle: Path, files: dict[str, str]) -> list[FileCheck]:
    checks = []
    for name, expected in sorted(files.items()):
        path = bundle / name
        if not path.is_file():
            checks.append(FileCheck(name, "missing", "listed in manifest.json, not in the bundle"))
            continue
        actual = rc.sha256_file(path)
        checks.append(FileCheck(name, "ok") if actual == expected else
                      FileCheck(name, "changed", f"sha256 {actual[:12]}..., manifest {expected[:12]}..."))
    return checks


def _unlisted(bundle: Path, files: dict[str, str]) -> list[FileCheck]:
    """Files manifest.json does not list: a failure (an extra .py beside run.py would be imported in place of a
    library; a model whose entry was removed could be anything), except what a device writes (TensorRT engines,
    build-engine's reports). Python's byte-code caches (written when run.py runs) are left out."""
    checks = []
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        name = path.relative_to(bundle).as_posix()
        if name in files or name == rc.MANIFEST or "__pycache__" in path.parts:
            continue
        if name.startswith(rc.DEVICE_BUILT):
            checks.append(FileCheck(name, "device", "written on the device after the bundle was made"))
        else:
            checks.append(FileCheck(name, "unlisted", "not in manifest.json: added after the bundle was made, or "
                                                      "its entry was removed"))
    return checks


def _recorded_parity(report: dict[str, Any]) -> dict[str, Any]:
    chosen = next((v for v in report.get("variants", []) if v.get("name") == report.get("recommended")), None)
    return (chosen or {}).get("parity") or {}


def _run_check(deploy: Path) -> dict[str, Any]:
    """The result of the bundle's own runner on its sample, or {"status": "failed", "detail": why} when it fails."""
    with tempfile.TemporaryDirectory(prefix="edgekit-verify-") as tmp:
        out = Path(tmp) / "result.json"
        # -B: leave no byte-code cache in the bundle; -I: nothing from the environment or the current folder
        proc = subprocess.run([sys.executable, "-B", "-I", str(deploy / "run.py"), "--check", "--json", str(out)],
                              cwd=deploy, capture_output=True, text=True, timeout=600)
        if proc.returncode == 0 and out.is_file():
            return json.loads(out.read_text())
    last = ((proc.stderr or proc.stdout).strip().splitlines() or ["no output"])[-1]
    if "unrecognized arguments: --check" in last:
        return {"status": "skipped", "detail": "this bundle's deploy/run.py has no --check (an older edgekit made it)"}
    return {"status": "failed", "detail": f"deploy/run.py --check failed (exit code {proc.returncode}): {last[:300]}"}


def _judge(parity: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    numbers = {"sample": parity, "recorded": {k: recorded.get(k) for k in ("top1_agreement", "cosine")}}
    cosine, before = parity.get("cosine", math.nan), recorded.get("cosine")
    text = f"top-1 agreement {parity.get('top1_agreement', 0):.3f}, cosine {cosine:.5f}"
    if not (math.isfinite(cosine) and math.isfinite(parity.get("max_abs", math.nan))):
        return {"status": "failed", "detail": f"{text}: the outputs hold NaN or Inf", **numbers}
    if before is None:
        return {"status": "ok", "detail": f"{text} (report.json records none to compare with)", **numbers}
    limit = 1.0 - (2.0 * (1.0 - before) + PARITY_SLACK)
    verdict = "ok" if cosine >= limit else "failed"
    return {"status": verdict, "detail": f"{text}; {before:.5f} when built (fails below {limit:.5f})", **numbers}


def _parity(bundle: Path, checks: list[FileCheck]) -> dict[str, Any]:
    """The deployed model on deploy/sample.npz through deploy/run.py, when every file matched (a changed bundle's
    code is never run) and the runtime is installed here."""
    from edgekit.backends import backend_spec

    def skipped(why: str) -> dict[str, Any]:
        return {"status": "skipped", "detail": why}

    if any(c.status in FAILED for c in checks):
        return skipped("files differ from manifest.json: the bundle's runner is not run")
    try:
        report = json.loads((bundle / "report.json").read_text(encoding="utf-8"))
        spec = backend_spec(report["backend"])
    except (OSError, ValueError, KeyError, EdgekitError) as exc:
        return skipped(f"report.json does not name a known backend ({exc})")
    deploy = bundle / "deploy"
    if spec.engines_on_device:
        return skipped(f"{spec.runtime_name} engines are built and checked on the device: edgekit build-engine BUNDLE")
    if not (deploy / f"model{spec.bundle_suffix}").is_file() or not (deploy / "sample.npz").is_file():
        return skipped(f"no deploy/model{spec.bundle_suffix} or deploy/sample.npz (no variant passed verification?)")
    if importlib.util.find_spec(spec.device_package) is None:
        return skipped(f"{spec.device_package} is not installed here")
    result = _run_check(deploy)
    if "status" in result:
        return result
    if not result.get("parity_vs_reference"):
        return skipped("deploy/sample.npz holds no reference outputs (ref)")
    verdict = _judge(result["parity_vs_reference"], _recorded_parity(report))
    # a multi-output model: every output judged the same way against the parity report.json recorded for it
    recorded = list(_recorded_by_output(report).items())
    for i, parity in enumerate(result.get("parity_by_output", [])[1:], 1):
        name, before = recorded[i] if i < len(recorded) else (f"#{i}", {})
        other = _judge(parity, before)
        verdict.setdefault("outputs", {})[name] = other
        if other["status"] == "failed" and verdict["status"] != "failed":
            verdict = {**verdict, "status": "failed", "detail": f"{verdict['detail']}; output {name}: {other['detail']}"}
    return verdict


def _recorded_by_output(report: dict[str, Any]) -> dict[str, Any]:
    chosen = next((v for v in report.get("variants", []) if v.get("name") == report.get("recommended")), None)
    return (chosen or {}).get("parity_by_output") or {}


def verify_bundle(path: str | Path) -> BundleCheck:
    """Check a bundle against its manifest.json: every listed file's sha256 (changed, missing), the files it does
    not list (unlisted), and the deployed model's parity on deploy/sample.npz. Returns the
    result; ``result.ok`` / ``result.raise_for_problems()``. A folder without manifest.json: ModelNotFoundError."""
    bundle = Path(path)
    files = _manifest_files(bundle)
    checks = _listed(bundle, files) + _unlisted(bundle, files)
    return BundleCheck(str(bundle), checks, _parity(bundle, checks))
