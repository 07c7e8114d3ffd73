"""report.html: what report.md says, as one self-contained page (inline CSS, no script; the figures are the PNGs
under plots/, referenced relatively), rendered from templates/report.html.j2 by Jinja2 with autoescaping on.
write_report_files() is the one writer of a bundle's report.json, report.md and report.html (compress, sweep,
build-engine)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edgekit.report.blocks import Span, parse, plain
from edgekit.report.markdown import render_markdown
from edgekit.report.schema import Report

STATUSES = ("accepted", "rejected", "pending", "no-effect")
NUMBER = re.compile(r"^[~+-]?\d[\d,.]*(e[+-]?\d+)?(/\d+)?(\s|$)")  # a figure, maybe with its unit or a mark


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("edgekit.report", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def cell_class(spans: list[Span]) -> str:
    """A table cell's CSS class: its status (coloured), or "num" (right-aligned) for a number."""
    text = plain(spans).strip()
    if text in STATUSES:
        return f"status-{text}"
    return "num" if (NUMBER.match(text) and len(text) <= 24) or text in ("n/a", "-") else ""


def shown(root: Path | None, src: str) -> bool:
    """Whether an image is put on the page: a relative path inside the bundle (no scheme, no ..) that exists."""
    if ":" in src or src.startswith(("/", "\\")) or ".." in Path(src).parts:
        return False
    return root is None or (root / src).is_file()


def render_html(report: Report, root: Path | None = None, markdown: str | None = None) -> str:
    """The page for ``report`` (``markdown``: its report.md when already rendered). With ``root`` (the bundle), an
    image whose file is not there is replaced by a note."""
    from edgekit import __version__

    blocks = parse(render_markdown(report) if markdown is None else markdown)
    title = next((plain(b.spans) for b in blocks if b.kind == "heading"), "edgekit report")
    toc = [b for b in blocks if b.kind == "heading" and b.level == 2]
    return _environment().get_template("report.html.j2").render(
        title=title, blocks=blocks, toc=toc, version=__version__, cell_class=cell_class,
        shown=lambda src: shown(root, src))


def write_report_files(root: Path, report: Report) -> None:
    """report.json, report.md and report.html into ``root`` (draw the figures first: report/plots.py)."""
    report.write_json(root / "report.json")
    markdown = render_markdown(report)
    (root / "report.md").write_text(markdown, encoding="utf-8")
    (root / "report.html").write_text(render_html(report, root, markdown), encoding="utf-8")
