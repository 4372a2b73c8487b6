"""The annual check-up report: an analyst hands leadership a Chinese HTML, PDF and XLSX."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pandas as pd
import pytest
from pypdf import PdfReader

from planwatch.report import LEVELS, ReportContext, render_html, write_report
from planwatch.report.charts import format_number, indicator_chart
from planwatch.report.fixtures import example_context


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


def test_the_report_is_four_files_in_the_folder_it_creates(written):
    paths = written[0]
    assert set(paths) == {"html", "pdf", "docx", "xlsx"}
    assert [paths[k].name for k in ("html", "pdf", "docx", "xlsx")] == ["report.html", "report.pdf", "report.docx", "report.xlsx"]
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths.values())
    assert paths["pdf"].read_bytes().startswith(b"%PDF-")


def test_html_is_chinese_first_with_title_categories_and_every_reason(ctx, html):
    assert '<html lang="zh-CN">' in html
    assert ctx.plan_title in html
    assert f"{ctx.year}年度城市体检评估报告" in html
    for label in ctx.categories.values():
        assert label in html
    own = ctx.evaluation[ctx.evaluation["linked_to"] == ""]
    for reason in own["reason"]:
        assert reason in html
    for r in ctx.evaluation[ctx.evaluation["linked_to"] != ""].itertuples():  # said once, pointing at the row
        assert f"（{r.linked_to}）为同一指标，数据与评级相同" in html
    for line in ctx.notes:
        assert line in html
    for s in ctx.sources:
        assert s["source"] in html


def test_overview_board_counts_levels_by_category_with_coloured_badges(ctx, html):
    board = html[html.index('id="board"') : html.index('id="problems"')]
    for label, colour in LEVELS.values():
        assert label in board
        assert colour in html  # the level colours are in the stylesheet
    for r in ctx.rollup.itertuples():
        row = board[board.index(r.label) :]
        row = row[: row.index("</tr>")]
        counts = [int(n) for n in re.findall(r'<span class="count[^"]*">(\d+)</span>', row)]
        assert counts == [r.green, r.yellow, r.red, r.grey]
        assert f'badge lv-{r.level}">{LEVELS[r.level][0]}' in row


def test_the_problem_list_gives_red_then_yellow_with_reason_article_and_recommendation(ctx, html):
    section = html[html.index('id="problems"') : html.index('class="page category"')]
    own = ctx.evaluation[(ctx.evaluation["linked_to"] == "") & (ctx.evaluation["geo"] == "")]
    warned = own[own["level"].isin(["red", "yellow"])]
    assert len(warned) >= 1 and len(ctx.problems) == len(warned)
    for w in warned.itertuples():
        assert w.reason in section and w.source in section
    for p in ctx.problems.itertuples():
        assert p.recommendation in section and "建议" in p.recommendation
    # the recommendation computes the pace now needed: T29 life expectancy, 82.47 (2021) → 82.8 (2025)
    t29 = ctx.problems.set_index("key").loc["T29"]
    assert "实现2025年目标需自2021年起年均提高0.0825岁" in t29.recommendation
    order = [section.index(r) for r in ctx.problems["problem"]]
    assert order == sorted(order)
    assert list(ctx.problems["level"]) == sorted(ctx.problems["level"], key=["red", "yellow"].index)
    # green and grey rows are not problems
    for r in own.loc[own["level"].isin(["green", "grey"]), "reason"]:
        assert r not in section


def test_every_graded_measure_gets_a_chart_and_the_rest_are_listed_with_their_status(ctx, html):
    own = ctx.evaluation[(ctx.evaluation["linked_to"] == "") & (ctx.evaluation["geo"] == "")]
    assert html.count('<figure class="chart') == len(own)
    assert html.count("<svg") == len(own) + sum(1 for s in ctx.categories if s in set(own["category"]))
    ungraded = ctx.targets[~ctx.targets["id"].isin(ctx.evaluation["id"])]
    assert len(ungraded) > 0
    sections = html[html.index('class="page category"') : html.index('id="forecasts"')]
    assert sections.count("暂无数据</td>") + sections.count("仅有相关统计</td>") == len(ungraded)
    for name in ungraded["name"].head(20):
        assert name in html
    # every target without a graded figure is on the data-coverage page with who would supply it
    coverage = html[html.index('id="coverage"') : html.index('id="sources"')]
    for r in ctx.coverage.itertuples():
        assert r.id in coverage and r.source_hint in coverage
    assert len(ctx.coverage) == len(ungraded)


def test_html_is_self_contained_nothing_is_fetched(html):
    assert "<link" not in html and "<script" not in html
    fetched = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html) + re.findall(r"url\(([^)]+)\)", html)
    assert all(u.startswith(("data:", "#")) for u in fetched), fetched
    # web addresses appear only as printed citations on the sources page
    text_urls = set(re.findall(r"https?://[^\"'\s)<，]+", html)) - {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    sources = html[html.index('id="sources"'):]
    assert all(u in sources for u in text_urls)


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


def test_same_inputs_give_byte_identical_files(written):
    first, second = written
    for kind in ("html", "xlsx", "pdf"):
        assert first[kind].read_bytes() == second[kind].read_bytes(), kind


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
    assert ev.loc["T21", "method"] == "时间进度" and ev.loc["T21", "level"] == "green"
    assert "T36" not in ev.index and "T36" in set(ctx.related["id"])  # subway-only: a related statistic
    assert ev["reason"].str.contains("表第").all()


def test_a_store_with_the_one_map_puts_a_labelled_map_in_the_report(tmp_path):
    from planwatch.demo.onemap import load_demo_map
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
    check_rules(store, plan, 2022)  # stores the rule values as observations: shown, never graded
    html = build_report(plan, store, 2022, tmp_path / "rep2")["html"].read_text(encoding="utf-8")
    assert "由示意数据（非官方）图层计算，不参与评级" in html
    assert 'id="rules"' in html and "第56条" in html and "示意数据，不评级" in html  # the spatial rules section


# ------------------------------------------------------------------ the body speaks Chinese


# Latin words a Chinese report may carry: units, the names of methods, data and licences it cites,
# the product and the CRS. Ids (T05, A56.1, R01), numbers and web addresses are not words here.
LATIN_WHITELIST = {
    "km", "m", "kW", "Mbps",
    "Open", "SDG", "OpenStreetMap", "contributors", "ODbL", "BSD", "MIT", "cnmaps", "CGTN",
    "planwatch", "EPSG", "CGCS", "beijing", "PM",  # PM2.5, in the plan's own name of 第113条's indicator
}


def latin_words(text: str) -> set[str]:
    """Latin words of 2+ letters in ``text`` outside the whitelist, once web addresses, domain names
    and ids are removed."""
    text = re.sub(r"\.\s*\n\s*", ".", text)  # a domain the PDF wrapped at a dot
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"\b[\w.-]+\.\s?(?:com|cn|net|org|gov|htm|html|md|xlsx|docx|pdf)\b\S*", " ", text)  # domains, files
    words = set(re.findall(r"[A-Za-z]{2,}", text))
    return words - LATIN_WHITELIST


def test_latin_word_check_catches_english():
    assert latin_words("2022年 spatial rule R07 over the layers") == {"spatial", "rule", "over", "the", "layers"}
    assert latin_words("© OpenStreetMap contributors（ODbL），https://example.com/a-b，railinks.cn，T05，A56.1") == set()


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    """The demo check-up: real observations (both shipped files), the demo one map, the rules."""
    from planwatch.demo.onemap import load_demo_map
    from planwatch.observe import import_observations
    from planwatch.plan import load_plan
    from planwatch.plan.load import plan_dir
    from planwatch.report.build import build_report
    from planwatch.store import open_store

    plan = load_plan()
    tmp = tmp_path_factory.mktemp("full")
    store = open_store(tmp / "s.gpkg")
    for f in sorted((plan_dir() / "observations").glob("observations_*.csv")):
        import_observations(f, store, plan)
    load_demo_map(store, plan)
    return build_report(plan, store, 2022, tmp / "rep")


def test_the_pdf_body_has_no_english(full_report):
    text = subprocess.run(["pdftotext", "-layout", str(full_report["pdf"]), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "问题清单与对策建议" in text and "数据覆盖情况" in text and "分区评估" in text
    assert latin_words(text) == set()


def test_the_docx_body_has_no_english(full_report):
    from docx import Document

    doc = Document(str(full_report["docx"]))
    parts = [p.text for p in doc.paragraphs]
    parts += [c.text for t in doc.tables for r in t.rows for c in r.cells]
    text = "\n".join(parts)
    assert "问题清单与对策建议" in text
    assert latin_words(text) == set()


def test_the_full_report_has_the_sections_of_a_real_checkup(full_report):
    html = full_report["html"].read_text(encoding="utf-8")
    for anchor in ("board", "problems", "map", "districts", "rules", "forecasts", "coverage", "sources"):
        assert f'id="{anchor}"' in html
    assert "上年值" in html and "变化" in html  # each indicator row: last year's value and the change
    assert "各区排名" in html and "括号内为各区排名" in html  # districts ranked
    assert "回测" in html
