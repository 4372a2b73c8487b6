"""A realistic :class:`ReportContext` for tests and notebooks: the real plan, the real published
observations the package ships, evaluated by the real engine (no store needed)."""

from __future__ import annotations

from planwatch.observe.importer import read_table, validate_rows
from planwatch.plan import DEFAULT_PLAN, load_plan
from planwatch.plan.load import plan_dir
from planwatch.report.build import build_context
from planwatch.report.context import ReportContext

PUBLISHED_CSV = "observations/observations_2021_2022.csv"


def example_context(year: int = 2022, plan_id: str = DEFAULT_PLAN) -> ReportContext:
    """The ``year`` check-up of the shipped plan from its shipped observations."""
    plan = load_plan(plan_id)
    path = plan_dir(plan_id) / PUBLISHED_CSV
    rows, errors = validate_rows(read_table(path), plan, path.name)
    if errors:  # the shipped file is validated by the test suite; this would be a packaging bug
        raise ValueError("\n".join(map(str, errors)))
    rows = rows.assign(revision=1)
    return build_context(plan, rows, year)
