"""Time progress (任务进度 vs 时间进度) on the straight path from a baseline to a target.

The question a plan check-up asks of every numeric target is: *is the share of the job done at
least the share of the time used?* For one indicator×geo×year row:

* ``task``    = (value − base_value) / (target_value − base_value): the share of the distance from
  baseline to target already covered (1.0 = target reached, negative = moved away from it);
* ``elapsed`` = (year − base_year) / (target_year − base_year): the share of the plan period used;
* ``ratio``   = task / elapsed: 1.0 means exactly on the straight-line schedule.

Levels (strings, ``""`` when the row cannot be assessed):

* ``green``  — the target is already reached (per ``direction``; see below), or ``ratio >= 0.95``;
* ``yellow`` — ``0.6 <= ratio < 0.95``;
* ``red``    — ``ratio < 0.6`` (including going the wrong way, ratio < 0).

The thresholds :data:`GREEN_RATIO` and :data:`YELLOW_RATIO` are those Open SDG applies to its
"observed over required growth" ratio (see :mod:`planwatch.evaluate.opensdg`), so the two methods
read alike in a report even though one works on a linear path and the other on compound growth.

Everything here is pure and vectorised: inputs are broadcastable array-likes (one element per row),
outputs are 1-D NumPy arrays. A NaN in any input of a row makes that row's numbers NaN and its level
``""``; it never raises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planwatch.evaluate.labels import normalise_labels

#: ratio (task / elapsed) at or above which a row is on schedule: green. Open SDG's 95 %.
GREEN_RATIO = 0.95
#: ratio at or above which a row is behind but moving: yellow. Open SDG's 60 %.
YELLOW_RATIO = 0.6
#: relative tolerance for "maintain" targets (稳定在X) when target == baseline: |value − X| ≤ 5 % of |X|.
MAINTAIN_TOLERANCE = 0.05

GREEN, YELLOW, RED, GREY = "green", "yellow", "red", "grey"
_LEVEL_DTYPE = "<U6"


@dataclass(frozen=True)
class TimeProgress:
    """Per-row results of :func:`time_progress`; all arrays have the broadcast shape of the inputs."""

    task: np.ndarray  # share of the baseline→target distance covered; NaN when target == base
    elapsed: np.ndarray  # share of the baseline→target-year period used; NaN when target_year == base_year
    ratio: np.ndarray  # task / elapsed; NaN when either is NaN or elapsed <= 0
    reached: np.ndarray  # bool: the target is already reached (direction-aware)
    level: np.ndarray  # "green" / "yellow" / "red", or "" when not assessable


def _broadcast(*arrays) -> list[np.ndarray]:
    """Broadcast arrays (numbers as floats, None → NaN; string arrays as they are) to one 1-D shape."""
    arrays = [np.asarray(a, dtype=str if np.asarray(a).dtype.kind == "U" else float) for a in arrays]
    return [np.atleast_1d(a) for a in np.broadcast_arrays(*arrays)]


def normalise_direction(direction) -> np.ndarray:
    """Direction strings, lower-cased and stripped (None → "")."""
    d = np.asarray(direction, dtype=object)
    # None is a legitimate "no direction given"; make it "" before the str cast turns it into "None".
    return normalise_labels(d)


def time_progress(
    base_year,
    base_value,
    target_year,
    target_value,
    year,
    value,
    direction=None,
) -> TimeProgress:
    """Task progress vs time progress for each row.

    Parameters are broadcastable array-likes, one element per indicator×geo×year row:

    * ``base_year``, ``target_year``, ``year`` — calendar years (fractional years are fine);
    * ``base_value``, ``target_value``, ``value`` — the indicator in its own unit (same unit for all three);
    * ``direction`` — strings ``"increase"`` (higher is better), ``"decrease"`` (lower is better),
      ``"maintain"`` (stay close); anything else (``None``, ``""``, ``"none"``) means "infer from the
      sign of target − base" (equal → maintain).

    "Reached" is direction-aware: for ``increase`` it is ``value >= target``, for ``decrease``
    ``value <= target`` (so a value that passes a decrease target counts as reached, not as overshoot),
    for ``maintain`` ``|value − target| <= 5 % |target|``; with no direction, ``task >= 1``.

    When ``target == base`` there is no distance to cover, so ``task`` and ``ratio`` are NaN and the
    level is binary: green when the value is on the right side of the target (``maintain``: within
    :data:`MAINTAIN_TOLERANCE`), red otherwise.

    "Reached" needs only the value, the target and the direction, so a reached target is green even
    where the baseline or the years are missing; any other row with a NaN input gets level ``""``.

    Rows observed at or before the base year (``elapsed <= 0``) have no schedule yet: ratio NaN, level
    ``""`` unless the target is already reached. Rows after the target year keep the same formula
    (elapsed > 1), so a late, nearly-done target reads yellow rather than green.
    """
    by, bv, ty, tv, y, v, d = _broadcast(
        base_year, base_value, target_year, target_value, year, value, normalise_direction(direction)
    )
    shape = by.shape

    span = tv - bv
    period = ty - by
    with np.errstate(divide="ignore", invalid="ignore"):
        task = np.where(span != 0, (v - bv) / span, np.nan)
        elapsed = np.where(period != 0, (y - by) / period, np.nan)
        # elapsed <= 0: nothing was due yet, so "on schedule" has no meaning.
        ratio = np.where(elapsed > 0, task / elapsed, np.nan)

    # Infer a direction where none was given: the target's side of the baseline says what "better" is.
    given = np.isin(d, ("increase", "decrease", "maintain"))
    inferred = np.select([span > 0, span < 0, span == 0], ["increase", "decrease", "maintain"], "")
    d = np.where(given, d, inferred)

    tol = MAINTAIN_TOLERANCE * np.abs(tv)
    reached = np.select(
        [d == "increase", d == "decrease", d == "maintain"],
        [v >= tv, v <= tv, np.abs(v - tv) <= tol],
        task >= 1,
    )
    # NaN comparisons are already False; this keeps a NaN value from ever counting as reached.
    reached = reached & np.isfinite(v) & np.isfinite(tv)

    level = np.full(shape, "", dtype=_LEVEL_DTYPE)
    on_path = np.isfinite(ratio)
    level = np.where(on_path & (ratio < YELLOW_RATIO), RED, level)
    level = np.where(on_path & (ratio >= YELLOW_RATIO), YELLOW, level)
    level = np.where(on_path & (ratio >= GREEN_RATIO), GREEN, level)
    # target == base: binary test of the right side; needs a value and a target to judge.
    flat = (span == 0) & np.isfinite(v)
    level = np.where(flat, np.where(reached, GREEN, RED), level)
    level = np.where(reached, GREEN, level)
    return TimeProgress(
        task=task, elapsed=elapsed, ratio=ratio, reached=reached, level=level.astype(_LEVEL_DTYPE)
    )


def approx_band_level(value, target_value, direction, tol: float = 0.05) -> np.ndarray:
    """Level for "about X" targets (X左右, 稳定在X): how far the value is from X, relative to |X|.

    * green  — within ±``tol`` of the target, or beyond it on the good side of ``direction``
      (``increase``: above, ``decrease``: below; ``maintain`` and anything else have no good side);
    * yellow — within ±2·``tol``;
    * red    — further away;
    * ""     — value or target is NaN.

    ``tol`` is a fraction (0.05 = 5 %). A target of 0 has no relative scale: only a value of exactly 0
    is within the band; any other value is infinitely far (and green only on the good side).
    """
    v, tv, d = _broadcast(value, target_value, normalise_direction(direction))
    diff = v - tv
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(tv != 0, diff / np.abs(tv), np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
    good_side = ((d == "increase") & (rel > 0)) | ((d == "decrease") & (rel < 0))
    dist = np.abs(rel)
    level = np.select(
        [~np.isfinite(v) | ~np.isfinite(tv), (dist <= tol) | good_side, dist <= 2 * tol],
        ["", GREEN, YELLOW],
        RED,
    )
    return level.astype(_LEVEL_DTYPE)
