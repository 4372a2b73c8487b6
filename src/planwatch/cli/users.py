"""Accounts and the audit log: ``planwatch users add | list | disable | enable | token`` and
``planwatch audit``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape as rich_escape
from rich.table import Table

from planwatch.cli.common import DbOpt, FormatOpt, PlanOpt, app, check_format, open_db, out, print_json
from planwatch.services import frame_records, plans, users
from planwatch.services.findings import default_actor
from planwatch.services.plans import DEFAULT_PLAN

users_app = typer.Typer(help="Accounts of planwatch serve: roles admin, district_editor, department, viewer.",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")

NameArg = Annotated[str, typer.Argument(help="the account's name")]
ByOpt = Annotated[str | None, typer.Option("--by", help="who does it (default $PLANWATCH_USER, else your login name)")]


@users_app.command("add")
def add(
    name: NameArg,
    role: Annotated[str, typer.Option("--role", help="admin, district_editor, department or viewer")],
    district: Annotated[str, typer.Option("--district", help="a district editor's district")] = "",
    unit: Annotated[str, typer.Option("--unit", help="a department's unit (findings units lists them)")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from standard input")] = False,
    by: ByOpt = None, db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN,
) -> None:
    """Add an account (the password is asked for, or read with --password-stdin; kept as an argon2 hash)."""
    p = plans.load(plan)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt(
        "password", hide_input=True, confirmation_prompt=True)
    uid = users.add_user(lambda: open_db(db, create=True), p, name, role, password, district=district, unit=unit,
                         by=by or default_actor())
    out.print(f"account #{uid} {name} ({role}{', ' + district if district else ''}{', ' + unit if unit else ''}) added",
              highlight=False)


@users_app.command("list")
def list_(db: DbOpt = None, format: FormatOpt = "table") -> None:
    """Every account: name, role, scope, whether disabled (never a password hash)."""
    check_format(format)
    df = users.list_users(lambda: open_db(db))
    if format == "json":
        print_json(frame_records(df))
        return
    table = Table(title=f"accounts ({len(df)})")
    for c in ("#", "name", "role", "scope", "disabled", "created"):
        table.add_column(c)
    for r in df.to_dict("records"):
        table.add_row(str(r["user_id"]), rich_escape(r["name"]), users.ROLE_ZH.get(r["role"], r["role"]),
                      r["district"] or r["unit"], "yes" if r["disabled"] else "", f"{r['created_at']} by {r['created_by']}")
    out.print(table)


@users_app.command("disable")
def disable(name: NameArg, by: ByOpt = None, db: DbOpt = None) -> None:
    """Disable an account: its password and tokens stop working (it is never deleted)."""
    users.set_disabled(lambda: open_db(db), name, True, by=by or default_actor())
    out.print(f"account {name} disabled", highlight=False)


@users_app.command("enable")
def enable(name: NameArg, by: ByOpt = None, db: DbOpt = None) -> None:
    """Enable a disabled account again."""
    users.set_disabled(lambda: open_db(db), name, False, by=by or default_actor())
    out.print(f"account {name} enabled", highlight=False)


@users_app.command("token")
def token(
    name: NameArg,
    days: Annotated[int, typer.Option("--days", help="how long it is valid")] = users.TOKEN_DAYS,
    label: Annotated[str, typer.Option("--label", help="what it is for")] = "",
    by: ByOpt = None, db: DbOpt = None,
) -> None:
    """Issue an API token (Authorization: Bearer …). It is printed once and kept only as its sha256."""
    value, expires = users.issue_token(lambda: open_db(db), name, days=days, label=label, by=by or default_actor())
    out.print(value, highlight=False, soft_wrap=True)
    out.print(f"(valid until {expires}; shown only now)", highlight=False)


@app.command("audit")
def audit(
    limit: Annotated[int | None, typer.Option("--limit", help="only the last N entries")] = None,
    db: DbOpt = None, format: FormatOpt = "table",
) -> None:
    """The audit log of writes made through accounts: who, when, what, on what, from which address."""
    check_format(format)
    df = users.audit_log(lambda: open_db(db), limit=limit)
    if format == "json":
        print_json(frame_records(df))
        return
    table = Table(title=f"audit log ({len(df)} entries)")
    for c in ("#", "time (UTC)", "who", "action", "target", "detail", "from"):
        table.add_column(c)
    for r in df.to_dict("records"):
        table.add_row(str(r["audit_id"]), r["at"], rich_escape(r["actor"]), r["action"], rich_escape(r["target"]),
                      rich_escape(r["detail"]), r["address"])
    out.print(table)
