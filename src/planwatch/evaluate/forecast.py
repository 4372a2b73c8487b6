"""Trend forecasts to the plan's milestone years (2025 and 2035) from observed (year, value) points.

Two simple models, shown side by side because neither is "right" for every indicator:

* **linear** (method ``"linear_ols"``) — ordinary least squares ``value = a + b·year`` over all
  points, with a two-sided prediction interval (default 90 %) for a single future observation::

      ŷ(x0) ± t(1 − α/2; n − 2) · s · sqrt(1 + 1/n + (x0 − x̄)² / Sxx),   s² = SSE / (n − 2)

  The band assumes independent normal errors around a straight line; it does not cover the risk
  that the trend itself bends. A band is given only when it rests on enough data:

  - at least ``MIN_BAND_POINTS`` = 4 points (2 residual degrees of freedom). With 3 points s rests
    on one residual and t(0.95; 1) = 6.31, so such a "band" says nothing;
  - the points do not lie exactly on the line (``SSE > EXACT_FIT_TOLERANCE · Syy``, with
    ``EXACT_FIT_TOLERANCE`` = 1e-10, Syy = Σ(y − ȳ)²). An exact fit leaves no scatter to
    estimate s from, and a zero-width band would claim a certainty the data do not give.

  With 2 or 3 points (or an exact fit) the line is given without a band; the band columns are NaN
  (None in :func:`forecast_series`) and ``interval_level`` is NaN.
* **cagr** — compound annual growth from the **first to the last point** (by year), the same
  endpoint CAGR that Open SDG's progress measure uses (not a log-linear fit), extended from the last
  point: ``y_last · (1 + g) ** (x0 − x_last)`` with ``g = (y_last / y_first) ** (1 / (x_last − x_first)) − 1``.
  Defined only when both endpoint values are positive; otherwise NaN. It has no band.

With fewer than ``MIN_TREND_POINTS`` = 2 points in distinct years there is no trend: no forecast
(None, NaN in the table) and no method. Points with a NaN year or value are ignored. Years are
calendar years; values keep their unit.

**Physical bounds.** A series may carry a ``lower`` and an ``upper`` bound (0 for concentrations,
areas and counts; 0 and 100 for shares in %; NaN or None for "unbounded"). The point forecasts of
both models and both band edges are clipped into ``[lower, upper]``:
``clipped = min(max(raw, lower), upper)``. The unclipped values are kept (``linear_raw``,
``cagr_raw``) and flags say what was clipped (``linear_clipped``, ``cagr_clipped``,
``band_clipped``), so a reader can be told "趋势外推为−22.3，按物理下限取0". Clipping an edge never
lowers the band's coverage: a future value that respects the bounds and lies in the raw band also
lies in the clipped one. A band lying **wholly** beyond a bound (low > upper or high < lower) is
dropped instead, for that forecast year: the line contradicts the bound there, the raw band cannot
contain any possible value, and a band collapsed onto the bound would claim certainty. Such a
forecast has ``band_clipped`` True, NaN band and NaN ``interval_level``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

DEFAULT_TO_YEARS = (2025, 2035)
#: Coverage of the linear model's prediction interval.
PREDICTION_LEVEL = 0.90
#: The ``method`` of the linear forecast (and its band).
LINEAR_METHOD = "linear_ols"
#: Fewest points (in at least two distinct years) that give a trend line and a CAGR.
MIN_TREND_POINTS = 2
#: Fewest points that give a prediction band.
MIN_BAND_POINTS = 4
#: No band when SSE ≤ EXACT_FIT_TOLERANCE · Syy: the points lie on the line (to rounding).
EXACT_FIT_TOLERANCE = 1e-10

#: Why a forecast has no band (``no_band_reason``), first rule that applies wins, in Chinese for the report.
NO_BAND_ZH = {
    "no_trend": "不足2个不同年份的数据点，无趋势",
    "few_points": f"数据点不足{MIN_BAND_POINTS}个，不给预测区间",
    "exact_fit": "数据点恰在一条直线上，无从估计波动，不给预测区间",
    "beyond_bound": "预测区间整体超出物理界限，线性趋势在该年不成立，不给预测区间",
}

#: Columns of :func:`forecast_groups`, in order.
COLUMNS = (
    "group", "to_year", "n_points", "method", "interval_level", "no_band_reason",
    "linear", "linear_low", "linear_high", "cagr",
    "linear_raw", "linear_clipped", "band_clipped", "cagr_raw", "cagr_clipped",
)  # fmt: skip


def _cagr_forecast(first_x, first_y, last_x, last_y, to):
    """Endpoint CAGR and its extension to ``to`` (broadcasting); NaN unless both ends are positive."""
    valid = (first_y > 0) & (last_y > 0) & (last_x > first_x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = np.where(valid, (last_y / first_y) ** (1.0 / (last_x - first_x)) - 1.0, np.nan)
        return g, last_y * (1.0 + g) ** (to - last_x)


def check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")


def group_codes(group_ids) -> tuple[np.ndarray, pd.Index]:
    """Integer code per row (−1 for a missing id) and the sorted distinct group ids."""
    return pd.factorize(pd.Series(np.atleast_1d(np.asarray(group_ids, dtype=object))), sort=True)


def group_bounds(bound, codes: np.ndarray, groups: pd.Index, name: str) -> np.ndarray:
    """One bound per group from ``bound``: None (unbounded), a scalar (every group) or an array with
    one value per row. A row-aligned bound must be the same on every row of a group (it is a property
    of the series, e.g. of its unit); NaN means unbounded. Raises ValueError otherwise."""
    n_groups = len(groups)
    if bound is None:
        return np.full(n_groups, np.nan)
    b = np.asarray(bound, dtype=float)
    if b.ndim == 0:
        return np.full(n_groups, float(b))
    if b.shape != codes.shape:
        raise ValueError(
            f"{name}: expected None, a scalar or one value per row ({len(codes)}), got shape {b.shape}"
        )
    rows = np.flatnonzero(codes >= 0)
    c, b = codes[rows], b[rows]
    per_group = np.full(n_groups, np.nan)
    _, first = np.unique(c, return_index=True)  # the first row of each group, groups in code order
    per_group[c[first]] = b[first]
    same = (b == per_group[c]) | (np.isnan(b) & np.isnan(per_group[c]))
    if not same.all():
        bad = np.flatnonzero(~same)[0]
        raise ValueError(
            f"{name} must be the same on every row of a group: group {groups[c[bad]]!r} has "
            f"{per_group[c[bad]]} and {b[bad]}"
        )
    return per_group


def check_bounds(lower: np.ndarray, upper: np.ndarray, groups: pd.Index) -> None:
    bad = np.flatnonzero(lower > upper)
    if len(bad):
        i = bad[0]
        raise ValueError(f"group {groups[i]!r}: lower bound {lower[i]} is above upper bound {upper[i]}")


def fit_groups(c: np.ndarray, x: np.ndarray, y: np.ndarray, n_groups: int, level: float) -> dict:
    """Per-group OLS line, band scale and CAGR endpoints from finite points ``(c, x, y)`` (codes in
    ``0 … n_groups − 1``), all with closed forms over per-group sums (``np.bincount``) of centred
    years, which keeps the numbers stable for calendar years. Every array has one entry per group."""
    n = np.bincount(c, minlength=n_groups).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = np.bincount(c, x, minlength=n_groups) / n
        ybar = np.bincount(c, y, minlength=n_groups) / n
        dx, dy = x - xbar[c], y - ybar[c]
        sxx = np.bincount(c, dx * dx, minlength=n_groups)
        sxy = np.bincount(c, dx * dy, minlength=n_groups)
        syy = np.bincount(c, dy * dy, minlength=n_groups)
        trend = (n >= MIN_TREND_POINTS) & (sxx > 0)
        slope = np.where(trend, sxy / sxx, np.nan)
        # SSE from the residuals themselves (not Syy − b·Sxy), so an exact fit gives ~0, not noise.
        sse = np.bincount(c, (dy - slope[c] * dx) ** 2, minlength=n_groups)
        band = trend & (n >= MIN_BAND_POINTS) & (sse > EXACT_FIT_TOLERANCE * syy)
        dof = np.where(band, n - 2, np.nan)
        scale = stats.t.ppf(0.5 + level / 2, dof) * np.sqrt(sse / dof)  # t · s, NaN without a band

    # Endpoints for the CAGR: sort by (group, year); lexsort is stable, so with two points in the
    # first (last) year the first (last) listed one is used.
    order = np.lexsort((x, c))
    cs, xs, ys = c[order], x[order], y[order]
    starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]]) if len(cs) else np.array([], dtype=int)
    ends = np.r_[starts[1:] - 1, len(cs) - 1] if len(cs) else np.array([], dtype=int)
    first_x, first_y, last_x, last_y = (np.full(n_groups, np.nan) for _ in range(4))
    first_x[cs[starts]], first_y[cs[starts]] = xs[starts], ys[starts]
    last_x[cs[ends]], last_y[cs[ends]] = xs[ends], ys[ends]
    growth, _ = _cagr_forecast(first_x, first_y, last_x, last_y, last_x)
    return {
        "n": n, "xbar": xbar, "ybar": ybar, "sxx": sxx, "slope": slope, "trend": trend, "band": band,
        "scale": scale, "first_x": first_x, "first_y": first_y, "last_x": last_x, "last_y": last_y,
        "growth": growth, "level": level,
    }  # fmt: skip


def _clip(raw: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``raw`` clipped into ``[lower, upper]`` (NaN bound = unbounded; NaN stays NaN), and the flag."""
    below, above = raw < lower, raw > upper
    return np.where(below, lower, np.where(above, upper, raw)), below | above


