"""The check-up report as an editable Word document (report.docx), from the same view as the HTML.

:func:`write_docx` walks :func:`planwatch.report.view.build_view` in the order of
``templates/report.html.j2``: the cover (summary, notices, contents), the board, 问题清单与对策建议
(or, from the findings register, 问题清单, 整改进展 and 对策建议), the map, the district tables, the
spatial rules, the quota ledger (指标流量池与用地台账), one section per category (indicator table, charts,
related statistics, targets without a grade), forecasts and back-test, data coverage, sources and
methods. The HTML's h2 and h3 become Word's built-in headings (标题 1, 标题 2), so the navigation pane
and the table of contents work. Every table is a real Word table whose header row repeats on each
page, and a level cell is shaded in its level's colour with 绿灯/黄灯/红灯/灰灯 as its text.

East Asian text is set in Noto Sans CJK SC (headings in Noto Serif CJK SC, as in the HTML); the font
table names 微软雅黑 and 宋体 as their alternates, for Word to substitute where Noto is missing. No
wall-clock time goes in: the docProps dates and the zip entry times are fixed as for the XLSX, so
the same context gives the same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.image.image import Image
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Length, Mm, Pt, RGBColor
from lxml import etree

from planwatch.report.charts import legend_svg
from planwatch.report.context import LEVELS, ReportContext
from planwatch.report.html import strip_urls
from planwatch.report.view import build_view
from planwatch.report.xlsx import FIXED_TIME, _fix_timestamps

BODY_FONT = "Noto Sans CJK SC"
HEADING_FONT = "Noto Serif CJK SC"  # the HTML's h1–h3
# Font-table entries Word uses to substitute a missing font: (alternate name, family), GB2312 charset.
FONT_ALTERNATES = {BODY_FONT: ("微软雅黑", "swiss"), HEADING_FONT: ("宋体", "roman")}

# A4 with the HTML's @page margins (20 mm top and bottom, 16 mm left and right).
PAGE_WIDTH, PAGE_HEIGHT, MARGIN_Y, MARGIN_X = Mm(210), Mm(297), Mm(20), Mm(16)
TEXT_WIDTH = Mm(178)
MAX_FIGURE_HEIGHT = Mm(210)  # a tall map shrinks to leave room for its heading and caption on the page
CHART_COLUMN = Mm(89)  # charts two to a row, as the HTML's 48.5% figures
CHART_WIDTH = Mm(83)  # the column less the cell margins

# Colours of the HTML stylesheet (hex without "#").
INK, MUTED, FAINT, RULE_INK = "212121", "666666", "BBBBBB", "455A64"
HEADING_RULE, GRID, HEADER_FILL = "37474F", "CFD8DC", "ECEFF1"
NOTICE_BORDER, NOTICE_FILL, EMPTY_INK, META_INK, RUNNING_INK = "F9A825", "FFFBE6", "757575", "555555", "777777"  # fmt: skip
BADGE_INK = {"yellow": INK}  # dark text on yellow, white on the other levels (as the HTML badges)

TABLE_PT, SMALL_PT = 8.5, 7.5
# Word 2010's second copy of the styles in python-docx's template (python-docx names no constant for it).
STYLES_WITH_EFFECTS = "http://schemas.microsoft.com/office/2007/relationships/stylesWithEffects"

# Schema order of the elements this module inserts itself (python-docx manages the others).
PPR_AFTER_PBDR = (
    "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct", "w:topLinePunct",
    "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid", "w:spacing", "w:ind",
    "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc", "w:textDirection", "w:textAlignment",
    "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange",
)  # fmt: skip
RPR_AFTER_SHD = ("w:fitText", "w:vertAlign", "w:rtl", "w:cs", "w:em", "w:lang", "w:eastAsianLayout",
                 "w:specVanish", "w:oMath")  # fmt: skip
TCPR_AFTER_BORDERS = ("w:shd", "w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign", "w:hideMark")  # fmt: skip
TBLPR_AFTER_BORDERS = ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription")  # fmt: skip


# ---------------------------------------------------------------- what a table cell holds


@dataclass(frozen=True)
class Badge:
    """A level cell: shaded in the level's colour, its Chinese label as text (or ``label``, e.g. a
    final verdict shown in its level's colour), ``note`` below it."""

    level: str
    note: str = ""
    label: str = ""


@dataclass(frozen=True)
class Count:
    """A board count: shaded in the level's colour when non-zero, a faint 0 otherwise."""

    level: str
    n: int


@dataclass(frozen=True)
class Lines:
    """Text with a small grey line under it (the HTML's ``<br><span class="small">``)."""

    text: str
    small: str = ""


def _hex(colour: str) -> str:
    """A colour as OOXML writes it: "#2e7d32" -> "2E7D32"."""
    return colour.lstrip("#").upper()


def _text(value) -> str:
    return "" if value is None else str(value)


# ---------------------------------------------------------------- low-level OOXML


def _insert(parent, child, successors: tuple[str, ...]) -> None:
    """Insert ``child`` into ``parent`` before the first of ``successors`` (the schema's order)."""
    old = parent.find(child.tag)
    if old is not None:
        parent.remove(old)
    parent.insert_element_before(child, *successors)


