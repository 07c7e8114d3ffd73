#!/usr/bin/env python3
"""Standalone runner for an edgekit OpenVINO bundle: needs only openvino and numpy.

    python run.py                                   # model.xml beside this script, sample.npz if present
    python run.py --batch-sizes 1,8 --hint latency --threads 4 --precision f32
    python run.py --hint throughput --async-requests 8 --json out.json

Runs the model on the inputs (``x`` in the .npz, or one array per input named after it; N first)
and, when the .npz holds ``ref``, checks parity against the original model; then times synchronous
latency per batch size (p50/p90/p99; wall clock of the Python call, and the plugin's own
InferRequest.latency), asynchronous throughput with N infer requests, cold vs warm (model cache)
compile time, and reports which precision the CPU plugin ran float layers in: on AVX-512 BF16 / AMX
CPUs an "FP32" model runs in bf16 unless --precision f32. Each batch size is timed on the IR
reshaped to that exact shape (--no-static-shapes: on the dynamic-shape model as loaded).

Before loading anything, the files it reads (the model, sample.npz) are checked against the sha256
the bundle's ../manifest.json lists: a changed or unlisted file exits 9 with the file named
(--no-verify runs anyway); outside a bundle (no manifest.json) it says they were not checked.
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


def input_specs(compiled):
    """[(name, shape with None for dynamic dims, numpy dtype)] of the model's inputs."""
    return [(port.get_any_name(), [d.get_length() if d.is_static else None for d in port.get_partial_shape()],
             np.dtype(port.get_element_type().to_dtype())) for port in compiled.inputs]


def _inputs(x):
    """What ``infer`` / ``start_async`` take: a list for one input, a dict by name for several."""
    return x if isinstance(x, dict) else [x]


def run_batched(compiled, x, batch_size=32, all_outputs=False):
    """First output for all of ``x`` (``all_outputs``: a list of every output, in the model's order)."""
    request = compiled.create_infer_request()
    x = common.as_feed(x, input_specs(compiled))
    if all_outputs:
        def run_chunk(chunk):
            got = request.infer(_inputs(chunk))
            return [np.array(got[port]) for port in compiled.outputs]
    else:
        def run_chunk(chunk):
            return request.infer(_inputs(chunk))[0]
    return common.run_in_chunks(run_chunk, x, fixed_batch(compiled), batch_size)


def output_names(compiled):
    return [port.get_any_name() for port in compiled.outputs]


def infer_fn(compiled, batch, plugin_ms=None):
    """One synchronous inference on ``batch``; with ``plugin_ms`` (a list), also record each call's
    ``InferRequest.latency``: the plugin's own time, without Python's input copy and output wrapping
    (what benchmark_app reports)."""
    request = compiled.create_infer_request()
    inputs = _inputs(common.as_feed(batch, input_specs(compiled)))
    if plugin_ms is None:
        return lambda: request.infer(inputs)

    def infer():
        request.infer(inputs)
        plugin_ms.append(request.latency)
    return infer


def async_throughput(compiled, batch, requests, seconds=1.0, clock=time.perf_counter):
    """Items/s with ``requests`` infer requests in flight (0 = the plugin's optimal number), over ``seconds`` (the
    requests still in flight then are waited for and counted in the time)."""
    n = requests or compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    queue = ov.AsyncInferQueue(compiled, n)
    inputs = _inputs(common.as_feed(batch, input_specs(compiled)))
    for _ in range(n):  # warm every request once
        queue.start_async(inputs)
    queue.wait_all()
    started, submitted = clock(), 0
    while clock() - started < seconds:
        queue.start_async(inputs)
        submitted += 1
    queue.wait_all()
    return {"requests": int(n), "items_per_s": submitted * common.count(batch) / (clock() - started)}


