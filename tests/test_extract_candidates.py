"""Each statement form of the plan genre becomes a candidate; years, ordinals and names do not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from planwatch.extract import Article, extract_candidates, normalise_numbers

PERIOD = (2021, 2025)


def candidates(text: str, period=PERIOD):
    return extract_candidates([Article(7, None, None, "", text, 1)], period=period)


def confident(text: str, period=PERIOD):
    return [c for c in candidates(text, period) if c.confidence >= 0.5]


def one(text: str):
    found = confident(text)
    assert len(found) == 1, [(c.value, c.unit, c.confidence) for c in candidates(text)]
    return found[0]


# -- normalising OCR noise -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, normal",
    [
        ("达到$7 5 \\%$ ，远期", "达到75%，远期"),
        ("比重达到 $1 4 . 4 \\%$ 以上", "比重达到14.4%以上"),
        ("覆盖率达到 $9 0 \\% _ { < }$ 。", "覆盖率达到90%。"),
        ("１５％和２．５", "15%和2.5"),
        ("由现状的1：1.3调整到1：1.5左右", "由现状的1:1.3调整到1:1.5左右"),
        ("规划的7 $+ 1$ 个新市镇", "规划的7+1个新市镇"),
        ("文字：说明", "文字：说明"),  # a colon between words stays a Chinese colon
    ],
)
def test_normalise_numbers(raw, normal):
    assert normalise_numbers(raw).text == normal


def test_normalised_spans_map_back_to_the_raw_text():
    norm = normalise_numbers("比例达到 $7 5 \\%$ 以上")
    start = norm.text.index("75%")
    assert norm.raw_slice(start, start + 3) == "$7 5 \\%$"
    assert norm.raw_slice(0, len(norm.text)) == "比例达到 $7 5 \\%$ 以上"


# -- the statement forms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value, unit, comparator",
    [
        ("到2025年全市常住人口控制在2300万人以内。", 2300, "万人", "<"),
        ("到2025年轨道交通里程达到1600公里。", 1600, "公里", "="),
        ("到2025年森林蓄积量提升至3000万立方米。", 3000, "万立方米", "="),
        ("到2025年城乡居住用地比重提高到36.5%左右。", 36.5, "%", "≈"),
        ("到2025年产业用地比重下降到12.3%左右。", 12.3, "%", "≈"),
        ("到2025年中心城区建设用地规模减到850平方公里左右。", 850, "平方公里", "≈"),
        ("到2025年耕地保有量不低于150万亩。", 150, "万亩", ">"),
        ("到2025年新增建设用地不超过45平方公里。", 45, "平方公里", "<"),
        ("到2025年安全利用率达到95%以上。", 95, "%", ">"),
        ("到2025年用水总量控制在30亿立方米以内。", 30, "亿立方米", "<"),
        ("到2025年供应各类住房100万套左右。", 100, "万套", "≈"),
        ("中心城区总建筑规模控制在8.5亿平方米左右。", 8.5, "亿平方米", "≈"),
        ("到2025年污水处理能力达到770万吨/日。", 770, "万吨/日", "="),
        ("到2025年细颗粒物年均浓度达到35微克/立方米左右。", 35, "微克/立方米", "≈"),
        ("到2025年新建公园120公顷以上。", 120, "公顷", ">"),
        ("到2025年建设社区体育设施50处以上。", 50, "处", ">"),
        ("到2025年建成污水处理厂12座。", 12, "座", "="),
        ("到2025年新建中小学15所以上。", 15, "所", ">"),
        ("到2025年改造老旧小区320个以上。", 320, "个", ">"),
        ("到2025年每万人拥有实体书店数量达到0.95家。", 0.95, "家", "="),
        ("新供应住房中保障性住房约占70%。", 70, "%", "≈"),
        ("小客车出行强度降幅超过12%。", 12, "%", ">"),
        ("到2025年研发经费占比稳定在6左右。", 6, "", "≈"),
        ("到2025年公路网总里程达到22,690公里。", 22690, "公里", "="),
        ("到2025年轨道交通里程达到1600公里(含市郊铁路)。", 1600, "公里", "="),
        ("到2025年城市道路网密度提高到8公里/平方公里。", 8, "公里/平方公里", "="),
    ],
)
def test_target_forms(text, value, unit, comparator):
    c = one(text)
    assert (c.value, c.unit, c.comparator) == (value, unit, comparator)


def test_a_target_carries_its_year_subject_and_verbatim_quote():
    c = one("坚持综合调控。到2025年全市常住人口控制在2300万人以内。以职住平衡为目标。")
    assert c.year == 2025
    assert c.subject == "全市常住人口"
    assert c.quote == "到2025年全市常住人口控制在2300万人以内"
    assert c.article == 7
    assert c.confidence >= 0.8


def test_the_quote_keeps_the_ocr_form_while_the_value_is_read_clean():
    c = one("到2025年生态控制区占市域面积比例达到$7 5 \\%$ ，远期逐步实现两线合一。")
    assert c.value == 75 and c.unit == "%"
    assert c.quote == "到2025年生态控制区占市域面积比例达到$7 5 \\%$"
    assert c.raw_value == "$7 5 \\%$"


def test_a_change_from_the_current_value_gives_a_baseline():
    c = one("到2025年中心城区绿道总长度由现状的449公里增加到520公里。")
    assert (c.value, c.unit, c.comparator) == (520, "公里", "=")
    assert c.baseline == {"year": 2020, "value": 449}
    assert c.subject == "中心城区绿道总长度"
    assert c.quote == "到2025年中心城区绿道总长度由现状的449公里增加到520公里"
    assert (
        len(candidates("到2025年中心城区绿道总长度由现状的449公里增加到520公里。")) == 1
    )  # 449 is not a target


@pytest.mark.parametrize(
    "text, baseline, value",
    [
        ("存量用地供应比例由现状的 $5 7 \\%$ 提高到 $60 \\%$ 以上。", {"year": 2020, "value": 57}, 60),
        ("公交专用道里程由现状约1005车道公里提高到1050车道公里。", {"year": 2020, "value": 1005}, 1050),
        ("公共体育用地面积从现状人均0.65平方米提高到人均0.67平方米。", {"year": 2020, "value": 0.65}, 0.67),
        ("绿地率由2019年的40%提高到45%。", {"year": 2019, "value": 40}, 45),
        ("单位地区生产总值水耗在2015年基础上下降25%以上。", {"year": 2015, "value": None}, 25),
    ],
)
def test_baseline_forms(text, baseline, value):
    c = one(text)
    assert c.baseline == baseline
    assert c.value == value


def test_a_ratio_is_read_with_its_current_value():
    c = one("到2025年全市城乡职住用地比例由现状的1：1.3调整到1：1.5左右。")
    assert c.comparator == "ratio"
    assert c.value == 1.5
    assert c.baseline == {"year": 2020, "value": 1.3}
    assert c.quote == "到2025年全市城乡职住用地比例由现状的1：1.3调整到1：1.5左右"


def test_a_ratio_whose_first_term_is_not_one_is_read_as_one_to_x():
    c = one("到2025年职住用地比例调整到2：3。")
    assert (c.comparator, c.value) == ("ratio", 1.5)
    assert c.raw_value == "2：3"


def test_a_range():
    c = one("提高装配式建筑在新建商品住房中的比重，到2025年达到55%—60%。")
    assert (c.comparator, c.value, c.value_high, c.unit) == ("range", 55, 60, "%")
    assert c.subject == "提高装配式建筑在新建商品住房中的比重"


def test_a_number_that_qualifies_what_is_measured_is_not_the_target():
    found = candidates("到2025年公园绿地500米服务半径覆盖率达到90%。")
    by_value = {c.value: c for c in found}
    assert by_value[90].confidence >= 0.5
    assert by_value[90].subject == "公园绿地500米服务半径覆盖率"
    assert by_value[500].confidence < 0.5


def test_the_subject_can_follow_the_number():
    c = one("将 $70 \\%$ 以上的新供应产业用地安排在生产空间引导区内。")
    assert (c.value, c.comparator) == (70, ">")
    assert c.subject == "新供应产业用地安排在生产空间引导区内"


def test_several_targets_in_one_sentence_get_their_own_subjects():
    found = confident(
        "新供应住房中保障性住房约占 $70 \\%$ ，租赁住房约占$40 \\%$ ，保障性租赁住房约占 $30 \\%$ 。"
    )
    assert [(c.subject, c.value) for c in found] == [
        ("新供应住房中保障性住房", 70),
        ("租赁住房", 40),
        ("保障性租赁住房", 30),
    ]
    found = confident("到2025年建成区人均公园绿地面积达到16.7平方米、公园绿地500米服务半径覆盖率达到90%。")
    assert [(c.subject, c.value, c.year) for c in found] == [
        ("建成区人均公园绿地面积", 16.7, 2025),
        ("公园绿地500米服务半径覆盖率", 90, 2025),
    ]


def test_the_target_year_is_the_nearest_target_year_before_the_number():
    found = confident(
        "按照到2035年建设用地减至2760平方公里左右的目标，到2025年建设用地控制在2790平方公里左右。"
    )
    assert [(c.value, c.year) for c in found] == [(2760, 2035), (2790, 2025)]


def test_an_undated_target_gets_the_end_of_the_plan_period_with_a_note():
    c = one("新增生态修复面积累计达到500平方公里。")
    assert c.year == 2025
    assert any("no target year" in n for n in c.notes)


# -- confidence --------------------------------------------------------------------------------------


def test_confidence_grows_with_the_cues():
    full = one("到2025年轨道交通里程达到1600公里。").confidence
    no_year = candidates("轨道交通里程达到1600公里。", period=None)[0].confidence
    no_verb = candidates("本市总面积为16410平方公里。")[0].confidence
    assert full > no_year > no_verb
    assert no_verb < 0.5
    assert all(0 <= c.confidence <= 1 for c in candidates("到2025年达到 $1 5 5 \\%$ — $60 \\%$ 。"))


def test_a_fact_about_the_past_is_not_a_confident_target():
    assert confident("总体规划实施以来，已建成绿道1000公里。") == []


def test_suspect_ocr_numbers_are_noted():
    c = candidates("到2025年达到 $1 5 5 \\%$ — $60 \\%$ 。")[0]
    assert (c.value, c.value_high) == (155, 60)
    assert any("OCR" in n for n in c.notes)
    c = candidates("到2025年产业用地占建设用地的比重下降到 $123 \\%$ 左右。")[0]
    assert any("above 100%" in n for n in c.notes)


# -- not targets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "本次规划期限为2021年至2025年。",
        "原则上2035年前不予启用实施。",
        "依据第3条确定的原则。",
        "1.严格保护耕地\n2.推进河湖治理",
        "有序推进7号线北延、12号线南延以及15号线西延工程。",
        "建设M101等线路，推动轨道交通S6线项目。",
        "推进大气中细颗粒物(PM2.5)和臭氧协同控制。",
        "全面有序推进5G网络规模部署。",
        "以规划的7 $+ 1$ 个新市镇为重点。",
        "根据《北京城市总体规划(2016年—2035年)》编制。",
        "吸引世界500强企业区域总部入驻。",
        "健全以12345热线为主渠道的“接诉即办”机制。",
        "北京2022年冬奥会和冬残奥会筹办进入测试就绪阶段。",
    ],
)
def test_years_ordinals_article_numbers_and_names_are_not_targets(text):
    assert confident(text) == []


def test_a_rate_denominator_is_not_a_value():
    found = candidates("到2025年每10万人拥有博物馆数量达到1.2处。")
    assert [(c.value, c.unit) for c in found] == [(1.2, "处")]


def _code_without_docstrings_and_comments(path: Path) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def test_the_extractor_has_no_place_specific_rules():
    folder = Path(__file__).parents[1] / "src/planwatch/extract"
    code = "\n".join(_code_without_docstrings_and_comments(p) for p in sorted(folder.glob("*.py")))
    for word in ("北京", "首都", "京津冀", "中心城区", "城市副中心", "核心区", "平原地区"):
        assert word not in code, word
    assert not re.search(r"第\d+条", code), "no article numbers in the rules"
