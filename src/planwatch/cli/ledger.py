"""Verbs of the quota ledger (流量池, 减量, 增减挂钩, 拆占比): ``planwatch ledger accounts | release |
reserve | commit | cancel | expire | credit-reduction | transfer | correct | history | check``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape as rich_escape
from rich.table import Table

from planwatch.cli.common import DbOpt, FormatOpt, PlanOpt, app, check_format, err, open_db, out, print_json
from planwatch.services import ledger, plans
from planwatch.services.plans import DEFAULT_PLAN

ledger_app = typer.Typer(
    help="The quota ledger (流量池, 减量, 增减挂钩, 拆占比): release, reserve, commit, transfer, audit.",
    no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")

PoolOpt = Annotated[str, typer.Option("--pool", help="the pool, QUOTA:DISTRICT, e.g. floor_area:顺义区 (ledger accounts lists them)")]
AmountOpt = Annotated[str, typer.Option("--amount", help="the amount, in the quota's unit (m²)")]
ProjectOpt = Annotated[str, typer.Option("--project", help="the project's id")]
QuotaOpt = Annotated[str | None, typer.Option("--quota", help="floor_area or land, when the project holds both")]
MemoOpt = Annotated[str, typer.Option("--memo", help="why, in a sentence (kept in the audit trail)")]
ByOpt = Annotated[str | None, typer.Option("--by", help="who posts (default $PLANWATCH_USER, else your login name)")]
KeyOpt = Annotated[str | None, typer.Option(
    "--key", help="the idempotency key: a request repeated with the same key posts nothing twice (default: a new key)")]
DateOpt = Annotated[str | None, typer.Option("--date", help="the effective date, YYYY-MM-DD (default today)")]


def _posted(done: ledger.Posted, format: str) -> None:
    if format == "json":
        print_json(done.to_records())
        return
    out.print(done.message(), highlight=False)
    if done.repeated:
        return
    for leg in done.legs:
        out.print(f"  {leg['account']:<40} {leg['amount']:>+20,.2f} {done.unit}   {leg['before']:,.2f} → {leg['after']:,.2f}",
                  highlight=False)
    if done.reservation:
        out.print(f"  reservation #{done.reservation['reservation_id']}, expires {done.reservation['expires']}",
                  highlight=False)
    for note in done.notes:
        out.print(f"  [dim]{rich_escape(note)}[/]", highlight=False)
    if done.resolution:
        r = done.resolution
        out.print(f"  reservation #{r['reservation_id']} resolved: {r['action']}"
                  + (f", {r['committed']:,.2f} {done.unit} committed" if r["action"] == "commit" else ""), highlight=False)


def _common(by, key, date, db, plan):
    p = plans.load(plan)
    return p, (lambda: open_db(db, p, create=True)), {"by": by, "key": key, "when": date}


@ledger_app.command("accounts")
def accounts(
    as_of: Annotated[str | None, typer.Option("--as-of", help="the balances at the end of this effective date")] = None,
    db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table",
) -> None:
    """Every pool with what is available, reserved (pending) and committed, and the caps over them."""
    check_format(format)
    p = plans.load(plan)
    from planwatch.services.findings import parse_day

    a = ledger.accounts(lambda: open_db(db), p, as_of=parse_day(as_of, "--as-of"))
    if format == "json":
        print_json(a.to_records())
        return
    table = Table(title="流量池 pools (m²)")
    for c in ("pool", "圈层", "available", "reserved", "committed", "released", "reduced"):
        table.add_column(c, justify="right" if c not in ("pool", "圈层") else "left")
    for r in a.pools.to_dict("records"):
        if not any(r[k] for k in ("available", "reserved", "committed", "released", "reduced")):
            continue
        table.add_row(r["pool"], r["ring"], *(f"{r[k]:,.2f}" for k in ("available", "reserved", "committed", "released",
                                                                         "reduced")))
    out.print(table)
    idle = int((a.pools[["available", "reserved", "committed", "released", "reduced"]].abs().sum(axis=1) == 0).sum())
    if idle:
        out.print(f"({idle} pools with nothing posted are not shown; --format json lists all)", highlight=False)
    caps = Table(title="caps")
    for c in ("cap", "scope", "measure", "measured", "limit", ""):
        caps.add_column(c)
    for c in a.caps:
        if c["measure"] == "released" and not c["measured"]:
            continue
        label = "（示意）" if c["illustrative"] else ""
        caps.add_row(rich_escape(c["id"] + label), c["scope"], c["measure"] + (f" {c['year']}" if c["year"] else ""),
                     f"{c['measured']:,.2f}", f"{c['limit']:,.2f}", "[bold red]OVER[/]" if c["over"] else "ok")
    out.print(caps)
    plan_rows = a.others[a.others["kind"].isin(["plan", "issuance", "linkage"])]
    schedule = p.ledger.schedule if p.ledger else None
    for r in plan_rows.to_dict("records"):
        label = "（示意）" if schedule is not None and schedule.illustrative and r["kind"] in ("plan", "issuance") else ""
        out.print(f"  {r['name']:<28} {r['balance']:>22,.2f} {r['unit']}{label}", highlight=False)
    if schedule is not None and schedule.illustrative:
        out.print("  （示意）the release schedule in ledger.yaml is illustrative: the plan gives no annual amounts",
                  highlight=False)


@ledger_app.command("release")
def release(
    pool: PoolOpt, amount: AmountOpt,
    year: Annotated[int, typer.Option("--year", help="the release plan year it is drawn from")],
    memo: MemoOpt = "", by: ByOpt = None, key: KeyOpt = None, date: DateOpt = None,
    db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table",
) -> None:
    """Release quota from a year's release plan into a pool."""
    check_format(format)
    p, store, meta = _common(by, key, date, db, plan)
    _posted(ledger.release(store, p, pool=pool, amount=amount, year=year, memo=memo, **meta), format)


