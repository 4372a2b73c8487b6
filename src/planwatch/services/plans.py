"""The plan package: load it, list its targets, check it against its source text, and the years a
check-up may be of."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from planwatch.plan import DEFAULT_PLAN, PlanPackageError, load_plan
from planwatch.services import ServiceError, jsonable

if TYPE_CHECKING:
    from planwatch.plan import Plan


def load(plan_id: str = DEFAULT_PLAN) -> Plan:
    """The plan package ``plan_id`` (a shipped id or a folder), validated; a :class:`ServiceError`
    saying what is wrong with it otherwise."""
    try:
        return load_plan(plan_id)
    except PlanPackageError as e:
        raise ServiceError(str(e)) from None


@dataclass(frozen=True)
class PlanTargets:
    """Every target of the plan, as the package holds it."""

    plan: Plan

    def to_records(self) -> list[dict]:
        """id, name, unit, category, scope, baseline {year, value}, targets, source {table_row} or
        {article}, quote, … (the package's fields, without empty ones)."""
        records = [t.model_dump(mode="json", exclude_none=True) for t in self.plan.targets]
        for r, t in zip(records, self.plan.targets, strict=True):
            r["source"] = {"table_row": t.source.table_row} if t.source.table_row else {"article": t.source.article}
            r["baseline"] = {"year": t.baseline.year, "value": t.baseline.value} if t.baseline else None
        return jsonable(records)


def targets(plan: Plan) -> PlanTargets:
    """The plan's targets (``plan targets``)."""
    return PlanTargets(plan)


@dataclass(frozen=True)
class PlanCheck:
    """The curated package checked against its source text: ``problems`` is empty when every quote,
    number and article number matches."""

    plan: Plan
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_records(self) -> dict:
        return {"plan": self.plan.meta.id, "targets": len(self.plan.targets), "problems": list(self.problems)}


def check(plan_id: str = DEFAULT_PLAN) -> PlanCheck:
    """Load the package ``plan_id`` and verify it against its own source text (``plan check``)."""
    from planwatch.plan.check import check_plan
    from planwatch.plan.load import source_text

    p = load(plan_id)
    return PlanCheck(p, [str(pr) for pr in check_plan(p, source_text(plan_id))])


def span(plan: Plan) -> tuple[int, int]:
    """The years a check-up may be of: the plan's base year to its last target year (or the end of
    its period, if later)."""
    first = plan.meta.base_year
    last = max([plan.meta.period[1], *(tv.year for t in plan.targets for tv in t.targets)])
    return first, last


def check_year(plan: Plan, year: int, *, force: bool = False) -> None:
    """Refuse a check-up year outside the plan's :func:`span`, unless ``force``."""
    first, last = span(plan)
    if not force and not first <= year <= last:
        raise ServiceError(f"--year {year} is outside the plan's span ({first}–{last}, from its base year to its last "
                           "target year); add --force to evaluate it anyway")


__all__ = ["DEFAULT_PLAN", "PlanCheck", "PlanTargets", "check", "check_year", "load", "span", "targets"]
