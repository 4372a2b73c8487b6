"""The ``planwatch`` command line: the core verbs (plan, observe, evaluate, judge, bridge, report, demo,
extract). Each other module of this package adds the verbs of one capability to the same app."""

from __future__ import annotations

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
    show_table,
    status_line,
)
from planwatch.services import evaluation, extract, observations, plans, reports
from planwatch.services.plans import DEFAULT_PLAN

plan_app = typer.Typer(help="The plan package: targets and checks.", no_args_is_help=True)
observe_app = typer.Typer(help="Observations: import, list, history.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(observe_app, name="observe")


# ------------------------------------------------------------------ plan


@plan_app.command("targets")
def plan_targets(plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table") -> None:
    """Every target of the plan: id, name, unit, category, scope, baseline, targets, source, quote."""
    check_format(format)
    p = plans.load(plan)
    if format == "json":
        print_json(plans.targets(p).to_records())
        return
    table = Table(title=f"{p.meta.title}: {len(p.targets)} targets")
    for c in ("id", "name", "unit", "category", "baseline", "targets", "source"):
        table.add_column(c)
    for t in p.targets:
        base = f"{t.baseline.year}: {t.baseline.raw}" if t.baseline else ""
        tv = "; ".join(f"{v.year}: {v.raw}" for v in t.targets)
        src = f"表第{t.source.table_row}行" if t.source.table_row else f"第{t.source.article}条"
        table.add_row(t.id, t.name, t.unit, t.category, base, tv, src)
    out.print(table)


@plan_app.command("check")
def plan_check(plan: PlanOpt = DEFAULT_PLAN) -> None:
    """Verify the curated package against its source text: quotes, numbers, article numbers."""
    checked = plans.check(plan)
    p = checked.plan
    if not checked.ok:
        for pr in checked.problems:
            err.print(f"  {pr}", highlight=False, markup=False)
        fail(f"{len(checked.problems)} problem(s) in plan package {p.meta.id}")
    out.print(f"plan package {p.meta.id}: {len(p.targets)} targets, every quote and number matches the source text")


# ------------------------------------------------------------------ observe


@observe_app.command("import")
def observe_import(
    file: Path,
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    sheet: Annotated[str | None, typer.Option("--sheet", help="the workbook sheet to import (when more than one holds data; by default a sheet named observations, as in observe template)")] = None,
    extra_column: Annotated[list[str] | None, typer.Option("--extra-column", help="a column besides the known ones to accept (kept in the note); repeatable")] = None,
    normalise_width: Annotated[bool, typer.Option("--normalise-width", help="read full-width digits and punctuation (０-９，．) as ASCII instead of refusing them")] = False,
) -> None:
    """Import a CSV or XLSX of observations, all or nothing."""
    p = plans.load(plan)
    s = observations.import_file(lambda: open_db(db, create=True), p, file, sheet=sheet,
                                 extra_columns=tuple(extra_column or ()), normalise_width=normalise_width).summary
    out.print(
        f"{file}: {s.rows_read} rows read: {s.added} added, {s.revised} revised, {s.unchanged} unchanged "
        f"(import #{s.import_id})",
        highlight=False,
    )
    for c in s.conversions:
        out.print(f"  unit: {c}", highlight=False)
    for c in s.not_comparable:
        out.print(f"  [yellow]not comparable[/]: {c} differs from the indicator's scope", highlight=False)


@observe_app.command("template")
def observe_template(
    out_file: Annotated[Path, typer.Option("--out", help="the XLSX to write")] = Path("观测数据填报模板.xlsx"),
    district: Annotated[str, typer.Option("--district", help="a district of the plan (default: the whole city)")] = "",
    year: Annotated[int | None, typer.Option("--year", help="the year to prefill (default: last year)")] = None,
    plan: PlanOpt = DEFAULT_PLAN,
) -> None:
    """Write the XLSX template a district fills in for `observe import`: one row per target."""
    p = plans.load(plan)
    out_file.write_bytes(observations.template_xlsx(p, district, year=year))
    out.print(f"{out_file}: {len(p.targets)} targets of {p.meta.id} for {district or p.meta.whole_area}", highlight=False)


@observe_app.command("list")
def observe_list(db: DbOpt = None, format: FormatOpt = "table", all_revisions: bool = typer.Option(False, "--all")) -> None:
    """The stored observations (newest revision of each, or --all)."""
    check_format(format)
    listed = observations.list_observations(open_db(db), all_revisions=all_revisions)
    if format == "json":
        print_json(listed.to_records())
        return
    show_table(listed.frame, observations.LIST_COLUMNS)


@observe_app.command("history")
def observe_history(
    indicator: str, year: int | None = None, geo: str | None = None, db: DbOpt = None, format: FormatOpt = "table"
) -> None:
    """Every revision of one indicator (optionally one year / geo), oldest first."""
    check_format(format)
    revisions = observations.history(open_db(db), indicator, year, geo)
    if format == "json":
        print_json(revisions.to_records())
        return
    show_table(revisions.frame, observations.HISTORY_COLUMNS)


# ------------------------------------------------------------------ evaluate / report


@app.command("evaluate")
def evaluate(
    year: Annotated[int | None, typer.Option("--year", help="the check-up year")] = None,
    final: Annotated[int | None, typer.Option("--final", help="the final account of the plan period ending in this year (五年评估)")] = None,
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
    force: ForceOpt = False,
) -> None:
    """Evaluate every target with data in or before YEAR: level, reason, methods, forecast. With
    --final Y instead: every target's final verdict for Y (达成, 基本达成, 未达成, 无法评估) with its gap."""
    check_format(format)
    if (year is None) == (final is None):
        fail("give --year Y (the annual check-up) or --final Y (the final account), one of them", code=2)
    p = plans.load(plan)
    if final is not None:
        _final_account(p, db, final, format)
        return
    ev = evaluation.checkup(lambda: open_db(db, p), p, year, force=force)
    if format == "json":
        print_json(ev.to_records())
        return
    table = Table(title=f"{p.meta.title} — {year}年体检评估")
    table.add_column("id")
    table.add_column("level", no_wrap=True)
    table.add_column("reason", overflow="fold")
    colour = {"green": "green", "yellow": "yellow", "red": "red", "grey": "bright_black"}
    for r in ev.frame.itertuples():
        table.add_row(r.id, f"[{colour[r.level]}]{evaluation.level_label(r.level)}[/]", r.reason)
    out.print(table)


def _final_account(p, db, final: int, format: str) -> None:
    account = evaluation.final_account(lambda: open_db(db, p), p, final)
    if format == "json":
        print_json(account.to_records())
        return
    fa = account.frame
    table = Table(title=f"{p.meta.title} — {final}年终期评估（五年评估）")
    for c in ("id", "verdict", "reason"):
        table.add_column(c, overflow="fold", no_wrap=c == "verdict")
    colour = {"met": "green", "nearly": "yellow", "missed": "red", "unknown": "bright_black"}
    for r in fa.itertuples():
        mark = "（暂定）" if r.provisional else ""
        table.add_row(r.id, f"[{colour[r.verdict]}]{r.verdict_zh}{mark}[/]", r.reason)
    out.print(table)
    out.print("，".join(f"{k} {v} 项" for k, v in account.counts().items()), highlight=False)


@app.command("judge")
def judge(
    target: Annotated[str | None, typer.Argument(help="the qualitative target judged, e.g. T16 (with --list: only its judgements)")] = None,
    verdict: Annotated[str | None, typer.Option("--verdict", help="met, nearly or missed (or 达成, 基本达成, 未达成)")] = None,
    by: Annotated[str | None, typer.Option("--by", help="who judges: a name or a department")] = None,
    evidence: Annotated[list[Path] | None, typer.Option("--evidence", help="a file the judgement rests on, kept in the store with its sha256; repeatable")] = None,
    year: Annotated[int | None, typer.Option("--year", help="the target year judged (default: the plan period's last year)")] = None,
    note: Annotated[str, typer.Option("--note", help="why, in a sentence")] = "",
    list_: Annotated[bool, typer.Option("--list", help="list the recorded judgements instead of recording one")] = False,
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """Record a curator's verdict on a qualitative target (基本建成, 全覆盖, 达到国家要求 …) with its
    evidence; the final account (evaluate --final) then shows it as a human judgement, with its
    author and date. Append-only: a later judgement of the same target and year stands, the earlier
    stays on record. With --list: the recorded judgements."""
    check_format(format)
    if list_:
        if verdict is not None or by is not None or evidence or note:
            fail("--list lists judgements: give TARGET and --year to filter it, not --verdict, --by, --evidence or --note",
                  code=2)
        _judge_list(db, target, year, format)
        return
    if target is None or verdict is None or by is None:
        fail("give the target and the verdict: planwatch judge TARGET --verdict met|nearly|missed --by NAME "
              "[--evidence FILE]…, or planwatch judge --list", code=2)
    p = plans.load(plan)
    # every check runs before the store is opened (and created if missing)
    judged = evaluation.record_judgement(lambda: open_db(db, p, create=True), p, target, verdict, by,
                                         evidence=evidence or (), year=year, note=note)
    if format == "json":
        print_json(judged.to_records())
        return
    rec, t, tv = judged.record, judged.target, judged.target_value
    shown = "、".join(f"{f['name']}（sha256 {f['sha256'][:8]}）" for f in rec["evidence"]) or "未附证据"
    out.print(f"judgement #{rec['judgement_id']} recorded: {t.id} {t.name} {rec['year']}年目标“{tv.raw}”："
              f"{evaluation.verdict_label(rec['verdict'])}，{rec['by']}，{rec['date']}；依据：{shown}",
              highlight=False, markup=False, soft_wrap=True)
    if judged.superseded is not None:
        last = judged.superseded
        out.print(f"it supersedes judgement #{last['judgement_id']} ({evaluation.verdict_label(last['verdict'])}，"
                  f"{last['by']}，{last['date']}), which stays on record", highlight=False, markup=False, soft_wrap=True)


def _judge_list(db, target: str | None, year: int | None, format: str) -> None:
    judged = evaluation.list_judgements(open_db(db), target, year)
    if format == "json":
        print_json(judged.to_records())
        return
    df = judged.frame
    table = Table(title=f"{len(df)} recorded judgement(s) (the latest of a target and year stands)")
    for c in ("#", "target", "year", "verdict", "by", "date", "evidence", "note"):
        table.add_column(c, overflow="fold")
    for r in df.itertuples(index=False):
        table.add_row(str(r.judgement_id), r.target, str(r.year), evaluation.verdict_label(r.verdict),
                      *(rich_escape(str(x)) for x in (r.by, r.date, r.evidence, r.note)))  # a curator's text, not markup
    out.print(table)


@app.command("bridge")
def bridge_cmd(
    from_year: Annotated[int, typer.Option("--from", help="the year of the level reached (the plan period's end)")],
    to_year: Annotated[int, typer.Option("--to", help="the horizon whose targets to bridge to, e.g. 2035")],
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    format: FormatOpt = "table",
) -> None:
    """For every target with a TO value: the annual change (and growth rate) needed from the level
    reached by FROM, the pace achieved since the baseline, their ratio, and suggested interim values
    halfway (linear and constant growth) — suggestions for the next plan, never targets."""
    check_format(format)
    p = plans.load(plan)
    bridged = evaluation.bridge(lambda: open_db(db, p), p, from_year, to_year)
    if format == "json":
        print_json(bridged.to_records())
        return
    b = bridged.frame
    table = Table(title=f"{p.meta.title} — {from_year}年至{to_year}年的衔接")
    for c in ("id", "interim", "reason"):
        table.add_column(c, overflow="fold")
    for r in b.itertuples():
        interim = "" if r.interim_linear is None or r.interim_linear != r.interim_linear else (
            f"{r.interim_year}年建议值（非目标）：线性{r.interim_linear:.4g}"
            + (f"，等比{r.interim_growth:.4g}" if r.interim_growth == r.interim_growth and r.interim_growth is not None else ""))
        table.add_row(r.id, interim, r.reason)
    out.print(table)


@app.command("report")
def report(
    year: Annotated[int, typer.Option("--year", help="the check-up year (five-year: the year of the final account, "
                                      "normally the plan period's last)")],
    out_dir: Annotated[Path, typer.Option("--out", help="folder to write report.html/.pdf/.docx/.xlsx into")],
    kind: Annotated[str, typer.Option("--kind", help="annual (the check-up report) or five-year (the five-year "
                                      "evaluation report of the plan period, 五年评估报告)")] = "annual",
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    force: ForceOpt = False,
) -> None:
    """Write the annual check-up report, or with --kind five-year the five-year evaluation report
    (HTML, PDF, DOCX, XLSX), into a folder."""
    reports.check_kind(kind)
    p = plans.load(plan)
    with status_line() as progress:
        written = reports.build_report(lambda: open_db(db, p), p, year, out_dir, kind=kind, force=force, progress=progress)
    for fmt, path in written.paths.items():
        out.print(f"{fmt}: {path}", highlight=False)


@app.command("demo")
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the demo store and report")] = Path("demo-report"),
    year: int = 2022,
) -> None:
    """The Beijing demo check-up: import the shipped real observations and the demo one map
    (real districts, stations and 圈层; synthetic control lines and zones) into a fresh store, play
    an illustrative (示意) findings cycle and a year of illustrative quota ledger operations,
    then write the YEAR report into OUT and the five-year evaluation report of the plan period (as of
    its last year) into OUT/five-year."""
    with status_line() as progress:
        run = reports.demo(out_dir, year, progress=progress)
    db = run.store_path
    for name, s in run.imports:
        related = f" ({len(s.not_comparable)} of another scope, kept as related statistics)" if s.not_comparable else ""
        out.print(f"imported {s.added} observations from {name} into {db}{related}", highlight=False)
    out.print(f"loaded {len(run.layers)} layers into {db} (control lines and zones: 示意数据（非官方）/ synthetic demo data)")
    out.print(f"spatial rules {year}: {run.rules_passed} of {len(run.rules)} pass (computed from synthetic demo layers)")
    out.print(f"findings {year}: {len(run.findings.added)} generated from the real check-up "
              f"(planwatch findings list --db {db}); 示意 (illustrative): finding #{run.cycle.get('verified')} played "
              f"交办 → 整改完成 → 销号, finding #{run.cycle.get('overdue')} assigned with a past deadline (overdue)",
              highlight=False)
    lg = run.ledger
    out.print(f"quota ledger {year} (示意 illustrative): {len(lg.batches)} operations posted with effective dates across "
              f"{year}, {len(lg.expired)} of them a reservation expired on {year}-12-31, and the release plan's "
              f"{lg.issued} issuance batches the ledger posts itself (planwatch ledger accounts --db {db}; "
              f"planwatch ledger history --db {db})", highlight=False)
    if lg.refused:
        r = lg.refused
        out.print(f"  refused as it should be, nothing written: {r['op']} {r['project']} on {r['date']}: {r['message']}",
                  highlight=False, markup=False)
    for fmt, path in run.annual.paths.items():
        out.print(f"{fmt}: {path}", highlight=False)
    for fmt, path in run.five_year.paths.items():
        out.print(f"five-year {fmt}: {path}", highlight=False)


@app.command("extract")
def extract_cmd(
    path: Path,
    format: FormatOpt = "json",
    compare: Annotated[str | None, typer.Option("--compare", help="plan package to compare the candidates with")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="refuse the text (exit 1) if an article number is out of order, duplicated or missing, "
        "or an article has no text")] = False,
) -> None:
    """Parse a plan text into articles and candidate quantified targets.

    Problems in the article structure are printed on stderr as warnings (and listed in the JSON's
    "warnings"); with --strict they are the error."""
    check_format(format)
    result = extract.extract(path, compare=compare, strict=strict)
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    if format == "json":
        print_json(result.to_records())
        return
    if result.comparison is not None:
        out.print({k: v for k, v in result.comparison.items() if not isinstance(v, list)})
    else:
        out.print(f"{len(result.articles)} articles, {len(result.candidates)} candidates")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
