"""What every verb module of the ``planwatch`` command shares: the app, the consoles, the common
options, refusing (``fail``), loading the plan, opening the store and printing JSON."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table
from typer.core import TyperGroup

from planwatch.plan import PlanPackageError, load_plan

# Exit codes: 0 success, 1 refused input (or a failure the message explains), 2 usage (click's own).
EXIT_REFUSED = 1
MAX_ECHO = 80  # characters of a user's value quoted back in a message


class SafeGroup(TyperGroup):
    """The root command: no Python traceback ever reaches the user. An error no verb anticipated is
    printed as one line naming its kind, exit code 1; ``PLANWATCH_DEBUG=1`` shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - the last line of defence
            # click's and typer's own exceptions (exit codes, usage errors, aborts) pass through
            if os.environ.get("PLANWATCH_DEBUG") or type(e).__module__.split(".")[0] in ("click", "typer"):
                raise
            err.print(f"[bold red]error:[/] {explain(e)}", highlight=False, markup=True, soft_wrap=True)
            err.print("[dim](set PLANWATCH_DEBUG=1 to see where this happened)[/]", highlight=False)
            raise typer.Exit(EXIT_REFUSED) from None


def explain(e: Exception) -> str:
    """One line for an error no verb caught: what kind of error, in the user's terms where known."""
    import sqlite3

    from planwatch.store import StoreError

    text = shorten(str(e)) or type(e).__name__
    if isinstance(e, StoreError):
        return text
    if isinstance(e, sqlite3.OperationalError) and "readonly" in text:
        return "the store is read-only (no permission to write to it); nothing was written"
    if isinstance(e, sqlite3.OperationalError) and "locked" in text:
        return "the store is locked by another program; try again when it has finished"
    if isinstance(e, sqlite3.DatabaseError):
        return f"the store cannot be read as a planwatch store ({text})"
    if isinstance(e, PermissionError):
        return f"permission denied: {e.filename or text}"
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror or text}"
    return f"{type(e).__name__}: {text}"


def shorten(text: str, limit: int = MAX_ECHO * 4) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}…（共{len(text)}个字符）"


app = typer.Typer(help="planwatch: a territorial spatial plan as software.", no_args_is_help=True, add_completion=False,
                  cls=SafeGroup, pretty_exceptions_enable=False)

err = Console(stderr=True)
out = Console()

PlanOpt = Annotated[str, typer.Option("--plan", help="plan package id or folder")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="the store: a .gpkg file, or a PostGIS DSN postgresql://user@host:port/dbname "
    "(default $PLANWATCH_DB or ./planwatch.gpkg)")]
FormatOpt = Annotated[str, typer.Option("--format", help="json or table")]
ForceOpt = Annotated[bool, typer.Option("--force", help="allow a year outside the plan's span")]


def check_out_dir(out_dir: Path) -> None:
    """``--out`` must be a folder planwatch can write into (it is created if missing)."""
    probe = out_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is a file" if probe == out_dir else f"lies under a file ({probe})"
        fail(f"--out {out_dir}: {what}; give a folder for report.html, report.pdf, report.docx and report.xlsx")
    if not os.access(probe, os.W_OK | os.X_OK):
        fail(f"--out {out_dir}: no permission to write into {probe}")


def clean(x):
    """JSON-able: NaN/inf → null, numpy scalars → Python."""
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(clean(obj), ensure_ascii=False, indent=2) + "\n")


def fail(message: str, code: int = 1):
    err.print(f"[bold red]error:[/] {rich_escape(message)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def load(plan_id: str):
    try:
        return load_plan(plan_id)
    except PlanPackageError as e:
        fail(str(e))


def check_year(year: int, plan, force: bool) -> None:
    """A check-up year inside the plan's span (its base year to its last horizon), unless forced."""
    first = plan.meta.base_year
    last = max([plan.meta.period[1], *(tv.year for t in plan.targets for tv in t.targets)])
    if not force and not first <= year <= last:
        fail(f"--year {year} is outside the plan's span ({first}–{last}, from its base year to its last target "
              "year); add --force to evaluate it anyway")


def observations_or_fail(store, db) -> object:
    obs = store.observations()
    if obs.empty:
        fail(f"the store {getattr(store, 'path', db)} holds no observations: import some first "
              "(planwatch observe import FILE)")
    return obs


def check_format(fmt: str) -> None:
    if fmt not in {"json", "table"}:
        fail(f"--format must be json or table, not {fmt!r}")


def open_db(db: str | Path | None, plan=None, *, create: bool = False):
    """Open the store (``create``: make it if missing — only verbs that write data do); with
    ``plan``, first move any layer stored in another CRS into the plan's storage CRS (a store
    written before the package changed it), saying so."""
    from planwatch.store import StoreError, open_store

    try:
        store = open_store(db, create=create, on_wait=lambda message: err.print(message, style="yellow", highlight=False,
                                                                                 markup=False, soft_wrap=True))
    except (StoreError, ValueError, OSError) as e:
        fail(str(e))
    if plan is not None and plan.spatial is not None:
        from planwatch.onemap.layers import migrate_storage_crs

        with err.status("checking the store's layer CRS…") as status:
            moved = migrate_storage_crs(store, plan, progress=status.update)
        for r in moved:
            err.print(f"migrated layer {r['layer_type']} to {r['crs']} (version {r['version']})", highlight=False)
    return store


def show_frame(df, format: str, cols: list[str]) -> None:
    if format == "json":
        print_json(df.to_dict("records"))
        return
    table = Table()
    for c in cols:
        table.add_column(c)
    for r in df[cols].itertuples(index=False):
        table.add_row(*[str(x) for x in r])
    out.print(table)
