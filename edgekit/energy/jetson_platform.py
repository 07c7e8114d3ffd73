"""The Jetson settings that change joules per inference: power mode (nvpmodel) and jetson_clocks.

Both are read from files (under the injectable root), so nothing here needs root or runs a tool:

    /proc/device-tree/model          "NVIDIA Jetson Orin Nano Developer Kit\\0"
    /var/lib/nvpmodel/status         "pmode:0001 fmode:..."  (the active mode id)
    /etc/nvpmodel.conf               "< POWER_MODEL ID=1 NAME=7W >"  (the id's name)

jetson_clocks pins the minimum clocks to the maximum; it is inferred from cpufreq (cpu0) and the
GPU's devfreq node, and labelled as inferred.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edgekit.energy.base import MeterContext

POWER_MODEL = re.compile(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=([^\s>]+)")
PMODE = re.compile(r"pmode:(\d+)")
# devfreq names of the integrated GPU: Nano 57000000.gpu, Xavier 17000000.gv11b, Orin 17000000.ga10b/.gpu
GPU_DEVFREQ = re.compile(r"\.(gpu|gv11b|ga10b|gp10b)$")


def _read(ctx: MeterContext, path: Path) -> str | None:
    try:
        return ctx.reader.read(path)
    except OSError:  # absent on this L4T release: recorded as unknown, the measurement does not depend on it
        return None


def power_mode(ctx: MeterContext) -> dict[str, Any]:
    status = _read(ctx, ctx.path("/var/lib/nvpmodel/status")) or ""
    match = PMODE.search(status)
    if match is None:
        return {"id": None, "name": None, "source": "unknown (no /var/lib/nvpmodel/status)"}
    mode = int(match[1])
    names = {int(i): n for i, n in POWER_MODEL.findall(_read(ctx, ctx.path("/etc/nvpmodel.conf")) or "")}
    return {"id": mode, "name": names.get(mode), "source": "/var/lib/nvpmodel/status + /etc/nvpmodel.conf"}


def _pinned(ctx: MeterContext, low: Path, high: Path) -> bool | None:
    lo, hi = _read(ctx, low), _read(ctx, high)
    return None if lo is None or hi is None else lo == hi


def jetson_clocks(ctx: MeterContext) -> dict[str, Any]:
    cpu = ctx.path("/sys/devices/system/cpu/cpu0/cpufreq")
    checks = {"cpu0": _pinned(ctx, cpu / "scaling_min_freq", cpu / "cpuinfo_max_freq")}
    devfreq = ctx.path("/sys/class/devfreq")
    for node in sorted(devfreq.glob("*")) if devfreq.is_dir() else []:
        if GPU_DEVFREQ.search(node.name):
            checks[f"gpu {node.name}"] = _pinned(ctx, node / "min_freq", node / "max_freq")
    known = {k: v for k, v in checks.items() if v is not None}
    state = "unknown" if not known else "on" if all(known.values()) else "off"
    evidence = ", ".join(f"{k} min {'==' if v else '<'} max" for k, v in known.items()) or "no cpufreq/devfreq files"
    return {"state": state, "inferred_from": evidence}


def jetson_platform(ctx: MeterContext) -> dict[str, Any]:
    model = (_read(ctx, ctx.path("/proc/device-tree/model")) or "").rstrip("\x00") or None
    return {"model": model, "power_mode": power_mode(ctx), "jetson_clocks": jetson_clocks(ctx)}
