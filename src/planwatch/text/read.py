"""Read a plan document as text, and normalise the OCR noise in its numbers.

A plan document is a Markdown or plain-text file, usually the OCR output of a published PDF or
web page. :func:`read_plan_text` decodes it (UTF-8, else GB18030, the superset of GBK) or refuses
it with a message that names the file and says what was expected. :func:`normalise_numbers`
rewrites numbers into one form (``$7 5 \\%$`` → ``75%``, ``１．５`` → ``1.5``, ``1：1.5`` → ``1:1.5``)
and keeps a map back to the raw text, so that a curator always sees what the source says.
:func:`chinese_number` reads a number written in Chinese numerals (``十二``, ``一百七十七``, ``两万``).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from itertools import compress
from pathlib import Path

EXPECTED = "expected a plan document as text (UTF-8 or GB18030/GBK) with articles headed 第N条"


class PlanTextError(ValueError):
    """A plan text that cannot be read or has no article structure; the message names the file."""


# File signatures of common non-text formats, so the error can say what the file looks like.
_SIGNATURES = {
    b"%PDF": "a PDF file",
    b"PK\x03\x04": "a ZIP archive (e.g. .docx or .xlsx)",
    b"\xd0\xcf\x11\xe0": "an old Office file (.doc/.xls)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"SQLite format 3": "an SQLite database",
}


def _looks_like_text(text: str) -> bool:
    """True if nearly every character is what a Chinese plan text is made of.

    Used to reject byte soup that happens to decode as GB18030 (which maps most byte pairs to
    some character): such text is full of rare symbols, private-use and control characters.
    """
    if not text:
        return False
    ok = 0
    for ch in text:
        o = ord(ch)
        if (
            ch in "\n\r\t"
            or 0x20 <= o < 0x7F  # ASCII
            or 0x4E00 <= o <= 0x9FFF  # CJK unified ideographs
            or 0x3000 <= o <= 0x303F  # CJK punctuation
            or 0xFF00 <= o <= 0xFFEF  # full-width forms
            or 0x2000 <= o <= 0x206F  # general punctuation (— “ ” …)
            or 0x00A0 <= o <= 0x00FF  # Latin-1 (× ÷ °)
            or 0x2100 <= o <= 0x23FF  # letterlike, number forms, arrows, maths (℃ Ⅰ → ≤)
            or 0x2460 <= o <= 0x27BF  # enclosed numbers ①, boxes, shapes
            or 0x3400 <= o <= 0x4DBF  # CJK extension A
        ):
            ok += 1
    return ok / len(text) >= 0.97


def _control_share(text: str) -> float:
    """The share of control characters other than tab, line feed, carriage return and form feed."""
    controls = sum(1 for ch in text if (ord(ch) < 0x20 and ch not in "\t\n\r\f") or 0x7F <= ord(ch) < 0xA0)
    return controls / max(1, len(text))


def decode_plan_bytes(data: bytes, name: str = "<bytes>") -> str:
    """Decode the bytes of a plan document; see :func:`read_plan_text`."""
    if not data.strip():
        raise PlanTextError(f"{name}: the file is empty; {EXPECTED}")
    for magic, what in _SIGNATURES.items():
        if data.startswith(magic):
            raise PlanTextError(f"{name}: this is {what}, not text; {EXPECTED}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise PlanTextError(
                f"{name}: starts with a UTF-16 byte-order mark but does not decode as UTF-16 ({e}); {EXPECTED}"
            ) from e
    elif b"\x00" in data:
        raise PlanTextError(f"{name}: looks like a binary file (it contains NUL bytes); {EXPECTED}")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as utf8_error:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError as e:
                raise PlanTextError(
                    f"{name}: neither UTF-8 (invalid byte at offset {utf8_error.start}) nor GB18030/GBK "
                    f"(invalid byte at offset {e.start}); re-save the file as UTF-8 — {EXPECTED}"
                ) from e
            if not _looks_like_text(text):
                raise PlanTextError(
                    f"{name}: not UTF-8, and decoding it as GB18030/GBK gives mostly non-text characters "
                    f"(binary data or another encoding); re-save the file as UTF-8 — {EXPECTED}"
                ) from utf8_error
    if _control_share(text) > 0.01:
        raise PlanTextError(
            f"{name}: looks like a binary file (it is full of control characters); {EXPECTED}"
        )
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise PlanTextError(f"{name}: the file holds only whitespace; {EXPECTED}")
    return text


def read_plan_text(path: str | Path) -> str:
    """Read a plan document and return its text with ``\\n`` line ends.

    Accepts UTF-8 (with or without BOM), UTF-16 with a BOM, and GB18030/GBK when it decodes
    cleanly into plausible text. Raises :class:`PlanTextError` naming the file for a missing,
    empty or binary file, or one in an encoding it cannot decode.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as e:
        raise PlanTextError(f"{p}: no such file; {EXPECTED}") from e
    except IsADirectoryError as e:
        raise PlanTextError(f"{p}: is a folder, not a file; {EXPECTED}") from e
    except OSError as e:
        raise PlanTextError(f"{p}: cannot be read ({e.strerror}); {EXPECTED}") from e
    return decode_plan_bytes(data, str(p))


