"""Verbs of the spatial indicators (capability 9): ``planwatch access coverage | stations | import-osm``
and ``planwatch indicators compute | land``. Thin: each calls :mod:`planwatch.services.indicators`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from planwatch.cli.common import (
    DbOpt,
    FormatOpt,
    PlanOpt,
    app,
    check_format,
    db_target,
    open_db,
    out,
    print_json,
    status_line,
)
from planwatch.services import indicators, plans
from planwatch.services.plans import DEFAULT_PLAN

access_app = typer.Typer(help="Accessibility: coverage within a distance, straight-line or over a walking network.", no_args_is_help=True)
indicators_app = typer.Typer(help="Spatial indicators computed from the one map's layers.", no_args_is_help=True)
app.add_typer(access_app, name="access")
app.add_typer(indicators_app, name="indicators")

MethodOpt = Annotated[str, typer.Option("--method", help="euclidean (straight line) or network (walking distance over roads)")]
EngineOpt = Annotated[str, typer.Option(
    "--engine", help="geopandas (default: one process) or dask (partitioned by space; the area overlays and straight-line "
    "coverage, not --method network)")]
SchedulerOpt = Annotated[str | None, typer.Option(
    "--scheduler", help="with --engine dask: local:N (N worker processes on this machine) or tcp://HOST:PORT (a running "
    "dask scheduler); default $PLANWATCH_DASK_SCHEDULER, else threads in this process")]


def _fmt(v, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:,.{digits}f}"


# ------------------------------------------------------------------ access


@access_app.command("coverage")
def access_coverage(
    origins: Annotated[str, typer.Option("--from", help="origins: a stored layer type (residential) or a vector file")],
    destinations: Annotated[str, typer.Option("--to", help="destinations: a stored layer type (parks) or a vector file")],
    within: Annotated[str, typer.Option("--within", help="the distance, e.g. 500m or 1km")],
    method: MethodOpt = "euclidean",
    weight: Annotated[str, typer.Option("--weight", help="area (of origin polygons) or a numeric column such as population")] = "area",
    roads: Annotated[str | None, typer.Option("--roads", help="road lines for --method network: a stored layer type, a GeoPackage/Shapefile of lines or an OSM .pbf")] = None,
    snap: Annotated[str, typer.Option("--snap", help="network: snap to the nearest edge or node")] = "edge",
    out_file: Annotated[Path | None, typer.Option("--out", help="GeoPackage to write: layer coverage (each origin) and table coverage_shares")] = None,
    engine: EngineOpt = "geopandas",
    scheduler: SchedulerOpt = None,
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """For each origin, the distance to the nearest destination and whether it is within reach; the
    covered share (by area or a population column) for the city, each district and each 圈层."""
    from planwatch.store import SYNTHETIC_LABEL, default_db_path, store_exists

    check_format(format)
    indicators.check_coverage_options(method, snap)
    scheduler = indicators.check_engine_options(engine, scheduler, method)  # a usage mistake stops here (exit 2)
    p = plans.load(plan)
    # a verb that can work on files alone needs no store, and must not create one
    store = open_db(db, p) if store_exists(db_target(db) or default_db_path()) else None
    with status_line() as progress:
        covered = indicators.access_coverage(store, p, origins, destinations, within, method=method, weight=weight,
                                             roads=roads, snap=snap, out_file=out_file, engine=engine, scheduler=scheduler,
                                             package=plan, progress=progress)
    if format == "json":
        print_json(covered.to_records())
        return
    result, synthetic, within_m = covered.result, covered.synthetic_layers, covered.result.within_m
    table = Table(title=f"{origins} → {destinations}: covered within {within_m:g} m ({method})")
    for c in ("level", "geo", "origins", "covered", "unreachable", "share %"):
        table.add_column(c, justify="right" if c not in ("level", "geo") else "left")
    for r in result.shares.itertuples():
        table.add_row(r.level, r.geo, str(r.origins), str(r.covered), str(r.unreachable), _fmt(r.share_pct))
    out.print(table)
    out.print(f"method: {result.method}; weight: {result.weight}; engine: {covered.engine}", highlight=False)
    for w in result.warnings:
        out.print(f"[yellow]warning[/]: {w}", highlight=False)
    if synthetic:
        out.print(f"[yellow]{', '.join(synthetic)}: {SYNTHETIC_LABEL}[/]", highlight=False)
    if out_file is not None:
        out.print(f"wrote {out_file} (layer coverage: {len(result.origins)} origins; table coverage_shares)", highlight=False)


@access_app.command("stations")
def access_stations(
    within: Annotated[str, typer.Option("--within", help="the distance, e.g. 800m")] = "800m",
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
    shipped: Annotated[bool, typer.Option("--shipped", help="use the real districts and stations shipped in the plan package, not the store's")] = False,
) -> None:
    """The share of each district's area within a straight-line distance of a rail station (real
    districts and stations): exact overlay of the districts with the stations' buffers."""
    check_format(format)
    p = plans.load(plan)
    store = None if shipped else open_db(db, p)
    with status_line() as progress:
        stations = indicators.station_coverage(store, p, within, progress=progress)
    if format == "json":
        print_json(stations.to_records())
        return
    table = stations.table
    t = Table(title=f"轨道站点 {within} 直线覆盖：各区面积占比")
    for c in ("district", "area km²", "covered km²", "share %", "stations"):
        t.add_column(c, justify="left" if c == "district" else "right")
    for r in table.itertuples():
        t.add_row(r.district, _fmt(r.area_km2, 1), _fmt(r.covered_km2, 1), _fmt(r.share), str(r.stations))
    out.print(t)
    out.print(f"method: {stations.method}", highlight=False)
    out.print("stations © OpenStreetMap contributors, ODbL 1.0 (subway, tram and maglev; not suburban railways)", highlight=False)


