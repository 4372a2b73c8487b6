"""Forecasts to 2025 and 2035: a linear trend with a 90 % prediction band (from 4 points up), and an
endpoint CAGR, both kept inside the indicator's physical bounds."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from planwatch.evaluate.forecast import (
    COLUMNS,
    MIN_BAND_POINTS,
    NO_BAND_ZH,
    forecast_groups,
    forecast_series,
)


def test_four_points_by_hand():
    f = forecast_series([2018, 2019, 2020, 2021], [1, 2, 2.5, 4], [2025, 2035])
    # x̄ = 2019.5, ȳ = 2.375, Sxx = 5, Sxy = 4.75 → slope 0.95 per year.
    assert f["n_points"] == 4 and f["method"] == "linear_ols"
    np.testing.assert_array_equal(f["interval_level"], [0.9, 0.9])
    assert f["slope"] == pytest.approx(0.95)
    # 2025: 2.375 + 0.95·5.5 = 7.6; 2035: 2.375 + 0.95·15.5 = 17.1
    np.testing.assert_allclose(f["linear"], [7.6, 17.1])
    np.testing.assert_allclose(f["linear_raw"], [7.6, 17.1])
    assert not f["linear_clipped"].any() and not f["band_clipped"].any() and not f["cagr_clipped"].any()
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


def test_three_points_give_a_line_but_no_band():
    # One residual degree of freedom: t(0.95; 1) = 6.31 would make any "band" meaningless.
    f = forecast_series([2018, 2019, 2020], [1, 2, 2.5], [2025, 2035])
    assert f["n_points"] == 3 and f["method"] == "linear_ols"
    assert f["slope"] == pytest.approx(0.75)  # x̄ 2019, ȳ 1.8333, Sxy 1.5, Sxx 2
    np.testing.assert_allclose(f["linear"], [11 / 6 + 0.75 * 6, 11 / 6 + 0.75 * 16])
    assert f["linear_low"] is None and f["linear_high"] is None and f["band_clipped"] is None
    assert np.isnan(f["interval_level"]).all()

    df = forecast_groups(["g"] * 3, [2018, 2019, 2020], [1, 2, 2.5], [2025, 2035])
    assert df["linear_low"].isna().all() and df["linear_high"].isna().all()
    assert df["interval_level"].isna().all() and not df["band_clipped"].any()
    assert (df["no_band_reason"] == "few_points").all() and f["no_band_reason"].tolist() == ["few_points"] * 2
    assert (df["method"] == "linear_ols").all() and (df["n_points"] == 3).all()
    assert MIN_BAND_POINTS == 4


def test_two_points_give_a_line_but_no_band_and_one_point_gives_nothing():
    f = forecast_series([2020, 2022], [10, 14], [2025, 2035])
    np.testing.assert_allclose(f["linear"], [20, 40])
    assert f["linear_low"] is None and f["linear_high"] is None
    np.testing.assert_allclose(f["cagr"], 14 * (1.4**0.5) ** np.array([3, 13]))
    for points in ([[2020], [10]], [[], []], [[2020, 2020], [10, 12]], [[2020, np.nan], [10, 12]]):
        f = forecast_series(*points, [2025, 2035])
        assert f["linear"] is None and f["cagr"] is None and f["linear_low"] is None
        assert f["method"] is None and f["linear_raw"] is None and f["linear_clipped"] is None
        assert np.isnan(f["interval_level"]).all() and (f["no_band_reason"] == "no_trend").all()


def test_points_exactly_on_a_line_give_no_zero_width_band():
    # Four points exactly on a line leave no scatter to estimate s from: no "90 %" band of width 0.
    for values in ([10, 20, 30, 40], [5, 5, 5, 5]):
        f = forecast_series([2018, 2019, 2020, 2021], values, [2025])
        assert f["linear"] is not None and f["linear_low"] is None
        assert f["no_band_reason"].tolist() == ["exact_fit"]
    # The slightest scatter gives a (narrow) band again.
    f = forecast_series([2018, 2019, 2020, 2021], [10, 20, 30.001, 40], [2025])
    assert 0 < f["linear_high"][0] - f["linear_low"][0] < 0.1
    assert f["no_band_reason"].tolist() == [None]


def test_non_positive_values_have_no_cagr():
    for values in ([0, 5, 7], [3, 5, -1]):
        f = forecast_series([2018, 2019, 2020], values, [2025, 2035])
        assert np.isnan(f["growth_rate"])
        assert np.isnan(f["cagr"]).all() and f["cagr"].shape == (2,)
        assert not f["cagr_clipped"].any()
        assert np.isfinite(f["linear"]).all()  # the linear model does not care


def test_nan_points_are_dropped():
    a = forecast_series([2017, 2018, 2019, np.nan, 2020, 2021], [0.5, 1, 2, 5, np.nan, 4])
    b = forecast_series([2017, 2018, 2019, 2021], [0.5, 1, 2, 4])
    assert a["n_points"] == 4
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
        assert (slope, intercept) == pytest.approx((f["slope"], f["intercept"]))
        if n < 4:
            assert f["linear_high"] is None
            continue
        # linregress's slope standard error is s/√Sxx, so the prediction variance is
        # s² + s²/n + stderr²·(x0 − x̄)².
        sxx = np.sum((x - x.mean()) ** 2)
        s = lr.stderr * np.sqrt(sxx)
        x0 = np.array([2025, 2035])
        half = stats.t.ppf(0.95, n - 2) * np.sqrt(s**2 + s**2 / n + lr.stderr**2 * (x0 - x.mean()) ** 2)
        np.testing.assert_allclose(f["linear_high"], f["linear"] + half, rtol=1e-9)


def test_many_groups_at_once():
    df = forecast_groups(
        ["b", "b", "b", "b", "a", "a", "c", "d"],
        [2018, 2019, 2020, 2021, 2020, 2022, 2020, np.nan],
        [1, 2, 2.5, 4, 10, 14, 3, 7],
        [2025, 2035],
    )
    assert df.columns.tolist() == list(COLUMNS)
    assert df["group"].tolist() == ["a", "a", "b", "b", "c", "c", "d", "d"]
    assert df["to_year"].tolist() == [2025, 2035] * 4
    assert df["n_points"].tolist() == [2, 2, 4, 4, 1, 1, 0, 0]
    assert df["method"].tolist()[:4] == ["linear_ols"] * 4 and df["method"][4:].isna().all()
    np.testing.assert_array_equal(df["interval_level"], [np.nan, np.nan, 0.9, 0.9] + [np.nan] * 4)
    reasons = df["no_band_reason"].tolist()
    assert (
        reasons[:2] + reasons[4:] == ["few_points"] * 2 + ["no_trend"] * 4
        and df["no_band_reason"][2:4].isna().all()
    )
    np.testing.assert_allclose(df["linear"], [20, 40, 7.6, 17.1, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_allclose(
        df["linear_high"] - df["linear"], [np.nan, np.nan, 2.333706, 6.064684] + [np.nan] * 4, atol=1e-6
    )
    np.testing.assert_allclose(
        df["cagr"][:4], [14 * 1.4**1.5, 14 * 1.4**6.5, 4 * 4 ** (4 / 3), 4 * 4 ** (14 / 3)]
    )
    assert df["cagr"][4:].isna().all()
    for flag in ("linear_clipped", "band_clipped", "cagr_clipped"):
        assert df[flag].dtype == bool and not df[flag].any()


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


def test_a_band_from_four_points_covers_the_next_value_90_percent_of_the_time():
    # 20000 random lines (intercept, slope and noise differ per series), 4 yearly points each with
    # Gaussian noise, and the next year's value drawn from the same line. Sampling error ≈ 0.2 %.
    rng = np.random.default_rng(2024)
    k = 20000
    a, b, sigma = rng.uniform(-50, 50, k), rng.uniform(-5, 5, k), rng.uniform(0.1, 10, k)
    years = np.arange(2017, 2021)
    values = a[:, None] + b[:, None] * (years - 2017) + rng.normal(0, 1, (k, 4)) * sigma[:, None]
    df = forecast_groups(np.repeat(np.arange(k), 4), np.tile(years, k), values.ravel(), [2021])
    assert (df["n_points"] == 4).all() and (df["interval_level"] == 0.9).all()
    nxt = a + b * 4 + rng.normal(0, 1, k) * sigma
    coverage = np.mean((df["linear_low"].to_numpy() <= nxt) & (nxt <= df["linear_high"].to_numpy()))
    assert coverage == pytest.approx(0.90, abs=0.03)
    # …and the band is not trivially wide: a 99 % band would cover ~99 %, an 80 % one ~80 %.
    wider = forecast_groups(np.repeat(np.arange(k), 4), np.tile(years, k), values.ravel(), [2021], level=0.8)
    narrow_cov = np.mean((wider["linear_low"].to_numpy() <= nxt) & (nxt <= wider["linear_high"].to_numpy()))
    assert narrow_cov == pytest.approx(0.80, abs=0.03)


def test_a_falling_concentration_is_clipped_at_zero_and_keeps_its_raw_trend():
    # PM2.5-like: 38, 33, 30 µg/m³ in 2020–2022. The line (−4 per year) reaches −22.3 in 2035.
    f = forecast_series([2020, 2021, 2022], [38, 33, 30], [2025, 2035], lower=0)
    np.testing.assert_allclose(f["linear_raw"], [101 / 3 - 16, 101 / 3 - 56])  # 17.67, −22.33
    assert f["linear_raw"][1] == pytest.approx(-22.3, abs=0.05)
    np.testing.assert_allclose(f["linear"], [101 / 3 - 16, 0.0])
    assert f["linear_clipped"].tolist() == [False, True]
    assert f["linear_low"] is None  # 3 points: no band at all
    # The CAGR of a positive series stays positive: nothing to clip.
    np.testing.assert_allclose(f["cagr"], 30 * (30 / 38) ** (np.array([3, 13]) / 2))
    assert not f["cagr_clipped"].any()

    df = forecast_groups(["pm25"] * 3, [2020, 2021, 2022], [38, 33, 30], [2025, 2035], lower=0)
    np.testing.assert_allclose(df["linear"], f["linear"])
    np.testing.assert_allclose(df["linear_raw"], f["linear_raw"])
    assert df["linear_clipped"].tolist() == [False, True]
    # Without the bound the raw trend is given as it is.
    free = forecast_groups(["pm25"] * 3, [2020, 2021, 2022], [38, 33, 30], [2035])
    assert free["linear"].iloc[0] == pytest.approx(-22.333, abs=1e-3) and not free["linear_clipped"].iloc[0]


def test_a_share_is_clipped_at_100_for_both_models():
    # Two points: 90 % → 98 % in two years. Linear 2035: 98 + 4·13 = 150; CAGR 98·(98/90)^6.5 ≈ 169.
    f = forecast_series([2020, 2022], [90, 98], [2025, 2035], lower=0, upper=100)
    np.testing.assert_allclose(f["linear_raw"], [110, 150])
    np.testing.assert_allclose(f["linear"], [100, 100])
    assert f["linear_clipped"].all() and f["cagr_clipped"].all()
    np.testing.assert_allclose(f["cagr_raw"], 98 * (98 / 90) ** (np.array([3, 13]) / 2))
    np.testing.assert_allclose(f["cagr"], [100, 100])
    assert f["linear_low"] is None and np.isnan(f["interval_level"]).all()  # 2 points: no band


def test_band_edges_are_clipped_and_a_band_wholly_beyond_the_bound_is_dropped():
    years, values = [2019, 2020, 2021, 2022], [94, 96, 97, 99]  # +1.6 per year, SSE 0.2
    df = forecast_groups(["share"] * 4, years, values, [2021, 2023, 2035], lower=0, upper=100)
    raw = forecast_groups(["share"] * 4, years, values, [2021, 2023, 2035])
    # 2021: raw 97.3 ± 1.05 lies inside 0–100: nothing clipped.
    assert df["linear_low"][0] == pytest.approx(raw["linear_low"][0])
    assert df["linear_high"][0] == pytest.approx(raw["linear_high"][0]) and not df["band_clipped"][0]
    # 2023: raw 100.5 ± 1.46 straddles 100: the upper edge is clipped, the band kept, point at 100.
    assert raw["linear_low"][1] < 100 < raw["linear_high"][1]
    assert df["linear_high"][1] == 100 and df["linear_low"][1] == pytest.approx(raw["linear_low"][1])
    assert df["band_clipped"][1] and df["linear_clipped"][1] and df["interval_level"][1] == 0.9
    # 2035: raw 119.7 ± 3.7 lies wholly above 100. A band [100, 100] would claim certainty: dropped.
    assert raw["linear_low"][2] > 100
    assert (
        np.isnan(df["linear_low"][2]) and np.isnan(df["linear_high"][2]) and np.isnan(df["interval_level"][2])
    )
    assert df["band_clipped"][2] and df["linear"][2] == 100 and df["linear_raw"][2] == pytest.approx(119.7)
    assert df["no_band_reason"][:2].isna().all() and df["no_band_reason"][2] == "beyond_bound"
    assert set(NO_BAND_ZH) == {"no_trend", "few_points", "exact_fit", "beyond_bound"}
    assert (df["linear_low"].dropna() <= df["linear"][:2]).all() and (
        df["linear"][:2] <= df["linear_high"][:2]
    ).all()


def test_bounds_may_differ_by_group_as_row_aligned_arrays():
    g = ["share", "share", "count", "count", "free", "free"]
    years = [2020, 2021] * 3
    values = [90, 99, 10, 1, 10, 1]
    lower = [0, 0, 0, 0, np.nan, np.nan]
    upper = [100, 100, np.nan, np.nan, np.nan, np.nan]
    df = forecast_groups(g, years, values, [2025], lower=lower, upper=upper).set_index("group")
    assert df.loc["share", "linear"] == 100 and df.loc["share", "linear_raw"] == pytest.approx(135)
    assert df.loc["count", "linear"] == 0 and df.loc["count", "linear_raw"] == pytest.approx(-35)
    assert df.loc["free", "linear"] == pytest.approx(-35) and not df.loc["free", "linear_clipped"]
    # A scalar bound applies to every group.
    assert (forecast_groups(g, years, values, [2025], lower=0)["linear"] >= 0).all()


def test_inconsistent_or_impossible_bounds_are_refused():
    with pytest.raises(ValueError, match="same on every row.*'a'"):
        forecast_groups(["a", "a"], [2020, 2021], [1, 2], [2025], lower=[0, 1])
    with pytest.raises(ValueError, match="lower bound 5.0 is above upper bound 1.0"):
        forecast_groups(["a", "a"], [2020, 2021], [1, 2], [2025], lower=5, upper=[1, 1])
    with pytest.raises(ValueError, match="one value per row"):
        forecast_groups(["a", "a"], [2020, 2021], [1, 2], [2025], lower=[0, 0, 0])
    with pytest.raises(ValueError, match="lower bound"):
        forecast_series([2020, 2021], [1, 2], [2025], lower=100, upper=0)
    with pytest.raises(ValueError, match="level"):
        forecast_groups(["a", "a"], [2020, 2021], [1, 2], [2025], level=90)


def test_empty_input_gives_an_empty_table():
    df = forecast_groups([], [], [], [2025, 2035])
    assert df.columns.tolist() == list(COLUMNS) and len(df) == 0


def test_the_engines_columns_are_still_there():
    # engine.forecasts() pivots these five; they must keep their names.
    df = forecast_groups(["a"] * 4, [2018, 2019, 2020, 2021], [1, 2, 2.5, 4], (2025, 2035))
    assert {"linear", "linear_low", "linear_high", "cagr", "n_points"} <= set(df.columns)


def reference(x, y, to, lower, upper, level=0.9):
    """The rules written out per series with numpy.polyfit, independent of forecast.py's bincount sums.
    Returns the expected columns and a mask of cells too close to a threshold to decide."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, k = x[ok], y[ok], len(to)
    nan = np.full(k, np.nan)
    out = dict(n_points=len(x), linear_raw=nan, linear_low=nan, linear_high=nan, cagr_raw=nan)
    undecidable = np.zeros(k, bool)
    if len(x) < 2 or np.ptp(x) == 0:
        return out, undecidable
    slope, at_mean = np.polyfit(x - x.mean(), y, 1)
    line = at_mean + slope * (to - x.mean())
    sse = np.sum((y - (at_mean + slope * (x - x.mean()))) ** 2)
    syy = np.sum((y - y.mean()) ** 2)
    ratio = 0.0 if syy == 0 else sse / syy
    undecidable |= 1e-12 < ratio < 1e-8  # next to the exact-fit tolerance (1e-10)
    out["linear_raw"] = line
    if len(x) >= 4 and ratio > 1e-10:
        half = (
            stats.t.ppf(0.5 + level / 2, len(x) - 2)
            * np.sqrt(sse / (len(x) - 2))
            * np.sqrt(1 + 1 / len(x) + (to - x.mean()) ** 2 / np.sum((x - x.mean()) ** 2))
        )
        out["linear_low"], out["linear_high"] = line - half, line + half
    order = np.argsort(x, kind="stable")
    (x0, y0), (x1, y1) = (x[order[0]], y[order[0]]), (x[order[-1]], y[order[-1]])
    if y0 > 0 and y1 > 0:
        with np.errstate(over="ignore"):
            out["cagr_raw"] = y1 * (y1 / y0) ** ((to - x1) / (x1 - x0))
    # A value within 1e-6 of a bound may be called clipped by one and not by the other.
    for v in (out["linear_raw"], out["linear_low"], out["linear_high"], out["cagr_raw"]):
        for bound in (lower, upper):
            if bound is not None:
                undecidable |= np.abs(v - bound) < 1e-6
    return out, undecidable


