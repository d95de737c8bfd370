"""The PDF keeps every table column on the page.

weasyprint writes a table wider than the page into the PDF and the page clips it: the text is in
the file but off the paper, so a text extraction would not notice. These tests read weasyprint's
layout (the boxes the PDF is drawn from) and check where each column header lands.
"""

from __future__ import annotations

import pytest

from raikit import reports
from tests.reports.conftest import build_full_evidence

# The per-group table of the fixture, as a reader of the printed page sees its header.
GROUP_TABLE_HEADERS = [
    "Group",
    "n",
    "Actual positives",
    "Selection rate",
    "TPR",
    "FPR",
    "FNR",
    "Precision",
    "Accuracy",
]


@pytest.fixture(scope="module")
def pages():
    """(page, content right edge) of the full fixture report laid out for print."""
    from raikit.models.errors import ConfigError
    from raikit.reports._pdf import layout

    try:
        document = layout(reports.render(build_full_evidence()))
    except ConfigError as exc:  # names the [pdf] extra and the pango packages to install
        pytest.skip(str(exc))
    return [(page._page_box, page.width - page._page_box.margin_right) for page in document.pages]


def _boxes(box):
    yield box
    for child in getattr(box, "children", None) or []:
        yield from _boxes(child)


def _tables(pages, css_class: str | None = None):
    """(table box, content right edge) of every table on every page, or those of one class."""
    for page_box, right in pages:
        for box in _boxes(page_box):
            if type(box).__name__ == "TableBox" and css_class in (None, box.element.get("class")):
                yield box, right


def _text(box) -> str:
    """The text weasyprint laid out inside a box (what the page shows), spaces normalised."""
    words = [b.text for b in _boxes(box) if type(b).__name__ == "TextBox"]
    return " ".join(" ".join(words).split())


def _header(table) -> list:
    """The first header cells of ``table``, as many as the fairness group table has."""
    cells = [
        cell
        for cell in _boxes(table)
        if type(cell).__name__ == "TableCellBox" and cell.element.tag == "th"
    ]
    return cells[: len(GROUP_TABLE_HEADERS)]


def test_per_group_table_prints_every_column_on_the_page(pages):
    tables = [
        (table, right)
        for table, right in _tables(pages, "groups")
        if [_text(cell) for cell in _header(table)] == GROUP_TABLE_HEADERS
    ]
    assert len(tables) == 3  # sex, race and sex × race
    for table, right in tables:
        header = _header(table)
        for cell in header:
            assert cell.position_x + cell.margin_width() <= right + 0.5, (
                f"column {_text(cell)!r} ends at {cell.position_x + cell.margin_width():.0f}px, "
                f"past the page's printable width ({right:.0f}px)"
            )


def test_no_table_is_wider_than_the_page(pages):
    tables = list(_tables(pages))
    assert len(tables) > 10
    too_wide = [
        (table.element.get("class"), round(table.position_x + table.margin_width()))
        for table, right in tables
        if table.position_x + table.margin_width() > right + 0.5
    ]
    assert too_wide == []


@pytest.mark.parametrize(
    ("failure", "names"),
    [
        (ImportError("No module named 'weasyprint'"), "pip install 'raikit[pdf]'"),
        (OSError("cannot load library 'libgobject-2.0-0'"), "apt-get install libpango-1.0-0"),
    ],
)
def test_missing_weasyprint_or_pango_is_one_line_naming_what_to_install(
    monkeypatch, failure, names
):
    import builtins

    from raikit.models.errors import ConfigError
    from raikit.reports._pdf import require_weasyprint

    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "weasyprint":
            raise failure
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    with pytest.raises(ConfigError) as info:
        require_weasyprint()
    message = str(info.value)
    assert names in message and "\n" not in message
    assert ("weasyprint could not load" in message) == isinstance(failure, OSError)
