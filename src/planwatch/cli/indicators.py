"""Verbs of the spatial indicators (capability 9): ``planwatch access coverage | stations | import-osm``
and ``planwatch indicators compute | land``. Thin: each calls :mod:`planwatch.indicators` or
:mod:`planwatch.indicators.compute`."""

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
    err,
    fail,
    load,
    open_db,
    out,
    print_json,
)
from planwatch.plan import DEFAULT_PLAN

access_app = typer.Typer(help="Accessibility: coverage within a distance, straight-line or over a walking network.", no_args_is_help=True)
indicators_app = typer.Typer(help="Spatial indicators computed from the one map's layers.", no_args_is_help=True)
app.add_typer(access_app, name="access")
app.add_typer(indicators_app, name="indicators")

MethodOpt = Annotated[str, typer.Option("--method", help="euclidean (straight line) or network (walking distance over roads)")]


def _fmt(v, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:,.{digits}f}"


def _read_layer(spec: str, store, plan, what: str):
    from planwatch.indicators.compute import IndicatorInputError, layer_or_file

    try:
        return layer_or_file(spec, store, plan)
    except IndicatorInputError as e:
        fail(f"{what}: {e}")


def _optional_layer(store, type_id: str):
    if store is None:
        return None
    try:
        return store.read_layer(type_id)
    except KeyError:
        return None


def _store_if_any(db, plan):
    """The store at --db (or the default path) when there is one, else None: a verb that can work on
    files alone needs no store, and must not create one."""
    from planwatch.store import default_db_path

    path = Path(db) if db else default_db_path()
    return open_db(db, plan) if path.exists() else None


def _road_layer(plan_id: str) -> str:
    """The layer type of the walking network, as the plan package's indicators.yaml names it."""
    from planwatch.plan.indicators import load_indicator_specs
    from planwatch.plan.load import PlanPackageError

    try:
        return load_indicator_specs(plan_id).walking.roads
    except PlanPackageError as e:
        fail(str(e))


def _roads_network(spec: str, store, plan):
    from planwatch.indicators.network import NetworkError, network_from_lines
    from planwatch.indicators.osm import is_osm_file, read_osm_network

    try:
        if is_osm_file(spec):
            with err.status(f"reading walkable ways from {spec}…"):
                return read_osm_network(spec, crs=plan.spatial.metric_crs, bounds_wgs84=plan.spatial.plan_area_bounds_wgs84)
        lines = _read_layer(spec, store, plan, "--roads")
        with err.status("building the walking network…"):
            return network_from_lines(lines, name=f"--roads {spec}")
    except NetworkError as e:
        fail(str(e))


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
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """For each origin, the distance to the nearest destination and whether it is within reach; the
    covered share (by area or a population column) for the city, each district and each 圈层."""
    from planwatch.indicators.coverage import CoverageInputError, coverage, parse_distance

    check_format(format)
    if method not in ("euclidean", "network"):
        fail(f"--method must be euclidean or network, not {method!r}")
    if snap not in ("edge", "node"):
        fail(f"--snap must be edge or node, not {snap!r}")
    p = load(plan)
    store = _store_if_any(db, p)
    try:
        within_m = parse_distance(within)
    except CoverageInputError as e:
        fail(f"--within: {e}")
    o = _read_layer(origins, store if store is not None else {}, p, "--from")
    d = _read_layer(destinations, store if store is not None else {}, p, "--to")
    network = None
    if method == "network":
        network = _roads_network(roads or _road_layer(plan), store if store is not None else {}, p)
    try:
        with err.status(f"{method} coverage within {within_m:g} m…"):
            result = coverage(
                o, d, within_m, method=method, weight=weight, network=network, snap=snap,
                districts=_optional_layer(store, "districts"), rings=_optional_layer(store, "rings"), names=(origins, destinations),
            )
    except CoverageInputError as e:
        fail(str(e))
    synthetic = [n for n, g in ((origins, o), (destinations, d)) if (g.attrs.get("layer") or {}).get("synthetic")]
    if out_file is not None:
        _write_coverage(result, out_file)
    if format == "json":
        print_json({
            "method": result.method, "within_m": result.within_m, "weight": result.weight,
            "shares": result.shares.to_dict("records"), "warnings": result.warnings,
            "synthetic_layers": synthetic, "out": str(out_file) if out_file else None,
        })
        return
    table = Table(title=f"{origins} → {destinations}: covered within {within_m:g} m ({method})")
    for c in ("level", "geo", "origins", "covered", "unreachable", "share %"):
        table.add_column(c, justify="right" if c not in ("level", "geo") else "left")
    for r in result.shares.itertuples():
        table.add_row(r.level, r.geo, str(r.origins), str(r.covered), str(r.unreachable), _fmt(r.share_pct))
    out.print(table)
    out.print(f"method: {result.method}; weight: {result.weight}", highlight=False)
    for w in result.warnings:
        out.print(f"[yellow]warning[/]: {w}", highlight=False)
    if synthetic:
        from planwatch.store import SYNTHETIC_LABEL

        out.print(f"[yellow]{', '.join(synthetic)}: {SYNTHETIC_LABEL}[/]", highlight=False)
    if out_file is not None:
        out.print(f"wrote {out_file} (layer coverage: {len(result.origins)} origins; table coverage_shares)", highlight=False)


