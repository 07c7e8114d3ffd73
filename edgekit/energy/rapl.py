"""RAPL through the Linux powercap interface: Intel since Sandy Bridge, AMD Zen (same files).

    /sys/class/powercap/intel-rapl:N/{name,energy_uj,max_energy_range_uj}      package-N, psys
    /sys/class/powercap/intel-rapl:N:M/{name,...}                               core, uncore, dram
    /sys/class/powercap/intel-rapl-mmio:N/...                                   the same package again

The total is the sum of the `package-*` zones: core and uncore are inside the package, `psys`
(platform, laptops) contains the package, and `intel-rapl-mmio` is a second interface to the
same package counter: adding any of them would count energy twice. DRAM is outside the package
and only added when asked (`energy_include_dram`), because many client CPUs report a DRAM zone
that reads 0 or a model-based guess.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgekit.energy.base import MeterContext, MeterInfo, MeterKind, MeterUnavailable
from edgekit.energy.sampling import Sample, SampledMeter, integrate_counter

log = logging.getLogger(__name__)

POWERCAP = "/sys/class/powercap"
# Only the MSR interface: intel-rapl-mmio:* and intel-rapl-tpmi:* are other doors to the same counters.
ZONE = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")
ROOT_ONLY_FIX = ("Run as root, or grant read access for this boot with "
                 "`sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj` (this re-opens the side channel "
                 "the CVE-2020-8694 fix closed), or use a udev rule for a dedicated benchmark user.")
# RAPL counters tick in hardware units of ~15-61 uJ and are refreshed about every 1 ms.
RESOLUTION = "energy counter in uJ (hardware unit ~15-61 uJ, updated ~1 ms)"
PERIOD_S = 0.05


@dataclass(frozen=True)
class Zone:
    directory: Path
    name: str  # package-0, core, uncore, dram, psys
    wrap_at: float  # max_energy_range_uj


def _read_zone(ctx: MeterContext, directory: Path, name: str) -> Zone:
    read = ctx.reader.read
    try:
        wrap_at = float(read(directory / "max_energy_range_uj"))
        read(directory / "energy_uj")
    except PermissionError as exc:
        raise MeterUnavailable(
            f"rapl: {ctx.shown(directory / 'energy_uj')} is readable by root only (since the CVE-2020-8694 "
            "fix, Linux 5.10 and the stable kernels) and this process is not root.", ROOT_ONLY_FIX) from exc
    except (OSError, ValueError) as exc:
        raise MeterUnavailable(f"rapl: cannot read the zone {ctx.shown(directory)}: {exc}.",
                               "Check the intel_rapl_msr driver (lsmod | grep rapl).") from exc
    return Zone(directory, name, wrap_at)


def _order(path: Path) -> tuple[int, ...]:
    """intel-rapl:0 < intel-rapl:0:0 < intel-rapl:0:1 < intel-rapl:1"""
    return tuple(int(part) for part in path.name.split(":")[1:])


def find_zones(ctx: MeterContext, include_dram: bool) -> list[Zone]:
    """The package zones (and DRAM zones when asked), in sysfs order."""
    base = ctx.path(POWERCAP)
    if not base.is_dir():
        raise MeterUnavailable(
            f"rapl: {POWERCAP} does not exist: no RAPL powercap driver here (a VM or container without the host's "
            "/sys, a non-x86 CPU, or intel_rapl_msr not loaded).",
            "On bare-metal x86 Linux: `sudo modprobe intel_rapl_msr`; in a container, mount the host's /sys.")
    entries = sorted((p for p in base.iterdir() if ZONE.match(p.name)), key=_order)
    wanted = []
    for entry in entries:
        try:
            name = ctx.reader.read(entry / "name")
        except OSError as exc:
            raise MeterUnavailable(f"rapl: cannot read {ctx.shown(entry / 'name')}: {exc}.",
                                   "Check the intel_rapl_msr driver (lsmod | grep rapl).") from exc
        if name.startswith("package-") or (include_dram and name == "dram"):
            wanted.append(_read_zone(ctx, entry, name))
    if not any(z.name.startswith("package-") for z in wanted):
        raise MeterUnavailable(f"rapl: no package-* zone under {POWERCAP} (found: "
                               f"{', '.join(p.name for p in entries) or 'none'}).",
                               "This CPU's RAPL driver exposes no package energy counter.")
    return wanted


class RaplMeter(SampledMeter):
    def __init__(self, ctx: MeterContext) -> None:
        self.zones = find_zones(ctx, ctx.include_dram)
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):  # two sockets each have a "dram" subzone
            names = [f"{z.name}@{z.directory.name}" for z in self.zones]
        self._names = names
        packages = [n for n in names if n.startswith("package-")]
        covers = (f"CPU package{'s' if len(packages) > 1 else ''} {', '.join(packages)}: cores, caches, uncore and "
                  "integrated GPU, shared with every other process; not DRAM (unless added), not the board, disks "
                  "or fans")
        if len(packages) < len(names):
            covers += "; DRAM zones added (opt-in)"
        self.info = MeterInfo(name="rapl", source=f"{POWERCAP} ({', '.join(z.directory.name for z in self.zones)})",
                              covers=covers, domains=tuple(names), total=" + ".join(names), resolution=RESOLUTION,
                              sample_period_s=PERIOD_S, kind=MeterKind.COUNTER)
        super().__init__(ctx, PERIOD_S)

    def _read(self) -> dict[str, float]:
        return {name: float(self.ctx.reader.read(zone.directory / "energy_uj"))
                for name, zone in zip(self._names, self.zones)}

    def _energy(self, samples: Sequence[Sample]) -> tuple[dict[str, float], float, list[str]]:
        wrap_at = {name: zone.wrap_at for name, zone in zip(self._names, self.zones)}
        micro, wraps = integrate_counter(samples, wrap_at)
        joules = {name: uj / 1e6 for name, uj in micro.items()}
        warnings = []
        if wraps:
            log.info("rapl: %d counter wrap-around(s) unrolled", wraps)
        if samples[-1][0] > samples[0][0] and not any(joules.values()):
            warnings.append("the RAPL counters did not move during the window (a frozen or virtualised counter?)")
        return joules, sum(joules.values()), warnings
