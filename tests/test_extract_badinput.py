"""Bad input gets a clear error that names the file and says what was expected."""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import pytest

from planwatch.extract import PlanTextError, extract_candidates, parse_plan, read_plan_text, run_extract

FIXTURE = Path(__file__).parent / "fixtures/extract/jiangchuan-2026-2030.md"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_an_empty_file_is_refused_with_what_was_expected(tmp_path):
    path = write(tmp_path, "empty.md", b"")
    with pytest.raises(PlanTextError) as e:
        read_plan_text(path)
    message = str(e.value)
    assert str(path) in message and "empty" in message and "第N条" in message


def test_a_file_of_whitespace_only_is_refused(tmp_path):
    path = write(tmp_path, "blank.md", b" \n\n\t\n")
    with pytest.raises(PlanTextError, match="empty"):
        read_plan_text(path)


def test_a_binary_file_with_nul_bytes_is_refused(tmp_path):
    path = write(tmp_path, "data.bin", b"\x00\x01\x02\x03plan\x00\x00" * 50)
    with pytest.raises(PlanTextError) as e:
        read_plan_text(path)
    assert str(path) in str(e.value) and "binary" in str(e.value) and "UTF-8" in str(e.value)


@pytest.mark.parametrize(
    "magic, what",
    [(b"%PDF-1.7\n", "PDF"), (b"PK\x03\x04", "ZIP"), (b"\x89PNG\r\n\x1a\n", "PNG")],
)
def test_a_known_binary_format_is_named(tmp_path, magic, what):
    path = write(tmp_path, "plan.md", magic + b"\x10\x20" * 100)
    with pytest.raises(PlanTextError, match=what):
        read_plan_text(path)


def test_random_bytes_are_refused_even_without_nul(tmp_path):
    rng = random.Random(3)
    data = bytes(rng.choice(range(1, 256)) for _ in range(4000))
    path = write(tmp_path, "noise.md", data)
    with pytest.raises(PlanTextError) as e:
        read_plan_text(path)
    assert str(path) in str(e.value)


def test_a_text_with_no_articles_is_refused(tmp_path):
    path = write(
        tmp_path, "notes.md", "# 会议纪要\n\n今天讨论了绿道建设，到2025年建成绿道1000公里。\n".encode()
    )
    with pytest.raises(PlanTextError) as e:
        run_extract(path)
    message = str(e.value)
    assert str(path) in message and "expected articles headed 第N条" in message
    with pytest.raises(PlanTextError, match="第N条"):
        parse_plan("只有一段文字。")


def test_a_gb18030_file_is_decoded(tmp_path):
    text = FIXTURE.read_text(encoding="utf-8")
    path = write(tmp_path, "plan-gb18030.md", text.encode("gb18030"))
    assert read_plan_text(path) == text
    result = run_extract(path)
    assert [a["number"] for a in result["articles"]] == list(range(1, 9))


def test_a_gbk_file_is_decoded_as_gb18030(tmp_path):
    text = "第1条　目标\n到2030年全市常住人口控制在120万人以内。\n"
    path = write(tmp_path, "plan-gbk.txt", text.encode("gbk"))
    assert read_plan_text(path) == text


def test_utf8_with_bom_and_windows_line_ends(tmp_path):
    path = write(tmp_path, "bom.md", "\ufeff第1条　目标\r\n到2030年建成绿道50公里。\r\n".encode())
    text = read_plan_text(path)
    assert text == "第1条　目标\n到2030年建成绿道50公里。\n"


def test_utf16_with_a_byte_order_mark_is_decoded(tmp_path):
    path = write(tmp_path, "utf16.md", "第1条　目标\n到2030年建成绿道50公里。\n".encode("utf-16"))
    assert read_plan_text(path).startswith("第1条")


@pytest.mark.parametrize(
    "data",
    [
        "第1条 目标 ".encode() + b"\x81\x20\xff\xfe\x80",  # neither UTF-8 nor GB18030
        "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e".encode("cp1252"),  # Latin-1 text
    ],
)
def test_bytes_in_no_supported_encoding_are_refused(tmp_path, data):
    path = write(tmp_path, "latin.md", data)
    with pytest.raises(PlanTextError) as e:
        read_plan_text(path)
    message = str(e.value)
    assert str(path) in message and "UTF-8" in message and "GB18030" in message


