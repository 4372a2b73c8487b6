"""Back-test: how good would last years' forecasts have been? Each observed year is forecast from
the points at least `lag` years older, with the same model, rules and bounds as forecast_groups."""

import numpy as np
import pandas as pd
import pytest

from planwatch.evaluate.backtest import COLUMNS, backtest
from planwatch.evaluate.forecast import forecast_groups

YEARS = list(range(2016, 2022))
VALUES = [10, 12, 13, 15, 18, 20]


def test_a_known_series_gives_the_numbers_worked_out_by_hand():
    bt = backtest(["g"] * 6, YEARS, VALUES, lag=2)
    assert bt.columns.tolist() == list(COLUMNS)
    # 2016–2018 have fewer than 2 points two or more years before them: no row.
    assert bt["year"].tolist() == [2019, 2020, 2021]
    assert bt["origin_year"].tolist() == [2017, 2018, 2019]
    assert bt["n_points"].tolist() == [2, 3, 4]
    assert (bt["method"] == "linear_ols").all()
    # 2019 from (2016 10, 2017 12): +2/yr → 16. 2020 from 10, 12, 13: x̄ 2017, ȳ 35/3, slope 3/2 → 35/3 + 4.5.
    # 2021 from 10, 12, 13, 15: x̄ 2017.5, ȳ 12.5, Sxy 8, Sxx 5, slope 1.6 → 12.5 + 1.6·3.5 = 18.1.
    np.testing.assert_allclose(bt["forecast"], [16, 35 / 3 + 4.5, 18.1])
    np.testing.assert_allclose(bt["actual"], [15, 18, 20])
    np.testing.assert_allclose(bt["error"], [1, 35 / 3 + 4.5 - 18, -1.9])
    np.testing.assert_allclose(bt["abs_pct_error"], [100 / 15, 100 * (18 - 35 / 3 - 4.5) / 18, 9.5])
    # Only the 4-point forecast has a band. Residuals −0.1, 0.3, −0.3, 0.1 → SSE 0.2, s² 0.1;
    # half-width t(0.95; 2)·√0.1·√(1 + 1/4 + 3.5²/5) = 2.919986·0.316228·1.923538 = 1.776158.
    assert bt["low"][:2].isna().all() and bt["high"][:2].isna().all()
    assert bt["interval_level"][:2].isna().all() and bt["interval_level"][2] == 0.9
    assert bt["low"][2] == pytest.approx(18.1 - 1.776158, abs=1e-6)
    assert bt["high"][2] == pytest.approx(18.1 + 1.776158, abs=1e-6)
    # 20 lies above 19.876: the 2021 value fell outside the band forecast in 2019.
    assert bt["in_band"].isna().tolist() == [True, True, False] and not bt["in_band"][2]
    assert bt["no_band_reason"][:2].tolist() == ["few_points"] * 2 and pd.isna(bt["no_band_reason"][2])
    assert not bt["clipped"].any()


def test_a_shorter_lag_forecasts_more_years():
    bt = backtest(["g"] * 6, YEARS, VALUES, lag=1)
    assert bt["year"].tolist() == [2018, 2019, 2020, 2021]
    assert bt["origin_year"].tolist() == [2017, 2018, 2019, 2020]
    assert bt["forecast"][0] == pytest.approx(14)  # 10 → 12, one more year
    assert bt["n_points"].tolist() == [2, 3, 4, 5]


def test_a_group_with_too_few_points_has_no_row():
    g = ["one", "two", "two", "full", "full", "full"]
    bt = backtest(g, [2020, 2020, 2021, 2018, 2019, 2021], [5, 1, 2, 1, 2, 4], lag=2)
    # "one": a single point; "two": 2021 has only 2020 before it, and 2020 − 2021 < lag.
    assert bt["group"].tolist() == ["full"]
    assert bt["year"].tolist() == [2021] and bt["forecast"][0] == pytest.approx(4)  # 1, 2 → +1/yr


def test_the_bounds_apply_as_in_forecast_groups():
    # A count falling 10 → 5 → 1: the line reaches −8.17 in 2022, clipped to 0 (the actual was 0.5).
    g = ["n"] * 4 + ["share"] * 3
    years = [2018, 2019, 2020, 2022, 2018, 2019, 2021]
    values = [10, 5, 1, 0.5, 90, 96, 99]
    lower = [0] * 7
    upper = [np.nan] * 4 + [100] * 3
    bt = backtest(g, years, values, lag=2, lower=lower, upper=upper).set_index("group")
    assert bt.loc["n", "year"] == 2022 and bt.loc["n", "n_points"] == 3
    assert bt.loc["n", "forecast"] == 0 and bt.loc["n", "clipped"]
    assert bt.loc["n", "error"] == pytest.approx(-0.5) and bt.loc["n", "abs_pct_error"] == pytest.approx(100)
    # The share rose 6 points in a year: 2021 from 2018–2019 would be 108, clipped to 100.
    assert bt.loc["share", "forecast"] == 100 and bt.loc["share", "clipped"]
    assert bt.loc["share", "error"] == pytest.approx(1)
    unbounded = backtest(g, years, values, lag=2).set_index("group")
    assert unbounded.loc["n", "forecast"] == pytest.approx(16 / 3 - 13.5)
    assert not unbounded["clipped"].any()


