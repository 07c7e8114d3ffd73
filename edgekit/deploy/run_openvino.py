#!/usr/bin/env python3
"""Standalone runner for an edgekit OpenVINO bundle: needs only openvino and numpy.

    python run.py                                   # model.xml beside this script, sample.npz if present
    python run.py --batch-sizes 1,8 --hint latency --threads 4 --precision f32
    python run.py --hint throughput --async-requests 8 --json out.json

Runs the model on the inputs (``x`` in the .npz, N first) and, when the .npz holds ``ref``, checks
parity against the original model; then times synchronous latency per batch size (p50/p90/p99),
asynchronous throughput with N infer requests, cold vs warm (model cache) compile time, and
reports which precision the CPU plugin ran float layers in: on AVX-512 BF16 / AMX CPUs an
"FP32" model runs in bf16 unless --precision f32.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openvino as ov

HERE = Path(__file__).resolve().parent
try:  # inside the edgekit package
    from . import runner_common as common
except ImportError:  # deploy/ of a bundle: the sibling file (also under python -I, which drops the script dir)
    sys.path.insert(0, str(HERE))
    import runner_common as common


def compile_config(threads=0, hint="latency", streams=0, precision="auto", cache_dir=None):
    config = {"PERFORMANCE_HINT": hint.upper()}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    if streams:
        config["NUM_STREAMS"] = streams
    if precision != "auto":
        config["INFERENCE_PRECISION_HINT"] = precision
    if cache_dir:
        config["CACHE_DIR"] = str(cache_dir)
    return config


def fixed_batch(compiled):
    dim = compiled.input(0).get_partial_shape()[0]
    return dim.get_length() if dim.is_static else None


def input_shape(compiled, batch_size):
    shape = compiled.input(0).get_partial_shape()
    return [batch_size] + [d.get_length() if d.is_static else 1 for d in list(shape)[1:]]


def run_batched(compiled, x, batch_size=32):
    request = compiled.create_infer_request()
    return common.run_in_chunks(lambda chunk: request.infer([chunk])[0], x, fixed_batch(compiled), batch_size)


def infer_fn(compiled, batch, plugin_ms=None):
    """One synchronous inference on ``batch``; with ``plugin_ms`` (a list), also record each call's
    ``InferRequest.latency``: the plugin's own time, without Python's input copy and output wrapping
    (what benchmark_app reports)."""
    request = compiled.create_infer_request()
    tensor = np.ascontiguousarray(batch)
    if plugin_ms is None:
        return lambda: request.infer([tensor])

    def infer():
        request.infer([tensor])
        plugin_ms.append(request.latency)
    return infer


def async_throughput(compiled, batch, requests, seconds=2.0, clock=time.perf_counter):
    """Items/s with ``requests`` infer requests in flight (0 = the plugin's optimal number)."""
    n = requests or compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    queue = ov.AsyncInferQueue(compiled, n)
    tensor = np.ascontiguousarray(batch)
    for _ in range(n):  # warm every request once
        queue.start_async([tensor])
    queue.wait_all()
    started, submitted = clock(), 0
    while clock() - started < seconds:
        queue.start_async([tensor])
        submitted += 1
    queue.wait_all()
    return {"requests": int(n), "items_per_s": submitted * batch.shape[0] / (clock() - started)}


class Adapter:
    name = "openvino"

    def __init__(self, args):
        self.args = args
        self.cache = None
        self.plugin_ms = {}  # batch size -> InferRequest.latency of every timed-loop call (warm-up first)

    def _compile(self, model):
        a = self.args
        return ov.Core().compile_model(model, "CPU", compile_config(a.threads, a.hint, a.streams, a.precision,
                                                                     self.cache.name if self.cache else None))

    def load(self, args):
        if args.cache:
            self.cache = tempfile.TemporaryDirectory(prefix="edgekit-ov-cache-")
        return self._compile(args.model)

    fixed_batch = staticmethod(fixed_batch)
    run_batched = staticmethod(run_batched)
    input_shape = staticmethod(input_shape)
    def infer_fn(self, session, batch):
        if batch.shape[0] in self.plugin_ms:  # the energy load after timing: no bookkeeping
            return infer_fn(session, batch)
        return infer_fn(session, batch, self.plugin_ms.setdefault(batch.shape[0], []))

    def extra(self, args, session, x, result):
        details = {"precision": session.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
                   "hint": args.hint, "streams": int(session.get_property("NUM_STREAMS"))}
        plugin = {f"batch_{size}": common.summarize(np.asarray(ms[-args.iterations:]) / 1000.0)
                  for size, ms in self.plugin_ms.items() if ms}
        if plugin:  # wall clock (latency_ms) minus this = the Python call's own cost
            details["plugin_latency_ms"] = plugin
        if self.cache:  # the first compile filled the cache: a second one shows the warm start
            started = time.perf_counter()
            self._compile(args.model)
            details["load_warm_s"] = time.perf_counter() - started
            details["load_cold_s"] = result["load_s"]
            self.cache.cleanup()
        if result["latency_ms"]:
            size = int(next(iter(result["latency_ms"])).split("_")[1])
            tput = async_throughput(session, common.make_batch(x, size), args.async_requests, args.async_seconds)
            details["async_requests"] = tput["requests"]
            details["async_items_per_s"] = round(tput["items_per_s"], 1)
            result["async_throughput_per_s"] = {f"batch_{size}": tput["items_per_s"]}
        result["details"] = details


def main(argv=None):
    parser = common.parser_for(__doc__, HERE / "model.xml")
    parser.add_argument("--hint", default="latency", choices=["latency", "throughput"])
    parser.add_argument("--streams", type=int, default=0, help="0 = what the hint picks")
    parser.add_argument("--precision", default="auto", choices=["auto", "f32", "bf16", "f16"],
                        help="float layers' precision; auto lets the plugin choose (bf16 on BF16/AMX CPUs)")
    parser.add_argument("--async-requests", type=int, default=0, help="throughput run: 0 = the plugin's optimum")
    parser.add_argument("--async-seconds", type=float, default=2.0)
    parser.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                        help="compile twice through a fresh model cache to report cold vs warm load")
    args = parser.parse_args(argv)
    return common.run(args, Adapter(args), HERE)


if __name__ == "__main__":
    sys.exit(main())
