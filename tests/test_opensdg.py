"""The Open SDG progress measure, reproduced from sdg-build's ProgressMeasure.py and the methodology doc."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planwatch.evaluate.opensdg import (
    CAGR_HIGH,
    CAGR_LOW,
    CAGR_MED,
    RATIO_HIGH,
    RATIO_LOW,
    RATIO_MED,
    category_level,
    direction_sign,
    growth,
    limit_coefficient,
    progress_measure,
    series_ends,
)

ORDER = ["deterioration", "limited_progress", "moderate_progress", "substantial_progress", "target_achieved"]


def test_thresholds_are_the_released_ones():
    # Doc: R ≥ 95 % / 60 % ≤ R / 0 % ≤ R; no target: CAGR ≥ 1.5 % C / 0.5 % C ≤ CAGR / 0 % ≤ CAGR.
    assert (RATIO_HIGH, RATIO_MED, RATIO_LOW) == (0.95, 0.6, 0.0)
    assert (CAGR_HIGH, CAGR_MED, CAGR_LOW) == (0.015, 0.005, 0.0)


def test_sdg_build_fixture_3_3_3_target_zero_and_lower_is_better():
    # sdg-build tests/assets/progress-calculation: indicator_3-3-3.csv headline rows, config
    # {direction: negative, target: 0}; defaults base year 2015, target year 2030.
    years = np.arange(2010, 2020)
    values = [1.51, 1.51, 1.38, 1.4, 1.27, 1.55, 1.69, 1.65, 1.62, 1.82]
    ends = series_ends(np.full(10, "3-3-3"), years, values)
    assert (ends.base_year[0], ends.base_value[0], ends.year[0], ends.value[0]) == (2015, 1.55, 2019, 1.82)

    r = progress_measure(ends.base_year, ends.base_value, ends.year, ends.value, 2030, 0, "negative")
    # CAGR_i = (1.82/1.55)^(1/4) − 1 = 4.096 %/yr, rising although lower is better.
    # Target 0 → 0.001: CAGR_T = (0.001/1.55)^(1/15) − 1 = −38.72 %/yr.
    # R = (+1)(−1)(0.04096)/0.38721 = −0.1058 → deterioration; score 4.1667·R − 2.5 = −2.941.
    assert r.cagr_observed[0] == pytest.approx(0.040962, abs=1e-6)
    assert r.cagr_required[0] == pytest.approx(-0.387211, abs=1e-6)
    assert r.ratio[0] == pytest.approx(-0.105788, abs=1e-6)
    assert r.score[0] == pytest.approx(-2.9408, abs=1e-4)
    assert r.category.tolist() == ["deterioration"]
    assert r.level.tolist() == ["red"]


def test_sdg_build_fixture_1_1_1_defaults_and_the_base_year_rule():
    # indicator_1-1-1.csv headline: 2020 → 100, 2021 → 120; config only turns the calculation on, so
    # base year 2015 (absent → first later year 2020), no target, direction defaults to negative.
    ends = series_ends(["1-1-1", "1-1-1"], [2020, 2021], [100, 120])
    assert (ends.base_year[0], ends.year[0]) == (2020, 2021)
    r = progress_measure(ends.base_year, ends.base_value, ends.year, ends.value, direction="negative")
    # CAGR = 20 %/yr the wrong way: progress value −0.20 → deterioration, score max(125·−0.2 − 2.5, −5) = −5.
    assert r.cagr_observed[0] == pytest.approx(0.2)
    assert r.progress_value[0] == pytest.approx(-0.2)
    assert np.isnan(r.ratio[0]) and np.isnan(r.cagr_required[0])
    assert r.category.tolist() == ["deterioration"]
    assert r.score[0] == -5


def test_every_category_with_a_target():
    # From 100 in 2015 to 200 by 2030: the required growth is 2^(1/15) − 1 = 4.729 %/yr.
    latest = [126, 118, 105, 95, 200, 230]
    r = progress_measure(2015, 100, 2020, latest, 2030, 200, "positive")
    np.testing.assert_allclose(r.cagr_required, 0.0472941, atol=1e-7)
    # 126: 4.731 %/yr → R 1.0003; 118: 3.366 % → 0.7117; 105: 0.981 % → 0.2073; 95: −1.021 % → −0.2158
    np.testing.assert_allclose(r.ratio[:4], [1.000278, 0.711650, 0.207337, -0.215803], atol=1e-6)
    assert r.category.tolist() == [
        "substantial_progress",
        "moderate_progress",
        "limited_progress",
        "deterioration",
        "target_achieved",  # exactly at the target
        "target_achieved",  # beyond it
    ]
    assert r.level.tolist() == ["green", "yellow", "red", "red", "green", "green"]
    # Scores: 7.1429·R − 4.2857 above 0.6, else 4.1667·R − 2.5; 5 when achieved.
    np.testing.assert_allclose(r.score, [2.859182, 0.797548, -1.636091, -3.399187, 5, 5], atol=1e-5)
    assert r.target_achieved.tolist() == [False, False, False, False, True, True]


def test_lower_is_better_with_a_target():
    # PM2.5 80.6 μg/m³ in 2015, target 35 by 2030, 58 in 2020 and 34 in 2021.
    r = progress_measure(2015, 80.6, [2020, 2021, 2020], [58, 34, 85], 2030, 35, "decrease")
    # 2020: CAGR_i = (58/80.6)^(1/5) − 1 = −6.369 %/yr, CAGR_T = (35/80.6)^(1/15) − 1 = −5.409 %/yr,
    # R = (+1)(−1)(−0.06369)/0.05409 = 1.1775: falling faster than needed → on track.
    assert r.cagr_observed[0] == pytest.approx(-0.0636923, abs=1e-7)
    assert r.cagr_required[0] == pytest.approx(-0.0540921, abs=1e-7)
    assert r.ratio[0] == pytest.approx(1.177480, abs=1e-6)
    assert r.category.tolist() == ["substantial_progress", "target_achieved", "deterioration"]


def test_every_category_without_a_target():
    # No target: directed CAGR against 1.5 % / 0.5 % / 0 %. 1.2 %/yr is "moderate" here; the early
    # draft's 1 % threshold would have called it substantial.
    rates = np.array([0.02, 0.012, 0.002, -0.01])
    r = progress_measure(2015, 100, 2020, 100 * (1 + rates) ** 5, direction="positive")
    np.testing.assert_allclose(r.progress_value, rates, atol=1e-12)
    assert r.category.tolist() == [
        "substantial_progress",
        "moderate_progress",
        "limited_progress",
        "deterioration",
    ]
    # Scores: min(500g − 5, 5), 250g − 1.25, 500g − 2.5, max(125g − 2.5, −5)
    np.testing.assert_allclose(r.score, [5, 1.75, -1.5, -3.75], atol=1e-9)
    # The same series where lower is better reads the other way round: a fall of 1 %/yr is only moderate.
    r = progress_measure(2015, 100, 2020, 100 * (1 + rates) ** 5, direction="negative")
    np.testing.assert_allclose(r.progress_value, -rates, atol=1e-12)
    assert r.category.tolist() == ["deterioration", "deterioration", "deterioration", "moderate_progress"]


def test_an_all_negative_series_flips_the_direction():
    # −10 → −5 is an increase; with higher-is-better it is progress although |value| shrinks.
    r = progress_measure(2015, -10, 2020, -5, direction="positive")
    # CAGR = 0.5^(1/5) − 1 = −12.94 %; s = −1, d = +1 → +12.94 % → substantial
    assert r.progress_value[0] == pytest.approx(0.129449, abs=1e-6)
    assert r.category.tolist() == ["substantial_progress"]


def test_zero_base_is_replaced_and_opposite_signs_are_unable_to_assess():
    r = progress_measure(2015, [0, 10, -10], 2020, [5, -1, 2], direction="positive")
    # base 0 → 0.001: CAGR = 5000^(1/5) − 1 = 449 %/yr
    assert r.progress_value[0] == pytest.approx(4.492803, abs=1e-6)
    assert r.category.tolist() == ["substantial_progress", "not_available", "not_available"]
    assert r.level.tolist() == ["green", "grey", "grey"]


def test_insufficient_data_and_bad_inputs_are_not_available():
    r = progress_measure(
        [2020, 2021, 2015, 2015, 2015, 2015],
        [100, 100, 100, np.nan, 100, 100],
        [2020, 2020, 2020, 2020, 2020, 2020],
        [110, 110, 110, 110, np.nan, 110],
        2030,
        np.nan,
        ["positive", "positive", "maintain", "positive", "positive", None],
    )
    # one year only; base after latest; unrecognised direction; NaN base; NaN latest; no direction
    assert r.category.tolist() == ["not_available"] * 6
    assert r.level.tolist() == ["grey"] * 6
    assert np.isnan(r.score).all()


def test_a_reached_target_needs_no_trend():
    # As in sdg-build, "target achieved" is checked on the latest value alone, even with one year of data.
    r = progress_measure(2020, 100, 2020, 250, 2030, 200, "positive")
    assert r.category.tolist() == ["target_achieved"] and r.score[0] == 5
    assert np.isnan(r.ratio[0])


def test_target_year_defaults_to_2030():
    a = progress_measure(2015, 100, 2020, 118, np.nan, 200, "positive")
    b = progress_measure(2015, 100, 2020, 118, 2030, 200, "positive")
    assert a.ratio[0] == b.ratio[0]


def test_the_natural_limit_scales_the_no_target_thresholds():
    # b = |base|, L = |limit|, a = 4.44: 1 − (b/L)^a below the limit, mirrored above it, 1 from 2L.
    np.testing.assert_allclose(
        limit_coefficient([50, 150, 250, 99, 100, 0, 50], [100, 100, 100, 100, 100, 0, np.nan]),
        [0.953929, 0.953929, 1, 0.043643, 0, 1, 1],
        atol=1e-6,
    )
    # Coverage 99 % of a 100 % maximum growing to 99.5 %: 0.1 %/yr is limited progress with the raw
    # thresholds but substantial once they are scaled by C = 0.0436 (high = 0.065 %/yr).
    with_limit = progress_measure(2015, 99, 2020, 99.5, direction="positive", limit=100)
    without = progress_measure(2015, 99, 2020, 99.5, direction="positive")
    assert with_limit.progress_value[0] == pytest.approx(0.0010081, abs=1e-7)
    assert (with_limit.category[0], without.category[0]) == ("substantial_progress", "limited_progress")
    # Sitting on the limit (C = 0) and staying there is on track, score 5.
    at = progress_measure(2015, 100, 2020, 100, direction="positive", limit=100)
    assert (at.category[0], at.score[0]) == ("substantial_progress", 5)


def test_levels_and_directions_vocabulary():
    cats = [
        "target_achieved",
        "substantial_progress",
        "moderate_progress",
        "limited_progress",
        "deterioration",
        "not_available",
        "?",
    ]
    assert category_level(cats).tolist() == ["green", "green", "yellow", "red", "red", "grey", ""]
    np.testing.assert_array_equal(
        direction_sign(
            ["positive", "Increase", "higher", "negative", "decrease", " lower ", "maintain", None]
        ),
        [1, 1, 1, -1, -1, -1, np.nan, np.nan],
    )


def test_growth_is_the_compound_annual_rate():
    np.testing.assert_allclose(
        growth([121, 100, -1], [100, 100, 1], [2017, 2017, 2017], [2015, 2017, 2015]), [0.1, np.nan, np.nan]
    )


def test_series_ends_for_many_series_at_once():
    group = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] * 2
    year = [2013, 2015, 2016, 2018, 2019, 2014, 2016, 2017, 2010, 2013, 2015, 2016]
    value = [1, 2, 3, 4, np.nan, 5, 6, 7, 8, 9, 10, 11]
    base = [2015] * 10 + [2016] * 2  # per-row base years: "d" is configured from 2016
    e = series_ends(group, year, value, base)
    assert e.group.tolist() == ["a", "b", "c", "d"]
    # a: 2015 present; NaN in 2019 ignored → latest 2018. b: no 2015 → 2016. c: nothing from 2015 on.
    np.testing.assert_array_equal(e.base_year, [2015, 2016, np.nan, 2016])
    np.testing.assert_array_equal(e.base_value, [2, 6, np.nan, 11])
    np.testing.assert_array_equal(e.year, [2018, 2017, 2013, 2016])
    np.testing.assert_array_equal(e.value, [4, 7, 9, 11])
    r = progress_measure(e.base_year, e.base_value, e.year, e.value, direction="positive")
    assert r.category[2] == "not_available" and r.category[3] == "not_available"


positive = st.floats(min_value=0.01, max_value=1e4)


@given(base=positive, target=positive, a=positive, b=positive, year=st.integers(2016, 2030))
def test_a_better_latest_value_never_gets_a_worse_category(base, target, a, b, year):
    lo, hi = sorted([a, b])
    up = progress_measure(2015, base, year, [lo, hi], 2030, target, "positive").category
    down = progress_measure(2015, base, year, [hi, lo], 2030, target, "negative").category
    assert ORDER.index(up[0]) <= ORDER.index(up[1])
    assert ORDER.index(down[0]) <= ORDER.index(down[1])


@given(
    st.lists(
        st.tuples(
            positive, positive, st.integers(2015, 2025), st.one_of(st.just(np.nan), positive), st.booleans()
        ),
        min_size=1,
        max_size=8,
    )
)
def test_vectorised_rows_equal_one_row_at_a_time(rows):
    base, latest, year, target, up = (list(c) for c in zip(*rows, strict=True))
    direction = ["positive" if u else "negative" for u in up]
    whole = progress_measure(2015, base, year, latest, 2030, target, direction)
    for i in range(len(rows)):
        one = progress_measure(2015, base[i], year[i], latest[i], 2030, target[i], direction[i])
        assert one.category[0] == whole.category[i]
        np.testing.assert_array_equal(one.score, whole.score[i : i + 1])
