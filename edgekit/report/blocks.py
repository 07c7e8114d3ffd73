"""report.md as data, for report.html: the Markdown that report/markdown.py and the feature sections write is a small
subset, read back here into blocks the HTML template renders (so report.html holds exactly what report.md holds,
and no section needs a second renderer).

The subset: ``#``..``####`` headings; paragraphs (consecutive lines joined); ``- `` bullets, nested by two spaces;
pipe tables with a ``|---|`` line under the header; a line that is only an image ``![title](path)``, optionally
followed by an ``*italic*`` caption line (a figure); inline ``**strong**``, `` `code` `` and images. Everything else
is text: the template escapes it (a model named ``<script>`` is shown, never run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

INLINE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)|\*\*(?P<strong>.+?)\*\*|`(?P<code>[^`]+)`")
HEADING = re.compile(r"^(#{1,4}) (.*)$")
SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")
FIGURE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)$")
CAPTION = re.compile(r"^\*(?!\*)(?P<text>.+)(?<!\*)\*$")
BULLET = re.compile(r"^( *)- (.*)$")


@dataclass(frozen=True)
class Span:
    kind: str  # text | strong | code | image
    text: str  # for an image: its alt text
    src: str = ""


@dataclass
class Item:
    spans: list[Span]
    children: list[Item] = field(default_factory=list)


@dataclass
class Block:
    kind: str  # heading | paragraph | list | table | figure
    spans: list[Span] = field(default_factory=list)  # heading, paragraph, figure caption
    level: int = 0  # heading
    slug: str = ""  # heading: its id in the page
    items: list[Item] = field(default_factory=list)  # list
    header: list[list[Span]] = field(default_factory=list)  # table
    rows: list[list[list[Span]]] = field(default_factory=list)  # table
    image: Span | None = None  # figure


def spans(text: str) -> list[Span]:
    """Inline Markdown of one line as spans."""
    out, at = [], 0
    for m in INLINE.finditer(text):
        if m.start() > at:
            out.append(Span("text", text[at:m.start()]))
        if m.group("src") is not None:
            out.append(Span("image", m.group("alt"), m.group("src")))
        else:
            kind = "strong" if m.group("strong") is not None else "code"
            out.append(Span(kind, m.group(kind)))
        at = m.end()
    if at < len(text):
        out.append(Span("text", text[at:]))
    return out


def plain(items: list[Span]) -> str:
    """The text of spans, markup dropped."""
    return "".join(s.text for s in items)


def _cells(line: str) -> list[list[Span]]:
    return [spans(c.strip()) for c in line.strip().strip("|").split("|")]


def _table_starts(lines: list[str], i: int) -> bool:
    return lines[i].startswith("|") and i + 1 < len(lines) and bool(SEPARATOR.match(lines[i + 1]))


def _starts_block(lines: list[str], i: int) -> bool:
    line = lines[i]
    return (not line.strip() or bool(HEADING.match(line) or BULLET.match(line) or FIGURE.match(line.strip()))
            or _table_starts(lines, i))


def _bullets(lines: list[str], i: int) -> tuple[Block, int]:
    """Consecutive bullet lines; two more spaces of indent nest an item under the one before."""
    top: list[Item] = []
    stack: list[tuple[int, list[Item]]] = [(-1, top)]
    while i < len(lines) and (m := BULLET.match(lines[i])):
        depth = len(m.group(1)) // 2
        while len(stack) > 1 and stack[-1][0] >= depth:
            stack.pop()
        item = Item(spans(m.group(2)))
        stack[-1][1].append(item)
        stack.append((depth, item.children))
        i += 1
    return Block("list", items=top), i


def _table(lines: list[str], i: int) -> tuple[Block, int]:
    header, i = _cells(lines[i]), i + 2
    rows = []
    while i < len(lines) and lines[i].startswith("|"):
        rows.append(_cells(lines[i]))
        i += 1
    return Block("table", header=header, rows=rows), i


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def parse(markdown: str) -> list[Block]:
    """The blocks of a report.md, in order."""
    lines, blocks, slugs, i = markdown.splitlines(), [], set(), 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif m := HEADING.match(line):
            blocks.append(Block("heading", spans(m.group(2)), level=len(m.group(1)), slug=_slug(m.group(2), slugs)))
            i += 1
        elif BULLET.match(line):
            block, i = _bullets(lines, i)
            blocks.append(block)
        elif _table_starts(lines, i):
            block, i = _table(lines, i)
            blocks.append(block)
        elif m := FIGURE.match(line.strip()):
            caption = CAPTION.match(lines[i + 1].strip()) if i + 1 < len(lines) else None
            blocks.append(Block("figure", spans(caption.group("text")) if caption else [],
                                image=Span("image", m.group("alt"), m.group("src"))))
            i += 2 if caption else 1
        else:
            start = i
            i += 1
            while i < len(lines) and not _starts_block(lines, i):
                i += 1
            blocks.append(Block("paragraph", spans(" ".join(lines[start:i]))))
    return blocks
