"""The polling thread, the two integrals, and the shared value types."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edgekit.energy.base import (
    SYSFS_ROOT_ENV,
    EnergyResult,
    MeterContext,
    MeterInfo,
    MeterKind,
    default_root,
    wait_period,
)
from edgekit.energy.sampling import Poller, integrate_counter, integrate_power, unwrapped_delta

from .energy_fakes import FakeClock, ScriptedTicker


def test_trapezoid_on_known_samples() -> None:
    samples = [(0.0, {"a": 1.0, "b": 0.0}), (1.0, {"a": 3.0, "b": 2.0}), (3.0, {"a": 3.0, "b": 0.0})]
    assert integrate_power(samples) == {"a": pytest.approx(2.0 + 6.0), "b": pytest.approx(1.0 + 2.0)}
    assert integrate_power([]) == {}
    assert integrate_power(samples[:1]) == {"a": 0.0, "b": 0.0}


def test_counter_deltas_and_wraps() -> None:
    samples = [(0.0, {"pkg": 90.0}), (1.0, {"pkg": 99.0}), (2.0, {"pkg": 4.0}), (3.0, {"pkg": 10.0})]
    assert integrate_counter(samples, {"pkg": 100.0}) == ({"pkg": 9.0 + 5.0 + 6.0}, 1)
    assert integrate_counter([], {}) == ({}, 0)
    assert unwrapped_delta(5.0, 5.0, 100.0) == 0.0


def test_poller_on_the_real_clock_and_thread() -> None:
    ctx = MeterContext(root=Path("/"))  # real monotonic clock, real Event.wait ticker
    poller = Poller(lambda: {"w": 2.0}, ctx, 0.005)
    poller.start()
    time.sleep(0.1)
    samples = poller.stop()
    assert len(samples) >= 5
    assert [t for t, _ in samples] == sorted(t for t, _ in samples)
    duration = samples[-1][0] - samples[0][0]
    assert integrate_power(samples)["w"] == pytest.approx(2.0 * duration)  # constant power: exact whatever jitter


def test_poller_misuse() -> None:
    clock = FakeClock()
    poller = Poller(lambda: {"w": 1.0}, MeterContext(clock=clock, ticker=ScriptedTicker(clock, [])), 0.01)
    with pytest.raises(RuntimeError, match="without start"):
        poller.stop()
    poller.start()
    with pytest.raises(RuntimeError, match="already running"):
        poller.start()
    assert len(poller.stop()) == 2


def test_an_error_in_the_thread_is_raised_by_stop() -> None:
    clock = FakeClock()
    calls = []

    def read() -> dict[str, float]:
        calls.append(1)
        if len(calls) == 3:
            raise KeyError("a bug in a meter")
        return {"w": 1.0}

    poller = Poller(read, MeterContext(clock=clock, ticker=ScriptedTicker(clock, [lambda: None] * 5)), 0.01)
    poller.start()
    with pytest.raises(KeyError, match="a bug in a meter"):
        poller.stop()
    poller.start()  # usable again afterwards
    assert poller.stop()


def test_wait_period_returns_when_stopped() -> None:
    stop = threading.Event()
    assert wait_period(stop, 0.001) is False
    stop.set()
    assert wait_period(stop, 10) is True


def test_sysfs_root_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(SYSFS_ROOT_ENV, raising=False)
    assert default_root() == Path("/")
    monkeypatch.setenv(SYSFS_ROOT_ENV, str(tmp_path))
    ctx = MeterContext()
    assert ctx.root == tmp_path
    assert ctx.path("/sys/class/powercap") == tmp_path / "sys/class/powercap"
    assert ctx.shown(tmp_path / "sys/x") == "/sys/x"
    assert ctx.shown(Path("/elsewhere")) == "/elsewhere"


def test_result_and_info_values() -> None:
    info = MeterInfo("rapl", "src", "covers", ("package-0",), "package-0", "1 uJ", 0.05, MeterKind.COUNTER,
                     {"model": "x"})
    assert EnergyResult(info, {}, 0.0, 0.0, 1).average_power_w == 0.0
    assert EnergyResult(info, {"package-0": 5.0}, 5.0, 2.0, 3).average_power_w == 2.5
    data = info.to_dict()
    assert data["meter"] == "rapl" and data["kind"] == "counter" and data["platform"] == {"model": "x"}
    plain = MeterInfo("rapl", "src", "covers", ("package-0",), "package-0", "1 uJ", 0.05, MeterKind.COUNTER)
    assert "platform" not in plain.to_dict()