def _element(tag: str, **attrs: str):
    el = OxmlElement(tag)
    for key, value in attrs.items():
        el.set(qn(f"w:{key}"), value)
    return el


def _set_fonts(rpr, name: str) -> None:
    """Name ``name`` for Latin, East Asian and complex script text; theme fonts would override it."""
    fonts = rpr.get_or_add_rFonts()
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        fonts.attrib.pop(qn(f"w:{attr}"), None)
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attr}"), name)


def _shade_cell(cell, fill: str) -> None:
    _insert(
        cell._tc.get_or_add_tcPr(),
        _element("w:shd", val="clear", color="auto", fill=fill),
        TCPR_AFTER_BORDERS[1:],
    )


def _cell_top_border(cell, colour: str) -> None:
    borders = _element("w:tcBorders")
    borders.append(
        _element("w:top", val="single", sz="18", space="0", color=colour)
    )  # 2.25 pt, the HTML's 3px
    _insert(cell._tc.get_or_add_tcPr(), borders, TCPR_AFTER_BORDERS)


def _box(paragraph, colour: str, fill: str) -> None:
    """A bordered, shaded paragraph; Word and LibreOffice draw neighbours with the same box as one."""
    ppr = paragraph._p.get_or_add_pPr()
    border = _element("w:pBdr")
    for side in ("top", "left", "bottom", "right"):
        border.append(_element(f"w:{side}", val="single", sz="6", space="4", color=colour))
    _insert(ppr, border, PPR_AFTER_PBDR)
    _insert(ppr, _element("w:shd", val="clear", color="auto", fill=fill), PPR_AFTER_PBDR[1:])


def _run(
    paragraph,
    text: str,
    *,
    size: float | None = None,
    colour: str | None = None,
    bold: bool = False,
    fill: str | None = None,
):
    run = paragraph.add_run(text)
    if size:
        run.font.size = Pt(size)
    if colour:
        run.font.color.rgb = RGBColor.from_string(colour)
    if bold:
        run.bold = True
    if fill:
        _insert(
            run._r.get_or_add_rPr(), _element("w:shd", val="clear", color="auto", fill=fill), RPR_AFTER_SHD
        )
    return run


def _badge_run(paragraph, level: str, size: float | None = None, label: str | None = None):
    """An inline badge: the level's label (or ``label``) on the level's colour (run shading)."""
    name, colour = LEVELS[level]
    return _run(paragraph, f" {label or name} ", size=size, colour=BADGE_INK.get(level, "FFFFFF"), fill=_hex(colour))


def _field(paragraph, instruction: str = "", parts=("begin", "instr", "end"), **run_format) -> None:
    """The runs of a field: Word and LibreOffice compute PAGE and NUMPAGES as they lay out the pages,
    a TOC when the reader updates it. ``parts`` lets a field span paragraphs (the contents)."""
    for part in parts:
        run = _run(paragraph, "", **run_format)
        if part == "instr":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {instruction} "
            run._r.append(instr)
        else:
            run._r.append(_element("w:fldChar", fldCharType=part))


def _bookmark(paragraph, name: str, bookmark_id: int) -> None:
    p = paragraph._p
    start = _element("w:bookmarkStart", id=str(bookmark_id), name=name)
    if p.pPr is not None:
        p.pPr.addnext(start)
    else:
        p.insert(0, start)
    p.append(_element("w:bookmarkEnd", id=str(bookmark_id)))


def _internal_link(paragraph, text: str, anchor: str) -> None:
    link = _element("w:hyperlink", anchor=anchor, history="1")
    run = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = text
    run.append(t)
    link.append(run)
    paragraph._p.append(link)


def _picture(run, png: bytes, *, width: Length, description: str, max_height: Length | None = None) -> None:
    """``png`` at ``width`` (smaller if it would be taller than ``max_height``), with alt text."""
    image = Image.from_blob(png)
    if max_height is not None and width * image.px_height / image.px_width > max_height:
        width = Length(int(max_height * image.px_width / image.px_height))
    run.add_picture(io.BytesIO(png), width=width)
    run._r.xpath(".//wp:docPr")[-1].set("descr", description)


# ---------------------------------------------------------------- the document's styles and page


