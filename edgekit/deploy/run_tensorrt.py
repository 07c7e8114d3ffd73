#!/usr/bin/env python3
"""Standalone runner for a TensorRT engine built by edgekit: needs only tensorrt, numpy and the CUDA runtime.

    python run.py --model model-int8.plan                # sample.npz beside this script: outputs, parity, latency
    python run.py --model model-int8.plan --batch-sizes 1,8 --iterations 500 --json result.json
    python run.py --model model.plan --energy-seconds 10 --energy-trials 3   # steady load for a power meter

Uses TensorRT's tensor-address API (set_input_shape / set_tensor_address / execute_async_v3, TensorRT
>= 8.5, the only one left in 10 and 11) with device buffers from cuda_runtime.py (ctypes libcudart).
Latency is end to end as an application sees it: host-to-device copy, execute_async_v3, device-to-host
copy and stream synchronize. Before loading, the engine's sidecar (<engine>.json, written by
trt_build.py) is checked against this TensorRT and GPU: engines only run where they were built.

Before loading anything, the files it reads (the engine, sample.npz) are checked against the sha256
the bundle's ../manifest.json lists: a changed or unlisted file exits 9 with the file named
(--no-verify runs anyway); outside a bundle (no manifest.json) it says they were not checked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
try:  # inside the edgekit package
    from . import runner_common as common
    from . import trt_build
    from .cuda_runtime import CudaRuntime
except ImportError:  # deploy/ of a bundle: the sibling files
    sys.path.insert(0, str(HERE))
    import runner_common as common
    import trt_build
    from cuda_runtime import CudaRuntime


class TrtSession:
    """One engine, one execution context, one stream; device buffers grow to the largest batch seen."""

    def __init__(self, plan_path, trt, cuda):
        self.trt, self.cuda, self.path = trt, cuda, Path(plan_path)
        problem = trt_build.check_engine_matches(self.path, trt.__version__, cuda.compute_capability(0))
        if problem:
            raise RuntimeError(problem)
        self.meta = json.loads(trt_build.sidecar(self.path).read_text()) if trt_build.sidecar(self.path).exists() else {}
        logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(logger)
        self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise RuntimeError(f"TensorRT could not deserialize {self.path} (built by another TensorRT or GPU?)")
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        if len(self.inputs) != 1:
            raise RuntimeError(f"{self.path} has {len(self.inputs)} inputs; this runner feeds single-input models")
        self.input = self.inputs[0]
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        shape = list(self.engine.get_tensor_shape(self.input))
        self.sample_shape = [d if d > 0 else 1 for d in shape[1:]]
        self.fixed_batch = shape[0] if shape[0] > 0 else None
        self.max_batch = self.fixed_batch or self._profile_max_batch()
        self.context = self.engine.create_execution_context()
        self.stream = cuda.stream_create()
        self.buffers = {}  # name -> (device pointer, bytes)

    def _profile_max_batch(self):
        if hasattr(self.engine, "get_tensor_profile_shape"):
            return int(self.engine.get_tensor_profile_shape(self.input, 0)[2][0])
        return 1

    def _buffer(self, name, nbytes):
        ptr, size = self.buffers.get(name, (None, 0))
        if ptr is None or size < nbytes:
            if ptr is not None:
                self.cuda.free(ptr)
            ptr, size = self.cuda.malloc(nbytes), nbytes
            self.buffers[name] = (ptr, size)
        self.context.set_tensor_address(name, ptr)
        return ptr

    def prepare(self, batch, all_outputs=False):
        """Bind buffers for this batch and return a no-argument callable that runs it and returns the first output
        (``all_outputs``: a list of every output, in the engine's order)."""
        if batch.shape[0] > self.max_batch:
            raise ValueError(f"batch {batch.shape[0]} exceeds the engine's optimization profile (max {self.max_batch}); "
                             "rebuild with larger batch_sizes")
        host_in = np.ascontiguousarray(batch, dtype=self.dtypes[self.input])
        self.context.set_input_shape(self.input, tuple(host_in.shape))
        d_in = self._buffer(self.input, host_in.nbytes)
        host_out = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            host_out[name] = np.empty(shape, dtype=self.dtypes[name])
            self._buffer(name, host_out[name].nbytes)
        first = self.outputs[0]
        cuda, stream, context = self.cuda, self.stream, self.context

        def infer():
            cuda.htod(d_in, host_in, stream)
            if not context.execute_async_v3(stream):
                raise RuntimeError("execute_async_v3 failed (see TensorRT's log)")
            for name, array in host_out.items():
                cuda.dtoh(array, self.buffers[name][0], stream)
            cuda.synchronize(stream)
            return [host_out[n] for n in self.outputs] if all_outputs else host_out[first]
        return infer

    def run(self, x, all_outputs=False):
        """First output for all of ``x`` (``all_outputs``: a list of every output), in chunks the optimization
        profile allows."""
        if all_outputs:
            def run_chunk(chunk):
                return [np.array(o, dtype=np.float32) for o in self.prepare(chunk, True)()]
        else:
            def run_chunk(chunk):
                return np.array(self.prepare(chunk)(), dtype=np.float32)
        return common.run_in_chunks(run_chunk, x, self.fixed_batch, min(32, self.max_batch))

    def run_all(self, x):
        """Every output for all of ``x``, in the engine's output order (``output_names``)."""
        return self.run(x, all_outputs=True)

    @property
    def output_names(self):
        return list(self.outputs)

    def close(self):
        for ptr, _ in self.buffers.values():
            self.cuda.free(ptr)
        self.buffers = {}
        if self.stream:
            self.cuda.stream_destroy(self.stream)
            self.stream = 0


def open_session(path, trt=None, cuda=None):
    if trt is None:
        try:
            import tensorrt as trt
        except ImportError as exc:
            raise SystemExit(f"error: the TensorRT Python bindings are missing ({exc}). On a Jetson they come with "
                             "JetPack (python3-libnvinfer); elsewhere pip install tensorrt. Without them, "
                             "deploy/jetson/build_engine.sh builds and times the engine with trtexec.")
    return TrtSession(path, trt, cuda if cuda is not None else CudaRuntime())


class Adapter:
    name = "tensorrt"

    def load(self, args):
        try:
            return open_session(args.model)
        except RuntimeError as exc:
            raise SystemExit(f"error: {exc}")

    @staticmethod
    def model_files(model):
        """The engine and, when present, its sidecar (model.plan.json, read before the engine is loaded)."""
        side = trt_build.sidecar(model)
        return [model, side] if side.exists() else [model]

    @staticmethod
    def fixed_batch(session):
        return session.fixed_batch

    @staticmethod
    def run_batched(session, x, all_outputs=False):
        return session.run(x, all_outputs)

    @staticmethod
    def output_names(session):
        return session.output_names

    @staticmethod
    def input_specs(session):
        return [(session.input, [None] + session.sample_shape, session.dtypes[session.input])]

    @staticmethod
    def infer_fn(session, batch):
        return session.prepare(batch)

    def extra(self, args, session, x, result):
        meta = session.meta
        result["details"] = {"tensorrt": session.trt.__version__, "gpu": meta.get("gpu", "?"),
                             "engine_precision": meta.get("precision", "?"), "typing": meta.get("typing", "?"),
                             "timing": "end to end (H2D copy + execute_async_v3 + D2H copy + sync)"}


def main(argv=None):
    parser = common.parser_for(__doc__, HERE / "model.plan")
    args = parser.parse_args(argv)
    return common.run(args, Adapter(), HERE)


if __name__ == "__main__":
    sys.exit(main())