# ---------------------------------------------------------------------------------------------
# Number normalisation with a map back to the raw text
# ---------------------------------------------------------------------------------------------

# Inline LaTeX the OCR wraps numbers in: "$7 5 \%$", "$1 4 . 4 \%$", "$9 0 \% _ { < }$", "$^ +$".
_LATEX = re.compile(r"\$([^$\n]{1,80})\$")
_LATEX_SUBSUP_GROUP = re.compile(r"[\^_]\s*\{([^{}]*)\}")
_LATEX_SUBSUP_CHAR = re.compile(r"[\^_]\s*(\S)")
_LATEX_COMMAND_ARG = re.compile(r"\\(?:hat|mathrm|text|mathbf|operatorname)\s*\{([^{}]*)\}")

# Full-width characters that matter in numbers; other full-width punctuation (，：；（）) is kept,
# because the extractor reads it as Chinese punctuation.
_FULLWIDTH = {chr(0xFF10 + i): str(i) for i in range(10)} | {
    "％": "%",
    "．": ".",
    "＋": "+",
    "－": "-",
    "＜": "<",
    "＞": ">",
    "＝": "=",
    "～": "~",
    "／": "/",
    "﹪": "%",
}
_FULLWIDTH_TABLE = str.maketrans(_FULLWIDTH)
_NUMBERISH = set("0123456789.%:+")
_THOUSANDS = re.compile(r"^\d{3}(?!\d)")
_SPACES = " \t\u00a0\u3000"
_SPACE_RUN = re.compile(f"[{_SPACES}]+")
_COLON_OR_COMMA = re.compile("[：,]")


def _latex_to_text(body: str) -> str:
    """The plain text an inline LaTeX snippet of the OCR stands for: ``7 5 \\%`` → ``75%``."""
    s = body.replace("\\prime\\prime", '"').replace("\\prime \\prime", '"')
    s = _LATEX_COMMAND_ARG.sub(r"\1", s)

    def group(m: re.Match) -> str:
        inner = m.group(1).strip()
        if inner in ('"', "'", "+", "-"):
            return inner
        return ""  # sub/superscript debris such as "_ { < }" or "^ { n }"

    s = _LATEX_SUBSUP_GROUP.sub(group, s)
    s = _LATEX_SUBSUP_CHAR.sub(r"\1", s)
    s = s.replace("\\%", "%").replace("\\prime", "'").replace("\\times", "×").replace("\\sim", "~")
    s = s.replace("\\cdot", "·").replace("\\geq", "≥").replace("\\leq", "≤").replace("\\,", "")
    s = re.sub(r"\\[a-zA-Z]+", "", s)
    return re.sub(r"\s+", "", s)


