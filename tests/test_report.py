"""The annual check-up report: an analyst hands leadership a Chinese HTML, PDF and XLSX."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pandas as pd
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from planwatch.report import LEVELS, ReportContext, render_html, write_report
from planwatch.report.charts import format_number, indicator_chart
from planwatch.report.context import EVALUATION_COLUMNS, OBSERVATION_COLUMNS, ROLLUP_COLUMNS, TARGET_COLUMNS
from planwatch.report.fixtures import example_context
from planwatch.report.xlsx import sheets

EXPECTED_SHEETS = {
    "指标目标": TARGET_COLUMNS,
    "观测数据": OBSERVATION_COLUMNS,
    "评估结果": EVALUATION_COLUMNS,
    "分类汇总": ROLLUP_COLUMNS,
}


@pytest.fixture(scope="module")
def ctx() -> ReportContext:
    return example_context()


@pytest.fixture(scope="module")
def written(ctx, tmp_path_factory):
    """The example report written twice, to two folders (the second one not existing yet)."""
    first = write_report(ctx, tmp_path_factory.mktemp("first") / "out")
    second = write_report(ctx, tmp_path_factory.mktemp("second") / "nested" / "out")
    return first, second


@pytest.fixture(scope="module")
def html(written) -> str:
    return written[0]["html"].read_text(encoding="utf-8")


def test_the_report_is_three_files_in_the_folder_it_creates(written):
    paths = written[0]
    assert set(paths) == {"html", "pdf", "xlsx"}
    assert [paths[k].name for k in ("html", "pdf", "xlsx")] == ["report.html", "report.pdf", "report.xlsx"]
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths.values())
    assert paths["pdf"].read_bytes().startswith(b"%PDF-")


def test_html_is_chinese_first_with_title_categories_and_every_reason(ctx, html):
    assert '<html lang="zh-CN">' in html
    assert ctx.plan_title in html
    assert f"{ctx.year}年度城市体检评估报告" in html
    for label in ctx.categories.values():
        assert label in html
    for reason in ctx.evaluation["reason"]:
        assert reason in html
    for line in ctx.sources + ctx.notes:
        assert line in html


def test_overview_board_counts_levels_by_category_with_coloured_badges(ctx, html):
    board = html[html.index('id="board"') : html.index('id="warnings"')]
    for label, colour in LEVELS.values():
        assert label in board
        assert colour in html  # the level colours are in the stylesheet
    for r in ctx.rollup.itertuples():
        row = board[board.index(r.label) :]
        row = row[: row.index("</tr>")]
        counts = [int(n) for n in re.findall(r'<span class="count[^"]*">(\d+)</span>', row)]
        assert counts == [r.green, r.yellow, r.red, r.grey]
        assert f'badge lv-{r.level}">{LEVELS[r.level][0]}' in row


def test_warnings_list_red_then_yellow_with_reason_and_article(ctx, html):
    section = html[html.index('id="warnings"') : html.index('class="page category"')]
    warned = ctx.evaluation[ctx.evaluation["level"].isin(["red", "yellow"])]
    assert len(warned) >= 2
    for w in warned.itertuples():
        assert w.reason in section
        assert w.source in section
        assert w.method in section
    reds = [section.index(r) for r in warned.loc[warned["level"] == "red", "reason"]]
    yellows = [section.index(r) for r in warned.loc[warned["level"] == "yellow", "reason"]]
    assert max(reds) < min(yellows)
    # green and grey rows are not warnings
    for r in ctx.evaluation.loc[ctx.evaluation["level"].isin(["green", "grey"]), "reason"]:
        assert r not in section


def test_every_indicator_with_data_gets_a_chart_and_the_rest_are_listed_as_no_data(ctx, html):
    assert html.count('<figure class="chart') == len(ctx.evaluation)
    assert html.count("<svg") == len(ctx.evaluation) + sum(
        1 for s in ctx.categories if s in set(ctx.evaluation["category"])
    )
    no_data = ctx.targets[~ctx.targets["id"].isin(ctx.evaluation["id"])]
    assert len(no_data) > 0
    assert html.count("暂无数据</td>") == len(no_data)
    for name in no_data["name"].head(20):
        assert name in html


def test_html_is_self_contained_no_external_urls(html):
    assert "<link" not in html and "<script" not in html and "<img" not in html
    urls = set(re.findall(r"https?://[^\"'\s)<]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}  # SVG namespaces only


def test_html_carries_no_wall_clock_time(html):
    assert not re.search(r"\d{1,2}:\d{2}:\d{2}", html)
    assert "generated at" not in html.lower() and "生成时间" not in html


def test_pdf_embeds_a_noto_cjk_font(written):
    assert shutil.which("pdffonts"), "pdffonts (poppler-utils) is needed to check the PDF fonts"
    out = subprocess.run(
        ["pdffonts", str(written[0]["pdf"])], capture_output=True, text=True, check=True
    ).stdout
    fonts = [line.split() for line in out.splitlines()[2:] if line.strip()]
    cjk = [f for f in fonts if re.search(r"Noto-?Sans-?CJK|Noto-?Serif-?CJK", f[0], re.I)]
    assert cjk, out
    # columns: name type... encoding emb sub uni object ID -> emb is the 5th from the end
    assert all(f[-5] == "yes" for f in cjk), out
    assert all(f[-5] == "yes" for f in fonts), f"every font must be embedded:\n{out}"


def test_pdf_text_is_chinese_not_boxes(ctx, written):
    reader = PdfReader(written[0]["pdf"])
    assert len(reader.pages) >= 2 + len(ctx.categories)
    text = "\n".join(page.extract_text() for page in reader.pages)
    squashed = re.sub(r"\s+", "", text)
    assert re.sub(r"\s+", "", ctx.plan_title) in squashed
    assert f"{ctx.year}年度城市体检评估报告" in squashed
    assert "红灯" in squashed and "暂无数据" in squashed
    assert "\ufffd" not in text and "□" not in text
    assert re.search(r"第\s*1\s*页\s*/\s*共\s*\d+\s*页", text)  # page numbers


def test_pdf_pages_are_a4(written):
    box = PdfReader(written[0]["pdf"]).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_xlsx_has_one_tidy_sheet_per_table(ctx, written):
    path = written[0]["xlsx"]
    wb = load_workbook(path)
    assert wb.sheetnames == list(EXPECTED_SHEETS)
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert all(ws.column_dimensions[c].width and ws.column_dimensions[c].width >= 6 for c in ("A", "B"))
    frames = pd.read_excel(path, sheet_name=None)
    for (name, expected_cols), frame in zip(EXPECTED_SHEETS.items(), sheets(ctx).values(), strict=True):
        back = frames[name]
        assert list(back.columns)[: len(expected_cols)] == expected_cols  # the contract first, then details
        assert len(back) == len(frame)
        assert list(back["id" if "id" in back else "category"]) == list(
            frame["id" if "id" in frame else "category"]
        )
    assert list(frames["评估结果"]["level"]) == list(ctx.evaluation["level"])
    assert frames["评估结果"]["value"].tolist() == pytest.approx(ctx.evaluation["value"].tolist())


def test_same_inputs_give_byte_identical_files(written):
    first, second = written
    for kind in ("html", "xlsx", "pdf"):
        assert first[kind].read_bytes() == second[kind].read_bytes(), kind


def test_xlsx_carries_a_fixed_date_not_the_save_time(written):
    wb = load_workbook(written[0]["xlsx"])
    assert wb.properties.created.year == 1980 and wb.properties.modified.year == 1980


def test_a_context_missing_a_column_is_refused_and_nothing_is_written(ctx, tmp_path):
    bad = dataclasses.replace(ctx, evaluation=ctx.evaluation.drop(columns=["reason"]))
    with pytest.raises(ValueError, match=r"evaluation.*reason"):
        write_report(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_unknown_level_is_refused(ctx):
    ev = ctx.evaluation.copy()
    ev.loc[0, "level"] = "orange"
    with pytest.raises(ValueError, match="orange"):
        render_html(dataclasses.replace(ctx, evaluation=ev))


def test_district_rows_render_with_their_district_name(ctx):
    """An evaluation row for a district (geo) gets its own row and chart, labelled with the district."""
    row = ctx.evaluation[ctx.evaluation["id"] == "T22"].iloc[0].to_dict()
    row |= {
        "geo": "海淀区",
        "value": 40.1,
        "level": "red",
        "reason": "2022年海淀区森林覆盖率40.1%（示例）（表第22行）",
    }
    obs = ctx.observations[ctx.observations["id"] == "T22"].iloc[0].to_dict() | {
        "geo": "海淀区",
        "value": 40.1,
    }
    district = dataclasses.replace(
        ctx,
        evaluation=pd.concat([ctx.evaluation, pd.DataFrame([row])], ignore_index=True),
        observations=pd.concat([ctx.observations, pd.DataFrame([obs])], ignore_index=True),
    )
    html = render_html(district)
    assert html.count('<figure class="chart') == len(ctx.evaluation) + 1
    assert "海淀区" in html and row["reason"] in html


def test_chart_is_deterministic_svg_for_a_ceiling_without_baseline():
    target = {"unit": "万人", "baseline_year": None, "baseline_value": None, "target_2025_kind": "ceiling",
              "target_2025_value": 2300.0, "target_2035_kind": "", "target_2035_value": None}  # fmt: skip
    obs = [
        {"year": 2021, "value": 2188.6, "comparable": True},
        {"year": 2022, "value": 2184.3, "comparable": False},
    ]
    ev = {
        "level": "green",
        "forecast_2025": 2180.0,
        "forecast_2025_low": float("nan"),
        "forecast_2025_high": float("nan"),
    }
    svg = indicator_chart(target, obs, ev)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "Date" not in svg and "<metadata>" not in svg
    assert "<text" in svg and "Noto Sans CJK SC" in svg  # real text in the CJK font stack, not glyph paths
    assert svg == indicator_chart(target, obs, ev)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2184.3, "2184.3"),
        (6.0, "6"),
        (0.2026, "0.2026"),
        (850000000.0, "850000000"),
        (float("nan"), "—"),
        (None, "—"),
        (-0.0, "0"),
    ],
)
def test_numbers_print_as_a_chinese_report_writes_them(value, text):
    assert format_number(value) == text


def test_the_real_check_up_names_methods_in_chinese_and_cites_the_plan(ctx):
    ev = ctx.evaluation.set_index("id")
    assert ev.loc["T21", "method"] == "时间进度" and ev.loc["T21", "level"] == "yellow"
    assert ev.loc["T36", "method"] == "口径不可比" and ev.loc["T36", "level"] == "grey"
    assert ev["reason"].str.contains("表第").all()


def test_a_store_with_the_one_map_puts_a_labelled_map_in_the_report(tmp_path):
    from planwatch.onemap.demo import load_demo_map
    from planwatch.onemap.rules import check_rules
    from planwatch.plan import load_plan
    from planwatch.report.build import build_report
    from planwatch.store import open_store

    plan = load_plan()
    store = open_store(tmp_path / "s.gpkg")
    load_demo_map(store, plan)
    paths = build_report(plan, store, 2022, tmp_path / "rep")
    html = paths["html"].read_text(encoding="utf-8")
    assert 'id="map"' in html and "data:image/png;base64," in html
    assert "示意数据（非官方）" in html and "OpenStreetMap" in html
    assert paths["pdf"].stat().st_size < 5_000_000
    assert "轨道站点800米覆盖" in html and "东城区" in html  # real station coverage by district
    check_rules(store, plan, 2022)  # stores the rule values as observations: the report shows their method
    html = build_report(plan, store, 2022, tmp_path / "rep2")["html"].read_text(encoding="utf-8")
    assert "由图层计算，方法：spatial rule R01" in html
    assert 'id="rules"' in html and "第56条" in html and "不符合" in html  # the spatial rules section
