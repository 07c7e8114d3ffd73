"""Fakes for the energy meters: sysfs trees with the real file names, units and symlinks of each
device, a fake clock, a ticker that replays a script of hardware changes, a fake NVML module and a
fake tegrastats executable that replays recorded lines."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
REPLAYER = DATA / "replay_tegrastats.py"

INTEL_RANGE = 262143328850  # max_energy_range_uj of Intel client packages (Tiger Lake, Alder Lake)
AMD_RANGE = 65532610987  # max_energy_range_uj on AMD Zen 2/3 (32-bit counter x 15.3 uJ)


def write(path: Path, value: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")
    return path


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class ScriptedTicker:
    """Each poll period: advance the clock, apply the next change to the fake hardware. When the
    script is done, wait for stop(): so every window sees exactly len(steps) polls."""

    def __init__(self, clock: FakeClock, steps: list[Callable[[], object]]) -> None:
        self.clock, self.steps, self.periods = clock, list(steps), []

    def __call__(self, stop: threading.Event, period: float) -> bool:
        self.periods.append(period)
        if not self.steps:
            stop.wait(30)
            return True
        self.clock.now += period
        self.steps.pop(0)()
        return False


# --- RAPL (powercap) ------------------------------------------------------------------------

def rapl_tree(root: Path, zones: list[tuple[str, str, int, int]], control: str = "intel-rapl") -> dict[str, Path]:
    """zones: (zone id like 'intel-rapl:0:1', name, energy_uj, max_energy_range_uj). Laid out like
    the kernel: the zone dirs nest under /sys/devices/virtual/powercap/<control>/ and
    /sys/class/powercap/ holds symlinks to every zone and subzone. Returns energy_uj by zone id."""
    devices = root / "sys/devices/virtual/powercap" / control
    cls = root / "sys/class/powercap"
    write(devices / "enabled", 1)
    cls.mkdir(parents=True, exist_ok=True)
    if not (cls / control).exists():
        (cls / control).symlink_to(Path("../../devices/virtual/powercap") / control)
    counters = {}
    for zone_id, name, energy, wrap in zones:
        parts = zone_id.split(":")
        nested = Path(*[":".join(parts[:i]) for i in range(2, len(parts) + 1)])
        zone = devices / nested
        write(zone / "name", name)
        write(zone / "max_energy_range_uj", wrap)
        write(zone / "enabled", 1)
        write(zone / "constraint_0_name", "long_term")
        counters[zone_id] = write(zone / "energy_uj", energy)
        (cls / zone_id).symlink_to(Path("../../devices/virtual/powercap") / control / nested)
    return counters


def intel_laptop(root: Path) -> dict[str, Path]:
    """Tiger Lake laptop: package-0 with core/uncore/dram subzones, psys, and the MMIO duplicate."""
    counters = rapl_tree(root, [
        ("intel-rapl:0", "package-0", 41_000_000_000, INTEL_RANGE),
        ("intel-rapl:0:0", "core", 17_000_000_000, INTEL_RANGE),
        ("intel-rapl:0:1", "uncore", 1_000_000_000, INTEL_RANGE),
        ("intel-rapl:0:2", "dram", 5_000_000_000, INTEL_RANGE),
        ("intel-rapl:1", "psys", 90_000_000_000, INTEL_RANGE),
    ])
    counters.update(rapl_tree(root, [("intel-rapl-mmio:0", "package-0", 7_000_000_000, INTEL_RANGE)],
                              control="intel-rapl-mmio"))
    return counters


def amd_epyc_two_sockets(root: Path) -> dict[str, Path]:
    """AMD Zen 3 server, kernel >= 5.11: package-N per socket with a core subzone, no dram, no psys."""
    return rapl_tree(root, [
        ("intel-rapl:0", "package-0", 12_000_000_000, AMD_RANGE),
        ("intel-rapl:0:0", "core", 3_000_000_000, AMD_RANGE),
        ("intel-rapl:1", "package-1", 14_000_000_000, AMD_RANGE),
        ("intel-rapl:1:0", "core", 4_000_000_000, AMD_RANGE),
    ])


def bump(path: Path, micro_joules: int, wrap: int | None = None) -> Callable[[], None]:
    """A script step: the counter at ``path`` grows by ``micro_joules`` (wrapping at ``wrap``)."""
    def step() -> None:
        value = int(path.read_text()) + micro_joules
        write(path, value - wrap if wrap is not None and value > wrap else value)
    return step


# --- Jetson INA3221 -------------------------------------------------------------------------

def _hwmon_device(root: Path, bus: str, address: str, hwmon: str, i2c_controller: str,
                  channels: list[tuple[str, int, int]]) -> dict[str, tuple[Path, Path]]:
    """One INA3221 under the mainline hwmon driver (JetPack 5/6/7). channels: (label, mV, mA)."""
    device = root / f"sys/devices/platform/bus@0/{i2c_controller}/i2c-{bus}/{bus}-{address}"
    node = device / "hwmon" / hwmon
    write(node / "name", "ina3221")
    write(node / "update_interval", 1100)  # ms, the driver's default conversion x averaging
    write(node / "samples", 512)
    files = {}
    for n, (label, mv, ma) in enumerate(channels, start=1):
        write(node / f"in{n}_label", label)
        write(node / f"in{n}_enable", 1)
        volts, amps = write(node / f"in{n}_input", mv), write(node / f"curr{n}_input", ma)
        write(node / f"in{n + 3}_input", ma * 5)  # shunt voltage (uV) across 5 mOhm
        write(node / f"shunt{n}_resistor", 5000)
        write(node / f"curr{n}_crit", 32760)
        write(node / f"curr{n}_max", 32760)
        files[label] = (volts, amps)
    write(node / "in7_label", "sum of shunt voltages")
    write(node / "in7_input", sum(ma * 5 for _, _, ma in channels))
    write(node / "curr4_input", sum(ma for _, _, ma in channels))
    driver = root / "sys/bus/i2c/drivers/ina3221"
    driver.mkdir(parents=True, exist_ok=True)
    (driver / f"{bus}-{address}").symlink_to(os.path.relpath(device, driver))
    return files


def orin_nano_jp6(root: Path) -> dict[str, tuple[Path, Path]]:
    """Orin Nano developer kit, JetPack 6: one INA3221 at 1-0040, VDD_IN is the module input."""
    files = _hwmon_device(root, "1", "0040", "hwmon1", "c240000.i2c",
                          [("VDD_IN", 5056, 1000), ("VDD_CPU_GPU_CV", 5056, 120), ("VDD_SOC", 5056, 290)])
    jetson_platform_files(root, "NVIDIA Jetson Orin Nano Developer Kit", pinned=False)
    return files


def agx_orin_jp5(root: Path) -> dict[str, tuple[Path, Path]]:
    """AGX Orin, JetPack 5: two INA3221s, no total-input rail, unconnected channels labelled NC."""
    files = _hwmon_device(root, "1", "0040", "hwmon1", "c240000.i2c",
                          [("VDD_GPU_SOC", 19200, 200), ("VDD_CPU_CV", 19200, 50), ("VIN_SYS_5V0", 5000, 600)])
    files.update(_hwmon_device(root, "1", "0041", "hwmon2", "c240000.i2c",
                               [("NC", 0, 0), ("VDDQ_VDD2_1V8AO", 5000, 100), ("NC", 0, 0)]))
    files.pop("NC")
    jetson_platform_files(root, "Jetson AGX Orin Developer Kit", pinned=True)
    return files


def _iio_device(root: Path, bus: str, address: str, index: int, rails: list[tuple[str, int]]) -> dict[str, Path]:
    """One INA3221 under NVIDIA's ina3221x iio driver (JetPack 4). rails: (name, mW)."""
    device = root / f"sys/devices/7000c400.i2c/i2c-{bus}/{bus}-{address}"
    node = device / f"iio:device{index}"
    write(node / "name", "ina3221x")
    files = {}
    for n, (name, mw) in enumerate(rails):
        write(node / f"rail_name_{n}", name)
        files[name] = write(node / f"in_power{n}_input", mw)
        write(node / f"in_voltage{n}_input", 5000)
        write(node / f"in_current{n}_input", mw // 5)
        write(node / f"crit_current_limit_{n}", 32760)
        write(node / f"warn_current_limit_{n}", 32760)
    driver = root / "sys/bus/i2c/drivers/ina3221x"
    driver.mkdir(parents=True, exist_ok=True)
    (driver / f"{bus}-{address}").symlink_to(os.path.relpath(device, driver))
    return files


def nano_jp4(root: Path) -> dict[str, Path]:
    """Jetson Nano, JetPack 4: POM_5V_IN is the module input."""
    files = _iio_device(root, "6", "0040", 0, [("POM_5V_IN", 1994), ("POM_5V_GPU", 0), ("POM_5V_CPU", 407)])
    jetson_platform_files(root, "NVIDIA Jetson Nano Developer Kit", pinned=False, nvpmodel=("MAXN", "5W"))
    return files


def agx_xavier_jp4(root: Path) -> dict[str, Path]:
    """AGX Xavier, JetPack 4: two INA3221s over iio, no total-input rail."""
    files = _iio_device(root, "1", "0040", 0, [("GPU", 0), ("CPU", 311), ("SOC", 1243)])
    files.update(_iio_device(root, "1", "0041", 1, [("CV", 0), ("VDDRQ", 155), ("SYS5V", 1426)]))
    return files


def jetson_platform_files(root: Path, model: str, *, pinned: bool, nvpmodel: tuple[str, str] = ("15W", "7W"),
                          mode: int = 0) -> None:
    (root / "proc/device-tree").mkdir(parents=True, exist_ok=True)
    (root / "proc/device-tree/model").write_bytes(model.encode() + b"\x00")
    conf = "\n".join(f"< POWER_MODEL ID={i} NAME={name} >\nCPU_ONLINE CORE_0 1" for i, name in enumerate(nvpmodel))
    write(root / "etc/nvpmodel.conf", f"< PM_CONFIG DEFAULT={mode} >\n{conf}")
    write(root / "var/lib/nvpmodel/status", f"pmode:{mode:04d} fmode:quiet")
    cpu = root / "sys/devices/system/cpu/cpu0/cpufreq"
    write(cpu / "cpuinfo_max_freq", 1510400)
    write(cpu / "scaling_min_freq", 1510400 if pinned else 729600)
    gpu = root / "sys/class/devfreq/17000000.gpu"
    write(gpu / "max_freq", 624750000)
    write(gpu / "min_freq", 624750000 if pinned else 306000000)
    write(root / "sys/class/devfreq/15340000.vic/min_freq", 115200000)  # not the GPU: ignored
    write(root / "sys/class/devfreq/15340000.vic/max_freq", 729600000)


# --- tegrastats -----------------------------------------------------------------------------

def fake_tegrastats(directory: Path, recording: Path, *, loop: bool = True, pace_ms: float | None = None) -> Path:
    """An executable named tegrastats that replays ``recording`` one line per --interval (or per pace_ms)."""
    exe = directory / "tegrastats"
    pace = f" --pace-ms {pace_ms}" if pace_ms is not None else ""
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} {REPLAYER} --recording {recording}"
                   f"{' --loop' if loop else ''}{pace} \"$@\"\n")
    exe.chmod(0o755)
    return exe


