"""The five-year evaluation: one final verdict rule per target kind, on the plan's real targets and
real figures where they exist, and the bridge to 2035."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from planwatch.evaluate.bridge import bridge, bridge_row
from planwatch.evaluate.final import final_account, final_verdict


def v(plan, target_id, value, precision=math.nan):
    return final_verdict(plan.target(target_id), value, precision, 2025)


# ------------------------------------------------------------------ one rule per kind


def test_ceiling_met_at_or_below_missed_above(plan):
    assert v(plan, "T05", 2184.3).verdict == "met"  # <2300 万人, the 2022 figure
    assert v(plan, "T05", 2300).verdict == "met"
    r = v(plan, "T05", 2310)
    assert r.verdict == "missed" and r.gap == pytest.approx(10)


def test_floor_met_at_or_above_missed_below(plan):
    assert v(plan, "T42", 98.5).verdict == "met"  # 98.5以上
    assert v(plan, "T42", 98.4).verdict == "missed"


def test_approx_met_within_5_percent_nearly_within_10(plan):
    # T09 城乡建设用地 2790左右, lower is better
    assert v(plan, "T09", 2800).verdict == "met"  # +0.4 %
    assert v(plan, "T09", 2700).verdict == "met"  # below: the good side
    assert v(plan, "T09", 3000).verdict == "nearly"  # +7.5 %
    assert v(plan, "T09", 3200).verdict == "missed"  # +14.7 %


def test_stable_at_uses_the_same_band(plan):
    assert v(plan, "T01", 6.2).verdict == "met"  # 稳定在6左右
    assert v(plan, "T01", 6.83).verdict == "met"  # the real 2022 figure: above, the good side for R&D
    assert v(plan, "T01", 5.5).verdict == "nearly"
    assert v(plan, "T01", 5.0).verdict == "missed"


def test_exact_met_when_reached_missed_otherwise(plan):
    assert v(plan, "T22", 45.0).verdict == "met"  # 森林覆盖率 45
    r = v(plan, "T22", 44.8)  # the real 2022 figure
    assert r.verdict == "missed" and r.gap == pytest.approx(-0.2)


def test_a_tie_within_the_published_precision_is_read_favourably(plan):
    r = v(plan, "T21", 89.6, precision=0.5)  # 90 by 2025; a figure good to ±0.5 may be 90.1
    assert r.verdict == "met" and r.precision_benefit


def test_ratio_with_zuoyou_uses_the_band(plan):
    # T11 城乡职住用地比例 1:1.5左右 (tracked by X)
    assert v(plan, "T11", 1.48).verdict == "met"
    assert v(plan, "T11", 1.38).verdict == "nearly"  # −8 %
    assert v(plan, "T11", 1.2).verdict == "missed"


def test_decline_from_a_base_year(plan):
    # T41 万车死亡率 2025: 较2019年下降 (1.98)
    assert v(plan, "T41", 1.9).verdict == "met"
    assert v(plan, "T41", 1.98).verdict == "missed"


def test_range(plan):
    # A103.5 装配式建筑 55%—60%
    assert v(plan, "A103.5", 57).verdict == "met"
    r = v(plan, "A103.5", 52)
    assert r.verdict == "missed" and r.gap == pytest.approx(-3)


def test_qualitative_needs_a_person(plan):
    r = v(plan, "T16", 30)
    assert r.verdict == "unknown" and "需人工评估" in r.rule


def test_a_declared_nearly_band_makes_a_hard_target_nearly_met(plan):
    t = plan.target("T22")
    tv = t.targets[0].model_copy(update={"nearly": 0.3})
    t2 = t.model_copy(update={"targets": [tv, *t.targets[1:]]})
    assert final_verdict(t2, 44.8, math.nan, 2025).verdict == "nearly"


# ------------------------------------------------------------------ the account


def obs(rows):
    return pd.DataFrame([{"indicator": i, "year": y, "geo": "", "value": val, "raw_value": str(val), "comparable": True,
                          "scope": "", "source": "test"} for i, y, val in rows])


def test_a_figure_before_2025_stands_in_only_with_its_year_and_never_as_final(plan):
    fa = final_account(plan, obs([("T22", 2022, 44.8)]), 2025).set_index("id")
    r = fa.loc["T22"]
    assert r.provisional and r.year == 2022 and r.verdict == "missed"
    assert r.reason.startswith("基于2022年数据（2025年数据尚未取得），非最终结果")
    assert "与目标相差-0.2个百分点" in r.reason


def test_a_2025_figure_is_final(plan):
    r = final_account(plan, obs([("T22", 2025, 45.1)]), 2025).set_index("id").loc["T22"]
    assert not r.provisional and r.verdict == "met" and "非最终结果" not in r.reason


def test_targets_without_data_say_so_and_are_not_filled(plan):
    fa = final_account(plan, obs([("T22", 2022, 44.8)]), 2025).set_index("id")
    assert fa.loc["T03", "verdict"] == "unknown" and "尚无2025年及以前口径一致的数据" in fa.loc["T03", "reason"]
    assert fa["value"].notna().sum() == 1


def test_linked_targets_share_the_verdict(plan):
    fa = final_account(plan, obs([("T12", 2025, 33)]), 2025).set_index("id")
    assert fa.loc["A113.1", "verdict"] == fa.loc["T12", "verdict"] == "met"


# ------------------------------------------------------------------ the bridge to 2035


def test_bridge_from_the_real_2022_level_gives_the_pace_and_two_suggested_paths(plan):
    b = bridge(plan, obs([("T21", 2021, 87), ("T21", 2022, 88)]), 2025, 2035).set_index("id")
    r = b.loc["T21"]  # 88 % in 2022 → 95 % in 2035: +0.538/yr; 2020–2022 did +0.6/yr
    assert r.required_change == pytest.approx(7 / 13) and r.achieved_change == pytest.approx(0.6)
    assert r.pace_ratio == pytest.approx((7 / 13) / 0.6)
    assert r.interim_linear == pytest.approx(88 + 8 * 7 / 13)
    assert r.interim_growth == pytest.approx(88 * (95 / 88) ** (8 / 13))
    assert r.provisional and "基于2022年数据" in r.reason


def test_bridge_never_divides_by_zero_or_roots_a_negative(plan):
    t = plan.target("T21")
    row = bridge_row(t, 0.0, 2025, 2035, 2030)  # a zero level: no growth rate
    assert math.isnan(row["required_growth"]) and "只给线性路径" in row["growth_note"]
    assert row["interim_linear"] == pytest.approx(47.5) and math.isnan(row["interim_growth"])
    flat = bridge_row(t, 86.8, 2025, 2035, 2030)  # no change since the 2020 baseline
    assert math.isnan(flat["pace_ratio"])


def test_a_kept_bound_needs_no_pace(plan):
    r = bridge(plan, obs([("T05", 2022, 2184.3)]), 2025, 2035).set_index("id").loc["T05"]
    assert r.required_change is None or math.isnan(r.required_change)
    assert "已满足上限" in r.reason


def test_a_recorded_judgement_decides_a_qualitative_target_and_says_whose(plan):
    j = pd.DataFrame([{"target": "T16", "year": 2025, "verdict": "达成", "by": "张三", "date": "2026-03-01",
                       "evidence": "能耗考核通报.pdf（sha256 1a2b3c4d）", "note": ""}])
    r = final_account(plan, obs([]), 2025, judgements=j).set_index("id").loc["T16"]
    assert r.verdict == "met" and r.judged and r.judged_by == "张三"
    assert "人工评估：张三于2026-03-01评定为达成" in r.reason and "能耗考核通报.pdf" in r.reason
