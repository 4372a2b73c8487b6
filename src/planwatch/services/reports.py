"""Reports: the annual check-up report, the five-year evaluation report, and the demo that builds a
store from the shipped data and writes both."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planwatch.services import MAX_ECHO, Progress, ServiceError, StoreSource, opened, shorten
from planwatch.services.findings import Generated, move
from planwatch.services.findings import generate as generate_findings
from planwatch.services.observations import require_observations
from planwatch.services.plans import DEFAULT_PLAN, check_year, load

if TYPE_CHECKING:
    import pandas as pd

    from planwatch.demo.ledger import LedgerDemo
    from planwatch.plan import Plan
    from planwatch.store import ImportSummary

ANNUAL, FIVE_YEAR = "annual", "five-year"
REPORT_KINDS = (ANNUAL, FIVE_YEAR)
WHAT = {ANNUAL: "check-up", FIVE_YEAR: "five-year evaluation"}  # how a status line names the report


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def check_kind(kind: str) -> None:
    """Refuse a report kind other than annual or five-year (a usage mistake)."""
    if kind not in REPORT_KINDS:
        raise ServiceError(f"--kind must be {' or '.join(REPORT_KINDS)}, not {shorten(kind, MAX_ECHO)!r}", usage=True)


def check_out_dir(out_dir: Path) -> None:
    """``out_dir`` must be a folder planwatch can write into (it is created if missing)."""
    probe = out_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is a file" if probe == out_dir else f"lies under a file ({probe})"
        raise ServiceError(f"--out {out_dir}: {what}; give a folder for report.html, report.pdf, report.docx and "
                           "report.xlsx")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ServiceError(f"--out {out_dir}: no permission to write into {probe}")


@dataclass(frozen=True)
class Report:
    """A report written: ``paths`` maps each format (html, pdf, docx, xlsx) to its file."""

    kind: str
    year: int
    paths: dict[str, Path]

    def to_records(self) -> dict:
        return {"kind": self.kind, "year": self.year, "paths": {k: str(v) for k, v in self.paths.items()}}


def build_report(store: StoreSource, plan: Plan, year: int, out_dir: Path, *, kind: str = ANNUAL, force: bool = False,
                 progress: Progress | None = None) -> Report:
    """Write the annual check-up report of ``year`` or (``kind`` five-year) the five-year evaluation
    report as of ``year`` into ``out_dir``: report.html, .pdf, .docx and .xlsx (``report``). The
    annual year must lie in the plan's span (unless ``force``), the five-year one in its period."""
    from planwatch.report.build import build_report as write_annual
    from planwatch.report.five_year import build_five_year_report

    check_kind(kind)
    if kind == FIVE_YEAR:
        first, last = plan.meta.period
        if not first <= year <= last:
            raise ServiceError(f"--year {year} is outside the plan period ({first}–{last}): the five-year evaluation "
                               f"is of a year in it, usually its last, {last} (--force does not apply)")
    else:
        check_year(plan, year, force=force)
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    store = opened(store)
    require_observations(store)
    write = build_five_year_report if kind == FIVE_YEAR else write_annual
    try:
        _say(progress, f"writing the {year} {WHAT[kind]} report…")
        paths = write(plan, store, year, out_dir)
    except OSError as e:
        raise ServiceError(f"--out {out_dir}: cannot write {e.filename or ''}: {e.strerror or e}") from None
    return Report(kind, year, paths)


# Who acts in the demo's illustrative cycle: every name says it is illustrative (示意).
DEMO_ASSIGNER = "示意用户：市规划自然资源委督察处（演示）"
DEMO_VERIFIER = "示意用户：市规划自然资源委（演示）"


def demo_findings_cycle(store, plan: Plan, out_dir: Path) -> dict:
    """The demo's illustrative play on the register (every event marked 示意): the first finding of a
    target without data goes the whole cycle (交办 → 整改完成 with a small illustrative PDF → 销号 by
    someone else); the first high-severity finding is assigned with a deadline already past, so the
    report shows an overdue one. Returns the two finding ids and the evidence file."""
    from datetime import date, timedelta

    from planwatch.demo.evidence import write_illustrative_evidence

    found = store.findings()
    today = date.today()
    cycle, overdue = {}, {}
    gaps = found[found["kind"] == "no_data"]
    if len(gaps):
        f = gaps.iloc[0]
        unit = f["suggested_unit"]
        fid = int(f["finding_id"])
        move(store, plan, fid, "assign", actor=DEMO_ASSIGNER, unit=unit, due=today + timedelta(days=90),
             text=f"示意：请{unit}于90日内报送该指标数据或说明原因（演示）", illustrative=True)
        pdf = write_illustrative_evidence(out_dir / "示意整改佐证.pdf", code=f"{int(f['year'])}-{fid:03d}",
                                          title=str(f["title"]), unit=unit)
        submitter = f"示意用户：{unit}（演示）"
        move(store, plan, fid, "submit", actor=submitter, evidence=[pdf],
             text="示意：已建立该指标的年度数据报送机制，附报送说明（演示）", illustrative=True)
        move(store, plan, fid, "verify", actor=DEMO_VERIFIER, text="示意：佐证材料齐全，同意销号（演示）", illustrative=True)
        cycle = {"verified": fid, "evidence": str(pdf)}
    severe = found[(found["severity"] == "high") & (found["state"] == "identified")]
    if len(severe):
        f = severe.iloc[0]
        fid = int(f["finding_id"])
        move(store, plan, fid, "assign", actor=DEMO_ASSIGNER, unit=f["suggested_unit"], due=today - timedelta(days=30),
             backdate=True, text="示意：演示逾期情形，整改时限设为30日前（演示）", illustrative=True)
        overdue = {"overdue": fid}
    return {**cycle, **overdue}


