"""Is a value plausible as a measurement of its indicator? Refuse what cannot be, say why, suggest a fix.

Checked only for rows that claim to measure the indicator itself (comparable rows); a row that
declares another scope keeps its own meaning and units. The checks follow from the indicator's
declared measure and unit, and from the plan's own numbers — nothing here is specific to a city:

- a level, ratio or count cannot be negative (a population, an area, a concentration);
- a share in % cannot exceed 100 (nor can a cumulative decline in %);
- a value at least :data:`MAGNITUDE_FACTOR` times larger or smaller than the plan's own reference
  for the indicator (its baseline, else its first numeric target) is almost always a unit or scope
  slip: 2184 万人 typed as 21840000 with unit 万人, a count of volunteers where a ratio is expected.
  Shares in % are bounded already; for them only a fraction typed for a percentage is refused.

Each check returns a message (English, like the importer's other messages) that names the rule and
suggests the scope or the unit; None when the value is plausible.
"""

from __future__ import annotations

import math

from planwatch.plan.model import Measure, Target

MAGNITUDE_FACTOR = 10.0
NONNEGATIVE = (Measure.LEVEL, Measure.RATIO, Measure.COUNT)
SHARE_UNITS = ("%",)


def reference_value(target: Target) -> tuple[float, str] | None:
    """The plan's own number for the indicator's magnitude: the baseline, else the first numeric
    target, with a label saying which."""
    if target.baseline is not None and target.baseline.value is not None and target.baseline.value != 0:
        return target.baseline.value, f"the {target.baseline.year} baseline"
    for tv in sorted(target.targets, key=lambda t: t.year):
        if tv.value is not None and tv.value != 0:
            return tv.value, f"the {tv.year} target"
    return None


def implausible(value: float, target: Target, *, part: bool = False) -> str | None:
    """Why ``value`` (in the target's unit) cannot be a measurement of ``target``, or None. ``part``:
    the value is for a part of the plan area (a district), so the plan's city-wide reference says
    nothing about its magnitude; only the sign and the 100 % bound are checked."""
    measure, unit = target.scope.measure, target.unit
    what = f"{target.id} {target.name}"
    if not math.isfinite(value):
        return f"{value} is not a finite number"
    if measure in NONNEGATIVE and value < 0:
        return (f"{value:g} is negative, which the {measure.value} of {what} ({unit or 'ratio'}) cannot be; "
                "if the row gives a change (e.g. a year's reduction), say so in the scope column (e.g. 当年减量) "
                "or put 'change' in the measure column")
    if unit in SHARE_UNITS and measure in (Measure.LEVEL, Measure.CUMULATIVE_DECLINE) and value > 100:
        return (f"{value:g}% is above 100%, which a share cannot be ({what}); check the decimal separator "
                f"(e.g. {value / 10:g}?) or the unit")
    ref = None if part else reference_value(target)
    if unit in SHARE_UNITS:
        # A share may legitimately be far from its baseline (a completion rate from 5 % to 100 %); what
        # is implausible is a fraction typed for a percentage: 0.448 for 44.8 %.
        if ref is not None and 0 < abs(value) <= 1 and abs(ref[0]) >= MAGNITUDE_FACTOR:
            return (f"{value:g}% looks like a fraction, not a percentage ({ref[1]} of {what} is {ref[0]:g}%): "
                    f"write {value * 100:g} with unit %, or give the unit as 小数")
        return None
    if ref is not None and value != 0:
        ref_value, ref_label = ref
        factor = abs(value) / abs(ref_value)
        if factor >= MAGNITUDE_FACTOR or factor <= 1 / MAGNITUDE_FACTOR:
            how = f"{factor:.3g} times" if factor >= 1 else f"1/{1 / factor:.3g} of"
            return (f"{value:g} is {how} {ref_label} {ref_value:g}{unit} of {what}: check the unit "
                    f"(e.g. 万人 vs 人, % vs fraction), or, if the figure measures something else (a count where "
                    "a ratio is expected, another area), say so in the scope column")
    return None
