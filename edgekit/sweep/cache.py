"""Content-addressed stage cache and the trial journal.

A stage's key is the sha256 of canonical JSON holding: the key of the artifact it consumes (for
the first stage, the input model's content hash), the stage name and its resolved config, the
hashes of the data it reads (calibration, training, evaluation), the seed and the library
versions (torch, onnx, onnxruntime, openvino, ... and edgekit). Same key = same inputs to the same
code, so the artifact is reused; any change misses. Entries are built in a temp dir beside the
entry and renamed into place, so a killed build never leaves a half entry that would later hit.

The journal holds each measured trial (verification + benchmark), keyed by its artifact key and
the measurement settings: a resumed sweep (``resume``) takes them instead of measuring again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# run-location settings that do not change the artifact: left out of keys, or every run would miss
VOLATILE = frozenset({"checkpoint_dir", "resume", "checkpoint_every", "device"})
ENTRY_FILE = "entry.json"


def canonical(value: Any) -> str:
    """Stable JSON: sorted keys, enums and paths as strings, tuples as lists."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def cache_key(*, parent: str, stage: str, config: dict[str, Any], versions: dict[str, str],
              data: dict[str, str | None] | None = None, seed: int | None = None) -> str:
    body = {"parent": parent, "stage": stage, "config": {k: v for k, v in config.items() if k not in VOLATILE},
            "versions": versions, "data": data or {}, "seed": seed}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def array_sha256(*arrays: Any) -> str | None:
    """Hash of numpy arrays' dtype, shape and bytes (None when every array is None)."""
    present = [a for a in arrays if a is not None]
    if not present:
        return None
    digest = hashlib.sha256()
    for a in present:
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


@dataclass
class CacheEvent:
    step: str
    key: str
    hit: bool
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "key": self.key[:16], "hit": self.hit, "wall_s": round(self.wall_s, 3)}


class StageCache:
    """``root/stages/<key>/``: the stage's files + ``entry.json`` (format, file, JSON-safe meta)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def entry(self, key: str) -> Path:
        return self.root / "stages" / key

    def lookup(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.entry(key) / ENTRY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """One builder per key across processes (Ray workers building the same prefix wait, then hit)."""
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{key}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def building(self, key: str) -> Iterator[Path]:
        """A temp dir that becomes the entry when the block succeeds; removed when it fails."""
        target = self.entry(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:16]}.building-", dir=target.parent))
        try:
            yield tmp
            if target.exists():  # a stale entry without entry.json (never renamed in complete): replace
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


class TrialJournal:
    """``root/trials/<key>.json``: one measured trial, written atomically after its benchmark."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / "trials"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.dir / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, record: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{key}.tmp"
        tmp.write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
        tmp.replace(self.dir / f"{key}.json")
