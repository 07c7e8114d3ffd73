"""`import edgekit` and `edgekit --help` must load no heavy runtime."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "onnxruntime", "onnx", "openvino", "tensorrt", "nncf", "sklearn", "matplotlib", "jinja2")

PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_after(body: str) -> list[str]:
    code = PROBE.format(body=body, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_edgekit_loads_no_runtime() -> None:
    assert loaded_after("import edgekit; edgekit.__version__") == []


def test_public_api_names_resolve_without_runtime() -> None:
    assert loaded_after("import edgekit; edgekit.compress; edgekit.load_profile; edgekit.Report") == []


def test_help_loads_no_runtime() -> None:
    body = """
from edgekit.cli.main import cli
for args in (["--help"], ["compress", "--help"], ["profiles", "list"]):
    try:
        cli.main(args, prog_name="edgekit", standalone_mode=False)
    except SystemExit:
        pass
"""
    assert loaded_after(body) == []


def test_the_probe_can_fail() -> None:
    assert "torch" in loaded_after("import torch")
