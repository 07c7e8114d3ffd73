"""What flows between stages: an artifact of one format at one path."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class Format(str, Enum):
    TORCH = "torch"
    ONNX = "onnx"
    OPENVINO_IR = "openvino_ir"
    TENSORRT_PLAN = "tensorrt_plan"


@dataclass(frozen=True)
class Artifact:
    """A model in one format. ``path`` is None only for an in-memory torch module (``meta['module']``)."""

    format: Format
    path: Path | None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def with_meta(self, **extra: Any) -> Artifact:
        return Artifact(self.format, self.path, {**self.meta, **extra})


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_path(path: Path) -> str:
    """Hash a file, or every file of a directory in sorted order (an IR is .xml + .bin)."""
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(child.relative_to(path)).encode())
        digest.update(sha256_file(child).encode())
    return digest.hexdigest()


def size_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
