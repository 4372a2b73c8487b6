"""The editable Word report: an analyst opens report.docx and finds the HTML report's content, in
its order, with Word headings, real tables, coloured level cells, the charts and the map."""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from collections import Counter
from html.parser import HTMLParser

import docx
import pandas as pd
import pytest
from docx.oxml.ns import qn
from docx.shared import Mm
from PIL import Image

from planwatch.report import LEVELS, ReportContext, render_html, write_report
from planwatch.report.context import RULE_COLUMNS
from planwatch.report.docx import BODY_FONT, write_docx
from planwatch.report.fixtures import example_context
from planwatch.report.view import build_view

LABEL_COLOUR = {label: colour.lstrip("#").upper() for label, colour in LEVELS.values()}
# Latin words the report may print: units, the names the attribution and methods must give, the plan id.
LATIN_ALLOWED = {
    "km", "m", "Mbps", "PM",  # units; PM2.5, the pollutant's name in Chinese statistics
    "Open", "SDG", "OpenStreetMap", "contributors", "planwatch", "EPSG", "CGCS", "ODbL", "BSD", "MIT",
    "cnmaps", "CGTN", "beijing",
}  # fmt: skip


@pytest.fixture(scope="module")
def ctx() -> ReportContext:
    return example_context()


@pytest.fixture(scope="module")
def written(ctx, tmp_path_factory):
    """The example report's DOCX written twice, to two folders."""
    return [write_docx(ctx, tmp_path_factory.mktemp(name) / "report.docx") for name in ("first", "second")]


@pytest.fixture(scope="module")
def document(written):
    return docx.Document(str(written[0]))


@pytest.fixture(scope="module")
def rich_ctx(ctx) -> ReportContext:
    """The example context with the parts only a store with the one map gives: a map with its station
    table, a district table, spatial rules, a back-test, and no problems."""
    buf = io.BytesIO()
    Image.new("RGB", (300, 500), "#c8e6c9").save(buf, format="PNG")  # a tall map shrinks to fit the page
    station = {"title": "轨道站点800米覆盖（直线距离）：各区排名", "columns": ["排名", "区", "覆盖比例"],
               "rows": [[1, "东城区", "86.1%"], ["", "全市", "4.0%"]], "caption": "各区面积中距最近轨道站点不超过800米的部分。"}  # fmt: skip
    district = {"title": "空间指标各区数值", "columns": ["区", "建成区公园绿地500米服务半径覆盖率（%）"],
                "rows": [["东城区", "6.5（11）"]], "caption": "由一张图图层计算，不作为观测值存储。", "synthetic": True}  # fmt: skip
    rule = dict.fromkeys(RULE_COLUMNS, "") | {
        "id": "R01", "article": "56", "category": "协调", "description": "新供应产业用地70%以上位于生产空间引导区内",
        "target": "", "value": 60.0, "unit": "%", "threshold": 70.0, "comparator": ">=", "level": "red",
        "status_text": "不符合", "reason": "2022年新供应产业用地位于生产空间引导区内的比例为60%，低于70%（第56条）",
        "synthetic": False,
    }  # fmt: skip
    backtest = pd.DataFrame([{
        "id": "T09", "name": "城乡建设用地规模", "unit": "平方公里", "year": 2022, "origin_year": 2020, "n_points": 4,
        "forecast": 2800.0, "low": 2790.0, "high": 2810.0, "actual": 2805.0, "error": -5.0, "in_band": True,
    }])  # fmt: skip
    return dataclasses.replace(
        ctx,
        maps=(
            {
                "title": "圈层、行政区与轨道站点",
                "png": buf.getvalue(),
                "caption": "示意地图的图注。",
                "table": station,
            },
        ),
        districts=(district,),
        rules=pd.DataFrame([rule], columns=RULE_COLUMNS),
        backtest=backtest,
        problems=ctx.problems.iloc[0:0],
    )


@pytest.fixture(scope="module")
def rich_document(rich_ctx, tmp_path_factory):
    return docx.Document(str(write_docx(rich_ctx, tmp_path_factory.mktemp("rich") / "report.docx")))


# ---------------------------------------------------------------- reading the two documents


class _HtmlText(HTMLParser):
    """The HTML body's headings and text runs, leaving out the stylesheet, the SVG charts and the contents."""

    SKIP = {"style", "svg", "nav", "head"}

    def __init__(self):
        super().__init__()
        self.skip, self.tag, self.h2, self.h3, self.chunks = 0, None, [], [], []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        if tag in ("h2", "h3"):
            self.tag = tag
            (self.h2 if tag == "h2" else self.h3).append("")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip -= 1
        if tag == self.tag:
            self.tag = None

    def handle_data(self, data):
        if self.skip:
            return
        if self.tag:
            (self.h2 if self.tag == "h2" else self.h3)[-1] += data
        if data.strip():
            self.chunks.append(data.strip())


