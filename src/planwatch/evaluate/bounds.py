"""Bound checks for ceiling (<X, 不超过X, 控制在X以内) and floor (>X, X以上, 不低于X) targets.

A bound is a hard line, not a path: a ceiling crossed (value > bound) or a floor crossed
(value < bound) is red whatever the trend, and a bound kept is green. What needs care is *when* a
bound binds:

* the baseline already satisfied it → it is a cap (or minimum) to **keep**, binding in every year
  (e.g. permanent population < 2300 万人 when the baseline was 2154);
* the baseline did not satisfy it → it is a level still **to be reached**, binding only from the
  target year on (e.g. a share ≥ 25 % by 2025 from a baseline of 18 %); before that the progress
  methods (:mod:`planwatch.evaluate.progress`, :mod:`planwatch.evaluate.opensdg`) judge the path.

A bound exactly met (value == bound) is kept. Pure and vectorised: inputs are broadcastable
array-likes, one element per row; a NaN never raises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planwatch.evaluate.labels import normalise_labels

CEILING = "ceiling"
FLOOR = "floor"


@dataclass(frozen=True)
class BoundCheck:
    """Per-row results of :func:`bound_check`."""

    applies: np.ndarray  # bool: the bound binds in this row's year (ceiling/floor with a bound; rule above)
    crossed: np.ndarray  # bool: applies and the value is on the wrong side of the bound
    level: np.ndarray  # "red" when crossed, "green" when applies and kept, "" otherwise (or value NaN)


def bound_check(kind, bound, value, year, target_year, base_value) -> BoundCheck:
    """Check each row's value against its bound.

    * ``kind`` — strings ``"ceiling"`` / ``"floor"``; any other kind is not a bound (applies False);
    * ``bound``, ``value``, ``base_value`` — the indicator in one unit;
    * ``year``, ``target_year`` — calendar years.

    A NaN base value means the baseline's side is unknown; the bound then binds from the target year
    on, which is when it binds under either reading. A NaN target year binds only bounds the baseline
    already kept. A NaN bound never applies; a NaN value leaves ``crossed`` False and the level ``""``.
    """
    k = np.asarray(kind, dtype=object)
    k = normalise_labels(k)
    numbers = (np.asarray(a, dtype=float) for a in (bound, value, year, target_year, base_value))
    b, v, y, ty, bv, k = (np.atleast_1d(a) for a in np.broadcast_arrays(*numbers, k))
    is_ceiling, is_floor = k == CEILING, k == FLOOR

    # "Kept" is inclusive: a value equal to the bound satisfies both a ceiling and a floor.
    base_kept = (is_ceiling & (bv <= b)) | (is_floor & (bv >= b))
    applies = (is_ceiling | is_floor) & np.isfinite(b) & (base_kept | (y >= ty))
    crossed = applies & ((is_ceiling & (v > b)) | (is_floor & (v < b)))
    checkable = applies & np.isfinite(v)
    level = np.where(crossed, "red", np.where(checkable, "green", "")).astype("<U6")
    return BoundCheck(applies=applies, crossed=crossed, level=level)