def _setup_styles(doc) -> dict[str, object]:
    styles = doc.styles
    root = styles.element
    defaults = root.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _set_fonts(defaults, BODY_FONT)
    lang = defaults.find(qn("w:lang"))
    lang.set(qn("w:val"), "zh-CN")
    lang.set(qn("w:eastAsia"), "zh-CN")
    # Every style the template ties to a theme font gets a named CJK font instead (major = headings).
    for fonts in root.iter(qn("w:rFonts")):
        heading = (fonts.get(qn("w:asciiTheme")) or fonts.get(qn("w:eastAsiaTheme")) or "").startswith(
            "major"
        )
        _set_fonts(fonts.getparent(), HEADING_FONT if heading else BODY_FONT)

    normal = styles["Normal"]
    _set_fonts(normal.element.get_or_add_rPr(), BODY_FONT)  # also in the defaults; named here for editors
    normal.font.size = Pt(10)
    normal.font.color.rgb = RGBColor.from_string(INK)
    normal.paragraph_format.space_after = Pt(4)
    normal.paragraph_format.line_spacing = 1.0

    for name, size, before, after in (
        ("Heading 1", 15, 0, 8),
        ("Heading 2", 11.5, 12, 6),
        ("Title", 28, 10, 6),
    ):
        style = styles[name]
        _set_fonts(style.element.get_or_add_rPr(), HEADING_FONT)
        style.font.size = Pt(size)
        style.font.bold = True
        style.font.color.rgb = RGBColor.from_string(INK)
        style.paragraph_format.space_before = Pt(before) if name != "Title" else Mm(before)
        style.paragraph_format.space_after = Pt(after) if name != "Title" else Mm(after)
    ppr = styles["Title"].element.get_or_add_pPr()
    for border in ppr.findall(qn("w:pBdr")):  # the template's rule under the title
        ppr.remove(border)
    styles["Title"].paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    rule = _element("w:pBdr")
    rule.append(
        _element("w:bottom", val="single", sz="16", space="3", color=HEADING_RULE)
    )  # the h2's 2px rule
    _insert(styles["Heading 1"].element.get_or_add_pPr(), rule, PPR_AFTER_PBDR)

    def paragraph_style(name: str, style_id: str, size: float, colour: str, after: float):
        style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.style_id = style_id
        style.base_style = normal
        style.font.size = Pt(size)
        style.font.color.rgb = RGBColor.from_string(colour)
        style.paragraph_format.space_after = Pt(after)
        return style

    made = {
        "table": paragraph_style("表格文字", "TableText", TABLE_PT, INK, 0),
        "small": paragraph_style("小字", "SmallText", SMALL_PT, MUTED, 6),
        "toc": paragraph_style("toc 1", "TOC1", 10, INK, 2),  # Word's built-in 目录 1, used when it updates
    }
    made["toc"].element.attrib.pop(qn("w:customStyle"), None)
    made["toc"].paragraph_format.left_indent = Mm(35)
    for name in ("Header", "Footer"):  # one right tab at the text's edge (the template's is for Letter paper)
        tabs = styles[name].paragraph_format.tab_stops
        tabs.clear_all()
        tabs.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)
    return made


def _setup_package(doc, title: str, subject: str = "城市体检评估报告") -> None:
    """Chinese language and fonts in the package parts; metadata that names planwatch, not the template."""
    doc.settings.element.find(qn("w:themeFontLang")).set(qn("w:eastAsia"), "zh-CN")
    font_table = doc.part.part_related_by(RT.FONT_TABLE)
    tree = etree.fromstring(font_table.blob)
    for name, (alternate, family) in FONT_ALTERNATES.items():
        font = _element("w:font", name=name)
        for tag, value in (
            ("altName", alternate),
            ("charset", "86"),
            ("family", family),
            ("pitch", "variable"),
        ):
            font.append(_element(f"w:{tag}", val=value))
        tree.append(font)
    font_table._blob = etree.tostring(tree, xml_declaration=True, encoding="UTF-8", standalone=True)
    # The template's page image and its Word 2010 copy of the styles would describe another document.
    package = doc.part.package
    for rid, rel in list(package.rels.items()):
        if rel.reltype == RT.THUMBNAIL:
            package.rels.pop(rid)
        elif rel.reltype == RT.EXTENDED_PROPERTIES:
            rel.target_part._blob = (
                b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
                b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
                b"<Application>planwatch</Application></Properties>"
            )
    for rid, rel in list(doc.part.rels.items()):
        if rel.reltype == STYLES_WITH_EFFECTS:
            doc.part.drop_rel(rid)
    props = doc.core_properties
    props.title = title
    props.subject = subject
    props.author = props.last_modified_by = "planwatch"
    props.comments = ""
    props.language = "zh-CN"
    props.revision = 1
    props.created = props.modified = FIXED_TIME


def _setup_page(doc, plan_title: str, report_title: str) -> None:
    """A4; plan and report title in the header from page 2 on; "第 X 页 / 共 Y 页" on every page."""
    section = doc.sections[0]
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    section.top_margin = section.bottom_margin = MARGIN_Y
    section.left_margin = section.right_margin = MARGIN_X
    section.header_distance = section.footer_distance = Mm(9)
    section.different_first_page_header_footer = True  # the cover has no running header, as in the HTML
    header = section.header.paragraphs[0]
    _run(header, plan_title, size=8, colour=RUNNING_INK)
    _run(header, "\t" + report_title, size=8, colour=RUNNING_INK)
    section.first_page_header.is_linked_to_previous = False
    for footer in (section.footer, section.first_page_footer):
        footer.is_linked_to_previous = False
        p = footer.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _run(p, "第 ", size=8, colour=RUNNING_INK)
        _field(p, "PAGE", size=8, colour=RUNNING_INK)
        _run(p, " 页 / 共 ", size=8, colour=RUNNING_INK)
        _field(p, "NUMPAGES", size=8, colour=RUNNING_INK)
        _run(p, " 页", size=8, colour=RUNNING_INK)


# ---------------------------------------------------------------- the writer


