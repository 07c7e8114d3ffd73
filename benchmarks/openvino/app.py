"""edgekit's own latency figure for an IR vs OpenVINO's benchmark_app on the same IR.

edgekit: ``edgekit.benchmark(ir, profile, batch_sizes=[1])``, which runs the bundle's standalone
runner (deploy/run_openvino.py) in a fresh process and reports p50 of synchronous ``infer()``.
benchmark_app: ``-api sync`` with the same CPU settings, its "Median" latency. Both fresh
processes, interleaved per round (start rotated), with the suite's quiet-CPU wait and others'-CPU
accounting (openvino_rounds.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.shared.timing import _busy_cpu_s, _children_cpu_s

THREADS = 2


def benchmark_app_path() -> Path:
    """The console script shipped in the openvino wheel (beside this interpreter, else on PATH)."""
    beside = Path(sys.executable).parent / "benchmark_app"
    found = beside if beside.exists() else (Path(p) if (p := shutil.which("benchmark_app")) else None)
    if found is None:
        raise RuntimeError("benchmark_app not found: the openvino wheel installs it as a console script")
    return found


def benchmark_app_command(ir: Path, niter: int, threads: int = THREADS, *, static: bool = True) -> list[str]:
    # benchmark_app refuses -nthreads/-nstreams unless -hint none (a UI rule, FIELD-NOTES); -hint none
    # with 1 stream and 2 threads is what edgekit's latency hint resolves to. -ip f32: benchmark_app
    # otherwise feeds image-like inputs as u8 and adds a u8->f32 conversion to the model it times.
    # -shape reshapes the dynamic-batch IR to a static [1,3,224,224] before compiling (the usual call);
    # -data_shape keeps the batch dimension dynamic (what edgekit's runner times with --no-static-shapes).
    shape = ["-shape" if static else "-data_shape", "[1,3,224,224]"]
    return [str(benchmark_app_path()), "-m", str(ir), "-d", "CPU", "-api", "sync", "-hint", "none",
            "-nstreams", "1", "-nthreads", str(threads), *shape, "-ip", "f32",
            "-infer_precision", "f32", "-niter", str(niter)]


_UNIT_MS = {"ms": 1.0, "us": 1e-3, "s": 1e3}  # benchmark_app prints "900.69 us" below 1 ms
_FIELDS = {
    "median_ms": r"Median:\s+([\d.]+ (?:ms|us|s))\b",
    "mean_ms": r"Average:\s+([\d.]+ (?:ms|us|s))\b",
    "min_ms": r"Min:\s+([\d.]+ (?:ms|us|s))\b",
    "count": r"Count:\s+(\d+) iterations",
    "ov_threads": r"INFERENCE_NUM_THREADS: (\d+)",
    "ov_streams": r"NUM_STREAMS: (\d+)",
    "precision": r"INFERENCE_PRECISION_HINT: <Type: '(\w+)'>",
}


def parse_benchmark_app(text: str) -> dict:
    out = {}
    for key, pattern in _FIELDS.items():
        m = re.search(pattern, text)
        if m is None:
            raise RuntimeError(f"benchmark_app output has no {pattern!r}:\n{text[-2000:]}")
        value = m.group(1)
        if key.endswith("_ms"):
            number, unit = value.split()
            out[key] = float(number) * _UNIT_MS[unit]
        else:
            out[key] = value if key == "precision" else int(value)
    return out


def run_benchmark_app(ir: Path, niter: int, *, static: bool = True) -> dict:
    proc = subprocess.run(benchmark_app_command(ir, niter, static=static), capture_output=True, text=True,
                          timeout=300, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark_app failed on {ir}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return parse_benchmark_app(proc.stdout + proc.stderr)


def edgekit_profile(iterations: int):
    """x86-openvino with its threads pinned to the suite's 2, one stream (benchmark_app's -nstreams 1) and
    benchmark_app's iteration count; hint (latency), precision (f32) and warm-up (20) stay the profile's."""
    from edgekit.profile import load_profile

    profile = load_profile("x86-openvino").replace_section("target", threads=THREADS, streams=1)
    return profile.replace_section("benchmark", iterations=iterations)


def run_edgekit(ir: Path, iterations: int) -> dict:
    import edgekit

    r = edgekit.benchmark(str(ir), edgekit_profile(iterations), batch_sizes=[1])
    lat = r["latency_ms"]["batch_1"]
    plugin = r["details"]["plugin_latency_ms"]["batch_1"]  # InferRequest.latency of the same timed calls
    return {"median_ms": lat["p50"], "mean_ms": lat["mean"], "min_ms": lat["min"], "count": lat["iterations"],
            "plugin_median_ms": plugin["p50"],
            "precision": r["details"]["precision"], "ov_streams": r["details"]["streams"],
            "runner_args": " ".join(r["settings"]["runtime_args"]), "warmup": r["settings"]["warmup"]}


def _accounted(fn: Callable[[], dict]) -> dict:
    """Run ``fn`` (which waits on a child process) and record the CPU others took meanwhile."""
    busy0, child0, t0 = _busy_cpu_s(), _children_cpu_s(), time.perf_counter()
    result = fn()
    wall = time.perf_counter() - t0
    result["others_cpus"] = max(0.0, (_busy_cpu_s() - busy0 - (_children_cpu_s() - child0)) / wall)
    return result


def app_groups(irs: dict[str, Path], niter: int) -> dict[str, list[tuple[str, Callable[[], dict]]]]:
    """Per model: edgekit's runner, benchmark_app (-shape, the target's reference) and benchmark_app with
    -data_shape (the batch kept dynamic: shows what a dynamic-shape compile costs)."""
    def tools(ir: Path) -> list[tuple[str, Callable[[], dict]]]:
        return [("edgekit", lambda: _accounted(lambda: run_edgekit(ir, niter))),
                ("benchmark_app", lambda: _accounted(lambda: run_benchmark_app(ir, niter))),
                ("benchmark_app_dynamic", lambda: _accounted(lambda: run_benchmark_app(ir, niter, static=False)))]

    return {model: tools(ir) for model, ir in irs.items()}
