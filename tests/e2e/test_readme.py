"""The README is true: its bash and python blocks run as written, in order, in one fresh folder (a block that
cannot run here says why in a `<!-- docs-test: skip: ... -->` line above it), and the demo prints the table the
README shows (its shape: the columns and variants, not the timings)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"(?:<!-- docs-test: (?P<mark>.*?) -->\n)?```(?P<lang>[a-z]*)\n(?P<body>.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str, str]]:
    """(lang, mark, body) of every fenced block, in order."""
    return [(m["lang"], m["mark"] or "", m["body"]) for m in BLOCK.finditer(README.read_text(encoding="utf-8"))]


def test_every_code_block_runs_or_says_why_not() -> None:
    found = [(lang, mark) for lang, mark, _ in blocks() if lang in ("bash", "python")]
    assert len(found) >= 10
    for lang, mark in found:
        assert not mark or re.fullmatch(r"skip: \S.{10,}", mark), f"a skipped {lang} block needs a reason: {mark!r}"
    assert not re.search(r"^    (edgekit|python|torchrun) ", README.read_text(encoding="utf-8"), re.M), \
        "an indented command escapes the docs test: fence it"


@pytest.mark.slow
def test_the_readme_runs_as_written(tmp_path: Path, demo_assets) -> None:
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # `. .venv/bin/activate` as in a checkout
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "2"}
    ran = 0
    for lang, mark, body in blocks():
        if lang not in ("bash", "python") or mark.startswith("skip"):
            continue
        command = ["bash", "-e", "-o", "pipefail", "-c", body] if lang == "bash" else [sys.executable, "-c", body]
        proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"README block failed ({lang}):\n{body}\n--- output ---\n" \
                                     f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        ran += 1
    assert ran >= 8


def test_the_demo_prints_the_table_the_readme_shows(tmp_path: Path, demo_assets) -> None:
    shown = next(body for lang, _, body in blocks() if lang == "" and "edgekit · " in body)
    header = next(line for line in shown.splitlines() if line.strip().startswith("variant"))
    proc = subprocess.run([sys.executable, "-m", "edgekit.cli.main", "demo", "--out", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = proc.stdout
    assert header.split() == next(line for line in printed.splitlines() if line.strip().startswith("variant")).split()
    for variant in ("fp32", "int8"):
        assert re.search(rf"^\s*{variant}\*?\s+{variant}\s", printed, re.M), variant
    assert "Recommended (*):" in printed and "Bundle:" in printed
