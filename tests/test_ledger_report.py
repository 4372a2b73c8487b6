"""The quota ledger in the check-up report: a planner reads, for the report year, what each district's
flow pool was released, credited, moved, reserved, used and has left, by district and by 圈层; the
caps with their articles (one exceeded in red); the central city's net growth against 第28条 without
a stock the ledger does not know; the land path as 基期 plus the ledger's net change, said to be
exactly that; and each pool's balance through the year. Illustrative figures say 示意 everywhere."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from decimal import Decimal

import pytest
from docx import Document
from openpyxl import load_workbook

from planwatch.ledger.summary import summarize
from planwatch.plan import load_plan
from planwatch.report import render_html, write_report
from planwatch.report.charts import ledger_chart
from planwatch.report.docx import write_docx
from planwatch.report.fixtures import example_context
from planwatch.report.ledger_section import TITLE, cover_note, ledger_view
from planwatch.report.xlsx import write_xlsx
from planwatch.services import ServiceError
from planwatch.services import ledger as L
from planwatch.store import open_store
from tests.test_report import latin_words

BY = "测试用户"


def post_small_ledger(store, plan, *, illustrative: bool = True) -> None:
    """By hand, with effective dates: one 2021 release, nine 2022 operations, one 2023 release."""
    def go(fn, when, **args):
        return fn(store, plan, by=BY, when=when, illustrative=illustrative, memo="测试", **args)

    go(L.release, "2021-06-01", pool="floor_area:通州区", amount=200_000, year=2021)
    go(L.release, "2022-02-01", pool="floor_area:顺义区", amount=1_000_000, year=2022)
    go(L.release, "2022-02-01", pool="land:大兴区", amount=500_000, year=2022)
    go(L.credit_reduction, "2022-03-01", pool="floor_area:朝阳区", demolished=300_000, ratio=1.5, ref="地块甲")
    go(L.credit_reduction, "2022-03-15", pool="land:房山区", demolished=400_000, ratio=2, ref="地块乙")
    go(L.reserve, "2022-04-01", project="项目一", pool="floor_area:朝阳区", amount=150_000)
    go(L.reserve, "2022-04-01", project="项目二", pool="land:大兴区", amount=300_000)
    go(L.commit, "2022-05-01", project="项目一", amount=120_000)
    go(L.transfer, "2022-06-01", source="floor_area:顺义区", target="floor_area:大兴区", amount=100_000)
    go(L.commit, "2022-07-01", project="项目二")
    go(L.release, "2023-01-10", pool="floor_area:通州区", amount=500_000, year=2023)


@pytest.fixture(scope="module")
def plan():
    return load_plan()


@pytest.fixture(scope="module")
def tables(plan, tmp_path_factory):
    store = open_store(tmp_path_factory.mktemp("ledger") / "s.gpkg")
    post_small_ledger(store, plan)
    return store.ledger_tables()


@pytest.fixture(scope="module")
def summary(plan, tables):
    return summarize(plan.ledger, tables, plan, 2022)


@pytest.fixture(scope="module")
def empty(plan, tmp_path_factory):
    store = open_store(tmp_path_factory.mktemp("empty") / "s.gpkg")
    return summarize(plan.ledger, store.ledger_tables(), plan, 2022)


@pytest.fixture(scope="module")
def base_ctx():
    return example_context()


def section(html: str) -> str:
    start = html.index('id="ledger"')
    return html[start:html.index("</section>", start)]


def pools(summary, quota: str) -> dict:
    q = next(q for q in summary.quotas if q.quota == quota)
    return {r.name: r for r in (*q.districts, *q.rings, q.total)}


# ------------------------------------------------------------------ the figures


def test_the_pools_add_up_by_district_ring_and_city_at_the_end_of_the_year(summary):
    fa = pools(summary, "floor_area")
    assert (fa["顺义区"].released, fa["顺义区"].transferred, fa["顺义区"].available) == (1_000_000, -100_000, 900_000)
    assert (fa["朝阳区"].credited, fa["朝阳区"].committed, fa["朝阳区"].available, fa["朝阳区"].demolished) == \
        (200_000, 120_000, 80_000, 300_000)  # 300,000 m² demolished at 1.5 credits 200,000; 150,000 reserved, 120,000 used
    assert (fa["大兴区"].transferred, fa["大兴区"].available) == (100_000, 100_000)
    assert fa["通州区"].released == 200_000  # released in 2021: counted; the 2023 release is not
    assert fa["平原新城"].available == 1_000_000 and fa["城市副中心"].available == 200_000
    assert fa["中心城区"].demolished == 300_000 and fa["核心区"].demolished == 0  # 核心区 ⊂ 中心城区
    total = fa["全市"]
    assert (total.released, total.credited, total.transferred, total.reserved, total.committed, total.available,
            total.demolished) == (1_200_000, 200_000, 0, 0, 120_000, 1_280_000, 300_000)
    land = pools(summary, "land")
    assert (land["大兴区"].released, land["大兴区"].committed, land["大兴区"].available) == (500_000, 300_000, 200_000)
    assert (land["房山区"].credited, land["房山区"].demolished) == (200_000, 400_000)
    for q in summary.quotas:
        for r in (*q.districts, *q.rings, q.total):
            assert r.released + r.credited + r.transferred == r.reserved + r.committed + r.available, r
    q = summary.quotas[0]
    assert "东城区" in q.idle and "顺义区" not in q.idle
    assert (q.planned, q.released_from_plan, q.unreleased) == (6_000_000, 1_000_000, 5_000_000)


def test_operations_count_what_people_posted_not_the_schedule(summary):
    assert summary.operations == 10 and summary.operations_in_year == 9  # the 2021 release counts, 2023's does not
    assert dict(summary.ops_in_year) == {"release": 2, "reserve": 2, "commit": 2, "credit_reduction": 2, "transfer": 1}
    assert summary.illustrative and summary.illustrative_operations == 10


def test_the_central_city_net_growth_and_the_land_path_against_the_plan_targets(summary, plan):
    refs = {r.key: r for r in summary.references}
    central = refs["central_floor_area"]
    assert central.kind == "net_growth" and central.target_id == "A28.1"
    assert (central.held, central.committed, central.demolished, central.net_growth) == (80_000, 120_000, 300_000, -100_000)
    assert central.net_in_target_unit == Decimal("-0.001") and not central.cap_over  # 亿平方米
    assert central.targets[0].value == plan.target("A28.1").targets[0].value
    city = refs["city_land"]
    assert city.kind == "net_change" and (city.committed, city.demolished, city.net_change) == (300_000, 400_000, -100_000)
    base = plan.target("T09").baseline.value
    assert city.implied == Decimal(repr(base)) - Decimal("0.1")  # 2808.6 - 0.1 km²
    assert [t.value for t in city.targets] == [t.value for t in plan.target("T09").targets]
    land = refs["central_land"]
    assert land.kind == "net_change" and land.baseline is None and land.implied is None and land.net_change == 0


def test_each_pool_with_activity_in_the_year_has_its_balance_through_the_year(summary):
    series = {(s.quota, s.district): s.points for s in summary.series}
    assert series[("floor_area", "顺义区")] == (("2022-01-01", 0), ("2022-02-01", 1_000_000), ("2022-06-01", 900_000),
                                                ("2022-12-31", 900_000))
    assert series[("floor_area", "朝阳区")] == (("2022-01-01", 0), ("2022-03-01", 200_000), ("2022-04-01", 50_000),
                                                ("2022-05-01", 80_000), ("2022-12-31", 80_000))
    assert ("floor_area", "通州区") not in series  # nothing in 2022: its 200,000 m² of 2021 is a flat line left out


def test_the_release_cap_counts_the_report_year_only(summary):
    cap = next(c for c in summary.caps if c.measure == "released")
    measured = {s.scope: s.measured for s in cap.scopes if s.measured}
    assert cap.year == 2022 and measured == {"顺义区": 1_000_000}
    zero = next(c for c in summary.caps if c.measure == "net_growth")
    assert zero.article == 28 and zero.scopes[0].measured == -100_000 and not zero.over


# ------------------------------------------------------------------ the section


@pytest.fixture(scope="module")
def written(base_ctx, summary, tmp_path_factory):
    """The example report with the small ledger: HTML, PDF, DOCX and XLSX (the PDF once: it takes seconds)."""
    return write_report(dataclasses.replace(base_ctx, ledger=summary), tmp_path_factory.mktemp("rep") / "out")


def test_the_section_shows_the_tables_caps_targets_and_chart_labelled_illustrative(written):
    html = written["html"].read_text(encoding="utf-8")
    toc = html[html.index('<nav class="toc">'):html.index("</nav>")]
    assert f'<a href="#ledger">{TITLE}</a>' in toc
    part = section(html)
    for words in ("建筑规模指标：各区流量池（示意）", "城乡建设用地指标：各圈层合计（示意）", "2022年度释放计划（示意）",
                  "约束检查（示意）", "与规划指标对照（示意）", "2022年各流量池余额变化（示意）"):
        assert words in part
    assert "1,280,000.00" in part and "-100,000.00" in part  # the city's pool; transfers out of 顺义区
    assert "第28条：“中心城区规划总建筑规模控制在8.5亿平方米左右并实现动态零增长”" in part
    assert "不记录中心城区现状总建筑规模" in part and "不能据此判断" in part
    assert "2808.6 － 0.1 ＝ 2808.5平方公里" in part and "不是国土变更调查的现状规模" in part
    assert "未给出中心城区城乡建设用地规模的基期值" in part
    assert "<svg" in part  # the chart
    assert "超出上限</span>" not in part and 'class="over"' not in part and "各项约束均未超出上限" in part
    assert "本节的10笔台账操作均标注为示意" in part


def test_the_pdf_prints_the_section_in_chinese(written):
    text = subprocess.run(["pdftotext", "-layout", str(written["pdf"]), "-"], capture_output=True, text=True,
                          check=True).stdout
    start = text.index(TITLE + "\n")
    part = text[start:text.index("坚持创新发展", start)]
    squashed = re.sub(r"\s+", "", part)
    assert "建筑规模指标：各区流量池（示意）" in squashed and "2022年各流量池余额变化（示意）" in squashed
    assert "\ufffd" not in part and "□" not in part
    assert latin_words(part) == set()


def test_the_docx_has_the_section_its_tables_and_the_chart(written):
    doc = Document(str(written["docx"]))
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    assert TITLE in headings and "2022年各流量池余额变化（示意）" in headings
    cells = "\n".join(c.text for t in doc.tables for r in t.rows for c in r.cells)
    assert "1,280,000.00" in cells and "未超出" in cells and "2808.6 － 0.1 ＝ 2808.5平方公里" in cells
    assert any(d.get("descr") == "2022年各流量池余额变化（示意）" for d in doc.element.body.iter(
        "{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}docPr"))
    text = "\n".join([p.text for p in doc.paragraphs] + cells.splitlines())
    assert latin_words(text[text.index(TITLE):]) - {"xlsx"} == set()


def test_the_xlsx_sheet_keeps_the_amounts_as_numbers(written):
    wb = load_workbook(written["xlsx"])
    assert wb.sheetnames.index("指标台账") == wb.sheetnames.index("分区数值") + 1
    ws = wb["指标台账"]
    values = [c.value for row in ws.iter_rows() for c in row if c.value is not None]
    assert "建筑规模指标：各区流量池（示意）" in values
    cell = next(c for row in ws.iter_rows() for c in row if c.value == 1_280_000)
    assert cell.number_format == "#,##0.00"
    assert "中心城区建筑规模动态零增长" in values and "2808.5" not in values and 2808.5 in values


def test_an_exceeded_cap_is_red_in_html_docx_and_xlsx(plan, tables, base_ctx, tmp_path):
    """A cap a curator lowered below what the ledger already holds: the report says so in red."""
    caps = [c.model_copy(update={"limit": 500_000}) if c.measure == "released" else c for c in plan.ledger.caps]
    lowered = summarize(plan.ledger.model_copy(update={"caps": caps}), tables, plan, 2022)
    ctx = dataclasses.replace(base_ctx, ledger=lowered)
    part = section(render_html(ctx))
    row = part[part.rindex("<tr", 0, part.index("超出上限</span>")):]
    assert 'class="over"' in row[:30] and "顺义区" in row and 'badge lv-red' in row
    assert "1项约束有超出上限的范围（各区建筑规模年度释放上限）" in part
    doc = Document(str(write_docx(ctx, tmp_path / "r.docx")))
    red = [c for t in doc.tables for r in t.rows for c in r.cells if c.text == "超出上限"]
    assert red and 'w:fill="C62828"' in red[0]._tc.xml
    ws = load_workbook(write_xlsx(ctx, tmp_path / "r.xlsx"))["指标台账"]
    assert any(c.value == "超出上限" for row in ws.iter_rows() for c in row)


def test_an_empty_ledger_is_one_sentence_and_no_table(empty, base_ctx, tmp_path):
    assert empty.empty
    ctx = dataclasses.replace(base_ctx, ledger=empty)
    part = section(render_html(ctx))
    assert "没有记录任何操作" in part and "<table" not in part and "<svg" not in part
    doc = Document(str(write_docx(ctx, tmp_path / "r.docx")))
    texts = [p.text for p in doc.paragraphs]
    at = next(i for i, p in enumerate(doc.paragraphs) if p.text == TITLE and p.style.name == "Heading 1")
    assert "没有记录任何操作" in texts[at + 1] and texts[at + 2].startswith("一、")  # then the next section
    ws = load_workbook(write_xlsx(ctx, tmp_path / "r.xlsx"))["指标台账"]
    assert [c.value for row in ws.iter_rows() for c in row if c.value is not None] == [texts[at + 1]]
    assert cover_note(empty) == ""


def test_a_plan_without_ledger_rules_has_no_section(base_ctx, tmp_path):
    assert base_ctx.ledger is None
    html = render_html(base_ctx)
    assert 'id="ledger"' not in html and TITLE not in html
    doc = Document(str(write_docx(base_ctx, tmp_path / "r.docx")))
    assert TITLE not in "\n".join(p.text for p in doc.paragraphs)
    assert "指标台账" not in load_workbook(write_xlsx(base_ctx, tmp_path / "r.xlsx")).sheetnames


def test_a_ledger_of_real_records_under_real_rules_says_no_示意(plan, base_ctx, tmp_path):
    """Rules whose every number is the bureau's own and operations that are not illustrative: the
    section carries no 示意 at all."""
    rules = plan.ledger.model_copy(update={
        "schedule": plan.ledger.schedule.model_copy(update={"illustrative": False}),
        "ratio": plan.ledger.ratio.model_copy(update={"illustrative": False}),
        "caps": [c.model_copy(update={"illustrative": False}) for c in plan.ledger.caps]})
    real = plan.model_copy(update={"ledger": rules})
    store = open_store(tmp_path / "s.gpkg")
    post_small_ledger(store, real, illustrative=False)
    summary = summarize(rules, store.ledger_tables(), real, 2022)
    assert not summary.illustrative and cover_note(summary) == ""
    part = section(render_html(dataclasses.replace(base_ctx, ledger=summary)))
    assert "示意" not in part and "建筑规模指标：各区流量池</h3>" in part


def test_the_cover_says_the_ledger_is_illustrative(summary):
    assert "示意" in cover_note(summary) and TITLE in cover_note(summary)


def test_the_chart_is_one_panel_per_quota_and_deterministic(summary):
    view = ledger_view(summary, charts="png")
    assert view["chart"][:8] == b"\x89PNG\r\n\x1a\n"
    series = [{"quota_name": s.quota_name, "district": s.district, "points": list(s.points)} for s in summary.series]
    svg = ledger_chart(series, 2022, mark="示意")
    assert svg == ledger_chart(series, 2022, mark="示意")
    assert "建筑规模指标：各区流量池余额（万平方米）（示意）" in svg and "城乡建设用地指标" in svg


# ------------------------------------------------------------------ the demo's year


def test_the_demo_year_is_illustrative_across_the_year_with_one_refusal(plan, tmp_path):
    from planwatch.demo.ledger import SCRIPT, play_ledger_year

    store = open_store(tmp_path / "demo.gpkg")
    played = play_ledger_year(store, plan, 2022)
    assert played.refused["op"] == "reserve" and "余额不足" in played.refused["message"]
    assert len(played.batches) == len(SCRIPT) - 1 + 1 and len(played.expired) == 1  # one refused, one expiry
    bat = store.ledger_tables()["pw_ledger_batches"]
    people = bat[bat["op"] != "issue"]
    assert people["illustrative"].all() and people["effective"].str.startswith("2022-").all()
    assert people["actor"].str.startswith("示意").all()
    assert people.loc[people["op"] != "expire", "memo"].str.contains("示意").all()
    assert L.check(store, plan).ok
    s = summarize(plan.ledger, store.ledger_tables(), plan, 2022)
    assert not any(c.over for c in s.caps) and s.operations_in_year == len(played.batches)
    central = {r.key: r for r in s.references}["central_floor_area"]
    assert central.net_growth <= 0
    again = play_ledger_year(store, plan, 2022)  # the same keys: nothing is posted twice
    assert len(store.ledger_tables()["pw_ledger_batches"]) == len(bat) and not again.expired
    with pytest.raises(ServiceError):
        L.reserve(store, plan, project="示意-超额", pool="floor_area:海淀区", amount=10_000_000, by=BY, when="2022-12-31")
