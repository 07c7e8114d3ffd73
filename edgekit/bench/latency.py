"""Times an artifact by running the bundle's own standalone runner in a fresh process.

A fresh process per artifact keeps one artifact's allocator and thread-pool state from
leaking into the next one's numbers (FIELD-NOTES: medians drift +-40% otherwise), makes the
peak RSS that of the runtime alone, and means the report's latency was measured by exactly
the code that ships in deploy/.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.deploy import DEPLOY_DIR
from edgekit.errors import PipelineError
from edgekit.progress import NullProgress, Progress

if TYPE_CHECKING:
    from edgekit.energy.protocol import EnergySession
    from edgekit.profile import Profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchSettings:
    batch_sizes: tuple[int, ...]
    warmup: int
    iterations: int  # the most timed calls per batch size (the stop rule may stop earlier)
    runtime_args: tuple[str, ...] = ()  # the runner's own options, from the profile (runner_args)
    # the stop rule (deploy/runner_common.stop_reason; the profile's [benchmark], edgekit.profile.BenchmarkConfig)
    min_iterations: int = 0  # 0: as many as iterations (a fixed count)
    target_ci: float = 0.0  # 0: a fixed count
    min_seconds: float = 0.0
    max_seconds: float = 0.0  # 0: no time cap

    def timing_args(self) -> list[str]:
        """The runner options of the timing loop (warm-up, the cap and the stop rule)."""
        return ["--warmup", str(self.warmup), "--iterations", str(self.iterations),
                "--min-iterations", str(self.min_iterations or self.iterations), "--target-ci", str(self.target_ci),
                "--min-seconds", str(self.min_seconds), "--max-seconds", str(self.max_seconds or float("inf"))]


def runner_args(profile: Profile) -> tuple[str, ...]:
    """The profile's runtime settings as options of that backend's standalone runner."""
    from edgekit.backends import backend_spec

    return backend_spec(profile.target.backend).runner_args(profile)


def settings_from_profile(profile: Profile) -> BenchSettings:
    b = profile.benchmark
    return BenchSettings(b.batch_sizes, b.warmup, b.iterations, runner_args(profile), b.min_iterations,
                         b.target_ci, b.min_seconds, b.max_seconds)


def _command(runner: Path, model: Path, inputs: Path | None, out: Path, s: BenchSettings) -> list[str]:
    source = ["--input", str(inputs)] if inputs else ["--random"]  # random: the runner knows the input shape
    return [sys.executable, str(runner), "--model", str(model), *source, "--json", str(out),
            "--batch-sizes", ",".join(map(str, s.batch_sizes)), *s.timing_args(), *s.runtime_args,
            "--progress-jsonl"]


def _replier(proc: subprocess.Popen) -> Any:
    def reply(answer: str) -> None:
        assert proc.stdin is not None  # opened as a pipe whenever an energy session runs
        if proc.stdin.closed:  # an earlier reply found the runner gone
            return
        try:
            proc.stdin.write(answer + "\n")
            proc.stdin.flush()
        except BrokenPipeError:  # the runner died: its exit code and stderr are reported by run_benchmark
            log.debug("runner gone before the energy handshake reply %r", answer)
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()  # drops the unsent reply; closing it at garbage collection would raise again
    return reply


def _follow(proc: subprocess.Popen, key: str, progress: Progress, settings: BenchSettings,
            energy: EnergySession | None = None) -> list[str]:
    """Turn the runner's JSON progress lines into progress updates and energy handshakes; keep other
    lines for errors."""
    other: list[str] = []
    per_batch = settings.warmup + settings.iterations
    order = {b: i for i, b in enumerate(settings.batch_sizes)}
    total = per_batch * len(settings.batch_sizes)
    assert proc.stderr is not None
    for line in proc.stderr:
        try:
            event = json.loads(line)
        except ValueError:
            other.append(line.rstrip())
            continue
        if energy is not None and str(event.get("phase", "")).startswith("energy_"):
            energy.on_event(event, _replier(proc))
            continue
        offset = order.get(event["batch_size"], 0) * per_batch + (settings.warmup if event["phase"] == "timed" else 0)
        progress.update(key, offset + event["done"], total)
    return other


def run_benchmark(backend_name: str, model: Path, sample: np.ndarray | None, settings: BenchSettings, *,
                  progress: Progress | None = None, key: str = "bench",
                  energy: EnergySession | None = None, label: str | None = None) -> dict[str, Any]:
    """Latency per batch size, throughput, load time and peak RSS of one artifact; with ``energy``, the
    runner then runs the energy windows that session measures (edgekit.energy.protocol). ``label`` names the
    artifact on the progress bar (the variant or trial; a sweep's artifacts sit in folders named by hashes)."""
    from edgekit.backends import backend_spec

    progress = progress or NullProgress()
    runner = DEPLOY_DIR / backend_spec(backend_name).runner
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as tmp:
        inputs, out = Path(tmp) / "inputs.npz", Path(tmp) / "result.json"
        if sample is None:
            inputs = None
        else:
            arrays = sample if isinstance(sample, dict) else {"x": np.ascontiguousarray(sample, dtype=np.float32)}
            np.savez(inputs, **arrays)  # named arrays: a multi-input model's inputs
        progress.start(key, f"benchmark {label or f'{model.parent.name}/{model.name}'}", None)
        command = _command(runner, model, inputs, out, settings) + (energy.runner_args() if energy else [])
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.PIPE if energy else subprocess.DEVNULL)
        try:
            other = _follow(proc, key, progress, settings, energy)
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if energy is not None:
                energy.close()
            progress.finish(key)
        if code != 0 or not out.exists():
            tail = " | ".join(other[-3:])
            raise PipelineError(f"Benchmarking {model} failed (runner exit code {code}): {tail[:500]}",
                                "Run deploy/run.py on the artifact by hand to see the full error.")
        return json.loads(out.read_text())
