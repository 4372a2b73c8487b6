"""The extractor on another plan of the same genre: a fictional city's near-term plan written for
this test (tests/fixtures/extract/jiangchuan-2026-2030.md), with articles numbered in Chinese
numerals, a 前言, a 附则 chapter, a page header and an image in the middle of an article, and other
numbers and units than the seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planwatch.extract import parse_plan, read_plan_text, run_extract

FIXTURE = Path(__file__).parent / "fixtures/extract/jiangchuan-2026-2030.md"

# (article, value, value_high, unit, comparator, year, baseline) of every target statement
EXPECTED = {
    (3, 120, None, "万人", "<", 2030, None),
    (3, 1200, None, "平方公里", "<", 2030, None),
    (4, 42.5, None, "%", ">", 2030, (2025, 36.2)),
    (4, 1.8, None, "", "ratio", 2030, (2025, 2.1)),
    (4, 45, None, "平方公里", "<", 2030, None),
    (5, 85, None, "万亩", ">", 2030, None),
    (5, 46, None, "%", "≈", 2030, None),
    (5, 65, None, "万吨/日", "=", 2030, None),
    (5, 85, None, "%", ">", 2030, None),
    (6, 15, None, "所", "=", 2030, None),
    (6, 320, None, "个", ">", 2030, None),
    (6, 90, None, "%", "=", 2030, None),
    (6, 20, 25, "%", "range", 2030, None),
    (7, 4.2, None, "亿立方米", "<", 2030, None),
    (7, 2, None, "平方米", "=", 2030, None),
}


@pytest.fixture(scope="module")
def parsed():
    return parse_plan(read_plan_text(FIXTURE))


@pytest.fixture(scope="module")
def result():
    return run_extract(FIXTURE)


def test_articles_in_chinese_numerals_are_found_with_their_chapters_and_sections(parsed):
    assert parsed.title == "江川市国土空间近期规划（2026年—2030年）"
    assert parsed.period == (2026, 2030)
    assert [a.number for a in parsed.articles] == list(range(1, 9))
    assert [a.title for a in parsed.articles] == [
        "规划目的",
        "规划期限",
        "发展目标",
        "推进存量用地盘活",
        "守住生态底线",
        "完善公共服务",
        "保障水资源安全",
        "规划解释",
    ]
    chapters = [(a.chapter.label, a.chapter.title) for a in parsed.articles]
    assert chapters[:3] == [("第一章", "总体要求")] * 3
    assert chapters[3:5] == [("第二章", "优化空间格局")] * 2
    assert chapters[5:7] == [("第三章", "提升民生保障")] * 2
    assert parsed.articles[7].chapter.label.replace("\u3000", "") == "附则"
    assert [a.section.title if a.section else None for a in parsed.articles] == [
        None,
        None,
        None,
        "严控建设用地规模",
        "保护生态空间",
        None,
        None,
        None,
    ]


def test_a_page_header_and_image_inside_an_article_are_furniture_and_the_sentence_is_joined(parsed):
    text = parsed.article(4).text
    assert "引导城区12个片区有序更新，依据第三条确定的目标" in text
    assert "江川市国土空间近期规划（" not in text and "![" not in text
    assert "![](images/page-7.jpg)" in parsed.other


def test_preface_toc_appendix_and_furniture_are_kept_apart(parsed):
    assert parsed.preface.endswith("是指导近期国土空间开发保护的行动纲领。")  # joined around 相关链接
    assert "江川市规划获批" in parsed.other
    assert parsed.toc.splitlines() == [
        "第一章\u3000总体要求",
        "第二章\u3000优化空间格局",
        "第三章\u3000提升民生保障",
        "附\u3000则",
    ]
    assert parsed.appendix.startswith("附表\u3000近期规划主要指标")
    assert parsed.appendix.endswith("注：表中2025年为基期值。")
    assert parsed.article(8).text == "本规划由江川市人民政府负责解释，自发布之日起施行。"
    assert parsed.other.endswith("主办：江川市人民政府办公室")


def test_every_target_statement_comes_out_right_and_nothing_else_is_confident(result):
    got = {
        (
            c["article"],
            c["value"],
            c["value_high"],
            c["unit"],
            c["comparator"],
            c["year"],
            (c["baseline"]["year"], c["baseline"]["value"]) if c["baseline"] else None,
        )
        for c in result["candidates"]
        if c["confidence"] >= 0.5
    }
    assert got == EXPECTED


def test_quotes_are_verbatim_from_the_article_text(result):
    texts = {a["number"]: a["text"] for a in result["articles"]}
    for c in result["candidates"]:
        assert c["quote"] in texts[c["article"]]
    c = next(c for c in result["candidates"] if c["value"] == 120)
    assert c["quote"] == "全市常住人口控制在１２０万人以内"  # full-width digits kept in the quote
    c = next(c for c in result["candidates"] if c["value"] == 42.5)
    assert c["raw_value"] == "$4 2 . 5 \\%$"


def test_non_targets_are_left_out_or_kept_below_confidence(result):
    low = {(c["article"], c["value"]) for c in result["candidates"] if c["confidence"] < 0.5}
    assert low == {(4, 12), (6, 300)}  # 12个片区 and 300米服务半径 qualify a noun
    values = {c["value"] for c in result["candidates"]}
    assert 3 not in values and 107 not in values  # 地铁3号线, G107国道, 第三条
    assert 118 not in values and 61.3 not in values  # numbers in the preface are not article targets


def test_the_result_is_json_as_the_cli_prints_it(result):
    assert set(result) == {"articles", "candidates", "warnings"}
    assert result["warnings"] == []  # its articles run 第1条 to 第8条 with none missing
    decoded = json.loads(json.dumps(result, ensure_ascii=False))
    assert decoded["articles"][3]["chapter"] == {"number": 2, "label": "第二章", "title": "优化空间格局"}
    assert decoded["articles"][3]["section"] == {"number": 1, "label": "第一节", "title": "严控建设用地规模"}
    first = decoded["candidates"][0]
    assert set(first) >= {
        "article",
        "quote",
        "subject",
        "value",
        "unit",
        "year",
        "comparator",
        "baseline",
        "confidence",
    }
