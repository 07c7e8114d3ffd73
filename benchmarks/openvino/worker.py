"""Time ONE artifact in THIS process, then exit: worker.py plus an OpenVINO runner.

Usage: ``python -m benchmarks.openvino.worker '<json spec>'``; prints one JSON line on stdout.
Launched fresh per measurement by the openvino suite through ``timing.time_all`` (the same spec as
worker.py). Kinds: "torch" (worker.py's own runner) and "ov:<precision>", an OpenVINO IR on CPU
with ``INFERENCE_PRECISION_HINT`` = precision ("f32", or "auto" = the plugin's default, bf16 on
AVX-512 BF16 CPUs), latency hint, 1 stream, ``threads`` inference threads.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import numpy as np

from benchmarks.shared import worker

# What the CPU plugin resolved for the timed model, added to the worker's result.
_resolved: dict[str, object] = {}
_plugin_ms: list[float] = []  # InferRequest.latency (ms) after each call, warm-up included


def ov_config(threads: int, precision: str) -> dict[str, object]:
    """The runtime settings every OpenVINO measurement of this suite uses (and parity, with threads=2)."""
    config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": threads}
    if precision != "auto":
        config["INFERENCE_PRECISION_HINT"] = precision
    return config


def _ov_runner(spec: dict, x: np.ndarray) -> Callable[[], object]:
    import openvino as ov

    precision = spec["ov_precision"]
    compiled = ov.Core().compile_model(spec["path"], "CPU", ov_config(spec["threads"], precision))
    _resolved.update(
        precision=compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
        ov_threads=int(compiled.get_property("INFERENCE_NUM_THREADS")),
        ov_streams=int(compiled.get_property("NUM_STREAMS")),
    )
    request = compiled.create_infer_request()
    tensor = np.ascontiguousarray(x, dtype=np.float32)

    def call() -> object:
        out = request.infer([tensor])  # as edgekit's deploy/run_openvino.py times it (wall clock around this)
        _plugin_ms.append(request.latency)  # the plugin's own figure, what benchmark_app reports
        return out

    return call


def measure(spec: dict) -> dict:
    if not spec["kind"].startswith("ov:"):
        return worker.measure(spec)
    # worker.measure picks its runner by kind among its module's globals ("torch" / "ort"): route the
    # OpenVINO runner through the "ort" slot so that the warm-up, the timed loop and the statistics are
    # worker.py's own, unchanged.
    if not hasattr(worker, "_ort_runner"):
        raise RuntimeError("benchmarks/shared/worker.py no longer has _ort_runner: update benchmarks/openvino/worker.measure")
    worker._ort_runner = _ov_runner
    result = worker.measure({**spec, "kind": "ort", "ov_precision": spec["kind"].split(":", 1)[1]})
    plugin = _plugin_ms[-spec["iterations"]:]
    return {**result, **_resolved, "plugin_median_ms": float(np.median(plugin))}


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
