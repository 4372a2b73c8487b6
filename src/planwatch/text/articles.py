"""Parse a plan document into chapters, sections and articles (第N条).

The genre: a Chinese territorial plan is a preface (序言/前言), a table of contents (目录), then
chapters (总则, 第一章 …) holding sections (第一节 …) holding articles (第1条 … or 第一条 …),
often followed by an appendix table. OCR output adds page furniture: navigation, page headers
that repeat the title, image links, figure captions and footers. Headings come either as
Markdown headings (``# 第1条　指导思想``) or as plain lines (``第6条　加强…``), and OCR sometimes
turns a continuation line into a heading (``# 1.3调整到1：1.5左右。``) or breaks a sentence
across a page (``…到2025年全市常`` / ``住人口控制在…``).

:func:`parse_plan` reads the text line by line with a small state machine and returns a
:class:`ParsedPlan`: every article with its chapter, section, title and text (page breaks
joined), and the preface, table of contents, appendix and furniture kept apart.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from planwatch.text.read import PlanTextError, chinese_number

_NUM = r"[0-9０-９]+|[零〇一二两三四五六七八九十百千]+"

_ARTICLE = re.compile(rf"^第\s*({_NUM})\s*条[\s\u3000:：.．、]*(.*)$")
_CHAPTER = re.compile(rf"^第\s*({_NUM})\s*章[\s\u3000:：.．、]*(.*)$")
_SECTION = re.compile(rf"^第\s*({_NUM})\s*节[\s\u3000:：.．、]*(.*)$")
_IMAGE = re.compile(r"^!\[[^\]]*\]\([^)]*\)$|^<img\b", re.I)
_CAPTION = re.compile(r"^(?:图|表)\s*[0-9０-９]+")
_ORDINAL = re.compile(
    r"^(?:[0-9０-９]+[.．、](?![0-9])|[一二三四五六七八九十]+[、.．]|[（(][0-9一二三四五六七八九十]+[)）])"
)
# Possessive quantifiers (*+, ++): what follows each run can never be part of it, and without them
# "2021" followed by a long run of spaces backtracks quadratically through the two \s*.
_PERIOD = re.compile(r"((?:19|20)\d\d)\s*+年?\s*+[—\-–~～至到]++\s*+((?:19|20)\d\d)\s*年")
_PERIOD_SENTENCE = re.compile(
    r"规划(?:期限|期)(?:为|是)?\s*+((?:19|20)\d\d)\s*+年?\s*+[—\-–~～至到]++\s*+((?:19|20)\d\d)\s*年"
)

_PREFACE_WORDS = {"序言", "前言", "序", "引言"}
_TOC_WORDS = {"目录", "目次"}
_PART_CHAPTERS = {"总则": 0, "附则": None}
_APPENDIX_PREFIXES = ("附录", "附表", "附件")
# fmt: off
_FURNITURE_BLOCKS = {"相关解读", "相关链接", "相关文件", "相关阅读", "相关新闻", "分享", "扫一扫", "打印本页", "关闭窗口"}
# fmt: on

_TERMINAL = "。；！？!?;…"
_CLOSERS = "”’）)》】」』"


def _compact(s: str) -> str:
    """NFKC and no whitespace: the form in which two headings are compared."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))


@dataclass(frozen=True)
class Heading:
    """A chapter or section heading: ``number`` (0 for 总则, None for 附则), ``label`` as written
    (第一章, 总则) and ``title``."""

    number: int | None
    label: str
    title: str

    def to_dict(self) -> dict:
        return {"number": self.number, "label": self.label, "title": self.title}


@dataclass
class Article:
    """One article 第N条: its chapter, section (or None), title, and text with page breaks joined.

    ``text`` is verbatim apart from whitespace: a sentence the OCR broke across a page is joined,
    paragraphs are separated by ``\\n``, and Markdown heading marks are dropped.
    ``line`` is the 1-based line of the heading in the source.
    """

    number: int
    chapter: Heading | None
    section: Heading | None
    title: str
    text: str
    line: int

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "chapter": self.chapter.to_dict() if self.chapter else None,
            "section": self.section.to_dict() if self.section else None,
            "title": self.title,
            "text": self.text,
            "line": self.line,
        }


@dataclass
class Chapter:
    heading: Heading
    intro: str  # the chapter's own text before its first section or article
    line: int


