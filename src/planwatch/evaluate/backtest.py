"""Back-test of the linear forecast: how good would past forecasts have been?

For every group and every observed year ``Y`` that has at least ``MIN_TREND_POINTS`` = 2 points in
years ``≤ Y − lag``, the value at ``Y`` is forecast from those points only (``origin_year`` is the
last year used) with exactly the model, rules and bounds of
:func:`planwatch.evaluate.forecast.forecast_groups`:

* the OLS line ``value = a + b·year``, extended to ``Y``, clipped into ``[lower, upper]``;
* its ``level`` prediction band ``ŷ(Y) ± t(1 − α/2; n − 2) · s · sqrt(1 + 1/n + (Y − x̄)² / Sxx)``,
  given only with at least ``MIN_BAND_POINTS`` = 4 points and not for an exact fit, edges clipped
  (and dropped when the band lies wholly beyond a bound).

and compared with the value actually observed at ``Y``:

* ``error = forecast − actual`` (positive: the forecast was too high);
* ``abs_pct_error = 100 · |error| / |actual|`` (per cent; NaN when actual is 0);
* ``in_band = low ≤ actual ≤ high`` (NA where there is no band).

Over many rows the share of ``in_band`` should be close to ``level`` if the band is honest (rows of
one series share points, so they are not independent).

Implementation: the finite points are joined with themselves within each group (every target row
with every earlier row of its group, Σ n² rows — small, the series are short); each (group, Y)
pair then becomes one pseudo-group of the vectorised fit, so there is no Python loop over pairs.
A (group, year) observed twice has no single actual value: ValueError.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planwatch.evaluate.forecast import (
    MIN_TREND_POINTS,
    PREDICTION_LEVEL,
    check_bounds,
    check_level,
    extend_groups,
    fit_groups,
    group_bounds,
    group_codes,
)

#: Columns of :func:`backtest`, in order.
COLUMNS = (
    "group", "year", "origin_year", "n_points", "method", "interval_level", "no_band_reason",
    "forecast", "low", "high", "clipped", "actual", "error", "abs_pct_error", "in_band",
)  # fmt: skip


def backtest(
    group_ids,
    years,
    values,
    lag: float = 2,
    lower=None,
    upper=None,
    level: float = PREDICTION_LEVEL,
) -> pd.DataFrame:
    """Forecast every observed year ``Y`` from the points in years ``≤ Y − lag`` and compare.

    ``group_ids``, ``years``, ``values`` are row arrays (long format); rows with a missing group,
    year or value are ignored. ``lag`` ≥ 1 (years between the last point used and the forecast year).
    ``lower``/``upper``: physical bounds as in :func:`~planwatch.evaluate.forecast.forecast_groups`
    (None, a scalar, or one value per row, constant within a group).

    Returns one row per (group, Y) with at least 2 usable earlier points, sorted by group and year;
    columns (:data:`COLUMNS`): ``group``, ``year`` (Y), ``origin_year`` (last year used),
    ``n_points`` (points used), ``method`` ("linear_ols"), ``interval_level`` (``level`` where there is
    a band, else NaN), ``no_band_reason`` (missing where there is a band, else "few_points",
    "exact_fit" or "beyond_bound", see :data:`~planwatch.evaluate.forecast.NO_BAND_ZH`),
    ``forecast`` (clipped), ``low``, ``high`` (clipped band, NaN without one),
    ``clipped`` (the forecast was clipped to a bound), ``actual``, ``error`` (forecast − actual),
    ``abs_pct_error`` (per cent, NaN when actual is 0), ``in_band`` (pandas boolean, NA without a band).
    A group with fewer than 2 points before its last year − lag has no row.
    """
    check_level(level)
    if not lag >= 1:
        raise ValueError(f"lag must be at least 1 year (a forecast may not see its own year), got {lag!r}")
    codes, groups = group_codes(group_ids)
    year_in = np.atleast_1d(np.asarray(years))
    x = year_in.astype(float)
    y = np.atleast_1d(np.asarray(values, dtype=float))
    lo = group_bounds(lower, codes, groups, "lower")
    up = group_bounds(upper, codes, groups, "upper")
    check_bounds(lo, up, groups)

    ok = np.isfinite(x) & np.isfinite(y) & (codes >= 0)
    pts = pd.DataFrame({"c": codes[ok], "x": x[ok], "y": y[ok]})
    dup = pts.duplicated(["c", "x"], keep=False)
    if dup.any():
        first = pts[dup].iloc[0]
        raise ValueError(
            f"group {groups[int(first.c)]!r} has more than one value in year {first.x:g}: "
            "a back-test needs one actual value per (group, year)"
        )
    pts = pts.sort_values(["c", "x"], ignore_index=True)

    # Every target row t with every row p of its group that is at least `lag` years older.
    pairs = pts.reset_index(names="t").merge(pts, on="c", suffixes=("", "_p"))
    pairs = pairs[pairs["x_p"] <= pairs["x"] - lag]
    targets = pairs["t"].to_numpy()
    used = np.unique(targets)
    pseudo = np.searchsorted(used, targets)  # pseudo-group per pair: its target row
    fit = fit_groups(pseudo, pairs["x_p"].to_numpy(), pairs["y_p"].to_numpy(), len(used), level)
    keep = fit["n"] >= MIN_TREND_POINTS  # distinct years guaranteed: duplicates were refused above
    tgt = pts.iloc[used[keep]]
    c = tgt["c"].to_numpy()
    fit = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in fit.items()}
    ext = extend_groups(fit, tgt["x"].to_numpy()[:, None], lo[c], up[c])
    ext = {k: v[:, 0] for k, v in ext.items()}

    actual = tgt["y"].to_numpy()
    error = ext["linear"] - actual
    with np.errstate(divide="ignore", invalid="ignore"):
        abs_pct = np.where(actual != 0, 100 * np.abs(error) / np.abs(actual), np.nan)
    band = np.isfinite(ext["interval_level"])
    in_band = pd.array((ext["linear_low"] <= actual) & (actual <= ext["linear_high"]), dtype="boolean")
    in_band[~band] = pd.NA
    year_dtype = year_in.dtype if np.issubdtype(year_in.dtype, np.number) else float
    return pd.DataFrame(
        {
            "group": np.asarray(groups, dtype=object)[c],
            "year": tgt["x"].to_numpy().astype(year_dtype),
            "origin_year": fit["last_x"].astype(year_dtype),
            "n_points": fit["n"].astype(int),
            "method": ext["method"],
            "interval_level": ext["interval_level"],
            "no_band_reason": ext["no_band_reason"],
            "forecast": ext["linear"],
            "low": ext["linear_low"],
            "high": ext["linear_high"],
            "clipped": ext["linear_clipped"],
            "actual": actual,
            "error": error,
            "abs_pct_error": abs_pct,
            "in_band": in_band,
        },
        columns=list(COLUMNS),
    )
