"""The five-year evaluation report (五年评估报告): the bureau's final account of the plan period, from
the shipped real observations and the demo one map, in HTML, PDF, DOCX and XLSX."""

from __future__ import annotations

import math
import re
import shutil
import subprocess

import pandas as pd
import pytest
from lxml import html as lxml_html
from markupsafe import escape
from typer.testing import CliRunner

from planwatch.evaluate.final import VERDICT_ZH, final_account
from tests.test_report import latin_words

YEAR = 2025


@pytest.fixture(scope="module")
def five_year(tmp_path_factory):
    """As the demo: both shipped observation files and the demo one map in a fresh store, the 2022 rule
    values stored (computed from synthetic layers: kept, never graded), then the 2025 report."""
    from planwatch.demo.onemap import load_demo_map
    from planwatch.observe import import_observations
    from planwatch.onemap.rules import check_rules
    from planwatch.plan import load_plan
    from planwatch.plan.load import plan_dir
    from planwatch.report.five_year import build_five_year_report
    from planwatch.store import open_store

    plan = load_plan()
    tmp = tmp_path_factory.mktemp("five_year")
    store = open_store(tmp / "s.gpkg")
    for f in sorted((plan_dir() / "observations").glob("observations_*.csv")):
        import_observations(f, store, plan)
    load_demo_map(store, plan)
    check_rules(store, plan, 2022)
    paths = build_five_year_report(plan, store, YEAR, tmp / "out")
    obs = store.observations()
    return {"plan": plan, "store": store, "obs": obs, "paths": paths, "final": final_account(plan, obs, YEAR),
            "html": paths["html"].read_text(encoding="utf-8")}


def section(html: str, anchor: str) -> str:
    """The HTML of one ``<section id=anchor>``."""
    start = html.index(f'id="{anchor}"')
    return html[start:html.index("</section>", start)]


def table_rows(html: str, anchor: str, table_class: str = "") -> dict[str, str]:
    """Text of each body row of a section's tables, keyed by the target or rule id the row names first."""
    doc = lxml_html.fromstring(section(html, anchor).split(">", 1)[1])
    rows = {}
    for tr in doc.xpath(f"//table{f'[contains(@class, {table_class!r})]' if table_class else ''}/tbody/tr"):
        text = tr.text_content()
        m = re.search(r"(?<![A-Za-z0-9])([TR]\d{2}|A\d{1,3}\.\d{1,2})(?![\d.])", text)  # CJK is \w: no \b
        if m:
            rows.setdefault(m.group(1), text)
    return rows


