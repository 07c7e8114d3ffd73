"""The energy options shared by `edgekit bench` and `edgekit compress` (light: no runtime imported)."""

from __future__ import annotations

from typing import Any

import click

from edgekit.profile import ENERGY_METERS


def energy_options(func: Any) -> Any:
    func = click.option("--energy-seconds", type=click.FloatRange(min=0, min_open=True),
                        help="Seconds of back-to-back inference per energy trial (default: the profile's, 10).")(func)
    func = click.option("--tdp-watts", type=click.FloatRange(min=0, min_open=True),
                        help="Device TDP for --energy estimate (reported as an estimate, never as measured).")(func)
    func = click.option("--energy", type=click.Choice(ENERGY_METERS),
                        help="Energy meter: auto picks the one for this machine (Jetson rails, RAPL, NVML); "
                             "default: the profile's (none). EDGEKIT_SYSFS_ROOT moves /sys for recorded trees.")(func)
    return func
