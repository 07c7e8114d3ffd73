"""The runtime-independent half of edgekit's standalone runners (numpy + stdlib only).

Shipped next to ``run.py`` in every bundle's deploy/ folder. A runner supplies an adapter
(load, batch-run, one-batch infer callable, input shape, fixed batch) and calls ``run()``;
timing, parity, energy windows, peak RSS and output formats are the same for every runtime.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np


def summarize(seconds):
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean()), "std": float(ms.std()),
            "min": float(ms.min()), "iterations": int(ms.size)}


# A timing is flagged "unstable" (report.json latency_ms[batch]["unstable"], a "!" in the tables, a report warning)
# when its tail is far from its median or other processes competed for the CPUs while it ran. Its p50 still ranks
# (a median shrugs off a few stalled calls); its mean, p99 and the variants' order deserve a re-run on a quiet host.
UNSTABLE_TAIL_RATIO = 3.0  # p99 above 3x the p50: some calls stalled (another process, page faults, throttling)
CONTENTION_SHARE = 0.5  # other processes kept over half of the machine's CPU time busy while the loop ran


def throughput(batch_size, stats):
    """Items per second at the median latency: the statistic every comparison uses, so one stalled call can
    neither make a variant look faster nor slower than its p50 says (the mean would)."""
    return batch_size * 1000.0 / stats["p50"]


def instability(stats):
    """Why a latency summary should not be trusted beyond its p50 (a short text), or None."""
    reasons = []
    p50, p99 = stats.get("p50"), stats.get("p99")
    if p50 and p99 and p99 > UNSTABLE_TAIL_RATIO * p50:
        reasons.append(f"p99 {p99:.3f} ms = {p99 / p50:.1f}x the p50 {p50:.3f} ms")
    load = stats.get("others_cpu_load")
    if load is not None and load > CONTENTION_SHARE:
        reasons.append(f"other processes used {load:.0%} of the CPUs")
    return "; ".join(reasons) or None


def cpu_ticks():
    """(busy ticks of all CPUs, all ticks, this process's ticks) from /proc; None where /proc is missing."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        with open("/proc/self/stat") as own:
            mine = own.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total, int(mine[11]) + int(mine[12])  # utime + stime of every thread


def others_cpu_load(before, after):
    """Share of the machine's CPU time other processes were busy between two cpu_ticks(); None when unknown."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    others = (after[0] - before[0]) - (after[2] - before[2])
    return round(min(max(others / (after[1] - before[1]), 0.0), 1.0), 3)


# The adaptive stop rule (pyperf's and benchmark_app -t's idea): time until the median is known well enough,
# not a fixed count. The 95% confidence interval of the median comes from order statistics (distribution-free: the
# ranks n/2 -+ 1.96 sqrt(n)/2 bracket the true median with 95% probability, whatever the latency distribution).
CI_Z = 1.96
STOP_CHECK_EVERY = 5  # calls between two looks at the interval (sorting is cheap; the look is outside the timing)


def median_ci(seconds):
    """(low, high) of the 95% confidence interval of the median of ``seconds`` (order statistics)."""
    ordered = sorted(seconds)
    n = len(ordered)
    half = CI_Z * math.sqrt(n) / 2.0
    low = min(max(int(math.floor(n / 2.0 - half)) - 1, 0), n - 1)
    high = min(max(int(math.ceil(n / 2.0 + half)), 0), n - 1)
    return ordered[low], ordered[high]


def ci_relative(seconds):
    """Half the width of the median's 95% confidence interval as a share of the median (0.02 = +-2%)."""
    low, high = median_ci(seconds)
    median = float(np.median(seconds))
    return (high - low) / 2.0 / median if median > 0 else math.inf


def stop_reason(seconds, elapsed, rule):
    """Why the timed loop stops now, or None to go on. ``rule``: target_ci (0 = a fixed count), min_iterations,
    max_iterations, min_seconds, max_seconds. The caps stop it whatever the interval; convergence needs both
    minimums, so a short burst or a handful of calls never passes for a measurement."""
    n = len(seconds)
    if n >= rule["max_iterations"]:
        return "max_iterations"
    if elapsed >= rule["max_seconds"] and n >= 1:
        return "max_seconds"
    if (rule["target_ci"] > 0 and n >= rule["min_iterations"] and elapsed >= rule["min_seconds"]
            and n % STOP_CHECK_EVERY == 0 and ci_relative(seconds) <= rule["target_ci"]):
        return "converged"
    return None


def stop_rule(args):
    """The stop rule of the runner's options (--iterations is the cap)."""
    return {"target_ci": args.target_ci, "min_iterations": min(args.min_iterations, args.iterations),
            "max_iterations": args.iterations, "min_seconds": args.min_seconds, "max_seconds": args.max_seconds}


def fixed_count(iterations):
    """A rule that times exactly ``iterations`` calls."""
    return {"target_ci": 0.0, "min_iterations": iterations, "max_iterations": iterations, "min_seconds": 0.0,
            "max_seconds": math.inf}


def time_loop(infer, warmup, iterations, on_progress=None, clock=time.perf_counter, rule=None):
    """Latency of ``infer()``: ``warmup`` untimed calls, then timed ones until ``rule`` (stop_reason) says stop;
    without a rule, exactly ``iterations``. The summary records why it stopped, after how long, and the interval
    the median reached (``ci95_rel``)."""
    rule = rule or fixed_count(iterations)
    for i in range(warmup):
        infer()
        if on_progress:
            on_progress("warmup", i + 1, warmup)
    seconds = []
    started = clock()
    while True:
        start = clock()
        infer()
        seconds.append(clock() - start)
        reason = stop_reason(seconds, clock() - started, rule)
        done = len(seconds)
        if on_progress and (done % 10 == 0 or reason):
            on_progress("timed", done, rule["max_iterations"] if not reason else done)
        if reason:
            break
    stats = summarize(seconds)
    stats["ci95_rel"] = round(ci_relative(seconds), 5)
    stats["stop"] = {"reason": reason, "seconds": round(clock() - started, 4)}
    return stats


def energy_loop(infer, size, seconds, trials, ask=None, emit=None, clock=time.perf_counter):
    """Back-to-back ``infer()`` (``size`` items each) for ``seconds``, ``trials`` times: a steady load for a power meter.

    ``ask(step, trial)`` is called before each window ("active") and after the last ("done"); a window
    runs only when it returns True. edgekit's parent process answers it: it measures idle power and
    starts its meter in between, so the meter covers exactly this process doing this work.
    """
    windows = []
    for trial in range(trials):
        if ask and not ask("active", trial):
            break
        if emit:
            emit({"phase": "energy_start", "trial": trial, "batch_size": size})
        runs, start = 0, clock()
        while True:
            infer()
            runs += 1
            elapsed = clock() - start
            if elapsed >= seconds:
                break
        windows.append({"trial": trial, "inferences": runs * size, "runs": runs, "seconds": elapsed, "batch_size": size})
        if emit:
            emit({"phase": "energy_end", **windows[-1]})
    if ask:
        ask("done", len(windows))
    return windows


# Inputs ("feeds") are one array (a single-input model) or a dict of named arrays (a multi-input model such
# as a tokenized transformer: input_ids, attention_mask, ...), N first in every array.

def count(x):
    """Number of samples in an array or a dict of named arrays."""
    return int(next(iter(x.values())).shape[0]) if isinstance(x, dict) else int(x.shape[0])


def take(x, index):
    """Rows ``index`` (a slice or an index array) of an array or of every array of a dict."""
    if isinstance(x, dict):
        return {k: np.ascontiguousarray(v[index]) for k, v in x.items()}
    return np.ascontiguousarray(x[index])


def _cat(parts):
    if isinstance(parts[0], dict):
        return {k: np.ascontiguousarray(np.concatenate([p[k] for p in parts])) for k in parts[0]}
    return np.ascontiguousarray(np.concatenate(parts))


def run_in_chunks(run_chunk, x, fixed=None, batch_size=32):
    """``run_chunk(chunk) -> output`` over all of ``x``; chunks are padded up to a fixed batch when the
    model has one (the padding rows are dropped from the result). ``run_chunk`` may return a list of outputs
    (every output of a multi-output model): the result is then a list, each output concatenated."""
    step = fixed or batch_size
    outputs = []
    for start in range(0, count(x), step):
        chunk = take(x, slice(start, start + step))
        real = count(chunk)
        if fixed and real < fixed:
            chunk = _cat([chunk, take(chunk, np.full(fixed - real, real - 1))])
        got = run_chunk(chunk)
        outputs.append([np.asarray(o)[:real] for o in got] if isinstance(got, (list, tuple)) else np.asarray(got)[:real])
    if isinstance(outputs[0], list):
        return [np.concatenate(parts) for parts in zip(*outputs)]
    return np.concatenate(outputs)


def make_batch(x, batch_size):
    reps = math.ceil(batch_size / count(x))
    return take(_cat([x] * reps), slice(0, batch_size))


_ONNX_TYPES = {"float": "float32", "float16": "float16", "double": "float64", "int64": "int64", "int32": "int32",
               "int8": "int8", "uint8": "uint8", "bool": "bool"}


def onnx_dtype(type_name):
    """numpy dtype of an ONNX Runtime input type such as 'tensor(int64)'."""
    return np.dtype(_ONNX_TYPES.get(type_name[len("tensor("):-1], "float32"))


def random_feed(specs, batch_size, seed=0):
    """Inputs for ``--random`` from ``specs`` [(name, shape with None for dynamic dims, numpy dtype)]: floats
    standard-normal, integers 0 (token / type ids) or 1 for masks; dynamic dims after N are 1. One spec: an array."""
    rng = np.random.default_rng(seed)
    feed = {}
    for name, shape, dtype in specs:
        dims = [batch_size] + [d if isinstance(d, int) and d > 0 else 1 for d in list(shape)[1:]]
        if np.issubdtype(dtype, np.floating):
            feed[name] = rng.standard_normal(dims).astype(dtype)
        else:
            feed[name] = np.full(dims, 1 if "mask" in name.lower() else 0, dtype=dtype)
    return next(iter(feed.values())) if len(feed) == 1 else feed


def as_feed(x, specs):
    """``x`` as the model's inputs: one array for a one-input model, else a dict keyed by the model's input
    names, each array cast to the dtype that input declares (a tokenizer's int32 ids into an int64 input)."""
    names = [name for name, _, _ in specs]
    if not isinstance(x, dict):
        if len(names) != 1:
            raise SystemExit(f"error: the model has {len(names)} inputs ({', '.join(names)}); the .npz must hold "
                             "one array per input, named like them")
        return np.ascontiguousarray(x, dtype=specs[0][2])
    missing = [n for n in names if n not in x]
    if missing:
        raise SystemExit(f"error: the model's inputs {', '.join(missing)} are not in the data "
                         f"(it holds {', '.join(sorted(x))}); name each .npz array after a model input")
    return {name: np.ascontiguousarray(x[name], dtype=dtype) for name, _, dtype in specs}


def peak_rss_bytes():
    """Peak resident memory of this process. VmHWM, because ru_maxrss survives execve and would
    report the parent's peak when this script is spawned from a big process."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def without_padding(x, *outputs):
    """Outputs with padded token positions zeroed: when the inputs hold an ``attention_mask`` (N, seq) and an
    output is per token (N, seq, ...), what the model computes at masked positions is never used, yet it
    would dominate a parity check on sequences padded to a fixed length."""
    mask = x.get("attention_mask") if isinstance(x, dict) else None
    if mask is None or mask.ndim != 2:
        return outputs
    keep = (mask != 0)
    # per token only (N, seq, ...): a pooled (N, D) output whose D happens to equal seq is not masked
    return tuple(o * keep.reshape(keep.shape + (1,) * (o.ndim - 2)) if o.ndim >= 3 and o.shape[:2] == mask.shape
                 else o for o in outputs)


def row_cosine(a, b):
    """Cosine similarity of each row of two (N, D) arrays. Identical rows are 1.0, also all-zero ones (the plain
    formula gives 0/0 there: a model whose outputs are all zeros, copied exactly, would read as a total mismatch);
    a zero row against a non-zero one stays 0.0."""
    denom = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.sum(a * b, axis=1) / np.maximum(denom, 1e-12)
    return np.where(np.all(a == b, axis=1), 1.0, cosine)


def parity(out, ref, x=None):
    """max-abs / mean cosine / top-1 agreement of ``out`` vs ``ref`` (padded token positions of ``x`` ignored)."""
    out, ref = without_padding(x, out, ref)
    flat_o, flat_r = out.reshape(out.shape[0], -1), ref.reshape(ref.shape[0], -1)
    cosine = row_cosine(flat_o, flat_r)
    return {"max_abs": float(np.max(np.abs(out - ref))), "cosine": float(cosine.mean()),
            "top1_agreement": float(np.mean(flat_o.argmax(1) == flat_r.argmax(1)))}


# The original's outputs in a .npz: ``ref`` is the first (primary) output, ``ref.1``, ``ref.2``, ... the others in
# the model's output order (a multi-output model: every output is checked); ``ref_names``, when present, the names
# the model file gives them, so a runtime listing its outputs in another order is matched by name
REF = "ref"
REF_NAMES = "ref_names"


def reference_keys(count_):
    """The .npz keys of ``count_`` reference outputs, in output order."""
    return [REF] + [f"{REF}.{i}" for i in range(1, count_)]


def pop_references(arrays):
    """The reference outputs held in ``arrays`` (a dict of a .npz's arrays; removed from it), in output order;
    None when there is no ``ref``."""
    if REF not in arrays:
        return None
    refs = [arrays.pop(REF)]
    while f"{REF}.{len(refs)}" in arrays:
        refs.append(arrays.pop(f"{REF}.{len(refs)}"))
    return refs


def pop_reference_names(arrays):
    """The model's names of the reference outputs (``ref_names``; removed from ``arrays``), or None."""
    names = arrays.pop(REF_NAMES, None)
    return None if names is None else [str(n) for n in names]


def align_to_references(outs, out_names, ref_names):
    """The model's outputs in the references' order, by name when the model names every reference; else as they
    come (the order the model file lists them in)."""
    if not out_names or not ref_names or not set(ref_names) <= set(out_names):
        return list(outs)
    index = {n: i for i, n in enumerate(out_names)}
    return [outs[index[n]] for n in ref_names] + [o for n, o in zip(out_names, outs) if n not in set(ref_names)]


def parity_all(outs, refs, x=None, out_names=None, ref_names=None):
    """``parity`` of each output against its reference, in output order (matched by name when both ``out_names``,
    the model's, and ``ref_names``, the reference's, are known); a count or shape mismatch exits saying which."""
    outs = align_to_references(outs, out_names, ref_names)
    fix = "this is not the model the reference was recorded from (pass the bundle's own model, or --input without ref)"
    if len(outs) < len(refs):
        sys.exit(f"error: the model has {len(outs)} output(s) but the reference holds {len(refs)}; {fix}")
    for i, (o, r) in enumerate(zip(outs, refs)):
        if o.shape != r.shape:
            name = ref_names[i] if ref_names and i < len(ref_names) else f"#{i}"
            sys.exit(f"error: output {name} has shape {list(o.shape)} but its reference {list(r.shape)}; {fix}")
    return [parity(o, r.astype(np.float32), x) for o, r in zip(outs, refs)]


def progress_printer(stream):
    def emit(phase, done, total, batch_size=None):
        stream.write(json.dumps({"phase": phase, "done": done, "total": total, "batch_size": batch_size}) + "\n")
        stream.flush()
    return emit


def event_writer(stream):
    def emit(event):
        stream.write(json.dumps(event) + "\n")
        stream.flush()
    return emit


def stdin_handshake(emit, stdin):
    """Ask the parent on stderr, wait for its one-line answer on stdin ("go", anything else skips)."""
    def ask(step, trial):
        emit({"phase": "energy_idle", "next": step, "trial": trial})
        return stdin.readline().strip() == "go"
    return ask


def add_common_arguments(parser, default_model):
    parser.add_argument("--model", default=str(default_model))
    parser.add_argument("--input", help=".npz with x (N first) and optional ref")
    parser.add_argument("--random", action="store_true", help="time on random inputs")
    parser.add_argument("--batch-sizes", default="1")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=200,
                        help="timed calls per batch size: the most, when --target-ci stops earlier")
    parser.add_argument("--min-iterations", type=int, default=50, help="timed calls before --target-ci may stop")
    parser.add_argument("--target-ci", type=float, default=0.03,
                        help="stop once the median's 95%% confidence interval is within +- this share of it "
                             "(0 = always --iterations)")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="timed seconds before --target-ci may stop")
    parser.add_argument("--max-seconds", type=float, default=10.0,
                        help="stop timing a batch size after this many seconds, converged or not")
    parser.add_argument("--threads", type=int, default=0, help="0 = runtime default")
    parser.add_argument("--json", help="write results as JSON to this file")
    parser.add_argument("--progress-jsonl", action="store_true", help="progress as JSON lines on stderr")
    parser.add_argument("--energy-seconds", type=float, default=0.0,
                        help="after timing, run back-to-back inference this long per trial (a load for a power meter)")
    parser.add_argument("--energy-trials", type=int, default=1)
    parser.add_argument("--energy-handshake", action="store_true",
                        help="before each energy window, ask on stderr and wait for 'go' on stdin (used by edgekit)")
    parser.add_argument("--check", action="store_true",
                        help="only check: file integrity, outputs and parity on the inputs; no timing")
    parser.add_argument("--no-verify", action="store_true",
                        help="run even when the model or data files do not match the bundle's manifest.json")
    return parser


