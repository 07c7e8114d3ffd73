"""The measurement protocol, driven by the benchmark runner's progress events.

The runner (deploy/run.py, a standalone numpy + onnxruntime script) does the inference; this
process owns the meter. After the latency timing (the warm-up) the runner, started with
`--energy-handshake`, asks before each step and blocks on its stdin:

    runner: {"phase": "energy_idle", "next": "active", "trial": 0}
    parent: idle window (meter on, sleep, meter off), meter on, writes "go"
    runner: {"phase": "energy_start", ...} back-to-back inference for the window {"phase": "energy_end",
            "trial": 0, "inferences": n, "seconds": s, "batch_size": b}
    parent: meter off -> one active window
    ... trials times, then {"phase": "energy_idle", "next": "done"}: the last idle window.

So every active window is bracketed by idle windows of the same process with the model loaded,
and the meter is already running when the runner starts. Any other reply than "go" ("stop")
makes the runner skip the remaining windows, which is how a meter failing mid-way ends the
protocol without killing the latency benchmark: the report then says unavailable and why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgekit.energy.base import MIN_SAMPLES, EnergyMeter, EnergyResult, MeterContext, MeterKind, MeterUnavailable
from edgekit.energy.summary import estimate, summarize, unavailable
from edgekit.errors import ProfileError
from edgekit.progress import NullProgress, Progress

log = logging.getLogger(__name__)

# Margin on the minimum window so that a late tick or two still leaves >= MIN_SAMPLES samples.
SAMPLE_MARGIN = 1.2


@dataclass(frozen=True)
class EnergySettings:
    meter: str = "none"
    seconds: float = 10.0
    trials: int = 3
    idle_seconds: float = 5.0
    tdp_watts: float = 0.0
    include_dram: bool = False
    device: str = "cpu"

    @classmethod
    def from_profile(cls, profile: Any) -> EnergySettings:
        b = profile.benchmark
        settings = cls(b.energy_meter, b.energy_seconds, b.energy_trials, b.energy_idle_seconds, b.energy_tdp_watts,
                       b.energy_include_dram, profile.target.device)
        if settings.meter == "estimate" and settings.tdp_watts <= 0:
            raise ProfileError("The energy estimate needs the device's TDP (benchmark.energy_tdp_watts is not set).",
                               "Pass --tdp-watts W with --energy estimate, or measure with --energy auto.")
        return settings


def with_energy(profile: Any, *, meter: str | None = None, seconds: float | None = None,
                tdp_watts: float | None = None) -> Any:
    """The profile with the CLI/API energy overrides applied, checked before any work starts."""
    changes: dict[str, Any] = {}
    if meter is not None:
        changes["energy_meter"] = meter
    if seconds is not None:
        changes["energy_seconds"] = float(seconds)
    if tdp_watts is not None:
        changes["energy_tdp_watts"] = float(tdp_watts)
    if changes:
        profile = profile.replace_section("benchmark", **changes)
    EnergySettings.from_profile(profile)
    return profile


def window_seconds(kind: MeterKind, period: float, seconds: float) -> float:
    """A counter integrates in hardware; a polled power meter needs MIN_SAMPLES samples per window."""
    if kind is MeterKind.COUNTER or seconds <= 0:
        return seconds
    return max(seconds, MIN_SAMPLES * period * SAMPLE_MARGIN)


class EnergySession:
    """One artifact's energy measurement: answers the runner's handshakes and keeps the windows."""

    def __init__(self, meter: EnergyMeter, settings: EnergySettings, *, sleep: Callable[[float], None] = time.sleep,
                 progress: Progress | None = None, key: str = "energy") -> None:
        info = meter.info
        self.meter, self.settings, self._sleep = meter, settings, sleep
        self.window_s = window_seconds(info.kind, info.sample_period_s, settings.seconds)
        self.idle_s = window_seconds(info.kind, info.sample_period_s, settings.idle_seconds)
        self.idle: list[EnergyResult] = []
        self.active: list[tuple[EnergyResult, Mapping[str, Any]]] = []
        self.failure: MeterUnavailable | None = None
        self._running = False
        self._progress, self._key, self._shown = progress or NullProgress(), key, False
        self._total = settings.trials * self.window_s + (settings.trials + 1) * self.idle_s

    def runner_args(self) -> list[str]:
        return ["--energy-seconds", repr(self.window_s), "--energy-trials", str(self.settings.trials),
                "--energy-handshake"]

    def _start(self) -> None:
        self.meter.start()
        self._running = True

    def _stop(self) -> EnergyResult:
        self._running = False
        return self.meter.stop()

    def _show(self, what: str) -> None:
        if not self._shown:
            self._progress.start(self._key, f"{self._key} ({self.meter.info.name})", int(self._total))
            self._shown = True
        done = len(self.active) * self.window_s + len(self.idle) * self.idle_s
        self._progress.update(self._key, int(done), int(self._total), f"{self._key} ({self.meter.info.name}): {what}")

    def on_event(self, event: Mapping[str, Any], reply: Callable[[str], None]) -> None:
        phase = event["phase"]
        try:
            if phase == "energy_idle":
                self._on_idle(event, reply)
            elif phase == "energy_start":
                self._show(f"trial {int(event['trial']) + 1}/{self.settings.trials}")
            elif phase == "energy_end":
                self.active.append((self._stop(), dict(event)))
        except MeterUnavailable as exc:
            log.warning("energy measurement stopped: %s", exc.message)
            self.failure = exc
            if phase == "energy_idle":
                reply("stop")

    def _on_idle(self, event: Mapping[str, Any], reply: Callable[[str], None]) -> None:
        if self.failure is not None:
            reply("stop")
            return
        if self.idle_s > 0:
            self._show("idle baseline")
            self._start()
            self._sleep(self.idle_s)
            self.idle.append(self._stop())
        if event.get("next") == "active":
            self._start()
        reply("go")

    def close(self) -> None:
        """After the runner exited: finish the progress bar; if the runner died mid-window, stop the meter
        left running (that reading is discarded, the runner's error is what gets reported)."""
        if self._shown:
            self._progress.finish(self._key)
        if self._running:
            self._running = False
            try:
                self.meter.stop()
            except MeterUnavailable:
                log.debug("the meter also failed while stopping after a runner error", exc_info=True)

    def report(self) -> dict[str, Any]:
        name = self.meter.info.name
        if self.failure is not None:
            return unavailable(self.failure.message, self.failure.hint, name)
        if not self.active:
            return unavailable("the runner ran no energy window (a runner without --energy-seconds?)", meter=name)
        return summarize(self.meter.info, self.idle, self.active, self.idle_s)


@dataclass
class EnergyPlan:
    """What one benchmark does about energy: a session to run, or a report known without one."""

    settings: EnergySettings
    session: EnergySession | None = None
    fixed: dict[str, Any] | None = None

    def report(self, bench: Mapping[str, Any]) -> dict[str, Any]:
        if self.session is not None:
            return self.session.report()
        if self.fixed is not None:
            return self.fixed
        return estimate(self.settings.tdp_watts, bench.get("latency_ms", {}))


def plan_energy(settings: EnergySettings, *, ctx: MeterContext | None = None, progress: Progress | None = None,
                key: str = "energy", sleep: Callable[[float], None] = time.sleep) -> EnergyPlan:
    from edgekit.energy import get_meter

    if settings.meter == "none":
        return EnergyPlan(settings, fixed=unavailable(
            "not measured: energy_meter = 'none'", "Pass --energy auto (or set [benchmark] energy_meter) to measure; "
            "it adds about trials x (energy_seconds + energy_idle_seconds) per artifact.", "none"))
    if settings.meter == "estimate":
        return EnergyPlan(settings)
    ctx = ctx or MeterContext(device=settings.device, include_dram=settings.include_dram)
    try:
        meter = get_meter(settings.meter, ctx)
    except MeterUnavailable as exc:
        log.info("energy: %s", exc.message)
        return EnergyPlan(settings, fixed=unavailable(exc.message, exc.hint, settings.meter, exc.tried))
    return EnergyPlan(settings, EnergySession(meter, settings, sleep=sleep, progress=progress, key=key))
