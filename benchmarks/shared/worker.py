"""Time ONE artifact in THIS process, then exit. Launched fresh per measurement by the timing suites (shared/timing.py).

Usage: ``python -m benchmarks.shared.worker '<json spec>'``; prints one JSON line on stdout.
spec keys: kind ("torch" | "ort"), path, input (npz with key x), iterations, warmup,
threads; for kind "torch" also model (name in models.MODELS).

A fresh process per artifact keeps one runtime's thread pools, allocator state and
cache warm-up from leaking into the next measurement (FIELD-NOTES, shared 2-vCPU box).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

import numpy as np


def _torch_runner(spec: dict, x: np.ndarray) -> Callable[[], object]:
    import torch

    from benchmarks.shared.models import MODELS

    # torch eager with 2 threads can be 20x slower than with 1 on a busy box unless pinned.
    torch.set_num_threads(spec["threads"])
    torch.set_num_interop_threads(1)
    model = MODELS[spec["model"]]()
    model.load_state_dict(torch.load(spec["path"], map_location="cpu", weights_only=True))
    model.eval()
    xt = torch.from_numpy(x)

    def call() -> object:
        with torch.inference_mode():
            return model(xt)

    return call


def _ort_runner(spec: dict, x: np.ndarray) -> Callable[[], object]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = spec["threads"]
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(spec["path"], so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    return lambda: sess.run(None, feed)


def measure(spec: dict) -> dict:
    x = np.load(spec["input"])["x"][:1]
    runner = {"torch": _torch_runner, "ort": _ort_runner}[spec["kind"]]
    call = runner(spec, x)
    for _ in range(spec["warmup"]):
        call()
    times = np.empty(spec["iterations"])
    for i in range(spec["iterations"]):
        t0 = time.perf_counter()
        call()
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    return {
        "median_ms": float(np.median(ms)),
        "p10_ms": float(np.percentile(ms, 10)),
        "p90_ms": float(np.percentile(ms, 90)),
        "mean_ms": float(ms.mean()),
        "iterations": int(spec["iterations"]),
    }


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
