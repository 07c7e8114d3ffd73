"""edgekit: prune, distill, quantize and compile PyTorch models for edge targets.

Importing edgekit is cheap: the public API is re-exported lazily, and no torch, onnxruntime,
openvino or tensorrt module is imported until a function that needs it runs.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "compress": "edgekit.api",
    "benchmark": "edgekit.api",
    "export": "edgekit.api",
    "inspect_model": "edgekit.api",
    "prune": "edgekit.api",
    "prune_config": "edgekit.api",
    "tensorrt_rules": "edgekit.api",
    "build_engine": "edgekit.api",
    "verify_bundle": "edgekit.pipeline.verify_bundle",
    "load_pruned": "edgekit.pruning.spec",
    "sweep": "edgekit.sweep.api",
    "RunOptions": "edgekit.pipeline.options",
    "SweepConfig": "edgekit.sweep.config",
    "LatencyTarget": "edgekit.sweep.config",
    "DistillConfig": "edgekit.distill.config",
    "distill_config": "edgekit.api",
    "load_profile": "edgekit.profile",
    "Profile": "edgekit.profile",
    "Report": "edgekit.report.schema",
    "EdgekitError": "edgekit.errors",
    "ExitCode": "edgekit.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
