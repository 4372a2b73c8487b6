"""Verbs of the findings register: ``planwatch findings generate | list | show | assign | update |
submit | verify | reopen | withdraw | accept-risk | deadline | units | states``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape as rich_escape
from rich.table import Table

from planwatch.cli.common import (
    DbOpt,
    ForceOpt,
    FormatOpt,
    PlanOpt,
    app,
    check_format,
    err,
    fail,
    open_db,
    out,
    print_json,
    status_line,
)
from planwatch.services import findings, plans
from planwatch.services.plans import DEFAULT_PLAN

findings_app = typer.Typer(
    help="The check-up findings register (问题清单 → 交办 → 整改 → 销号): generate, list, assign, rectify, verify.",
    no_args_is_help=True)
app.add_typer(findings_app, name="findings")

IdArg = Annotated[int, typer.Argument(help="the finding's number (findings list shows them)")]
ByOpt = Annotated[str | None, typer.Option("--by", help="who acts (default $PLANWATCH_USER, else your login name)")]
IfVersionOpt = Annotated[int | None, typer.Option(
    "--if-version", help="refuse unless the finding is still at this version (the one you looked at)")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="the check date overdue is computed on (default today)")]
WhyOpt = Annotated[str, typer.Option("--why", help="the reason, in a sentence")]


def _as_of(text: str | None) -> date:
    return findings.parse_day(text, "--as-of") or date.today()


@findings_app.command("generate")
def generate(
    year: Annotated[int, typer.Option("--year", help="the check-up year whose problems become findings")],
    review: Annotated[list[Path] | None, typer.Option(
        "--review", help="a batch review's GeoPackage (planwatch review FILE --out RESULT.gpkg) whose conflicts "
        "become findings; repeatable")] = None,
    min_severity: Annotated[str, typer.Option(
        "--min-severity", help="the least severe review conflict that becomes a finding: forbidden, restricted "
        "(default) or guidance")] = "restricted",
    force: ForceOpt = False,
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """Turn the year's problems into findings, without duplicates: red and yellow targets, failed
    spatial rules, review conflicts, and targets without data two check-ups in a row. Running it again
    changes nothing a person has acted on; a problem that has gone is marked no longer observed."""
    check_format(format)
    p = plans.load(plan)
    with status_line() as progress:
        done = findings.generate(lambda: open_db(db, p, create=False), p, year, reviews=review or (),
                                 min_severity=min_severity, force=force, progress=progress)
    if format == "json":
        print_json(done.to_records())
        return
    found = "，".join(f"{n} {kind}" for kind, n in done.candidates.items())
    out.print(f"{year}: problems found: {found}", highlight=False)
    out.print(f"findings added: {len(done.added)}" + (f" (#{done.added[0]}–#{done.added[-1]})" if done.added else "")
              + f"; seen again: {len(done.seen_again)}; no longer observed: {len(done.not_observed)}", highlight=False)
    out.print("list them with: planwatch findings list" + (f" --db {db}" if db else ""), highlight=False)


def _table(register: findings.Register) -> None:
    df = register.frame
    table = Table(title=f"问题清单 ({len(df)} findings; overdue as of {register.check_date})")
    for c in ("#", "编号", "严重程度", "状态", "问题", "区域", "责任单位", "整改时限", "逾期"):
        table.add_column(c)
    for r in df.to_dict("records"):
        unit = r["responsible"] or f"建议：{r['suggested_unit']}"
        late = f"[bold red]{r['days_overdue']}天[/]" if r["overdue"] else ""
        label = "（示意）" if r["illustrative"] or r["synthetic"] else ""
        table.add_row(str(r["finding_id"]), r["code"], r["severity_zh"], r["state_zh"],
                      rich_escape(r["title"] + label), r["geo"] or "全市", rich_escape(unit), r["due"], late)
    out.print(table)


@findings_app.command("list")
def list_(
    state: Annotated[str | None, typer.Option("--state", help="only this state (identified, assigned, …), or open / closed")] = None,
    district: Annotated[str | None, typer.Option("--district", help="only this district's findings (全市: city-wide)")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="only those past their deadline on the check date")] = False,
    year: Annotated[int | None, typer.Option("--year", help="only those found in this check-up year")] = None,
    as_of: AsOfOpt = None,
    format: Annotated[str, typer.Option("--format", help="table, json or xlsx (the 问题清单 workbook)")] = "table",
    out_path: Annotated[Path, typer.Option("--out", help="with --format xlsx: the workbook to write")] = Path("问题清单.xlsx"),
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
) -> None:
    """The findings, open ones first (overdue first, then by severity and unit), then the closed."""
    if format not in ("table", "json", "xlsx"):
        fail(f"--format must be table, json or xlsx, not {format!r}", code=2)
    p = plans.load(plan)
    register = findings.list_findings(lambda: open_db(db), p, state=state, district=district, overdue=overdue,
                                      year=year, check_date=_as_of(as_of))
    if format == "json":
        print_json(register.to_records())
    elif format == "xlsx":
        path = findings.write_register_xlsx(register, p, out_path)
        err.print(f"wrote {path} ({len(register.frame)} findings, {int(register.frame['overdue'].sum())} overdue on "
                  f"{register.check_date})", highlight=False)
    else:
        _table(register)


@findings_app.command("show")
def show(finding_id: IdArg, as_of: AsOfOpt = None, db: DbOpt = None, format: FormatOpt = "table") -> None:
    """One finding with its whole history: every transition with actor, time and reason, every
    deadline change, every evidence file."""
    check_format(format)
    detail = findings.show_finding(lambda: open_db(db), finding_id, check_date=_as_of(as_of))
    if format == "json":
        print_json(detail.to_records())
        return
    f = detail.finding
    late = f"，逾期{f['days_overdue']}天" if f["overdue"] else ""
    out.print(f"[bold]#{f['finding_id']} {f['code']} {rich_escape(f['title'])}[/]（{f['kind_zh']}，{f['article']}）")
    for label, text in (
        ("状态", f"{f['state_zh']}（{f['state']}，version {f['version']}）{late}"),
        ("严重程度", f"{f['severity_zh']}" + (f"，{f['level_zh']}" if f["level_zh"] else "")),
        ("现状与原因", f["reason"]), ("对策建议", f["recommendation"]),
        ("建议责任单位", f["suggested_unit"]), ("责任单位", f["responsible"] or "尚未交办"),
        ("整改时限", f["due"] or "—"), ("是否仍被发现", f"是（{f['last_seen_year']}年）" if f["observed"] else
                                       f"否（{f['last_seen_year']}年后未再发现）"),
        ("下一步可做", ", ".join(detail.next_actions) or "无（终态）"),
    ):
        out.print(f"  {label}：{rich_escape(str(text))}", highlight=False)
    if f["synthetic"]:
        out.print("  [yellow]示意数据（非官方）：由示意图层得出[/]")
    table = Table(title="history")
    for c in ("v", "time (UTC)", "action", "from → to", "by", "text", "unit", "due"):
        table.add_column(c)
    for e in detail.events.to_dict("records"):
        by = e["actor"] + ("（示意）" if e["illustrative"] else "")
        table.add_row(str(e["version"]), e["at"], e["action"], f"{e['from_state'] or '—'} → {e['to_state']}",
                      rich_escape(by), rich_escape(e["text"]), rich_escape(e["responsible"]), e["due"])
    out.print(table)
    for x in detail.evidence.to_dict("records"):
        out.print(f"  evidence: {rich_escape(x['file_name'])} ({x['size']} bytes, sha256 {x['sha256'][:12]}…), "
                  f"by {rich_escape(x['uploader'])}, effective {x['effective']}" + ("（示意）" if x["illustrative"] else ""),
                  highlight=False)


def _move(finding_id: int, action: str, *, db, plan: str, by: str | None, format: str, **given) -> None:
    check_format(format)
    p = plans.load(plan)
    moved = findings.move(lambda: open_db(db, create=False), p, finding_id, action,
                          actor=by if by is not None else findings.default_actor(), **given)
    if format == "json":
        print_json(moved.to_records())
        return
    out.print(f"finding #{moved.finding_id}: {moved.from_state} → {moved.to_state} ({action}), version {moved.version}",
              highlight=False)
    for f in moved.files:
        known = f.get("known")
        same = (f"; the same file as {known['name']} given for finding #{known['finding_id']} by {known['by']}"
                if known else "")
        out.print(f"  evidence {f['name']}: {f['size']} bytes, sha256 {f['sha256'][:12]}…{same}", highlight=False)


@findings_app.command("assign")
def assign(
    finding_id: IdArg,
    to: Annotated[str, typer.Option("--to", help="the responsible unit (findings units lists them)")] = "",
    due: Annotated[str | None, typer.Option("--due", help="the deadline, YYYY-MM-DD")] = None,
    note: Annotated[str, typer.Option("--note", help="the assignment note or the unit's commitment")] = "",
    backdate: Annotated[bool, typer.Option("--backdate", help="allow a due date in the past (give the reason in --note)")] = False,
    new_unit: Annotated[bool, typer.Option("--new-unit", help="allow a unit not in the plan's table of units")] = False,
    by: ByOpt = None, if_version: IfVersionOpt = None, db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """交办: assign a finding to a responsible unit with a deadline."""
    _move(finding_id, "assign", db=db, plan=plan, by=by, format=format, unit=to, due=due, text=note, backdate=backdate,
          new_unit=new_unit, if_version=if_version)


@findings_app.command("update")
def update(
    finding_id: IdArg,
    progress: Annotated[str, typer.Option("--progress", help="what has been done so far")] = "",
    by: ByOpt = None, if_version: IfVersionOpt = None, db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """整改进展: report progress on an assigned finding."""
    _move(finding_id, "update", db=db, plan=plan, by=by, format=format, text=progress, if_version=if_version)


@findings_app.command("submit")
def submit(
    finding_id: IdArg,
    evidence: Annotated[list[Path] | None, typer.Option(
        "--evidence", help="a file evidencing the rectification (PDF, image, Office file, GeoPackage, ZIP); repeatable")] = None,
    summary: Annotated[str, typer.Option("--summary", help="what was done")] = "",
    effective: Annotated[str | None, typer.Option("--effective", help="the date the evidence takes effect (default today)")] = None,
    by: ByOpt = None, if_version: IfVersionOpt = None, db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """整改完成，申请销号: submit the rectification with its evidence, kept in the store by content hash."""
    _move(finding_id, "submit", db=db, plan=plan, by=by, format=format, text=summary, evidence=evidence or (),
          effective=effective, if_version=if_version)


@findings_app.command("verify")
def verify(
    finding_id: IdArg, note: Annotated[str, typer.Option("--note", help="the verifier's remark")] = "",
    by: ByOpt = None, if_version: IfVersionOpt = None, db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """销号: verify a submitted rectification (by someone other than the person who submitted it)."""
    _move(finding_id, "verify", db=db, plan=plan, by=by, format=format, text=note, if_version=if_version)


def _reasoned(action: str, doc: str):
    def command(finding_id: IdArg, why: WhyOpt = "", by: ByOpt = None, if_version: IfVersionOpt = None,
                db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table") -> None:
        _move(finding_id, action, db=db, plan=plan, by=by, format=format, text=why, if_version=if_version)

    command.__doc__ = doc
    return command


findings_app.command("reopen")(_reasoned(
    "reopen", "Reopen a submitted (sent back), verified or risk-accepted finding, saying why."))
findings_app.command("withdraw")(_reasoned("withdraw", "撤销: withdraw a finding that is not a problem, saying why."))
findings_app.command("accept-risk")(_reasoned(
    "accept_risk", "风险接受: close a finding without rectification, accepting the risk, saying why."))


@findings_app.command("deadline")
def deadline(
    finding_id: IdArg,
    due: Annotated[str | None, typer.Option("--due", help="the new deadline, YYYY-MM-DD")] = None,
    why: WhyOpt = "",
    backdate: Annotated[bool, typer.Option("--backdate", help="allow a due date in the past")] = False,
    by: ByOpt = None, if_version: IfVersionOpt = None, db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """调整整改时限: change a finding's deadline, saying why (recorded as a new row; the old one stays)."""
    _move(finding_id, "deadline", db=db, plan=plan, by=by, format=format, due=due, text=why, backdate=backdate,
          if_version=if_version)


@findings_app.command("units")
def units(db: DbOpt = None, plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table") -> None:
    """The units a finding may be assigned to: the plan's table of responsible units and its districts,
    then any unit this store's findings were assigned to with --new-unit."""
    check_format(format)
    p = plans.load(plan)
    names = findings.known_units(open_db(db), p)
    if format == "json":
        print_json(names)
    else:
        for name in names:
            out.print(name, highlight=False)


@findings_app.command("states")
def states(format: FormatOpt = "table") -> None:
    """The state machine: every state and the actions possible from it."""
    check_format(format)
    table = findings.states()
    if format == "json":
        print_json(table)
        return
    for state, s in table.items():
        out.print(f"{state} ({s['zh']}): {', '.join(s['actions']) or 'final'}", highlight=False)
