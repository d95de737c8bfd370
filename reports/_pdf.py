"""HTML report -> PDF with weasyprint (the optional ``raikit[pdf]`` extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from raikit.audit.evidence import ConfigError

if TYPE_CHECKING:
    import weasyprint

PANGO = "apt-get install libpango-1.0-0 libpangoft2-1.0-0, or your system's pango package"
NO_WEASYPRINT = f"PDF output needs weasyprint: pip install 'raikit[pdf]' (and pango: {PANGO})"
NO_PANGO = f"PDF output needs the pango library, which weasyprint could not load: {PANGO}"


def require_weasyprint() -> None:
    """Raise ``ConfigError`` with one line naming what to install when weasyprint cannot load."""
    try:
        import weasyprint  # noqa: F401
    except ImportError:
        raise ConfigError(NO_WEASYPRINT) from None
    except OSError:
        # The wheel is there but the pango shared library is not.
        raise ConfigError(NO_PANGO) from None


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