@ledger_app.command("reserve")
def reserve(
    project: ProjectOpt, pool: PoolOpt, amount: AmountOpt,
    expires: Annotated[str | None, typer.Option("--expires", help="the last day it is held (default: ledger.yaml reservation_days)")] = None,
    memo: MemoOpt = "", by: ByOpt = None, key: KeyOpt = None, date: DateOpt = None,
    db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table",
) -> None:
    """Hold quota of a pool for a project (pending until commit, cancel or expiry)."""
    check_format(format)
    p, store, meta = _common(by, key, date, db, plan)
    _posted(ledger.reserve(store, p, project=project, pool=pool, amount=amount, expires=expires, memo=memo, **meta),
            format)


@ledger_app.command("commit")
def commit(
    project: ProjectOpt,
    amount: Annotated[str | None, typer.Option("--amount", help="commit only this much; the rest goes back to the pool")] = None,
    quota: QuotaOpt = None, memo: MemoOpt = "", by: ByOpt = None, key: KeyOpt = None, date: DateOpt = None,
    db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table",
) -> None:
    """Post a project's reservation, fully or partly (once)."""
    check_format(format)
    p, store, meta = _common(by, key, date, db, plan)
    _posted(ledger.commit(store, p, project=project, amount=amount, quota=quota, memo=memo, **meta), format)


@ledger_app.command("cancel")
def cancel(
    project: ProjectOpt, quota: QuotaOpt = None, memo: MemoOpt = "", by: ByOpt = None, key: KeyOpt = None,
    date: DateOpt = None, db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table",
) -> None:
    """Void a project's reservation (once): all of it back to the pool."""
    check_format(format)
    p, store, meta = _common(by, key, date, db, plan)
    _posted(ledger.cancel(store, p, project=project, quota=quota, memo=memo, **meta), format)


@ledger_app.command("expire")
def expire(
    as_of: Annotated[str | None, typer.Option("--as-of", help="the day expiry is judged on (default today)")] = None,
    by: ByOpt = None, db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table",
) -> None:
    """Release every reservation past its expiry back to its pool (each once)."""
    check_format(format)
    p = plans.load(plan)
    done = ledger.expire(lambda: open_db(db, p, create=True), p, as_of=as_of, by=by)
    if format == "json":
        print_json([d.to_records() for d in done])
        return
    if not done:
        out.print("no reservation is past its expiry", highlight=False)
    for d in done:
        _posted(d, format)


