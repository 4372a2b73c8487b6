"""The findings register in the check-up report and in the 问题清单 workbook a bureau circulates: the
open findings overdue first, what was closed in the year up to the check date with its evidence, each
open finding's recommendation and commitment; the computed 问题清单与对策建议 when there is no register."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import subprocess
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from planwatch.findings.view import REGISTER_COLUMNS
from planwatch.findings.xlsx import HEADERS, OVERDUE_FILL, write_register_xlsx
from planwatch.report import render_html
from planwatch.report.build import findings_register
from planwatch.report.fixtures import example_context
from planwatch.report.view import findings_view
from planwatch.store import open_store

PLAN_TITLE = "北京市国土空间近期规划（2021年—2025年）"
TODAY = date.today()
AS_OF = TODAY + timedelta(days=30)  # the check date: the verification (recorded today) was 30 days before it
EVIDENCE = b"%PDF-1.4 test evidence"


def candidate(source: str, title: str, severity: str, level: str, unit: str, *, kind: str = "target",
              synthetic: bool = False) -> dict:
    return {"kind": kind, "source": source, "geo": "", "article": "表第3行", "title": title, "level": level,
            "value": 1.5, "value_unit": "%", "reason": f"{title}：现状值落后于时间进度。",
            "recommendation": f"建议{unit}制定{title}专项措施。", "evidence": {"year": 2022}, "severity": severity,
            "suggested_unit": unit, "synthetic": synthetic}


def move(store, source: str, action: str, from_state: str, to_state: str, **given) -> dict:
    row = store.findings().set_index("source").loc[source]
    args = {"expected_version": int(row["version"]), "action": action, "from_state": from_state, "to_state": to_state,
            "actor": "张三", "text": "", "responsible": None, "due": None, "illustrative": False, "files": [],
            "effective": TODAY.isoformat()} | given
    return store.move_finding(int(row["finding_id"]), **args)


def fill_register(store) -> None:
    """T01 high, assigned, due 10 days from today: 20 days overdue on AS_OF; T02 medium, unassigned;
    T03 verified today with evidence; T04 low, assigned by the demo (illustrative); R01 found on
    synthetic layers; T09 found by the 2023 check-up (not in the 2022 report)."""
    store.generate_findings([
        candidate("T01", "常住人口规模超出调控目标", "high", "red", "市发展改革委"),
        candidate("T02", "绿色出行比例提升滞后", "medium", "yellow", "市交通委"),
        candidate("T03", "城乡建设用地减量滞后", "high", "red", "市规划自然资源委"),
        candidate("T04", "公园绿地服务半径覆盖率提升滞后", "low", "yellow", "市园林绿化局"),
        candidate("R01", "新增产业用地布局不符合要求", "medium", "red", "市规划自然资源委", kind="rule", synthetic=True),
    ], year=2022, covers=[("target", ""), ("rule", "")], plan_id="beijing-2021-2025")
    store.generate_findings([candidate("T09", "二〇二三年发现的问题", "high", "red", "市水务局")], year=2023, covers=[],
                            plan_id="beijing-2021-2025")
    move(store, "T01", "assign", "identified", "assigned", responsible="市发展改革委",
         due=(TODAY + timedelta(days=10)).isoformat(), text="承诺年底前出台人口调控实施方案。")
    move(store, "T03", "assign", "identified", "assigned", responsible="市规划自然资源委",
         due=(TODAY + timedelta(days=20)).isoformat(), text="承诺完成年度减量任务。")
    move(store, "T03", "submit", "assigned", "submitted", text="已完成年度减量任务。",
         files=[{"name": "减量验收报告.pdf", "sha256": hashlib.sha256(EVIDENCE).hexdigest(), "size": len(EVIDENCE),
                 "content": EVIDENCE}])
    move(store, "T03", "verify", "submitted", "verified", actor="李四")
    move(store, "T04", "assign", "identified", "assigned", responsible="市园林绿化局",
         due=(TODAY + timedelta(days=60)).isoformat(), text="计划新建口袋公园。", illustrative=True)


@pytest.fixture(scope="module")
def register_store(tmp_path_factory):
    """A GeoPackage store with the shipped observations and the register of :func:`fill_register`."""
    from planwatch.observe import import_observations
    from planwatch.plan import load_plan
    from planwatch.plan.load import plan_dir

    plan = load_plan()
    store = open_store(tmp_path_factory.mktemp("register") / "s.gpkg", create=True)
    for f in sorted((plan_dir() / "observations").glob("observations_*.csv")):
        import_observations(f, store, plan)
    fill_register(store)
    return plan, store


@pytest.fixture(scope="module")
def view(register_store):
    _, store = register_store
    return findings_register(store, 2022, AS_OF)


@pytest.fixture(scope="module")
def report(register_store, tmp_path_factory):
    """The 2022 report of the store, as of AS_OF: written once (the PDF takes seconds)."""
    from planwatch.report.build import build_report

    plan, store = register_store
    return build_report(plan, store, 2022, tmp_path_factory.mktemp("report") / "rep", as_of=AS_OF)


@pytest.fixture(scope="module")
def html(report) -> str:
    return report["html"].read_text(encoding="utf-8")


def section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    return html[start:html.index("</section>", start)]


def row_of(part: str, code: str) -> str:
    at = part.index(code)
    return part[part.rindex("<tr", 0, at):part.index("</tr>", at)]


def codes(view, source: str) -> str:
    return view.set_index("source").loc[source, "code"]


# ------------------------------------------------------------------ what the report reads


def test_the_report_reads_the_findings_of_its_year_and_earlier_overdue_on_the_check_date(view):
    assert list(view.columns) == REGISTER_COLUMNS
    assert sorted(view["source"]) == ["R01", "T01", "T02", "T03", "T04"]  # T09 is of 2023
    by = view.set_index("source")
    assert by.loc["T01", "overdue"] and by.loc["T01", "days_overdue"] == 20
    assert not by.loc["T04", "overdue"] and by.loc["T04", "illustrative"]
    assert by.loc["T03", "closed_at"] == TODAY.isoformat() and by.loc["T03", "closed_how"] == "verify"


def test_a_store_without_findings_gives_an_empty_register(tmp_path):
    store = open_store(tmp_path / "empty.gpkg", create=True)
    assert findings_register(store, 2022, AS_OF).empty


# ------------------------------------------------------------------ the report's three sections


def test_the_report_has_the_three_sections_in_order_in_the_contents_too(html):
    at = [html.index(f'id="{a}"') for a in ("board", "problems", "rectification", "measures")]
    assert at == sorted(at)
    assert "问题清单与对策建议" not in html
    toc = html[html.index('<nav class="toc">'):html.index("</nav>")]
    assert [t for t in re.findall(r'<a href="#(\w+)">', toc)][1:4] == ["problems", "rectification", "measures"]
    assert ">问题清单</a>" in toc and ">整改进展</a>" in toc and ">对策建议</a>" in toc


def test_the_problem_list_puts_the_overdue_finding_first_marked_red(html, view):
    part = section(html, "problems")
    order = [part.index(codes(view, s)) for s in ("T01", "T02", "R01", "T04")]  # overdue, then by severity, unit
    assert order == sorted(order)
    assert codes(view, "T03") not in part  # closed: not on the list
    first = row_of(part, codes(view, "T01"))
    assert 'class="overdue"' in first and "逾期20天" in first and "市发展改革委" in first
    assert "表第3行" in first and "常住人口规模超出调控目标" in first
    unassigned = row_of(part, codes(view, "T02"))
    assert "建议：市交通委" in unassigned and "overdue" not in unassigned and "已发现" in unassigned
    assert "示意" in row_of(part, codes(view, "T04")) and "示意数据（非官方）" in row_of(part, codes(view, "R01"))
    # the summary: counts by severity and by state, overdue as of the check date
    assert "尚未关闭的问题共4项" in part
    assert "高1项、中2项、低1项" in part and "已发现2项、已交办2项" in part
    assert f"按{AS_OF.isoformat()}计，逾期1项" in part
    assert "演示程序写入的示意条目" in part


def test_rectification_lists_what_closed_in_the_365_days_up_to_the_check_date_with_its_evidence(html, view):
    part = section(html, "rectification")
    start = AS_OF - timedelta(days=364)
    assert f"{start.isoformat()}至{AS_OF.isoformat()}（含首尾，共365天）关闭的问题共1项：已销号1项" in part
    row = row_of(part, codes(view, "T03"))
    assert TODAY.isoformat() in row and "已销号" in row and "李四" in row and "市规划自然资源委" in row
    assert f"减量验收报告.pdf（sha256 {hashlib.sha256(EVIDENCE).hexdigest()[:8]}）" in row
    for source in ("T01", "T02", "T04", "R01"):
        assert codes(view, source) not in part


def test_measures_give_each_open_findings_recommendation_and_commitment(html, view):
    part = section(html, "measures")
    by = view.set_index("source")
    for source in ("T01", "T02", "T04", "R01"):
        row = row_of(part, by.loc[source, "code"])
        assert by.loc[source, "recommendation"] in row
    assert "承诺年底前出台人口调控实施方案。" in row_of(part, by.loc["T01", "code"])
    assert "计划新建口袋公园。" in row_of(part, by.loc["T04", "code"])
    assert "尚未交办" in row_of(part, by.loc["T02", "code"]) and "尚未交办" in row_of(part, by.loc["R01", "code"])
    assert by.loc["T03", "code"] not in part


def test_the_window_and_the_empty_sentences_say_what_was_computed(view):
    ctx = dataclasses.replace(example_context(), findings=view, as_of=AS_OF.isoformat())
    later = AS_OF + timedelta(days=400)  # the verification lies outside the 365 days up to it
    far = findings_view(dataclasses.replace(ctx, as_of=later.isoformat()))
    assert far["progress"] == []
    assert far["progress_summary"] == (f"{(later - timedelta(days=364)).isoformat()}至{later.isoformat()}（含首尾，共365天）"
                                       "没有销号、风险接受或撤销的问题。")
    closed_only = findings_view(dataclasses.replace(ctx, findings=view[view["source"] == "T03"]))
    assert closed_only["open"] == [] and "没有尚未关闭的问题" in closed_only["summary"]
    assert "问题台账中没有" not in " ".join(findings_view(ctx)["notes"])


def test_the_docx_has_the_three_headings_and_the_overdue_badge(report):
    from docx import Document

    doc = Document(str(report["docx"]))
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert headings[1:4] == ["问题清单", "整改进展", "对策建议"]
    assert "问题清单与对策建议" not in headings
    cells = "\n".join(c.text for t in doc.tables for r in t.rows for c in r.cells)
    assert "逾期20天" in cells and "尚未交办" in cells and "减量验收报告.pdf" in cells


def test_the_docx_says_everything_the_html_says(report):
    from docx import Document

    from tests.test_report_docx import _HtmlText, all_text, squeeze

    parts = _HtmlText()
    parts.feed(report["html"].read_text(encoding="utf-8"))
    doc = Document(str(report["docx"]))
    assert [p.text for p in doc.paragraphs if p.style.name == "Heading 1"] == parts.h2
    text = squeeze(all_text(doc))
    assert [c for c in parts.chunks if squeeze(c) not in text and "report.docx" not in c] == []


def test_the_pdf_prints_the_sections_in_chinese(report):
    text = subprocess.run(["pdftotext", "-layout", str(report["pdf"]), "-"], capture_output=True, text=True,
                          check=True).stdout
    for words in ("问题清单", "整改进展", "对策建议", "逾期20天", "尚未交办", "已销号", "示意数据（非官方）"):
        assert words in text
    from tests.test_report import latin_words

    # the evidence reference is a file name and the first hex digits of its sha256
    assert latin_words(text.replace(hashlib.sha256(EVIDENCE).hexdigest()[:8], "")) <= {"sha"}


def test_the_report_workbook_has_the_register_and_the_progress_sheets(report, view):
    wb = load_workbook(report["xlsx"])
    assert wb.sheetnames[:4] == ["看板", "问题清单", "整改进展", "对策建议"]
    ws = wb["问题清单"]
    header = next(r for r in range(1, 10) if ws.cell(r, 1).value == "序号")
    assert [c.value for c in ws[header]] == HEADERS
    assert ws.cell(header + 1, 2).value == codes(view, "T01")
    assert ws.cell(header + 1, 1).fill.fgColor.rgb.endswith(OVERDUE_FILL.fgColor.rgb[-6:])
    progress = [[c.value for c in r] for r in wb["整改进展"].iter_rows()]
    assert progress[1][1] == codes(view, "T03") and "减量验收报告.pdf" in progress[1][7]


# ------------------------------------------------------------------ the standalone workbook


def test_the_register_workbook_opens_with_chinese_headers_and_the_overdue_row_filled(view, tmp_path):
    path = write_register_xlsx(view, tmp_path / "问题清单.xlsx", check_date=AS_OF, plan_title=PLAN_TITLE)
    wb = load_workbook(path)
    assert wb.sheetnames == ["问题清单"]
    ws = wb["问题清单"]
    assert ws.cell(1, 1).value == f"{PLAN_TITLE}实施体检问题清单"
    assert ws.cell(2, 1).value.startswith(f"截至{AS_OF.isoformat()}（逾期按截至日计算）")
    assert "示意" in ws.cell(3, 1).value and "演示" in ws.cell(3, 1).value
    header = next(r for r in range(1, 10) if ws.cell(r, 1).value == "序号")
    assert [c.value for c in ws[header]] == [
        "序号", "问题编号", "发现年度", "问题类型", "问题", "区域", "规划依据", "现状与原因", "严重程度", "建议责任单位",
        "责任单位", "整改时限", "状态", "逾期天数", "整改承诺/进展", "整改佐证", "销号日期", "备注",
    ]  # fmt: skip
    assert ws.freeze_panes == f"C{header + 1}" and ws.auto_filter.ref.startswith(f"A{header}:R")
    rows = [{h: c.value for h, c in zip(HEADERS, r, strict=True)} for r in ws.iter_rows(min_row=header + 1)]
    assert [r["问题编号"] for r in rows] == [codes(view, s) for s in ("T01", "T02", "R01", "T04", "T03")]
    overdue = rows[0]
    assert overdue["逾期天数"] == 20 and overdue["责任单位"] == "市发展改革委" and overdue["区域"] == "全市"
    assert overdue["整改承诺/进展"] == "承诺年底前出台人口调控实施方案。"
    assert all(ws.cell(header + 1, j).fill.fgColor.rgb[-6:] == OVERDUE_FILL.fgColor.rgb[-6:] for j in range(1, 19))
    days = ws.cell(header + 1, HEADERS.index("逾期天数") + 1)
    assert days.font.b and days.font.color.rgb.endswith("C62828")
    assert ws.cell(header + 2, 1).fill.fgColor.rgb[-6:] != OVERDUE_FILL.fgColor.rgb[-6:]
    assert rows[1]["逾期天数"] is None and rows[1]["责任单位"] is None and rows[1]["建议责任单位"] == "市交通委"
    assert rows[2]["备注"] == "示意数据（非官方）" and rows[3]["备注"] == "示意"
    closed = rows[4]
    assert closed["状态"] == "已销号" and closed["销号日期"] == TODAY.isoformat() and "减量验收报告.pdf" in closed["整改佐证"]
    assert ws.cell(header + 1, 1).font.name == "微软雅黑"
    # the same register gives the same bytes; only_open leaves the closed one out
    again = write_register_xlsx(view, tmp_path / "again.xlsx", check_date=AS_OF, plan_title=PLAN_TITLE)
    assert again.read_bytes() == path.read_bytes()
    only = load_workbook(write_register_xlsx(view, tmp_path / "open.xlsx", check_date=AS_OF, plan_title=PLAN_TITLE,
                                             only_open=True))["问题清单"]
    assert codes(view, "T03") not in [c.value for c in only["B"]]


def test_register_text_is_written_as_text_never_a_formula(view, tmp_path):
    evil = view.copy()
    evil.loc[evil.index[0], "title"] = "=HYPERLINK(\"http://example.invalid\",\"x\")"
    ws = load_workbook(write_register_xlsx(evil, tmp_path / "x.xlsx", check_date=AS_OF, plan_title=PLAN_TITLE))["问题清单"]
    cells = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert cells and all(c.data_type == "s" for c in cells)


# ------------------------------------------------------------------ no register: the computed section


def test_without_findings_the_report_keeps_the_computed_problem_list(register_store, tmp_path, monkeypatch):
    import planwatch.report.build as build

    ctx = example_context()
    html = render_html(ctx)
    part = section(html, "problems")
    assert "<h2>问题清单与对策建议</h2>" in part and 'id="rectification"' not in html
    for p in ctx.problems.itertuples():
        assert p.recommendation in part
    assert "2022年及以前的体检问题尚未生成问题台账" in part
    # the command that generates it: a tooltip on screen (the printed report carries no command line)
    assert 'title="生成问题台账：planwatch findings generate --year 2022"' in part
    # a store whose findings are all of a later year: the 2021 report has none
    plan, store = register_store
    monkeypatch.setattr(build, "write_report", lambda ctx, out_dir: ctx)
    ctx2021 = build.build_report(plan, store, 2021, tmp_path, as_of=AS_OF)
    assert ctx2021.findings.empty
    assert "<h2>问题清单与对策建议</h2>" in render_html(ctx2021)