class _ReportDocument:
    """The document being written, with its headings for the table of contents."""

    def save(self, path: Path) -> Path:
        """Write the document with fixed dates and zip times: the same view gives the same bytes."""
        buf = io.BytesIO()
        self.doc.save(buf)
        Path(path).write_bytes(_fix_timestamps(buf.getvalue()))
        return Path(path)

    def __init__(self, view: dict, *, title: str | None = None, subject: str = "城市体检评估报告"):
        self.doc = Document()
        self.styles = _setup_styles(self.doc)
        title = title or f"{view['year']}年度城市体检评估报告"
        _setup_package(self.doc, f"{view['plan_title']} {title}", subject)
        _setup_page(self.doc, view["plan_title"], title)
        self.contents: list[tuple[str, str]] = []  # (标题 1 text, bookmark)
        self._bookmarks = 0

    # headings and paragraphs
    def heading(self, text: str, level: int, *, anchor: str | None = None, new_page: bool = False):
        p = self.doc.add_heading(text, level)
        p.paragraph_format.page_break_before = new_page or None
        if level == 1:
            self._bookmarks += 1
            name = (anchor or f"section_{self._bookmarks}").replace("-", "_")
            _bookmark(p, name, self._bookmarks)
            self.contents.append((text, name))
        return p

    def para(
        self,
        text: str = "",
        *,
        small: bool = False,
        colour: str | None = None,
        size: float | None = None,
        bold: bool = False,
        center: bool = False,
    ):
        p = self.doc.add_paragraph(style=self.styles["small"] if small else None)
        if text:
            _run(p, text, colour=colour, size=size, bold=bold)
        if center:
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        return p

    def empty(self, text: str):
        return self.para(text, colour=EMPTY_INK)

    def picture(
        self, png: bytes, description: str, width: Length = TEXT_WIDTH, max_height: Length | None = None
    ):
        p = self.doc.add_paragraph()
        p.paragraph_format.keep_with_next = True
        _picture(p.add_run(), png, width=width, description=description, max_height=max_height)
        return p

    # tables
    def table(
        self,
        columns: list,
        rows: list[list],
        *,
        widths: list[float | None] | None = None,
        size: float = TABLE_PT,
        center: tuple[int, ...] = (),
        right: tuple[int, ...] = (),
    ):
        """A data table: shaded header row repeated on each page, rows kept whole across pages.

        ``widths``: each column's share of the text width; ``None`` columns share what is left;
        ``center`` and ``right``: the columns centred or aligned right (amounts)."""
        n = len(columns)
        table = self.doc.add_table(rows=1, cols=n)
        table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.LEFT
        table.autofit = False
        borders = _element("w:tblBorders")
        for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
            borders.append(_element(f"w:{side}", val="single", sz="4", space="0", color=GRID))
        _insert(table._tbl.tblPr, borders, TBLPR_AFTER_BORDERS)
        header = table.rows[0]
        header._tr.get_or_add_trPr().append(_element("w:tblHeader"))
        for i, (cell, title) in enumerate(zip(header.cells, columns, strict=True)):
            if isinstance(title, Badge):
                self._fill(cell, title, size, center=True)
            else:
                _shade_cell(cell, HEADER_FILL)
                p = self._cell_paragraph(cell, center=i in center)
                if i in right:
                    p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
                _run(p, title, size=size, bold=True)
        for values in rows:
            row = table.add_row()
            row._tr.get_or_add_trPr().append(_element("w:cantSplit"))
            for i, (cell, value) in enumerate(zip(row.cells, values, strict=True)):
                self._fill(cell, value, size, center=i in center)
                if i in right:
                    cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
        shares = widths or [None] * n
        free = (1 - sum(w for w in shares if w)) / max(1, sum(w is None for w in shares))
        lengths = [Length(int(TEXT_WIDTH * (w or free))) for w in shares]
        for column, length in zip(table.columns, lengths, strict=True):
            column.width = length
        for row in table.rows:
            for cell, length in zip(row.cells, lengths, strict=True):
                cell.width = length
        return table

    def _cell_paragraph(self, cell, center: bool = False):
        """The cell's paragraph in the table style; runs carry their own size (8.5 or 7.5 pt)."""
        p = cell.paragraphs[0]
        p._p.style = self.styles["table"].style_id  # by id: python-docx's lookup by name scans every style
        if center:
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        return p

    def _fill(self, cell, value, size: float, center: bool) -> None:
        p = self._cell_paragraph(cell, center)
        if isinstance(value, Badge):
            label, colour = LEVELS[value.level]
            label = value.label or label
            _shade_cell(cell, _hex(colour))
            ink = BADGE_INK.get(value.level, "FFFFFF")
            _run(p, label, size=size, colour=ink)
            if value.note:
                _run(p, "\n" + value.note, size=SMALL_PT, colour=ink)
        elif isinstance(value, Count):
            if value.n:
                _shade_cell(cell, _hex(LEVELS[value.level][1]))
                _run(p, str(value.n), size=size, colour=BADGE_INK.get(value.level, "FFFFFF"), bold=True)
            else:
                _run(p, "0", size=size, colour=FAINT)
        elif isinstance(value, Lines):
            _run(p, value.text, size=size)
            if value.small:
                _run(p, "\n" + value.small, size=SMALL_PT, colour=MUTED)
        else:
            _run(p, _text(value), size=size)

    def chart_grid(self, charts: list[dict]) -> None:
        """Charts two to a row, each under its caption with a rule in its level's colour (the caption's
        badge says ``chart["badge"]`` when given, else the level's label)."""
        table = self.doc.add_table(rows=0, cols=2)
        table.autofit = False
        table.alignment = WD_TABLE_ALIGNMENT.LEFT
        for start in range(0, len(charts), 2):
            row = table.add_row()
            row._tr.get_or_add_trPr().append(_element("w:cantSplit"))
            for cell, chart in zip(row.cells, charts[start : start + 2], strict=False):
                _cell_top_border(cell, _hex(LEVELS[chart["level"]][1]))
                caption = self._cell_paragraph(cell)
                _badge_run(caption, chart["level"], size=SMALL_PT, label=chart.get("badge"))
                _run(caption, f" {chart['name']}", size=TABLE_PT)
                _run(caption, f"　{chart['id']}　{chart['source']}", size=SMALL_PT, colour=MUTED)
                picture = cell.add_paragraph()
                picture._p.style = self.styles["table"].style_id
                _picture(
                    picture.add_run(), chart["chart"], width=CHART_WIDTH, description=f"{chart['name']}图表"
                )
        for column in table.columns:
            column.width = CHART_COLUMN
        for row in table.rows:
            for cell in row.cells:
                cell.width = CHART_COLUMN
        self.para()  # space before whatever follows

    def table_of_contents(self, at) -> None:
        """A TOC field over the 标题 1 headings, its entries pre-filled as links (Word adds page
        numbers when the field is updated), in place of the paragraph ``at``."""
        last = len(self.contents) - 1
        for i, (text, bookmark) in enumerate(self.contents):
            p = at.insert_paragraph_before(style=self.styles["toc"])
            if i == 0:
                p.paragraph_format.space_before = Mm(8)
                _field(p, 'TOC \\o "1-1" \\h \\z \\u', parts=("begin", "instr", "separate"))
            _internal_link(p, text, bookmark)
            if i == last:
                _field(p, parts=("end",))
        at._p.getparent().remove(at._p)


