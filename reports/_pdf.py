"""HTML report -> PDF with weasyprint (the optional ``raikit[pdf]`` extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from raikit.audit.evidence import ConfigError

if TYPE_CHECKING:
    import weasyprint

MISSING = (
    "PDF output needs weasyprint: pip install 'raikit[pdf]' "
    "(and the pango library, e.g. apt-get install libpango-1.0-0 libpangoft2-1.0-0)"
)


def require_weasyprint() -> None:
    """Raise ``ConfigError`` with one line naming the ``[pdf]`` extra when weasyprint is missing."""
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        # OSError: the wheel is there but the pango shared library is not.
        raise ConfigError(MISSING) from None


def layout(html: str) -> weasyprint.Document:
    """Lay the self-contained HTML report out on A4 pages, with the report's print styles."""
    require_weasyprint()
    import weasyprint

    # The report needs nothing outside itself: only data: URIs may be fetched, so a hostile
    # string cannot make the PDF step fetch a URL or read a local file.
    if hasattr(weasyprint, "URLFetcher"):  # weasyprint >= 66
        fetcher = weasyprint.URLFetcher(allowed_protocols={"data"})
    else:

        def fetcher(url: str, *args: object, **kwargs: object) -> dict:
            if not url.startswith("data:"):
                raise ValueError(f"refusing to fetch {url[:40]!r} while printing the report")
            return weasyprint.default_url_fetcher(url, *args, **kwargs)

    return weasyprint.HTML(string=html, url_fetcher=fetcher).render()


def html_to_pdf(html: str) -> bytes:
    """Print the self-contained HTML report to PDF bytes."""
    return layout(html).write_pdf()
