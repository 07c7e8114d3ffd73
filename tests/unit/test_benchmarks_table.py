"""`python -m benchmarks SUITE`: every suite in the table resolves to a module with main(argv), and each has
its own folder (no flat pile, no sys.path tricks)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from benchmarks.__main__ import SUITES, main

ROOT = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_every_suite_has_a_main(suite: str) -> None:
    module, what = SUITES[suite]
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin and what
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    assert mains and mains[0].args.args and mains[0].args.args[0].arg == "argv"


def test_no_benchmark_file_edits_sys_path() -> None:
    # .work/ holds the suites' (git-ignored) artifacts: bundles carry deploy/run.py, which is meant to edit it
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                 if ".work" not in p.relative_to(ROOT).parts and "sys.path" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_only_the_entry_point_and_the_docs_sit_at_the_top() -> None:
    assert sorted(p.name for p in ROOT.glob("*.py")) == ["__init__.py", "__main__.py"]


def test_unknown_suite_is_refused_with_the_list(capsys) -> None:
    assert main(["no-such-suite"]) == 2
    err = capsys.readouterr().err
    assert "unknown suite" in err and "int8-recipes" in err
    listed = main(["--help"]) == 0 and capsys.readouterr().out
    assert listed and "tensorrt-quant" in listed and "efficiency" in listed
