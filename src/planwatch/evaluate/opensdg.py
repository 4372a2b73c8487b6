"""The Open SDG progress measure (Statistics Canada's methodology), vectorised.

Sources followed, both read in full:

* open-sdg/open-sdg ``docs/progress-methodology.md`` ("Progress Measurement Methodology for the
  Sustainable Development Goals"; ``docs/progress.md`` points to it), and
* open-sdg/sdg-build ``sdg/ProgressMeasure.py`` (``SeriesProgress``, ``growth_calculation``,
  ``get_progress_status``, ``get_score``), which is what Open SDG ≥ 2.4.0 runs. Where the prose and
  the code differ in detail, this module follows the code.

Definition
----------
Observed compound annual growth between the base year t0 and the latest year ti::

    CAGR_i = (y_i / y_0) ** (1 / (t_i − t_0)) − 1

**With a quantitative target** y_T in year t_T the growth required to reach it on time is
``CAGR_T = (y_T / y_0) ** (1 / (t_T − t_0)) − 1`` and the progress value is the ratio::

    R = s · d · CAGR_i / |CAGR_T|

with d = +1 when higher is better ("positive") and −1 when lower is better ("negative"), and
s = −1 when the base value is negative (an all-negative series flips the direction), else +1.
The doc's table: *"Target is achieved → Target achieved; R ≥ 95% → On track; 60% ≤ R < 95% →
Progress made but acceleration needed; 0% ≤ R < 60% → Limited progress; R < 0% → Deterioration"*
(code: ``{'high': 0.95, 'med': 0.6, 'low': 0}``). "Target achieved" means the latest value is at or
beyond the target on the desired side (``d = −1 and y_i <= y_T`` or ``d = +1 and y_i >= y_T``); it
wins over the ratio, whatever the trend.

**Without a target** the progress value is the directed growth ``s · d · CAGR_i``, compared with
fixed growth rates: *"CAGR ≥ 1.5% C → On track; 0.5% C ≤ CAGR < 1.5% C → Progress made but
acceleration needed; 0% ≤ CAGR < 0.5% C → Limited progress; CAGR < 0% → Deterioration"* (code:
``{'high': 0.015, 'med': 0.005, 'low': 0}``). C is a scaling factor in (0, 1] used only for
indicators with a natural limit y_lim (e.g. 100 %), see :func:`limit_coefficient`; C = 1 otherwise.
(The 0.01 / 0 / −0.01 thresholds that circulate come from an early draft, sdg-build
``tests/ProgressMeasure_test.py``, with other category names; the released code uses the above.)

Category names are the values Open SDG writes (``docs/progress.md``, "progress statuses available
out-of-the-box"): ``target_achieved``, ``substantial_progress`` (shown as "On track"),
``moderate_progress`` ("Progress made but acceleration needed"), ``limited_progress``,
``deterioration``, and ``not_available`` ("Unable to assess": fewer than two years, base and latest
values of opposite signs, a base year after the latest year, or missing inputs).

Rules carried over from the code: a target or base value of exactly 0 is replaced by 0.001 (the
exponential model cannot start from or aim at 0); the base year defaults to 2015 and, when the series
has no value in it, the first later year with data is used (:func:`series_ends`); the target year
defaults to 2030. The score (−5…+5) is Open SDG's linear transform used to aggregate several series.

Deliberate differences: Open SDG treats any direction other than "positive" as negative; here only
the recognised words count and anything else (e.g. "maintain", "none") gives ``not_available``,
because silently assuming "lower is better" would misjudge a 稳定/maintain indicator. A target year
not after the base year, or a target on the other side of zero from the base, gives a NaN required
growth instead of a division by zero / complex number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planwatch.evaluate.labels import normalise_labels

#: Thresholds on R = observed / required growth, with a target (Open SDG 'high', 'med', 'low').
RATIO_HIGH, RATIO_MED, RATIO_LOW = 0.95, 0.6, 0.0
#: Thresholds on the directed CAGR (fraction per year), without a target, before scaling by C.
CAGR_HIGH, CAGR_MED, CAGR_LOW = 0.015, 0.005, 0.0
#: Stand-in for a base or target value of exactly 0.
ZERO_REPLACEMENT = 0.001
DEFAULT_BASE_YEAR = 2015
DEFAULT_TARGET_YEAR = 2030
#: Exponent "a" of the natural-limit scaling factor C (sdg-build ``get_progress_thresholds``).
LIMIT_EXPONENT = 4.44

TARGET_ACHIEVED = "target_achieved"
SUBSTANTIAL_PROGRESS = "substantial_progress"
MODERATE_PROGRESS = "moderate_progress"
LIMITED_PROGRESS = "limited_progress"
DETERIORATION = "deterioration"
NOT_AVAILABLE = "not_available"

#: Open SDG category → planwatch level. Open SDG draws limited progress orange; we have no orange.
LEVEL_OF_CATEGORY = {
    TARGET_ACHIEVED: "green",
    SUBSTANTIAL_PROGRESS: "green",
    MODERATE_PROGRESS: "yellow",
    LIMITED_PROGRESS: "red",
    DETERIORATION: "red",
    NOT_AVAILABLE: "grey",
}

_POSITIVE = ("positive", "increase", "higher")
_NEGATIVE = ("negative", "decrease", "lower")


@dataclass(frozen=True)
class OpenSdgProgress:
    """Per-row results of :func:`progress_measure` (growth rates are fractions per year: 0.02 = 2 %/yr)."""

    cagr_observed: np.ndarray  # CAGR_i from base to latest year; NaN when not computable
    cagr_required: np.ndarray  # CAGR_T from base to target; NaN without a target
    ratio: np.ndarray  # R = s·d·CAGR_i/|CAGR_T|; NaN without a target
    progress_value: np.ndarray  # what the thresholds judge: R with a target, s·d·CAGR_i without
    target_achieved: np.ndarray  # bool
    score: np.ndarray  # Open SDG score in [−5, 5] (5 when the target is achieved); NaN if not available
    category: np.ndarray  # Open SDG status string (see module docstring)
    level: np.ndarray  # "green" / "yellow" / "red" / "grey"


@dataclass(frozen=True)
class SeriesEnds:
    """Base and latest observation of each series, chosen by Open SDG's base-year rule."""

    group: np.ndarray  # the distinct group ids, sorted
    base_year: np.ndarray  # configured base year if observed, else the first later observed year; NaN if none
    base_value: np.ndarray
    year: np.ndarray  # latest observed year
    value: np.ndarray