@ledger_app.command("credit-reduction")
def credit_reduction(
    pool: PoolOpt,
    demolished: Annotated[str, typer.Option("--demolished-m2", help="floor area or land demolished and returned to green, m²")],
    ratio: Annotated[str, typer.Option("--ratio", help="the 拆占比 (demolished : new), e.g. 2 for 2:1")],
    ref: Annotated[str, typer.Option("--ref", help="the parcel (or project) demolished")],
    memo: MemoOpt = "", by: ByOpt = None, key: KeyOpt = None, date: DateOpt = None,
    db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table",
) -> None:
    """Credit a pool for a reduction (减量) at the 拆占比: the reduction and the linked increase (增减挂钩)
    in one balanced batch."""
    check_format(format)
    p, store, meta = _common(by, key, date, db, plan)
    _posted(ledger.credit_reduction(store, p, pool=pool, demolished=demolished, ratio=ratio, ref=ref, memo=memo, **meta),
            format)


@ledger_app.command("transfer")
def transfer(
    source: Annotated[str, typer.Option("--from", help="the pool quota leaves")],
    target: Annotated[str, typer.Option("--to", help="the pool it goes to")],
    amount: AmountOpt, memo: MemoOpt = "", by: ByOpt = None, key: KeyOpt = None, date: DateOpt = None,
    db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table",
) -> None:
    """Move quota between two pools of one quota, within the plan's caps."""
    check_format(format)
    p, store, meta = _common(by, key, date, db, plan)
    _posted(ledger.transfer(store, p, source=source, target=target, amount=amount, memo=memo, **meta), format)


@ledger_app.command("correct")
def correct(
    transfer_id: Annotated[int, typer.Option("--transfer", help="the batch number of the transfer to reverse")],
    why: Annotated[str, typer.Option("--why", help="why it is corrected")],
    by: ByOpt = None, key: KeyOpt = None, date: DateOpt = None,
    db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table",
) -> None:
    """Reverse a transfer with an equal and opposite one (nothing is edited or deleted)."""
    check_format(format)
    p, store, meta = _common(by, key, date, db, plan)
    _posted(ledger.correct(store, p, transfer_id=transfer_id, why=why, **meta), format)


@ledger_app.command("history")
def history(
    pool: Annotated[str | None, typer.Option("--pool", help="only this pool's entries")] = None,
    project: Annotated[str | None, typer.Option("--project", help="only this project's batches")] = None,
    db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table",
) -> None:
    """The audit trail: who, when, why, the idempotency key, and the balance before and after."""
    check_format(format)
    p = plans.load(plan)
    h = ledger.history(lambda: open_db(db), p, pool=pool, project=project)
    if format == "json":
        print_json(h.to_records())
        return
    table = Table(title=f"ledger history ({len(h.frame)} entries)")
    for c in ("batch", "date", "recorded (UTC)", "op", "account", "amount", "before → after", "by", "memo", "key"):
        table.add_column(c)
    for r in h.frame.to_dict("records"):
        by = r["actor"] + ("（示意）" if r["illustrative"] else "")
        memo = r["memo"] + (f" [{r['ref']}]" if r["ref"] else "") + (f" (corrects #{r['corrects']})" if r["corrects"] else "")
        table.add_row(str(r["batch_id"]), r["effective"], r["at"], r["op"], r["account"], f"{r['amount']:+,.2f}",
                      f"{r['balance_before']:,.2f} → {r['balance_after']:,.2f}", rich_escape(by), rich_escape(memo),
                      rich_escape(r["idem_key"]))
    out.print(table)


@ledger_app.command("check")
def check(db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table") -> None:
    """Recompute every balance from the entries and prove the invariants; exit 1 naming each account
    that fails."""
    check_format(format)
    p = plans.load(plan)
    result = ledger.check(lambda: open_db(db), p)
    if format == "json":
        print_json(result.to_records())
    elif result.ok:
        c = result.counts
        out.print(f"ledger sound: {c['pw_ledger_accounts']} accounts, {c['pw_ledger_batches']} batches, "
                  f"{c['pw_ledger_entries']} entries recomputed; every balance equals its entries, every batch is "
                  "balanced, the accounts sum to zero, no pool is below zero, every reservation resolved at most "
                  "once, no cap exceeded", highlight=False)
    else:
        for problem in result.problems:
            err.print(f"[bold red]FAIL[/] {rich_escape(problem)}")
    if not result.ok:
        raise typer.Exit(1)
