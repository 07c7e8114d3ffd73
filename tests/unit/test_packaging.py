"""Every package under edgekit/ ships in the wheel, and so do the profiles and deploy files."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "edgekit").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert config["package-dir"] == {"": "."}  # a flat layout: edgekit/profiles/ is a package like the others
    assert "*.toml" in config["package-data"]["edgekit.profiles"]
    assert "*.j2" in config["package-data"]["edgekit.report.templates"]  # report.html's template