def extend_groups(fit: dict, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> dict:
    """Both models of every group at years ``x0`` (shape ``(groups, k)`` or broadcastable to it),
    bounded by the per-group ``lower`` and ``upper``. Returns arrays of shape ``(groups, k)``."""
    col = {k: v[:, None] for k, v in fit.items() if isinstance(v, np.ndarray)}
    lo, up = lower[:, None], upper[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        linear_raw = col["ybar"] + col["slope"] * (x0 - col["xbar"])
        half = col["scale"] * np.sqrt(1 + 1 / col["n"] + (x0 - col["xbar"]) ** 2 / col["sxx"])
        _, cagr_raw = _cagr_forecast(col["first_x"], col["first_y"], col["last_x"], col["last_y"], x0)
    linear_raw, half, cagr_raw = np.broadcast_arrays(linear_raw, half, cagr_raw)
    linear, linear_clipped = _clip(linear_raw, lo, up)
    low_raw, high_raw = linear_raw - half, linear_raw + half
    low, low_clipped = _clip(low_raw, lo, up)
    high, high_clipped = _clip(high_raw, lo, up)
    cagr, cagr_clipped = _clip(cagr_raw, lo, up)
    fitted_band = np.broadcast_to(col["band"], linear.shape)
    # A band wholly beyond a bound would collapse onto it and claim certainty: it is dropped.
    band = fitted_band & ~((low_raw > up) | (high_raw < lo))
    no_band = np.full(linear.shape, None, dtype=object)  # later rules override earlier ones
    no_band[~band] = "beyond_bound"
    no_band[~fitted_band] = "exact_fit"
    no_band[np.broadcast_to(col["n"] < MIN_BAND_POINTS, linear.shape)] = "few_points"
    no_band[~np.broadcast_to(col["trend"], linear.shape)] = "no_trend"
    return {
        "method": np.where(np.broadcast_to(col["trend"], linear.shape), LINEAR_METHOD, None).astype(object),
        "interval_level": np.where(band, fit["level"], np.nan),
        "no_band_reason": no_band,
        "linear": linear,
        "linear_low": np.where(band, low, np.nan),
        "linear_high": np.where(band, high, np.nan),
        "cagr": cagr,
        "linear_raw": linear_raw,
        "linear_clipped": linear_clipped,
        "band_clipped": fitted_band & (low_clipped | high_clipped),
        "cagr_raw": cagr_raw,
        "cagr_clipped": cagr_clipped,
    }


def forecast_series(
    years,
    values,
    to_years=DEFAULT_TO_YEARS,
    level: float = PREDICTION_LEVEL,
    lower: float | None = None,
    upper: float | None = None,
) -> dict:
    """Forecast ONE series (a handful of points) to ``to_years``, with the rules of
    :func:`forecast_groups` (it runs the same code on a single group).

    ``lower`` and ``upper`` are the series' physical bounds (None = unbounded). Returns a dict:

    * ``n_points`` — usable points (finite year and value);
    * ``to_years`` — float array of the forecast years;
    * ``method`` — ``"linear_ols"``, or None without a trend;
    * ``interval_level`` — array over ``to_years``: ``level`` where there is a band, else NaN;
    * ``no_band_reason`` — array over ``to_years``: None where there is a band, else why not (the
      codes of :data:`NO_BAND_ZH`);
    * ``slope`` (unit per year), ``intercept`` (value at year 0) — the OLS line, or None;
    * ``linear`` — array of point forecasts, clipped into the bounds, or None with fewer than 2
      points in distinct years; ``linear_raw`` the same before clipping; ``linear_clipped`` a boolean
      array (True where the clip changed the forecast);
    * ``linear_low``, ``linear_high`` — arrays bounding the ``level`` prediction interval, clipped
      into the bounds (NaN for a year whose band lies wholly beyond a bound), or None without a band
      (fewer than 4 points, or an exact fit); ``band_clipped`` — boolean array (True where an edge
      was clipped or the band dropped for lying beyond a bound), or None without a band;
    * ``growth_rate`` — endpoint CAGR (fraction per year), NaN when an endpoint value is ≤ 0, or None;
    * ``cagr`` — array of CAGR forecasts clipped into the bounds (all NaN when ``growth_rate`` is NaN),
      or None; ``cagr_raw`` before clipping; ``cagr_clipped`` boolean array.
    """
    check_level(level)
    x = np.atleast_1d(np.asarray(years, dtype=float))
    y = np.atleast_1d(np.asarray(values, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    to = np.atleast_1d(np.asarray(to_years, dtype=float))
    lo = np.array([np.nan if lower is None else float(lower)])
    up = np.array([np.nan if upper is None else float(upper)])
    check_bounds(lo, up, pd.Index(["series"]))
    fit = fit_groups(np.zeros(len(x), dtype=np.intp), x, y, 1, level)
    ext = {k: v[0] for k, v in extend_groups(fit, to[None, :], lo, up).items()}
    out = {
        "n_points": len(x),
        "to_years": to,
        "method": None,
        "interval_level": ext["interval_level"],
        "no_band_reason": ext["no_band_reason"],
        "slope": None,
        "intercept": None,
        "linear": None,
        "linear_raw": None,
        "linear_clipped": None,
        "linear_low": None,
        "linear_high": None,
        "band_clipped": None,
        "growth_rate": None,
        "cagr": None,
        "cagr_raw": None,
        "cagr_clipped": None,
    }
    if not fit["trend"][0]:
        return out
    slope = float(fit["slope"][0])
    out.update(
        method=LINEAR_METHOD,
        slope=slope,
        intercept=float(fit["ybar"][0] - slope * fit["xbar"][0]),
        growth_rate=float(fit["growth"][0]),
        **{k: ext[k] for k in ("linear", "linear_raw", "linear_clipped", "cagr", "cagr_raw", "cagr_clipped")},
    )
    if fit["band"][0]:
        out.update({k: ext[k] for k in ("linear_low", "linear_high", "band_clipped")})
    return out


def forecast_groups(
    group_ids,
    years,
    values,
    to_years=DEFAULT_TO_YEARS,
    level: float = PREDICTION_LEVEL,
    lower=None,
    upper=None,
) -> pd.DataFrame:
    """:func:`forecast_series` for many series at once, without a Python loop over groups.

    ``group_ids``, ``years``, ``values`` are row arrays (long format, one row per observation).
    ``lower`` and ``upper`` are the physical bounds: None (unbounded), a scalar for every group, or
    an array aligned with the rows — the natural form next to a long table with a unit column. A
    row-aligned bound is a property of the series, so it must be the same on every row of a group
    (ValueError otherwise, and when lower > upper); NaN means unbounded.

    Returns one row per group × to_year, groups sorted, columns (:data:`COLUMNS`):

    * ``group``, ``to_year``, ``n_points`` (usable points; groups whose points are all NaN still
      appear, with n_points 0 and no forecast);
    * ``method`` — ``"linear_ols"`` for the linear columns, missing (NaN) without a trend (< 2 points);
    * ``interval_level`` — ``level`` where there is a band (≥ 4 points, not an exact fit, not wholly
      beyond a bound), else NaN;
    * ``no_band_reason`` — missing where there is a band, else why not: ``"no_trend"`` (fewer than 2
      points in distinct years), ``"few_points"`` (fewer than 4 points), ``"exact_fit"``,
      ``"beyond_bound"`` (the band lies wholly beyond a bound in that year); :data:`NO_BAND_ZH`
      words them in Chinese;
    * ``linear``, ``linear_low``, ``linear_high`` — point forecast and band, clipped into the bounds;
      NaN where there is no trend / no band;
    * ``cagr`` — endpoint-CAGR forecast, clipped into the bounds;
    * ``linear_raw``, ``cagr_raw`` — the forecasts before clipping;
    * ``linear_clipped``, ``cagr_clipped``, ``band_clipped`` — booleans, True where clipping changed
      the forecast or an edge of the band, or the band was dropped for lying wholly beyond a bound
      (False where there is nothing to clip).
    """
    check_level(level)
    codes, groups = group_codes(group_ids)
    x = np.atleast_1d(np.asarray(years, dtype=float))
    y = np.atleast_1d(np.asarray(values, dtype=float))
    to = np.atleast_1d(np.asarray(to_years, dtype=float))
    lo = group_bounds(lower, codes, groups, "lower")
    up = group_bounds(upper, codes, groups, "upper")
    check_bounds(lo, up, groups)
    ok = np.isfinite(x) & np.isfinite(y) & (codes >= 0)
    n_groups = len(groups)
    fit = fit_groups(codes[ok], x[ok], y[ok], n_groups, level)
    ext = extend_groups(fit, np.broadcast_to(to[None, :], (n_groups, len(to))), lo, up)
    return pd.DataFrame(
        {
            "group": np.repeat(np.asarray(groups, dtype=object), len(to)),
            "to_year": np.tile(np.atleast_1d(np.asarray(to_years)), n_groups),
            "n_points": np.repeat(fit["n"].astype(int), len(to)),
            **{k: v.ravel() for k, v in ext.items()},
        },
        columns=list(COLUMNS),
    )
