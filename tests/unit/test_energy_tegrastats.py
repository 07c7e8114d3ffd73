"""tegrastats: the parser on recorded lines of each JetPack style, and the meter on a fake executable
that replays them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from edgekit.energy.base import MeterContext, MeterKind, MeterUnavailable
from edgekit.energy.tegrastats import TegrastatsMeter, parse_rails

from .energy_fakes import DATA, fake_tegrastats, jetson_platform_files

RECORDED = DATA / "tegrastats"


def first_line(name: str) -> str:
    return (RECORDED / f"{name}.log").read_text().splitlines()[0]


@pytest.mark.parametrize("name, rails", [
    ("nano_jp4", {"POM_5V_IN": 4.520, "POM_5V_GPU": 0.0, "POM_5V_CPU": 1.078}),
    ("xavier_nx_jp4", {"VDD_IN": 4.556, "VDD_CPU_GPU_CV": 1.023, "VDD_SOC": 1.431}),
    ("orin_nano_jp6", {"VDD_IN": 4.954, "VDD_CPU_GPU_CV": 0.631, "VDD_SOC": 1.458}),
    ("agx_orin_jp5", {"VDD_GPU_SOC": 3.176, "VDD_CPU_CV": 0.794, "VIN_SYS_5V0": 3.237, "VDDQ_VDD2_1V8AO": 0.503}),
])
def test_parse_recorded_lines(name: str, rails: dict[str, float]) -> None:
    # RAM/SWAP/IRAM "x/yMB", GR3D "0%@76", NVENC 716, temperatures: none of them is a rail
    assert parse_rails(first_line(name)) == pytest.approx(rails)


def test_parse_uses_the_instantaneous_value_not_the_average() -> None:
    busy = (RECORDED / "orin_nano_jp6.log").read_text().splitlines()[1]
    assert parse_rails(busy)["VDD_IN"] == pytest.approx(8.954)  # "VDD_IN 8954mW/6954mW"
    assert parse_rails(first_line("no_rails")) == {}


def start_meter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: str, **kw) -> TegrastatsMeter:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_tegrastats(bin_dir, RECORDED / f"{recording}.log", **kw)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return TegrastatsMeter(MeterContext(root=tmp_path, first_sample_timeout_s=10))


def test_meter_on_the_fake_executable_orin_nano(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jetson_platform_files(tmp_path, "NVIDIA Jetson Orin Nano Developer Kit", pinned=False)
    meter = start_meter(tmp_path, monkeypatch, "orin_nano_jp6")
    info = meter.info
    assert info.name == "tegrastats" and info.kind is MeterKind.POWER and info.sample_period_s == 0.1
    assert info.domains == ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC") and info.total == "VDD_IN (module input rail)"
    assert str(meter.executable).startswith(str(tmp_path / "bin"))
    assert info.details["model"] == "NVIDIA Jetson Orin Nano Developer Kit"
    meter.start()
    time.sleep(0.7)
    result = meter.stop()
    # the replay alternates 4.954 W and 8.954 W lines: the average lies between, samples are counted
    assert 4.954 <= result.average_power_w <= 8.954
    assert result.samples >= 3 and result.duration_s > 0.15
    assert set(result.joules) == set(info.domains)
    assert any("power samples" in w for w in result.warnings)


def test_agx_orin_line_sums_rails_with_enough_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meter = start_meter(tmp_path, monkeypatch, "agx_orin_jp5", pace_ms=2)  # 100+ lines in a fraction of a second
    assert meter.info.total.startswith("sum of VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0 + VDDQ_VDD2_1V8AO")
    meter.start()
    deadline = time.monotonic() + 20
    while len(meter._samples) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    result = meter.stop()
    assert result.samples >= 150 and result.warnings == ()
    assert result.average_power_w == pytest.approx(3.176 + 0.794 + 3.237 + 0.503)


def test_tegrastats_that_exits_early_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meter = start_meter(tmp_path, monkeypatch, "nano_jp4", loop=False)
    meter.start()
    time.sleep(0.6)  # the two-line recording is over after 0.2 s
    result = meter.stop()
    assert result.samples == 2
    assert any("exited on its own (code 0)" in w for w in result.warnings)
    assert result.average_power_w == pytest.approx((4.520 + 6.120) / 2)


def test_a_window_with_fewer_than_two_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meter = start_meter(tmp_path, monkeypatch, "xavier_nx_jp4", loop=False)
    meter.start()
    with pytest.raises(MeterUnavailable, match="1 usable line"):
        meter.stop()


def test_not_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MeterUnavailable, match="not found on PATH"):
        TegrastatsMeter(MeterContext(root=tmp_path))


def test_no_rails_in_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = fake_tegrastats(bin_dir, RECORDED / "no_rails.log")
    with pytest.raises(MeterUnavailable, match="no power rails in its output within 0.5 s"):
        TegrastatsMeter(MeterContext(root=tmp_path, tegrastats=str(exe), first_sample_timeout_s=0.5))


def test_an_executable_that_cannot_run(tmp_path: Path) -> None:
    exe = tmp_path / "tegrastats"
    exe.write_text("not a program")  # not executable
    with pytest.raises(MeterUnavailable, match="cannot run"):
        TegrastatsMeter(MeterContext(root=tmp_path, tegrastats=str(exe)))


def test_start_twice_and_stop_without_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meter = start_meter(tmp_path, monkeypatch, "orin_nano_jp6")
    with pytest.raises(RuntimeError, match="without start"):
        meter.stop()
    meter.start()
    with pytest.raises(RuntimeError, match="already running"):
        meter.start()
    time.sleep(0.25)
    meter.stop()
