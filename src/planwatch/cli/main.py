"""The ``planwatch`` command line: thin verbs over the package's functions (Typer + Rich)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from planwatch.plan import DEFAULT_PLAN, PlanPackageError, load_plan

app = typer.Typer(help="planwatch: a territorial spatial plan as software.", no_args_is_help=True, add_completion=False)
plan_app = typer.Typer(help="The plan package: targets and checks.", no_args_is_help=True)
observe_app = typer.Typer(help="Observations: import, list, history.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(observe_app, name="observe")

err = Console(stderr=True)
out = Console()

PlanOpt = Annotated[str, typer.Option("--plan", help="plan package id or folder")]
DbOpt = Annotated[Path | None, typer.Option("--db", help="store file (default $PLANWATCH_DB or ./planwatch.gpkg)")]
FormatOpt = Annotated[str, typer.Option("--format", help="json or table")]


def _clean(x):
    """JSON-able: NaN/inf → null, numpy scalars → Python."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(_clean(obj), ensure_ascii=False, indent=2) + "\n")


def _fail(message: str, code: int = 1):
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def _load(plan_id: str):
    try:
        return load_plan(plan_id)
    except PlanPackageError as e:
        _fail(str(e))


def _check_format(fmt: str) -> None:
    if fmt not in {"json", "table"}:
        _fail(f"--format must be json or table, not {fmt!r}")


# ------------------------------------------------------------------ plan


