"""Energy meters: name -> "module:Class", imported only when used (like edgekit.backends).

`auto` tries the meters that can see the device the artifact runs on, in order, and returns the
first that can measure; when none can, `MeterUnavailable` carries every meter's reason.
`none` and `estimate` are not meters: the benchmark protocol handles them (edgekit.energy.protocol).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from edgekit.energy.base import MeterContext, MeterUnavailable

if TYPE_CHECKING:
    from edgekit.energy.base import EnergyMeter

METERS: dict[str, str] = {
    "rapl": "edgekit.energy.rapl:RaplMeter",
    "jetson": "edgekit.energy.jetson:JetsonMeter",
    "tegrastats": "edgekit.energy.tegrastats:TegrastatsMeter",
    "nvml": "edgekit.energy.nvml:NvmlMeter",
}

# On a Jetson the module rails cover CPU and GPU alike, so they come first whatever the device;
# elsewhere a CPU artifact is measured by RAPL and a CUDA one by NVML, never the other way round
# (RAPL sees none of a discrete GPU's power, NVML none of the CPU's).
AUTO_ORDER: dict[str, tuple[str, ...]] = {
    "cpu": ("jetson", "tegrastats", "rapl"),
    "cuda": ("jetson", "tegrastats", "nvml"),
}


def auto_order(device: str) -> tuple[str, ...]:
    return AUTO_ORDER["cuda" if device.startswith("cuda") else "cpu"]


def get_meter(name: str, ctx: MeterContext) -> EnergyMeter:
    """Build meter ``name`` (probing the hardware), or raise MeterUnavailable with the reason."""
    if name == "auto":
        return detect(ctx)
    try:
        target = METERS[name]
    except KeyError as exc:
        raise MeterUnavailable(f"Unknown energy meter '{name}'.", f"Known meters: auto, {', '.join(METERS)}.") from exc
    module_name, _, attr = target.partition(":")
    meter_cls = getattr(importlib.import_module(module_name), attr)
    meter: EnergyMeter = meter_cls(ctx)
    return meter


def detect(ctx: MeterContext) -> EnergyMeter:
    tried = {}
    for name in auto_order(ctx.device):
        try:
            return get_meter(name, ctx)
        except MeterUnavailable as exc:
            tried[name] = exc.message
    raise MeterUnavailable("no energy meter found for this machine: " + " ".join(tried.values()),
                           "Run on the target device as a user that can read its power counters, or pass "
                           "--energy estimate --tdp-watts W for a labelled estimate.", tried)
