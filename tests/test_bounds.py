"""Bound checks: a ceiling or floor crossed is red whatever the trend; when a bound binds depends on the baseline."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from planwatch.evaluate.bounds import bound_check


def test_a_population_cap_binds_from_the_start():
    # 常住人口 2154 万 in 2015 already under the 2300 cap: a cap to keep, every year.
    r = bound_check("ceiling", 2300, [2189, 2350, 2300], [2021, 2018, 2019], 2035, 2154)
    assert r.applies.tolist() == [True, True, True]
    assert r.crossed.tolist() == [False, True, False]  # 2350 in 2018 is red although the target year is 2035
    assert r.level.tolist() == ["green", "red", "green"]  # exactly on the cap is kept


def test_a_floor_still_to_be_reached_binds_from_the_target_year():
    # A share of 18 % in 2015, "25 % by 2025": a level to reach, judged by the progress methods until then.
    r = bound_check("floor", 25, [20, 24, 26, 25], [2022, 2025, 2026, 2030], 2025, 18)
    assert r.applies.tolist() == [False, True, True, True]
    assert r.crossed.tolist() == [False, True, False, False]
    assert r.level.tolist() == ["", "red", "green", "green"]


def test_a_floor_already_kept_and_a_ceiling_still_to_be_reached():
    # 耕地保有量 170 above a 166 floor: binds now. A value of 2400 above a 2300 ceiling: binds from 2035.
    r = bound_check(
        ["floor", "ceiling", "ceiling", "ceiling"],
        [166, 2300, 2300, 2300],
        [165, 2350, 2290, 2310],
        [2021, 2025, 2035, 2036],
        [2035, 2035, 2035, 2035],
        [170, 2400, 2400, 2400],
    )
    assert r.applies.tolist() == [True, False, True, True]
    assert r.level.tolist() == ["red", "", "green", "red"]


def test_other_kinds_are_not_bounds():
    r = bound_check(["approx", "exact", None, "", "Ceiling "], 10, 20, 2030, 2025, 5)
    assert r.applies.tolist() == [False, False, False, False, True]  # kind words are case/space tolerant
    assert r.level.tolist() == ["", "", "", "", "red"]


def test_missing_numbers():
    r = bound_check(
        "ceiling",
        [100, 100, 100, np.nan, 100],
        [90, np.nan, 90, 90, 110],
        [2020, 2020, 2025, 2030, 2020],
        [2025, 2025, 2025, 2025, np.nan],
        [80, 80, np.nan, 80, 80],
    )
    # no value: applies but cannot be judged; unknown baseline: binds from the target year (either reading
    # agrees then); no bound: nothing binds; no target year: a kept cap still binds.
    assert r.applies.tolist() == [True, True, True, False, True]
    assert r.crossed.tolist() == [False, False, False, False, True]
    assert r.level.tolist() == ["green", "", "green", "", "red"]
    r = bound_check("floor", 25, 20, 2030, np.nan, 18)  # a level to reach, with no deadline
    assert r.applies.tolist() == [False]


@given(
    kind=st.sampled_from(["ceiling", "floor"]),
    bound=st.floats(-1e6, 1e6),
    base=st.floats(-1e6, 1e6),
    value=st.floats(-1e6, 1e6),
    year=st.integers(2015, 2040),
    target_year=st.integers(2020, 2035),
)
def test_red_exactly_when_a_binding_bound_is_crossed(kind, bound, base, value, year, target_year):
    r = bound_check(kind, bound, value, year, target_year, base)
    wrong_side = value > bound if kind == "ceiling" else value < bound
    assert r.crossed[0] == (r.applies[0] and wrong_side)
    assert r.level[0] == ("red" if r.crossed[0] else "green" if r.applies[0] else "")
    # Whether the bound binds never depends on this year's value.
    assert bound_check(kind, bound, value + 1e3, year, target_year, base).applies[0] == r.applies[0]
    # From the target year on, every bound binds.
    if year >= target_year:
        assert r.applies[0]
