"""The 问题清单 workbook a bureau circulates: one sheet, Chinese headers, overdue rows in red.

:func:`write_register_xlsx` writes the register view (:func:`planwatch.findings.view.register_view`)
as the sheet 问题清单: a title area (the plan, the check date overdue is computed on, the counts, and
what 示意 means when a row carries it), then one row per finding, the open ones first in the order of a
问题清单 (:func:`~planwatch.findings.view.open_findings`: overdue first, then severity, unit and id),
the closed ones after them. :func:`write_register_sheet` lays the same sheet into any worksheet: the
check-up report's workbook uses it for its own 问题清单 sheet.

Cells are written as the report's workbook writes them (:mod:`planwatch.report.xlsx`): every string
as text, never a formula; dates as YYYY-MM-DD text; the same header fill; fixed save times, so the
same register gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from planwatch.findings.machine import CLOSED
from planwatch.findings.view import REGISTER_COLUMNS, SEVERITY_ORDER, open_findings
from planwatch.report.context import LEVELS
from planwatch.report.xlsx import HEADER_FILL, _put, save_workbook
from planwatch.store.base import SYNTHETIC_MARK

SHEET = "问题清单"
# Excel on a Chinese Windows has 微软雅黑 everywhere; other spreadsheets substitute their CJK sans.
FONT_NAME = "微软雅黑"
ILLUSTRATIVE_MARK = "示意"
OVERDUE_FILL = PatternFill("solid", fgColor="FDE0E0")  # light red: the whole row of an overdue finding
OVERDUE_INK = LEVELS["red"][1].lstrip("#").upper()  # the report's red
GRID = Side(style="thin", color="CFD8DC")  # the report tables' rule colour
BORDER = Border(left=GRID, right=GRID, top=GRID, bottom=GRID)
CLOSED_HOW_ZH = {"verify": "已销号", "accept_risk": "风险接受", "withdraw": "已撤销"}


@dataclass(frozen=True)
class RegisterColumn:
    """One column of the 问题清单: its header, width (characters) and how a view row gives its cell."""

    header: str
    width: float
    value: Callable[[dict], object]


def _text(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return str(v)


def remarks(row: dict) -> str:
    """备注: 示意 (a demo wrote it), 示意数据（非官方） (found on synthetic layers), 未再发现 (a later
    check-up no longer found it)."""
    parts = []
    if row.get("illustrative"):
        parts.append(ILLUSTRATIVE_MARK)
    if row.get("synthetic"):
        parts.append(SYNTHETIC_MARK)
    if row.get("observed") is not None and not row.get("observed"):
        parts.append("未再发现")
    return "；".join(parts)


def unit_text(row: dict) -> str:
    """Who is responsible: the unit, or "建议：<suggested unit>" while unassigned."""
    if _text(row.get("responsible")):
        return _text(row["responsible"])
    return f"建议：{row['suggested_unit']}" if _text(row.get("suggested_unit")) else "尚未交办"


def closed_how_text(row: dict) -> str:
    """How a closed finding closed, in Chinese (已销号, 风险接受 or 已撤销)."""
    return CLOSED_HOW_ZH.get(_text(row.get("closed_how")), _text(row.get("state_zh")))


COLUMNS: list[RegisterColumn] = [
    RegisterColumn("序号", 6, lambda r: r["_no"]),
    RegisterColumn("问题编号", 11, lambda r: _text(r["code"])),
    RegisterColumn("发现年度", 9, lambda r: int(r["year"]) if _text(r.get("year")) else ""),
    RegisterColumn("问题类型", 12, lambda r: _text(r["kind_zh"])),
    RegisterColumn("问题", 30, lambda r: _text(r["title"])),
    RegisterColumn("区域", 10, lambda r: _text(r["geo"]) or "全市"),
    RegisterColumn("规划依据", 14, lambda r: _text(r["article"])),
    RegisterColumn("现状与原因", 42, lambda r: _text(r["reason"])),
    RegisterColumn("严重程度", 9, lambda r: _text(r["severity_zh"])),
    RegisterColumn("建议责任单位", 18, lambda r: _text(r["suggested_unit"])),
    RegisterColumn("责任单位", 18, lambda r: _text(r["responsible"])),
    RegisterColumn("整改时限", 12, lambda r: _text(r["due"])[:10]),
    RegisterColumn("状态", 14, lambda r: _text(r["state_zh"])),
    RegisterColumn("逾期天数", 9, lambda r: int(r["days_overdue"]) if r.get("days_overdue") else ""),
    RegisterColumn("整改承诺/进展", 36, lambda r: _text(r["commitment"])),
    RegisterColumn("整改佐证", 30, lambda r: _text(r["evidence_files"])),
    RegisterColumn("销号日期", 12, lambda r: _text(r["closed_at"])[:10]),
    RegisterColumn("备注", 16, remarks),
]  # fmt: skip
HEADERS = [c.header for c in COLUMNS]
OVERDUE_COLUMN = HEADERS.index("逾期天数") + 1


def register_rows(view: pd.DataFrame, *, only_open: bool = False) -> pd.DataFrame:
    """The register in the order of a 问题清单: the open findings as :func:`open_findings` orders them
    (overdue first, then severity high→low, unit, id), then (unless ``only_open``) the closed ones by
    severity, unit and id."""
    if view is None or view.empty:
        return pd.DataFrame(columns=REGISTER_COLUMNS)
    live = open_findings(view)
    if only_open:
        return live
    done = view[view["state"].isin(CLOSED)].copy()
    done["_sev"] = done["severity"].map(SEVERITY_ORDER).fillna(len(SEVERITY_ORDER))
    done["_unit"] = done["responsible"].where(done["responsible"] != "", done["suggested_unit"])
    done = done.sort_values(["_sev", "_unit", "finding_id"], kind="stable").drop(columns=["_sev", "_unit"])
    return pd.concat([live, done], ignore_index=True)


def title_lines(rows: pd.DataFrame, *, check_date: date, plan_title: str, only_open: bool) -> list[str]:
    """The title area: the title, what the sheet counts as of ``check_date``, and what 示意 means
    when a row carries it."""
    n_open = int((~rows["state"].isin(CLOSED)).sum()) if len(rows) else 0
    n_overdue = int(rows["overdue"].astype(bool).sum()) if len(rows) else 0
    n_closed = len(rows) - n_open
    what = (f"共{n_open}项未关闭的问题（不含已销号、风险接受与已撤销的问题）" if only_open
            else f"共{len(rows)}项问题：未关闭{n_open}项，已关闭（已销号、风险接受或已撤销）{n_closed}项")
    lines = [
        f"{plan_title}实施体检问题清单",
        f"截至{check_date.isoformat()}（逾期按截至日计算）：{what}；逾期{n_overdue}项（整改时限早于截至日且未提交销号）。"
        "状态为导出时问题台账中的状态。",
    ]
    illustrative = bool(rows["illustrative"].astype(bool).any()) if len(rows) else False
    synthetic = bool(rows["synthetic"].astype(bool).any()) if len(rows) else False
    if illustrative or synthetic:
        said = []
        if illustrative:
            said.append(f"备注为“{ILLUSTRATIVE_MARK}”的行是演示用的示意条目（交办、整改与佐证为演示程序写入），不是真实的整改记录")
        if synthetic:
            said.append(f"备注为“{SYNTHETIC_MARK}”的问题由示意图层计算得出，不是官方数据")
        lines.append("说明：" + "；".join(said) + "。")
    return lines


def write_register_sheet(ws, view: pd.DataFrame, *, check_date: date, plan_title: str, only_open: bool = False) -> int:
    """Lay the 问题清单 of ``view`` into the worksheet ``ws``: the title area, the header (frozen, with
    the autofilter), one row per finding (an overdue one filled light red, its 逾期天数 in bold red).
    Returns the number of findings written."""
    rows = register_rows(view, only_open=only_open)
    font = Font(name=FONT_NAME, size=10)
    r = 1
    for i, line in enumerate(title_lines(rows, check_date=check_date, plan_title=plan_title, only_open=only_open)):
        cell = _put(ws, r, 1, line)
        cell.font = Font(name=FONT_NAME, size=14, bold=True) if i == 0 else Font(name=FONT_NAME, size=10, color="555555")
        r += 1
    r += 1  # a blank row: the autofilter's region starts at the header
    header_row = r
    for j, col in enumerate(COLUMNS, start=1):
        cell = _put(ws, r, j, col.header)
        cell.font = Font(name=FONT_NAME, size=10, bold=True)
        cell.fill = HEADER_FILL
        cell.border = BORDER
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        ws.column_dimensions[get_column_letter(j)].width = col.width
    for n, row in enumerate(rows.to_dict("records"), start=1):
        r += 1
        row["_no"] = n
        overdue = bool(row.get("overdue"))
        for j, col in enumerate(COLUMNS, start=1):
            cell = _put(ws, r, j, col.value(row))
            cell.font = font
            cell.border = BORDER
            cell.alignment = Alignment(wrap_text=True, vertical="top",
                                       horizontal="center" if col.width <= 12 else None)
            if overdue:
                cell.fill = OVERDUE_FILL
        if overdue:
            ws.cell(row=r, column=OVERDUE_COLUMN).font = Font(name=FONT_NAME, size=10, bold=True, color=OVERDUE_INK)
    ws.freeze_panes = f"C{header_row + 1}"  # the header and the 序号/编号 stay in view
    ws.auto_filter.ref = f"A{header_row}:{get_column_letter(len(COLUMNS))}{max(r, header_row)}"
    ws.row_dimensions[header_row].height = 30
    # printing: A4 landscape, one page wide, the header on every page
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{header_row}:{header_row}"
    return len(rows)


def write_register_xlsx(view: pd.DataFrame, path: Path, *, check_date: date, plan_title: str,
                        only_open: bool = False) -> Path:
    """Write the 问题清单 workbook of ``view`` (a :func:`register_view` frame, overdue computed on
    ``check_date``) to ``path``: one sheet 问题清单 (see :func:`write_register_sheet`); with
    ``only_open`` the closed findings are left out. The same view gives the same bytes."""
    missing = [c for c in REGISTER_COLUMNS if c not in view.columns]
    if missing:
        raise ValueError(f"the register view lacks columns {missing}: build it with register_view")

    def sheet(ws) -> None:
        write_register_sheet(ws, view, check_date=check_date, plan_title=plan_title, only_open=only_open)

    return save_workbook({SHEET: sheet}, f"{plan_title}实施体检问题清单", path)


__all__ = ["COLUMNS", "HEADERS", "SHEET", "closed_how_text", "register_rows", "remarks", "title_lines", "unit_text",
           "write_register_sheet", "write_register_xlsx"]
