"""Read a plan package folder (YAML files) and validate it into a :class:`~planwatch.plan.model.Plan`."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from planwatch.plan.model import Plan

DEFAULT_PLAN = "beijing-2021-2025"


class PlanPackageError(ValueError):
    """A plan package that cannot be read or does not validate; the message names the file."""


def plan_dir(plan_id: str = DEFAULT_PLAN) -> Path:
    """The folder of a shipped plan package, or ``plan_id`` itself if it is a path to a folder."""
    p = Path(plan_id)
    if p.is_dir() and (p / "plan.yaml").exists():
        return p
    shipped = Path(str(resources.files("planwatch") / "plans" / plan_id))
    if not (shipped / "plan.yaml").exists():
        known = ", ".join(available_plans()) or "none"
        raise PlanPackageError(f"unknown plan {plan_id!r}: shipped plans are {known}, or give a folder with plan.yaml")
    return shipped


def available_plans() -> list[str]:
    root = Path(str(resources.files("planwatch") / "plans"))
    return sorted(p.name for p in root.iterdir() if (p / "plan.yaml").exists())


def _read_yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PlanPackageError(f"{path}: not valid YAML: {e}") from e


@lru_cache(maxsize=8)
def load_plan(plan_id: str = DEFAULT_PLAN) -> Plan:
    """Load and validate a plan package: ``plan.yaml`` (meta, notes) plus every ``targets-*.yaml``, and
    ``layers.yaml``/``rules.yaml`` (the one map) ``units.yaml`` (responsible units) and ``ledger.yaml`` (the quota ledger's rules) when present."""
    folder = plan_dir(plan_id)
    head = _read_yaml(folder / "plan.yaml") or {}
    targets: list[dict] = []
    for f in sorted(folder.glob("targets-*.yaml")):
        rows = _read_yaml(f) or []
        if not isinstance(rows, list):
            raise PlanPackageError(f"{f}: expected a list of targets")
        targets.extend(rows)
    # Table indicators first, then article targets by article: a name shared by both (an article
    # restating a table value) resolves to the table indicator when observations are imported.
    targets.sort(key=lambda t: (0, t["id"]) if str(t.get("id", "")).startswith("T") else (1, _article_key(t)))
    spatial = None
    if (folder / "layers.yaml").exists():
        spatial = _read_yaml(folder / "layers.yaml") or {}
        if (folder / "rules.yaml").exists():
            spatial["rules"] = _read_yaml(folder / "rules.yaml") or []
    # The table of responsible units (a suggestion for 交办, not plan text): optional.
    units = _read_yaml(folder / "units.yaml") if (folder / "units.yaml").exists() else None
    # The quota ledger's rules (caps, 拆占比, release schedule, account chart): optional.
    ledger = _read_yaml(folder / "ledger.yaml") if (folder / "ledger.yaml").exists() else None
    try:
        return Plan.model_validate(
            {"meta": head.get("meta"), "notes": head.get("notes", []), "targets": targets, "spatial": spatial,
             "units": units, "ledger": ledger}
        )
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = list(err["loc"])
            where = "/".join(str(x) for x in loc)
            if len(loc) >= 2 and loc[0] == "targets" and isinstance(loc[1], int) and loc[1] < len(targets):
                where = f"target {targets[loc[1]].get('id', loc[1])}: " + "/".join(str(x) for x in loc[2:])
            lines.append(f"  {where}: {err['msg']}")
        raise PlanPackageError(f"plan package {folder} does not validate:\n" + "\n".join(lines)) from e


def _article_key(t: dict) -> tuple:
    try:
        art, n = str(t.get("id", ""))[1:].split(".")
        return (int(art), int(n))
    except ValueError:
        return (10_000, 0)


def source_text(plan_id: str = DEFAULT_PLAN) -> str:
    """The plan's own text, as shipped in the package."""
    plan = load_plan(plan_id)
    return (plan_dir(plan_id) / plan.meta.source_file).read_text(encoding="utf-8")
