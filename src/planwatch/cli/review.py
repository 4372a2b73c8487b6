"""Verbs of compliance review and spatial rules: ``planwatch review`` and ``planwatch rules check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape as rich_escape
from rich.table import Table

from planwatch.cli.common import (
    DbOpt,
    FormatOpt,
    PlanOpt,
    app,
    check_format,
    err,
    open_db,
    out,
    print_json,
)
from planwatch.cli.layers import EncodingOpt, FieldOpt
from planwatch.services import evaluation, plans
from planwatch.services import review as reviews
from planwatch.services.plans import DEFAULT_PLAN

rules_app = typer.Typer(help="The plan's spatial rules over land-supply and reduction records.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

EngineOpt = Annotated[str, typer.Option("--engine", help="review engine: geopandas (default), postgis, dask or duckdb")]
SchedulerOpt = Annotated[str | None, typer.Option(
    "--scheduler", help="with --engine dask: local:N (N worker processes on this machine) or tcp://HOST:PORT (a running "
    "dask scheduler; the workers read the --out batch's file at its path); default $PLANWATCH_DASK_SCHEDULER, else "
    "threads in this process")]
SEVERITY_COLOUR = {"forbidden": "red", "restricted": "yellow", "guidance": "cyan"}


@app.command("review")
def review(
    project_file: Annotated[Path, typer.Argument(help="polygons to review: GeoPackage, Shapefile, GeoJSON or GeoParquet")],
    engine: EngineOpt = "geopandas",
    scheduler: SchedulerOpt = None,
    format: FormatOpt = "table",
    out_gpkg: Annotated[Path | None, typer.Option("--out", help="batch: write RESULT.gpkg (a row per parcel, a row per conflict)")] = None,
    crs: Annotated[str | None, typer.Option("--crs", help="the file's CRS if it has none or a wrong one (EPSG:…, gcj02)")] = None,
    field: FieldOpt = None,
    encoding: EncodingOpt = None,
    reserve: Annotated[bool, typer.Option(
        "--reserve", help="with no forbidden conflict, also reserve each project's floor_area (and new_land, m²) from its "
        "district's pool in the quota ledger (map attributes with --field floor_area=JZMJ)")] = False,
    project: Annotated[str | None, typer.Option("--project", help="with --reserve: the project's id (a one-feature file)")] = None,
    by: Annotated[str | None, typer.Option("--by", help="with --reserve: who reserves (default $PLANWATCH_USER)")] = None,
    date: Annotated[str | None, typer.Option("--date", help="with --reserve: the effective date (default today)")] = None,
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
) -> None:
    """Review a project's (or a city's parcels') polygons against the one map: each conflict with the
    control lines and zones, with areas, shares and articles, and the zones each feature falls in.
    The file is read as `layers import` reads it (--encoding, --field id=DKBH names the parcels).
    With --reserve, a project with no forbidden conflict also reserves its quota."""
    check_format(format)
    reviews.check_engine(engine, scheduler)  # a usage mistake stops here (exit 2)
    p = plans.load(plan)
    if reserve and (out_gpkg is not None or scheduler is not None):
        from planwatch.cli.common import fail

        fail(f"--reserve reviews projects one by one; it does not go with {'--out' if out_gpkg else '--scheduler'}",
             code=2)
    held = None
    if reserve:
        reviewed, held = reviews.review_and_reserve(lambda: open_db(db, p), p, project_file, engine=engine, crs=crs,
                                                    fields=field, encoding=encoding, project=project, by=by, when=date)
    else:
        reviewed = reviews.review_features(lambda: open_db(db, p), p, project_file, engine=engine, out_gpkg=out_gpkg,
                                           crs=crs, fields=field, encoding=encoding, scheduler=scheduler)
    done = reviewed.batch or reviewed.result
    for m in done.missing_layers:
        err.print(f"[yellow]warning:[/] no {m} layer in the store: not reviewed against it", highlight=False)
    for r in done.repaired:
        err.print(f"[yellow]repaired:[/] {r}", highlight=False)
    if reviewed.batch is not None:
        b = reviewed.batch
        out.print(f"{project_file}: {b.features} features reviewed, {b.features_with_conflicts} with conflicts, "
                  f"{b.conflicts} conflicts → {out_gpkg} (layers parcels, conflicts)", highlight=False)
        return
    records = reviewed.to_records()
    if format == "json":
        print_json(records if held is None else {"review": records, "reservations": [h.to_records() for h in held]})
        if held and any(h.outcome == "refused" for h in held):
            raise typer.Exit(1)
        return
    table = Table(title=f"{project_file.name}: {len(records)} feature(s) reviewed")
    for c in ("id", "severity", "layer", "article", "overlap_m2", "share", "rule"):
        table.add_column(c, overflow="fold")
    for rec in records:
        if not rec["conflicts"]:
            table.add_row(str(rec["id"]), "[green]none[/]", "", "", "", "", "")
        for c in rec["conflicts"]:
            sev = f"[{SEVERITY_COLOUR[c['severity']]}]{c['severity']}[/]"
            name = c["layer_name"] + (" [dim](示意数据)[/]" if c.get("synthetic") else "")
            table.add_row(str(rec["id"]), sev, name, f"第{c['article']}条", f"{c['overlap_m2']:,.1f}",
                          f"{100 * c['overlap_share']:.1f}%", c["rule"])
        zones = "; ".join(f"{z['zone']} {100 * z['share']:.0f}%" for z in rec["zones"])
        if zones:
            table.add_row("", "[dim]zones[/]", zones, "", "", "", "")
    out.print(table)
    if any(c.get("synthetic") for rec in records for c in rec["conflicts"] + rec["zones"]):
        out.print("[dim]示意数据（非官方）/ synthetic demo data: layers so marked are not the plan's official maps.[/]")
    for h in held or []:
        asked = ", ".join(f"{q} {a:,.2f} m²" for q, a in h.amounts.items()) or "nothing"
        if h.outcome == "reserved":
            said = "; ".join(f"{d.message()}" + (f", reservation #{d.reservation['reservation_id']} until "
                                                   f"{d.reservation['expires']}" if d.reservation else "") for d in h.posted)
            out.print(f"[green]reserved[/] project {rich_escape(h.project)} ({h.district}): {asked} — {rich_escape(said)}",
                      highlight=False)
        elif h.outcome == "refused":
            out.print(f"[red]not reserved[/] project {rich_escape(h.project)} ({h.district}): {rich_escape(h.reason)}",
                      highlight=False)
        else:
            out.print(f"project {rich_escape(h.project)} ({h.district}): {h.reason}", highlight=False)
    if held and any(h.outcome == "refused" for h in held):
        raise typer.Exit(1)


@rules_app.command("check")
def rules_check(
    year: Annotated[int, typer.Option("--year", help="the year of records to check")],
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
    engine: EngineOpt = "geopandas",
    record: Annotated[bool, typer.Option("--record/--no-record", help="store the values as observations of their targets")] = True,
) -> None:
    """Evaluate the plan's spatial rules for YEAR: value, threshold, pass or fail, article, and the
    verdict the check-up gives (a rule that measures a target shows that target's verdict; a value
    from synthetic layers is not graded). The values are stored as computed observations of the
    rules' targets, so the evaluation and the report show them."""
    check_format(format)
    p = plans.load(plan)
    checked = reviews.check_rules(open_db(db, p), p, year, engine=engine, record=record)
    if format == "json":
        print_json(checked.to_records())
        return
    results = checked.results
    table = Table(title=f"{p.meta.title} — {year}年空间规则检查")
    for c in ("id", "article", "rule", "value", "threshold", "status", "verdict", "details"):
        table.add_column(c, overflow="fold")
    level_colour = {"green": "green", "yellow": "yellow", "red": "red", "grey": "bright_black"}
    for r in results.to_dict("records"):
        digits = 0 if r["unit"] == "处" else 2  # a count of parcels
        value = "" if r["value"] != r["value"] else f"{r['value']:,.{digits}f} {r['unit']}"
        cmp = r["comparator"] + (f" (±{r['tolerance']:g})" if r["comparator"] == "≈" else "")
        colour = {True: "green", False: "red"}.get(r["passed"], "bright_black")
        detail = ""
        offending = r["details"].get("offending") if isinstance(r["details"], dict) else None
        if offending:
            detail = "ids: " + ", ".join(str(o["id"]) for o in offending[:10]) + (" …" if len(offending) > 10 else "")
        desc = r["description"] + (" [dim](示意数据)[/]" if r["synthetic"] else "")
        v = checked.verdict(r["id"])
        shown = f"[{level_colour[v['level']]}]{evaluation.level_label(v['level'])}[/] {v['status_text']}" + (
            f"（同{r['target']}）" if r["target"] and v["status_text"] not in ("示意数据，不评级",) else "")
        table.add_row(r["id"], f"第{r['article']}条", desc, value, f"{cmp} {r['threshold']:g} {r['unit']}",
                      f"[{colour}]{r['status']}[/]", shown, detail)
    out.print(table)
    if results["synthetic"].any():
        out.print("[dim]示意数据（非官方）/ synthetic demo data: values from demo layers are illustrative only.[/]")