@access_app.command("import-osm")
def access_import_osm(
    file: Annotated[Path, typer.Argument(help="an OpenStreetMap extract: .osm.pbf, .osm or .osm.bz2")],
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
) -> None:
    """Store the walkable ways of an OSM extract (cut to the plan area) as the road network layer,
    for --method network. Needs pyosmium (pip install osmium)."""
    p = plans.load(plan)
    store = open_db(db, p, create=True)
    with status_line() as progress:
        imported = indicators.import_osm(store, p, file, package=plan, progress=progress)
    report = imported.report
    out.print(f"{file}: {report.features:,} walkable ways stored as {report.layer_type} (version {report.version}); "
              f"{imported.attribution}", highlight=False)
    out.print("network coverage over them: planwatch indicators compute --year Y --method network", highlight=False)


# ------------------------------------------------------------------ indicators


@indicators_app.command("compute")
def indicators_compute(
    year: Annotated[int, typer.Option("--year", help="the year the observations are recorded for")],
    method: MethodOpt = "euclidean",
    only: Annotated[str | None, typer.Option("--only", help="comma-separated target ids, e.g. T21,T34")] = None,
    store_results: Annotated[bool, typer.Option("--store/--no-store", help="also store the results as computed observations (never replacing an official figure)")] = False,
    engine: EngineOpt = "geopandas",
    scheduler: SchedulerOpt = None,
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """Compute every spatial indicator the plan package marks computable from the store's current
    layers and print them by city, district and 圈层. With --store, also store them as computed
    observations of YEAR (method, layers with their content hashes, planwatch version): kept beside
    any official figure of the same target and year, which the evaluation always prefers; values
    computed from synthetic layers are stored but never graded."""
    check_format(format)
    scheduler = indicators.check_engine_options(engine, scheduler, method)  # a usage mistake stops here (exit 2)
    p = plans.load(plan)
    store = open_db(db, p)
    targets = [t.strip() for t in only.split(",") if t.strip()] if only else None
    with status_line() as progress:
        computed = indicators.compute(store, p, year, method=method, only=targets, store_results=store_results,
                                      engine=engine, scheduler=scheduler, package=plan, progress=progress)
    if format == "json":
        print_json(computed.to_records())
        return
    run, summary = computed.run, computed.stored
    _print_indicators(run, year, method)
    if len(run.results):
        out.print(f"engine: {computed.engine}", highlight=False)
    if summary is not None:
        out.print(
            f"stored as observations of {year}: {summary.added} added, {summary.revised} revised, {summary.unchanged} unchanged "
            f"(import #{summary.import_id}; computed observations: an official figure of the same target and year "
            "is kept and preferred; 全市 and district rates; 圈层 values are printed only)", highlight=False,
        )
    elif len(run.results):
        out.print(f"not stored: add --store to record these as computed observations of {year}", highlight=False)


def _print_indicators(run, year: int, method: str) -> None:
    from planwatch.store import SYNTHETIC_LABEL

    r = run.results
    if len(r):
        ids = list(dict.fromkeys(r["indicator"]))
        first = {i: r[r["indicator"] == i].iloc[0] for i in ids}
        heads = {i: f"{i}\n{first[i]['unit'] or '1:X'}" for i in ids}
        t = Table(title=f"空间指标 {year}（{method}）")
        t.add_column("level")
        t.add_column("geo")
        for i in ids:
            t.add_column(heads[i], justify="right")
        keys = list(dict.fromkeys(zip(r["level"], r["geo"], strict=True)))
        order = {"全市": 0, "圈层": 1, "区": 2}
        keys.sort(key=lambda k: order.get(k[0], 3))
        cell = {(x.indicator, x.level, x.geo): x.value for x in r.itertuples()}
        for level, geo in keys:
            t.add_row(level, geo, *[_fmt(cell.get((i, level, geo))) for i in ids])
        out.print(t)
        for i in ids:
            out.print(f"{i} {first[i]['name']}（{first[i]['unit'] or '1:X'}）: {first[i]['method']}", highlight=False)
        if r["synthetic"].any():
            out.print(f"[yellow]{', '.join(r.loc[r['synthetic'], 'indicator'].unique())}: {SYNTHETIC_LABEL}[/]", highlight=False)
    for w in run.warnings:
        out.print(f"[yellow]warning[/]: {w}", highlight=False)
    for target, why in run.skipped.items():
        out.print(f"[yellow]skipped[/] {target}: {why}", highlight=False)


@indicators_app.command("land")
def indicators_land(engine: EngineOpt = "geopandas", scheduler: SchedulerOpt = None, db: DbOpt = None,
                    plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table") -> None:
    """Land statistics: construction land and land use (by class), km², for the city, by district,
    by 圈层 and by 两线三区 zone."""
    check_format(format)
    scheduler = indicators.check_engine_options(engine, scheduler)  # a usage mistake stops here (exit 2)
    p = plans.load(plan)
    store = open_db(db, p)
    with status_line() as progress:
        land = indicators.land(store, p, engine=engine, scheduler=scheduler, progress=progress)
    if format == "json":
        print_json(land.to_records())
        return
    stats = land.frame
    if stats.empty:
        out.print("no construction_land or land_use layer in the store", highlight=False)
        return
    for layer, g in stats.groupby("layer", sort=False):
        wide = g.pivot_table(index=["level", "geo"], columns="class", values="area_km2", aggfunc="sum", sort=False)
        t = Table(title=f"{layer}（平方公里）")
        t.add_column("level")
        t.add_column("geo")
        cols = list(wide.columns)
        for c in cols:
            t.add_column(c or "area", justify="right")
        for (level, geo), row in wide.iterrows():
            t.add_row(level, geo, *[_fmt(row[c]) for c in cols])
        out.print(t)
    out.print(f"engine: {land.engine}", highlight=False)