def html_parts(ctx) -> _HtmlText:
    parser = _HtmlText()
    parser.feed(render_html(ctx))
    return parser


def headings(document, level: int) -> list[str]:
    return [p.text for p in document.paragraphs if p.style.name == f"Heading {level}"]


def all_text(document) -> str:
    """Every paragraph and table cell of the body, headers and footers, in document order."""
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    for section in document.sections:
        for part in (section.header, section.footer, section.first_page_header, section.first_page_footer):
            parts += [p.text for p in part.paragraphs]
    return "\n".join(parts)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def cell_fill(cell) -> str | None:
    shd = cell._tc.tcPr.find(qn("w:shd")) if cell._tc.tcPr is not None else None
    return None if shd is None else shd.get(qn("w:fill")).upper()


def level_cells(document) -> list[tuple[str, str | None]]:
    """(label, fill) of every table cell whose first line is a level's label."""
    out = []
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                first = cell.text.split("\n", 1)[0].strip()
                if first in LABEL_COLOUR:
                    out.append((first, cell_fill(cell)))
    return out


def pictures(document) -> list[bytes]:
    """The image bytes of every picture in the body, in document order."""
    body = document.element.body
    rids = [blip.get(qn("r:embed")) for blip in body.iter(qn("a:blip"))]
    return [document.part.related_parts[rid].blob for rid in rids]


# ---------------------------------------------------------------- the story


def test_the_docx_opens_as_an_a4_word_document_with_page_numbers_in_the_footer(document):
    section = document.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    footer = section.footer.paragraphs[0]
    assert footer.text.startswith("第 ") and " 页 / 共 " in footer.text
    instructions = [t.text.strip() for t in footer._p.iter(qn("w:instrText"))]
    assert instructions == ["PAGE", "NUMPAGES"]
    assert section.first_page_footer.paragraphs[0].text == footer.text  # the cover is numbered too
    assert section.first_page_header.paragraphs[0].text == ""  # but carries no running header


def test_its_headings_are_the_html_headings_in_word_heading_styles(ctx, document):
    html = html_parts(ctx)
    assert headings(document, 1) == html.h2
    assert headings(document, 2) == html.h3
    assert document.paragraphs[1].style.name == "Title"
    assert document.paragraphs[1].text == f"{ctx.year}年度城市体检评估报告"


def test_the_contents_link_to_every_top_heading(document):
    body = document.element.body
    links = [
        (h.get(qn("w:anchor")), "".join(t.text for t in h.iter(qn("w:t"))))
        for h in body.iter(qn("w:hyperlink"))
    ]
    marks = {b.get(qn("w:name")): b.getparent() for b in body.iter(qn("w:bookmarkStart"))}
    assert [text for _, text in links] == headings(document, 1)
    for anchor, text in links:
        assert marks[anchor].xpath("string(.)") == text  # the bookmark sits on that heading
    assert any("TOC" in t.text for t in body.iter(qn("w:instrText")))  # a field Word can update with pages


@pytest.mark.parametrize("which", ["example", "rich"])
def test_every_text_of_the_html_body_is_in_the_docx(which, ctx, rich_ctx, document, rich_document):
    context, doc = (ctx, document) if which == "example" else (rich_ctx, rich_document)
    text = squeeze(all_text(doc))
    missing = [c for c in html_parts(context).chunks if squeeze(c) not in text and "report.docx" not in c]
    assert missing == []


def test_every_reason_problem_and_recommendation_is_in_the_text(ctx, document):
    """A target that restates another (linked_to) is said once: its row points to the other's reason."""
    text = all_text(document)
    ev = ctx.evaluation.assign(linked_to=ctx.evaluation["linked_to"].fillna(""))
    own = ev[ev["linked_to"] == ""]
    assert len(own) > 0 and len(ctx.problems) > 0
    for reason in own["reason"]:
        assert reason in text
    for e in ev[ev["linked_to"] != ""].itertuples():
        assert e.id in text and e.linked_to in set(own["id"])
    for p in ctx.problems.itertuples():
        assert p.problem in text and p.recommendation in text


