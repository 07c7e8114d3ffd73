"""RAPL through powercap on fake trees laid out like real Intel and AMD machines."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.energy.base import MeterContext, MeterKind, MeterUnavailable, SysfsReader
from edgekit.energy.rapl import RaplMeter

from .energy_fakes import AMD_RANGE, INTEL_RANGE, FakeClock, ScriptedTicker, amd_epyc_two_sockets, bump, intel_laptop


def ctx_for(root: Path, clock: FakeClock, steps: list, **kw) -> MeterContext:
    return MeterContext(root=root, clock=clock, ticker=ScriptedTicker(clock, steps), **kw)


def test_intel_laptop_sums_the_package_only(tmp_path: Path) -> None:
    counters = intel_laptop(tmp_path)
    clock = FakeClock()
    # every 50 ms: package +0.5 J (10 W); core, psys and the mmio duplicate move too and must be ignored
    step = [bump(counters["intel-rapl:0"], 500_000), bump(counters["intel-rapl:0:0"], 300_000),
            bump(counters["intel-rapl:1"], 900_000), bump(counters["intel-rapl-mmio:0"], 500_000),
            bump(counters["intel-rapl:0:2"], 100_000)]
    meter = RaplMeter(ctx_for(tmp_path, clock, [lambda: [s() for s in step]] * 20))
    assert meter.info.domains == ("package-0",)
    assert meter.info.kind is MeterKind.COUNTER
    assert "intel-rapl:0" in meter.info.source and "mmio" not in meter.info.source
    assert "not DRAM" in meter.info.covers
    meter.start()
    result = meter.stop()
    assert result.duration_s == pytest.approx(1.0)
    assert result.joules == {"package-0": pytest.approx(10.0)}
    assert result.total_joules == pytest.approx(10.0)
    assert result.average_power_w == pytest.approx(10.0)
    assert result.samples == 22  # start + 20 polls + stop
    assert result.warnings == ()


def test_intel_dram_is_opt_in(tmp_path: Path) -> None:
    counters = intel_laptop(tmp_path)
    clock = FakeClock()
    step = [bump(counters["intel-rapl:0"], 400_000), bump(counters["intel-rapl:0:2"], 100_000)]
    meter = RaplMeter(ctx_for(tmp_path, clock, [lambda: [s() for s in step]] * 10, include_dram=True))
    assert meter.info.domains == ("package-0", "dram")
    assert "DRAM zones added" in meter.info.covers
    meter.start()
    result = meter.stop()
    assert result.joules == {"package-0": pytest.approx(4.0), "dram": pytest.approx(1.0)}
    assert result.total_joules == pytest.approx(5.0)


def test_amd_zen_two_sockets(tmp_path: Path) -> None:
    counters = amd_epyc_two_sockets(tmp_path)
    clock = FakeClock()
    step = [bump(counters["intel-rapl:0"], 3_000_000), bump(counters["intel-rapl:1"], 2_000_000),
            bump(counters["intel-rapl:0:0"], 1_000_000)]
    meter = RaplMeter(ctx_for(tmp_path, clock, [lambda: [s() for s in step]] * 4))
    assert meter.info.domains == ("package-0", "package-1")
    assert meter.info.total == "package-0 + package-1"
    assert "CPU packages package-0, package-1" in meter.info.covers
    assert [z.wrap_at for z in meter.zones] == [AMD_RANGE, AMD_RANGE]
    meter.start()
    result = meter.stop()
    assert result.joules == {"package-0": pytest.approx(12.0), "package-1": pytest.approx(8.0)}
    assert result.average_power_w == pytest.approx(20.0 / 0.2)


def test_counter_wraps_around_max_energy_range(tmp_path: Path) -> None:
    counters = intel_laptop(tmp_path)
    counters["intel-rapl:0"].write_text(f"{INTEL_RANGE - 1_000_000}\n")  # 1 J before the wrap
    clock = FakeClock()
    step = bump(counters["intel-rapl:0"], 750_000, wrap=INTEL_RANGE)
    meter = RaplMeter(ctx_for(tmp_path, clock, [step] * 4))
    meter.start()
    result = meter.stop()
    assert int(counters["intel-rapl:0"].read_text()) == 2_000_000  # it wrapped: 1 J before + 3 J - range
    assert result.total_joules == pytest.approx(3.0)


def test_a_frozen_counter_is_flagged(tmp_path: Path) -> None:
    intel_laptop(tmp_path)
    clock = FakeClock()
    meter = RaplMeter(ctx_for(tmp_path, clock, [lambda: None] * 3))
    meter.start()
    result = meter.stop()
    assert result.total_joules == 0.0
    assert any("did not move" in w for w in result.warnings)


class RootOnly(SysfsReader):
    """What a non-root user sees since the CVE-2020-8694 fix: energy_uj is mode 0400 root."""

    def read(self, path: Path) -> str:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return super().read(path)


def test_root_only_energy_uj_says_needs_root(tmp_path: Path) -> None:
    intel_laptop(tmp_path)
    with pytest.raises(MeterUnavailable) as caught:
        RaplMeter(MeterContext(root=tmp_path, reader=RootOnly()))
    assert "root only" in caught.value.message and "CVE-2020-8694" in caught.value.message
    assert caught.value.message.startswith("rapl: /sys/class/powercap/intel-rapl:0/energy_uj")
    assert "chmod o+r" in caught.value.hint


def test_no_powercap_directory(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable, match="/sys/class/powercap does not exist"):
        RaplMeter(MeterContext(root=tmp_path))


def test_powercap_without_a_package_zone(tmp_path: Path) -> None:
    from .energy_fakes import rapl_tree

    rapl_tree(tmp_path, [("intel-rapl:0", "psys", 1, INTEL_RANGE)])
    with pytest.raises(MeterUnavailable, match=r"no package-\* zone .*intel-rapl:0"):
        RaplMeter(MeterContext(root=tmp_path))


def test_unreadable_zone_name_and_garbage_range(tmp_path: Path) -> None:
    counters = intel_laptop(tmp_path)
    (counters["intel-rapl:0"].parent / "max_energy_range_uj").write_text("n/a\n")
    with pytest.raises(MeterUnavailable, match="cannot read the zone /sys/class/powercap/intel-rapl:0"):
        RaplMeter(MeterContext(root=tmp_path))
    (counters["intel-rapl:0"].parent / "name").unlink()
    with pytest.raises(MeterUnavailable, match="cannot read /sys/class/powercap/intel-rapl:0/name"):
        RaplMeter(MeterContext(root=tmp_path))


def test_zone_vanishing_mid_window_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    counters = intel_laptop(tmp_path)
    clock = FakeClock()
    meter = RaplMeter(ctx_for(tmp_path, clock, [counters["intel-rapl:0"].unlink]))
    meter.start()
    with pytest.raises(MeterUnavailable, match="failed mid-measurement"):
        meter.stop()


def test_two_dram_subzones_get_distinct_names(tmp_path: Path) -> None:
    from .energy_fakes import rapl_tree

    rapl_tree(tmp_path, [("intel-rapl:0", "package-0", 1, INTEL_RANGE), ("intel-rapl:0:0", "dram", 1, INTEL_RANGE),
                         ("intel-rapl:1", "package-1", 1, INTEL_RANGE), ("intel-rapl:1:0", "dram", 1, INTEL_RANGE)])
    meter = RaplMeter(MeterContext(root=tmp_path, include_dram=True))
    assert meter.info.domains == ("package-0@intel-rapl:0", "dram@intel-rapl:0:0", "package-1@intel-rapl:1",
                                  "dram@intel-rapl:1:0")
