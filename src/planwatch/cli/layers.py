"""Verbs of the one map: ``planwatch layers list``, ``planwatch layers import`` and ``planwatch layers demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
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
    status_line,
)
from planwatch.services import layers, plans
from planwatch.services.plans import DEFAULT_PLAN

# Shared with `planwatch review`, which reads a user's parcels with the same reader.
FieldOpt = Annotated[list[str] | None, typer.Option(
    "--field", metavar="LAYER_FIELD=FILE_FIELD",
    help="take a field the layer type needs from the file's field of another name, e.g. --field name=stop_name (repeatable)")]
EncodingOpt = Annotated[str | None, typer.Option(
    "--encoding", help="a Shapefile's text encoding when it has no .cpg (or a wrong one), e.g. GBK or UTF-8")]

layers_app = typer.Typer(help="The one map (一张图): layers in the store, import, demo.", no_args_is_help=True)
app.add_typer(layers_app, name="layers")

@layers_app.command("list")
def layers_list(db: DbOpt = None, format: FormatOpt = "table", plan: PlanOpt = DEFAULT_PLAN) -> None:
    """The layers in the store, in the plan's order: type, the plan's name, features, version, CRS,
    whether synthetic, source; and the plan's layer types not loaded yet."""
    check_format(format)
    p = plans.load(plan)
    listed = layers.list_layers(open_db(db, p), p)
    if format == "json":
        print_json(listed.to_records())
        return
    df, missing = listed.frame, listed.missing
    table = Table(title=f"一张图 layers ({len(df)})")
    for c in ("layer_type", "name", "features", "version", "crs", "data", "source"):
        table.add_column(c, overflow="fold")
    for r in df.itertuples():
        data = "[yellow]示意[/]" if r.synthetic else "real"
        table.add_row(r.layer_type, r.name, str(r.features), str(r.version), r.crs, data, Path(r.source).name or r.source)
    out.print(table)
    if df["synthetic"].any():
        out.print(f"示意 = {listed.synthetic_label}", highlight=False)
    if missing:
        out.print(f"not loaded: {', '.join(missing)}", highlight=False)


@layers_app.command("import")
def layers_import(
    file: Annotated[str, typer.Argument(help="GeoPackage (FILE.gpkg or FILE.gpkg:LAYER), Shapefile (.shp or .zip), GeoJSON, GeoParquet")],
    layer_type: Annotated[str, typer.Option("--as", help="the plan's layer type: its id (farmland) or name (永久基本农田)")],
    crs: Annotated[str | None, typer.Option("--crs", help="the file's CRS if missing or wrong: EPSG:4326, EPSG:4548, … or gcj02")] = None,
    synthetic: Annotated[bool, typer.Option("--synthetic", help="label the layer as synthetic demo data")] = False,
    field: FieldOpt = None,
    encoding: EncodingOpt = None,
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """Import a layer, all or nothing: check every feature, repair invalid geometries, transform to the
    storage CRS, and replace the current layer of that type. 3D and measured geometries are
    flattened to 2-D (said in the output); --field maps the file's field names to the layer type's."""
    check_format(format)
    p = plans.load(plan)
    store = open_db(db, p, create=True)
    with status_line() as progress:
        imported = layers.import_layer(store, p, file, layer_type, crs=crs, synthetic=synthetic, encoding=encoding,
                                       fields=field, progress=progress)
    if format == "json":
        print_json(imported.to_records())
        return
    report = imported.report
    chosen = f" (layer {report.source_layer})" if report.source_layer else ""
    out.print(
        f"{report.file}{chosen}: {report.features} features imported as {report.layer_type} ({report.name}), "
        f"version {report.version} in {report.table_name}, {report.crs_in} → {report.crs_stored}",
        highlight=False,
    )
    for n in report.notes:
        out.print(f"  note: {n}", highlight=False)
    for r in report.repairs:
        out.print(f"  [yellow]repaired[/]: {r}", highlight=False)


@layers_app.command("demo")
def layers_demo(
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    seed: Annotated[int, typer.Option("--seed", help="seed of the demo generator")] = 2021,
) -> None:
    """Load the real base layers (districts, rail stations, 圈层) and the synthetic demo one-map
    (every other layer type, labelled 示意数据（非官方）) into the store."""
    p = plans.load(plan)
    store = open_db(db, p, create=True)
    steps = layers.demo_steps()
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err, transient=True,
    ) as progress:
        task = progress.add_task("demo one-map", total=steps)

        def step(message: str) -> None:
            progress.update(task, description=message, advance=1)

        loaded = layers.load_demo(store, p, seed=seed, progress=step)
    for r in loaded.rows:
        label = " [yellow](示意数据（非官方）/ synthetic demo data)[/]" if r["synthetic"] else ""
        out.print(f"{r['layer_type']}: {r['features']} features, version {r['version']}{label}", highlight=False)
    out.print(f"{len(loaded.rows)} layers in {loaded.store or db or ''}", highlight=False)
