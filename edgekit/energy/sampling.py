"""A background polling thread and the two integrals: power samples (trapezoid) and energy counters.

Sysfs meters read once when the window opens and once when it closes (so the window's edges are
samples, not guesses) and every `period` seconds in between on a daemon thread. Counter meters
need the intermediate reads too: a counter that wraps twice between two reads is
indistinguishable from one that wrapped once.
"""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from edgekit.energy.base import (
    MIN_SAMPLES,
    EnergyResult,
    MeterContext,
    MeterInfo,
    MeterKind,
    MeterUnavailable,
)

log = logging.getLogger(__name__)

Sample = tuple[float, dict[str, float]]


class Poller:
    """Calls ``read`` now, then every ``period`` on a thread, and once more at stop()."""

    def __init__(self, read: Callable[[], dict[str, float]], ctx: MeterContext, period: float) -> None:
        self._read, self._ctx, self._period = read, ctx, period
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _sample(self) -> None:
        values = self._read()
        with self._lock:
            self._samples.append((self._ctx.clock(), values))

    def _loop(self) -> None:
        try:
            while not self._ctx.ticker(self._stop, self._period):
                self._sample()
        except BaseException as exc:  # handed to stop(), which raises it in the caller's thread
            self._error = exc

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the meter is already running; call stop() first")
        self._samples, self._error = [], None
        self._stop.clear()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="edgekit-energy-poller", daemon=True)
        self._thread.start()

    def stop(self) -> list[Sample]:
        if self._thread is None:
            raise RuntimeError("stop() without start()")
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self._error is not None:
            raise self._error
        self._sample()
        with self._lock:
            return list(self._samples)


def integrate_power(samples: Sequence[Sample]) -> dict[str, float]:
    """Joules per domain from watts samples (trapezoid rule over the sample times)."""
    joules = dict.fromkeys(samples[0][1], 0.0) if samples else {}
    for (t0, p0), (t1, p1) in zip(samples, samples[1:]):
        for domain in joules:
            joules[domain] += (p0[domain] + p1[domain]) / 2.0 * (t1 - t0)
    return joules


def unwrapped_delta(before: float, after: float, wrap_at: float) -> float:
    """Counter increase; a counter that went down wrapped around at ``wrap_at``."""
    return after - before if after >= before else wrap_at - before + after


def integrate_counter(samples: Sequence[Sample], wrap_at: Mapping[str, float]) -> tuple[dict[str, float], int]:
    """Counter units per domain over the samples, and how many wrap-arounds were unrolled."""
    total = dict.fromkeys(samples[0][1], 0.0) if samples else {}
    wraps = 0
    for (_, before), (_, after) in zip(samples, samples[1:]):
        for domain in total:
            wraps += after[domain] < before[domain]
            total[domain] += unwrapped_delta(before[domain], after[domain], wrap_at[domain])
    return total, wraps


class SampledMeter(abc.ABC):
    """Base of the sysfs/library meters: subclasses give `info`, `_read()` and `_energy(samples)`."""

    info: MeterInfo

    def __init__(self, ctx: MeterContext, period: float) -> None:
        self.ctx = ctx
        self._poller = Poller(self._read_checked, ctx, period)

    @abc.abstractmethod
    def _read(self) -> dict[str, float]:
        """Watts (power meters) or raw counter values (counter meters) per domain."""

    def _read_checked(self) -> dict[str, float]:
        try:
            return self._read()
        except (OSError, ValueError) as exc:
            raise MeterUnavailable(f"{self.info.name}: reading the meter failed mid-measurement: {exc}.",
                                   "Check that the device's power monitor is still present and readable.") from exc

    @abc.abstractmethod
    def _energy(self, samples: Sequence[Sample]) -> tuple[dict[str, float], float, list[str]]:
        """Joules per domain, the total, and warnings."""

    def start(self) -> None:
        self._poller.start()

    def stop(self) -> EnergyResult:
        samples = self._poller.stop()
        joules, total, warnings = self._energy(samples)
        duration = samples[-1][0] - samples[0][0]
        count = len(samples)
        if self.info.kind is MeterKind.POWER and count < MIN_SAMPLES:
            warnings.append(f"only {count} power samples in {duration:.2f} s (< {MIN_SAMPLES}): "
                            "the integral misses anything shorter than the sampling period")
        log.debug("%s: %.4f J over %.3f s, %d samples", self.info.name, total, duration, count)
        return EnergyResult(self.info, joules, total, duration, count, tuple(warnings))