# ---------------------------------------------------------------- the report, in print order


def cover_page(w: _ReportDocument, *, plan_title: str, title: str, meta: str, summary: str, notices: list[str],
               footer: str, center_summary: bool = True):
    """The cover of a report: plan, title, meta line, summary, the notices in a box, and the place the
    table of contents goes (returned) above the footer line."""
    w.para(plan_title, size=17, center=True).paragraph_format.space_before = Mm(45)
    w.doc.add_paragraph(title, style="Title")
    w.para(meta, colour=META_INK, center=True)
    para = w.para(summary, size=11, center=True) if center_summary else w.para(summary, size=11)
    para.paragraph_format.space_before = Mm(12)
    para.paragraph_format.left_indent = para.paragraph_format.right_indent = Mm(18)
    for i, text in enumerate(["重要说明", *notices] if notices else []):
        p = w.para(text, size=9, bold=i == 0)
        p.paragraph_format.left_indent = p.paragraph_format.right_indent = Mm(13)
        p.paragraph_format.space_after = Pt(2)
        if i == 0:
            p.paragraph_format.space_before = Mm(8)
        _box(p, NOTICE_BORDER, NOTICE_FILL)
    contents = w.para()  # the table of contents goes here once every heading is written
    w.para(footer, small=True, center=True).paragraph_format.space_before = Mm(6)
    return contents


def _cover(w: _ReportDocument, v: dict):
    return cover_page(
        w, plan_title=v["plan_title"], title=f"{v['year']}年度城市体检评估报告",
        meta=f"规划包：{v['plan_id']}　·　评估年度：{v['year']}年", summary=v["summary"], notices=v["notices"],
        footer=f"本报告由 planwatch {v['version']} 依据规划包与截至{v['year']}年的数据生成；相同输入生成相同报告。",
    )


def _board(w: _ReportDocument, v: dict) -> None:
    w.heading("总览：分类评估看板", 1, anchor="board", new_page=True)
    levels = list(LEVELS)
    rows = [[r["label"], *[Count(lv, r[lv]) for lv in levels], Badge(r["level"])] for r in v["rollup"]]
    w.table(
        ["分类", *[Badge(lv) for lv in levels], "分类等级"],
        rows,
        widths=[0.34, *[None] * 5],
        size=10,
        center=(1, 2, 3, 4, 5),
    )
    w.para(v["rollup_rule"], size=8, colour=RULE_INK)
    w.para(
        "绿灯：进展符合规划要求；黄灯：进展滞后，需要关注；红灯：突破约束或严重滞后；灰灯：有数据但无法评级（定性目标、"
        "缺少基期值等）。仅有口径不同的相关统计或暂无数据的指标不计入看板，见“数据覆盖情况”。",
        small=True,
    )


