"""NVIDIA GPUs through NVML (`pip install edgekit[nvml]`, which brings nvidia-ml-py).

The total-energy counter (mJ since the driver loaded, Volta and newer) is read when the GPU has
it; older GPUs fall back to polling the board power (mW). The counter is refreshed by the
driver only every few tens of milliseconds (about 100 ms on many boards), so a window shorter
than that reads 0 J; the power reading on Ampere and newer is itself a 1 s average. Either way
the figure covers the GPU board only: not the CPU that feeds it, not the host.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

from edgekit.energy.base import MeterContext, MeterInfo, MeterKind, MeterUnavailable
from edgekit.energy.sampling import Sample, SampledMeter, integrate_counter, integrate_power

log = logging.getLogger(__name__)

PERIOD_S = 0.05
INSTALL_HINT = "pip install 'edgekit[nvml]' (nvidia-ml-py), on a machine with an NVIDIA driver."
COVERS = "the GPU board ({name}): GPU, its memory and board regulators; not the CPU, host memory or the rest of the host"


def _load(ctx: MeterContext) -> Any:
    if ctx.nvml is not None:
        return ctx.nvml
    try:
        return importlib.import_module("pynvml")
    except ImportError as exc:
        raise MeterUnavailable(f"nvml: the NVML bindings are not installed ({exc}).", INSTALL_HINT) from exc


def _gpu_index(device: str) -> int:
    """'cuda:1' -> 1; 'cuda' or a CPU device -> 0."""
    _, _, index = device.partition(":")
    return int(index) if index.isdigit() else 0


def _name(nvml: Any, handle: Any) -> str:
    name = nvml.nvmlDeviceGetName(handle)
    return name.decode() if isinstance(name, bytes) else str(name)  # bytes before nvidia-ml-py 11.5


class NvmlMeter(SampledMeter):
    def __init__(self, ctx: MeterContext) -> None:
        self.nvml = nvml = _load(ctx)
        index = _gpu_index(ctx.device)
        try:
            nvml.nvmlInit()
            self._handle = nvml.nvmlDeviceGetHandleByIndex(index)
            gpu = _name(nvml, self._handle)
        except nvml.NVMLError as exc:
            raise MeterUnavailable(f"nvml: cannot open GPU {index}: {exc}.",
                                   "Check `nvidia-smi`; the target.device index picks the GPU.") from exc
        self._counter = self._has_counter()
        self._domain = f"gpu{index}"
        if self._counter:
            resolution, kind = "total-energy counter in mJ, refreshed by the driver every ~20-100 ms", MeterKind.COUNTER
        else:
            resolution, kind = "board power in mW (a ~1 s average on recent GPUs), polled", MeterKind.POWER
        self.info = MeterInfo(name="nvml", source=f"NVML GPU {index} ({gpu})", covers=COVERS.format(name=gpu),
                              domains=(self._domain,), total=self._domain, resolution=resolution,
                              sample_period_s=PERIOD_S, kind=kind)
        super().__init__(ctx, PERIOD_S)

    def _has_counter(self) -> bool:
        try:
            self.nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except self.nvml.NVMLError as exc:
            if getattr(exc, "value", None) != self.nvml.NVML_ERROR_NOT_SUPPORTED:
                raise MeterUnavailable(f"nvml: reading the energy counter failed: {exc}.", "Check `nvidia-smi`.") \
                    from exc
            log.info("nvml: no total-energy counter on this GPU (pre-Volta); polling board power")
            return False
        return True

    def _read(self) -> dict[str, float]:
        try:
            if self._counter:
                return {self._domain: float(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))}
            return {self._domain: self.nvml.nvmlDeviceGetPowerUsage(self._handle) / 1e3}
        except self.nvml.NVMLError as exc:
            raise MeterUnavailable(f"nvml: reading the GPU failed mid-measurement: {exc}.", "Check `nvidia-smi`.") \
                from exc

    def _energy(self, samples: Sequence[Sample]) -> tuple[dict[str, float], float, list[str]]:
        warnings = []
        if self._counter:
            # a 64-bit mJ counter since driver load: it does not wrap in practice
            milli, _ = integrate_counter(samples, {self._domain: 2.0**64})
            joules = {d: mj / 1e3 for d, mj in milli.items()}
            if joules[self._domain] == 0:
                warnings.append("the NVML energy counter did not advance: the window is shorter than its refresh "
                                "period (~100 ms); use a longer --energy-seconds")
        else:
            joules = integrate_power(samples)
            warnings.append("NVML board power is a running average on recent GPUs: short bursts are smoothed")
        return joules, joules[self._domain], warnings