def read_npz_inputs(path):
    """(inputs, refs, labels, ref names) of a .npz: ``x`` for a one-input model, else every array but the references
    (``ref``, ``ref.1``, ...: a list in output order, or None; ``ref_names``) / ``y``, each named after the model
    input it feeds."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:  # a truncated or corrupted file
        sys.exit(f"error: cannot read {path} as a .npz ({exc}); save it with numpy.savez, or pass --random")
    ref, names, labels = pop_references(arrays), pop_reference_names(arrays), arrays.pop("y", None)
    if "x" in arrays:
        return arrays["x"], ref, labels, names
    if not arrays:
        sys.exit(f"error: {path} holds no inputs (save x=..., or one array per model input)")
    return arrays, ref, labels, names


def input_path(args, here):
    """The .npz the inputs come from: --input, else sample.npz beside the runner; None for random inputs."""
    if args.input and not Path(args.input).is_file():
        sys.exit(f"error: --input {args.input} does not exist (pass a .npz with x, or --random)")
    path = args.input or (None if args.random else Path(here) / "sample.npz")
    return path if path and Path(path).exists() else None


def load_inputs(args, specs, here):
    """The model's inputs from --input (or sample.npz beside the runner), else random ones (--random); with the
    reference outputs and their names when the .npz holds them."""
    path = input_path(args, here)
    if path:
        x, ref, _, names = read_npz_inputs(path)
        return as_feed(x, specs), ref, str(path), names
    floats = all(np.issubdtype(dtype, np.floating) for _, _, dtype in specs)
    return (random_feed(specs, 1), None, "random normal" if floats else "random (floats normal, integer inputs 0, masks 1)",
            None)


# --- integrity: each file a runner reads is checked against the sha256 its bundle's manifest.json lists
# (edgekit's write_manifest: {"files": {"deploy/model.onnx": "<sha256>", ...}}, paths relative to the bundle)

VERIFICATION_FAILED = 9  # edgekit.errors.ExitCode.VERIFICATION_FAILED: the same failure, the same exit code
MANIFEST = "manifest.json"
MANIFEST_LEVELS = 3  # deploy/model.onnx, stages/NN-step/model.onnx, variants/NAME/model.onnx, deploy/engines/x.plan
# written on the device after the bundle was made (TensorRT engines, edgekit build-engine's reports): never listed
DEVICE_BUILT = ("deploy/engines/", "device/")
REFETCH = ("Copy the bundle again from where it was built (or rebuild it); `edgekit verify BUNDLE` lists every file "
           "that differs.")


class IntegrityError(Exception):
    """A bundle file that does not match the bundle's manifest.json: ``message`` names it, ``hint`` the fix."""

    def __init__(self, message, hint):
        super().__init__(f"{message} {hint}")
        self.message, self.hint = message, hint