def _problems(w: _ReportDocument, v: dict) -> None:
    w.heading("问题清单与对策建议", 1, anchor="problems", new_page=True)
    if not v["problems"]:
        w.empty("本年度没有红灯或黄灯指标，也没有不符合要求的空间规则。")
    else:
        rows = [[_text(p["no"]), Badge(p["level"]), Lines(p["name"], f"{p['key']}　{p['source']}"), p["problem"],
                 p["recommendation"]] for p in v["problems"]]  # fmt: skip
        w.table(
            ["序号", "等级", "问题", "具体情况", "对策建议"],
            rows,
            widths=[0.05, 0.07, 0.18, None, 0.28],
            center=(0,),
        )
    w.para(v["no_register"], small=True)


def _code(f: dict) -> Lines:
    """A finding's number, with its 示意 marks under it."""
    return Lines(f["code"], "　".join(f["marks"]))


def _findings(w: _ReportDocument, v: dict) -> None:
    """The findings register's three sections (in place of 问题清单与对策建议): 问题清单 (the open
    findings, overdue first, an overdue one with a red 逾期N天), 整改进展 (closed in the window), 对策建议."""
    r = v["register"]
    w.heading("问题清单", 1, anchor="problems", new_page=True)
    w.para(r["summary"])
    for note in r["notes"]:
        w.para(note, small=True)
    if r["open"]:
        rows = [[_code(f), Badge(f["severity_level"], label=f["severity"]),
                 Lines(f["title"], "　".join(x for x in (f["kind"], f["geo"], f["article"]) if x)), f["reason"], f["unit"],
                 f["due"], f["state"], Badge("red", label=f"逾期{f['days_overdue']}天") if f["overdue"] else "—"]
                for f in r["open"]]  # fmt: skip
        w.table(["编号", "严重程度", "问题", "现状与原因", "责任单位", "整改时限", "状态", "逾期"], rows,
                widths=[0.1, 0.07, 0.19, None, 0.14, 0.1, 0.08, 0.08], size=SMALL_PT, center=(1, 7))
    w.para(r["basis"], small=True)

    w.heading("整改进展", 1, anchor="rectification", new_page=True)
    w.para(r["progress_summary"])
    if r["progress"]:
        rows = [[_code(f), Lines(f["title"], f["article"]), f["unit"], f["closed_at"], f["how"], f["by"], f["evidence"]]
                for f in r["progress"]]  # fmt: skip
        w.table(["编号", "问题", "责任单位", "销号（关闭）日期", "关闭方式", "关闭人", "整改佐证"], rows,
                widths=[0.1, 0.22, 0.14, 0.1, 0.09, 0.09, None], size=SMALL_PT)
        for note in (r["progress_note"], *r["progress_notes"]):
            w.para(note, small=True)

    w.heading("对策建议", 1, anchor="measures", new_page=True)
    if not r["open"]:
        w.empty(r["no_measures"])
        return
    w.para(r["measures_lead"])
    rows = [[_code(f), f["title"], f["recommendation"] or "—", f["unit"], f["due"], f["commitment_text"]]
            for f in r["open"]]
    w.table(["编号", "问题", "对策建议", "责任单位", "整改时限", "整改承诺/进展"], rows,
            widths=[0.1, 0.18, None, 0.14, 0.1, 0.24], size=SMALL_PT)


def _maps(w: _ReportDocument, v: dict) -> None:
    if not v["maps"]:
        return
    w.heading("规划一张图", 1, anchor="map", new_page=True)
    for m in v["maps"]:
        if m.get("title"):
            w.heading(m["title"], 2)
        if m.get("png"):
            w.picture(m["png"], m.get("title") or "规划一张图", max_height=MAX_FIGURE_HEIGHT)
        w.para(_text(m.get("caption")), small=True)


def _districts(w: _ReportDocument, v: dict) -> None:
    tables = ([v["station"]] if v["station"] else []) + v["districts"]
    if not tables:
        return
    w.heading("分区评估", 1, anchor="districts", new_page=True)
    for t in tables:
        w.heading(t["title"], 2)
        rows = [[_text(x) for x in row] for row in t["rows"]]
        w.table(list(t["columns"]), rows, size=SMALL_PT, center=tuple(range(1, len(t["columns"]))))
        w.para(_text(t.get("caption")), small=True)


def _rules(w: _ReportDocument, v: dict) -> None:
    if not v["rules"]:
        return
    w.heading("空间规则检查", 1, anchor="rules", new_page=True)
    rows = [[Lines(r["id"], f"第{r['article']}条"),
             Lines(r["description"], f"对应指标目标 {r['target']}" if r["target"] != "—" else ""),
             r["value"], r["need"], Badge(r["level"], _text(r["status_text"])), r["reason"]] for r in v["rules"]]  # fmt: skip
    w.table(
        ["规则", "内容", "数值", "要求", "等级", "说明"],
        rows,
        widths=[0.07, 0.24, 0.1, 0.1, 0.11, None],
        center=(2, 3),
    )
    w.para(
        "按规划包中的空间规则，对供地、减量腾退与城乡建设用地图层逐年计算。对应指标目标的规则与该指标目标使用同一评级；"
        "由示意数据图层计算的数值不参与评级。",
        small=True,
    )