def test_a_missing_file_and_a_folder_are_refused(tmp_path):
    with pytest.raises(PlanTextError, match="no such file"):
        read_plan_text(tmp_path / "missing.md")
    with pytest.raises(PlanTextError, match="folder"):
        read_plan_text(tmp_path)


def test_valid_utf8_full_of_control_characters_is_refused_as_binary(tmp_path):
    path = write(tmp_path, "controls.md", bytes(range(1, 32)) * 20)
    with pytest.raises(PlanTextError, match="binary"):
        read_plan_text(path)


def test_utf8_text_in_other_scripts_is_accepted_as_text(tmp_path):
    path = write(tmp_path, "mixed.md", "Пример —第1条　目标\n到2030年建成绿道50公里。\n".encode())
    assert read_plan_text(path).startswith("Пример")


# -- article numbers out of order, duplicated or missing ---------------------------------------
# Each is kept as its own article where it stands (never merged into its neighbour), named with
# its line in a warning (run_extract's "warnings", the CLI's stderr), and refused by --strict.

OUT_OF_ORDER = "第1条　甲\n甲的内容。\n第2条　乙\n乙的内容。\n第5条　戊\n戊的内容。\n第3条　丙\n丙的内容。\n第4条　丁\n丁的内容。\n"
DUPLICATE = "第1条　甲\n甲的内容。\n第2条　乙\n乙的内容。\n第3条　丙\n丙的内容。\n第3条　丙又\n又一个丙的内容。\n第4条　丁\n丁的内容。\n"
GAP = "第5条　戊\n戊的内容。\n第6条　己\n己的内容。\n第8条　辛\n辛的内容。\n第9条　壬\n壬的内容。\n"

BAD_NUMBERING = {
    # name: (text, article numbers in order, texts, the words each warning must hold)
    "out of order": (
        OUT_OF_ORDER,
        [1, 2, 5, 3, 4],
        ["甲的内容。", "乙的内容。", "戊的内容。", "丙的内容。", "丁的内容。"],
        [("line 7", "第3条", "after 第5条", "out of order"), ("line 9", "第4条", "after 第5条", "out of order")],
    ),
    "duplicate": (
        DUPLICATE,
        [1, 2, 3, 3, 4],
        ["甲的内容。", "乙的内容。", "丙的内容。", "又一个丙的内容。", "丁的内容。"],
        [("line 7", "第3条", "again", "first at line 5")],
    ),
    "gap": (
        GAP,
        [5, 6, 8, 9],
        ["戊的内容。", "己的内容。", "辛的内容。", "壬的内容。"],
        [("line 1", "第5条", "第1条 to 第4条 not found"), ("line 5", "第8条", "follows 第6条", "第7条 not found")],
    ),
}


@pytest.mark.parametrize("case", list(BAD_NUMBERING))
def test_bad_article_numbering_is_kept_apart_and_warned_with_its_line(case):
    text, numbers, texts, expected = BAD_NUMBERING[case]
    plan = parse_plan(text)
    assert [a.number for a in plan.articles] == numbers
    assert [a.text for a in plan.articles] == texts  # nothing merged into a neighbour
    assert len(plan.warnings) == len(expected), plan.warnings
    for warning, words in zip(plan.warnings, expected, strict=True):
        assert warning.startswith(words[0] + ":") and all(w in warning for w in words[1:]), warning


@pytest.mark.parametrize("case", list(BAD_NUMBERING))
def test_run_extract_returns_the_warnings_and_strict_refuses_them(tmp_path, case):
    text, numbers, _, expected = BAD_NUMBERING[case]
    path = write(tmp_path, "plan.md", text.encode())
    result = run_extract(path)
    assert [a["number"] for a in result["articles"]] == numbers
    assert result["warnings"] == parse_plan(text).warnings and len(result["warnings"]) == len(expected)
    with pytest.raises(PlanTextError) as e:
        run_extract(path, strict=True)
    message = str(e.value)
    assert str(path) in message and "strict" in message
    assert all(w in message for w in result["warnings"])


