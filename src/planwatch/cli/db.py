"""Verbs of the store itself: ``planwatch db init | upgrade | version | copy | diff``. Thin: each calls
:mod:`planwatch.services.stores`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from planwatch.cli.common import (
    DbOpt,
    FormatOpt,
    app,
    check_format,
    db_target,
    err,
    out,
    print_json,
    status_line,
)
from planwatch.services import stores

db_app = typer.Typer(help="The store: create its schema, upgrade it, copy it (GeoPackage ↔ PostGIS), compare two.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")

StoreArg = Annotated[str, typer.Argument(help="a .gpkg file or a PostGIS DSN postgresql://user@host:port/dbname")]


def _wait(message: str) -> None:
    err.print(message, style="yellow", highlight=False, markup=False, soft_wrap=True)


def _target(db: str | None) -> str:
    from planwatch.store import default_db_path

    return str(db_target(db) or default_db_path())


def _print_schema(state: stores.SchemaState, format: str, done: str) -> None:
    if format == "json":
        print_json(state.to_records())
        return
    out.print(done, highlight=False, markup=False, soft_wrap=True)
    table = Table(title=f"schema history of {state.store}")
    for c in ("version", "description", "applied_at", "planwatch_version"):
        table.add_column(c, overflow="fold")
    for r in state.history.itertuples(index=False):
        table.add_row(str(r.version), r.description, str(r.applied_at or ""), str(r.planwatch_version or ""))
    out.print(table)


@db_app.command("init")
def db_init(db: DbOpt = None, format: FormatOpt = "table") -> None:
    """Create the store's schema (a new .gpkg file, or the tables in a PostGIS database)."""
    check_format(format)
    state = stores.init(_target(db), on_wait=_wait)
    done = (f"{state.store}: store created at schema {state.version}" if state.applied
            else f"{state.store}: already a planwatch store at schema {state.version}; nothing changed")
    _print_schema(state, format, done)


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None, format: FormatOpt = "table") -> None:
    """Apply the schema migrations the store lacks, in one transaction (running it again changes nothing)."""
    check_format(format)
    state = stores.upgrade(_target(db), on_wait=_wait)
    if state.applied:
        described = dict(zip(state.history["version"], state.history["description"], strict=True))
        done = f"{state.store}: upgraded to schema {state.version}: " + "; ".join(
            f"{v} {described.get(v, '')}".strip() for v in state.applied)
    else:
        done = f"{state.store}: already at schema {state.version}; nothing to do"
    _print_schema(state, format, done)


@db_app.command("version")
def db_version(db: DbOpt = None, format: FormatOpt = "table") -> None:
    """The store's schema version and the history of its migrations."""
    check_format(format)
    state = stores.version(_target(db))
    _print_schema(state, format, f"{state.store}: schema {state.version}")


@db_app.command("copy")
def db_copy(source: StoreArg, destination: StoreArg, format: FormatOpt = "table") -> None:
    """Copy a whole store into an empty one (GeoPackage → PostGIS or back), all or nothing: every
    observation revision with its import log, the judgements and their evidence, the layers with their
    versions and provenance, the QGIS styles."""
    check_format(format)
    with status_line() as progress:
        result = stores.copy(source, destination, progress=progress, on_wait=_wait)
    if format == "json":
        print_json(result.to_records())
        return
    copied = ", ".join(f"{n:,} {name.removeprefix('pw_')}" for name, n in result.counts.items())
    out.print(f"copied {result.source} into {result.destination}: {copied}", highlight=False, markup=False,
              soft_wrap=True)


@db_app.command("diff")
def db_diff(first: StoreArg, second: StoreArg, format: FormatOpt = "table") -> None:
    """Compare the data of two stores (either backend); exit 1 when they differ."""
    check_format(format)
    with status_line() as progress:
        result = stores.diff(first, second, progress=progress)
    if format == "json":
        print_json(result.to_records())
    else:
        for line in result.differences:
            out.print(line, highlight=False, markup=False, soft_wrap=True)
        summary = (f"{len(result.differences)} difference(s) between {result.first} and {result.second}"
                   if result.differences else f"no differences between {result.first} and {result.second}")
        out.print(summary, highlight=False, markup=False, soft_wrap=True)
    if result.differences:
        raise typer.Exit(1)


