"""The evaluation engine: levels, reasons citing the plan, forecasts and roll-ups on real targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planwatch.evaluate import checkup, evaluate_frame, explain, rollup
from planwatch.evaluate.engine import board_items
from planwatch.observe import import_observations

from .conftest import REAL_OBSERVATIONS


def obs(rows):
    """rows: (indicator, year, value[, geo, scope])"""
    recs = []
    for r in rows:
        ind, year, value, *rest = r
        geo = rest[0] if rest else ""
        scope = rest[1] if len(rest) > 1 else ""
        recs.append({"indicator": ind, "year": year, "geo": geo, "value": value, "comparable": scope == "", "scope": scope})
    return pd.DataFrame(recs)


def one(plan, *row):
    ev = checkup(plan, obs([row]), row[1])
    own = ev[ev["linked_to"] == ""]  # targets same_as this one get a copy of its row
    assert len(own) == 1
    return own.iloc[0]


def test_population_below_its_cap_is_green_and_says_so(plan):
    r = one(plan, "T05", 2024, 2183.2)
    assert r.level == "green" and r.method == "bound"
    assert r.reason == "2024年常住人口规模2183.2万人，未超过2025年上限2300万人（表第5行）"


def test_a_crossed_ceiling_is_red_whatever_the_trend(plan):
    r = one(plan, "T05", 2023, 2310)
    assert r.level == "red" and "超过2025年上限2300万人" in r.reason


def test_a_crossed_floor_is_red(plan):
    r = one(plan, "T42", 2022, 98.2)  # 食品安全检测抽检合格率 98.5以上
    assert r.level == "red" and "低于2025年下限98.5%" in r.reason and "表第42行" in r.reason


def test_time_progress_behind_schedule_is_yellow_with_both_progress_numbers(plan):
    r = one(plan, "T21", 2022, 87.7)  # 86.8 -> 90 by 2025: task 28.1 %, time 40 %, ratio 0.70
    assert r.level == "yellow" and r.method == "time_progress"
    assert r.tp_task == pytest.approx(0.28125) and r.tp_elapsed == pytest.approx(0.4)
    assert "任务进度28%，时间进度40%" in r.reason and "（表第21行）" in r.reason and "需加快" in r.reason


def test_time_progress_far_behind_is_red(plan):
    r = one(plan, "T31", 2023, 5.1)  # 4.99 -> 7: task 5.5 %, time 60 %
    assert r.level == "red" and "进度明显滞后" in r.reason


def test_a_reached_target_is_green(plan):
    r = one(plan, "T12", 2022, 30)  # PM2.5 35左右 by 2025, lower is better
    assert r.level == "green" and "已达到2025年目标" in r.reason


def test_stable_at_target_uses_a_band(plan):
    assert one(plan, "T01", 2022, 6.1).level == "green"
    assert one(plan, "T01", 2022, 5.55).level == "yellow"  # 7.5 % below 6
    assert one(plan, "T01", 2022, 5.0).level == "red"
    assert one(plan, "T01", 2022, 6.9).level == "green"  # above is fine for R&D share


def test_a_qualitative_target_is_grey_and_asks_for_a_person(plan):
    r = one(plan, "T16", 2022, 30)  # 能耗降低: 达到国家要求
    assert r.level == "grey" and "需人工评估" in r.reason and "达到国家要求" in r.reason


def test_a_scope_mismatch_is_grey_never_red_and_spells_out_the_difference(plan):
    ev = evaluate_frame(plan, obs([("T36", 2022, 797, "", "城市轨道交通(地铁), 不含市郊铁路")]))
    r = ev.assign(reason=explain(ev)).iloc[0]
    assert r.level == "grey" and r.method == "scope"
    assert "城市轨道交通(地铁), 不含市郊铁路" in r.reason and "市郊铁路" in r.reason and "不能直接" in r.reason
    # the check-up grades only comparable figures: a target with nothing else has no verdict at all
    assert checkup(plan, obs([("T36", 2022, 797, "", "城市轨道交通(地铁), 不含市郊铁路")]), 2022).empty


def test_decrease_from_a_reference_year(plan):
    assert one(plan, "T41", 2022, 1.7).level == "green"
    r = one(plan, "T41", 2022, 2.1)
    assert r.level == "yellow" and "未低于2019年的1.98人/万车" in r.reason
    assert one(plan, "T41", 2025, 2.1).level == "red"


def test_no_baseline_and_not_reached_is_grey(plan):
    r = one(plan, "T03", 2022, 60)  # 每万人口高价值发明专利拥有量: baseline "-"
    assert r.level == "grey" and "未给出基期值" in r.reason


def test_after_2025_the_2035_target_is_in_force(plan):
    r = one(plan, "T09", 2027, 2785)
    assert r.target_year == 2035 and r.target_value == 2760


def test_district_rows_are_checked_against_city_bounds_only(plan):
    ev = evaluate_frame(plan, obs([("T05", 2022, 2400, "朝阳区")]))
    assert ev.iloc[0].level == "red"  # a district alone above the city cap is still a crossed bound
    ev = evaluate_frame(plan, obs([("T21", 2022, 80, "朝阳区")]))
    assert ev.iloc[0].level == "grey" and np.isnan(ev.iloc[0].tp_task)


def test_evaluation_is_vectorised_over_indicators_geos_and_years(plan):
    rows = [(f"T{i:02d}", y, 50.0 + i + y / 100, g) for i in (18, 21, 22) for y in range(2021, 2026) for g in ("", "海淀区")]
    ev = evaluate_frame(plan, obs(rows))
    assert len(ev) == len(rows)
    assert set(ev.level) <= {"green", "yellow", "red", "grey"}


def test_forecast_with_three_points_has_a_line_but_no_band(plan):
    ev = checkup(plan, obs([("T21", 2021, 87), ("T21", 2022, 88)]), 2022)
    r = ev.iloc[0]
    # points: 2020 baseline 86.8, 2021 87, 2022 88 -> mean 87.2667 at 2021, OLS slope 0.6
    assert r.forecast_2025 == pytest.approx(87.26667 + 0.6 * 4, abs=1e-4)
    assert r.n_points == 3 and r.forecast_method == "linear_ols"
    assert np.isnan(r.forecast_2025_low) and np.isnan(r.forecast_level)  # no band from fewer than 4 points
    assert np.isfinite(r.forecast_2035) and np.isfinite(r.forecast_2025_cagr)


def test_forecast_with_four_points_has_a_90_percent_band(plan):
    r = checkup(plan, obs([("T21", 2021, 87), ("T21", 2022, 88), ("T21", 2023, 88.5)]), 2023).iloc[0]
    assert r.n_points == 4 and r.forecast_level == 0.9
    assert r.forecast_2025_low < r.forecast_2025 < r.forecast_2025_high


def test_forecast_with_two_points_has_no_band(plan):
    r = checkup(plan, obs([("T22", 2022, 44.8)]), 2022).iloc[0]
    assert r.forecast_2025 == pytest.approx(45.4)  # 44.4 -> 44.8 in two years, +0.2/yr
    assert np.isnan(r.forecast_2025_low)


def test_checkup_uses_the_newest_value_in_or_before_the_year(plan):
    ev = checkup(plan, obs([("T05", 2021, 2188.6), ("T05", 2022, 2184.3), ("T05", 2023, 2185.8)]), 2022)
    ev = ev[ev.linked_to == ""]
    assert list(ev.year) == [2022] and list(ev.value) == [2184.3]


def test_rollup_by_category_counts_each_measure_once_and_takes_the_worst(plan, store):
    import_observations(REAL_OBSERVATIONS, store, plan)
    ev = checkup(plan, store.observations(), 2022)
    board = board_items(ev)
    roll = rollup(board, plan).set_index("category")
    assert list(roll.index) == list(plan.meta.categories)
    # A20.1 restates T05, A113.1 restates T12 …: each measure is counted once
    assert roll.loc[:, ["green", "yellow", "red", "grey"]].to_numpy().sum() == len(ev[ev.linked_to == ""]) == len(board)
    assert roll.loc["绿色", "yellow"] == 0 and roll.loc["绿色", "level"] == "green"  # T21 88 %: on schedule within its precision
    assert roll.loc["开放", "level"] == "grey"  # no data
    assert roll.loc["共享", "level"] == "yellow"  # life expectancy 2021 behind schedule


def test_the_demo_data_gives_the_expected_verdicts(plan, store):
    import_observations(REAL_OBSERVATIONS, store, plan)
    ev = checkup(plan, store.observations(), 2022).set_index("id")
    assert "T36" not in ev.index  # subway-only mileage, not comparable: not graded
    assert ev.loc["T05", "level"] == "green"
    assert ev.loc["T01", "year"] == 2021  # the newest R&D figure is 2021's
    assert all(ev["reason"].str.contains(r"（(?:表第\d+行|第\d+条)）"))


def test_a_value_computed_from_synthetic_layers_is_never_graded(plan):
    o = obs([("A56.1", 2022, 60.0)]).assign(origin="computed", synthetic=True)
    assert checkup(plan, o, 2022).empty
