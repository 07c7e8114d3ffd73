"""Ratios from the interleaved rounds, the targets' verdicts, and the machine's facts."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
from dataclasses import dataclass
from pathlib import Path

from benchmarks.shared.prepare import Prepared

SPEEDUP_TARGET = 4.0  # edgekit INT8 ResNet-18 vs FP32 torch eager
PEER_TOLERANCE = 1.05  # edgekit INT8 latency / peer INT8 latency


@dataclass(frozen=True)
class Ratio:
    median: float
    low: float
    high: float

    def fmt(self, digits: int = 2) -> str:
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}–{self.high:.{digits}f})"


def round_medians(results: dict, model: str, key: str) -> list[float]:
    return [r["median_ms"] for r in results[model][key]]


def quiet_rounds(results: dict, model: str, threshold: float) -> list[int]:
    """Rounds in which no measurement of ``model`` shared the cores with other processes."""
    per_variant = list(results[model].values())
    return [r for r in range(len(per_variant[0])) if all(v[r]["others_cpus"] <= threshold for v in per_variant)]


def within_round_ratio(results: dict, model: str, num: str, den: str,
                       rounds: list[int] | None = None) -> Ratio | None:
    """Median over rounds of num/den, each ratio taken inside one round (None: no such round)."""
    a, b = round_medians(results, model, num), round_medians(results, model, den)
    ratios = [a[i] / b[i] for i in (range(len(a)) if rounds is None else rounds)]
    return Ratio(statistics.median(ratios), min(ratios), max(ratios)) if ratios else None


def _cpuinfo() -> dict[str, str]:
    """Fields of the first processor in /proc/cpuinfo."""
    path = Path("/proc/cpuinfo")
    first = path.read_text().split("\n\n", 1)[0] if path.exists() else ""
    pairs = (line.split(":", 1) for line in first.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _edgekit_version() -> str:
    try:
        import edgekit
    except ImportError:
        return "not installed"
    return getattr(edgekit, "__version__", "unknown")


def machine_facts() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    family = cpu.get("cpu family", "?")
    family_hex = f" (0x{int(family):x})" if family.isdigit() else ""
    return {
        "CPU": cpu.get("model name", "?"),
        "CPU family / model / stepping": f"{family}{family_hex} / {cpu.get('model', '?')} / {cpu.get('stepping', '?')}",
        "logical CPUs (os.cpu_count / usable)": f"{os.cpu_count()} / {len(os.sched_getaffinity(0))}",
        **{flag: "yes" if flag in flags else "no" for flag in ("avx512_vnni", "avx512_bf16", "amx_int8")},
        "load average at start (1/5/15 min)": " / ".join(f"{v:.2f}" for v in os.getloadavg()),
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "edgekit": _edgekit_version(),
        "date (UTC)": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str  # all rounds: the verdict is taken on this
    quiet: str  # the same ratio over quiet rounds only, for judging contention
    passed: bool


def fmt_ratio(r: Ratio | None, digits: int, unit: str = "") -> str:
    return "no quiet round" if r is None else f"{r.fmt(digits)}{unit}"


def ratio_verdict(results: dict, model: str, num: str, den: str, quiet: list[int], *,
                   target: str, digits: int, unit: str, ok) -> Verdict:
    r = within_round_ratio(results, model, num, den)
    q = within_round_ratio(results, model, num, den, quiet)
    return Verdict(target, fmt_ratio(r, digits, unit), f"{fmt_ratio(q, digits, unit)} [{len(quiet)} rounds]",
                   ok(r.median))


def int8_targets(results: dict, model: str, quiet: list[int], tagged: bool = False) -> list[Verdict]:
    """The INT8 targets every suite that times edgekit against torch and the by-hand peer checks: ResNet-18 >= the
    speed-up target over FP32 torch eager, and edgekit INT8 within the peer tolerance (``tagged``: say which of them
    are the issue's targets)."""
    rows = []
    if model == "resnet18":
        rows.append(ratio_verdict(
            results, model, "torch_fp32", "edgekit_int8", quiet, digits=2, unit="x",
            target=f"edgekit INT8 ResNet-18 >= {SPEEDUP_TARGET:.0f}x faster than FP32 torch eager"
                   + (" (issue target)" if tagged else ""),
            ok=lambda m: m >= SPEEDUP_TARGET))
    tag = ("issue target" if model == "resnet18" else "same check, not an issue target") if tagged else ""
    rows.append(ratio_verdict(
        results, model, "edgekit_int8", "peer_int8", quiet, digits=3, unit="",
        target=f"{model}: edgekit INT8 latency / peer INT8 latency <= {PEER_TOLERANCE:.2f}"
               + (f" ({tag})" if tag else ""),
        ok=lambda m: m <= PEER_TOLERANCE))
    return rows


def verdicts(prepared: list[Prepared], results: dict, quiet_cpus: float) -> list[Verdict]:
    """The targets for the models that were run, then the INT8-execution checks."""
    rows = []
    for p in prepared:
        rows += int8_targets(results, p.model, quiet_rounds(results, p.model, quiet_cpus))
    for p in prepared:
        for key in ("edgekit_int8", "peer_int8"):
            v = p.variant(key)
            rows.append(Verdict(f"{p.model}: {key} runs every Conv as QLinearConv (check)",
                                f"{v.qlinearconv}/{p.source_convs}", "", v.qlinearconv == p.source_convs))
    return rows
