"""The report's figures: PNGs under plots/ beside report.md and report.html, drawn by matplotlib (Agg backend,
imported only when a bundle is written, never by `import edgekit`).

PLOTS is the one registration table, like markdown.SECTIONS: name -> title and "module:function", so a feature's
figure (the distillation curve) is named here and imported only when drawn. A function takes (report, path, max_drop),
draws ``path`` and returns its caption (what is plotted, in words); it returns None when the report holds nothing it
could show (no energy measured: no figure, no note), and raises NotDrawn, or anything else, when it cannot draw: the
figure is then left out with a note (report.plots_not_drawn). A figure never fails a run.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from edgekit.report.registry import resolve
from edgekit.report.schema import Report, VariantResult

log = logging.getLogger(__name__)

PLOTS: tuple[tuple[str, str, str], ...] = (
    ("latency", "Latency per variant", "edgekit.report.plots:draw_latency"),
    ("accuracy_vs_latency", "Accuracy vs latency", "edgekit.report.plots:draw_accuracy_vs_latency"),
    ("energy_vs_latency", "Energy vs latency", "edgekit.report.plots:draw_energy_vs_latency"),
    ("size", "Artifact size per variant", "edgekit.report.plots:draw_size"),
    ("distillation_training", "Distillation training curve", "edgekit.distill.plot:draw_distillation"),
    ("qat_training", "QAT fine-tuning curve", "edgekit.distill.plot:draw_qat"),
)
TITLES = {name: title for name, title, _ in PLOTS}
COLORS = {"accepted": "tab:green", "rejected": "tab:red"}
COLOR_KEY = "green accepted, red rejected, grey not judged"


class NotDrawn(Exception):
    """The figure applies to this report but has nothing it could show; the message says why (a note)."""


def pyplot() -> Any:
    """matplotlib.pyplot on the headless Agg backend: never opens a window on a build box."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)


def write_plots(root: Path, report: Report, max_drop: float | None = None) -> dict[str, str]:
    """Draw every registered figure that applies into root/plots/; fills report.plots, plot_captions and
    plots_not_drawn, and returns report.plots. ``max_drop``: the accuracy budget in points (a line on the figure)."""
    folder = root / "plots"
    folder.mkdir(exist_ok=True)
    report.plots, report.plot_captions, report.plots_not_drawn = {}, {}, {}
    for name, _title, target in PLOTS:
        path = folder / f"{name}.png"
        try:
            caption = resolve(target)(report, path, max_drop)
        except Exception as exc:  # noqa: BLE001 - any failure of a figure is a note, never a failed run
            _close_all()
            path.unlink(missing_ok=True)
            reason = str(exc) if isinstance(exc, NotDrawn) else f"{type(exc).__name__}: {exc}"
            report.plots_not_drawn[name] = reason
            if not isinstance(exc, NotDrawn):
                log.warning("figure %s not drawn: %s", name, reason)
            continue
        if caption is not None and path.is_file():
            report.plots[name] = path.relative_to(root).as_posix()
            report.plot_captions[name] = caption
    if not any(folder.iterdir()):
        folder.rmdir()
    return report.plots


def _close_all() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def _color(v: VariantResult) -> str:
    return COLORS.get(v.status, "tab:gray")


def first_latency(v: VariantResult) -> tuple[str, dict[str, float]] | None:
    """(batch key, latency stats) at the first batch size timed, or None."""
    return next(iter(v.latency_ms.items()), None)


def _batch_words(batch: str) -> str:
    return batch.replace("_", " ")


def draw_latency(report: Report, path: Path, max_drop: float | None) -> str:
    """Per batch size, one horizontal bar per variant at its p50, whiskers from its fastest run to its p99."""
    timed = [v for v in report.variants if v.latency_ms]
    if not timed:
        raise NotDrawn("no variant was timed on this host")
    batches = list(dict.fromkeys(b for v in timed for b in v.latency_ms))
    upper = "p99" if all("p99" in s for v in timed for s in v.latency_ms.values()) else "p90"
    plt = pyplot()
    fig, axes = plt.subplots(len(batches), 1, squeeze=False,
                             figsize=(7.5, len(batches) * (0.38 * len(timed) + 1.1) + 0.3))
    for ax, batch in zip(axes[:, 0], batches):
        rows = [v for v in timed if batch in v.latency_ms]
        stats = [v.latency_ms[batch] for v in rows]
        mid = [s["p50"] for s in stats]
        spread = [[m - s.get("min", m) for m, s in zip(mid, stats)], [s[upper] - m for m, s in zip(mid, stats)]]
        ax.barh([v.name for v in rows], mid, xerr=spread, capsize=3, color=[_color(v) for v in rows],
                error_kw={"elinewidth": 1})
        ax.invert_yaxis()
        ax.set_xlim(left=0)
        ax.set_xlabel(f"latency, ms ({_batch_words(batch)})")
    save(fig, path)
    # the adaptive stop rule times each variant and batch until its median is steady: the counts differ
    counts = [s["iterations"] for v in timed for s in v.latency_ms.values() if "iterations" in s]
    runs = "" if not counts else f" of {counts[0]} timed runs" if min(counts) == max(counts) else \
        f" of {min(counts)}-{max(counts)} timed runs per variant and batch size (each timed until its median was steady)"
    where = f" on {report.host['isa']}" if report.host.get("isa") else ""
    return (f"Bars: p50 latency of each variant in ms, one panel per batch size "
            f"({', '.join(map(_batch_words, batches))}); whiskers: from the fastest measured run to the {upper}"
            + runs
            + f"; the shipped artifact run by the bundle's runner in a fresh process{where} ({COLOR_KEY}).")