@dataclass(frozen=True)
class DemoRun:
    """What the demo did: the store it made, the observation files imported (with their import
    summaries), the layers loaded, the spatial rules checked for ``year``, the findings generated and
    the illustrative cycle played on them, the illustrative year of quota ledger operations (with its
    one refused operation) and the two reports."""

    store_path: Path
    year: int
    imports: list[tuple[str, ImportSummary]]
    layers: list[dict]
    rules: pd.DataFrame
    annual: Report
    five_year: Report
    findings: Generated
    cycle: dict
    ledger: LedgerDemo

    @property
    def rules_passed(self) -> int:
        return int(self.rules["passed"].fillna(False).astype(bool).sum())

    def to_records(self) -> dict:
        return {
            "store": str(self.store_path), "year": self.year,
            "imports": [{"file": name, "added": s.added, "not_comparable": len(s.not_comparable)} for name, s in self.imports],
            "layers": len(self.layers), "rules": {"passed": self.rules_passed, "checked": len(self.rules)},
            "annual": self.annual.to_records(), "five_year": self.five_year.to_records(),
            "findings": {"added": len(self.findings.added), **self.cycle},
            "ledger": self.ledger.to_records(),
        }


def demo(out_dir: Path, year: int = 2022, *, progress: Progress | None = None) -> DemoRun:
    """The Beijing demo check-up (``demo``): a fresh store OUT/planwatch.gpkg holding the shipped real
    observations and the demo one map (real districts, stations and 圈层; synthetic control lines and
    zones), the plan's spatial rules checked for ``year``, the findings of ``year`` with one
    illustrative cycle, a year of illustrative quota ledger operations dated across ``year``, the
    ``year`` check-up report written into ``out_dir`` and the five-year evaluation report of the plan
    period (as of its last year) into ``out_dir``/five-year."""
    from planwatch.demo.ledger import play_ledger_year
    from planwatch.demo.onemap import load_demo_map
    from planwatch.observe import import_observations
    from planwatch.onemap.rules import check_rules
    from planwatch.plan.load import plan_dir
    from planwatch.report.build import build_report as write_annual
    from planwatch.report.five_year import build_five_year_report
    from planwatch.store import open_store

    p = load(DEFAULT_PLAN)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    db = out_dir / "planwatch.gpkg"
    db.unlink(missing_ok=True)
    store = open_store(db)
    imports = []
    for csv in sorted((plan_dir(DEFAULT_PLAN) / "observations").glob("observations_*.csv")):
        _say(progress, f"importing {csv.name}…")
        imports.append((csv.name, import_observations(csv, store, p)))
    _say(progress, "loading the one map (real base layers + synthetic demo layers)…")
    rows = load_demo_map(store, p)
    _say(progress, f"checking the plan's spatial rules for {year} on the demo one map…")
    results = check_rules(store, p, year)
    _say(progress, f"generating the {year} findings from the check-up…")
    generated = generate_findings(store, p, year)
    _say(progress, "playing one finding's cycle (示意: illustrative)…")
    cycle = demo_findings_cycle(store, p, out_dir)
    _say(progress, f"posting a year of quota ledger operations dated {year} (示意: illustrative)…")
    ledger = play_ledger_year(store, p, year)
    _say(progress, f"writing the {year} check-up report…")
    annual = Report(ANNUAL, year, write_annual(p, store, year, out_dir))
    first, final = p.meta.period
    _say(progress, f"writing the {first}–{final} five-year evaluation report…")
    five_year = Report(FIVE_YEAR, final, build_five_year_report(p, store, final, out_dir / "five-year"))
    return DemoRun(db, year, imports, rows, results, annual, five_year, generated, cycle, ledger)


__all__ = ["ANNUAL", "FIVE_YEAR", "REPORT_KINDS", "DemoRun", "Report", "build_report", "check_kind", "check_out_dir",
           "demo"]