@dataclass
class ParsedPlan:
    """A plan document taken apart. ``other`` holds the page furniture (navigation, page headers,
    image links, captions, footers) and anything else that belongs to no part. ``warnings`` say,
    line by line, what is wrong with the article structure: a number out of order, duplicated or
    missing, an article with no text."""

    title: str
    period: tuple[int, int] | None
    articles: list[Article]
    chapters: list[Chapter]
    preface: str
    toc: str
    appendix: str
    other: str
    warnings: list[str] = field(default_factory=list)

    def article(self, number: int) -> Article:
        """The first article numbered ``number`` (a duplicated number is warned about)."""
        for a in self.articles:
            if a.number == number:
                return a
        raise KeyError(number)


@dataclass
class _Para:
    text: str
    line: int


def _is_open(text: str) -> bool:
    """True if a paragraph stops mid-sentence (an OCR page break), e.g. ``…由现状的1：``."""
    t = text.rstrip()
    if not t:
        return False
    last = t[-1]
    if last in ":：":
        return len(t) > 1 and t[-2].isdigit()  # "1：" broken inside a ratio; else it introduces a list
    return last not in _TERMINAL and last not in _CLOSERS


def _join_paragraphs(paras: list[_Para]) -> list[_Para]:
    """Join a paragraph that stops mid-sentence with the next one (a page break of the OCR).

    Linear in the text: a joined paragraph is kept as its pieces until the end, and the tests that
    decide a join read only what they need of it (its start, its last characters, its length and
    whether it holds a full stop), never the whole joined text again.
    """
    groups: list[_JoinedPara] = []
    for p in paras:
        g = groups[-1] if groups else None
        if (
            g is not None
            and _is_open(g.tail)
            and g.length >= 30
            and not (g.starts_with_ordinal and not g.has_full_stop)  # a list heading: 1. 总体要求
            and not _ORDINAL.match(p.text)
        ):
            g.add(p.text)
        else:
            groups.append(_JoinedPara(p))
    return [_Para("".join(g.pieces), g.line) for g in groups]


class _JoinedPara:
    """A paragraph being joined across page breaks, kept as pieces (joining by ``+`` in a loop
    would copy the text once per piece)."""

    _HEAD = 200  # the ordinal mark of a list item (1. / 一、 / （1）) is read in the first characters

    def __init__(self, p: _Para):
        self.line = p.line
        self.pieces = [p.text]
        self.length = len(p.text)
        self.head = p.text[: self._HEAD]
        self.tail = p.text[-8:]  # enough for _is_open, which reads the last two characters
        self.has_full_stop = "。" in p.text
        self.starts_with_ordinal = bool(_ORDINAL.match(self.head))

    def add(self, text: str) -> None:
        self.pieces.append(text)
        self.length += len(text)
        self.tail = (self.tail + text[-8:])[-8:]
        self.has_full_stop = self.has_full_stop or "。" in text
        if len(self.head) < self._HEAD:
            self.head = (self.head + text[: self._HEAD])[: self._HEAD]
            self.starts_with_ordinal = bool(_ORDINAL.match(self.head))


@dataclass
class _Line:
    index: int  # 0-based
    raw: str
    body: str  # stripped, without Markdown heading marks
    compact: str
    is_md_heading: bool


