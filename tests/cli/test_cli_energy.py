"""`edgekit bench/compress --energy ...` end to end: a fake RAPL tree (EDGEKIT_SYSFS_ROOT) whose
package counter a thread advances at 10 W while the real runner runs; `auto` on this machine."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgekit.energy.base import SYSFS_ROOT_ENV
from edgekit.errors import ExitCode

from clitools import run
from unit.energy_fakes import intel_laptop  # tests/ is on sys.path (rootdir conftest)

WATTS = 10.0


@pytest.fixture()
def energy_profile(tmp_path: Path, fast_profile: Path) -> Path:
    """The fast test profile ([benchmark] is its last section) with 2 short trials and idle windows."""
    path = tmp_path / "energy.toml"
    path.write_text(fast_profile.read_text() + "energy_trials = 2\nenergy_idle_seconds = 0.2\n")
    return path


@pytest.fixture()
def rapl_at_10_watts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A laptop's powercap tree whose package-0 counter grows at 10 W, in real time, every 2 ms."""
    root = tmp_path / "laptop"
    counter = intel_laptop(root)["intel-rapl:0"]
    start, base, stop = time.monotonic(), int(counter.read_text()), threading.Event()

    def advance() -> None:
        while not stop.wait(0.002):
            staged = counter.with_name(".energy_uj")
            staged.write_text(f"{base + int(WATTS * 1e6 * (time.monotonic() - start))}\n")
            os.replace(staged, counter)  # a reader never sees a half-written file

    thread = threading.Thread(target=advance, daemon=True)
    thread.start()
    monkeypatch.setenv(SYSFS_ROOT_ENV, str(root))
    yield root
    stop.set()
    thread.join()


def check_measured(energy: dict) -> None:
    assert energy["status"] == "measured", energy
    assert energy["meter"] == "rapl" and energy["domains"] == ["package-0"]
    assert energy["source"] == "/sys/class/powercap (intel-rapl:0)" and "not DRAM" in energy["covers"]
    assert energy["average_power_w"] == pytest.approx(WATTS, rel=0.25)
    assert energy["idle_power_w"] == pytest.approx(WATTS, rel=0.25)
    for trial in energy["trials"]:
        assert trial["joules_per_inference"] == pytest.approx(
            trial["average_power_w"] * trial["seconds"] / trial["inferences"])
    # the counter does not care whether the runner works: the idle-subtracted figure is ~0
    assert abs(energy["joules_per_inference_idle_subtracted"]) < 0.3 * energy["joules_per_inference"]


def test_bench_energy_rapl_on_a_fake_tree(rapl_at_10_watts, model_files, energy_profile, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    code, output = run("bench", model_files["onnx"], "--profile", energy_profile, "--batch-sizes", "1",
                       "--energy", "rapl", "--energy-seconds", "0.3", "--json", out)
    assert code == 0, output
    result = json.loads(out.read_text())
    energy = result["energy"]
    check_measured(energy)
    assert len(energy["trials"]) == 2 and all(t["seconds"] >= 0.3 for t in energy["trials"])
    assert len(result["energy_windows"]) == 2 and energy["batch_size"] == 1
    assert "per inference (total)" in output and "idle-subtracted" in output
    assert "meter: rapl (/sys/class/powercap (intel-rapl:0)), total = package-0" in output


def test_bench_energy_auto_on_an_empty_root(model_files, fast_profile, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SYSFS_ROOT_ENV, str(tmp_path))
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))  # no tegrastats
    out = tmp_path / "bench.json"
    code, output = run("bench", model_files["onnx"], "--profile", fast_profile, "--energy", "auto", "--json", out)
    assert code == 0, output
    energy = json.loads(out.read_text())["energy"]
    assert energy["status"] == "unavailable" and energy["joules_per_inference"] is None
    assert list(energy["tried"]) == ["jetson", "tegrastats", "rapl"]
    assert "energy: unavailable (auto): no meter found for this machine" in output
    assert "/sys/class/powercap does not exist" in output


@pytest.mark.skipif(Path("/sys/class/powercap").exists(), reason="this machine has a powercap tree")
def test_bench_energy_auto_on_this_machine_says_why(model_files, fast_profile, monkeypatch) -> None:
    monkeypatch.delenv(SYSFS_ROOT_ENV, raising=False)
    code, output = run("bench", model_files["onnx"], "--profile", fast_profile, "--energy", "auto")
    assert code == 0, output
    assert "energy: unavailable (auto)" in output and "rapl: /sys/class/powercap does not exist" in output


def test_bench_estimate_needs_a_tdp(model_files, fast_profile) -> None:
    code, output = run("bench", model_files["onnx"], "--profile", fast_profile, "--energy", "estimate")
    assert code == ExitCode.BAD_PROFILE and "--tdp-watts" in output
    code, output = run("bench", model_files["onnx"], "--profile", fast_profile, "--energy", "estimate",
                       "--tdp-watts", "15")
    assert code == 0 and "energy: ESTIMATE ~" in output and "NOT MEASURED" in output


def test_compress_measures_every_variant(rapl_at_10_watts, demo_assets, energy_profile, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    code, output = run("compress", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "--profile",
                       energy_profile, "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval,
                       "--out", out, "--batch-sizes", "1", "--energy", "rapl", "--energy-seconds", "0.2")
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    for variant in report["variants"]:
        check_measured(variant["energy"])
    md = (out / "report.md").read_text()
    assert "energy / inference" in md and "meter: rapl" in md and re.search(r"\| -?[\d.]+ [mµ]?J \|", md)
    assert "Energy per inference, rapl (package-0): fp32" in output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["profile"]["benchmark"]["energy_meter"] == "rapl"


def test_compress_estimate_is_labelled(demo_assets, fast_profile, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    code, output = run("compress", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "--profile",
                       fast_profile, "--calib-data", demo_assets.calib, "--out", out, "--batch-sizes", "1",
                       "--energy", "estimate", "--tdp-watts", "7")
    assert code == 0, output
    for variant in json.loads((out / "report.json").read_text())["variants"]:
        energy = variant["energy"]
        assert energy["status"] == "estimate" and energy["joules_per_inference"] is None
        assert energy["estimated_joules_per_inference_from_tdp"] > 0 and energy["tdp_watts"] == 7.0
    assert "(TDP est.)" in (out / "report.md").read_text()
    assert "ESTIMATE" in output


def test_compress_refuses_an_estimate_without_tdp_before_any_work(demo_assets, fast_profile, tmp_path) -> None:
    out = tmp_path / "bundle"
    code, output = run("compress", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "--profile",
                       fast_profile, "--calib-data", demo_assets.calib, "--out", out, "--energy", "estimate")
    assert code == ExitCode.BAD_PROFILE and not out.exists()
