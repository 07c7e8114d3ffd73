"""Jetson INA3221 rails (hwmon on JetPack 5/6/7, iio on JetPack 4) and the platform settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.energy.base import MeterContext, MeterKind, MeterUnavailable, SysfsReader
from edgekit.energy.jetson import JetsonMeter, describe_total
from edgekit.energy.jetson_platform import jetson_clocks, jetson_platform, power_mode

from .energy_fakes import (
    FakeClock,
    ScriptedTicker,
    agx_orin_jp5,
    agx_xavier_jp4,
    jetson_platform_files,
    nano_jp4,
    orin_nano_jp6,
    write,
)


def ctx_for(root: Path, clock: FakeClock, steps: list) -> MeterContext:
    return MeterContext(root=root, clock=clock, ticker=ScriptedTicker(clock, steps))


def test_orin_nano_jp6_hwmon_total_is_vdd_in(tmp_path: Path) -> None:
    files = orin_nano_jp6(tmp_path)
    clock = FakeClock()
    # VDD_IN 5056 mV x 1000 mA = 5.056 W at rest; the load doubles the current for two polls
    steps = [lambda: write(files["VDD_IN"][1], 2000), lambda: None, lambda: write(files["VDD_IN"][1], 1000)]
    meter = JetsonMeter(ctx_for(tmp_path, clock, steps))
    info = meter.info
    assert info.domains == ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")  # in7 "sum of shunt voltages" is not a rail
    assert info.total == "VDD_IN (module input rail)"
    assert info.kind is MeterKind.POWER and 0.01 <= info.sample_period_s <= 0.05
    assert info.source == "INA3221 hwmon (JetPack 5+) on i2c 1-0040"
    assert "not the carrier board" in info.covers
    assert info.details["model"] == "NVIDIA Jetson Orin Nano Developer Kit"
    assert info.details["power_mode"]["name"] == "15W" and info.details["power_mode"]["id"] == 0
    assert info.details["jetson_clocks"]["state"] == "off"
    meter.start()
    result = meter.stop()
    p = info.sample_period_s
    rest, busy = 5.056, 10.112
    # samples: rest (start), busy, busy, rest, rest (stop): trapezoid over 3 periods + a zero-length one
    expected = ((rest + busy) / 2 + busy + (busy + rest) / 2) * p
    assert result.duration_s == pytest.approx(3 * p)
    assert result.joules["VDD_IN"] == pytest.approx(expected)
    assert result.total_joules == pytest.approx(expected)  # the sub-rails are inside VDD_IN, not added
    assert result.joules["VDD_SOC"] == pytest.approx(5.056 * 0.290 * 3 * p)
    assert result.samples == 5
    assert any("only 5 power samples" in w for w in result.warnings)


def test_agx_orin_has_no_total_rail_and_sums_the_module_rails(tmp_path: Path) -> None:
    agx_orin_jp5(tmp_path)
    clock = FakeClock()
    meter = JetsonMeter(ctx_for(tmp_path, clock, [lambda: None] * 120))
    info = meter.info
    assert info.domains == ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO")  # NC channels skipped
    assert info.total.startswith("sum of VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0 + VDDQ_VDD2_1V8AO")
    assert "no total-input rail" in info.covers and "lower bound" in info.covers
    assert info.source.endswith("1-0040, 1-0041")
    assert info.details["jetson_clocks"]["state"] == "on"
    meter.start()
    result = meter.stop()
    watts = 19.2 * 0.2 + 19.2 * 0.05 + 5.0 * 0.6 + 5.0 * 0.1
    assert result.average_power_w == pytest.approx(watts)
    assert result.samples == 122 and result.warnings == ()


def test_nano_jp4_iio_total_is_pom_5v_in(tmp_path: Path) -> None:
    files = nano_jp4(tmp_path)
    clock = FakeClock()
    steps = [lambda: write(files["POM_5V_IN"], 4000)] * 2
    meter = JetsonMeter(ctx_for(tmp_path, clock, steps))
    assert meter.info.domains == ("POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU")
    assert meter.info.total == "POM_5V_IN (module input rail)"
    assert meter.info.source == "INA3221 iio (JetPack 4) on i2c 6-0040"
    assert meter.info.details["power_mode"] == {"id": 0, "name": "MAXN",
                                                "source": "/var/lib/nvpmodel/status + /etc/nvpmodel.conf"}
    meter.start()
    result = meter.stop()
    p = meter.info.sample_period_s
    assert result.joules["POM_5V_IN"] == pytest.approx(((1.994 + 4.0) / 2 + 4.0) * p)
    assert result.joules["POM_5V_CPU"] == pytest.approx(0.407 * 2 * p)
    assert result.total_joules == result.joules["POM_5V_IN"]


def test_agx_xavier_jp4_iio_sums_both_devices(tmp_path: Path) -> None:
    agx_xavier_jp4(tmp_path)
    meter = JetsonMeter(ctx_for(tmp_path, FakeClock(), [lambda: None]))
    assert meter.info.domains == ("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V")
    assert meter.info.total.startswith("sum of GPU + CPU + SOC + CV + VDDRQ + SYS5V")
    assert meter.info.details["power_mode"]["id"] is None  # no nvpmodel files in this tree
    meter.start()
    assert meter.stop().average_power_w == pytest.approx((311 + 1243 + 155 + 1426) / 1e3)


def test_hwmon_is_preferred_when_both_drivers_exist(tmp_path: Path) -> None:
    orin_nano_jp6(tmp_path)
    nano_jp4(tmp_path)
    assert JetsonMeter(MeterContext(root=tmp_path)).info.domains[0] == "VDD_IN"


def test_not_a_jetson(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable, match="no INA3221 power monitor") as caught:
        JetsonMeter(MeterContext(root=tmp_path))
    assert "ls /sys/bus/i2c/drivers/" in caught.value.hint


class Denied(SysfsReader):
    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    def read(self, path: Path) -> str:
        if path.name.endswith(self.suffix):
            raise PermissionError(13, "Permission denied", str(path))
        return super().read(path)


@pytest.mark.parametrize("suffix, message", [("_label", "cannot read the INA3221 rail names"),
                                             ("curr1_input", "cannot read the INA3221 rails")])
def test_unreadable_rails(tmp_path: Path, suffix: str, message: str) -> None:
    orin_nano_jp6(tmp_path)
    with pytest.raises(MeterUnavailable, match=message):
        JetsonMeter(MeterContext(root=tmp_path, reader=Denied(suffix)))


def test_duplicate_rail_names_get_the_device(tmp_path: Path) -> None:
    from .energy_fakes import _iio_device

    _iio_device(tmp_path, "0", "0040", 0, [("VDD_IN", 1000), ("NC", 0)])  # an unconnected channel is skipped
    _iio_device(tmp_path, "0", "0041", 1, [("VDD_IN", 2000)])
    meter = JetsonMeter(MeterContext(root=tmp_path))
    assert meter.info.domains == ("VDD_IN@0-0040", "VDD_IN@0-0041")


def test_describe_total_picks_the_input_rail_wherever_it_is() -> None:
    assert describe_total(["VDD_SYS_GPU", "VDD_IN"])[0] == "VDD_IN"  # TX2: VDD_IN on the second device
    assert describe_total(["A", "B"])[0] is None


def test_power_mode_and_clocks_without_files(tmp_path: Path) -> None:
    ctx = MeterContext(root=tmp_path)
    assert power_mode(ctx)["name"] is None and "unknown" in power_mode(ctx)["source"]
    assert jetson_clocks(ctx) == {"state": "unknown", "inferred_from": "no cpufreq/devfreq files"}
    assert jetson_platform(ctx)["model"] is None


def test_power_mode_id_without_a_name_and_clocks_from_cpu_only(tmp_path: Path) -> None:
    jetson_platform_files(tmp_path, "x", pinned=True, mode=4)
    import shutil

    shutil.rmtree(tmp_path / "sys/class/devfreq")
    ctx = MeterContext(root=tmp_path)
    assert power_mode(ctx) == {"id": 4, "name": None, "source": "/var/lib/nvpmodel/status + /etc/nvpmodel.conf"}
    assert jetson_clocks(ctx) == {"state": "on", "inferred_from": "cpu0 min == max"}