@plan_app.command("targets")
def plan_targets(plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table") -> None:
    """Every target of the plan: id, name, unit, category, scope, baseline, targets, source, quote."""
    _check_format(format)
    p = _load(plan)
    records = [t.model_dump(mode="json", exclude_none=True) for t in p.targets]
    for r, t in zip(records, p.targets, strict=True):
        r["source"] = {"table_row": t.source.table_row} if t.source.table_row else {"article": t.source.article}
        r["baseline"] = {"year": t.baseline.year, "value": t.baseline.value} if t.baseline else None
    if format == "json":
        _print_json(records)
        return
    table = Table(title=f"{p.meta.title}: {len(records)} targets")
    for c in ("id", "name", "unit", "category", "baseline", "targets", "source"):
        table.add_column(c)
    for t in p.targets:
        base = f"{t.baseline.year}: {t.baseline.raw}" if t.baseline else ""
        tv = "; ".join(f"{v.year}: {v.raw}" for v in t.targets)
        src = f"表第{t.source.table_row}行" if t.source.table_row else f"第{t.source.article}条"
        table.add_row(t.id, t.name, t.unit, t.category, base, tv, src)
    out.print(table)


@plan_app.command("check")
def plan_check(plan: PlanOpt = DEFAULT_PLAN) -> None:
    """Verify the curated package against its source text: quotes, numbers, article numbers."""
    from planwatch.plan.check import check_plan
    from planwatch.plan.load import source_text

    p = _load(plan)
    problems = check_plan(p, source_text(plan))
    if problems:
        for pr in problems:
            err.print(f"  {pr}", highlight=False, markup=False)
        _fail(f"{len(problems)} problem(s) in plan package {p.meta.id}")
    out.print(f"plan package {p.meta.id}: {len(p.targets)} targets, every quote and number matches the source text")


# ------------------------------------------------------------------ observe


def _store(db: Path | None, plan=None):
    """Open the store; with ``plan``, first move any layer stored in another CRS into the plan's
    storage CRS (a store written before the package changed it), saying so."""
    from planwatch.store import open_store

    try:
        store = open_store(db)
    except (ValueError, OSError) as e:
        _fail(str(e))
    if plan is not None and plan.spatial is not None:
        from planwatch.onemap.layers import migrate_storage_crs

        with err.status("checking the store's layer CRS…") as status:
            moved = migrate_storage_crs(store, plan, progress=status.update)
        for r in moved:
            err.print(f"migrated layer {r['layer_type']} to {r['crs']} (version {r['version']})", highlight=False)
    return store


@observe_app.command("import")
def observe_import(file: Path, db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN) -> None:
    """Import a CSV or XLSX of observations, all or nothing."""
    from planwatch.observe import ObservationImportError, import_observations

    p = _load(plan)
    store = _store(db)
    try:
        s = import_observations(file, store, p)
    except ObservationImportError as e:
        _fail(f"{file}: {e}")
    out.print(
        f"{file}: {s.rows_read} rows read: {s.added} added, {s.revised} revised, {s.unchanged} unchanged "
        f"(import #{s.import_id})",
        highlight=False,
    )
    for c in s.conversions:
        out.print(f"  unit: {c}", highlight=False)
    for c in s.not_comparable:
        out.print(f"  [yellow]not comparable[/]: {c} differs from the indicator's scope", highlight=False)


@observe_app.command("list")
def observe_list(db: DbOpt = None, format: FormatOpt = "table", all_revisions: bool = typer.Option(False, "--all")) -> None:
    """The stored observations (newest revision of each, or --all)."""
    _check_format(format)
    df = _store(db).observations(latest=not all_revisions)
    _show_frame(df, format, ["indicator", "year", "geo", "value", "unit", "scope", "origin", "synthetic", "comparable", "revision"])


@observe_app.command("history")
def observe_history(
    indicator: str, year: int | None = None, geo: str | None = None, db: DbOpt = None, format: FormatOpt = "table"
) -> None:
    """Every revision of one indicator (optionally one year / geo), oldest first."""
    _check_format(format)
    df = _store(db).history(indicator, year, geo)
    _show_frame(df, format, ["indicator", "year", "geo", "revision", "value", "unit", "source", "file", "imported_at"])


def _show_frame(df, format: str, cols: list[str]) -> None:
    if format == "json":
        _print_json(df.to_dict("records"))
        return
    table = Table()
    for c in cols:
        table.add_column(c)
    for r in df[cols].itertuples(index=False):
        table.add_row(*[str(x) for x in r])
    out.print(table)


# ------------------------------------------------------------------ evaluate / report


@app.command("evaluate")
def evaluate(
    year: Annotated[int, typer.Option("--year", help="the check-up year")],
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """Evaluate every target with data in or before YEAR: level, reason, methods, forecast."""
    from planwatch.evaluate.engine import LEVEL_ZH, checkup, checkup_records

    _check_format(format)
    p = _load(plan)
    obs = _store(db, p).observations()
    if format == "json":
        _print_json(checkup_records(p, obs, year))
        return
    ev = checkup(p, obs, year)
    table = Table(title=f"{p.meta.title} — {year}年体检评估")
    table.add_column("id")
    table.add_column("level", no_wrap=True)
    table.add_column("reason", overflow="fold")
    colour = {"green": "green", "yellow": "yellow", "red": "red", "grey": "bright_black"}
    for r in ev.itertuples():
        table.add_row(r.id, f"[{colour[r.level]}]{LEVEL_ZH[r.level]}[/]", r.reason)
    out.print(table)


@app.command("report")
def report(
    year: Annotated[int, typer.Option("--year", help="the check-up year")],
    out_dir: Annotated[Path, typer.Option("--out", help="folder to write report.html/.pdf/.xlsx into")],
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
) -> None:
    """Write the annual check-up report (HTML, PDF, XLSX) into a folder."""
    from planwatch.report.build import build_report

    p = _load(plan)
    with err.status(f"writing the {year} check-up report…"):
        paths = build_report(p, _store(db, p), year, out_dir)
    for kind, path in paths.items():
        out.print(f"{kind}: {path}", highlight=False)


@app.command("demo")
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the demo store and report")] = Path("demo-report"),
    year: int = 2022,
) -> None:
    """The Beijing demo check-up: import the shipped real observations and the demo one map
    (real districts, stations and 圈层; synthetic control lines and zones) into a fresh store,
    then write the YEAR report into OUT."""
    from planwatch.observe import import_observations
    from planwatch.onemap.demo import load_demo_map
    from planwatch.plan.load import plan_dir
    from planwatch.report.build import build_report
    from planwatch.store import open_store

    p = _load(DEFAULT_PLAN)
    out_dir.mkdir(parents=True, exist_ok=True)
    db = out_dir / "planwatch.gpkg"
    db.unlink(missing_ok=True)
    store = open_store(db)
    for csv in sorted((plan_dir(DEFAULT_PLAN) / "observations").glob("observations_*.csv")):
        s = import_observations(csv, store, p)
        related = f" ({len(s.not_comparable)} of another scope, kept as related statistics)" if s.not_comparable else ""
        out.print(f"imported {s.added} observations from {csv.name} into {db}{related}", highlight=False)
    with err.status("loading the one map (real base layers + synthetic demo layers)…"):
        rows = load_demo_map(store, p)
    out.print(f"loaded {len(rows)} layers into {db} (control lines and zones: 示意数据（非官方）/ synthetic demo data)")
    from planwatch.onemap.rules import check_rules

    with err.status(f"checking the plan's spatial rules for {year} on the demo one map…"):
        results = check_rules(store, p, year)
    passed = int(results["passed"].fillna(False).astype(bool).sum())
    out.print(f"spatial rules {year}: {passed} of {len(results)} pass (computed from synthetic demo layers)")
    with err.status(f"writing the {year} check-up report…"):
        paths = build_report(p, store, year, out_dir)
    for kind, path in paths.items():
        out.print(f"{kind}: {path}", highlight=False)


@app.command("extract")
def extract(
    path: Path,
    format: FormatOpt = "json",
    compare: Annotated[str | None, typer.Option("--compare", help="plan package to compare the candidates with")] = None,
) -> None:
    """Parse a plan text into articles and candidate quantified targets."""
    from planwatch.extract import run_extract
    from planwatch.extract.text import PlanTextError

    _check_format(format)
    try:
        result = run_extract(path, compare=compare)
    except (PlanTextError, PlanPackageError) as e:
        _fail(str(e))
    if format == "json":
        _print_json(result)
        return
    if "comparison" in result:
        c = result["comparison"]
        out.print({k: v for k, v in c.items() if not isinstance(v, list)})
    else:
        out.print(f"{len(result['articles'])} articles, {len(result['candidates'])} candidates")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
