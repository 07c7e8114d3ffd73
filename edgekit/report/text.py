"""A Report as plain text for the Python API (``report.summary()``, ``repr(report)``): the table the CLI prints,
without colour, numbers rounded as shown."""

from __future__ import annotations

from edgekit.report.efficiency import efficiency_summary
from edgekit.report.markdown import COMPACT_COLUMNS, column_headers, measured_on_target, variant_row
from edgekit.report.schema import Report

SHORT_HEADERS = {"precision": "prec", "size": "size", "accuracy %": "acc %", "drop pts": "drop",
                 "top-1 agree": "agree", "INT8 nodes": "INT8"}
LEFT = ("variant", "precision", "status")


def table_title(report: Report) -> str:
    """'edgekit · profile · model · host ISA (target ISA)': the title of the terminal table and of summary()."""
    host = f" · host {report.host['isa']}" if report.host else ""
    if not measured_on_target(report):
        host += f" (target {report.target_isa})"
    return f"edgekit · {report.profile} · {report.model.get('source', '')}{host}"


def summary(report: Report) -> str:
    rows = [[r[k] for k in COMPACT_COLUMNS] for r in map(variant_row, report.variants)]
    for v, row in zip(report.variants, rows):
        if v.name == report.recommended:
            row[0] += "*"
    rename = column_headers(report.variants)
    headers = [SHORT_HEADERS.get(rename.get(h, h), rename.get(h, h)) for h in COMPACT_COLUMNS]
    widths = [max(len(c) for c in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if h in LEFT else c.rjust(w)
                         for c, w, h in zip(cells, widths, COMPACT_COLUMNS)).rstrip()

    lines = [table_title(report), "", line(headers), "  ".join("-" * w for w in widths), *map(line, rows), ""]
    lines.append(f"Recommended (*): {report.recommended or 'none'} — {report.recommended_reason}")
    lines += [f"{v.name} {v.status}: {v.reason}" for v in report.variants if v.status != "accepted"]
    lines += efficiency_summary(report)
    lines += [f"warning: {w}" for w in report.warnings]
    if report.out_dir:
        lines.append(f"Bundle: {report.out_dir}")
    return "\n".join(lines)
