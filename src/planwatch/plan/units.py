"""Who a finding is suggested to go to (交办): the plan package's table of responsible units.

The table (``units.yaml``, :class:`~planwatch.plan.model.Units`) is a suggestion the bureau running
the findings register edits, not plan text. These functions only read it: pure, no I/O.
"""

from __future__ import annotations

from planwatch.plan.model import REVIEWS_BY_DISTRICT, Plan

KINDS = ("target", "rule", "review", "no_data")


def suggested_unit(plan: Plan, *, kind: str, source: str, geo: str = "") -> str:
    """The unit a finding is suggested to be assigned to; ``""`` when the plan has no table of units.

    ``kind`` is what the finding is about and ``source`` what raised it: ``target`` (a target missed)
    and ``no_data`` (a target without data) name a target id; ``rule`` a spatial rule; ``review`` a
    review conflict. ``geo`` is the area the finding is about.

    - ``target``/``no_data``: the district itself when ``geo`` is one of the plan's districts; else the
      target's mapped department; else, for a target ``same_as`` another, that one's department; else
      the table's default.
    - ``rule``: the table's unit for rules.
    - ``review``: the district when ``geo`` is a district and the table says ``reviews: district``,
      the default when it is not a district; the named department when the table names one.

    An unknown ``kind`` raises :class:`ValueError`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind of finding {kind!r}: one of {', '.join(KINDS)}")
    units = plan.units
    if units is None:
        return ""
    geo = geo.strip()
    in_district = geo in plan.meta.districts
    if kind == "rule":
        return units.rules
    if kind == "review":
        if units.reviews != REVIEWS_BY_DISTRICT:
            return units.reviews
        return geo if in_district else units.default
    if in_district:
        return geo
    if source in units.indicators:
        return units.indicators[source]
    primary = next((t.same_as for t in plan.targets if t.id == source), None)
    if primary is not None and primary in units.indicators:
        return units.indicators[primary]
    return units.default


def known_units(plan: Plan) -> list[str]:
    """Every unit a finding may be assigned to without --new-unit: the table's departments, then the
    plan's districts, in that order and without duplicates (only the districts when there is no table)."""
    names = [*(plan.units.departments if plan.units else []), *plan.meta.districts]
    return list(dict.fromkeys(names))


__all__ = ["KINDS", "known_units", "suggested_unit"]
