"""The annual check-up report (城市体检评估报告): HTML, PDF, DOCX and XLSX from one :class:`ReportContext`.

``write_report(ctx, out_dir)`` renders the HTML once (Jinja2, inline SVG charts), prints that same
HTML to PDF (WeasyPrint), writes an editable DOCX from the same view (python-docx) and the tables to
XLSX (openpyxl). The same context gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

from planwatch.report.context import LEVELS, ReportContext, targets_frame
from planwatch.report.docx import write_docx
from planwatch.report.html import render_html
from planwatch.report.pdf import write_pdf
from planwatch.report.xlsx import write_xlsx

__all__ = ["LEVELS", "ReportContext", "render_html", "targets_frame", "write_files", "write_report"]


def write_report(ctx: ReportContext, out_dir: Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.pdf``, ``report.docx`` and ``report.xlsx`` into ``out_dir``
    (created if missing).

    Returns ``{"html": path, "pdf": path, "docx": path, "xlsx": path}``. Raises ``ValueError`` naming
    the frame when the context lacks a column the report needs.
    """
    html = render_html(ctx)  # checks the context first: a bad context writes nothing
    return write_files(out_dir, html, lambda path: write_docx(ctx, path), lambda path: write_xlsx(ctx, path))


def write_files(out_dir: Path, html: str, write_docx_to, write_xlsx_to) -> dict[str, Path]:
    """The four files of a report in ``out_dir`` (created if missing): the HTML as given, the PDF
    printed from it, and the DOCX and XLSX by the given writers (each called with its path)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "pdf": out / "report.pdf", "docx": out / "report.docx", "xlsx": out / "report.xlsx"}
    paths["html"].write_text(html, encoding="utf-8", newline="\n")
    write_pdf(html, paths["pdf"])
    write_docx_to(paths["docx"])
    write_xlsx_to(paths["xlsx"])
    return paths
