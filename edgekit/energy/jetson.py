"""Jetson on-module INA3221 power monitors, read from sysfs and integrated here.

JetPack 5/6/7 (hwmon, mainline driver), bus voltage in mV and current in mA per channel:

    /sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon*/in{1,2,3}_label   VDD_IN, VDD_CPU_GPU_CV, ...
    /sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon*/in{N}_input, curr{N}_input

(in7 is "sum of shunt voltages", in4-6 are shunt voltages: not rails; "NC" channels are not
connected). JetPack 4 (iio, NVIDIA's ina3221x driver), power already in mW:

    /sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0/rail_name_{0,1,2}      POM_5V_IN, ...
    /sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0/in_power{N}_input

The total is the module's input rail where it has one (VDD_IN on Orin Nano/NX, Xavier NX, TX2;
POM_5V_IN on Nano). AGX Xavier and AGX Orin have none: the total is the sum of the module's
rails, which misses the regulators' losses, and is labelled so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgekit.energy.base import MeterContext, MeterInfo, MeterKind, MeterUnavailable
from edgekit.energy.jetson_platform import jetson_platform
from edgekit.energy.sampling import Sample, SampledMeter, integrate_power

HWMON_GLOB = "sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*"
IIO_GLOB = "sys/bus/i2c/drivers/ina3221x/*/iio:device*"
TOTAL_RAILS = ("VDD_IN", "POM_5V_IN")
NOT_RAILS = ("NC", "sum of shunt voltages")
# 10-50 ms is the useful range: fast enough for >= 100 samples in a few seconds, slow enough that the
# I2C reads (a few per rail) do not load the CPU being measured.
PERIOD_S = 0.02
RESOLUTION = "INA3221: ~1 mW / 1 mA, conversions averaged on the chip (see its update_interval)"


@dataclass(frozen=True)
class Rail:
    name: str
    device: str  # i2c device, e.g. 1-0040
    files: tuple[Path, ...]  # iio: (in_powerN_input,) in mW; hwmon: (inN_input mV, currN_input mA)

    def watts(self, ctx: MeterContext) -> float:
        values = [float(ctx.reader.read(path)) for path in self.files]
        return math.prod(values) / 1000.0 ** len(values)  # mW / 1e3, or mV * mA / 1e6


def _hwmon_rails(ctx: MeterContext) -> list[Rail]:
    rails = []
    for hwmon in sorted(ctx.root.glob(HWMON_GLOB)):
        for label in sorted(hwmon.glob("in[0-9]_label")):
            channel = label.name[len("in"):-len("_label")]
            name = ctx.reader.read(label)
            current = hwmon / f"curr{channel}_input"
            if name not in NOT_RAILS and current.exists():  # in7 "sum of shunt voltages" has no current
                rails.append(Rail(name, hwmon.parents[1].name, (hwmon / f"in{channel}_input", current)))
    return rails


def _iio_rails(ctx: MeterContext) -> list[Rail]:
    rails = []
    for device in sorted(ctx.root.glob(IIO_GLOB)):
        for label in sorted(device.glob("rail_name_*")):
            channel = label.name.rsplit("_", 1)[1]
            name = ctx.reader.read(label)
            power = device / f"in_power{channel}_input"
            if name not in NOT_RAILS and power.exists():
                rails.append(Rail(name, device.parent.name, (power,)))
    return rails


def find_rails(ctx: MeterContext) -> list[Rail]:
    try:
        rails = _hwmon_rails(ctx) or _iio_rails(ctx)
    except OSError as exc:
        raise MeterUnavailable(f"jetson: cannot read the INA3221 rail names: {exc}.",
                               "Run as a user that can read /sys/bus/i2c/drivers/ina3221*.") from exc
    if not rails:
        raise MeterUnavailable(
            "jetson: no INA3221 power monitor under /sys/bus/i2c/drivers/ina3221 (JetPack 5+) or ina3221x "
            "(JetPack 4): not a Jetson, or its power monitor driver is not loaded.",
            "On a Jetson, check `ls /sys/bus/i2c/drivers/`; otherwise pick the meter for this machine.")
    names = [r.name for r in rails]
    if len(set(names)) != len(names):
        rails = [Rail(f"{r.name}@{r.device}", r.device, r.files) for r in rails]
    return rails


def describe_total(names: Sequence[str]) -> tuple[str | None, str, str]:
    """The total rail (None: the rails are summed), how the total is formed, and what it covers."""
    total = next((n for n in names if n in TOTAL_RAILS), None)
    if total is not None:
        return total, f"{total} (module input rail)", (
            f"{total}: everything on the Jetson module (CPU, GPU, DLA, SoC, DRAM, its regulators); not the carrier "
            "board, fan, USB or other peripherals")
    return None, "sum of " + " + ".join(names) + " (this module has no total-input rail)", (
        f"sum of the module rails {', '.join(names)}: this module (AGX Xavier / AGX Orin class) has no total-input "
        "rail, so regulator losses and anything off these rails are missing: a lower bound of module power; "
        "not the carrier board")


class JetsonMeter(SampledMeter):
    def __init__(self, ctx: MeterContext) -> None:
        self.rails = find_rails(ctx)
        self._total, total_from, covers = describe_total([r.name for r in self.rails])
        kind = "iio (JetPack 4)" if len(self.rails[0].files) == 1 else "hwmon (JetPack 5+)"
        devices = sorted({r.device for r in self.rails})
        self.info = MeterInfo(name="jetson", source=f"INA3221 {kind} on i2c {', '.join(devices)}", covers=covers,
                              domains=tuple(r.name for r in self.rails), total=total_from, resolution=RESOLUTION,
                              sample_period_s=PERIOD_S, kind=MeterKind.POWER, details=jetson_platform(ctx))
        super().__init__(ctx, PERIOD_S)
        try:
            self._read()  # a rail that cannot be read fails here, not in the middle of a window
        except (OSError, ValueError) as exc:
            raise MeterUnavailable(f"jetson: cannot read the INA3221 rails: {exc}.",
                                   "Run as a user that can read /sys/bus/i2c/drivers/ina3221*.") from exc

    def _read(self) -> dict[str, float]:
        return {rail.name: rail.watts(self.ctx) for rail in self.rails}

    def _energy(self, samples: Sequence[Sample]) -> tuple[dict[str, float], float, list[str]]:
        joules = integrate_power(samples)
        total = joules[self._total] if self._total is not None else sum(joules.values())
        return joules, total, []
