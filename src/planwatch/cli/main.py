"""The ``planwatch`` command line: the core verbs (plan, observe, evaluate, judge, bridge, report, demo,
extract). Each other module of this package adds the verbs of one capability to the same app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape as rich_escape
from rich.table import Table

from planwatch.cli.common import (
    MAX_ECHO,
    DbOpt,
    ForceOpt,
    FormatOpt,
    PlanOpt,
    app,
    check_format,
    check_out_dir,
    check_year,
    err,
    fail,
    load,
    observations_or_fail,
    open_db,
    out,
    print_json,
    shorten,
    show_frame,
)
from planwatch.plan import DEFAULT_PLAN, PlanPackageError

plan_app = typer.Typer(help="The plan package: targets and checks.", no_args_is_help=True)
observe_app = typer.Typer(help="Observations: import, list, history.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(observe_app, name="observe")


# ------------------------------------------------------------------ plan


@plan_app.command("targets")
def plan_targets(plan: PlanOpt = DEFAULT_PLAN, format: FormatOpt = "table") -> None:
    """Every target of the plan: id, name, unit, category, scope, baseline, targets, source, quote."""
    check_format(format)
    p = load(plan)
    records = [t.model_dump(mode="json", exclude_none=True) for t in p.targets]
    for r, t in zip(records, p.targets, strict=True):
        r["source"] = {"table_row": t.source.table_row} if t.source.table_row else {"article": t.source.article}
        r["baseline"] = {"year": t.baseline.year, "value": t.baseline.value} if t.baseline else None
    if format == "json":
        print_json(records)
        return
    table = Table(title=f"{p.meta.title}: {len(records)} targets")
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
    from planwatch.plan.check import check_plan
    from planwatch.plan.load import source_text

    p = load(plan)
    problems = check_plan(p, source_text(plan))
    if problems:
        for pr in problems:
            err.print(f"  {pr}", highlight=False, markup=False)
        fail(f"{len(problems)} problem(s) in plan package {p.meta.id}")
    out.print(f"plan package {p.meta.id}: {len(p.targets)} targets, every quote and number matches the source text")


# ------------------------------------------------------------------ observe


@observe_app.command("import")
def observe_import(
    file: Path,
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    sheet: Annotated[str | None, typer.Option("--sheet", help="the workbook sheet to import (when more than one holds data)")] = None,
    extra_column: Annotated[list[str] | None, typer.Option("--extra-column", help="a column besides the known ones to accept (kept in the note); repeatable")] = None,
    normalise_width: Annotated[bool, typer.Option("--normalise-width", help="read full-width digits and punctuation (０-９，．) as ASCII instead of refusing them")] = False,
) -> None:
    """Import a CSV or XLSX of observations, all or nothing."""
    from planwatch.observe import ObservationImportError, import_observations

    p = load(plan)
    if not file.is_file():
        fail(f"{file}: no such file")
    store = open_db(db, create=True)
    try:
        s = import_observations(file, store, p, sheet=sheet, extra_columns=tuple(extra_column or ()),
                                normalise_width=normalise_width)
    except ObservationImportError as e:
        fail(f"{file}: {e}")
    out.print(
        f"{file}: {s.rows_read} rows read: {s.added} added, {s.revised} revised, {s.unchanged} unchanged "
        f"(import #{s.import_id})",
        highlight=False,
    )
    for c in s.conversions:
        out.print(f"  unit: {c}", highlight=False)
    for c in s.not_comparable:
        out.print(f"  [yellow]not comparable[/]: {c} differs from the indicator's scope", highlight=False)


@observe_app.command("list")
def observe_list(db: DbOpt = None, format: FormatOpt = "table", all_revisions: bool = typer.Option(False, "--all")) -> None:
    """The stored observations (newest revision of each, or --all)."""
    check_format(format)
    df = open_db(db).observations(latest=not all_revisions)
    show_frame(df, format, ["indicator", "year", "geo", "value", "unit", "scope", "origin", "synthetic", "comparable", "revision"])


@observe_app.command("history")
def observe_history(
    indicator: str, year: int | None = None, geo: str | None = None, db: DbOpt = None, format: FormatOpt = "table"
) -> None:
    """Every revision of one indicator (optionally one year / geo), oldest first."""
    check_format(format)
    df = open_db(db).history(indicator, year, geo)
    show_frame(df, format, ["indicator", "year", "geo", "revision", "value", "unit", "source", "file", "imported_at"])


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
    from planwatch.evaluate.engine import LEVEL_ZH, checkup, checkup_records

    check_format(format)
    if (year is None) == (final is None):
        fail("give --year Y (the annual check-up) or --final Y (the final account), one of them", code=2)
    p = load(plan)
    if final is not None:
        _final_account(p, db, final, format)
        return
    check_year(year, p, force)
    obs = observations_or_fail(open_db(db, p), db)
    if format == "json":
        print_json(checkup_records(p, obs, year))
        return
    ev = checkup(p, obs, year)
    table = Table(title=f"{p.meta.title} — {year}年体检评估")
    table.add_column("id")
    table.add_column("level", no_wrap=True)
    table.add_column("reason", overflow="fold")
    colour = {"green": "green", "yellow": "yellow", "red": "red", "grey": "bright_black"}
    for r in ev.itertuples():
        table.add_row(r.id, f"[{colour[r.level]}]{LEVEL_ZH[r.level]}[/]", r.reason)
    out.print(table)


def _final_account(p, db, final: int, format: str) -> None:
    from planwatch.evaluate.final import final_account

    first, last = p.meta.period
    if not first <= final <= last:
        fail(f"--final {final} is outside the plan's period ({first}–{last}): the final account is of a year in it, "
              f"usually its last, {last}")
    store = open_db(db, p)
    # a curator's recorded verdict stands for a qualitative target (planwatch judge)
    fa = final_account(p, observations_or_fail(store, db), final, judgements=store.judgements())
    if format == "json":
        print_json(fa.to_dict("records"))
        return
    table = Table(title=f"{p.meta.title} — {final}年终期评估（五年评估）")
    for c in ("id", "verdict", "reason"):
        table.add_column(c, overflow="fold", no_wrap=c == "verdict")
    colour = {"met": "green", "nearly": "yellow", "missed": "red", "unknown": "bright_black"}
    for r in fa.itertuples():
        mark = "（暂定）" if r.provisional else ""
        table.add_row(r.id, f"[{colour[r.verdict]}]{r.verdict_zh}{mark}[/]", r.reason)
    out.print(table)
    counts = fa.drop_duplicates("id")["verdict_zh"].value_counts()
    out.print("，".join(f"{k} {v} 项" for k, v in counts.items()), highlight=False)


EVIDENCE_MAX_BYTES = 100 * 2**20  # an evidence file is kept whole inside the store file


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
    from planwatch.evaluate.final import VERDICT_WORDS, VERDICT_ZH

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
    p = load(plan)
    t, tv, year = _judged_target(p, target, year)
    word = VERDICT_WORDS.get(verdict.strip()) or VERDICT_WORDS.get(verdict.strip().lower())
    if word is None:
        fail(f"--verdict {shorten(verdict, MAX_ECHO)!r}: not a verdict; give met, nearly or missed "
              "(达成, 基本达成, 未达成)")
    if not by.strip():
        fail("--by is empty: give the name (or department) of whoever makes this judgement")
    files = [_evidence_file(path) for path in evidence or ()]
    # every check passed: only now is the store opened (and created if missing)
    store = open_db(db, p, create=True)
    earlier = store.judgements()
    earlier = earlier[(earlier["target"] == t.id) & (earlier["year"] == year)]
    try:
        rec = store.add_judgement(t.id, year, word, by, note, files, p.meta.id)
    except ValueError as e:  # StoreError is a ValueError
        fail(str(e))
    if format == "json":
        print_json(rec)
        return
    shown = "、".join(f"{f['name']}（sha256 {f['sha256'][:8]}）" for f in rec["evidence"]) or "未附证据"
    out.print(f"judgement #{rec['judgement_id']} recorded: {t.id} {t.name} {year}年目标“{tv.raw}”：{VERDICT_ZH[word]}，"
              f"{rec['by']}，{rec['date']}；依据：{shown}", highlight=False, markup=False, soft_wrap=True)
    if len(earlier):
        last = earlier.iloc[-1]
        out.print(f"it supersedes judgement #{last['judgement_id']} ({VERDICT_ZH[last['verdict']]}，{last['by']}，"
                  f"{last['date']}), which stays on record", highlight=False, markup=False, soft_wrap=True)


def _judged_target(p, target_id: str, year: int | None):
    """The target and its qualitative target value for ``year`` (default: the plan period's last
    year), or a refusal saying why it cannot be judged."""
    from planwatch.plan.model import Kind

    wanted = target_id.strip()
    t = next((t for t in p.targets if t.id in (wanted, wanted.upper())), None)
    if t is None:
        fail(f"unknown target {shorten(target_id, MAX_ECHO)!r}: not a target of plan {p.meta.id} "
              "(planwatch plan targets lists them)")
    year = p.meta.period[1] if year is None else year
    tv = next((tv for tv in t.targets if tv.year == year), None)
    if tv is None:
        years = ", ".join(str(v.year) for v in t.targets)
        fail(f"{t.id} has no target for {year} (its target years: {years}); give --year with one of them")
    if tv.kind != Kind.QUALITATIVE:
        when = "" if all(v.kind != Kind.QUALITATIVE for v in t.targets) else f" in {year}"
        fail(f"{t.id} is quantitative{when}: its verdict comes from its data ({year}年目标“{tv.raw}”); "
              "planwatch judge records verdicts on qualitative targets only")
    return t, tv, year


def _evidence_file(path: Path) -> tuple[str, bytes]:
    """(file name, content) of one --evidence file, or a refusal naming it (before anything is written)."""
    if not path.exists():
        fail(f"--evidence {path}: no such file; nothing was recorded")
    if not path.is_file():
        fail(f"--evidence {path}: not a file; give the evidence file itself; nothing was recorded")
    try:
        size = path.stat().st_size
        if size > EVIDENCE_MAX_BYTES:
            fail(f"--evidence {path}: {size / 2**20:.0f} MB, more than the {EVIDENCE_MAX_BYTES // 2**20} MB an "
                  "evidence file may be inside the store; give an excerpt; nothing was recorded")
        content = path.read_bytes()
    except OSError as e:
        fail(f"--evidence {path}: cannot be read ({e.strerror or e}); nothing was recorded")
    if not content:
        fail(f"--evidence {path}: the file is empty; nothing was recorded")
    return path.name, content


def _judge_list(db, target: str | None, year: int | None, format: str) -> None:
    df = open_db(db).judgements()
    if target is not None:
        df = df[df["target"].isin({target.strip(), target.strip().upper()})]
    if year is not None:
        df = df[df["year"] == year]
    if format == "json":
        print_json(df.to_dict("records"))
        return
    from planwatch.evaluate.final import VERDICT_ZH

    table = Table(title=f"{len(df)} recorded judgement(s) (the latest of a target and year stands)")
    for c in ("#", "target", "year", "verdict", "by", "date", "evidence", "note"):
        table.add_column(c, overflow="fold")
    for r in df.itertuples(index=False):
        table.add_row(str(r.judgement_id), r.target, str(r.year), VERDICT_ZH[r.verdict],
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
    from planwatch.evaluate.bridge import bridge

    check_format(format)
    p = load(plan)
    horizons = sorted({tv.year for t in p.targets for tv in t.targets})
    if to_year not in horizons or to_year <= from_year:
        fail(f"--to {to_year}: the plan's target years are {', '.join(map(str, horizons))}; give one after --from {from_year}")
    if not p.meta.base_year < from_year < to_year:
        fail(f"--from {from_year}: give a year after the plan's base year {p.meta.base_year} and before --to")
    b = bridge(p, observations_or_fail(open_db(db, p), db), from_year, to_year)
    if format == "json":
        print_json(b.to_dict("records"))
        return
    table = Table(title=f"{p.meta.title} — {from_year}年至{to_year}年的衔接")
    for c in ("id", "interim", "reason"):
        table.add_column(c, overflow="fold")
    for r in b.itertuples():
        interim = "" if r.interim_linear is None or r.interim_linear != r.interim_linear else (
            f"{r.interim_year}年建议值（非目标）：线性{r.interim_linear:.4g}"
            + (f"，等比{r.interim_growth:.4g}" if r.interim_growth == r.interim_growth and r.interim_growth is not None else ""))
        table.add_row(r.id, interim, r.reason)
    out.print(table)


REPORT_KINDS = ("annual", "five-year")


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
    from planwatch.report.build import build_report
    from planwatch.report.five_year import build_five_year_report

    if kind not in REPORT_KINDS:
        fail(f"--kind must be {' or '.join(REPORT_KINDS)}, not {shorten(kind, MAX_ECHO)!r}", code=2)
    p = load(plan)
    if kind == "five-year":
        first, last = p.meta.period
        if not first <= year <= last:
            fail(f"--year {year} is outside the plan period ({first}–{last}): the five-year evaluation is of a year "
                  f"in it, usually its last, {last} (--force does not apply)")
    else:
        check_year(year, p, force)
    check_out_dir(out_dir)
    store = open_db(db, p)
    observations_or_fail(store, db)
    write, what = (build_five_year_report, "five-year evaluation") if kind == "five-year" else (build_report, "check-up")
    try:
        with err.status(f"writing the {year} {what} report…"):
            paths = write(p, store, year, out_dir)
    except OSError as e:
        fail(f"--out {out_dir}: cannot write {e.filename or ''}: {e.strerror or e}")
    for kind, path in paths.items():
        out.print(f"{kind}: {path}", highlight=False)


@app.command("demo")
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the demo store and report")] = Path("demo-report"),
    year: int = 2022,
) -> None:
    """The Beijing demo check-up: import the shipped real observations and the demo one map
    (real districts, stations and 圈层; synthetic control lines and zones) into a fresh store,
    then write the YEAR report into OUT and the five-year evaluation report of the plan period (as of
    its last year) into OUT/five-year."""
    from planwatch.demo.onemap import load_demo_map
    from planwatch.observe import import_observations
    from planwatch.plan.load import plan_dir
    from planwatch.report.build import build_report
    from planwatch.store import open_store

    p = load(DEFAULT_PLAN)
    out_dir.mkdir(parents=True, exist_ok=True)
    db = out_dir / "planwatch.gpkg"
    db.unlink(missing_ok=True)
    store = open_store(db)
    for csv in sorted((plan_dir(DEFAULT_PLAN) / "observations").glob("observations_*.csv")):
        s = import_observations(csv, store, p)
        related = f" ({len(s.not_comparable)} of another scope, kept as related statistics)" if s.not_comparable else ""
        out.print(f"imported {s.added} observations from {csv.name} into {db}{related}", highlight=False)
    with err.status("loading the one map (real base layers + synthetic demo layers)…"):
        rows = load_demo_map(store, p)
    out.print(f"loaded {len(rows)} layers into {db} (control lines and zones: 示意数据（非官方）/ synthetic demo data)")
    from planwatch.onemap.rules import check_rules

    with err.status(f"checking the plan's spatial rules for {year} on the demo one map…"):
        results = check_rules(store, p, year)
    passed = int(results["passed"].fillna(False).astype(bool).sum())
    out.print(f"spatial rules {year}: {passed} of {len(results)} pass (computed from synthetic demo layers)")
    with err.status(f"writing the {year} check-up report…"):
        paths = build_report(p, store, year, out_dir)
    for kind, path in paths.items():
        out.print(f"{kind}: {path}", highlight=False)
    from planwatch.report.five_year import build_five_year_report

    final = p.meta.period[1]
    with err.status(f"writing the {p.meta.period[0]}–{final} five-year evaluation report…"):
        paths = build_five_year_report(p, store, final, out_dir / "five-year")
    for kind, path in paths.items():
        out.print(f"five-year {kind}: {path}", highlight=False)


@app.command("extract")
def extract(
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
    from planwatch.extract import run_extract
    from planwatch.text.read import PlanTextError

    check_format(format)
    try:
        result = run_extract(path, compare=compare, strict=strict)
    except (PlanTextError, PlanPackageError) as e:
        fail(str(e))
    for warning in result["warnings"]:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    if format == "json":
        print_json(result)
        return
    if "comparison" in result:
        c = result["comparison"]
        out.print({k: v for k, v in c.items() if not isinstance(v, list)})
    else:
        out.print(f"{len(result['articles'])} articles, {len(result['candidates'])} candidates")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
