"""Hardware efficiency in report.md, the console and `edgekit bench`: achieved GOP/s at each variant's best batch
against the host's peak for its precision (the figures come from edgekit/efficiency.py)."""

from __future__ import annotations

from typing import Any


def _num(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def efficiency_cells(e: dict[str, Any]) -> dict[str, str]:
    """One variant's figures as display strings: GOP/s at the best batch, the peak and the share of it."""
    share = e.get("share_of_peak")
    return {"ops / inference": f"{e['ops_per_inference'] / 1e9:.3g} G", "best batch": _num(e.get("best_batch"), "d"),
            "GOP/s": _num(e.get("gops"), ".1f"), "peak GOP/s": _num(e.get("peak_gops"), ".1f"),
            "% of peak": "n/a" if share is None else f"{share:.0%}"}


def efficiency_line(name: str, e: dict[str, Any]) -> str:
    """'int8: 183.5 GOP/s at batch 8 = 59% of the INT8 peak (311.0 GOP/s)': the console's and bench's line."""
    c = efficiency_cells(e)
    share = f" = {c['% of peak']} of the {e['precision'].upper()} peak ({c['peak GOP/s']} GOP/s)" \
        if e.get("share_of_peak") is not None else f"; % of peak n/a: {e['peak_basis']}"
    return f"{name}: {c['GOP/s']} GOP/s at batch {c['best batch']}{share}"


def basis_lines(efficiencies: list[dict[str, Any]]) -> list[str]:
    """How each peak that applies was derived, once per precision."""
    seen: dict[str, str] = {}
    for e in efficiencies:
        seen.setdefault(e["precision"], e["peak_basis"])
    return list(seen.values())


def render_efficiency_markdown(report: Any) -> list[str]:
    """## Hardware efficiency: one row per timed variant, then how the peaks were derived."""
    rows = report.efficiency
    variants = {v.name: v for v in report.variants}
    headers = ["variant", "precision", "ops / inference", "best batch", "GOP/s", "peak GOP/s", "% of peak"]
    lines = ["", "## Hardware efficiency", "",
             ("ops = 2 x MACs of the shipped artifact's graph; GOP/s = ops x items/s at the variant's best measured "
              "batch (items/s = batch / p50); the peak is the host's for the precision the variant computes in."), "",
             "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for name, e in rows.items():
        cells = efficiency_cells(e)
        lines.append(f"| {name} | {variants[name].precision} ({e['precision']}) | "
                     + " | ".join(cells.values()) + " |")
    lines += [""] + [f"- {line}" for line in basis_lines(list(rows.values()))]
    lines += [f"- {name}: {e['note']}" for name, e in rows.items() if e.get("note")]
    return lines


def efficiency_summary(report: Any) -> list[str]:
    """The console's lines (compress, summary()): each timed variant's GOP/s and share of the peak."""
    rows = report.efficiency
    if not rows:
        return []
    return ["Hardware efficiency (best batch; report.md says how the peak was derived): "
            + "; ".join(efficiency_line(name, e) for name, e in rows.items())]
