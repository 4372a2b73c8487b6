"""Trend forecasts to the plan's milestone years (2025 and 2035) from observed (year, value) points.

Two simple models, shown side by side because neither is "right" for every indicator:

* **linear** — ordinary least squares ``value = a + b·year`` over all points, with a two-sided
  prediction interval (default 90 %) for a single future observation::

      ŷ(x0) ± t(1 − α/2; n − 2) · s · sqrt(1 + 1/n + (x0 − x̄)² / Sxx),   s² = SSE / (n − 2)

  The interval needs n ≥ 3 points (at least one residual degree of freedom); with 2 points the line
  is exact and no interval is given.
* **cagr** — compound annual growth from the **first to the last point** (by year), the same
  endpoint CAGR that Open SDG's progress measure uses (not a log-linear fit), extended from the last
  point: ``y_last · (1 + g) ** (x0 − x_last)`` with ``g = (y_last / y_first) ** (1 / (x_last − x_first)) − 1``.
  Defined only when both endpoint values are positive; otherwise NaN.

With fewer than two points in distinct years there is no trend: forecasts are None (NaN in the table).
Points with a NaN year or value are ignored. Years are calendar years; values keep their unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

DEFAULT_TO_YEARS = (2025, 2035)
#: Coverage of the linear model's prediction interval.
PREDICTION_LEVEL = 0.90


def _points(years, values) -> tuple[np.ndarray, np.ndarray]:
    x = np.atleast_1d(np.asarray(years, dtype=float))
    y = np.atleast_1d(np.asarray(values, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def _cagr_forecast(first_x, first_y, last_x, last_y, to):
    """Endpoint CAGR and its extension to ``to`` (broadcasting); NaN unless both ends are positive."""
    valid = (first_y > 0) & (last_y > 0) & (last_x > first_x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = np.where(valid, (last_y / first_y) ** (1.0 / (last_x - first_x)) - 1.0, np.nan)
        return g, last_y * (1.0 + g) ** (to - last_x)


def forecast_series(years, values, to_years=DEFAULT_TO_YEARS, level: float = PREDICTION_LEVEL) -> dict:
    """Forecast ONE series (a handful of points) to ``to_years``.

    Returns a dict:

    * ``n_points`` — usable points (finite year and value);
    * ``to_years`` — float array of the forecast years;
    * ``slope`` (unit per year), ``intercept`` — the OLS line (``numpy.polyfit``), or None;
    * ``linear`` — array of point forecasts, or None with fewer than 2 distinct years;
    * ``linear_low``, ``linear_high`` — arrays bounding the ``level`` prediction interval, or None
      with fewer than 3 points;
    * ``growth_rate`` — endpoint CAGR (fraction per year), NaN when an endpoint value is ≤ 0, or None;
    * ``cagr`` — array of CAGR forecasts (all NaN when ``growth_rate`` is NaN), or None.
    """
    x, y = _points(years, values)
    to = np.atleast_1d(np.asarray(to_years, dtype=float))
    n = len(x)
    out = {
        "n_points": n,
        "to_years": to,
        "slope": None,
        "intercept": None,
        "linear": None,
        "linear_low": None,
        "linear_high": None,
        "growth_rate": None,
        "cagr": None,
    }
    if n < 2 or np.ptp(x) == 0:
        return out

    slope, intercept = np.polyfit(x, y, 1)
    out.update(slope=float(slope), intercept=float(intercept), linear=slope * to + intercept)
    if n >= 3:
        resid = y - (slope * x + intercept)
        s = np.sqrt(np.sum(resid**2) / (n - 2))
        sxx = np.sum((x - x.mean()) ** 2)
        t = stats.t.ppf(0.5 + level / 2, n - 2)
        half = t * s * np.sqrt(1 + 1 / n + (to - x.mean()) ** 2 / sxx)
        out.update(linear_low=out["linear"] - half, linear_high=out["linear"] + half)

    # Stable sort: with two points in the first (last) year, the first (last) listed one is used.
    order = np.argsort(x, kind="stable")
    g, cagr = _cagr_forecast(x[order[0]], y[order[0]], x[order[-1]], y[order[-1]], to)
    out.update(growth_rate=float(g), cagr=np.broadcast_to(cagr, to.shape).copy())
    return out


def forecast_groups(
    group_ids, years, values, to_years=DEFAULT_TO_YEARS, level: float = PREDICTION_LEVEL
) -> pd.DataFrame:
    """:func:`forecast_series` for many series at once, without a Python loop over groups.

    ``group_ids``, ``years``, ``values`` are row arrays (long format, one row per observation). The OLS
    fit uses closed forms over per-group sums (``np.bincount``) of centred years, which keeps the
    numbers stable for calendar years. Returns one row per group × to_year, groups sorted, columns
    ``group, to_year, n_points, linear, linear_low, linear_high, cagr`` (NaN where
    :func:`forecast_series` gives None). Groups whose points are all NaN still appear, with n_points 0.
    """
    codes, groups = pd.factorize(pd.Series(np.atleast_1d(np.asarray(group_ids, dtype=object))), sort=True)
    x = np.atleast_1d(np.asarray(years, dtype=float))
    y = np.atleast_1d(np.asarray(values, dtype=float))
    to = np.atleast_1d(np.asarray(to_years, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y) & (codes >= 0)
    c, x, y = codes[ok], x[ok], y[ok]
    n_groups = len(groups)

    n = np.bincount(c, minlength=n_groups).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = np.bincount(c, x, minlength=n_groups) / n
        ybar = np.bincount(c, y, minlength=n_groups) / n
        dx, dy = x - xbar[c], y - ybar[c]
        sxx = np.bincount(c, dx * dx, minlength=n_groups)
        sxy = np.bincount(c, dx * dy, minlength=n_groups)
        syy = np.bincount(c, dy * dy, minlength=n_groups)
        fit = (n >= 2) & (sxx > 0)
        slope = np.where(fit, sxy / sxx, np.nan)
        # SSE = Syy − b·Sxy; clip the tiny negative values rounding can leave for exact fits.
        sse = np.maximum(syy - slope * sxy, 0.0)
        dof = np.where(fit & (n >= 3), n - 2, np.nan)
        s = np.sqrt(sse / dof)
        t = stats.t.ppf(0.5 + level / 2, dof)

        # Endpoints for the CAGR: sort by (group, year); lexsort is stable, like forecast_series.
        order = np.lexsort((x, c))
        cs = c[order]
        starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]]) if len(cs) else np.array([], dtype=int)
        ends = np.r_[starts[1:] - 1, len(cs) - 1] if len(cs) else np.array([], dtype=int)
        first_x, first_y, last_x, last_y = (np.full(n_groups, np.nan) for _ in range(4))
        first_x[cs[starts]], first_y[cs[starts]] = x[order][starts], y[order][starts]
        last_x[cs[ends]], last_y[cs[ends]] = x[order][ends], y[order][ends]

        # Cross every group with every forecast year: arrays of shape (groups, to_years).
        x0 = to[None, :]
        linear = ybar[:, None] + slope[:, None] * (x0 - xbar[:, None])
        half = (t * s)[:, None] * np.sqrt(1 + 1 / n[:, None] + (x0 - xbar[:, None]) ** 2 / sxx[:, None])
        _, cagr = _cagr_forecast(first_x[:, None], first_y[:, None], last_x[:, None], last_y[:, None], x0)

    return pd.DataFrame(
        {
            "group": np.repeat(np.asarray(groups, dtype=object), len(to)),
            "to_year": np.tile(np.atleast_1d(np.asarray(to_years)), n_groups),
            "n_points": np.repeat(n.astype(int), len(to)),
            "linear": linear.ravel(),
            "linear_low": (linear - half).ravel(),
            "linear_high": (linear + half).ravel(),
            "cagr": cagr.ravel(),
        }
    )
