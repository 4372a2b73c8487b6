"""Time progress: is the share of the job done at least the share of the time used?"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planwatch.evaluate import opensdg
from planwatch.evaluate.progress import (
    GREEN_RATIO,
    MAINTAIN_TOLERANCE,
    YELLOW_RATIO,
    approx_band_level,
    time_progress,
)

RANK = {"red": 0, "yellow": 1, "green": 2}


def test_thresholds_read_like_open_sdg():
    assert (GREEN_RATIO, YELLOW_RATIO) == (opensdg.RATIO_HIGH, opensdg.RATIO_MED) == (0.95, 0.6)
    assert MAINTAIN_TOLERANCE == 0.05


def test_an_increase_target_checked_along_the_way():
    # From 100 in 2020 to 200 in 2025: each year uses 20 % of the time.
    p = time_progress(2020, 100, 2025, 200, [2021, 2022, 2023, 2024], [90, 130, 180, 120], "increase")
    # 2021: went backwards (task −0.1 after 20 % of the time)      → red
    # 2022: 30 % of the job after 40 % of the time: ratio 0.75       → yellow
    # 2023: 80 % of the job after 60 % of the time: ratio 1.33       → green
    # 2024: 20 % of the job after 80 % of the time: ratio 0.25       → red
    np.testing.assert_allclose(p.task, [-0.1, 0.3, 0.8, 0.2])
    np.testing.assert_allclose(p.elapsed, [0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(p.ratio, [-0.5, 0.75, 4 / 3, 0.25])
    assert p.level.tolist() == ["red", "yellow", "green", "red"]
    assert not p.reached.any()


def test_thresholds_are_inclusive():
    # 0 → 100 over 2020–2030, checked in 2030: ratio = value / 100.
    p = time_progress(2020, 0, 2030, 100, 2030, [95, 94.9, 60, 59.9])
    np.testing.assert_allclose(p.ratio, [0.95, 0.949, 0.6, 0.599])
    assert p.level.tolist() == ["green", "yellow", "yellow", "red"]


def test_a_decrease_target_uses_the_same_formula_and_passing_it_counts_as_reached():
    # PM2.5 from 40 in 2020 to 30 in 2025 (lower is better).
    p = time_progress(2020, 40, 2025, 30, [2023, 2022, 2023, 2022], [34, 36.4, 37, 28], "decrease")
    # 34 in 2023: 60 % of the job, 60 % of the time → ratio 1.0 → green
    # 36.4 in 2022: 36 % after 40 %                 → ratio 0.9 → yellow
    # 37 in 2023: 30 % after 60 %                   → ratio 0.5 → red
    # 28 in 2022: past the target                   → reached   → green
    np.testing.assert_allclose(p.task, [0.6, 0.36, 0.3, 1.2])
    np.testing.assert_allclose(p.ratio, [1.0, 0.9, 0.5, 3.0])
    assert p.reached.tolist() == [False, False, False, True]
    assert p.level.tolist() == ["green", "yellow", "red", "green"]


def test_a_cap_read_as_decrease_is_reached_while_under_it():
    # 常住人口 2154 in 2017, "控制在2300以内" by 2020: target above base but lower is better.
    p = time_progress(2017, 2154, 2020, 2300, 2018, [2170, 2310], "decrease")
    assert p.reached.tolist() == [True, False]
    assert p.level[0] == "green"


def test_target_equal_to_base_is_a_side_test():
    # "稳定在6" with a baseline of 6: no distance to cover, so no ratio — just the right side or not.
    values = [6.2, 6.5, 5.9, 6.1, 5.9, 6.1]
    directions = ["maintain", "maintain", "increase", "increase", "decrease", "decrease"]
    p = time_progress(2020, 6, 2025, 6, 2022, values, directions)
    assert np.isnan(p.task).all() and np.isnan(p.ratio).all()
    # maintain: within 5 % of 6 (±0.3); increase: at least 6; decrease: at most 6
    assert p.level.tolist() == ["green", "red", "red", "green", "green", "red"]


def test_without_a_direction_it_is_inferred_from_the_target():
    p = time_progress(2020, [6, 40, 100], 2025, [6, 30, 200], 2025, [6.1, 29, 150], None)
    # flat → maintain (6.1 within 5 %); 40→30 → decrease (29 passed it); 100→200 → increase (half done)
    assert p.reached.tolist() == [True, True, False]
    assert p.level.tolist() == ["green", "green", "red"]


def test_late_but_nearly_done_reads_yellow():
    p = time_progress(2020, 0, 2025, 100, 2026, 90, "increase")
    assert p.elapsed[0] == pytest.approx(1.2)
    assert p.ratio[0] == pytest.approx(0.75)
    assert p.level[0] == "yellow"


def test_at_the_base_year_there_is_no_schedule_yet():
    p = time_progress(2020, 100, 2025, 200, 2020, [100, 210], "increase")
    assert np.isnan(p.ratio).all()
    assert p.level.tolist() == ["", "green"]  # unless the target is already reached


def test_a_missing_number_blanks_only_its_own_row():
    p = time_progress(
        [2020, 2020, np.nan, 2020],
        [100, 100, 100, 100],
        [2025, 2025, 2025, 2025],
        [200, np.nan, 200, 200],
        [2022, 2022, 2022, 2022],
        [130, 130, 130, np.nan],
        ["increase", "increase", "increase", None],
    )
    assert p.level.tolist() == ["yellow", "", "", ""]
    assert not p.reached[1:].any()
    assert np.isnan(p.ratio[1:]).all()


def test_a_reached_target_needs_no_baseline():
    # A district row with no baseline of its own: no schedule to judge, but 210 is past a 200 target.
    p = time_progress(np.nan, np.nan, 2025, 200, 2022, [210, 150], "increase")
    assert np.isnan(p.ratio).all()
    assert p.level.tolist() == ["green", ""]


def test_scalars_broadcast_against_rows():
    p = time_progress(2020, 100, 2025, 200, np.array([2021, 2022]), 150, "increase")
    assert p.level.shape == (2,)
    np.testing.assert_allclose(p.ratio, [2.5, 1.25])


def test_approx_band_around_six():
    # "稳定在6左右": ±5 % is green, ±10 % yellow, further red; beyond on the good side is green.
    values = [6.2, 6.5, 5.5, 7.0, 7.0, 5.5, 5.0, 7.0]
    dirs = ["maintain", "maintain", "maintain", "maintain", "increase", "increase", "decrease", "decrease"]
    assert approx_band_level(values, 6, dirs).tolist() == [
        "green",  # +3.3 %
        "yellow",  # +8.3 %
        "yellow",  # −8.3 %
        "red",  # +16.7 %
        "green",  # above, and higher is better
        "yellow",  # −8.3 % on the bad side
        "green",  # below, and lower is better
        "red",  # +16.7 % on the bad side
    ]


def test_approx_band_tolerance_nan_and_zero_target():
    assert approx_band_level(6.5, 6, "maintain", tol=0.1).tolist() == ["green"]
    assert approx_band_level([np.nan, 6], [6, np.nan], "maintain").tolist() == ["", ""]
    # A target of 0 has no relative scale: only 0 is on it; the good side still counts.
    assert approx_band_level([0, 1, 1, -1], 0, ["maintain", "maintain", "increase", "increase"]).tolist() == [
        "green",
        "red",
        "green",
        "red",
    ]


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(
    base=st.floats(min_value=0, max_value=1000),
    gain=st.floats(min_value=1, max_value=1000),
    year=st.integers(min_value=2021, max_value=2030),
    v1=finite,
    v2=finite,
)
def test_for_an_increase_target_a_higher_value_is_never_worse(base, gain, year, v1, v2):
    lo, hi = sorted([v1, v2])
    p = time_progress(2020, base, 2030, base + gain, year, [lo, hi], "increase")
    assert RANK[p.level[0]] <= RANK[p.level[1]]


@given(
    base=st.integers(min_value=-1000, max_value=1000),
    gain=st.integers(min_value=1, max_value=1000),
    value=st.integers(min_value=-3000, max_value=3000),
    year=st.integers(min_value=2021, max_value=2030),
    scale=st.sampled_from([0.5, 2.0, 10.0, 1e4]),
    shift=st.sampled_from([-500.0, 0.0, 123.0]),
)
def test_levels_do_not_depend_on_the_unit(base, gain, value, year, scale, shift):
    # Changing the unit (万人 → 人) or the origin must not change the verdict.
    a = time_progress(2020, base, 2030, base + gain, year, value, "increase")
    b = time_progress(
        2020,
        base * scale + shift,
        2030,
        (base + gain) * scale + shift,
        year,
        value * scale + shift,
        "increase",
    )
    assert a.level.tolist() == b.level.tolist()


@given(target=st.integers(min_value=1, max_value=10_000), delta=st.integers(min_value=0, max_value=10_000))
def test_maintain_band_is_symmetric(target, delta):
    assert (
        approx_band_level(target + delta, target, "maintain")[0]
        == approx_band_level(target - delta, target, "maintain")[0]
    )