@pytest.mark.parametrize("case", list(BAD_NUMBERING))
def test_the_cli_prints_the_warnings_on_stderr_and_strict_exits_1(tmp_path, case):
    from typer.testing import CliRunner

    from planwatch.cli.main import app

    text, numbers, _, expected = BAD_NUMBERING[case]
    path = write(tmp_path, "plan.md", text.encode())
    warnings = parse_plan(text).warnings
    runner = CliRunner()

    result = runner.invoke(app, ["extract", str(path)])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["warnings"] == warnings
    assert [line for line in result.stderr.splitlines() if line] == [f"warning: {w}" for w in warnings]

    result = runner.invoke(app, ["extract", str(path), "--strict"])
    assert result.exit_code == 1  # refused input
    assert result.stdout == ""
    squeezed = "".join(result.stderr.split())  # the error console may wrap long lines
    assert "error:" in squeezed and "strict" in squeezed
    assert all("".join(w.split()) in squeezed for w in warnings)


def test_a_clean_text_has_no_warnings_and_passes_strict(tmp_path):
    path = write(tmp_path, "plan.md", FIXTURE.read_bytes())
    assert run_extract(path)["warnings"] == []
    assert run_extract(path, strict=True)["articles"]


def test_numbers_that_come_later_out_of_order_are_not_reported_missing():
    plan = parse_plan(OUT_OF_ORDER)
    assert not any("not found" in w for w in plan.warnings)


def test_an_out_of_order_article_with_text_on_its_heading_line_is_its_own_article():
    plan = parse_plan("第1条　甲\n甲的内容。\n第4条　丁\n丁的内容。\n第2条　本规划自发布之日起施行。\n")
    assert [a.number for a in plan.articles] == [1, 4, 2]
    assert plan.articles[2].text == "本规划自发布之日起施行。"
    assert plan.articles[1].text == "丁的内容。"


def test_prose_that_starts_with_an_article_number_stays_text():
    plan = parse_plan("第1条　甲\n甲的内容。\n第2条　乙\n第1条规定的内容另行公布。\n")
    assert [a.number for a in plan.articles] == [1, 2]
    assert plan.articles[1].text == "第1条规定的内容另行公布。"
    assert plan.warnings == []


def test_a_huge_gap_is_one_warning_naming_the_range():
    plan = parse_plan("第1条　甲\n甲的内容。\n第999999999条　末\n末的内容。\n")
    assert plan.warnings == ["line 3: 第999999999条 follows 第1条 (第2条 to 第999999998条 not found)"]


def test_a_gap_partly_filled_later_names_only_the_numbers_found_nowhere():
    plan = parse_plan("第1条　甲\n甲。\n第6条　己\n己。\n第3条　丙\n丙。\n")
    assert [a.number for a in plan.articles] == [1, 6, 3]
    assert plan.warnings == [
        "line 3: 第6条 follows 第1条 (第2条, 第4条 to 第5条 not found)",
        "line 5: 第3条 comes after 第6条 (out of order)",
    ]


# -- the work of extraction is linear in the text ---------------------------------------------
# Work is counted, not timed: the characters handed to every regular-expression scan in the
# extract modules (the old extractor handed each number the whole sentence before it) plus the
# Python lines they execute (a loop that walks back over the text). 4× the text must be about 4×
# the work; quadratic work would be 16×.

EXTRACT_DIR = str(Path(parse_plan.__code__.co_filename).parent)


class _CountingPattern:
    def __init__(self, pattern, counter):
        self._pattern, self._counter = pattern, counter

    def _wrap(self, name):
        method = getattr(self._pattern, name)

        def counted(string, *args, **kwargs):
            pos = args[0] if args else kwargs.get("pos", 0)
            endpos = args[1] if len(args) > 1 else kwargs.get("endpos", len(string))
            self._counter["chars"] += max(0, min(endpos, len(string)) - pos)
            return method(string, *args, **kwargs)

        return counted

    def __getattr__(self, name):
        if name in ("search", "match", "fullmatch", "finditer", "findall", "split"):
            return self._wrap(name)
        if name in ("sub", "subn"):
            method = getattr(self._pattern, name)

            def counted(repl, string, *args, **kwargs):
                self._counter["chars"] += len(string)
                return method(repl, string, *args, **kwargs)

            return counted
        return getattr(self._pattern, name)


