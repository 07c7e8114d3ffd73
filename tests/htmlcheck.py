"""report.html read as a browser reads it: html5lib's HTML5 parser in strict mode (any parse error, such as an
unclosed or stray tag, fails), then the checks every report page must pass."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

import html5lib

PNG = b"\x89PNG\r\n\x1a\n"


def parse(text: str) -> Element:
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)


def text(element: Element) -> str:
    """The element's text as shown: tags dropped, whitespace collapsed."""
    return " ".join("".join(element.itertext()).split())


def tables(doc: Element) -> list[tuple[list[str], list[list[str]]]]:
    """(header, rows) of every table, as cell texts."""
    found = []
    for table in doc.iter("table"):
        header = [text(th) for th in table.iter("th")]
        rows = [[text(td) for td in tr.iter("td")] for tr in table.find("tbody").iter("tr")]
        found.append((header, rows))
    return found


def check_page(root: Path, variants: list[str]) -> Element:
    """The checks every report page passes: strict HTML5, one title, no script and no remote resource, the variants
    table holds each variant once, every image is a PNG in the bundle (relative path), every figure's caption says
    what it shows (not the file's stem). Returns the parsed page."""
    page = (root / "report.html").read_text(encoding="utf-8")
    doc = parse(page)
    assert len(list(doc.iter("h1"))) == 1 and doc.find("head/title") is not None
    assert list(doc.iter("script")) == [] and "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page and "data:" not in page
    header, rows = tables(doc)[0]
    assert header[0] == "variant" and "status" in header and [r[0] for r in rows] == variants
    for img in doc.iter("img"):
        src = img.get("src")
        assert not Path(src).is_absolute() and ".." not in Path(src).parts, src
        assert (root / src).read_bytes().startswith(PNG), src
    for figure in doc.iter("figure"):
        img, caption = figure.find("img"), text(figure.find("figcaption"))
        stem = Path(img.get("src")).stem
        assert caption.lower() not in (stem, stem.replace("_", " ")) and "_" not in caption, caption
        assert len(caption.split()) >= 8 and img.get("alt") and img.get("alt") in caption, caption
    return doc
