"""Print the report's HTML to PDF with WeasyPrint (A4, page numbers, Noto CJK fonts embedded).

The HTML carries no creation date, so the PDF has none either: the same HTML prints to the same
bytes. Nothing is fetched: the HTML is self-contained and only ``data:`` URLs are allowed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from weasyprint import HTML, URLFetcher

# WeasyPrint logs every unsupported CSS property at WARNING; the report's CSS is print-tested.
logging.getLogger("weasyprint").setLevel(logging.ERROR)


def write_pdf(html: str, path: Path) -> Path:
    """Write ``html`` (the rendered report) as a PDF at ``path``; fonts are subset and embedded."""
    fetcher = URLFetcher(allowed_protocols={"data"})
    document = HTML(string=html, base_url=None, url_fetcher=fetcher).render()
    # pdf_identifier=False: no /ID derived from time or randomness.
    document.write_pdf(path, pdf_identifier=False, uncompressed_pdf=False)
    return path
