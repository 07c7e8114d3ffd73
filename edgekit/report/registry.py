"""Registration tables name a feature's function as "module:function": report/ imports it only when it is used,
so the report layer never depends on the features above it (tests/unit/test_import_graph.py)."""

from __future__ import annotations

import importlib
from typing import Any


def resolve(target: str) -> Any:
    """The object a "module:attribute" string names, imported now."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