def docx_text(path) -> str:
    from docx import Document

    doc = Document(str(path))
    parts = [p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join(parts)


# ------------------------------------------------------------------ the four files


def test_the_report_is_written_as_html_pdf_docx_and_xlsx_with_the_cjk_font_embedded(five_year):
    paths = five_year["paths"]
    assert set(paths) == {"html", "pdf", "docx", "xlsx"}
    assert all(p.name == f"report.{k}" and p.stat().st_size > 10_000 for k, p in paths.items())
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    assert shutil.which("pdffonts"), "pdffonts (poppler-utils) is needed to check the PDF fonts"
    out = subprocess.run(["pdffonts", str(paths["pdf"])], capture_output=True, text=True, check=True).stdout
    cjk = [line.split() for line in out.splitlines()[2:] if re.search(r"Noto-?S\w+-?CJK", line, re.I)]
    assert cjk and all(f[-5] == "yes" for f in cjk), out
    html = five_year["html"]
    assert "五年评估报告" in html and "规划期：2021—2025年" in html
    for anchor in ("board", "cat-1", "rules", "bridge", "gaps", "methods"):
        assert f'id="{anchor}"' in html


def test_the_workbook_has_chinese_sheets_and_headers(five_year):
    from openpyxl import load_workbook

    wb = load_workbook(five_year["paths"]["xlsx"])
    assert wb.sheetnames == ["看板", "最终评估", "空间规则", "衔接2035年", "数据缺口", "观测数据", "指标目标", "数据来源", "评估方法"]
    for ws in wb.worksheets:
        headers = [c.value for c in next(ws.iter_rows(max_row=1))]
        assert not [h for h in headers if h and re.search(r"[A-Za-z]{3,}", h) and "SDG" not in h], (ws.title, headers)
    final = wb["最终评估"]
    headers = [c.value for c in final[1]]
    verdicts = [row[headers.index("评估结论")] for row in final.iter_rows(min_row=2, values_only=True)]
    assert len(verdicts) == len(five_year["final"]) and set(verdicts) <= set(VERDICT_ZH.values())


# ------------------------------------------------------------------ the board and the summary


def test_the_board_counts_are_the_final_accounts_own_and_a_restated_target_counts_once(five_year):
    plan, fa = five_year["plan"], five_year["final"]
    items = fa[fa["linked_to"] == ""]
    assert len(items) == sum(1 for t in plan.targets if not t.same_as) < len(fa)
    doc = lxml_html.fromstring(section(five_year["html"], "board").split(">", 1)[1])
    shown = {tr.xpath("./td")[0].text_content(): [int(td.text_content()) for td in tr.xpath("./td")[1:]]
             for tr in doc.xpath("//table[contains(@class, 'board')]/tbody/tr")}
    for code, label in plan.meta.categories.items():
        mine = items[items["category"] == code]
        expected = [int((mine["verdict"] == v).sum()) for v in ("met", "nearly", "missed", "unknown")]
        assert shown[label] == [*expected, len(mine), int(mine["provisional"].sum())], label
    assert shown["合计"][4] == len(items)


def test_the_summary_says_how_many_verdicts_are_provisional_and_how_many_targets_have_no_data(five_year):
    plan, fa, obs = five_year["plan"], five_year["final"], five_year["obs"]
    items = fa[fa["linked_to"] == ""]
    n_prov = int(items["provisional"].sum())
    assert n_prov > 0  # the shipped data stop before 2025
    cover = five_year["html"].split('id="board"')[0]
    assert f"其中{n_prov}项基于2025年以前的数据，为暂定结论" in cover
    assert "0项基于2025年数据" in cover
    # no figure of any kind (graded, another scope, synthetic, district) and not a qualitative target
    seen = set(obs.loc[obs["year"] <= YEAR, "indicator"])
    nothing = [t.id for t in plan.targets if not t.same_as and t.id not in seen
               and (t.target_for(YEAR) or t.targets[-1]).kind.value != "qualitative"]
    assert nothing and f"没有任何数据{len(nothing)}项" in cover
    assert "尚无任何指标口径一致的2025年数据" in cover  # the notice: no 2025 figure exists yet


# ------------------------------------------------------------------ the category pages


def test_every_final_reason_appears_in_the_html_and_the_docx(five_year):
    html, text = five_year["html"], docx_text(five_year["paths"]["docx"])
    for r in five_year["final"].itertuples():
        assert str(escape(r.reason)) in html, r.id
        assert r.reason in text, r.id


def test_a_provisional_row_says_which_year_it_rests_on_and_that_it_is_provisional(five_year):
    fa = five_year["final"]
    html = five_year["html"]
    rows = {}
    for i in range(1, len(five_year["plan"].meta.categories) + 1):
        rows |= table_rows(html, f"cat-{i}", "indicators")
    provisional = fa[fa["provisional"]]
    assert len(provisional) >= 5
    for r in provisional.itertuples():
        assert f"基于{int(r.year)}年数据" in rows[r.id] and "暂定" in rows[r.id], r.id
        assert f"{r.value_text}{r.unit}" in rows[r.id]  # the figure as published, with its unit
    for r in fa[fa["value"].isna()].itertuples():
        assert "暂定" not in rows[r.id], r.id  # no figure, nothing provisional
    # the gap in the target's unit (percentage points for a share) and in per cent
    t01 = fa.set_index("id").loc["T01"]
    assert "+0.83个百分点" in rows["T01"] and f"{t01.gap_pct:+.1f}%" in rows["T01"]


def test_a_chart_per_indicator_with_data_on_the_plan_path_to_2035(five_year):
    fa = five_year["final"]
    with_data = fa[(fa["linked_to"] == "") & fa["value"].notna()]
    html = five_year["html"]
    assert html.count('<figure class="chart') == len(with_data)
    t02 = html[html.index("T02　表第2行　基于2022年数据，暂定"):][:40000]  # its chart: 2025 and 2035 targets
    assert "2025年目标 17" in t02 and "2035年目标 18" in t02


def test_a_recorded_judgement_shows_its_author_date_and_evidence_and_the_rest_need_one():
    from planwatch.plan import load_plan
    from planwatch.report.five_year import build_five_year_context, render_five_year_html

    plan = load_plan()
    obs = pd.DataFrame({"indicator": ["T02"], "year": [2023], "value": [16.9], "raw_value": ["16.9"], "unit": ["%"]})
    j = pd.DataFrame([{"target": "T16", "year": 2025, "verdict": "达成", "by": "张三", "date": "2026-03-01",
                       "evidence": "能耗考核通报.pdf", "note": ""}])
    ctx = build_five_year_context(plan, obs, 2025, judgements=j)
    html = render_five_year_html(ctx)
    rows = table_rows(html, "cat-3", "indicators")
    assert all(x in rows["T16"] for x in ("张三", "2026-03-01", "能耗考核通报.pdf", "达成", "人工评估"))
    assert "需人工评估" in rows["T17"] and "张三" not in rows["T17"]
    assert "T16" not in ctx.gaps["id"].tolist() and "T17" in ctx.gaps["id"].tolist()
    assert "1项定性目标采用人工评估结论" in html
    assert "基于2023年数据" in table_rows(html, "cat-1", "indicators")["T02"]
    assert 'id="rules"' not in html  # no layers: no rules section, and it says nothing about them


def test_an_evaluation_year_before_the_periods_end_says_it_is_not_the_final_result():
    from planwatch.plan import load_plan
    from planwatch.report.five_year import build_five_year_context, render_five_year_html

    plan = load_plan()
    obs = pd.DataFrame({"indicator": ["T02"], "year": [2022], "value": [16.6], "raw_value": ["16.6"], "unit": ["%"]})
    html = render_five_year_html(build_five_year_context(plan, obs, 2023))
    assert "评估年度2023年早于规划期末2025年" in html and "不是规划期末的最终结论" in html
    with pytest.raises(ValueError, match="outside the plan period"):
        build_five_year_context(plan, obs, 2026)


# ------------------------------------------------------------------ the spatial rules over the period


def test_every_rule_is_shown_for_every_year_and_synthetic_layers_are_never_graded(five_year):
    from planwatch.onemap.rules import evaluate_rules, rule_layers

    plan = five_year["plan"]
    rules_html = section(five_year["html"], "rules")
    assert all(f"{y}年" in rules_html for y in range(2021, YEAR + 1))
    rows = table_rows(five_year["html"], "rules")
    assert set(rows) == {r.id for r in plan.spatial.rules}
    layers = rule_layers(five_year["store"], plan)
    valued = 0
    for y in range(2021, YEAR + 1):
        res = evaluate_rules(plan.spatial.rules, layers, y, metric_crs=plan.spatial.metric_crs)
        valued += int(res["status"].isin(["pass", "fail"]).sum())
        r01 = res.set_index("id").loc["R01"]
        if math.isfinite(r01["value"]):
            assert f"{r01['value']:g}%" in rows["R01"]
    assert valued and rules_html.count("示意数据，不评级") == valued  # every computed value, each year: grey
    assert "lv-green" not in rules_html and "lv-red" not in rules_html
    assert rules_html.count("无数据") == 5 * len(plan.spatial.rules) - valued  # the demo has no records after 2023


# ------------------------------------------------------------------ the bridge to 2035


def test_the_bridge_gives_the_pace_and_2030_suggestions_marked_as_not_targets(five_year):
    bridge_html = section(five_year["html"], "bridge")
    rows = table_rows(five_year["html"], "bridge", "bridge")
    # T02: 16.6% in 2022 (2020: 16%), 18% in 2035 — by hand from the formulas in the method notes
    need = (18 - 16.6) / (2035 - 2022)
    assert "+0.1077个百分点" in rows["T02"] and "+0.3个百分点" in rows["T02"]
    assert f"{need / 0.3:.2f}" in rows["T02"]  # required ÷ achieved
    linear, growth = 16.6 + need * (2030 - 2022), 16.6 * (18 / 16.6) ** ((2030 - 2022) / (2035 - 2022))
    assert f"{linear:.2f}%" in rows["T02"] and f"{growth:.2f}%" in rows["T02"]
    suggestions = sum(1 for r in rows.values() if "建议值，非目标" in r)
    assert suggestions >= 4 and bridge_html.count("建议值，非目标") >= 2 * suggestions - 1
    assert "已满足上限" in rows["T05"]  # a kept ceiling needs no pace
    assert "2035年目标“大气环境质量得到根本改善”" in rows["T12"]  # the plan's own wording, even with no pace


# ------------------------------------------------------------------ the data gaps


def test_the_data_gaps_list_every_target_without_data_with_its_source_hint(five_year):
    plan, fa = five_year["plan"], five_year["final"]
    gaps = section(five_year["html"], "gaps")
    missing = set(fa.loc[fa["value"].isna(), "id"])
    listed = set(re.findall(r"<tr><td>([TA][\d.]+)</td>", gaps))
    assert listed == missing
    for t in plan.targets:
        if t.id in missing:
            assert str(escape(t.source_hint)) in gaps, t.id
    assert "没有任何数据" in gaps and "定性目标，需人工评估" in gaps
    assert "仅有由示意数据图层计算的数值" in gaps  # A56.1 etc.: only computed from the synthetic layers


# ------------------------------------------------------------------ the body speaks Chinese


def test_the_pdf_and_docx_bodies_have_no_english(five_year):
    text = subprocess.run(["pdftotext", "-layout", str(five_year["paths"]["pdf"]), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "最终评估看板" in text and "数据缺口" in text and "建议值，非目标" in text
    assert latin_words(text) == set()
    assert latin_words(docx_text(five_year["paths"]["docx"])) == set()


def test_the_same_inputs_give_the_same_files(five_year, tmp_path):
    from planwatch.report.five_year import build_five_year_report

    again = build_five_year_report(five_year["plan"], five_year["store"], YEAR, tmp_path)
    for kind in ("html", "pdf", "docx", "xlsx"):
        assert again[kind].read_bytes() == five_year["paths"][kind].read_bytes(), kind


# ------------------------------------------------------------------ the command line


def test_the_cli_refuses_a_five_year_report_outside_the_plan_period(tmp_path):
    from planwatch.cli.main import app

    runner = CliRunner()
    for year in (2020, 2026, 2035):
        out = tmp_path / f"out{year}"
        r = runner.invoke(app, ["report", "--kind", "five-year", "--year", str(year), "--out", str(out),
                                "--db", str(tmp_path / "s.gpkg"), "--force"])
        assert r.exit_code == 1, r.output
        assert "outside the plan period (2021–2025)" in r.output and not out.exists()
    r = runner.invoke(app, ["report", "--kind", "decade", "--year", "2025", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--kind must be annual or five-year" in r.output
    assert not (tmp_path / "s.gpkg").exists()  # nothing was created