def sha256_file(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def find_manifest(path):
    """The manifest.json of the bundle ``path`` lies in: in its folder or one of the two above; None outside a
    bundle. Links are not followed: the bundle's layout counts, not where a link points."""
    folder = Path(os.path.abspath(path)).parent
    for root in [folder, *folder.parents][:MANIFEST_LEVELS]:
        if (root / MANIFEST).is_file():
            return root / MANIFEST
    return None


def read_manifest(manifest):
    """{path relative to the bundle, with /: sha256} from a manifest.json; None when the JSON has no "files"
    table (a manifest.json of some other tool). Unreadable JSON is an IntegrityError."""
    try:
        data = json.loads(Path(manifest).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"The bundle's {manifest} cannot be read ({exc}), so no file of the bundle can be "
                             "checked.", "Copy the bundle again from where it was built.") from exc
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return None
    return {str(name).replace("\\", "/"): str(digest) for name, digest in files.items()}


def check_file(path, required=True):
    """Check ``path`` against the manifest.json of its bundle. Returns what was checked (a short text); raises
    IntegrityError when the manifest lists another sha256, lists the file but it is gone, or (``required``)
    does not list it. Outside a bundle, or an optional file the manifest does not list: not checked, and the
    text says so."""
    manifest = find_manifest(path)
    files = read_manifest(manifest) if manifest else None
    if files is None:
        return (f"not checked ({Path(path).name} is not in an edgekit bundle: no {MANIFEST} in its folder or the "
                "two above)")
    name = Path(os.path.relpath(os.path.abspath(path), manifest.parent)).as_posix()
    expected = files.get(name)
    if expected is None:
        if name.startswith(DEVICE_BUILT):
            return f"not checked ({name} was built on the device, after the bundle's {MANIFEST} was written)"
        if not required:
            return f"not checked ({name} is not a file of the bundle: {MANIFEST} does not list it)"
        raise IntegrityError(f"{name} is not listed in the bundle's {manifest}, so it cannot be checked: it was "
                             "added or renamed after the bundle was made, or the manifest was edited.",
                             REFETCH + " A model of your own: keep it outside the bundle's folder.")
    if not Path(path).is_file():
        raise IntegrityError(f"{name} is listed in the bundle's {MANIFEST} but is missing.", REFETCH)
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(f"{name} does not match the bundle's {manifest}: its sha256 is {actual[:12]}..., the "
                             f"manifest lists {expected[:12]}..., so it was changed or corrupted after the bundle was "
                             "made.", REFETCH)
    return f"{name} matches {MANIFEST}"


def verify_run_files(args, adapter, here):
    """Before anything is loaded: the model file(s) and the input .npz checked against the bundle's manifest.json
    (the model must be listed; sample.npz too, when it is read by default; an --input file the manifest does not
    list is the user's own). A mismatch exits VERIFICATION_FAILED with one paragraph; --no-verify runs anyway."""
    if args.no_verify:
        print("warning: --no-verify: the model and data files were not checked against the bundle's manifest.json",
              file=sys.stderr)
        return {"checked": False, "summary": "not checked (--no-verify)"}
    model = Path(args.model)
    if not model.is_file():
        sys.exit(f"error: the model {model} does not exist (pass --model PATH)")
    files = [(f, True) for f in adapter.model_files(model)]
    data = input_path(args, here)
    if data:
        files.append((Path(data), not args.input))
    try:
        notes = {str(f): check_file(f, required) for f, required in files}
    except IntegrityError as exc:
        print(f"error: {exc.message} {exc.hint} To run it anyway, pass --no-verify.", file=sys.stderr)
        sys.exit(VERIFICATION_FAILED)
    checked = not any(note.startswith("not checked") for note in notes.values())
    return {"checked": checked, "files": notes, "summary": "; ".join(notes.values())}


def _time_batches(args, adapter, session, x, result):
    progress = progress_printer(sys.stderr) if args.progress_jsonl else None
    fixed = adapter.fixed_batch(session)
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        if fixed and batch_size != fixed:
            result.setdefault("skipped_batch_sizes", []).append(batch_size)
            continue
        on_progress = (lambda phase, d, t, b=batch_size: progress(phase, d, t, b)) if progress else None
        before = cpu_ticks()
        stats = time_loop(adapter.infer_fn(session, make_batch(x, batch_size)), args.warmup, args.iterations,
                          on_progress, rule=stop_rule(args))
        stats["others_cpu_load"] = others_cpu_load(before, cpu_ticks())
        stats["unstable"] = instability(stats)
        result["latency_ms"][f"batch_{batch_size}"] = stats
        result["throughput_per_s"][f"batch_{batch_size}"] = throughput(batch_size, stats)


def _run_energy(args, adapter, session, x, result):
    if args.energy_seconds <= 0 or not result["latency_ms"]:
        return
    batch_size = int(next(iter(result["latency_ms"])).split("_")[1])  # the first batch size that ran
    emit = event_writer(sys.stderr) if args.progress_jsonl or args.energy_handshake else None
    ask = stdin_handshake(emit, sys.stdin) if args.energy_handshake else None
    infer = adapter.infer_fn(session, make_batch(x, batch_size))
    result["energy_windows"] = energy_loop(infer, batch_size, args.energy_seconds, args.energy_trials, ask, emit)


def run(args, adapter, here):
    """Check the files against the bundle's manifest, load, check outputs (and parity when sample.npz holds
    ``ref``), time, energy load, report (--check: no timing)."""
    integrity = verify_run_files(args, adapter, here)
    started = time.perf_counter()
    session = adapter.load(args)
    result = {"model": args.model, "runtime": adapter.name, "load_s": time.perf_counter() - started,
              "latency_ms": {}, "throughput_per_s": {}, "integrity": integrity}
    x, ref, source, ref_names = load_inputs(args, adapter.input_specs(session), here)
    outs = adapter.run_batched(session, x, all_outputs=True)
    out = outs[0]
    result["input"] = source
    result["outputs"] = {"shape": list(out.shape), "top1": out.reshape(out.shape[0], -1).argmax(1)[:8].tolist()}
    if len(outs) > 1:
        result["outputs"]["shapes"] = [list(o.shape) for o in outs]
    if ref is not None:
        names = adapter.output_names(session) if hasattr(adapter, "output_names") else None
        checked = parity_all(outs, ref, x, names, ref_names)
        result["parity_vs_reference"] = checked[0]
        if len(checked) > 1:  # every output of a multi-output model, in output order
            result["parity_by_output"] = checked
    if not args.check:
        result["stop_rule"] = {k: v for k, v in stop_rule(args).items() if math.isfinite(v)}
        _time_batches(args, adapter, session, x, result)
        adapter.extra(args, session, x, result)
        _run_energy(args, adapter, session, x, result)
    result["peak_rss_bytes"] = peak_rss_bytes()
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    else:
        print_human(result)
    return 0


def print_human(result):
    print(f"model: {result['model']}  ({result['runtime']}, load {result['load_s'] * 1000:.0f} ms)")
    print(f"integrity: {result['integrity']['summary']}")
    print(f"inputs: {result['input']}  outputs: {result['outputs']['shape']}  top-1: {result['outputs']['top1']}")
    if "parity_vs_reference" in result:
        p = result["parity_vs_reference"]
        print(f"parity vs original: top-1 agreement {p['top1_agreement']:.3f}  cosine {p['cosine']:.5f}  max-abs {p['max_abs']:.4g}")
        for i, p in enumerate(result.get("parity_by_output", [])[1:], 1):
            print(f"  output {i}: cosine {p['cosine']:.5f}  max-abs {p['max_abs']:.4g}")
    if result["latency_ms"]:
        print(f"{'batch':>6} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'mean ms':>9} {'items/s':>10}  (items/s at p50)")
    for key, s in result["latency_ms"].items():
        b = key.split("_")[1]
        print(f"{b:>6} {s['p50']:9.3f} {s['p90']:9.3f} {s['p99']:9.3f} {s['mean']:9.3f} {result['throughput_per_s'][key]:10.1f}"
              + (f"  unstable: {s['unstable']}" if s.get("unstable") else ""))
    for key, value in result.get("details", {}).items():
        if isinstance(value, dict) and all(isinstance(v, dict) and "p50" in v for v in value.values()):
            value = ", ".join(f"{b.split('_')[1]}: p50 {v['p50']:.3f} p99 {v['p99']:.3f}" for b, v in value.items())
        print(f"{key}: {value}")
    for w in result.get("energy_windows", []):
        print(f"energy load {w['trial'] + 1}: {w['inferences']} inferences in {w['seconds']:.2f} s at batch {w['batch_size']}")
    if result.get("peak_rss_bytes"):
        print(f"peak RSS: {result['peak_rss_bytes'] / 2**20:.1f} MiB")


def parser_for(doc, default_model):
    return add_common_arguments(argparse.ArgumentParser(description=doc.split("\n\n")[0]), default_model)
