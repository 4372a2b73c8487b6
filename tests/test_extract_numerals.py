"""Counts the plan writes in Chinese numerals (一所, 五区, 三种气源, 八大通道), bandwidth classes
(百兆/千兆/万兆) and formula counts (7+1个) become candidates; words made of numerals (一体化,
“一张图”, 第一批, 一刻钟, 十四五) do not. Every sentence here is verbatim from the Beijing seed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from planwatch.extract import Article, compare_with_plan, extract_candidates, parse_plan, read_plan_text
from planwatch.extract.candidates import quantities_in
from planwatch.plan import Plan, PlanPackageError, load_plan, source_text
from planwatch.plan.check import check_plan
from planwatch.text.articles import chinese_number as chinese_number_in_parse
from planwatch.text.read import chinese_number

PLAN_ID = "beijing-2021-2025"
SEED = Path(__file__).resolve().parents[1] / "src/planwatch/plans" / PLAN_ID / "source.md"
PERIOD = (2021, 2025)
_SEED_FLAT = re.sub(r"\s+", "", SEED.read_text(encoding="utf-8"))


def seed(sentence: str) -> str:
    """``sentence``, after checking that the seed says it word for word."""
    assert re.sub(r"\s+", "", sentence) in _SEED_FLAT, f"not in the seed: {sentence}"
    return sentence


def candidates(text: str, article: int = 7):
    return extract_candidates([Article(article, None, None, "", text, 1)], period=PERIOD)


def confident(text: str):
    return [c for c in candidates(text) if c.confidence >= 0.5]


# -- reading Chinese numerals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, value",
    [
        ("一", 1),
        ("两", 2),
        ("十", 10),
        ("十二", 12),
        ("二十三", 23),
        ("一百零五", 105),
        ("百", 100),
        ("千", 1000),
        ("万", 10000),
        ("两万", 20000),
        ("三万五千", 35000),
        ("二〇三五", 2035),
        ("十四五", None),  # the name of the 14th five-year plan, not fifteen
        ("一体", None),
    ],
)
def test_chinese_numerals_are_read(written, value):
    assert chinese_number(written) == value


def test_the_parser_reads_article_numbers_with_the_same_function():
    assert chinese_number_in_parse is chinese_number


# -- the forms -----------------------------------------------------------------------------------


def test_one_per_district_at_least_yisuo():
    found = confident(
        seed(
            "确保每区至少一所区级400张床位的养老机构，促进设施均衡精准布局，实现街乡镇养老照料中心和社区养老服务驿站全覆盖。"
        )
    )
    [c] = [c for c in found if c.unit == "所"]
    assert (c.value, c.comparator, c.year) == (1, ">", 2025)
    assert c.quote == "确保每区至少一所区级400张床位的养老机构"
    assert any("at least 1 in each" in n for n in c.notes)


def test_one_per_township_with_its_own_target_year():
    c = confident(
        seed(
            "补齐村级卫生服务机构短板，到2022年基本实现每个乡镇都有一所公办社区卫生服务中心，筑牢基层公共卫生服务网底。"
        )
    )
    assert [(x.value, x.unit, x.comparator, x.year) for x in c] == [(1, "所", ">", 2022)]
    assert c[0].quote == "到2022年基本实现每个乡镇都有一所公办社区卫生服务中心"
    c = confident(seed("推进优质高中计划向农村地区倾斜，实现每个乡镇拥有一所公办乡镇中心幼儿园。"))
    assert [(x.value, x.unit, x.comparator, x.year) for x in c] == [(1, "所", ">", 2025)]


def test_all_five_districts_wuqu():
    [c] = confident(seed("丰富林分结构，到2025年力争生态涵养区五区全部建成国家森林城市。"))
    assert (c.value, c.unit, c.comparator, c.year, c.raw_value) == (5, "区", "=", 2025, "五区")
    assert c.quote == "到2025年力争生态涵养区五区全部建成国家森林城市"


def test_three_gas_sources_and_eight_channels_in_one_list():
    sentence = seed(
        "联结海上液化天然气输气通道，到2025年形成“三种气源、八大通道、10兆帕大环”的多源多向气源供应格局。"
    )
    found = {c.raw_value: c for c in confident(sentence)}
    assert (found["三种"].value, found["三种"].unit, found["三种"].year) == (3, "种", 2025)
    assert (found["八大"].value, found["八大"].unit, found["八大"].year) == (8, "个", 2025)
    assert found["八大"].quote == "到2025年形成“三种气源、八大通道、10兆帕大环”的多源多向气源供应格局"


def test_bandwidth_classes_baizhao_qianzhao_wanzhao():
    paragraph = seed(
        "促进宽带网络升级改造。积极推进千兆固网接入网络建设，到2025年具备用户体验过百兆，家庭接入超千兆，"
        "企业商用达万兆的网络能力。推动新一代光纤接入技术升级，支持部分重点区域开展万兆网络试点，"
        "构建大容量、低时延光纤接入网络。"
    )
    found = candidates(paragraph)
    # 千兆固网 and 万兆网络试点 name a kind of network: only the three levels of 2025 are read
    assert [(c.value, c.unit, c.comparator, c.year) for c in found] == [
        (100, "Mbps", ">", 2025),
        (1000, "Mbps", ">", 2025),
        (10000, "Mbps", "=", 2025),
    ]
    assert all(c.confidence >= 0.5 for c in found)
    assert [c.subject for c in found][:2] == ["具备用户体验", "家庭接入"]


def test_guo_and_chao_are_more_than_but_tongguo_is_not():
    assert [(c.value, c.comparator) for c in candidates("到2025年家庭接入超千兆。")] == [(1000, ">")]
    assert candidates("到2025年通过三种方式推进。") == []
    assert candidates("到2025年经过两个阶段完成。") == []


def test_a_unit_that_starts_with_zhao_is_not_bandwidth():
    assert quantities_in("装机容量达到百兆瓦") == [100]  # 百 兆瓦: 100 MW, a power
    assert [c.unit for c in candidates("到2025年装机容量达到百兆瓦。")] == ["兆瓦"]


def test_a_formula_count_7_plus_1_is_8_and_keeps_its_formula():
    [c] = candidates(seed("以规划的7 $+ 1$ 个新市镇为重点，强化功能和产业承载能力，精准承接中心城区疏解功能"))
    assert (c.value, c.unit) == (8, "个")
    assert c.raw_value == "7 $+ 1$ 个"
    assert "formula count 7+1 read as 8" in c.notes
    assert c.confidence < 0.5  # the focus of a policy, not a number to reach


# -- words made of numerals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence, word",
    [
        (
            "推进轨道交通站点周边一体化，提高轨道微中心建设强度，同步组团式实施周边区域商业和公共服务设施项目，形成一批职住平衡、生态宜居、交通便利的多功能社区。",
            "一体化",
        ),
        (
            "大力整合重要风险源、重点防护目标、重要基础设施及各类应急资源等各类数据成果，建立集应急全要素等信息于一体的应急“一张图”。",
            "一张图",
        ),
        ("扎实推进“一刻钟社区服务圈”全覆盖，积极推动产城融合和职住平衡。", "一刻钟"),
        ("到2025年重要江河湖泊水功能区水质达标率达到国家“十四五”目标要求。", "十四五"),
        ("加强人口调控、建筑规模管控，降低“四个密度”。", "四个"),
        ("到2025年努力实现以下主要目标：“四个中心”首都战略定位加速彰显", "四个"),
        ("协调推进“四个全面”战略布局", "四个"),
        (
            "明确生态保护红线管控原则及要求，实现一条红线管控重要生态空间，确保生态功能不降低、面积不减少、性质不改变。",
            "一条",
        ),
        (
            "划定永久基本农田，生态保护红线面积占比逐步提升，建设活动向城镇开发边界内逐步集中，三条控制线管控作用不断加强，绿色空间和生态容量持续扩大。",
            "三条",
        ),
        ("优化各分园产业布局，构建“一区多园、各具特色、协同联动”的发展格局。", "一区"),
    ],
)
def test_words_made_of_numerals_are_not_targets(sentence, word):
    assert word in sentence
    assert candidates(seed(sentence)) == []


def test_quan_of_quanmian_is_not_all_of_them():
    # “四个全面” without its quotation marks (not in the seed): 全面 is "comprehensive", not 全部
    assert candidates("协调推进四个全面战略布局。") == []
    assert [c.value for c in candidates("到2025年力争五区全部建成国家森林城市。")] == [5]


@pytest.mark.parametrize(
    "text, read",
    [
        ("应急“一张图”", []),  # a name in quotation marks
        ("“两线三区”", []),
        ("“十四五”时期", []),
        ("一刻钟社区服务圈", []),
        ("山水林田湖草沙一体化保护修复", []),
        ("以霍营(黄土店)、右安门等第一批71个轨道微中心为重点", [71]),  # 第一批 is an ordinal
        ("形成一批职住平衡的多功能社区", []),  # 一批: "a number of"
        ("三五个", []),  # three or five: no single count
        ("三条控制线", [3]),  # a count, though not a target (no cue)
        ("形成“三种气源、八大通道、10兆帕大环”", [3, 8, 10]),  # a list of quantities, not a name
    ],
)
def test_what_the_reader_counts_as_a_quantity(text, read):
    assert quantities_in(text) == read


# -- the curated package and its check -------------------------------------------------------------

NEW_TARGETS = {
    "A50.3": 5,
    "A107.4": 1,
    "A135.4": 3,
    "A135.5": 8,
    "A138.2": 100,
    "A138.3": 1000,
    "A138.4": 10000,
    "A148.1": 1,
    "A148.2": 1,
}


@pytest.fixture(scope="module")
def plan() -> Plan:
    try:
        return load_plan(PLAN_ID)
    except PlanPackageError as e:  # others may be mid-edit on the package
        pytest.skip(f"the plan package does not load right now: {e}")


def test_the_curated_numeral_targets_pass_the_check(plan):
    targets = [plan.target(i) for i in NEW_TARGETS]
    assert [t.targets[0].value for t in targets] == list(NEW_TARGETS.values())
    assert all(t.source_hint.strip() for t in targets)
    only_these = plan.model_copy(update={"targets": targets})
    assert check_plan(only_these, source_text()) == []


# The check finds a number in the quote, not which of its numbers: A135.5's quote also holds 三种
# (3), and A138.3's also holds 百兆 (100), so the drifts here are to numbers the quote lacks.
@pytest.mark.parametrize("target_id, wrong", [("A50.3", 4), ("A135.5", 7), ("A138.3", 2000), ("A107.4", 2)])
def test_the_check_catches_a_drifted_chinese_numeral(plan, target_id, wrong):
    t = plan.target(target_id)
    drifted = t.model_copy(update={"targets": [t.targets[0].model_copy(update={"value": float(wrong)})]})
    problems = check_plan(plan.model_copy(update={"targets": [drifted]}), source_text())
    assert [str(p) for p in problems] == [
        f"{target_id} targets[{t.targets[0].year}].value: value {wrong} does not appear in the quote"
    ]


def test_the_check_reads_a_formula_count(plan):
    t = plan.target("A107.4")
    quote = "以规划的7 $+ 1$ 个新市镇为重点"
    as_formula = t.model_copy(
        update={"id": "A142.9", "quote": quote, "source": t.source.model_copy(update={"article": 142})}
    )
    for value, ok in ((8.0, True), (7.0, True), (9.0, False)):  # 7 is written too (7+1)
        target = as_formula.model_copy(update={"targets": [t.targets[0].model_copy(update={"value": value})]})
        problems = check_plan(plan.model_copy(update={"targets": [target]}), source_text())
        assert (problems == []) is ok, (value, problems)


def test_every_new_target_is_found_by_a_confident_candidate(plan):
    parsed = parse_plan(read_plan_text(SEED), name=str(SEED))
    result = compare_with_plan(extract_candidates(parsed.articles, period=parsed.period), plan)
    found = {f["id"]: f["candidate"] for f in result["found"]}
    for target_id, value in NEW_TARGETS.items():
        assert target_id in found, target_id
        assert found[target_id]["value"] == value
        assert found[target_id]["confidence"] >= 0.5, target_id
    assert result["precision"] == 1.0