def _ledger(w: _ReportDocument, v: dict) -> None:
    """指标流量池与用地台账: the pools by district and 圈层, the year's release plan, the caps (an
    exceeded one in red), the plan targets set against the ledger, the pools' balances over the year."""
    lg = v["ledger"]
    if lg is None:
        return
    w.heading(lg["title"], 1, anchor="ledger", new_page=True)
    if lg["empty"]:
        w.empty(lg["text"])
        return
    w.para(lg["lead"])
    for i, note in enumerate(lg["notes"]):
        p = w.para(("【示意】" if i == 0 else "") + note, size=9)
        p.paragraph_format.space_after = Pt(2)
        _box(p, NOTICE_BORDER, NOTICE_FILL)
    amounts = tuple(range(2, 9))
    for q in lg["quotas"]:
        w.heading(q["district_title"], 2)
        rows = [list(r) for r in q["district_rows"]] + [list(q["total"])]
        w.table(q["district_columns"], rows, widths=[0.08, 0.08, *[None] * 7], size=SMALL_PT, right=amounts)
        w.para(q["district_note"], small=True)
        w.heading(q["ring_title"], 2)
        w.table(q["ring_columns"], q["ring_rows"], widths=[0.08, 0.16, *[None] * 7], size=SMALL_PT, right=amounts)
        w.para(q["ring_note"], small=True)
    if lg["quiet"]:
        w.empty(lg["quiet"])
    if lg["plan_rows"]:
        w.heading(lg["plan_title"], 2)
        w.table(lg["plan_columns"], lg["plan_rows"], widths=[0.25, None, None, None], size=SMALL_PT, right=(1, 2, 3))
        w.para(lg["plan_note"], small=True)
    w.heading(lg["caps_title"], 2)
    w.para(lg["caps_lead"])
    rows, groups = [], []
    for c in lg["caps"]:
        groups.append((len(rows) + 1, len(rows) + len(c["rows"])))  # table rows, after the header
        for i, x in enumerate(c["rows"]):
            first = i == 0
            rows.append([Lines(c["id"], "　".join([*c["marks"], c["quota"]])) if first else "",
                         c["basis"] if first else "", x["scope"], c["measure"] if first else "", x["measured"],
                         x["limit"], Badge("red", label="超出上限") if x["over"] else "未超出"])
    table = w.table(lg["caps_columns"], rows, widths=[0.15, 0.25, 0.08, 0.17, None, None, 0.09], size=SMALL_PT,
                    right=(4, 5))
    for top, bottom in groups:  # a cap's name, basis and measure once, over its scopes
        if bottom > top:
            for column in (0, 1, 3):
                merged = table.cell(top, column).merge(table.cell(bottom, column))
                for p in merged.paragraphs[1:]:
                    if not p.text:
                        p._p.getparent().remove(p._p)
    w.para(lg["caps_note"], small=True)
    w.heading(lg["references_title"], 2)
    rows = [[Lines(r["name"], f"{r['id']}　{r['source']}"), r["requirement"], Lines(r["ledger"][0], "\n".join(r["ledger"][1:])),
             r["note"]] for r in lg["references"]]
    w.table(lg["references_columns"], rows, widths=[0.15, 0.2, 0.27, None], size=SMALL_PT)
    if lg["chart"]:
        w.heading(lg["chart_title"], 2)
        w.picture(lg["chart"], lg["chart_title"])
        w.para(lg["chart_caption"], small=True)


def _category(w: _ReportDocument, v: dict, s: dict, legend: bytes) -> None:
    w.heading(f"{s['numeral']}、{s['label']}", 1, anchor=s["anchor"], new_page=True)
    if s["rollup"]:
        p = w.para("分类等级 ")
        _badge_run(p, s["rollup"]["level"])
        _run(p, "　" + "，".join(f"{label} {s['rollup'][lv]} 项" for lv, (label, _) in LEVELS.items()))
    if s["rows"]:
        w.heading(f"已评级指标（{len(s['rows'])} 项）", 2)
        rows = []
        for r in s["rows"]:
            tags = [r["id"], r["geo"], r["source"]] + ([f"同{r['linked_to']}"] if r["linked_to"] else [])
            rows.append([Lines(f"{r['name']}（{r['unit']}）" if r["unit"] else r["name"], "　".join(tags)),
                         Lines(r["baseline"], f"{r['baseline_year']}年" if r["baseline_year"] else ""),
                         Lines(r["prev"], f"{r['prev_year']}年" if r["prev_year"] else ""),
                         Lines(r["value"], f"{r['value_year']}年"), r["change"], r["target"], Badge(r["level"]),
                         Lines(r["reason"], f"方法：{r['method']}" if r["method"] else "")])  # fmt: skip
        w.table(
            ["指标", "基期值", "上年值", "现状值", "变化", "规划目标", "等级", "评估说明"],
            rows,
            widths=[0.18, 0.09, 0.09, 0.09, 0.07, 0.11, 0.06, None],
            center=(4,),
        )
    if s["charts"]:
        w.heading("指标图表", 2)
        w.picture(legend, "图例")
        w.chart_grid(s["charts"])
    if s["related"]:
        w.heading("相关统计（口径不同或未采用，不参与评级）", 2)
        rows = [[r["id"], r["target_name"] + (f"（{r['geo']}）" if r.get("geo") != "全市" else ""), _text(r["year"]),
                 f"{_text(r['value_text'])}{_text(r['unit'])}", _text(r["why"]),
                 strip_urls(_text(r["source"])) + (f"（{r['published']}）" if r.get("published") else "")]
                for r in s["related"]]  # fmt: skip
        w.table(
            ["编号", "指标", "年份", "数值", "不参与评级的原因", "来源"],
            rows,
            widths=[0.07, 0.2, 0.06, 0.11, 0.26, None],
            size=SMALL_PT,
        )
    if s["nodata"]:
        w.heading(f"未评级的指标（{len(s['nodata'])} 项）", 2)
        rows = [[r["id"], Lines(f"{r['name']}（{r['unit']}）" if r["unit"] else r["name"],
                                f"与{r['linked_to']}为同一指标" if r["linked_to"] else ""),
                 r["geo"], _text(r["source"]), r["target"], Badge("grey", r["status"])] for r in s["nodata"]]  # fmt: skip
        w.table(
            ["编号", "指标", "范围", "出处", "规划目标", "状态"],
            rows,
            widths=[0.08, None, 0.11, 0.09, 0.24, 0.13],
            size=SMALL_PT,
        )


