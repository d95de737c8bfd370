"""Small HTML readers for the report tests (standard library only)."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: list[dict] = []
        self._table: dict | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._table = {"caption": "", "rows": [], "row_classes": []}
        elif tag == "caption":
            self._caption = []
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table["row_classes"].append(dict(attrs).get("class") or "")
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None
        elif tag == "caption" and self._caption is not None:
            self._table["caption"] = _squash("".join(self._caption))
            self._caption = None
        elif tag == "tr" and self._row is not None:
            self._table["rows"].append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(_squash("".join(self._cell)))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        for sink in (self._cell, self._caption):
            if sink is not None:
                sink.append(data)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def read(html: str) -> _Reader:
    """Parse ``html``: its tags with attributes, its tables (caption, rows of cell texts)."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader


def visible_text(html: str) -> str:
    """The document's text with entities decoded and whitespace collapsed."""
    return _squash(" ".join(read(html).text))


def table(html: str, caption_start: str) -> dict:
    """The table captioned exactly ``caption_start``, else the one whose caption starts so."""
    tables = read(html).tables
    found = [t for t in tables if t["caption"] == caption_start] or [
        t for t in tables if t["caption"].startswith(caption_start)
    ]
    assert len(found) == 1, f"expected one table captioned {caption_start!r}, got {len(found)}"
    return found[0]
