"""Write the report's tables to one XLSX workbook: one tidy sheet per table.

Each sheet has one header row with the frame's English column names (so ``pd.read_excel`` gives
back the same columns) and one record per row. openpyxl stamps the save time into
``docProps/core.xml`` and into every zip entry; both are rewritten to a fixed date so the same
context gives the same bytes.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from planwatch.report.context import ReportContext

FIXED_TIME = datetime(1980, 1, 1)  # the zip epoch: the conventional "no date" of reproducible builds
HEADER_FILL = PatternFill("solid", fgColor="ECEFF1")
LEVEL_FILLS = {
    "green": PatternFill("solid", fgColor="C8E6C9"),
    "yellow": PatternFill("solid", fgColor="FFF59D"),
    "red": PatternFill("solid", fgColor="FFCDD2"),
    "grey": PatternFill("solid", fgColor="E0E0E0"),
}
MAX_WIDTH = 60  # characters; long quotes wrap in the cell instead


def sheets(ctx: ReportContext) -> dict[str, pd.DataFrame]:
    """Sheet name -> frame, in workbook order."""
    return {
        "指标目标": ctx.targets,
        "观测数据": ctx.observations,
        "评估结果": ctx.evaluation,
        "分类汇总": ctx.rollup,
    }


def _cell_value(v):
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item"):  # numpy scalar
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _display_width(text: str) -> int:
    """Characters a column needs: CJK characters are two wide."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _write_sheet(ws, frame: pd.DataFrame) -> None:
    columns = [str(c) for c in frame.columns]
    ws.append(columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
    level_col = columns.index("level") + 1 if "level" in columns else None
    for row in frame.itertuples(index=False, name=None):
        ws.append([_cell_value(v) for v in row])
        if level_col is not None:
            cell = ws.cell(row=ws.max_row, column=level_col)
            if cell.value in LEVEL_FILLS:
                cell.fill = LEVEL_FILLS[cell.value]
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(ws.max_row, 1)}"
    for i, col in enumerate(columns, start=1):
        texts = [col] + ["" if v is None else str(v) for v in (_cell_value(x) for x in frame.iloc[:, i - 1])]
        width = min(MAX_WIDTH, max(_display_width(t.split("\n")[0]) for t in texts) + 2)
        ws.column_dimensions[get_column_letter(i)].width = max(width, 6)
        if width >= MAX_WIDTH:
            for cell in ws[get_column_letter(i)][1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")


def _fix_timestamps(data: bytes) -> bytes:
    """Rewrite the zip with fixed entry times, sorted entries and a fixed core.xml date."""
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = content.decode("utf-8")
                text = re.sub(
                    r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)", rf"\g<1>{stamp}\g<3>", text
                )
                content = text.encode("utf-8")
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, content, compresslevel=6)
    return out.getvalue()


def write_xlsx(ctx: ReportContext, path: Path) -> Path:
    """Write the sheets of :func:`sheets` to ``path`` (byte-identical for the same context)."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, frame in sheets(ctx).items():
        _write_sheet(wb.create_sheet(name), frame)
    wb.properties.creator = "planwatch"
    wb.properties.title = f"{ctx.plan_title} {ctx.year}年度城市体检评估"
    wb.properties.created = FIXED_TIME
    buf = io.BytesIO()
    wb.save(buf)
    Path(path).write_bytes(_fix_timestamps(buf.getvalue()))
    return Path(path)
