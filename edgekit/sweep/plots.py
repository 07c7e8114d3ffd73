"""The sweep's figures (matplotlib, headless, imported only when a report is written)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.report.schema import VariantResult
from edgekit.sweep.pareto import p50

COLORS = {"accepted": "tab:green", "rejected": "tab:red"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless: never open a window on a build box
    import matplotlib.pyplot as plt

    return plt


def _scatter(ax: Any, xs: list[float], ys: list[float], variants: list[VariantResult], front: list[str],
             chosen: str | None) -> None:
    for x, y, v in zip(xs, ys, variants):
        ax.scatter([x], [y], color=COLORS.get(v.status, "grey"), s=90 if v.name == chosen else 40,
                   marker="*" if v.name == chosen else "o", zorder=3, edgecolors="black" if v.name in front else "none")
        ax.annotate(v.name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    pts = sorted((x, y) for x, y, v in zip(xs, ys, variants) if v.name in front)
    if len(pts) > 1:
        ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", color="black", linewidth=0.8,
                linestyle="--", label="Pareto front")
        ax.legend(loc="lower right", fontsize=7)


def write_plots(root: Path, variants: list[VariantResult], front: list[str], chosen: str | None,
                reference_accuracy: float | None, max_drop: float) -> dict[str, str]:
    """plots/*.png under ``root``; returns {name: relative path} of the figures that had data."""
    plt = _pyplot()
    (root / "plots").mkdir(exist_ok=True)
    written: dict[str, str] = {}
    timed = [v for v in variants if p50(v) is not None and v.accuracy is not None]
    if timed:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        _scatter(ax, [p50(v) for v in timed], [v.accuracy for v in timed], timed, front, chosen)
        if reference_accuracy is not None:
            ax.axhline(reference_accuracy - max_drop, color="tab:red", linewidth=0.8, linestyle=":",
                       label=f"budget ({max_drop:g} points below the original)")
            ax.legend(loc="lower right", fontsize=7)
        ax.set_xlabel("p50 latency, ms (first batch size, target runtime)")
        ax.set_ylabel("top-1 accuracy %")
        ax.set_title("accuracy vs latency (green accepted, red rejected, * chosen, black edge = Pareto)", fontsize=8)
        written["accuracy_vs_latency"] = _save(fig, plt, root / "plots" / "accuracy_vs_latency.png", root)
    energy = [v for v in timed if (v.energy or {}).get("joules_per_inference") is not None]
    if energy:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        _scatter(ax, [p50(v) for v in energy], [v.energy["joules_per_inference"] for v in energy], energy, [], chosen)
        ax.set_xlabel("p50 latency, ms")
        ax.set_ylabel("joules per inference")
        ax.set_title(f"energy vs latency (meter: {energy[0].energy.get('meter')})", fontsize=8)
        written["energy_vs_latency"] = _save(fig, plt, root / "plots" / "energy_vs_latency.png", root)
    if variants:
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(variants) + 1.2))
        names = [v.name for v in variants]
        ax.barh(names, [v.size_bytes / 2**20 for v in variants],
                color=[COLORS.get(v.status, "grey") for v in variants])
        ax.invert_yaxis()
        ax.set_xlabel("artifact size, MiB")
        ax.set_title("size per variant (green accepted, red rejected)", fontsize=8)
        written["size"] = _save(fig, plt, root / "plots" / "size.png", root)
    return written


def _save(fig: Any, plt: Any, path: Path, root: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path.relative_to(root))
