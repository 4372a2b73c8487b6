"""Parsing the seed plan into chapters, sections and articles 第1条…第177条."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from planwatch.extract import parse_plan, read_plan_text
from planwatch.text.articles import chinese_number

SEED = Path(__file__).resolve().parents[1] / "src/planwatch/plans/beijing-2021-2025/source.md"
CHAPTER_LABELS = ["总则"] + [f"第{n}章" for n in "一 二 三 四 五 六 七 八 九 十 十一".split()]


@pytest.fixture(scope="module")
def seed_text() -> str:
    return read_plan_text(SEED)


@pytest.fixture(scope="module")
def seed(seed_text):
    return parse_plan(seed_text, name=str(SEED))


def _compact(s: str) -> str:
    return re.sub(r"\s+", "", s)


def test_every_article_from_1_to_177_is_found_exactly_once_in_order(seed):
    assert [a.number for a in seed.articles] == list(range(1, 178))
    assert seed.warnings == []
    assert all(a.text.strip() for a in seed.articles), "every article has text"


def test_the_document_title_and_plan_period_are_read(seed):
    assert seed.title == "北京市国土空间近期规划(2021年—2025年)"
    assert seed.period == (2021, 2025)


def test_chapters_are_general_provisions_then_chapters_one_to_eleven(seed):
    assert [c.heading.label for c in seed.chapters] == CHAPTER_LABELS
    assert [c.heading.number for c in seed.chapters] == list(range(12))
    assert seed.chapters[8].heading.title == "加强首都安全保障，多措并举提高城市韧性"  # a plain-line heading


@pytest.mark.parametrize(
    "number, chapter, section, title",
    [
        (1, "总则", None, "指导思想"),
        (5, "总则", None, "规划期限"),
        (6, "第一章", "第一节", "加强中央政务功能服务保障，突出政治中心建设"),
        (20, "第二章", "第一节", "严守人口规模上线，引导人口布局优化，促进人口合理有序流动"),
        (24, "第二章", "第二节", "推进城乡建设用地规模减量，持续降低平原地区开发强度"),
        (30, "第二章", "第四节", "加快推进城市更新，全面提升城市品质和活力"),
        (56, "第四章", "第一节", "支撑“五子”联动，保障高精尖产业发展"),
        (99, "第七章", "第一节", "推进轨道与地面公交协调发展，提升公共交通系统服务水平"),
        (
            122,
            "第八章",
            "第一节",
            "优化空间布局，筑牢首都安全屏障",
        ),  # "第122条优化…": no space after the number
        (153, "第十章", "第一节", "统筹非首都功能疏解与承接，优化区域发展格局"),
        (
            177,
            "第十一章",
            "第四节",
            "充分发挥首规委“把好关、管重点、强监督”的职能作用，维护首都规划的严肃性和权威性",
        ),
    ],
)
def test_articles_carry_their_chapter_section_and_title(seed, number, chapter, section, title):
    a = seed.article(number)
    assert a.chapter.label == chapter
    assert (a.section.label if a.section else None) == section
    assert a.title == title


def test_a_section_title_is_kept_with_its_number(seed):
    a = seed.article(24)
    assert a.section.number == 2
    assert a.section.title == "持续推进城乡建设用地减量以及布局优化，促进提质增效"
    assert a.chapter.title == "持续推进规模结构调整与提质增效，深入推进城市更新"


def test_a_sentence_broken_across_a_page_is_joined(seed):
    assert "到2025年全市常住人口控制在2300万人以内" in seed.article(20).text
    assert "到2025年城乡产业用地占城乡建设用地的比重下降到" in seed.article(61).text


def test_a_continuation_line_marked_as_a_heading_stays_in_its_article(seed):
    # The OCR made "# 1.3调整到1：1.5左右。" a heading; it ends the sentence of 第25条.
    text = seed.article(25).text
    assert "由现状的1：1.3调整到1：1.5左右。" in text
    assert "#" not in text
    assert seed.article(26).title == "严控战略留白用地，分区分类制定清理方案"


def test_numbered_list_headings_are_article_text_not_chapters(seed):
    assert "2.加快推动中关村国家自主创新示范区主阵地建设" in seed.article(57).text
    assert "6.推进农田生态修复" in seed.article(67).text
    assert "7.推进浅山区生态修复" in seed.article(67).text
    # and the list items of 第3条 stay one per line
    assert seed.article(3).text.splitlines()[0] == "1.《中华人民共和国城乡规划法》"
    assert len(seed.article(3).text.splitlines()) == 13


def test_the_preface_is_kept_apart_and_joined_around_the_related_links_block(seed):
    assert seed.preface.startswith("2017年9月13日中共中央国务院批复")
    # the preface's last sentence resumes after the 相关解读 block
    assert "将推动任务不断转化为具体行动计划、年度实施计划及重大政策研究等" in seed.preface
    assert seed.preface.endswith("不断完善从规划编制、实施到监督、评估的闭环运行保障体系。")
    assert "相关解读" not in seed.preface and "获批" not in seed.preface
    assert all("2017年9月13日" not in a.text for a in seed.articles)


def test_the_table_of_contents_is_kept_apart(seed):
    entries = seed.toc.splitlines()
    assert len(entries) == 12
    assert entries[0] == "总则" and entries[-1].startswith("第十一章")


def test_the_appendix_table_is_kept_apart(seed):
    assert seed.appendix.startswith("建设国际一流的和谐宜居之都评价指标体系")
    rows = [line for line in seed.appendix.splitlines() if line.startswith("|")]
    # header, rule, 42 indicator rows and two OCR spill-over lines (rows 17 and 38)
    assert len(rows) == 2 + 42 + 2
    assert rows[-1].startswith("| 42")
    last = seed.article(177).text
    assert last.endswith("维护规划的严肃性和权威性。")
    assert "评价指标体系" not in last and "|" not in last


def test_page_furniture_is_kept_apart(seed):
    assert "![](images/" in seed.other
    assert "主办：北京市人民政府办公厅" in seed.other
    assert "加快建设现代化首都都市圈北京市国空间近期规划获批" in seed.other  # the 相关解读 link
    assert "要闻动态" in seed.other
    for a in seed.articles:
        assert "![" not in a.text and "图01" not in a.text and "北京市国土空间近期规划（" not in a.text


def test_every_line_of_the_seed_lands_in_a_part_and_article_text_in_one_article_only(seed, seed_text):
    parts = {"preface": seed.preface, "toc": seed.toc, "appendix": seed.appendix, "other": seed.other}
    parts |= {f"第{a.number}条": a.title + a.text for a in seed.articles}
    parts |= {c.heading.label: c.heading.title + c.intro for c in seed.chapters}
    parts = {k: _compact(v) for k, v in parts.items()}
    heading = re.compile(r"^第[0-9一二三四五六七八九十百]+[条章节]")
    for i, line in enumerate(seed_text.splitlines(), 1):
        key = _compact(line.lstrip().lstrip("#"))
        if not key or heading.match(key) or len(key) < 16:
            continue  # headings are parsed into fields; very short lines recur by nature
        hits = [name for name, text in parts.items() if key in text]
        assert hits, f"line {i} {line[:30]!r} is lost"
        articles = [h for h in hits if h.endswith("条")]
        assert not articles or hits == articles[:1], f"line {i} {line[:30]!r} is in {hits}"


@pytest.mark.parametrize(
    "written, value",
    [
        ("1", 1),
        ("177", 177),
        ("１２", 12),
        ("十", 10),
        ("十一", 11),
        ("二十", 20),
        ("一百七十七", 177),
        ("一百零五", 105),
    ],
)
def test_chinese_numbers(written, value):
    assert chinese_number(written) == value


def test_both_heading_forms_and_text_on_the_heading_line():
    text = "\n".join(
        [
            "# 第一章　总则",
            "# 第1条　目的",
            "为了规范规划。",
            "第2条 范围",
            "本规划适用于全市。",
            "第3条　本规划自发布之日起施行，由市政府负责解释。",
            "第3条规定的内容另行公布。",  # prose that starts with an article number already seen
        ]
    )
    plan = parse_plan(text)
    assert [a.number for a in plan.articles] == [1, 2, 3]
    assert [a.title for a in plan.articles] == ["目的", "范围", ""]
    assert plan.article(3).text.startswith("本规划自发布之日起施行")
    assert plan.article(3).text.endswith("第3条规定的内容另行公布。")


def test_a_gap_in_article_numbers_is_reported():
    plan = parse_plan("第1条　甲\n甲的内容。\n第3条　丙\n丙的内容。")
    assert [a.number for a in plan.articles] == [1, 3]
    assert plan.warnings and "第2条" in plan.warnings[0]
