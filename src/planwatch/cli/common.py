"""What every verb module of the ``planwatch`` command shares: the app, the consoles, the common
options, refusing (``fail``; a :class:`~planwatch.services.ServiceError` from any verb is refused the
same way), opening the store, status lines and printing JSON. The verbs call
:mod:`planwatch.services` for everything else."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table
from typer.core import TyperGroup

from planwatch.services import EXIT_REFUSED, ServiceError, jsonable, shorten

# Exit codes: 0 success, 1 (EXIT_REFUSED) refused input or a failure the message explains, 2 usage (click's own).


class SafeGroup(TyperGroup):
    """The root command: no Python traceback ever reaches the user. An error no verb anticipated is
    printed as one line naming its kind, exit code 1; ``PLANWATCH_DEBUG=1`` shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (SystemExit, KeyboardInterrupt):
            raise
        except ServiceError as e:  # a refusal in the user's terms, from the service a verb called
            fail(str(e), code=e.exit_code)
        except Exception as e:  # noqa: BLE001 - the last line of defence
            # click's and typer's own exceptions (exit codes, usage errors, aborts) pass through
            if os.environ.get("PLANWATCH_DEBUG") or type(e).__module__.split(".")[0] in ("click", "typer"):
                raise
            err.print(f"[bold red]error:[/] {rich_escape(explain(e))}", highlight=False, markup=True, soft_wrap=True)
            err.print("[dim](set PLANWATCH_DEBUG=1 to see where this happened)[/]", highlight=False)
            raise typer.Exit(EXIT_REFUSED) from None


def explain(e: Exception) -> str:
    """One line for an error no verb caught: what kind of error, in the user's terms where known."""
    import sqlite3

    from planwatch.extras import MissingExtraError
    from planwatch.store import StoreError

    text = shorten(str(e)) or type(e).__name__
    if isinstance(e, StoreError | MissingExtraError):
        return text
    if isinstance(e, sqlite3.OperationalError) and "readonly" in text:
        return "the store is read-only (no permission to write to it); nothing was written"
    if isinstance(e, sqlite3.OperationalError) and "locked" in text:
        return "the store is locked by another program; try again when it has finished"
    if isinstance(e, sqlite3.DatabaseError):
        return f"the store cannot be read as a planwatch store ({text})"
    if type(e).__module__.split(".")[0] == "psycopg":  # the PostGIS server's own words, first line only
        said = getattr(getattr(e, "diag", None), "message_primary", None)
        said = said or next(iter(str(e).strip().splitlines()), type(e).__name__)
        return (f"the PostGIS store: {shorten(said)} ({type(e).__name__}); a write is one transaction: "
                "if this was one, nothing of it was kept")
    if isinstance(e, PermissionError):
        return f"permission denied: {e.filename or text}"
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror or text}"
    return f"{type(e).__name__}: {text}"


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


def print_json(obj) -> None:
    """``obj`` as indented JSON on stdout (NaN → null, numpy scalars → Python)."""
    sys.stdout.write(json.dumps(jsonable(obj), ensure_ascii=False, indent=2) + "\n")


def fail(message: str, code: int = 1):
    err.print(f"[bold red]error:[/] {rich_escape(message)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def status_line() -> Iterator[Callable[[str], None]]:
    """A service's ``progress`` callback: each message it sends replaces a status line on stderr,
    which goes when the block ends. The line starts with the first message, so a service that opens
    the store first (which may show a status line of its own) does so before it."""
    shown = None

    def progress(message: str) -> None:
        nonlocal shown
        if shown is None:
            shown = err.status(message)
            shown.start()
        else:
            shown.update(message)

    try:
        yield progress
    finally:
        if shown is not None:
            shown.stop()


def check_format(fmt: str) -> None:
    if fmt not in {"json", "table"}:
        fail(f"--format must be json or table, not {fmt!r}")


_root_db: str | None = None  # `planwatch --db X <verb>`: the store of every verb of this run


@app.callback()
def root(db: DbOpt = None) -> None:
    """planwatch: a territorial spatial plan as software. `--db` before the verb names the store for
    it (a .gpkg file or a PostGIS DSN), as `--db` after it does."""
    global _root_db
    _root_db = db


def db_target(db: str | Path | None) -> str | Path | None:
    """The store a verb works on: its own ``--db``, else the one given before the verb, else None
    (then ``$PLANWATCH_DB`` or ./planwatch.gpkg)."""
    return db or _root_db


def open_db(db: str | Path | None, plan=None, *, create: bool = False):
    """Open the store (``create``: make it if missing — only verbs that write data do); with
    ``plan``, first move any layer stored in another CRS into the plan's storage CRS (a store
    written before the package changed it), saying so."""
    from planwatch.store import StoreError, open_store

    try:
        store = open_store(db_target(db), create=create, on_wait=lambda message: err.print(message, style="yellow", highlight=False,
                                                                                 markup=False, soft_wrap=True))
    except (StoreError, ValueError, OSError) as e:
        fail(str(e))
    if plan is not None and plan.spatial is not None:
        from planwatch.services.layers import migrate_storage_crs

        with err.status("checking the store's layer CRS…") as status:
            moved = migrate_storage_crs(store, plan, progress=status.update)
        for r in moved:
            err.print(f"migrated layer {r['layer_type']} to {r['crs']} (version {r['version']})", highlight=False)
    return store


def show_table(df, cols: list[str]) -> None:
    """The columns ``cols`` of ``df`` as a table."""
    table = Table()
    for c in cols:
        table.add_column(c)
    for r in df[cols].itertuples(index=False):
        table.add_row(*[str(x) for x in r])
    out.print(table)
