"""The loss / accuracy figure of a distillation run (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_plot(history: list[dict[str, Any]], path: Path, title: str = "distillation") -> str | None:
    """Write ``path`` (PNG); returns why not when it cannot (matplotlib missing, nothing to plot)."""
    from edgekit.report.plots import pyplot, save

    rows = [r for r in history if r.get("loss") is not None]
    if not rows:
        return "no training epochs to plot"
    try:
        plt = pyplot()
    except ImportError as exc:
        return f"matplotlib is not installed ({exc})"
    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs = [r["epoch"] for r in rows]
    for key in ("loss", "kd", "ce", "hint"):
        if any(r.get(key) is not None for r in rows):
            ax.plot(epochs, [r.get(key) for r in rows], marker="o", label=f"train {key}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    right = None
    for split, style in (("val", "--"), ("eval", ":")):  # val chose the kept epoch; eval is only logged
        metric = f"{split}_accuracy" if any(f"{split}_accuracy" in r for r in history) else f"{split}_agreement"
        points = [r for r in history if r.get(metric) is not None]
        if points:
            right = right or ax.twinx()
            right.plot([r["epoch"] for r in points], [r[metric] for r in points], color="black", linestyle=style,
                       marker="s", label=metric.replace("_", " ") + " %")
    if right is not None:
        right.set_ylabel("%")
        right.legend(loc="center right")
    ax.legend(loc="upper right")
    ax.set_title(title)
    save(fig, path)
    return None


CURVE = ("training loss terms per epoch (left axis) and, on the right axis, the accuracy (or top-1 agreement with the "
         "original) in %: dashed on the validation split, which chose the kept epoch; dotted on the evaluation data, "
         "only logged")


def _report_curve(section: dict[str, Any] | None, path: Path, title: str) -> str | None:
    if not section or not section.get("history"):
        return None
    error = write_plot(section["history"], path, title=title)
    if error:
        raise RuntimeError(error)
    return f"{CURVE[0].upper()}{CURVE[1:]}."


def draw_distillation(report: Any, path: Path, max_drop: float | None) -> str | None:
    """The report's figure of the distillation run (report/plots.py: PLOTS)."""
    return _report_curve(report.distillation, path, "distillation")


def draw_qat(report: Any, path: Path, max_drop: float | None) -> str | None:
    """The report's figure of the quantization-aware fine-tuning (report/plots.py: PLOTS)."""
    return _report_curve(report.qat, path, "quantization-aware fine-tuning")
