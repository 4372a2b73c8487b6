"""Write the report's tables to one XLSX workbook a bureau can circulate: Chinese sheets and headers.

Sheets, in order (:data:`SHEET_NAMES`): 看板, 问题清单, 评估结果, 相关统计, 空间规则, 分区数值, 预测与回测,
数据覆盖, 观测数据, 指标目标, 数据来源; 指标台账 (the quota ledger) follows 分区数值 when the plan has
ledger rules. When the report has a findings register, 问题清单 is the register
(as :mod:`planwatch.findings.xlsx` lays it out) and the sheets 整改进展 and 对策建议 follow it. Each column has a Chinese header (:data:`HEADERS`, with a few
sheet-specific wordings); internal columns are left out. No English column names are written: the
workbook is for readers, and machine readers have the CLI, the API and the observation CSVs (the
frame column behind each header is in :data:`HEADERS` and the ``*_COLUMNS`` lists below).

How cells are written:

- levels as 绿灯/黄灯/红灯/灰灯 on the level's colour (:data:`planwatch.report.context.LEVELS`, the
  colours of the HTML badges); booleans as 是/否; codes (origin, kind, direction, method) in Chinese;
- numbers stay numeric cells and are rounded by their ``number_format`` only: a figure as published
  keeps the digits it was published with (``value_text``), shares (任务进度, 时间进度) show one decimal
  of a per cent, a forecast the digits of the figure it extends;
- every string is written as text (``data_type = "s"``), never as a formula, so a note or a source
  such as ``=HYPERLINK(…)`` or ``=cmd|' /C calc'!A0`` arrives as the literal text; text that starts
  like a formula also gets the quote-prefix style, so editing the cell in Excel keeps it text.

openpyxl stamps the save time into ``docProps/core.xml`` and into every zip entry; both are
rewritten to a fixed date so the same context gives the same bytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from planwatch.evaluate.engine import METHOD_ZH, SDG_ZH
from planwatch.evaluate.forecast import LINEAR_METHOD, NO_BAND_ZH
from planwatch.report.context import LEVELS, ReportContext
from planwatch.report.view import records

FIXED_TIME = datetime(1980, 1, 1)  # the zip epoch: the conventional "no date" of reproducible builds
HEADER_FILL = PatternFill("solid", fgColor="ECEFF1")
LEVEL_FILLS = {lv: PatternFill("solid", fgColor=colour.lstrip("#").upper()) for lv, (_, colour) in LEVELS.items()}
LEVEL_FONTS = {lv: Font(bold=True, color="212121" if lv == "yellow" else "FFFFFF") for lv in LEVELS}  # as the badges
MAX_WIDTH = 60  # characters; long quotes wrap in the cell instead
MAX_DECIMALS = 4  # as format_number: no figure of the plan or its statistics has more
STORED_DECIMALS = 6  # a computed number (forecast, change, share) is stored to this, shown rounded
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may read as the start of a formula
NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
PERCENT = re.compile(r"^([+-]?\d+(?:\.\d+)?)%$")
AMOUNT_FORMAT = "#,##0.00"

SHEET_NAMES = (
    "看板", "问题清单", "评估结果", "相关统计", "空间规则", "分区数值", "预测与回测", "数据覆盖", "观测数据", "指标目标",
    "数据来源",
)  # fmt: skip

# Frame column -> Chinese header. A sheet may word a column its own way (see the sheets below).
HEADERS = {
    "id": "编号", "name": "指标", "category": "分类", "label": "分类名称", "unit": "单位", "geo": "地域",
    "geo_scope": "地域范围", "year": "年份", "value": "数值", "value_text": "数值", "level": "等级",
    "reason": "评估说明", "method": "评估方法", "source": "出处", "obs_source": "来源", "published": "发布日期",
    "obs_published": "发布日期", "comparable": "口径一致", "synthetic": "示意数据", "origin": "数据类型",
    "graded": "参与评级", "scope": "统计口径", "measure": "计量方式", "note": "备注", "revision": "修订版次",
    "conversion": "单位换算", "raw_value": "原始数值", "raw_unit": "原始单位", "direction": "指标方向",
    "definition": "指标定义", "baseline_year": "基期年份", "baseline_value": "基期值", "same_as": "同一指标",
    "source_hint": "建议数据来源", "quote": "原文摘录", "notes": "整理说明", "linked_to": "同一指标",
    "stale": "最新数据早于评估年度", "prev_year": "上期年份", "prev_text": "上期数值", "change": "较上期变化",
    "precision": "公布精度（±）", "precision_benefit": "按公布精度取有利一端", "target_year": "目标年份",
    "target_value": "目标值", "target_raw": "规划目标（原文）", "tp_task": "任务进度", "tp_elapsed": "时间进度",
    "sdg_category": "Open SDG 进度类别", "n_points": "数据点数", "forecast_method": "预测方法",
    "forecast_level": "预测区间置信水平", "green": "绿灯（项）", "yellow": "黄灯（项）", "red": "红灯（项）",
    "grey": "灰灯（项）", "no": "序号", "key": "编号", "problem": "问题", "recommendation": "对策建议",
    "why": "不参与评级的原因", "status": "状态", "related": "相关统计（条）", "article": "条文",
    "description": "规则内容", "target": "对应指标", "threshold": "阈值", "comparator": "比较",
    "tolerance": "允许偏差（±）", "status_text": "检查结果", "origin_year": "所用数据截至", "interval_level": "预测区间置信水平",
    "no_band_reason": "未给预测区间的原因", "forecast": "预测值", "low": "预测区间下限", "high": "预测区间上限",
    "clipped": "已按物理界限截断", "actual": "实际值", "error": "误差（预测−实际）", "abs_pct_error": "绝对百分比误差（%）",
    "in_band": "实际值落入预测区间", "ids": "指标编号", "years": "数据年份",
} | {
    f"{prefix}_{year}{suffix}": f"{year}年{text}"
    for year in (2025, 2035)
    for prefix, suffix, text in (
        ("target", "_raw", "目标（原文）"), ("target", "_kind", "目标类型"), ("target", "_value", "目标值"),
        ("forecast", "", "预测值"), ("forecast", "_low", "预测区间下限"), ("forecast", "_high", "预测区间上限"),
        ("forecast", "_clipped", "预测已按物理界限截断"), ("forecast", "_raw", "趋势外推值（截断前）"),
    )
}  # fmt: skip

ORIGIN_ZH = {"official": "官方发布", "computed": "图层计算"}
KIND_ZH = {
    "ceiling": "上限", "floor": "下限", "approx": "左右", "stable": "稳定在", "exact": "达到", "range": "区间",
    "ratio": "比例", "decrease_from": "较基准年下降", "qualitative": "定性",
}  # fmt: skip
DIRECTION_ZH = {"increase": "越高越好", "decrease": "越低越好", "maintain": "保持稳定", "none": "无方向"}
MEASURE_ZH = {"level": "水平值", "change": "变化量", "ratio": "比值", "count": "数量", "cumulative_decline": "累计降幅"}
OBS_METHOD_ZH = {"statistics": "统计数据"}  # the importer's default; a computation's description is kept as written
FORECAST_METHOD_ZH = {LINEAR_METHOD: "线性趋势预测"}
COMPARATOR_ZH = {">=": "≥", "<=": "≤", "==": "=", ">": ">", "<": "<", "≈": "≈"}


@dataclass(frozen=True)
class Column:
    """One sheet column: the frame column ``key``, its Chinese header and how its cells are written.

    ``kind``: "text" (``codes`` translates codes), "level", "bool", "int", "article" (第N条), "amount"
    (a ledger amount in m², two decimals with thousands separators),
    "published" (a figure as published: a numeric text keeps its digits), "number", "percent" (a
    fraction shown as a per cent), "raw" (a number as stored, General format) or "auto" (cells of a
    table the report already formatted: numeric texts become numbers).

    ``digits`` (decimals shown by "number" and "percent"): an int; the name of the row's column whose
    published digits it follows; "unit" (one decimal for a per cent, else at most two); "change"
    (the finer digits of ``value_text`` and ``prev_text``); None: the value's own digits, at most
    :data:`MAX_DECIMALS`.
    """

    key: str
    header: str = ""
    kind: str = "text"
    codes: dict[str, str] | None = None
    digits: int | str | None = None

    @property
    def title(self) -> str:
        return self.header or HEADERS[self.key]


@dataclass
class Table:
    """Rows under one header row, with an optional title row above and caption rows below (after a
    blank row)."""

    columns: list[Column]
    rows: list[dict]
    title: str = ""
    captions: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the sheets' columns


def _cols(*specs) -> list[Column]:
    return [s if isinstance(s, Column) else Column(s) for s in specs]


ROLLUP = _cols(
    "category", "label", Column("green", kind="int"), Column("yellow", kind="int"), Column("red", kind="int"),
    Column("grey", kind="int"), Column("level", "分类等级", "level"),
)
PROBLEMS = _cols(
    Column("no", kind="int"), Column("level", kind="level"), "key", "name", "category", "source", "problem",
    "recommendation", "source_hint",
)
EVALUATION = _cols(
    "id", "name", "category", "geo", Column("year", "数据年份", "int"), Column("value_text", kind="published"), "unit",
    Column("level", kind="level"), "reason", Column("method", codes=METHOD_ZH), "source",
    Column("target_year", kind="int"), "target_raw",
    Column("target_value", kind="number"), Column("baseline_year", kind="int"), Column("baseline_value", kind="number"),
    Column("prev_year", kind="int"), Column("prev_text", kind="published"),
    Column("change", kind="number", digits="change"), Column("tp_task", kind="percent", digits=1),
    Column("tp_elapsed", kind="percent", digits=1), Column("sdg_category", codes=SDG_ZH),
    Column("precision", kind="number"), Column("precision_benefit", kind="bool"), Column("stale", kind="bool"),
    "linked_to", Column("origin", codes=ORIGIN_ZH), Column("synthetic", kind="bool"), "obs_source", "obs_published",
    Column("value", "数值（未修约）", "raw"),
)
FORECASTS = _cols(
    "id", "name", "geo", "unit", Column("n_points", kind="int"), Column("forecast_method", codes=FORECAST_METHOD_ZH),
    Column("forecast_level", kind="percent", digits=0),
    *[
        Column(f"forecast_{y}{s}", kind="bool" if s == "_clipped" else "number", digits=None if s == "_clipped" else "value_text")
        for y in (2025, 2035)
        for s in ("", "_low", "_high", "_clipped", "_raw")
    ],
    Column("target_raw", "规划目标（原文）"),
)  # fmt: skip
BACKTEST = _cols(
    "id", "name", "unit", Column("year", "预测年份", "int"), Column("origin_year", kind="int"),
    Column("n_points", kind="int"), Column("method", "预测方法", codes=FORECAST_METHOD_ZH),
    Column("interval_level", kind="percent", digits=0), Column("no_band_reason", codes=NO_BAND_ZH),
    Column("forecast", kind="number", digits="actual"), Column("low", kind="number", digits="actual"),
    Column("high", kind="number", digits="actual"), Column("clipped", kind="bool"), Column("actual", kind="number"),
    Column("error", kind="number", digits="actual"), Column("abs_pct_error", kind="number", digits=1),
    Column("in_band", kind="bool"),
)
RELATED = _cols("id", "name", "geo", Column("year", kind="int"), Column("value_text", kind="published"), "unit", "why",
                Column("source", "来源"), "published")
RULES = _cols(
    Column("id", "规则编号"), Column("article", kind="article"), "category", "description", "target",
    Column("year", kind="int"), Column("value", kind="number", digits="unit"), "unit",
    Column("comparator", codes=COMPARATOR_ZH), Column("threshold", kind="number"), Column("tolerance", kind="number"),
    Column("level", kind="level"), "status_text", "reason", Column("synthetic", kind="bool"),
)
COVERAGE = _cols("id", "name", "category", "status", Column("related", kind="int"), "source_hint")
OBSERVATIONS = _cols(
    "id", "name", "geo", Column("year", kind="int"), Column("value", kind="number", digits="value_text"), "unit",
    Column("raw_value", kind="published"), "raw_unit", "conversion", Column("comparable", kind="bool"), "scope",
    Column("measure", codes=MEASURE_ZH), Column("origin", codes=ORIGIN_ZH), Column("synthetic", kind="bool"),
    Column("graded", kind="bool"), Column("source", "来源"), "published", "note", Column("revision", kind="int"),
    Column("method", "获取方式", codes=OBS_METHOD_ZH),
)
TARGETS = _cols(
    "id", "name", "category", "geo_scope", "unit", Column("measure", codes=MEASURE_ZH),
    Column("direction", codes=DIRECTION_ZH), "definition", Column("baseline_year", kind="int"),
    Column("baseline_value", kind="number"),
    *[c for y in (2025, 2035) for c in (Column(f"target_{y}_raw"), Column(f"target_{y}_kind", codes=KIND_ZH),
                                        Column(f"target_{y}_value", kind="number"))],
    "source", "same_as", "quote", "notes", "source_hint",
)  # fmt: skip
SOURCES = _cols(Column("source", "来源"), "published", "ids", "years")


# ---------------------------------------------------------------- cell values


def _float_decimals(value: float) -> int:
    """The digits a float carries (6.44 -> 2, 2300.0 -> 0), at most :data:`MAX_DECIMALS`."""
    text = np.format_float_positional(value, trim="-")
    return min(len(text.split(".", 1)[1]) if "." in text else 0, MAX_DECIMALS)


def _decimals(value) -> int | None:
    """Digits of a published figure: of its text ("16.60" -> 2) or of its float; None if neither."""
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        return (len(text.split(".", 1)[1]) if "." in text else 0) if NUMBER.match(text) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
        return _float_decimals(float(value))
    return None


def _fixed(digits: int) -> str:
    return "0" if digits <= 0 else "0." + "0" * digits


def _digits(col: Column, row: dict, value: float) -> int:
    if isinstance(col.digits, int):
        return col.digits
    if col.digits == "unit":  # a computed figure: a share with one decimal, others with at most two
        return 1 if row.get("unit") == "%" else min(_float_decimals(value), 2)
    if col.digits == "change":  # a difference of two published figures: the finer of their digits
        found = [d for d in (_decimals(row.get("value_text")), _decimals(row.get("prev_text"))) if d is not None]
        return max(found) if found else _float_decimals(value)
    if isinstance(col.digits, str):
        found = _decimals(row.get(col.digits))
        return _float_decimals(value) if found is None else found
    return _float_decimals(value)


def _cell(col: Column, row: dict):
    """(value, number_format) of one cell; strings are written as text by :func:`_put`."""
    v = row.get(col.key)
    if v is None:
        return None, None
    if col.kind == "level":
        return (LEVELS[v][0] if v in LEVELS else str(v)), None
    if col.kind == "bool":
        return ("是" if v else "否"), None
    if col.kind == "int":
        return (int(v), "0") if isinstance(v, int | float) else (str(v), None)
    if col.kind == "article":
        return f"第{int(v)}条", None
    if col.kind in ("published", "auto"):
        return _published(v)
    if col.kind == "amount":  # a ledger amount in m², kept to the ledger's two decimals
        return (round(float(v), 2), AMOUNT_FORMAT) if isinstance(v, int | float) and not isinstance(v, bool) else (str(v), None)
    if col.kind in ("raw", "number", "percent"):
        if not isinstance(v, int | float) or isinstance(v, bool):
            return str(v), None
        if not np.isfinite(v):
            return None, None
        if col.kind == "raw":
            return v, None
        # stored to STORED_DECIMALS (no float noise such as 2177.900000000001); the format rounds the display
        if col.kind == "percent":
            return round(float(v), STORED_DECIMALS), _fixed(col.digits or 0) + "%"
        return round(float(v), STORED_DECIMALS), _fixed(_digits(col, row, float(v)))
    text = str(v)
    return (col.codes.get(text, text) if col.codes else text), None


def _published(v):
    """A figure as published: "16.60" -> 16.6 shown with 2 decimals, "86.1%" -> 0.861 shown as 86.1%;
    a text that is not a plain number ("—", "8.5（11）") stays text."""
    if isinstance(v, str):
        text = v.strip().replace(",", "")
        if NUMBER.match(text):
            d = _decimals(text)
            return (int(text), "0") if d == 0 and len(text.lstrip("+-")) < 16 else (float(text), _fixed(d))
        m = PERCENT.match(text)
        if m:
            return round(float(m.group(1)) / 100, STORED_DECIMALS), _fixed(_decimals(m.group(1))) + "%"
        return v, None
    if isinstance(v, bool):
        return ("是" if v else "否"), None
    if isinstance(v, int | float):
        return v, _fixed(_float_decimals(float(v)))
    return str(v), None


def _shown(value, number_format: str | None) -> str:
    """Roughly what the cell shows, for the column width."""
    if value is None:
        return ""
    if isinstance(value, str) or number_format is None:
        return str(value)
    digits = len(number_format.split(".", 1)[1].rstrip("%")) if "." in number_format else 0
    if number_format.endswith("%"):
        return f"{value * 100:.{digits}f}%"
    return f"{value:.{digits}f}"


def _put(ws, row: int, column: int, value, number_format: str | None = None):
    """Write one cell; a string always as text (never a formula, whatever it starts with)."""
    cell = ws.cell(row=row, column=column)
    if isinstance(value, str):
        text = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters XML 1.0 cannot hold
        cell.value = text
        cell.data_type = "s"  # openpyxl takes a leading "=" as a formula; this is text
        if text.startswith(FORMULA_START):
            cell.quotePrefix = True  # Excel keeps it text even when the cell is edited
    else:
        cell.value = value
        if number_format:
            cell.number_format = number_format
    return cell


# ---------------------------------------------------------------- sheets


def _frame_table(frame: pd.DataFrame | None, columns: list[Column], **extra) -> Table:
    """The columns of ``columns`` the frame has (all of them, as headers only, when it is empty)."""
    if frame is None or frame.empty:
        return Table(columns, [], **extra)
    return Table([c for c in columns if c.key in frame.columns], records(frame), **extra)


def _city(rows: list[dict], scopes: dict[str, str]) -> list[dict]:
    """A blank geo is the target's own area (its geo_scope), as the report's other pages say."""
    return [r | {"geo": r.get("geo") or scopes.get(r["id"]) or "全市"} for r in rows]


def _given_table(table: dict) -> Table:
    """A table the report already laid out (station coverage, district figures): Chinese headers."""
    cols = [Column(str(i), str(h), "auto") for i, h in enumerate(table["columns"])]
    rows = [{str(i): v for i, v in enumerate(r)} for r in table["rows"]]
    return Table(cols, rows, title=table.get("title") or "", captions=[table["caption"]] if table.get("caption") else [])


def sheet_tables(ctx: ReportContext) -> dict[str, list[Table]]:
    """Sheet name -> its tables, in workbook order (:data:`SHEET_NAMES`)."""
    scopes = dict(zip(ctx.targets["id"], ctx.targets["geo_scope"], strict=True))
    names = dict(zip(ctx.targets["id"], ctx.targets["name"], strict=True))

    evaluation = _frame_table(ctx.evaluation, EVALUATION)
    evaluation.rows = _city(evaluation.rows, scopes)
    with_forecast = ctx.evaluation[ctx.evaluation["n_points"].notna()] if len(ctx.evaluation) else ctx.evaluation
    forecasts = _frame_table(with_forecast, FORECASTS)
    forecasts.rows = _city(forecasts.rows, scopes)
    backtest = _frame_table(ctx.backtest, BACKTEST, title="回测：仅用Y−2年及以前的数据预测Y年，与Y年实际值比较")
    observations = _frame_table(ctx.observations.assign(name=ctx.observations["id"].map(names)), OBSERVATIONS)
    observations.rows = _city(observations.rows, scopes)

    given = [m["table"] for m in ctx.maps if m.get("table")] + list(ctx.districts)
    districts = [_given_table(t) for t in given] or [Table([], [], title="本报告无分区数值表。")]
    return {
        "看板": [_frame_table(ctx.rollup, ROLLUP, captions=[s for s in (ctx.rollup_rule, *ctx.notes) if s])],
        **register_sheets(ctx),
        "评估结果": [evaluation],
        "相关统计": [_frame_table(ctx.related, RELATED)],
        "空间规则": [_frame_table(ctx.rules, RULES)],
        "分区数值": districts,
        **ledger_sheet(ctx),
        "预测与回测": [forecasts, backtest],
        "数据覆盖": [_frame_table(ctx.coverage, COVERAGE)],
        "观测数据": [observations],
        "指标目标": [_frame_table(ctx.targets, TARGETS)],
        "数据来源": [Table(SOURCES, list(ctx.sources))],
    }


PROGRESS = _cols(
    Column("no", kind="int"), Column("code", "问题编号"), Column("title", "问题"), Column("unit", "责任单位"),
    Column("closed_at", "销号（关闭）日期"), Column("how", "关闭方式"), Column("by", "关闭人"),
    Column("evidence", "整改佐证"), Column("remarks", "备注"),
)
MEASURES = _cols(
    Column("no", kind="int"), Column("code", "问题编号"), Column("title", "问题"), Column("severity", "严重程度"),
    Column("recommendation", "对策建议"), Column("unit", "责任单位"), Column("due", "整改时限"),
    Column("state", "状态"), Column("commitment_text", "整改承诺/进展"), Column("remarks", "备注"),
)


def register_sheets(ctx: ReportContext) -> dict:
    """The 问题清单 sheet: the computed problems when the year has no findings register; else the
    register (as the standalone 问题清单 workbook lays it out, overdue rows in red) followed by the
    sheets 整改进展 (closed in the window the report names) and 对策建议 (each open finding)."""
    from datetime import date

    from planwatch.findings.xlsx import write_register_sheet
    from planwatch.report.view import findings_view

    register = findings_view(ctx)
    if register is None:
        return {"问题清单": [_frame_table(ctx.problems, PROBLEMS)]}

    def sheet(ws) -> None:
        write_register_sheet(ws, ctx.findings, check_date=date.fromisoformat(ctx.as_of[:10]),
                             plan_title=ctx.plan_title)

    def numbered(rows: list[dict]) -> list[dict]:
        return [r | {"no": n, "remarks": "；".join(r["marks"])} for n, r in enumerate(rows, start=1)]

    return {
        "问题清单": sheet,
        "整改进展": [Table(PROGRESS, numbered(register["progress"]),
                           captions=[register["progress_summary"], *([register["progress_note"]] if register["progress"]
                                                                     else []), *register["progress_notes"]])],
        "对策建议": [Table(MEASURES, numbered(register["open"]),
                           captions=[register["measures_lead"] if register["open"] else register["no_measures"],
                                     *register["notes"]])],
    }  # fmt: skip


POOL_COLUMNS = [Column("released", "累计释放", "amount"), Column("credited", "减量挂钩入池", "amount"),
                Column("transferred", "调剂净额", "amount"), Column("reserved", "预留", "amount"),
                Column("committed", "已使用", "amount"), Column("available", "余额（可用）", "amount"),
                Column("demolished", "已拆除（减量）", "amount")]
CAP_COLUMNS = _cols(
    Column("id", "约束"), Column("marks", "备注"), Column("quota", "指标"), Column("article", "条文", "article"),
    Column("quote", "原文摘录"), Column("scope", "范围"), Column("measure", "口径"), Column("measured", "台账数值（平方米）", "amount"),
    Column("limit", "上限（平方米）", "amount"), Column("result", "结果"),
)
REFERENCE_COLUMNS = _cols(
    Column("target_id", "规划指标编号"), Column("target_name", "规划指标"), Column("source", "出处"),
    Column("requirement", "规划要求"), Column("scope", "范围"), Column("held", "流量池余额（平方米）", "amount"),
    Column("reserved", "预留（平方米）", "amount"), Column("committed", "已使用（平方米）", "amount"),
    Column("demolished", "已拆除（平方米）", "amount"), Column("figure", "台账口径"), Column("net", "台账数值（平方米）", "amount"),
    Column("converted", "折合（规划指标单位）", "raw"), Column("unit", "规划指标单位"),
    Column("implied", "基期值加台账净变化（推算）", "raw"), Column("note", "说明"),
)
SERIES_COLUMNS = _cols(Column("quota", "指标"), Column("district", "区"), Column("ring", "圈层"), Column("day", "业务日期"),
                       Column("balance", "流量池余额（平方米）", "amount"))


def ledger_sheet(ctx: ReportContext) -> dict:
    """The sheet 指标台账 (none when the plan has no ledger rules): each quota's pools by district
    and by 圈层, the year's release plan, every cap's every scope, the plan targets set against the
    ledger and each pool's balance through the year; one sentence when nothing is recorded."""
    from dataclasses import asdict

    from planwatch.report.ledger_section import MARK, MEASURE_ZH, OVER, ledger_view

    s = ctx.ledger
    view = ledger_view(s, charts=None)
    if view is None:
        return {}
    if view["empty"]:
        return {"指标台账": [Table([], [], title=view["text"])]}
    mark = f"（{MARK}）" if view["mark"] else ""
    tables = [Table([], [], title=f"{view['title']}{mark}", captions=[view["lead"], *view["notes"]])]
    for q, shown in zip([q for q in s.quotas if q.active], view["quotas"], strict=True):
        tables.append(Table([Column("name", "区"), Column("ring", "圈层"), *POOL_COLUMNS],
                            [*(asdict(r) for r in q.districts), asdict(q.total) | {"name": "全市合计", "ring": ""}],
                            title=shown["district_title"],
                            captions=[shown["district_note"]]))
        tables.append(Table([Column("name", "圈层"), Column("ring", "所含区"), *POOL_COLUMNS], [asdict(r) for r in q.rings],
                            title=shown["ring_title"], captions=[shown["ring_note"]]))
    if view["quiet"]:
        tables.append(Table([], [], title=view["quiet"]))
    plans = [{"name": q.name, "planned": q.planned, "released": q.released_from_plan, "left": q.unreleased}
             for q in s.quotas if q.plan_year is not None]
    if plans:
        tables.append(Table([Column("name", "指标"), Column("planned", "年度释放计划", "amount"),
                             Column("released", "已释放", "amount"), Column("left", "尚未释放", "amount")], plans,
                            title=view["plan_title"], captions=[view["plan_note"]]))
    caps = [{"id": c.id, "marks": MARK if c.illustrative else "", "quota": c.quota_name, "article": c.article,
             "quote": c.quote, "scope": x.scope, "measured": x.measured, "limit": x.limit,
             "measure": f"{s.year}年释放量" if c.measure == "released" else MEASURE_ZH[c.measure],
             "result": OVER if x.over else "未超出"} for c in s.caps for x in c.scopes]
    tables.append(Table(CAP_COLUMNS, caps, title=view["caps_title"], captions=[view["caps_lead"]]))
    refs = []
    for r, shown in zip(s.references, view["references"], strict=True):
        growth = r.kind == "net_growth"
        refs.append({"target_id": r.target_id, "target_name": r.target_name, "source": r.source,
                     "requirement": shown["requirement"], "scope": r.scope, "held": r.held, "reserved": r.reserved,
                     "committed": r.committed, "demolished": r.demolished,
                     "figure": "净增量（流量池余额＋预留＋已使用－已拆除）" if growth else "净变化（已使用－已拆除）",
                     "net": r.net_growth if growth else r.net_change,
                     "converted": None if r.net_in_target_unit is None else float(r.net_in_target_unit),
                     "unit": r.target_unit, "implied": None if r.implied is None else float(r.implied),
                     "note": shown["note"]})
    tables.append(Table(REFERENCE_COLUMNS, refs, title=view["references_title"]))
    series = [{"quota": p.quota_name, "district": p.district, "ring": p.ring, "day": day, "balance": balance}
              for p in s.series for day, balance in p.points]
    if series:
        tables.append(Table(SERIES_COLUMNS, series, title=view["chart_title"], captions=[
            f"{s.year}年有变动的各区流量池余额（可用部分，不含预留与已使用），按业务日期：1月1日零时、每个有变动的日期日终、"
            "12月31日日终的余额。"]))
    return {"指标台账": tables}