@dataclass
class _ArticleDraft:
    number: int
    chapter: Heading | None
    section: Heading | None
    title: str
    line: int
    paras: list[_Para] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str):
        self.lines = text.split("\n")
        self.title = ""
        self.title_key = ""
        self.articles: list[_ArticleDraft] = []
        self.chapters: list[tuple[Heading, list[_Para], int]] = []
        self.section: Heading | None = None
        self.current: _ArticleDraft | None = None
        self.preface: list[_Para] = []
        self.toc: list[str] = []
        self.toc_seen: set[str] = set()
        self.appendix: list[str] = []
        self.other: list[str] = []
        self.warnings: list[tuple[int, str]] = []  # (line, message)
        self.state = "front"
        self.return_to = "front"
        self.table_seen = False
        self.last_article_line = self._last_article_line()
        self.highest = 0  # the highest article number so far
        self.first_line: dict[int, int] = {}  # article number → line of its first heading

    # -- classification ----------------------------------------------------------------------
    def _line(self, i: int) -> _Line:
        raw = self.lines[i]
        s = raw.strip()
        is_md = s.startswith("#")
        body = s.lstrip("#").strip() if is_md else s
        return _Line(i, raw, body, _compact(body), is_md)

    def _last_article_line(self) -> int:
        last = -1
        for i, raw in enumerate(self.lines):
            if _ARTICLE.match(raw.strip().lstrip("#").strip()):
                last = i
        return last

    def _structural(self, ln: _Line) -> str | None:
        """'article', 'chapter' or 'section' if the line is such a heading."""
        if _ARTICLE.match(ln.body):
            return "article"
        m = _CHAPTER.match(ln.body)
        if (m and _is_heading_title(m.group(2))) or ln.compact in _PART_CHAPTERS:
            return "chapter"
        m = _SECTION.match(ln.body)
        if m and _is_heading_title(m.group(2)):
            return "section"
        return None

    def _is_furniture(self, ln: _Line) -> bool:
        if _IMAGE.match(ln.body):
            return True
        if self.title_key and ln.compact == self.title_key:
            return True  # a page header repeating the document title
        return bool(_CAPTION.match(ln.compact)) and len(ln.compact) <= 40 and "。" not in ln.compact

    def _block(self, ln: _Line) -> str | None:
        key = ln.compact.rstrip(":：")
        if key in _PREFACE_WORDS:
            return "preface"
        if key in _TOC_WORDS:
            return "toc"
        if key in _FURNITURE_BLOCKS:
            return "furniture"
        if key.startswith(_APPENDIX_PREFIXES) and len(key) <= 40 and "。" not in key:
            return "appendix"
        return None

    # -- the state machine -------------------------------------------------------------------
    def run(self) -> None:
        for i in range(len(self.lines)):
            ln = self._line(i)
            if not ln.compact:
                continue
            self._dispatch(ln)
        self._close_article(at_end=True)

    def _dispatch(self, ln: _Line) -> None:
        handler = getattr(self, f"_in_{self.state}")
        handler(ln)

    def _in_front(self, ln: _Line) -> None:
        block = self._block(ln)
        if block in ("preface", "toc", "appendix"):
            self.state = block
            (self.other if block != "appendix" else self.appendix).append(ln.raw)
        elif block == "furniture":
            self._enter_furniture(ln, "front")
        elif self._structural(ln):
            self.state = "body"
            self._in_body(ln)
        else:
            if ln.is_md_heading and not self.title:
                self.title = ln.body
                self.title_key = ln.compact
            self.other.append(ln.raw)

    def _in_preface(self, ln: _Line) -> None:
        block = self._block(ln)
        if block == "toc":
            self.state = "toc"
            self.other.append(ln.raw)
        elif block == "furniture":
            self._enter_furniture(ln, "preface")
        elif block == "appendix" or self._structural(ln):
            self.state = "body"
            self._in_body(ln)
        elif self._is_furniture(ln):
            self.other.append(ln.raw)
        else:
            self.preface.append(_Para(ln.body, ln.index + 1))

    def _in_toc(self, ln: _Line) -> None:
        entry = ln.compact.rstrip(".…·。-—_0123456789")  # drop dot leaders and page numbers
        long_prose = len(ln.compact) > 80 or "。" in ln.compact
        ends = entry in self.toc_seen or long_prose or self._structural(ln) == "article"
        if ends or self._block(ln) in ("preface", "appendix"):
            # the body starts where an entry comes round again, or at the first article
            self.state = "body"
            self._in_body(ln)
        elif self._block(ln) == "furniture":
            self._enter_furniture(ln, "toc")
        elif self._is_furniture(ln):
            self.other.append(ln.raw)
        else:
            self.toc.append(ln.raw.strip())
            self.toc_seen.add(entry)

    def _enter_furniture(self, ln: _Line, return_to: str) -> None:
        self.return_to = return_to
        self.state = "furniture"
        self.other.append(ln.raw)

    def _in_furniture(self, ln: _Line) -> None:
        """A block such as 相关解读 holds a few short link lines; prose after it resumes the text."""
        short = len(ln.compact) <= 40 and ln.compact[-1] not in "。；"
        if short and not self._structural(ln) and not self._block(ln):
            self.other.append(ln.raw)
        else:
            self.state = self.return_to
            self._dispatch(ln)

    def _in_body(self, ln: _Line) -> None:
        kind = self._structural(ln)
        block = self._block(ln)
        if kind == "article" and self._open_article(ln):
            return
        if kind == "chapter":
            self._open_chapter(ln)
        elif kind == "section":
            m = _SECTION.match(ln.body)
            self._close_article()
            self.section = Heading(
                chinese_number(m.group(1)), ln.body[: m.start(2)].strip(), m.group(2).strip()
            )
        elif ln.body.startswith("|") or block == "appendix":
            if block == "appendix" or ln.index > self.last_article_line:
                self._start_appendix(ln)
            else:
                self._add_text(ln)  # a table inside an article stays with the article
        elif block == "furniture":
            self._enter_furniture(ln, "body")
        elif self._is_furniture(ln):
            self.other.append(ln.raw)
            if ln.index > self.last_article_line:
                self._close_article(at_end=True)
                self.state = "tail"
        else:
            self._add_text(ln)

    def _in_appendix(self, ln: _Line) -> None:
        if ln.body.startswith("|"):
            self.table_seen = True
            self.appendix.append(ln.raw)
        elif self._is_furniture(ln):
            self.other.append(ln.raw)
            if self.table_seen:
                self.state = "tail"
        elif self._structural(ln) == "article" and ln.index <= self.last_article_line:
            self.state = "body"
            self._in_body(ln)
        elif self.table_seen and not ln.compact.startswith(("注", "说明", "资料来源", "备注")):
            self.state = "tail"
            self.other.append(ln.raw)
        else:
            self.appendix.append(ln.raw)

    def _in_tail(self, ln: _Line) -> None:
        if ln.body.startswith("|") or self._block(ln) == "appendix":
            self.state = "appendix"
            self.table_seen = False
            self._in_appendix(ln)
        else:
            self.other.append(ln.raw)

    # -- building the parts ------------------------------------------------------------------
    def _open_article(self, ln: _Line) -> bool:
        """Open the article headed by ``ln``; False if the line is prose that starts with 第N条.

        The next number (highest so far + 1) always opens an article. Any other number (a gap,
        one already seen, one lower than the highest) opens one only if the line looks like a
        heading: a short title, or a separator after 条 (``第3条　本规划…``); then it is kept as an
        article of its own in the order it appears, never merged into its neighbour, and warned
        about. ``第3条规定的内容…`` (no separator, a sentence) is text of the current article.
        """
        m = _ARTICLE.match(ln.body)
        n = chinese_number(m.group(1))
        rest = m.group(2).strip()
        heading_like = _is_heading_title(rest)
        separated = bool(rest) and ln.body[m.start(2) - 1] != "条"
        expected = self.highest + 1
        if n is None or n < 1 or (n != expected and not (heading_like or separated)):
            return False  # "第N条" at the start of a sentence of prose: text, not a heading
        line = ln.index + 1
        if n in self.first_line:
            self.warnings.append((line, f"第{n}条 appears again (first at line {self.first_line[n]})"))
        elif n < self.highest:
            self.warnings.append((line, f"第{n}条 comes after 第{self.highest}条 (out of order)"))
        self.first_line.setdefault(n, line)
        self.highest = max(self.highest, n)
        self._close_article()
        chapter = self.chapters[-1][0] if self.chapters else None
        title, first = (rest, None) if heading_like else ("", rest)
        self.current = _ArticleDraft(n, chapter, self.section, title, ln.index + 1)
        if first:
            self.current.paras.append(_Para(first, ln.index + 1))
        self.articles.append(self.current)
        return True

    def _open_chapter(self, ln: _Line) -> None:
        self._close_article()
        self.section = None
        m = _CHAPTER.match(ln.body)
        if m:
            heading = Heading(chinese_number(m.group(1)), ln.body[: m.start(2)].strip(), m.group(2).strip())
        else:
            heading = Heading(_PART_CHAPTERS[ln.compact], ln.body, ln.body)
        self.chapters.append((heading, [], ln.index + 1))

    def _add_text(self, ln: _Line) -> None:
        para = _Para(ln.body, ln.index + 1)
        if self.current is not None:
            self.current.paras.append(para)
        elif self.chapters:
            self.chapters[-1][1].append(para)
        else:
            self.other.append(ln.raw)

    def _start_appendix(self, ln: _Line) -> None:
        """The appendix begins: its caption lines (short, unfinished) leave the last article."""
        moved: list[str] = []  # last first
        if self.current is not None:
            while self.current.paras and _is_trailer(self.current.paras[-1].text):
                moved.append(self.lines[self.current.paras.pop().line - 1])
        self._close_article(at_end=True)
        self.appendix.extend(reversed(moved))
        self.state = "appendix"
        self.table_seen = False
        self._in_appendix(ln)

    def _close_article(self, at_end: bool = False) -> None:
        """Finish the current article; after the last article, a trailing short unfinished line
        (a footer, a caption) is furniture, not article text."""
        if self.current is not None and at_end:
            while self.current.paras and _is_trailer(self.current.paras[-1].text):
                self.other.append(self.lines[self.current.paras.pop().line - 1])
        self.current = None