def static_model(path, batch):
    """The IR with every input reshaped to ``batch``'s exact shapes (what benchmark_app's -shape does): with no
    dynamic dimension left, the CPU plugin plans memory and picks kernels once at compile time instead of
    re-checking shapes on every call, which is most of a small model's time (MobileNetV2: ~10%)."""
    model = ov.Core().read_model(str(path))
    arrays = batch if isinstance(batch, dict) else {model.inputs[0].get_any_name(): batch}
    model.reshape({name: ov.PartialShape(list(array.shape)) for name, array in arrays.items()})
    return model


def is_static(compiled):
    return all(port.get_partial_shape().is_static for port in compiled.inputs)


class Adapter:
    name = "openvino"

    def __init__(self, args):
        self.args = args
        self.cache = None
        self.plugin_ms = {}  # batch size -> InferRequest.latency of every timed-loop call (warm-up first)
        self.static = {}  # input shapes -> the model compiled for exactly those shapes

    def _compile(self, model, cache=True):
        a = self.args
        cache_dir = self.cache.name if self.cache and cache else None
        return ov.Core().compile_model(model, "CPU", compile_config(a.threads, a.hint, a.streams, a.precision, cache_dir))

    def timed_session(self, session, batch):
        """What is timed for ``batch``: with --static-shapes (default) and a dynamic model, the IR compiled for
        exactly this batch's shapes (a deployment runs one shape); else the session itself."""
        if not self.args.static_shapes or is_static(session):
            return session
        arrays = batch if isinstance(batch, dict) else {"": batch}
        key = tuple((name, array.shape) for name, array in sorted(arrays.items()))
        if key not in self.static:
            self.static[key] = self._compile(static_model(self.args.model, batch), cache=False)
        return self.static[key]

    def load(self, args):
        if args.cache:
            self.cache = tempfile.TemporaryDirectory(prefix="edgekit-ov-cache-")
        return self._compile(args.model)

    fixed_batch = staticmethod(fixed_batch)
    run_batched = staticmethod(run_batched)
    input_specs = staticmethod(input_specs)
    output_names = staticmethod(output_names)

    @staticmethod
    def model_files(model):
        """An IR is model.xml + model.bin (an .onnx is one file)."""
        weights = model.with_suffix(".bin")
        return [model, weights] if model.suffix == ".xml" else [model]

    def infer_fn(self, session, batch):
        size, session = common.count(batch), self.timed_session(session, batch)
        if size in self.plugin_ms:  # the energy load after timing: no bookkeeping
            return infer_fn(session, batch)
        return infer_fn(session, batch, self.plugin_ms.setdefault(size, []))

    def extra(self, args, session, x, result):
        details = {"precision": session.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
                   "hint": args.hint, "streams": int(session.get_property("NUM_STREAMS")),
                   "shapes": "static per batch size" if self.static or is_static(session) else "dynamic"}
        timed = {size: result["latency_ms"][f"batch_{size}"]["iterations"] for size in self.plugin_ms
                 if f"batch_{size}" in result["latency_ms"]}  # the stop rule decides how many calls were timed
        plugin = {f"batch_{size}": common.summarize(np.asarray(ms[-timed[size]:]) / 1000.0)
                  for size, ms in self.plugin_ms.items() if ms and size in timed}
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
            batch = common.make_batch(x, size)
            tput = async_throughput(self.timed_session(session, batch), batch, args.async_requests, args.async_seconds)
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
    parser.add_argument("--async-seconds", type=float, default=1.0, help="length of the throughput run")
    parser.add_argument("--static-shapes", action=argparse.BooleanOptionalAction, default=True,
                        help="time each batch size on the IR reshaped to that exact input shape (as benchmark_app "
                             "-shape); --no-static-shapes times the dynamic-shape model as loaded")
    parser.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                        help="compile twice through a fresh model cache to report cold vs warm load")
    args = parser.parse_args(argv)
    return common.run(args, Adapter(args), HERE)


if __name__ == "__main__":
    sys.exit(main())