def _write_coverage(result, path: Path) -> None:
    import numpy as np
    import pyogrio

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    gdf = result.origins.copy()
    gdf["distance_m"] = np.where(np.isfinite(gdf["distance_m"]), gdf["distance_m"], np.nan)  # unreachable: null
    for col in [c for c in gdf.columns if str(c).lower() == "fid"]:
        gdf = gdf.rename(columns={col: f"src_{col}"})
    pyogrio.write_dataframe(gdf, path, layer="coverage")
    shares = result.shares.assign(method=result.method, within_m=result.within_m, weight=result.weight)
    pyogrio.write_dataframe(shares, path, layer="coverage_shares")


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
    from planwatch.indicators.compute import MissingLayer, station_coverage_table
    from planwatch.indicators.coverage import CoverageInputError

    check_format(format)
    p = load(plan)
    try:
        with err.status("overlaying the districts with the stations' buffers…"):
            table = station_coverage_table(None if shipped else open_db(db, p), p, radius_m=within)
    except (CoverageInputError, MissingLayer) as e:
        fail(f"{e} (or use --shipped for the real layers in the plan package)")
    if format == "json":
        print_json({"within": within, "method": table.attrs.get("method"), "rows": table.to_dict("records")})
        return
    t = Table(title=f"轨道站点 {within} 直线覆盖：各区面积占比")
    for c in ("district", "area km²", "covered km²", "share %", "stations"):
        t.add_column(c, justify="left" if c == "district" else "right")
    for r in table.itertuples():
        t.add_row(r.district, _fmt(r.area_km2, 1), _fmt(r.covered_km2, 1), _fmt(r.share), str(r.stations))
    out.print(t)
    out.print(f"method: {table.attrs.get('method')}", highlight=False)
    out.print("stations © OpenStreetMap contributors, ODbL 1.0 (subway, tram and maglev; not suburban railways)", highlight=False)


@access_app.command("import-osm")
def access_import_osm(
    file: Annotated[Path, typer.Argument(help="an OpenStreetMap extract: .osm.pbf, .osm or .osm.bz2")],
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
) -> None:
    """Store the walkable ways of an OSM extract (cut to the plan area) as the road network layer,
    for --method network. Needs pyosmium (pip install osmium)."""
    from planwatch.indicators.network import NetworkError
    from planwatch.indicators.osm import OSM_ATTRIBUTION, read_osm_ways
    from planwatch.onemap.layers import LayerImportError, file_sha256, import_frame

    p = load(plan)
    store = open_db(db, p, create=True)
    try:
        with err.status(f"reading walkable ways from {file}…"):
            ways = read_osm_ways(file, crs=p.spatial.storage_crs, bounds_wgs84=p.spatial.plan_area_bounds_wgs84)
        layer = _road_layer(plan)
        with err.status(f"storing {len(ways):,} ways as the {layer} layer…"):
            report = import_frame(
                ways, layer, store, p, source=str(file), sha256=file_sha256(file), file=str(file),
                notes=[f"walkable OSM ways (highway=*) cut to the plan area; junctions at shared OSM nodes; {OSM_ATTRIBUTION}"],
            )
    except (NetworkError, LayerImportError) as e:
        fail(str(e))
    out.print(f"{file}: {report.features:,} walkable ways stored as {report.layer_type} (version {report.version}); {OSM_ATTRIBUTION}",
              highlight=False)
    out.print("network coverage over them: planwatch indicators compute --year Y --method network", highlight=False)


# ------------------------------------------------------------------ indicators


@indicators_app.command("compute")
def indicators_compute(
    year: Annotated[int, typer.Option("--year", help="the year the observations are recorded for")],
    method: MethodOpt = "euclidean",
    only: Annotated[str | None, typer.Option("--only", help="comma-separated target ids, e.g. T21,T34")] = None,
    store_results: Annotated[bool, typer.Option("--store/--no-store", help="also store the results as computed observations (never replacing an official figure)")] = False,
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """Compute every spatial indicator the plan package marks computable from the store's current
    layers and print them by city, district and 圈层. With --store, also store them as computed
    observations of YEAR (method, layers with their content hashes, planwatch version): kept beside
    any official figure of the same target and year, which the evaluation always prefers; values
    computed from synthetic layers are stored but never graded."""
    from planwatch.indicators.compute import IndicatorInputError, compute_indicators, store_indicators
    from planwatch.plan.indicators import load_indicator_specs
    from planwatch.plan.load import PlanPackageError

    check_format(format)
    p = load(plan)
    store = open_db(db, p)
    try:
        specs = load_indicator_specs(plan)
    except PlanPackageError as e:
        fail(str(e))
    targets = [t.strip() for t in only.split(",") if t.strip()] if only else None
    try:
        with err.status("computing spatial indicators…") as status:
            run = compute_indicators(store, p, method=method, targets=targets, specs=specs, progress=lambda m: status.update(m))
    except IndicatorInputError as e:
        fail(str(e))
    summary = None
    if store_results and len(run.results):
        summary = store_indicators(store, p, run, year)
    if format == "json":
        print_json({
            "year": year, "method": method, "results": run.results.to_dict("records"), "skipped": run.skipped,
            "warnings": run.warnings, "notes": run.notes,
            "stored": None if summary is None else {"added": summary.added, "revised": summary.revised, "unchanged": summary.unchanged,
                                                    "import_id": summary.import_id},
        })
        return
    _print_indicators(run, year, method)
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
def indicators_land(db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table") -> None:
    """Land statistics: construction land and land use (by class), km², for the city, by district,
    by 圈层 and by 两线三区 zone."""
    from planwatch.indicators.compute import IndicatorInputError, land_statistics

    check_format(format)
    p = load(plan)
    try:
        with err.status("overlaying land with districts, 圈层 and zones…"):
            stats = land_statistics(open_db(db, p), p)
    except IndicatorInputError as e:
        fail(str(e))
    if format == "json":
        print_json(stats.to_dict("records"))
        return
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