@dataclass(frozen=True)
class NormalisedText:
    """A normalised text with, for each of its characters, the raw span it came from."""

    raw: str
    text: str
    _starts: tuple[int, ...]
    _ends: tuple[int, ...]

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the raw text that the normalised ``text[start:end]`` came from."""
        if end <= start:
            pos = self._starts[start] if start < len(self._starts) else len(self.raw)
            return pos, pos
        return self._starts[start], self._ends[end - 1]

    def raw_slice(self, start: int, end: int) -> str:
        """The raw text behind ``text[start:end]`` (verbatim: LaTeX, full-width digits and all)."""
        a, b = self.raw_span(start, end)
        return self.raw[a:b]

    def norm_index(self, raw_pos: int) -> int:
        """The index in the normalised text of the first character from raw position ``raw_pos``."""
        return bisect_right(self._starts, raw_pos - 1) if raw_pos > 0 else 0


def normalise_numbers(s: str) -> NormalisedText:
    """Normalise numbers in ``s`` for matching, keeping a map back to the raw text.

    - inline LaTeX of the OCR becomes plain text: ``$7 5 \\%$`` → ``75%``, ``$1 4 . 4 \\%$`` →
      ``14.4%``, ``$^ +$`` → ``+``;
    - full-width digits and number punctuation become ASCII (``１５％`` → ``15%``), and a
      full-width colon between digits becomes ``:`` (``1：1.5`` → ``1:1.5``);
    - spaces next to a number, or between Chinese characters, are removed (``7 $+ 1$ 个`` → ``7+1个``),
      and so are thousands separators (``22,690`` → ``22690``).

    Returns a :class:`NormalisedText`; ``.text`` is the normalised string and ``.raw_slice``
    recovers the verbatim quote behind any span of it.
    """
    # Pass 1: LaTeX snippets and full-width characters, one chunk at a time; for each character
    # of the result, the raw span it came from.
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in _LATEX.finditer(s):
        pieces.append(s[pos : m.start()].translate(_FULLWIDTH_TABLE))
        starts.extend(range(pos, m.start()))
        ends.extend(range(pos + 1, m.start() + 1))
        latex = _latex_to_text(m.group(1))
        pieces.append(latex)
        starts.extend([m.start()] * len(latex))
        ends.extend([m.end()] * len(latex))
        pos = m.end()
    pieces.append(s[pos:].translate(_FULLWIDTH_TABLE))
    starts.extend(range(pos, len(s)))
    ends.extend(range(pos + 1, len(s) + 1))
    text = "".join(pieces)
    n = len(text)

    # Pass 2: a full-width colon between digits is a ratio; drop spaces inside or around numbers,
    # and thousands separators. Each decision reads the nearest character that is not a space on
    # either side; a run of spaces is decided once, as a whole (its spaces have the same sides).
    keep = bytearray(b"\x01") * n
    run_start: dict[int, int] = {}  # the end of a run of spaces → its start
    run_end: dict[int, int] = {}  # the start of a run of spaces → its end
    for m in _SPACE_RUN.finditer(text):
        a, b = m.span()
        run_start[b], run_end[a] = a, b
        left = text[a - 1] if a > 0 else ""
        right = text[b] if b < n else ""
        if (
            left in _NUMBERISH
            or right in _NUMBERISH
            or (_is_cjk(left) and _is_cjk(right))
            or _is_cjk_punct(left)
            or _is_cjk_punct(right)
        ) and not (left.isascii() and left.isalpha() and right.isascii() and right.isalpha()):
            keep[a:b] = bytes(b - a)
    ratio_colons = []
    for m in _COLON_OR_COMMA.finditer(text):
        i = m.start()
        if text[i] == "：":
            j = run_start.get(i, i)  # the nearest character on the left that is not a space
            k = run_end.get(i + 1, i + 1)  # and on the right
            if j > 0 and k < n and text[j - 1].isdigit() and text[k].isdigit():
                ratio_colons.append(i)
        elif i > 0 and text[i - 1].isdigit() and _THOUSANDS.match(text[i + 1 : i + 5]):
            keep[i] = 0  # 22,690 → 22690
    if ratio_colons:
        chars = list(text)
        for i in ratio_colons:
            chars[i] = ":"
        text = "".join(chars)
    return NormalisedText(
        s, "".join(compress(text, keep)), tuple(compress(starts, keep)), tuple(compress(ends, keep))
    )


def _is_cjk(ch: str) -> bool:
    return bool(ch) and 0x4E00 <= ord(ch) <= 0x9FFF


def _is_cjk_punct(ch: str) -> bool:
    return bool(ch) and (
        0x3000 < ord(ch) <= 0x303F or 0xFF01 <= ord(ch) <= 0xFF0F or ch in "，。；：、“”‘’（）《》—…"
    )


# ---------------------------------------------------------------------------------------------
# Chinese numerals
# ---------------------------------------------------------------------------------------------

# fmt: off
CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
# fmt: on
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_SECTIONS = {"万": 10_000, "亿": 100_000_000}
CN_NUMERAL_CHARS = "".join(CN_DIGITS) + "".join(_CN_UNITS) + "".join(_CN_SECTIONS)


def chinese_number(s: str) -> int | None:
    """The integer written as ``s``: ``"12"``, ``"１２"``, ``"十二"``, ``"二十三"``, ``"一百七十七"``,
    ``"一百零五"``, ``"两万"``, ``"三万五千"``, or digit by digit as in a year (``"二〇三五"``);
    None if it is not a number, e.g. ``"十四五"`` (the name of the 14th five-year plan)."""
    s = unicodedata.normalize("NFKC", s).strip()
    if not s:
        return None
    if s.isdigit():
        return int(s)
    if len(s) > 1 and all(ch in CN_DIGITS for ch in s):
        return int("".join(str(CN_DIGITS[ch]) for ch in s))  # 二〇三五 → 2035
    total, section, current = 0, 0, 0
    previous = ""
    for ch in s:
        if ch in CN_DIGITS:
            if previous in CN_DIGITS and CN_DIGITS[previous] != 0:
                return None  # a digit after a digit inside a positional numeral: 十四五 is a name
            current = CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            section += (current or 1) * _CN_UNITS[ch]
            current = 0
        elif ch in _CN_SECTIONS:
            total += ((section + current) or 1) * _CN_SECTIONS[ch]
            section, current = 0, 0
        else:
            return None
        previous = ch
    return total + section + current
