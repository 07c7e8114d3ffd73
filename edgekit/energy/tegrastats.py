"""tegrastats as a power meter: the fallback on a Jetson whose INA3221 sysfs files cannot be read.

Two line styles, both "instantaneous/running-average" per rail:

    JetPack 4:   ... POM_5V_IN 4520/4680 POM_5V_GPU 0/0 POM_5V_CPU 1078/1205
    JetPack 5+:  ... VDD_IN 4954mW/4954mW VDD_CPU_GPU_CV 631mW/631mW VDD_SOC 1458mW/1458mW

Only the first (instantaneous) number is used: the second is tegrastats' own average since it
started, which would smear the idle baseline into the active window. Each line is stamped when
it arrives and the samples are integrated like the sysfs meter's.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading

from edgekit.energy.base import MIN_SAMPLES, EnergyResult, MeterContext, MeterInfo, MeterKind, MeterUnavailable
from edgekit.energy.jetson import describe_total
from edgekit.energy.jetson_platform import jetson_platform
from edgekit.energy.sampling import Sample, integrate_power

log = logging.getLogger(__name__)

# "NAME 123/456" or "NAME 123mW/456mW" and nothing glued after it, so "RAM 1180/3965MB" and
# "IRAM 0/252kB(lfb 252kB)" are not rails.
RAIL = re.compile(r"(?<![\w@])([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")
INTERVAL_MS = 100
NOT_FOUND_HINT = "tegrastats ships with L4T on every Jetson (/usr/bin/tegrastats); elsewhere pick another meter."


def parse_rails(line: str) -> dict[str, float]:
    """Instantaneous watts per rail in one tegrastats line ({} when it has none)."""
    return {name: int(now) / 1e3 for name, now, _average in RAIL.findall(line)}


class TegrastatsMeter:
    def __init__(self, ctx: MeterContext) -> None:
        self.ctx = ctx
        self.executable = ctx.tegrastats or shutil.which("tegrastats")
        if self.executable is None:
            raise MeterUnavailable("tegrastats: not found on PATH (not a Jetson, or L4T's tools are not installed).",
                                   NOT_FOUND_HINT)
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._first = threading.Event()
        self.start()  # probe: the rails it prints decide what the total is
        names = list(self._samples[0][1])
        self._halt()
        self._total, total_from, covers = describe_total(names)
        self.info = MeterInfo(name="tegrastats", source=f"{self.executable} --interval {INTERVAL_MS}", covers=covers,
                              domains=tuple(names), total=total_from,
                              resolution="1 mW, one instantaneous reading per line", sample_period_s=INTERVAL_MS / 1e3,
                              kind=MeterKind.POWER, details=jetson_platform(ctx))

    def _read_lines(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None  # Popen(stdout=PIPE)
        for line in proc.stdout:
            rails = parse_rails(line)
            if rails:
                with self._lock:
                    self._samples.append((self.ctx.clock(), rails))
                self._first.set()

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError("the meter is already running; call stop() first")
        self._samples = []
        self._first.clear()
        try:
            self._proc = subprocess.Popen([str(self.executable), "--interval", str(INTERVAL_MS)], text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise MeterUnavailable(f"tegrastats: cannot run {self.executable}: {exc}.", NOT_FOUND_HINT) from exc
        self._reader = threading.Thread(target=self._read_lines, args=(self._proc,), daemon=True,
                                        name="edgekit-tegrastats")
        self._reader.start()
        if not self._first.wait(self.ctx.first_sample_timeout_s):
            self._halt()
            raise MeterUnavailable(f"tegrastats: no power rails in its output within "
                                   f"{self.ctx.first_sample_timeout_s:g} s.",
                                   "Run `tegrastats` by hand: some L4T releases print rails only as root.")

    def _halt(self) -> int | None:
        """Stop tegrastats; its exit code if it had already ended on its own, else None."""
        proc, reader = self._proc, self._reader
        self._proc = self._reader = None
        if proc is None or reader is None:
            raise RuntimeError("stop() without start()")
        ended = proc.poll()
        if ended is None:
            proc.terminate()
        proc.wait()
        reader.join()
        return ended

    def stop(self) -> EnergyResult:
        ended = self._halt()
        with self._lock:
            samples = [s for s in self._samples if set(s[1]) == set(self.info.domains)]
        if len(samples) < 2:
            raise MeterUnavailable(f"tegrastats: {len(samples)} usable line(s) in the window; need at least 2.",
                                   "Use a longer window (--energy-seconds).")
        warnings = []
        if ended is not None:
            warnings.append(f"tegrastats exited on its own (code {ended}) before the window closed")
        joules = integrate_power(samples)
        total = joules[self._total] if self._total is not None else sum(joules.values())
        duration = samples[-1][0] - samples[0][0]
        if len(samples) < MIN_SAMPLES:
            warnings.append(f"only {len(samples)} power samples in {duration:.2f} s (< {MIN_SAMPLES}): the integral "
                            "misses anything shorter than the sampling period")
        return EnergyResult(self.info, joules, total, duration, len(samples), tuple(warnings))
