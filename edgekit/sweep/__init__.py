"""Sweeps: build every (pruning ratio x distillation x precision) configuration, measure each artifact on
the target runtime, and pick the best one that meets the accuracy budget.

``edgekit.sweep(...)`` is the entry point. This package is also reachable as ``edgekit.sweep``, so the
module itself is made callable (a submodule import would otherwise shadow the function of the same
name on the ``edgekit`` package). Importing it loads no torch, runtime or ray.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from edgekit.sweep.api import sweep

        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