def _forecasts(w: _ReportDocument, v: dict) -> None:
    w.heading("预测与回测", 1, anchor="forecasts", new_page=True)
    if v["forecasts"]:
        rows = [[f["id"], f["name"], f["f2025"], f["f2035"], f["target"], f["note"]] for f in v["forecasts"]]
        w.table(
            ["编号", "指标", "2025年预测", "2035年预测", "规划目标", "预测依据"],
            rows,
            widths=[0.07, 0.2, 0.16, 0.16, 0.14, None],
            size=SMALL_PT,
        )
        w.para("括号内为预测区间；预测为趋势外推，不是目标，也不代表规划实施的结果。", small=True)
    else:
        w.empty("本年度没有可预测的指标。")
    w.heading("回测：以往预测与实际值的比较", 2)
    if v["backtest"]:
        keys = (
            "id",
            "name",
            "year",
            "origin_year",
            "n_points",
            "forecast",
            "band",
            "actual",
            "error",
            "in_band",
        )
        rows = [[_text(b[k]) for k in keys] for b in v["backtest"]]
        w.table(
            [
                "编号",
                "指标",
                "预测年份",
                "所用数据截至",
                "数据点",
                "预测值",
                "预测区间",
                "实际值",
                "误差",
                "落入区间",
            ],
            rows,
            size=SMALL_PT,
            center=tuple(range(2, 10)),
        )
    else:
        w.empty("尚无可回测的指标：回测用Y−2年及以前的数据预测Y年，需要Y−2年及以前至少有2个数据点（含基期值），并有Y年的实际值；本报告的数据尚不满足。")


def _coverage(w: _ReportDocument, v: dict) -> None:
    w.heading("数据覆盖情况", 1, anchor="coverage", new_page=True)
    w.para(
        f"以下{len(v['coverage'])}项指标目标本年度没有可评级的数据。“建议数据来源”为可提供该数据的统计或部门，供补充数据时参考。"
    )
    rows = [[r["id"], r["name"], r["category"], r["status"], _text(r["source_hint"])] for r in v["coverage"]]
    w.table(
        ["编号", "指标", "分类", "状态", "建议数据来源"],
        rows,
        widths=[0.07, 0.24, 0.06, 0.2, None],
        size=SMALL_PT,
    )


def _sources_and_methods(w: _ReportDocument, v: dict) -> None:
    w.heading("数据来源", 1, anchor="sources", new_page=True)
    rows = [
        [_text(s["source"]), _text(s["published"]), _text(s["ids"]), _text(s["years"])] for s in v["sources"]
    ]
    w.table(["来源", "发布日期", "指标", "年份"], rows, widths=[None, 0.12, 0.22, 0.14], size=SMALL_PT)
    w.heading("评估方法", 1, anchor="methods").paragraph_format.space_before = Pt(14)
    for name, text in v["methods"]:
        w.para(name, bold=True).paragraph_format.keep_with_next = True
        body = w.para(text)
        body.paragraph_format.left_indent = Pt(15)
    w.para(
        "完整的指标目标、数据、评估结果、相关统计、空间规则与分区数值见同目录下的 report.xlsx；本文件为可编辑的文字版，"
        "版式固定的打印版见 report.pdf。",
        small=True,
    )


def write_docx(ctx: ReportContext, path: Path) -> Path:
    """Write the check-up report of ``ctx`` to ``path`` as an editable Word document (A4).

    The content and order are those of the HTML report (see the module docstring); the same
    context gives byte-identical files. Raises ``ValueError`` as :meth:`ReportContext.check` does
    when the context lacks a column the report needs."""
    ctx.check()
    view = build_view(ctx, charts="png")
    w = _ReportDocument(view)
    contents = _cover(w, view)
    _board(w, view)
    if view["register"] is None:
        _problems(w, view)
    else:
        _findings(w, view)
    _maps(w, view)
    _districts(w, view)
    _rules(w, view)
    _ledger(w, view)
    legend = legend_svg(fmt="png")
    for section in view["sections"]:
        _category(w, view, section, legend)
    _forecasts(w, view)
    _coverage(w, view)
    _sources_and_methods(w, view)
    w.table_of_contents(contents)
    return w.save(path)