def _floats(*arrays) -> list[np.ndarray]:
    as_float = [np.asarray(a, dtype=float) for a in arrays]
    return [np.atleast_1d(a) for a in np.broadcast_arrays(*as_float)]


def direction_sign(direction) -> np.ndarray:
    """+1 for "positive"/"increase"/"higher", −1 for "negative"/"decrease"/"lower", NaN otherwise."""
    d = np.asarray(direction, dtype=object)
    d = normalise_labels(d)
    return np.atleast_1d(np.select([np.isin(d, _POSITIVE), np.isin(d, _NEGATIVE)], [1.0, -1.0], np.nan))


def growth(value, base_value, year, base_year) -> np.ndarray:
    """Compound annual growth rate ``(value/base_value) ** (1/(year − base_year)) − 1``.

    NaN where the years coincide or the two values have opposite signs (no real root).
    """
    v, b, y, by = _floats(value, base_value, year, base_year)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = v / b
        out = np.power(q, 1.0 / (y - by)) - 1.0
    return np.where((y != by) & (q >= 0), out, np.nan)


def limit_coefficient(base_value, limit) -> np.ndarray:
    """Open SDG's scaling factor C for the no-target thresholds near a natural limit.

    With b = |base_value|, L = |limit| and a = 4.44: C = 1 when b ≥ 2L; C = 1 − (b/L)^a when b ≤ L;
    C = 1 − ((2L − b)/L)^a in between. C = 1 where ``limit`` is NaN (no limit). C is 0 when the base
    sits exactly on the limit, which makes any non-negative growth "substantial progress".
    """
    b, lim = _floats(base_value, limit)
    b, lim = np.abs(b), np.abs(lim)
    with np.errstate(divide="ignore", invalid="ignore"):
        below = 1.0 - (b / lim) ** LIMIT_EXPONENT
        between = 1.0 - ((2.0 * lim - b) / lim) ** LIMIT_EXPONENT
    # b >= 2L is tested first so that b = L = 0 gives 1, as in sdg-build.
    c = np.select([b >= 2.0 * lim, b <= lim], [1.0, below], between)
    return np.where(np.isnan(lim), 1.0, np.where(np.isnan(b), np.nan, c))


