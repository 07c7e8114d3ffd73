"""docs/ERRORS.md names a test for every bad input it lists: each must exist (the table cannot drift)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_named_in_the_errors_table_exists() -> None:
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", (ROOT / "docs" / "ERRORS.md").read_text(encoding="utf-8"))
    assert len(named) >= 40
    missing = []
    for path, test in named:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        if test not in {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}:
            missing.append(f"{path}::{test}")
    assert not missing, missing