class _CountingRe:
    """The re module, counting the characters each module-level call (re.sub …) is handed."""

    def __init__(self, counter):
        self._counter = counter

    def __getattr__(self, name):
        real = getattr(re, name)
        if name in ("search", "match", "fullmatch", "finditer", "findall", "split"):
            return lambda pattern, string, *a, **k: (self._count(string), real(pattern, string, *a, **k))[1]
        if name in ("sub", "subn"):
            return lambda pattern, repl, string, *a, **k: (self._count(string), real(pattern, repl, string, *a, **k))[1]
        return real

    def _count(self, string):
        self._counter["chars"] += len(string)


def extraction_work(text: str, monkeypatch) -> tuple[int, int]:
    """The work of parse + candidates on ``text`` (characters scanned by patterns + lines run),
    and the number of candidates found."""
    from planwatch.extract import candidates
    from planwatch.text import articles as parse
    from planwatch.text import read as text_module

    counter = {"chars": 0, "lines": 0}
    modules = (parse, text_module, candidates)
    with monkeypatch.context() as m:
        for module in modules:
            for name, value in list(vars(module).items()):
                if isinstance(value, re.Pattern):
                    m.setattr(module, name, _CountingPattern(value, counter))
            m.setattr(module, "re", _CountingRe(counter))
        folders = {str(Path(module.__file__).parent) for module in modules}

        def local(frame, event, arg):
            if event == "line":
                counter["lines"] += 1
            return local

        def trace(frame, event, arg):
            return local if str(Path(frame.f_code.co_filename).parent) in folders else None

        previous = sys.gettrace()
        sys.settrace(trace)
        try:
            plan = parse.parse_plan(text)
            found = candidates.extract_candidates(plan.articles, period=plan.period)
        finally:
            sys.settrace(previous)
    return counter["chars"] + counter["lines"], len(found)


LINEAR_SHAPES = {
    # the reviewer's hang: one long sentence, each number used to rescan all of it before itself
    "one long sentence": lambda k: "第1条　目标\n" + "到2025年全市常住人口控制在2300万人以内，" * k,
    # one clause with no comma: counts per unit, quotes, changes from a baseline, reference years
    "one long clause": lambda k: "第1条　目标\n"
    + "每区至少一所幼儿园、形成“三种气源、八大通道”及由现状的449公里增加到520公里并在2015年基础上已建成50公里及" * k,
    "many articles": lambda k: "".join(f"第{i}条　目标\n到2025年建成绿道{i}公里。\n" for i in range(1, k + 1)),
    # an OCR page break on every line: one paragraph joined from k lines
    "page-broken lines": lambda k: "第1条　目标\n" + "到2025年全市常住人口控制在2300万人以内并且继续推进规划实施的监督评估和年度体检工作\n" * k,
    "a long run of spaces": lambda k: "第1条　目标\n到2025年建成" + " " * (40 * k) + "绿道50公里。\n",
}


@pytest.mark.parametrize("shape", list(LINEAR_SHAPES))
def test_four_times_the_text_is_about_four_times_the_work(shape, monkeypatch):
    build = LINEAR_SHAPES[shape]
    small, found_small = extraction_work(build(50), monkeypatch)
    large, found_large = extraction_work(build(200), monkeypatch)
    assert found_small >= 1  # the text was read, not skipped
    if shape != "a long run of spaces":  # one number there, however long the run
        assert found_large == 4 * found_small
    assert 3.0 < large / small < 5.0, f"{shape}: {large / small:.1f}× the work for 4× the text"


def test_a_clause_without_punctuation_is_quoted_only_near_its_number_and_says_so():
    from planwatch.extract.candidates import _MAX_CLAUSE

    text = "第1条　目标\n到2025年" + "全市的绿道和公园" * 60 + "控制在50公里以内" + "并且" * 150 + "。"
    plan = parse_plan(text)
    (candidate,) = extract_candidates(plan.articles, plan.period)
    assert candidate.value == 50 and candidate.comparator == "<" and candidate.year == 2025
    assert candidate.quote in plan.articles[0].text  # verbatim, only shorter
    assert candidate.quote.endswith("控制在50公里以内")
    assert len(candidate.subject) <= _MAX_CLAUSE < len("全市的绿道和公园" * 60)
    assert any(f"runs over {_MAX_CLAUSE} characters without punctuation" in n for n in candidate.notes)
