"""The layering of docs/ARCHITECTURE.md, checked on the code: the import graph (built with ``ast``, imports under
``if TYPE_CHECKING`` left out, function-level imports counted) has no cycle and no upward arrow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "edgekit"

# module prefix -> prefixes it must never import (a lower layer never reaches up)
FORBIDDEN = {
    "edgekit.report": ("edgekit.pipeline", "edgekit.pruning", "edgekit.distill", "edgekit.qat", "edgekit.sweep",
                       "edgekit.stages", "edgekit.backends", "edgekit.cli", "edgekit.api", "edgekit.bench"),
    "edgekit.backends": ("edgekit.pipeline", "edgekit.stages", "edgekit.sweep", "edgekit.cli", "edgekit.api",
                         "edgekit.report"),
    "edgekit.stages": ("edgekit.pipeline", "edgekit.sweep", "edgekit.cli", "edgekit.api"),
    "edgekit.pipeline": ("edgekit.sweep", "edgekit.cli", "edgekit.api"),
    "edgekit.hardware": ("edgekit.",),
    "edgekit.parity": ("edgekit.pipeline", "edgekit.stages", "edgekit.backends"),
}


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _targets(module: str, node: ast.AST, known: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if known[module].name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join(package + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    resolved = []
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            resolved.append(name)
    return resolved


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = {id(n) for block in ast.walk(tree)
                     if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.dump(block.test) for n in ast.walk(block)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in type_only:
                graph[module].update(_targets(module, node, known))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_is_real(graph: dict[str, set[str]]) -> None:
    assert "edgekit.pipeline.plan" in graph["edgekit.pipeline.compress"]
    assert "edgekit.backends.int8" in graph["edgekit.backends.onnxruntime"]


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_upward_imports(graph: dict[str, set[str]], layer: str) -> None:
    upward = sorted(f"{m} -> {t}" for m, targets in graph.items() if m == layer or m.startswith(layer + ".")
                    for t in targets if t.startswith(FORBIDDEN[layer]) and not t.startswith(layer))
    assert upward == []


def test_deploy_files_import_nothing_of_edgekit_but_each_other(graph: dict[str, set[str]]) -> None:
    """They ship in the bundle and run on the device without edgekit."""
    outside = sorted(f"{m} -> {t}" for m, targets in graph.items() if m.startswith("edgekit.deploy")
                     for t in targets if not t.startswith("edgekit.deploy"))
    assert outside == []

