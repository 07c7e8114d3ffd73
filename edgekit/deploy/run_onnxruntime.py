#!/usr/bin/env python3
"""Standalone runner for an edgekit ONNX Runtime bundle: needs only onnxruntime and numpy.

    python run.py                          # model.onnx beside this script, sample.npz if present
    python run.py --model m.onnx --input data.npz --batch-sizes 1,8 --iterations 500
    python run.py --random --json out.json
    python run.py --check                  # file integrity, outputs and parity only: no timing
    python run.py --energy-seconds 10 --energy-trials 3   # steady load windows for a power meter

Runs the model on the inputs (``x`` in the .npz, N first), prints the outputs' top-1 and, when
the .npz holds ``ref`` (reference outputs of the original model), the parity against it; then
times warm-up + iterations per batch size and prints p50/p90/p99/mean latency, throughput and
peak RSS. edgekit times its artifacts by running this very script in a fresh process.

Before loading anything, the files it reads (the model, sample.npz) are checked against the sha256
the bundle's ../manifest.json lists: a changed or unlisted file exits 9 with the file named
(--no-verify runs anyway); outside a bundle (no manifest.json) it says they were not checked.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
try:  # inside the edgekit package
    from . import runner_common as common
except ImportError:  # deploy/ of a bundle: the sibling file (also under python -I, which drops the script dir)
    sys.path.insert(0, str(HERE))
    import runner_common as common
OPTIMIZATION_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
                       "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}

# re-exported: one implementation, used by edgekit and by the bundle
summarize, make_batch, parity, peak_rss_bytes = common.summarize, common.make_batch, common.parity, common.peak_rss_bytes
_stdin_handshake = common.stdin_handshake


def make_session(path, threads=0, optimization="all", optimized_model_path=None, emulate_qdq=False):
    """``path``: a file or a serialized model (bytes). ``emulate_qdq``: run Q/DQ as float math instead of
    fusing it into integer kernels (the quantization's own accuracy, independent of this CPU's kernels)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[optimization])
    if optimized_model_path:
        options.optimized_model_filepath = str(optimized_model_path)
    if emulate_qdq:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def fixed_batch(session):
    """The batch size baked into the model's input, or None when it is dynamic."""
    dim = session.get_inputs()[0].shape[0]
    return dim if isinstance(dim, int) and dim > 0 else None


def input_specs(session):
    """[(name, shape with None for dynamic dims, numpy dtype)] of the model's inputs."""
    return [(i.name, [d if isinstance(d, int) and d > 0 else None for d in i.shape],
             common.onnx_dtype(getattr(i, "type", "tensor(float)"))) for i in session.get_inputs()]


def feed_of(session, x):
    """The session's input dict for ``x`` (one array, or a dict of arrays named after the inputs)."""
    specs = input_specs(session)
    x = common.as_feed(x, specs)
    return x if isinstance(x, dict) else {specs[0][0]: x}


def run_batched(session, x, batch_size=32, all_outputs=False):
    """First output for all of ``x`` (``all_outputs``: a list of every output, in the model's order), run in
    chunks (padded up to a fixed batch when the model has one)."""
    first = (lambda chunk: session.run(None, chunk)) if all_outputs else (lambda chunk: session.run(None, chunk)[0])
    return common.run_in_chunks(first, feed_of(session, x), fixed_batch(session), batch_size)


def output_names(session):
    return [o.name for o in session.get_outputs()]


def infer_fn(session, batch):
    feed = feed_of(session, batch)
    return lambda: session.run(None, feed)


def time_session(session, batch, warmup, iterations, on_progress=None, clock=time.perf_counter):
    """Latency of one input batch: ``warmup`` untimed runs, then ``iterations`` timed ones."""
    return common.time_loop(infer_fn(session, batch), warmup, iterations, on_progress, clock)


def energy_windows(session, batch, seconds, trials, ask=None, emit=None, clock=time.perf_counter):
    """Back-to-back inference on ``batch`` for ``seconds`` per trial (see runner_common.energy_loop)."""
    return common.energy_loop(infer_fn(session, batch), common.count(batch), seconds, trials, ask, emit, clock)


class Adapter:
    name = "onnxruntime"

    def __init__(self, optimization):
        self.optimization = optimization

    def load(self, args):
        return make_session(args.model, args.threads, self.optimization)

    fixed_batch = staticmethod(fixed_batch)
    run_batched = staticmethod(run_batched)
    input_specs = staticmethod(input_specs)
    output_names = staticmethod(output_names)
    infer_fn = staticmethod(infer_fn)

    @staticmethod
    def model_files(model):
        """The files loading ``model`` reads (checked against the bundle's manifest.json first)."""
        return [model]

    def extra(self, args, session, x, result):
        pass


def main(argv=None):
    parser = common.parser_for(__doc__, HERE / "model.onnx")
    parser.add_argument("--optimization", default="all", choices=sorted(OPTIMIZATION_LEVELS))
    args = parser.parse_args(argv)
    return common.run(args, Adapter(args.optimization), HERE)


if __name__ == "__main__":
    sys.exit(main())
