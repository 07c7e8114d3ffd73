"""Terminal rendering: rich progress bars and tables. Only the CLI imports this."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgekit.report.efficiency import efficiency_summary
from edgekit.report.energy import energy_summary
from edgekit.report.markdown import COMPACT_COLUMNS, column_headers, host_line, int8_lines, metric_of, variant_row
from edgekit.progress import RichProgress  # noqa: F401  (the CLI's commands import it from here)
from edgekit.report.schema import Report
from edgekit.report.speed import UNSTABLE_MARK
from edgekit.report.text import SHORT_HEADERS, table_title

console = Console(stderr=True)
# piped output (CI logs, `| tee`) would otherwise be squeezed into 80 columns
out = Console() if Console().is_terminal else Console(width=120)


STATUS_STYLE = {"accepted": "green", "rejected": "bold red", "pending": "yellow"}




def report_table(report: Report) -> Table:
    # the terminal gets the columns that fit 80 characters; report.md has them all
    rows = [{k: r[k] for k in COMPACT_COLUMNS} for r in map(variant_row, report.variants)]
    table = Table(title=table_title(report), title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    rename = column_headers(report.variants)
    for header in rows[0] if rows else []:
        table.add_column(SHORT_HEADERS.get(rename.get(header, header), rename.get(header, header)), no_wrap=True,
                         justify="left" if header in ("variant", "precision", "status") else "right")
    for v, row in zip(report.variants, rows):
        cells = list(row.values())
        cells[-1] = f"[{STATUS_STYLE.get(v.status, '')}]{cells[-1]}[/]"
        if v.name == report.recommended:
            cells[0] = f"[bold]{cells[0]}*[/]"
        table.add_row(*cells)
    return table


def print_report(report: Report) -> None:
    ref = report.reference
    out.print(report_table(report))
    if any(s.get("unstable") for v in report.variants for s in v.latency_ms.values()):
        out.print(f"{UNSTABLE_MARK} after the p99: unstable timing (see the warnings); items/s is batch / p50.",
                  markup=False, highlight=False)
    if ref.get("accuracy") is not None:
        out.print(f"Original ({ref['runtime']}): {metric_of(ref)} {ref['accuracy']:.2f}% on {ref['samples']} held-out samples. "
                  "Latency: batch 1 on the shipped artifact.")
    precisions = sorted({v.runtime["precision"] for v in report.variants if "precision" in v.runtime})
    if precisions:
        out.print(f"{report.backend} ran float layers in {', '.join(precisions)} while timed "
                  "(parity is always checked in f32).")
    if report.host:
        out.print(host_line(report).replace("**", ""), markup=False, highlight=False)
    for v in report.variants:
        for line in int8_lines(v.quantization)[:2]:
            out.print(f"{v.name}: {line}", markup=False, highlight=False)
        if v.status == "rejected":
            out.print(f"[bold red]{v.name} rejected:[/] {v.reason}")
        elif v.status == "pending":
            out.print(f"[yellow]{v.name} pending:[/] {v.reason}")
    out.print(f"Recommended (*): [bold]{report.recommended or 'none'}[/] — {report.recommended_reason}")
    for line in [*efficiency_summary(report), *energy_summary(report.variants)]:
        out.print(line, markup=False, highlight=False)
    for w in report.warnings:
        out.print(f"[yellow]warning:[/] {w}")
    out.print(f"Bundle: {report.out_dir}  (report.md, report.html, plots/, report.json, manifest.json, deploy/)")


def key_value_table(title: str, items: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in items.items():
        table.add_row(k, str(v))
    return table


FILE_STYLE = {"ok": "green", "changed": "bold red", "missing": "bold red", "unlisted": "bold red", "device": "dim"}


def bundle_check_table(check: Any) -> Table:
    """`edgekit verify`: every file with its status against manifest.json, then the deployed model's parity."""
    listed = [f for f in check.files if f.status in ("ok", "changed", "missing")]
    matching = sum(f.status == "ok" for f in listed)
    table = Table(title=f"{check.bundle} · {matching} of {len(listed)} files match manifest.json",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for header in ("file", "status", "detail"):
        table.add_column(header, overflow="fold")
    for f in check.files:
        table.add_row(escape(f.path), f"[{FILE_STYLE.get(f.status, '')}]{f.status}[/]", escape(f.detail))
    parity = check.parity
    style = {"ok": "green", "failed": "bold red"}.get(parity.get("status", ""), "yellow")
    table.add_row("parity on deploy/sample.npz", f"[{style}]{parity.get('status', '-')}[/]",
                  escape(parity.get("detail", "")))
    return table
