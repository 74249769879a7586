"""The review pack as PDF: WeasyPrint lays out the same HTML document (its print stylesheet, the
inline SVG charts) on A4 pages.

WeasyPrint needs system libraries (Pango, HarfBuzz, fonts). It is imported only here and only
when a PDF is asked for, so the rest of refdesk runs without them; when they are missing, the
PDF export stops with a message naming the Debian packages to install.
"""

from __future__ import annotations

from refdesk.core.errors import ApplicationError
from refdesk.reports.document import Report
from refdesk.reports.html import render_html

DEBIAN_PACKAGES = (
    "libpango-1.0-0",
    "libpangoft2-1.0-0",
    "libharfbuzz-subset0",
    "fonts-dejavu-core",
)


class PdfUnavailable(ApplicationError):
    """WeasyPrint or the system libraries it loads are not installed."""

    code = "pdf_unavailable"
    status = 503


def _weasyprint():
    try:
        import weasyprint  # lazy: importing it loads Pango
    except (ImportError, OSError) as error:
        raise PdfUnavailable(
            "The PDF cannot be made: WeasyPrint or the system libraries it needs are missing "
            f"({type(error).__name__}). Install WeasyPrint (pip install 'weasyprint>=63') and, "
            f"on Debian or Ubuntu: apt-get install {' '.join(DEBIAN_PACKAGES)}. "
            "The HTML, CSV and XLSX formats work without it."
        ) from error
    return weasyprint


def render_pdf(report: Report, *, html: str | None = None) -> bytes:
    """The PDF of ``render_html(report)`` (or of ``html``, that page already rendered: the
    pack renders its charts once for both). The document holds everything it shows (no
    address to fetch), so the base URL is never used."""
    weasyprint = _weasyprint()
    page = render_html(report) if html is None else html
    return weasyprint.HTML(string=page, base_url=None).write_pdf()
