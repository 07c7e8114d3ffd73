"""What every energy meter shares: its description, its result, its context, and how it says 'no'.

A meter is built from a `MeterContext` (the root every hardware path hangs off, the clock, the
ticker that paces its polling thread); building it probes the hardware, so a meter that exists
can measure. A meter that cannot measure raises `MeterUnavailable` with the reason and the fix:
the report then says "unavailable" and why, never a number from nowhere.
"""

from __future__ import annotations

import enum
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edgekit.errors import EdgekitError

# Every hardware path (/sys, /proc/device-tree, /etc/nvpmodel.conf, /var/lib/nvpmodel) hangs off
# this root, so tests (and `edgekit bench` under EDGEKIT_SYSFS_ROOT) can run on a fake tree.
SYSFS_ROOT_ENV = "EDGEKIT_SYSFS_ROOT"

# Polled (power-sampled) meters need this many samples per window for the integral to be trusted.
MIN_SAMPLES = 100


class MeterKind(str, enum.Enum):
    COUNTER = "counter"  # the hardware integrates (RAPL energy_uj, NVML total energy): exact between reads
    POWER = "power"  # instantaneous power, integrated here: accuracy depends on the sampling rate


class MeterUnavailable(EdgekitError):
    """This meter cannot measure here; ``message`` is the reason, ``hint`` the fix; ``tried`` the
    reason of each meter `auto` tried."""

    def __init__(self, message: str, hint: str = "", tried: dict[str, str] | None = None) -> None:
        super().__init__(message, hint)
        self.tried = tried or {}


@dataclass(frozen=True)
class MeterInfo:
    name: str  # registry name: rapl, jetson, tegrastats, nvml
    source: str  # where the numbers come from (files, tool, library)
    covers: str  # what the total includes and, as important, what it leaves out
    domains: tuple[str, ...]  # what is measured separately (package-0, VDD_IN, gpu0, ...)
    total: str  # how the total is formed from the domains
    resolution: str
    sample_period_s: float
    kind: MeterKind
    details: dict[str, Any] = field(default_factory=dict)  # e.g. the Jetson power mode

    def to_dict(self) -> dict[str, Any]:
        return {"meter": self.name, "source": self.source, "covers": self.covers, "domains": list(self.domains),
                "total_from": self.total, "resolution": self.resolution, "sample_period_s": self.sample_period_s,
                "kind": self.kind.value, **({"platform": self.details} if self.details else {})}


@dataclass(frozen=True)
class EnergyResult:
    """Energy over one start()..stop() window."""

    info: MeterInfo
    joules: dict[str, float]  # per domain
    total_joules: float
    duration_s: float
    samples: int
    warnings: tuple[str, ...] = ()
    status: str = "measured"

    @property
    def average_power_w(self) -> float:
        return self.total_joules / self.duration_s if self.duration_s > 0 else 0.0


class EnergyMeter(Protocol):
    info: MeterInfo

    def start(self) -> None: ...

    def stop(self) -> EnergyResult: ...


Ticker = Callable[[threading.Event, float], bool]
"""Waits one polling period; returns True when the poller must stop. Tests pass a scripted one."""


def wait_period(stop: threading.Event, period: float) -> bool:
    return stop.wait(period)


class SysfsReader:
    """Reads small text files; a test swaps it to inject errors CI (running as root) cannot see."""

    def read(self, path: Path) -> str:
        return path.read_text(encoding="utf-8", errors="replace").strip()


def default_root() -> Path:
    return Path(os.environ.get(SYSFS_ROOT_ENV) or "/")


@dataclass(frozen=True)
class MeterContext:
    root: Path = field(default_factory=default_root)
    clock: Callable[[], float] = time.monotonic
    ticker: Ticker = wait_period
    reader: SysfsReader = field(default_factory=SysfsReader)
    device: str = "cpu"  # the profile's target.device: picks auto's order and the NVML GPU
    include_dram: bool = False  # RAPL: add DRAM zones to the total (opt-in)
    tegrastats: str | None = None  # path of the tegrastats executable (default: found on PATH)
    nvml: Any = None  # an NVML module (default: `import pynvml` from nvidia-ml-py)
    first_sample_timeout_s: float = 5.0

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def shown(self, path: Path) -> str:
        """A path as the user knows it: /sys/..., without the test root in front."""
        try:
            return "/" + str(path.relative_to(self.root))
        except ValueError:
            return str(path)