def test_level_cells_are_shaded_in_their_level_colour_with_the_chinese_label(ctx, document):
    cells = level_cells(document)
    assert cells and all(fill == LABEL_COLOUR[label] for label, fill in cells)
    indicator_tables = [
        t for t in document.tables if [c.text for c in t.rows[0].cells[:2]] == ["指标", "基期值"]
    ]
    level_column = [row.cells[6] for t in indicator_tables for row in t.rows[1:]]
    assert Counter(c.text for c in level_column) == Counter(LEVELS[lv][0] for lv in ctx.evaluation["level"])
    assert all(cell_fill(c) == LABEL_COLOUR[c.text] for c in level_column)
    board = next(t for t in document.tables if t.rows[0].cells[0].text == "分类")
    for r, row in zip(ctx.rollup.itertuples(), board.rows[1:], strict=True):
        assert row.cells[0].text == r.label
        assert [c.text for c in row.cells[1:5]] == [str(r.green), str(r.yellow), str(r.red), str(r.grey)]
        assert (
            row.cells[5].text == LEVELS[r.level][0]
            and cell_fill(row.cells[5]) == LABEL_COLOUR[row.cells[5].text]
        )


def test_every_data_table_repeats_its_header_row_on_each_page(document):
    data_tables = [t for t in document.tables if t.style is not None and t.style.name == "Table Grid"]
    assert len(data_tables) >= 10
    for table in data_tables:
        flags = [
            row._tr.trPr is not None and row._tr.trPr.find(qn("w:tblHeader")) is not None
            for row in table.rows
        ]
        assert flags[0] and not any(flags[1:])


def test_the_charts_are_embedded_as_pictures(ctx, document):
    view = build_view(ctx, charts="png")
    charts = [c["chart"] for s in view["sections"] for c in s["charts"]]
    assert len(charts) == len(
        ctx.evaluation[(ctx.evaluation["linked_to"].fillna("") == "") & (ctx.evaluation["geo"] == "")]
    )
    embedded = pictures(document)
    assert all(chart.startswith(b"\x89PNG") for chart in charts)
    legends = sum(1 for s in view["sections"] if s["charts"])
    assert len(embedded) == len(charts) + legends
    assert [b for b in embedded if b in set(charts)] == charts  # each chart, in the report's order


def test_the_map_is_a_picture_that_fits_the_page_with_its_caption(rich_ctx, rich_document):
    png = rich_ctx.maps[0]["png"]
    assert png in pictures(rich_document)
    shape = next(s for s in rich_document.inline_shapes if s.height > Mm(150))
    assert shape.height <= Mm(210) and shape.width < Mm(178)  # shrunk from 178 mm wide to fit the page height
    text = all_text(rich_document)
    assert "示意地图的图注。" in text and "东城区" in text and "空间指标各区数值" in text
    assert ("红灯", LABEL_COLOUR["红灯"]) in level_cells(rich_document)  # the rule's level cell
    assert "本年度没有红灯或黄灯指标，也没有不符合要求的空间规则。" in text


def test_chinese_text_is_set_in_a_cjk_font(document):
    for name in ("Normal", "Heading 1", "Heading 2"):
        fonts = document.styles[name].element.rPr.rFonts
        assert fonts.get(qn("w:eastAsia")), name
        assert fonts.get(qn("w:eastAsiaTheme")) is None, name  # a theme font would override the name
    assert document.styles["Normal"].element.rPr.rFonts.get(qn("w:eastAsia")) == BODY_FONT
    lang = (
        document.styles.element.find(qn("w:docDefaults"))
        .find(qn("w:rPrDefault"))
        .find(qn("w:rPr"))
        .find(qn("w:lang"))
    )
    assert lang.get(qn("w:eastAsia")) == "zh-CN"


def test_the_same_context_gives_the_same_bytes_with_no_wall_clock_date(written):
    first, second = (p.read_bytes() for p in written)
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
        assert "thumbnail" not in " ".join(z.namelist())
    assert re.findall(r"<dcterms:(?:created|modified)[^>]*>([^<]*)<", core) == ["1980-01-01T00:00:00Z"] * 2
    assert "<dc:creator>planwatch</dc:creator>" in core


def test_the_document_body_is_chinese(document):
    """No Latin word of two letters or more outside units and the names the report must give;
    web addresses and domain names (which include file names such as report.xlsx) are left out."""
    text = re.sub(r"https?://\S+", " ", all_text(document))
    text = re.sub(r"\b(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b", " ", text)
    words = set(re.findall(r"[A-Za-z]{2,}", text))
    assert words - LATIN_ALLOWED == set()
    assert {"planwatch", "beijing"} <= words  # the check sees the cover's text


def test_write_report_writes_the_docx_beside_the_other_files(ctx, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "planwatch.report.write_pdf", lambda html, path: path.write_bytes(b"%PDF-")
    )  # not under test
    paths = write_report(ctx, tmp_path / "out")
    assert paths["docx"] == tmp_path / "out" / "report.docx"
    assert paths["docx"].read_bytes() == write_docx(ctx, tmp_path / "again.docx").read_bytes()
