"""What a check-up report is made of: :class:`ReportContext`, plain DataFrames and strings.

The report never computes a verdict. The evaluation engine fills the context; the report only
lays it out (HTML/PDF, DOCX and XLSX from the same context), so the same context always gives the
same report and every page shows the same verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from planwatch.evaluate.engine import target_values_frame
from planwatch.evaluate.engine import targets_frame as engine_targets_frame
from planwatch.findings.view import REGISTER_COLUMNS
from planwatch.ledger.summary import LedgerSummary
from planwatch.plan.model import Plan

# Level code -> (Chinese label, colour). Order is the board's column order.
LEVELS: dict[str, tuple[str, str]] = {
    "green": ("绿灯", "#2e7d32"),
    "yellow": ("黄灯", "#f9a825"),
    "red": ("红灯", "#c62828"),
    "grey": ("灰灯", "#9e9e9e"),
}

TARGET_COLUMNS = [
    "id", "name", "unit", "category", "geo_scope", "measure", "definition", "direction",
    "baseline_year", "baseline_value",
    "target_2025_kind", "target_2025_value", "target_2025_raw",
    "target_2035_kind", "target_2035_value", "target_2035_raw",
    "source", "same_as", "source_hint", "quote", "notes",
]  # fmt: skip
OBSERVATION_COLUMNS = [
    "id", "geo", "year", "value", "unit", "raw_value", "raw_unit", "comparable", "scope", "measure", "origin",
    "synthetic", "graded", "source", "published", "note", "revision", "conversion", "method",
]  # fmt: skip
EVALUATION_COLUMNS = [
    "id", "name", "category", "unit", "geo", "year", "value", "value_text", "level", "reason", "method", "source",
    "linked_to", "stale", "prev_year", "prev_value", "prev_text", "change", "precision", "precision_benefit",
    "target_year", "target_value", "target_raw", "baseline_year", "baseline_value",
    "tp_task", "tp_elapsed", "sdg_category", "origin", "obs_source", "obs_published",
    "n_points", "forecast_method", "forecast_level",
    "forecast_2025", "forecast_2025_low", "forecast_2025_high", "forecast_2025_clipped", "forecast_2025_raw",
    "forecast_2035", "forecast_2035_low", "forecast_2035_high", "forecast_2035_clipped", "forecast_2035_raw",
]  # fmt: skip
ROLLUP_COLUMNS = ["category", "label", "green", "yellow", "red", "grey", "level"]
RULE_COLUMNS = ["id", "article", "category", "description", "target", "value", "unit", "threshold", "comparator",
                "level", "status_text", "reason", "synthetic"]
COVERAGE_COLUMNS = ["id", "name", "category", "status", "related", "source_hint"]


@dataclass(frozen=True)
class ReportContext:
    """Everything one annual check-up report shows; see ``*_COLUMNS`` for each frame's columns.

    - ``observations``: the newest revision of every series up to the year (``graded`` marks the
      figure each verdict rests on; the others are related statistics);
    - ``evaluation``: one row per target (and geo) with a graded figure, from the engine;
    - ``related``: figures kept but not graded (another scope or measure, synthetic, or a computed
      figure beside an official one);
    - ``rollup``: the board (see ``rollup_rule``), ``rules``: the spatial rules with their levels;
    - ``coverage``: every target without a graded figure and who would supply one;
    - ``problems``: the 问题清单 with recommendations; ``districts``: tables by district and 圈层;
    - ``backtest``: past forecasts against what happened; ``sources``: one dict per source;
    - ``findings``: the findings register as people read it (one row per finding of the year or
      earlier, :data:`planwatch.findings.view.REGISTER_COLUMNS`), overdue computed on ``as_of`` (the
      check date, YYYY-MM-DD). Empty when the register has not been generated: the report then shows
      ``problems`` as 问题清单与对策建议; else 问题清单, 整改进展 and 对策建议 from the register.
    - ``ledger``: the quota ledger as of the end of the year (:func:`planwatch.ledger.summary.summarize`);
      None when the plan has no ledger rules (no section), ``ledger.empty`` when nothing is recorded
      (the section says so in one sentence).
    """

    plan_title: str
    plan_id: str
    year: int
    categories: dict[str, str]
    targets: pd.DataFrame
    observations: pd.DataFrame
    evaluation: pd.DataFrame
    rollup: pd.DataFrame
    sources: list[dict]
    notes: list[str]
    related: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    problems: pd.DataFrame = field(default_factory=pd.DataFrame)
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame)
    rules: pd.DataFrame = field(default_factory=pd.DataFrame)
    districts: tuple[dict, ...] = ()  # each {"title", "columns", "rows", "caption", "synthetic"}
    maps: tuple[dict, ...] = ()  # each {"title", "img", "png", "caption", "table"}
    rollup_rule: str = ""
    counts: dict = field(default_factory=dict)  # board totals: green/yellow/red/grey, related_only, nodata, targets
    findings: pd.DataFrame = field(default_factory=pd.DataFrame)
    as_of: str = ""  # the check date of the findings register (YYYY-MM-DD)
    ledger: LedgerSummary | None = None

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
        if self.findings is not None and len(self.findings):
            missing = [c for c in REGISTER_COLUMNS if c not in self.findings.columns]
            if missing:
                raise ValueError(f"ReportContext.findings lacks columns {missing}")
            if not self.as_of:
                raise ValueError("ReportContext.as_of: the check date of the findings is not given")
        bad = sorted(set(self.evaluation["level"]) - set(LEVELS))
        if bad:
            raise ValueError(f"ReportContext.evaluation: unknown level(s) {bad}; expected {list(LEVELS)}")
        unknown = sorted(set(self.targets["category"]) - set(self.categories))
        if unknown:
            raise ValueError(f"ReportContext.targets: categories {unknown} are not in ReportContext.categories")


def targets_frame(plan: Plan) -> pd.DataFrame:
    """One row per target of ``plan`` with the columns of :data:`TARGET_COLUMNS`: the engine's
    targets table, widened with the 2025 and 2035 target values, the link and the source hint."""
    base = engine_targets_frame(plan)
    values = target_values_frame(plan)
    frame = base.assign(
        measure=[t.scope.measure.value for t in plan.targets],
        same_as=[t.same_as or "" for t in plan.targets],
        source_hint=[t.source_hint for t in plan.targets],
    )
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