def _quality(report: Report) -> tuple[str, Any]:
    """The y axis: top-1 accuracy when the evaluation data has labels, else top-1 agreement with the original."""
    if any(v.accuracy is not None for v in report.variants):
        return "top-1 accuracy, %", lambda v: v.accuracy
    if any(v.parity.get("top1_agreement") is not None for v in report.variants):
        return "top-1 agreement with the original, %", _agreement_pct
    raise NotDrawn("no accuracy (no labels) and no top-1 agreement (the outputs are not class scores) was measured")


def _agreement_pct(v: VariantResult) -> float | None:
    agreement = v.parity.get("top1_agreement")
    return None if agreement is None else 100.0 * agreement


def _scatter(ax: Any, points: list[tuple[float, float, VariantResult]], front: list[str], chosen: str | None) -> None:
    """One marker per variant, named; the chosen one a star; the Pareto front edged in black and joined."""
    for x, y, v in points:
        mine = v.name == chosen
        ax.scatter([x], [y], color=_color(v), s=110 if mine else 40, marker="*" if mine else "o", zorder=3,
                   edgecolors="black" if v.name in front else "none")
        ax.annotate(v.name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    line = sorted((x, y) for x, y, v in points if v.name in front)
    if len(line) > 1:
        ax.step([p[0] for p in line], [p[1] for p in line], where="post", color="black", linewidth=0.8,
                linestyle="--", label="Pareto front")


def _timed_points(report: Report, value: Any) -> list[tuple[float, float, VariantResult]]:
    points = []
    for v in report.variants:
        first, y = first_latency(v), value(v)
        if first is not None and y is not None:
            points.append((first[1]["p50"], y, v))
    return points


def _chosen_words(report: Report) -> str:
    return "the sweep's choice" if report.sweep else "the recommended variant"


def draw_accuracy_vs_latency(report: Report, path: Path, max_drop: float | None) -> str:
    label, value = _quality(report)
    points = _timed_points(report, value)
    if not points:
        raise NotDrawn(f"no variant has both a measured latency and a {label.split(',')[0]}")
    batch = first_latency(points[0][2])[0]
    front = (report.sweep or {}).get("pareto", [])
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    _scatter(ax, points, front, report.recommended)
    reference = report.reference.get("accuracy")
    budget = ""
    if label.startswith("top-1 accuracy") and reference is not None and max_drop is not None:
        below = f"{max_drop:g} point{'' if max_drop == 1 else 's'} below the original"
        ax.axhline(reference - max_drop, color="tab:red", linewidth=0.8, linestyle=":",
                   label=f"budget: {below}")
        budget = f"; the dotted red line is the accuracy budget, {below}'s {reference:.2f}%"
    if front or budget:
        ax.legend(loc="lower right", fontsize=7)
    ax.set_xlabel(f"p50 latency, ms ({_batch_words(batch)})")
    ax.set_ylabel(label)
    save(fig, path)
    return (f"{label.split(',')[0].capitalize()} (%) against p50 latency at {_batch_words(batch)} (ms), one point per "
            f"timed variant ({COLOR_KEY}; the star is {_chosen_words(report)}"
            + ("; black-edged points joined by the dashed step are the Pareto front" if front else "") + f"){budget}.")


def draw_energy_vs_latency(report: Report, path: Path, max_drop: float | None) -> str | None:
    points = _timed_points(report, lambda v: (v.energy or {}).get("joules_per_inference"))
    if not points:
        return None  # nothing measured energy: the variants' energy lines say why
    batch = first_latency(points[0][2])[0]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    _scatter(ax, points, [], report.recommended)
    ax.set_xlabel(f"p50 latency, ms ({_batch_words(batch)})")
    ax.set_ylabel("joules per inference")
    save(fig, path)
    meter = points[0][2].energy.get("meter")
    return (f"Measured energy per inference (joules, meter {meter}) against p50 latency at {_batch_words(batch)} (ms), "
            f"one point per variant whose energy was measured ({COLOR_KEY}; the star is {_chosen_words(report)}).")


def draw_size(report: Report, path: Path, max_drop: float | None) -> str | None:
    variants = [v for v in report.variants if v.size_bytes]
    if not variants:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(variants) + 1.2))
    ax.barh([v.name for v in variants], [v.size_bytes / 2**20 for v in variants], color=[_color(v) for v in variants])
    ax.invert_yaxis()
    ax.set_xlabel("artifact size, MiB")
    save(fig, path)
    return f"Size of each variant's artifact in MiB, the file(s) the runtime loads ({COLOR_KEY})."