def _score(pv, has_target, coeff, high, med, low) -> np.ndarray:
    """Open SDG ``get_score``: linear pieces mapping the progress value to [−5, 5]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        quantitative = np.where(
            pv >= RATIO_MED, np.minimum(7.1429 * pv - 4.2857, 5.0), np.maximum(4.1667 * pv - 2.5, -5.0)
        )
        qualitative = np.select(
            [pv < low, coeff == 0, pv >= high, pv >= med],
            [
                np.maximum(125 * pv - 2.5, -5.0),
                5.0,
                np.minimum(500 * pv / coeff - 5, 5.0),
                250 * pv / coeff - 1.25,
            ],
            500 * pv / coeff - 2.5,
        )
    return np.where(np.isfinite(pv), np.where(has_target, quantitative, qualitative), np.nan)


def progress_measure(
    base_year,
    base_value,
    year,
    value,
    target_year=np.nan,
    target_value=np.nan,
    direction="positive",
    limit=np.nan,
) -> OpenSdgProgress:
    """Open SDG progress category for each row (one row = one series: base point and latest point).

    * ``base_year``/``base_value`` — the base observation (pick it with :func:`series_ends` to apply the
      "2015 or the first later year with data" rule);
    * ``year``/``value`` — the latest observation;
    * ``target_year``/``target_value`` — NaN target = no quantitative target (the fixed-CAGR variant);
      a NaN target year with a target defaults to 2030;
    * ``direction`` — "positive"/"increase"/"higher" or "negative"/"decrease"/"lower";
    * ``limit`` — natural limit for the no-target variant (e.g. 100 for a percentage); NaN = none.

    Units: values in any unit, the same for base, latest, target and limit; years in calendar years.
    """
    by, bv, y, v, ty, tv, lim, d = _floats(
        base_year, base_value, year, value, target_year, target_value, limit, direction_sign(direction)
    )

    has_target = np.isfinite(tv)
    ty = np.where(has_target & np.isnan(ty), DEFAULT_TARGET_YEAR, ty)
    # The exponential model cannot start from or aim at 0 (sdg-build replaces both with 0.001).
    tv = np.where(tv == 0, ZERO_REPLACEMENT, tv)
    coeff = np.where(has_target, 1.0, limit_coefficient(bv, lim))  # from the unreplaced base, as sdg-build
    bv = np.where(bv == 0, ZERO_REPLACEMENT, bv)
    s = np.where(bv < 0, -1.0, 1.0)

    achieved = has_target & (((d == -1) & (v <= tv)) | ((d == 1) & (v >= tv)))

    opposite = ((bv > 0) & (v < 0)) | ((bv < 0) & (v > 0))
    usable = np.isfinite(by) & np.isfinite(bv) & np.isfinite(y) & np.isfinite(v) & np.isfinite(d)
    usable &= ~opposite & (y - by >= 1)  # at least two years of data, base before latest
    cagr_o = np.where(usable, growth(v, bv, y, by), np.nan)
    cagr_r = np.where(has_target & (ty > by), growth(tv, bv, ty, by), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        # |CAGR_T| = 0 (target equal to base, not yet achieved) gives ±inf: the sign still says which way.
        ratio = np.where(has_target, s * d * cagr_o / np.abs(cagr_r), np.nan)
    progress_value = np.where(has_target, ratio, s * d * cagr_o)

    high = np.where(has_target, RATIO_HIGH, CAGR_HIGH * coeff)
    med = np.where(has_target, RATIO_MED, CAGR_MED * coeff)
    low = np.where(has_target, RATIO_LOW, CAGR_LOW * coeff)
    pv = progress_value
    category = np.select(
        [achieved, np.isnan(pv), pv >= high, pv >= med, pv >= low],
        [TARGET_ACHIEVED, NOT_AVAILABLE, SUBSTANTIAL_PROGRESS, MODERATE_PROGRESS, LIMITED_PROGRESS],
        DETERIORATION,
    )
    score = np.where(achieved, 5.0, _score(pv, has_target, coeff, high, med, low))
    return OpenSdgProgress(
        cagr_observed=cagr_o,
        cagr_required=cagr_r,
        ratio=ratio,
        progress_value=progress_value,
        target_achieved=achieved,
        score=score,
        category=category,
        level=category_level(category),
    )


def category_level(category) -> np.ndarray:
    """Map Open SDG categories to planwatch levels (unknown strings → "")."""
    c = np.atleast_1d(np.asarray(category, dtype=object)).astype(str)
    keys = list(LEVEL_OF_CATEGORY)
    return np.select([c == k for k in keys], [LEVEL_OF_CATEGORY[k] for k in keys], "").astype("<U6")


def series_ends(group, year, value, base_year=DEFAULT_BASE_YEAR) -> SeriesEnds:
    """Pick each series' base and latest observation the way Open SDG does.

    ``group``, ``year``, ``value`` are row arrays (long format; ``group`` any sortable ids, e.g. strings);
    ``base_year`` is a scalar or a per-row array (the configured base year, default 2015). Rows with a
    NaN year or value are ignored, as Open SDG drops NA values. The latest observation is the row with
    the greatest year; the base is the row in ``base_year`` if there is one, else the first later year
    with data (earlier years are never used). A series with no year at or after its base year gets
    NaN base year and value. If a year occurs twice in a series, the later row wins (Open SDG refuses
    such data; deduplicate before calling if that matters).
    """
    numbers = (np.asarray(a, dtype=float) for a in (year, value, base_year))
    g, yr, val, cfg = (np.atleast_1d(a) for a in np.broadcast_arrays(np.asarray(group), *numbers))
    groups, codes = np.unique(g, return_inverse=True)
    codes = codes.reshape(-1)
    n = len(groups)
    ok = np.isfinite(yr) & np.isfinite(val)

    latest_year = np.full(n, -np.inf)
    np.maximum.at(latest_year, codes[ok], yr[ok])
    cand = ok & (yr >= cfg)
    base = np.full(n, np.inf)
    np.minimum.at(base, codes[cand], yr[cand])
    latest_year[np.isinf(latest_year)] = np.nan
    base[np.isinf(base)] = np.nan

    latest_value = np.full(n, np.nan)
    hit = ok & (yr == latest_year[codes])
    latest_value[codes[hit]] = val[hit]
    base_value = np.full(n, np.nan)
    hit = cand & (yr == base[codes])
    base_value[codes[hit]] = val[hit]
    return SeriesEnds(
        group=groups, base_year=base, base_value=base_value, year=latest_year, value=latest_value
    )