# --- NVML -----------------------------------------------------------------------------------

class FakeNvml:
    """The part of nvidia-ml-py (module `pynvml`) the meter uses, with its error convention."""

    NVML_ERROR_INVALID_ARGUMENT = 2
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_DRIVER_NOT_LOADED = 9

    class NVMLError(Exception):
        def __init__(self, value: int) -> None:
            super().__init__(value)
            self.value = value

        def __str__(self) -> str:
            return {2: "Invalid Argument", 3: "Not Supported", 9: "Driver Not Loaded"}.get(self.value, "Unknown Error")

    def __init__(self, *, energy_mj: int | None = 123_456_789, power_mw: int = 70_000, name: object = "NVIDIA H100",
                 gpus: int = 1, driver_loaded: bool = True, energy_error: int | None = None) -> None:
        self.energy_mj, self.power_mw, self.name, self.gpus = energy_mj, power_mw, name, gpus
        self.driver_loaded, self.energy_error = driver_loaded, energy_error
        self.fail_reads = False

    def nvmlInit(self) -> None:
        if not self.driver_loaded:
            raise self.NVMLError(self.NVML_ERROR_DRIVER_NOT_LOADED)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index >= self.gpus:
            raise self.NVMLError(self.NVML_ERROR_INVALID_ARGUMENT)
        return index

    def nvmlDeviceGetName(self, handle: int) -> object:
        return self.name

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        if self.fail_reads:
            raise self.NVMLError(999)
        if self.energy_error is not None:
            raise self.NVMLError(self.energy_error)
        if self.energy_mj is None:
            raise self.NVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        if self.fail_reads:
            raise self.NVMLError(999)
        return self.power_mw