def clip(v, lower, upper):
    lo = -np.inf if lower is None else lower
    up = np.inf if upper is None else upper
    return np.where(np.isnan(v), np.nan, np.minimum(np.maximum(v, lo), up))


points = st.lists(
    st.tuples(
        st.sampled_from(["x", "y", "z"]),
        st.integers(2000, 2024),
        st.one_of(st.floats(-100, 1000), st.just(np.nan)),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(points, st.sampled_from([None, 0.0]), st.sampled_from([None, 100.0]))
def test_groups_follow_the_rules_written_out_per_series(rows, lower, upper):
    g, x, y = (np.array(c, dtype=object if i == 0 else float) for i, c in enumerate(zip(*rows, strict=True)))
    to = np.array([2025.0, 2035.0])
    df = forecast_groups(g, x, y, to, lower=lower, upper=upper)
    for name, sub in df.groupby("group"):
        ref, skip = reference(x[g == name], y[g == name], to, lower, upper)
        assert (sub["n_points"] == ref["n_points"]).all()
        single = forecast_series(x[g == name], y[g == name], to, lower=lower, upper=upper)
        np.testing.assert_allclose(
            sub["linear"], np.full(2, np.nan) if single["linear"] is None else single["linear"], rtol=1e-9
        )
        keep = ~skip
        np.testing.assert_allclose(sub["linear_raw"][keep], ref["linear_raw"][keep], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(sub["cagr_raw"][keep], ref["cagr_raw"][keep], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(
            sub["linear"][keep], clip(ref["linear_raw"], lower, upper)[keep], rtol=1e-6, atol=1e-6
        )
        np.testing.assert_allclose(
            sub["cagr"][keep], clip(ref["cagr_raw"], lower, upper)[keep], rtol=1e-6, atol=1e-6
        )
        lo, hi = ref["linear_low"], ref["linear_high"]
        beyond = (lo > (np.inf if upper is None else upper)) | (hi < (-np.inf if lower is None else lower))
        expected_low = np.where(beyond, np.nan, clip(lo, lower, upper))
        expected_high = np.where(beyond, np.nan, clip(hi, lower, upper))
        np.testing.assert_allclose(sub["linear_low"][keep], expected_low[keep], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(sub["linear_high"][keep], expected_high[keep], rtol=1e-6, atol=1e-6)
        has_band = np.isfinite(expected_low)
        np.testing.assert_array_equal(sub["interval_level"][keep], np.where(has_band, 0.9, np.nan)[keep])
        assert (sub["no_band_reason"].isna() == sub["interval_level"].notna()).all()
        raw = ref["linear_raw"]
        outside = ((lower is not None) & (raw < (lower or 0))) | ((upper is not None) & (raw > (upper or 0)))
        np.testing.assert_array_equal(sub["linear_clipped"][keep], outside[keep])
        # Every printed forecast respects the bounds, and the point lies inside its band.
        for col in ("linear", "linear_low", "linear_high", "cagr"):
            v = sub[col].dropna()
            assert (v >= (-np.inf if lower is None else lower)).all() and (
                v <= (np.inf if upper is None else upper)
            ).all()
        band = sub["interval_level"].notna()
        assert (sub["linear_low"][band] <= sub["linear"][band] + 1e-9).all()
        assert (sub["linear"][band] <= sub["linear_high"][band] + 1e-9).all()
    assert isinstance(df, pd.DataFrame)
