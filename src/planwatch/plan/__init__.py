"""The plan package: a plan's targets as validated data (model) read from YAML files (load)."""

from planwatch.plan.load import DEFAULT_PLAN, PlanPackageError, load_plan, source_text
from planwatch.plan.model import Direction, Kind, Plan, Target, TargetValue

__all__ = ["DEFAULT_PLAN", "Direction", "Kind", "Plan", "PlanPackageError", "Target", "TargetValue", "load_plan", "source_text"]