def _is_heading_title(rest: str) -> bool:
    """The rest of a 第N条/章/节 line is a title (short, no full stop) rather than prose."""
    return len(rest) <= 80 and "。" not in rest


def _is_trailer(text: str) -> bool:
    """A short line with no sentence in it: a caption, a footer or a table title."""
    return len(text) <= 40 and not any(c in text for c in _TERMINAL) and not _ORDINAL.match(text)


def _paras_text(paras: list[_Para]) -> str:
    return "\n".join(p.text for p in _join_paragraphs(paras))


def _find_period(title: str, text: str) -> tuple[int, int] | None:
    for source, pattern in ((title, _PERIOD), (text, _PERIOD_SENTENCE)):
        m = pattern.search(unicodedata.normalize("NFKC", source))
        if m and int(m.group(1)) <= int(m.group(2)):
            return int(m.group(1)), int(m.group(2))
    return None


def parse_plan(text: str, name: str = "<text>") -> ParsedPlan:
    """Split a plan document into its articles and the parts around them.

    ``name`` is used in error messages (the file name). Raises :class:`PlanTextError` if the text
    holds no article headed 第N条.
    """
    parser = _Parser(text)
    parser.run()
    if not parser.articles:
        raise PlanTextError(
            f"{name}: no article found; expected articles headed 第N条 (N in Arabic or Chinese numerals) "
            "at the start of a line, as in a Chinese plan or regulation"
        )
    articles = [
        Article(d.number, d.chapter, d.section, d.title, _paras_text(d.paras), d.line)
        for d in parser.articles
    ]
    warnings = parser.warnings + _missing_articles(articles)
    warnings += [(a.line, f"第{a.number}条 has no text") for a in articles if not a.text.strip()]
    chapters = [Chapter(h, _paras_text(paras), line) for h, paras, line in parser.chapters]
    return ParsedPlan(
        title=parser.title,
        period=_find_period(parser.title, text),
        articles=articles,
        chapters=chapters,
        preface=_paras_text(parser.preface),
        toc="\n".join(parser.toc),
        appendix="\n".join(parser.appendix),
        other="\n".join(parser.other),
        warnings=[f"line {line}: {message}" for line, message in sorted(warnings, key=lambda w: w[0])],
    )


def _missing_articles(articles: list[Article]) -> list[tuple[int, str]]:
    """(line, message) for each jump in the numbering over article numbers found nowhere in the
    text: ``第8条 follows 第6条 (第7条 not found)``. A number that turns up elsewhere (out of order)
    is not missing. Works on the numbers found, never on every number of a gap (第1条 then
    第99999条 is one warning, at once)."""
    found = sorted({a.number for a in articles})
    out: list[tuple[int, str]] = []
    highest = 0
    previous: Article | None = None
    for a in articles:
        if a.number > highest + 1:
            runs = []  # the missing numbers between highest and a.number, as runs (lo, hi)
            lo = highest + 1
            for k in found[bisect_right(found, highest) : bisect_left(found, a.number)]:
                if k > lo:
                    runs.append((lo, k - 1))
                lo = k + 1
            if lo < a.number:
                runs.append((lo, a.number - 1))
            if runs:
                missing = ", ".join(f"第{x}条" if x == y else f"第{x}条 to 第{y}条" for x, y in runs)
                where = f"follows 第{previous.number}条" if previous else "is the first article"
                out.append((a.line, f"第{a.number}条 {where} ({missing} not found)"))
        highest = max(highest, a.number)
        previous = a
    return out
