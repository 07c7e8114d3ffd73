"""The runner's side of the energy protocol: windows of back-to-back inference, the stdin handshake,
and the parent's run_benchmark driving a meter from the runner's events."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgekit.bench.latency import BenchSettings, _replier, run_benchmark
from edgekit.deploy import DEPLOY_DIR
from edgekit.deploy import run_onnxruntime as runner
from edgekit.energy.protocol import EnergySession, EnergySettings

from .test_energy_protocol import FakeMeter

SCRIPT = DEPLOY_DIR / "run_onnxruntime.py"


class TickingSession:
    """Each run takes 250 ms on a fake clock (a binary fraction: sums are exact)."""

    def __init__(self) -> None:
        self.now, self.runs = 0.0, 0

    def clock(self) -> float:
        return self.now

    def get_inputs(self):
        return [SimpleNamespace(name="input", shape=["batch", 3])]

    def run(self, outputs, feed):
        self.runs += 1
        self.now += 0.25


def test_windows_run_for_the_given_seconds_on_the_runners_clock() -> None:
    session, events = TickingSession(), []
    windows = runner.energy_windows(session, np.ones((4, 3), np.float32), 1.0, 2, emit=events.append,
                                    clock=session.clock)
    assert [w["runs"] for w in windows] == [4, 4] and [w["inferences"] for w in windows] == [16, 16]
    assert windows[0]["seconds"] == 1.0 and windows[1]["trial"] == 1
    assert [e["phase"] for e in events] == ["energy_start", "energy_end"] * 2
    assert events[1] == {"phase": "energy_end", **windows[0]}


def test_handshake_gates_every_window_and_asks_once_more_at_the_end() -> None:
    session, asked = TickingSession(), []

    def ask(step: str, trial: int) -> bool:
        asked.append((step, trial))
        return trial == 0

    windows = runner.energy_windows(session, np.ones((1, 3), np.float32), 0.5, 3, ask=ask, clock=session.clock)
    assert len(windows) == 1 and asked == [("active", 0), ("active", 1), ("done", 1)]


def test_stdin_handshake_reads_go() -> None:
    events: list[dict] = []
    ask = runner._stdin_handshake(events.append, io.StringIO("go\nstop\n"))
    assert ask("active", 0) is True and ask("active", 1) is False and ask("done", 1) is False  # EOF is not "go"
    assert events[0] == {"phase": "energy_idle", "next": "active", "trial": 0}


def test_standalone_energy_load_without_a_parent(digits_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--model", str(digits_onnx), "--random", "--warmup", "1",
                           "--iterations", "3", "--energy-seconds", "0.05", "--energy-trials", "2", "--json", str(out)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    windows = json.loads(out.read_text())["energy_windows"]
    assert [w["trial"] for w in windows] == [0, 1] and all(w["seconds"] >= 0.05 for w in windows)
    assert proc.stderr == ""  # no parent asked for events
    human = subprocess.run([sys.executable, str(SCRIPT), "--model", str(digits_onnx), "--random", "--warmup", "1",
                            "--iterations", "3", "--energy-seconds", "0.05"], capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
    assert "energy load 1:" in human.stdout and "at batch 1" in human.stdout


def test_run_benchmark_drives_the_meter_through_the_real_runner(digits_onnx: Path, eval_arrays) -> None:
    meter = FakeMeter([2.0, 12.0, 2.0, 12.0, 2.0])
    settings = EnergySettings(meter="fake", seconds=0.2, trials=2, idle_seconds=0.05)
    session = EnergySession(meter, settings)
    bench = run_benchmark("onnxruntime", digits_onnx, eval_arrays[0][:4], BenchSettings((4, 1), 2, 5, ("--threads", "1")),
                          energy=session)
    assert set(bench["latency_ms"]) == {"batch_4", "batch_1"}
    assert meter.calls == ["start", "stop"] * 5  # idle, active, idle, active, idle
    windows = bench["energy_windows"]
    assert len(windows) == 2 and all(w["batch_size"] == 4 and w["seconds"] >= 0.2 for w in windows)
    report = session.report()
    assert report["status"] == "measured" and report["batch_size"] == 4
    assert [t["inferences"] for t in report["trials"]] == [w["inferences"] for w in windows]
    assert report["joules_per_inference"] == pytest.approx(
        float(np.median([12.0 * w["seconds"] / w["inferences"] for w in windows])))


def test_a_meter_failing_during_the_run_keeps_the_latency(digits_onnx: Path, eval_arrays) -> None:
    meter = FakeMeter([2.0, 12.0], fail_on=1)
    session = EnergySession(meter, EnergySettings(meter="fake", seconds=0.2, trials=2, idle_seconds=0.05))
    bench = run_benchmark("onnxruntime", digits_onnx, eval_arrays[0][:1], BenchSettings((1,), 1, 3, ("--threads", "1")),
                          energy=session)
    assert bench["latency_ms"]["batch_1"]["iterations"] == 3 and bench["energy_windows"] == []
    assert session.report()["status"] == "unavailable"


def test_reply_to_a_runner_that_died_is_not_an_error() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE, text=True)
    proc.wait()
    reply = _replier(proc)
    reply("go" * 100_000)  # more than a pipe buffer: BrokenPipeError, logged; the exit code reports the failure
    assert proc.stdin.closed
    reply("go")  # and later replies are dropped
