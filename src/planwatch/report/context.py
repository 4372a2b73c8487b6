"""What a check-up report is made of: :class:`ReportContext`, plain DataFrames and strings.

The report never computes a verdict. The evaluation engine fills the context; the report only
lays it out, so the same context always gives the same report.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planwatch.evaluate.engine import target_values_frame
from planwatch.evaluate.engine import targets_frame as engine_targets_frame
from planwatch.plan.model import Plan

# Level code -> (Chinese label, colour). Order is the board's column order.
LEVELS: dict[str, tuple[str, str]] = {
    "green": ("绿灯", "#2e7d32"),
    "yellow": ("黄灯", "#f9a825"),
    "red": ("红灯", "#c62828"),
    "grey": ("灰灯", "#9e9e9e"),
}

TARGET_COLUMNS = [
    "id", "name", "unit", "category", "geo_scope", "definition", "direction",
    "baseline_year", "baseline_value",
    "target_2025_kind", "target_2025_value", "target_2025_raw",
    "target_2035_kind", "target_2035_value", "target_2035_raw",
    "source", "quote", "notes",
]  # fmt: skip
OBSERVATION_COLUMNS = [
    "id", "geo", "year", "value", "unit", "comparable", "scope", "source", "published", "note",
    "revision", "conversion", "method",
]  # fmt: skip
EVALUATION_COLUMNS = [
    "id", "name", "category", "unit", "geo", "year", "value", "level", "reason", "method", "source",
    "target_year", "target_value", "target_raw", "baseline_year", "baseline_value",
    "tp_task", "tp_elapsed", "sdg_category",
    "forecast_2025", "forecast_2025_low", "forecast_2025_high",
    "forecast_2035", "forecast_2035_low", "forecast_2035_high",
]  # fmt: skip
ROLLUP_COLUMNS = ["category", "label", "green", "yellow", "red", "grey", "level"]


@dataclass(frozen=True)
class ReportContext:
    """Everything one annual check-up report shows; see ``*_COLUMNS`` for each frame's columns.

    ``observations`` holds the latest revision of each observation (``geo`` "" = 全市).
    ``evaluation`` holds one row per target (and geo) with data in the check-up year; a target of
    ``targets`` missing from it is shown as 暂无数据. ``forecast_*_low/high`` are NaN when there is
    no uncertainty band. ``categories`` maps the short code to the plan's label, in report order.
    """

    plan_title: str
    plan_id: str
    year: int
    categories: dict[str, str]
    targets: pd.DataFrame
    observations: pd.DataFrame
    evaluation: pd.DataFrame
    rollup: pd.DataFrame
    sources: list[str]
    notes: list[str]
    maps: tuple[dict, ...] = ()  # each {"title", "svg", "caption"}: maps of the one map, shown after the board
    rules: tuple[dict, ...] = ()  # spatial rule results: id, article, description, value, threshold, comparator, unit, status, label

    def check(self) -> None:
        """Raise ``ValueError`` naming the frame and the missing columns or unknown values."""
        for name, frame, cols in (
            ("targets", self.targets, TARGET_COLUMNS),
            ("observations", self.observations, OBSERVATION_COLUMNS),
            ("evaluation", self.evaluation, EVALUATION_COLUMNS),
            ("rollup", self.rollup, ROLLUP_COLUMNS),
        ):
            missing = [c for c in cols if c not in frame.columns]
            if missing:
                raise ValueError(f"ReportContext.{name} lacks columns {missing}")
        bad = sorted(set(self.evaluation["level"]) - set(LEVELS))
        if bad:
            raise ValueError(f"ReportContext.evaluation: unknown level(s) {bad}; expected {list(LEVELS)}")
        unknown = sorted(set(self.targets["category"]) - set(self.categories))
        if unknown:
            raise ValueError(
                f"ReportContext.targets: categories {unknown} are not in ReportContext.categories"
            )


def targets_frame(plan: Plan) -> pd.DataFrame:
    """One row per target of ``plan`` with the columns of :data:`TARGET_COLUMNS`: the engine's
    targets table, widened with the 2025 and 2035 target values."""
    base = engine_targets_frame(plan)
    values = target_values_frame(plan)
    frame = base
    for year in (2025, 2035):
        v = values[values["target_year"] == year].set_index("id")
        frame = frame.assign(
            **{
                f"target_{year}_kind": frame["id"].map(v["target_kind"]).fillna(""),
                f"target_{year}_value": frame["id"].map(v["target_value"]).astype("float64"),
                f"target_{year}_raw": frame["id"].map(v["target_raw"]).fillna(""),
            }
        )
    frame = frame[TARGET_COLUMNS].copy()
    frame["baseline_year"] = frame["baseline_year"].astype("Int64")
    return frame