def _display_width(text: str) -> int:
    """Characters a column needs: CJK characters are two wide."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _write_sheet(ws, tables: list[Table]) -> None:
    """Lay the tables out one under another (a blank row between); the first table without a title
    gets the frozen header and the autofilter."""
    widths: dict[int, int] = {}
    wrap: dict[int, list] = {}
    r = 1  # the next row to write
    for n, table in enumerate(tables):
        if n:
            r += 1  # a blank row between tables
        if table.title:
            _put(ws, r, 1, table.title).font = Font(bold=True, size=12)
            r += 1
        if table.columns:
            header_row = r
            for j, col in enumerate(table.columns, start=1):
                cell = _put(ws, r, j, col.title)
                cell.font = Font(bold=True)
                cell.fill = HEADER_FILL
                widths[j] = max(widths.get(j, 0), _display_width(col.title))
            r += 1
            for row in table.rows:
                for j, col in enumerate(table.columns, start=1):
                    value, fmt = _cell(col, row)
                    cell = _put(ws, r, j, value, fmt)
                    if col.kind == "level" and row.get(col.key) in LEVELS:
                        cell.fill = LEVEL_FILLS[row[col.key]]
                        cell.font = LEVEL_FONTS[row[col.key]]
                    widths[j] = max(widths.get(j, 0), _display_width(_shown(value, fmt).split("\n")[0]))
                    wrap.setdefault(j, []).append(cell)
                r += 1
            if n == 0 and not table.title:
                ws.freeze_panes = f"A{header_row + 1}"
                ws.auto_filter.ref = f"A{header_row}:{get_column_letter(len(table.columns))}{max(r - 1, header_row)}"
        if table.captions and table.columns:
            r += 1  # a blank row: sorting or selecting the table's region leaves the captions out
        for text in table.captions:
            _put(ws, r, 1, text).font = Font(italic=True, color="555555")
            r += 1
    for j, width in widths.items():
        ws.column_dimensions[get_column_letter(j)].width = max(min(MAX_WIDTH, width + 2), 6)
        if width + 2 >= MAX_WIDTH:
            for cell in wrap.get(j, []):
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
    """Write the sheets of :func:`sheet_tables` to ``path`` (byte-identical for the same context)."""
    ctx.check()
    return save_workbook(sheet_tables(ctx), f"{ctx.plan_title} {ctx.year}年度城市体检评估", path)


def save_workbook(sheets: dict, title: str, path: Path, after_sheet=None) -> Path:
    """One sheet per entry of ``sheets`` (name → tables, see :func:`_write_sheet`, or name → a function
    that lays the sheet out itself, called with the worksheet), ``after_sheet(ws)`` applied to each;
    saved with fixed dates so the same sheets give the same bytes."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, tables in sheets.items():
        ws = wb.create_sheet(name)
        if callable(tables):
            tables(ws)
        else:
            _write_sheet(ws, tables)
        if after_sheet is not None:
            after_sheet(ws)
    wb.properties.creator = "planwatch"
    wb.properties.title = title
    wb.properties.created = FIXED_TIME
    buf = io.BytesIO()
    wb.save(buf)
    Path(path).write_bytes(_fix_timestamps(buf.getvalue()))
    return Path(path)
