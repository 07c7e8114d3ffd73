"""NVML on a fake module with nvidia-ml-py's names and error convention."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgekit.energy.base import MeterContext, MeterKind, MeterUnavailable
from edgekit.energy.nvml import NvmlMeter

from .energy_fakes import FakeClock, FakeNvml, ScriptedTicker


def ctx_for(nvml: FakeNvml | None, steps: list, device: str = "cuda:0") -> MeterContext:
    clock = FakeClock()
    return MeterContext(root=Path("/nonexistent"), clock=clock, ticker=ScriptedTicker(clock, steps), device=device,
                        nvml=nvml)


def test_energy_counter_in_millijoules() -> None:
    nvml = FakeNvml(energy_mj=5_000_000)

    def step() -> None:
        nvml.energy_mj += 3_500  # 3.5 J per 50 ms poll = 70 W

    meter = NvmlMeter(ctx_for(nvml, [step] * 20))
    info = meter.info
    assert info.kind is MeterKind.COUNTER and info.domains == ("gpu0",)
    assert info.source == "NVML GPU 0 (NVIDIA H100)" and "not the CPU" in info.covers
    meter.start()
    result = meter.stop()
    assert result.total_joules == pytest.approx(70.0)
    assert result.average_power_w == pytest.approx(70.0)
    assert result.warnings == ()


def test_counter_that_does_not_advance_warns() -> None:
    meter = NvmlMeter(ctx_for(FakeNvml(), [lambda: None]))
    meter.start()
    result = meter.stop()
    assert result.total_joules == 0.0
    assert any("shorter than its refresh period" in w for w in result.warnings)


def test_pre_volta_falls_back_to_power_polling() -> None:
    nvml = FakeNvml(energy_mj=None, power_mw=40_000, name=b"Tesla P4", gpus=2)
    meter = NvmlMeter(ctx_for(nvml, [lambda: None] * 4, device="cuda:1"))
    assert meter.info.kind is MeterKind.POWER and meter.info.domains == ("gpu1",)
    assert meter.info.source == "NVML GPU 1 (Tesla P4)"  # bytes names from old bindings are decoded
    meter.start()
    result = meter.stop()
    assert result.average_power_w == pytest.approx(40.0)
    assert any("running average" in w for w in result.warnings)


@pytest.mark.parametrize("nvml, device, message", [
    (FakeNvml(driver_loaded=False), "cuda:0", "cannot open GPU 0: Driver Not Loaded"),
    (FakeNvml(gpus=1), "cuda:3", "cannot open GPU 3: Invalid Argument"),
    (FakeNvml(energy_error=999), "cuda", "reading the energy counter failed"),
])
def test_unavailable(nvml: FakeNvml, device: str, message: str) -> None:
    with pytest.raises(MeterUnavailable, match=message):
        NvmlMeter(ctx_for(nvml, [], device=device))


def test_read_error_mid_window() -> None:
    nvml = FakeNvml()

    def fail() -> None:
        nvml.fail_reads = True

    meter = NvmlMeter(ctx_for(nvml, [fail]))
    meter.start()
    with pytest.raises(MeterUnavailable, match="failed mid-measurement"):
        meter.stop()


def test_lazy_import_of_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(name="NVIDIA L4"))
    assert NvmlMeter(MeterContext(device="cuda:0")).info.source == "NVML GPU 0 (NVIDIA L4)"


def test_missing_bindings_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    with pytest.raises(MeterUnavailable, match="NVML bindings are not installed") as caught:
        NvmlMeter(MeterContext(device="cuda:0"))
    assert "edgekit[nvml]" in caught.value.hint
