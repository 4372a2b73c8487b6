"""Forecasts to 2025 and 2035: a linear trend with a 90 % prediction band, and an endpoint CAGR."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from planwatch.evaluate.forecast import forecast_groups, forecast_series

COLUMNS = ["group", "to_year", "n_points", "linear", "linear_low", "linear_high", "cagr"]


def test_four_points_by_hand():
    f = forecast_series([2018, 2019, 2020, 2021], [1, 2, 2.5, 4], [2025, 2035])
    # x̄ = 2019.5, ȳ = 2.375, Sxx = 5, Sxy = 4.75 → slope 0.95 per year.
    assert f["n_points"] == 4
    assert f["slope"] == pytest.approx(0.95)
    # 2025: 2.375 + 0.95·5.5 = 7.6; 2035: 2.375 + 0.95·15.5 = 17.1
    np.testing.assert_allclose(f["linear"], [7.6, 17.1])
    # Residuals 0.05, 0.1, −0.35, 0.2 → SSE 0.175, s² = 0.0875; t(0.95; 2) = 2.919986.
    # half-width = 2.919986·√0.0875·√(1 + 1/4 + (x0 − 2019.5)²/5):
    # 2025: 0.863742·√7.3 = 2.333706; 2035: 0.863742·√49.3 = 6.064684 (the band widens with distance)
    np.testing.assert_allclose(f["linear_high"] - f["linear"], [2.333706, 6.064684], atol=1e-6)
    np.testing.assert_allclose(f["linear"] - f["linear_low"], f["linear_high"] - f["linear"])
    # CAGR first → last: (4/1)^(1/3) − 1 = 58.74 %/yr; 2025: 4·1.5874^4 = 25.398
    assert f["growth_rate"] == pytest.approx(0.587401, abs=1e-6)
    np.testing.assert_allclose(f["cagr"], [4 * 4 ** (4 / 3), 4 * 4 ** (14 / 3)])


def test_the_cagr_runs_from_the_first_to_the_last_point_not_a_log_fit():
    # The 2019 spike does not matter: (4/1)^(1/2) − 1 = 100 %/yr, so 2025 = 4·2^5.
    f = forecast_series([2020, 2018, 2019], [4, 1, 10], 2025)
    assert f["growth_rate"] == pytest.approx(1.0)
    np.testing.assert_allclose(f["cagr"], [128.0])


def test_two_points_give_a_line_but_no_band_and_one_point_gives_nothing():
    f = forecast_series([2020, 2022], [10, 14], [2025, 2035])
    np.testing.assert_allclose(f["linear"], [20, 40])
    assert f["linear_low"] is None and f["linear_high"] is None
    np.testing.assert_allclose(f["cagr"], 14 * (1.4**0.5) ** np.array([3, 13]))
    for points in ([[2020], [10]], [[], []], [[2020, 2020], [10, 12]], [[2020, np.nan], [10, 12]]):
        f = forecast_series(*points, [2025, 2035])
        assert f["linear"] is None and f["cagr"] is None and f["linear_low"] is None


def test_non_positive_values_have_no_cagr():
    for values in ([0, 5, 7], [3, 5, -1]):
        f = forecast_series([2018, 2019, 2020], values, [2025, 2035])
        assert np.isnan(f["growth_rate"])
        assert np.isnan(f["cagr"]).all() and f["cagr"].shape == (2,)
        assert np.isfinite(f["linear"]).all()  # the linear model does not care


def test_nan_points_are_dropped():
    a = forecast_series([2018, 2019, np.nan, 2020, 2021], [1, 2, 5, np.nan, 4])
    b = forecast_series([2018, 2019, 2021], [1, 2, 4])
    assert a["n_points"] == 3
    np.testing.assert_allclose(a["linear"], b["linear"])
    np.testing.assert_allclose(a["linear_low"], b["linear_low"])


def test_agrees_with_polyfit_and_linregress_on_random_series():
    rng = np.random.default_rng(20240601)
    for _ in range(50):
        n = rng.integers(3, 12)
        x = np.sort(rng.choice(np.arange(2000, 2024), size=n, replace=False)).astype(float)
        y = 50 + 3 * (x - 2000) + rng.normal(0, 5, n)
        f = forecast_series(x, y, [2025, 2035])
        slope, intercept = np.polyfit(x, y, 1)
        lr = stats.linregress(x, y)
        assert f["slope"] == pytest.approx(lr.slope, rel=1e-9)
        np.testing.assert_allclose(f["linear"], lr.intercept + lr.slope * np.array([2025, 2035]), rtol=1e-9)
        # linregress's slope standard error is s/√Sxx, so the prediction variance is
        # s² + s²/n + stderr²·(x0 − x̄)².
        sxx = np.sum((x - x.mean()) ** 2)
        s = lr.stderr * np.sqrt(sxx)
        x0 = np.array([2025, 2035])
        half = stats.t.ppf(0.95, n - 2) * np.sqrt(s**2 + s**2 / n + lr.stderr**2 * (x0 - x.mean()) ** 2)
        np.testing.assert_allclose(f["linear_high"], f["linear"] + half, rtol=1e-9)
        assert (slope, intercept) == pytest.approx((f["slope"], f["intercept"]))


def test_many_groups_at_once():
    df = forecast_groups(
        ["b", "b", "b", "b", "a", "a", "c", "d"],
        [2018, 2019, 2020, 2021, 2020, 2022, 2020, np.nan],
        [1, 2, 2.5, 4, 10, 14, 3, 7],
        [2025, 2035],
    )
    assert df.columns.tolist() == COLUMNS
    assert df["group"].tolist() == ["a", "a", "b", "b", "c", "c", "d", "d"]
    assert df["to_year"].tolist() == [2025, 2035] * 4
    assert df["n_points"].tolist() == [2, 2, 4, 4, 1, 1, 0, 0]
    np.testing.assert_allclose(df["linear"], [20, 40, 7.6, 17.1, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_allclose(
        df["linear_high"] - df["linear"], [np.nan, np.nan, 2.333706, 6.064684] + [np.nan] * 4, atol=1e-6
    )
    np.testing.assert_allclose(
        df["cagr"][:4], [14 * 1.4**1.5, 14 * 1.4**6.5, 4 * 4 ** (4 / 3), 4 * 4 ** (14 / 3)]
    )
    assert df["cagr"][4:].isna().all()


def test_the_90_percent_band_covers_about_90_percent_of_new_observations():
    # 4000 simulated series of 6 yearly points from a known line with normal noise, each checked
    # against a fresh observation in 2035. Sampling error of the coverage is about 0.5 %.
    rng = np.random.default_rng(7)
    groups, years = np.repeat(np.arange(4000), 6), np.tile(np.arange(2015, 2021), 4000)
    values = 10 + 0.5 * (years - 2015) + rng.normal(0, 2, len(years))
    df = forecast_groups(groups, years, values, [2035])
    fresh = 10 + 0.5 * 20 + rng.normal(0, 2, 4000)
    coverage = np.mean((df["linear_low"] <= fresh) & (fresh <= df["linear_high"]))
    assert coverage == pytest.approx(0.90, abs=0.02)


def test_empty_input_gives_an_empty_table():
    df = forecast_groups([], [], [], [2025, 2035])
    assert df.columns.tolist() == COLUMNS and len(df) == 0


points = st.lists(
    st.tuples(
        st.sampled_from(["x", "y", "z"]),
        st.integers(2000, 2024),
        st.one_of(st.floats(-100, 1000), st.just(np.nan)),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(points)
def test_groups_match_the_single_series_function(rows):
    g, x, y = (np.array(c, dtype=object if i == 0 else float) for i, c in enumerate(zip(*rows, strict=True)))
    df = forecast_groups(g, x, y, [2025, 2035])
    for name, sub in df.groupby("group"):
        f = forecast_series(x[g == name], y[g == name], [2025, 2035])
        assert sub["n_points"].iloc[0] == f["n_points"]
        for col in ("linear", "linear_low", "linear_high", "cagr"):
            expected = np.full(2, np.nan) if f[col] is None else f[col]
            np.testing.assert_allclose(sub[col].to_numpy(dtype=float), expected, rtol=1e-6, atol=1e-6)
    assert isinstance(df, pd.DataFrame)
