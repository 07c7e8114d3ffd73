"""The loss / accuracy figure of a distillation run (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_plot(history: list[dict[str, Any]], path: Path) -> str | None:
    """Write ``path`` (PNG); returns why not when it cannot (matplotlib missing, nothing to plot)."""
    rows = [r for r in history if r.get("loss") is not None]
    if not rows:
        return "no training epochs to plot"
    try:
        import matplotlib

        matplotlib.use("Agg")  # headless: never open a window on a build box
        import matplotlib.pyplot as plt
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
    ax.set_title("distillation")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