def test_an_actual_of_zero_has_no_percentage_error():
    bt = backtest(["g"] * 3, [2018, 2019, 2021], [1, 2, 0], lag=2)
    assert bt["forecast"][0] == pytest.approx(4) and bt["error"][0] == pytest.approx(4)
    assert np.isnan(bt["abs_pct_error"][0])


def test_every_row_is_what_forecast_groups_says_from_the_earlier_points():
    rng = np.random.default_rng(11)
    rows = []
    for k in range(30):
        years = np.sort(rng.choice(np.arange(2005, 2024), size=rng.integers(1, 12), replace=False))
        for yr in years:
            rows.append((f"g{k:02d}", int(yr), float(rng.normal(20, 8) + 0.7 * (yr - 2005))))
    g, x, y = (np.array(c) for c in zip(*rows, strict=True))
    lag = 2
    bt = backtest(g, x, y, lag=lag, lower=0, upper=60)
    expected = []
    for name in np.unique(g):
        xs, ys = x[g == name], y[g == name]
        for yr, actual in zip(xs, ys, strict=True):
            past = xs <= yr - lag
            if past.sum() < 2:
                continue
            f = forecast_groups([name] * past.sum(), xs[past], ys[past], [yr], lower=0, upper=60).iloc[0]
            expected.append(
                (name, yr, xs[past].max(), past.sum(), f.linear, f.linear_low, f.linear_high, actual)
            )
    ref = pd.DataFrame(
        expected, columns=["group", "year", "origin_year", "n_points", "forecast", "low", "high", "actual"]
    )
    assert len(bt) == len(ref) > 50
    assert bt["group"].tolist() == ref["group"].tolist() and bt["year"].tolist() == ref["year"].tolist()
    assert bt["origin_year"].tolist() == ref["origin_year"].tolist()
    assert bt["n_points"].tolist() == ref["n_points"].tolist()
    for col in ("forecast", "low", "high", "actual"):
        np.testing.assert_allclose(bt[col], ref[col], rtol=1e-9)
    band = ref["low"].notna()
    assert band.any() and (~band).any()
    assert (
        bt["in_band"][band].tolist()
        == ((ref["low"] <= ref["actual"]) & (ref["actual"] <= ref["high"]))[band].tolist()
    )
    assert bt["in_band"][~band].isna().all()


def test_honest_bands_hold_about_90_percent_of_later_values():
    # 3000 noisy lines of 8 yearly points; with lag 1, 2014–2017 are forecast from ≥ 4 points.
    rng = np.random.default_rng(5)
    k, years = 3000, np.arange(2010, 2018)
    values = 30 + rng.uniform(-2, 2, (k, 1)) * (years - 2010) + rng.normal(0, 3, (k, len(years)))
    bt = backtest(np.repeat(np.arange(k), len(years)), np.tile(years, k), values.ravel(), lag=1)
    banded = bt[bt["interval_level"].notna()]
    assert set(banded["year"]) == {2014, 2015, 2016, 2017} and len(banded) == 4 * k
    assert banded["in_band"].astype(bool).mean() == pytest.approx(0.90, abs=0.02)


def test_bad_input_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="'g' has more than one value in year 2020"):
        backtest(["g", "g", "g"], [2019, 2020, 2020], [1, 2, 3])
    with pytest.raises(ValueError, match="lag must be at least 1"):
        backtest(["g"] * 3, [2018, 2019, 2020], [1, 2, 3], lag=0)
    with pytest.raises(ValueError, match="same on every row"):
        backtest(["g"] * 3, [2018, 2019, 2020], [1, 2, 3], lower=[0, 0, 1])


def test_missing_values_are_ignored_and_empty_input_gives_an_empty_table():
    a = backtest(["g"] * 8, [*YEARS, 2022, np.nan], [*VALUES, np.nan, 5], lag=2)
    b = backtest(["g"] * 6, YEARS, VALUES, lag=2)
    pd.testing.assert_frame_equal(
        a.drop(columns=["year", "origin_year"]), b.drop(columns=["year", "origin_year"])
    )
    empty = backtest([], [], [])
    assert empty.columns.tolist() == list(COLUMNS) and len(empty) == 0
