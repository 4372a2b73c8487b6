"""Evaluation: the annual check-up of a year, the final account of the plan period, the bridge to the
next horizon, and the curators' judgements of qualitative targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planwatch.services import MAX_ECHO, ServiceError, StoreSource, frame_records, jsonable, opened, shorten
from planwatch.services.observations import require_observations
from planwatch.services.plans import check_year

if TYPE_CHECKING:
    import pandas as pd

    from planwatch.plan import Plan
    from planwatch.plan.model import Target, TargetValue
    from planwatch.store import Store

EVIDENCE_MAX_BYTES = 100 * 2**20  # an evidence file is kept whole inside the store file


def level_label(level: str) -> str:
    """The Chinese name of a check-up level: green → 绿灯, …"""
    from planwatch.evaluate.engine import LEVEL_ZH

    return LEVEL_ZH[level]


def verdict_label(verdict: str) -> str:
    """The Chinese name of a final verdict: met → 达成, …"""
    from planwatch.evaluate.final import VERDICT_ZH

    return VERDICT_ZH[verdict]


# ------------------------------------------------------------------ the annual check-up


@dataclass(frozen=True)
class Checkup:
    """The check-up of ``year``: ``frame`` one row per (target, geo) with a graded figure (level,
    reason, methods, forecasts; :func:`planwatch.evaluate.engine.checkup`), computed from
    ``observations``."""

    plan: Plan
    year: int
    observations: pd.DataFrame
    frame: pd.DataFrame

    def to_records(self) -> list[dict]:
        """The JSON records: level, reason, each method's result, the target, the forecast, the
        previous value, the figure's provenance and the related (not graded) figures."""
        from planwatch.evaluate import engine  # looked up on call: tests replace it

        return jsonable(engine.checkup_records(self.plan, self.observations, self.year, ev=self.frame))


def checkup(store: StoreSource, plan: Plan, year: int, *, force: bool = False) -> Checkup:
    """Evaluate every target with data in or before ``year`` (``evaluate --year``). Refuses a year
    outside the plan's span unless ``force``, and a store without observations."""
    from planwatch.evaluate.engine import checkup as run_checkup

    check_year(plan, year, force=force)
    obs = require_observations(opened(store))
    return Checkup(plan, year, obs, run_checkup(plan, obs, year))


# ------------------------------------------------------------------ the final account


@dataclass(frozen=True)
class FinalAccount:
    """Every target's final verdict for ``year`` (达成, 基本达成, 未达成, 无法评估) with its gap and
    reason (:func:`planwatch.evaluate.final.final_account`); a curator's recorded judgement stands
    for a qualitative target."""

    year: int
    frame: pd.DataFrame

    def counts(self) -> dict[str, int]:
        """How many targets have each verdict (its Chinese name), most frequent first."""
        return {str(k): int(v) for k, v in self.frame.drop_duplicates("id")["verdict_zh"].value_counts().items()}

    def to_records(self) -> list[dict]:
        return frame_records(self.frame)


def final_account(store: StoreSource, plan: Plan, year: int) -> FinalAccount:
    """The final account of the plan period as of ``year`` (``evaluate --final``), which must lie in
    the plan period."""
    from planwatch.evaluate.final import final_account as account

    first, last = plan.meta.period
    if not first <= year <= last:
        raise ServiceError(f"--final {year} is outside the plan's period ({first}–{last}): the final account is of a "
                           f"year in it, usually its last, {last}")
    store = opened(store)
    # a curator's recorded verdict stands for a qualitative target (planwatch judge)
    return FinalAccount(year, account(plan, require_observations(store), year, judgements=store.judgements()))


# ------------------------------------------------------------------ the bridge to the next horizon


@dataclass(frozen=True)
class Bridge:
    """For every target with a value in ``to_year``: the pace needed from the level reached by
    ``from_year``, the pace achieved, their ratio and suggested interim values (never targets)."""

    from_year: int
    to_year: int
    frame: pd.DataFrame

    def to_records(self) -> list[dict]:
        return frame_records(self.frame)


def bridge(store: StoreSource, plan: Plan, from_year: int, to_year: int) -> Bridge:
    """The bridge from the level reached by ``from_year`` to the plan's ``to_year`` targets (``bridge``)."""
    from planwatch.evaluate.bridge import bridge as run_bridge

    horizons = sorted({tv.year for t in plan.targets for tv in t.targets})
    if to_year not in horizons or to_year <= from_year:
        raise ServiceError(f"--to {to_year}: the plan's target years are {', '.join(map(str, horizons))}; give one after "
                           f"--from {from_year}")
    if not plan.meta.base_year < from_year < to_year:
        raise ServiceError(f"--from {from_year}: give a year after the plan's base year {plan.meta.base_year} and "
                           "before --to")
    return Bridge(from_year, to_year, run_bridge(plan, require_observations(opened(store)), from_year, to_year))


# ------------------------------------------------------------------ judgements


@dataclass(frozen=True)
class RecordedJudgement:
    """A judgement just recorded: ``record`` as the store returned it (judgement_id, target, year,
    verdict, by, judged_at, date, note, plan_id, evidence [{name, sha256, size}]), the target and
    its target value judged, and ``superseded``, the judgement of the same target and year it
    replaces (which stays on record), if any."""

    record: dict
    target: Target
    target_value: TargetValue
    superseded: dict | None

    def to_records(self) -> dict:
        return jsonable(self.record)


def judged_target(plan: Plan, target_id: str, year: int | None = None) -> tuple[Target, TargetValue, int]:
    """The target ``target_id`` and its qualitative target value for ``year`` (default: the plan
    period's last year), with that year; a refusal saying why it cannot be judged otherwise."""
    from planwatch.plan.model import Kind

    wanted = target_id.strip()
    t = next((t for t in plan.targets if t.id in (wanted, wanted.upper())), None)
    if t is None:
        raise ServiceError(f"unknown target {shorten(target_id, MAX_ECHO)!r}: not a target of plan {plan.meta.id} "
                           "(planwatch plan targets lists them)")
    year = plan.meta.period[1] if year is None else year
    tv = next((tv for tv in t.targets if tv.year == year), None)
    if tv is None:
        years = ", ".join(str(v.year) for v in t.targets)
        raise ServiceError(f"{t.id} has no target for {year} (its target years: {years}); give --year with one of them")
    if tv.kind != Kind.QUALITATIVE:
        when = "" if all(v.kind != Kind.QUALITATIVE for v in t.targets) else f" in {year}"
        raise ServiceError(f"{t.id} is quantitative{when}: its verdict comes from its data ({year}年目标“{tv.raw}”); "
                           "planwatch judge records verdicts on qualitative targets only")
    return t, tv, year


def evidence_file(path: Path) -> tuple[str, bytes]:
    """(file name, content) of one evidence file, or a refusal naming it (before anything is written)."""
    path = Path(path)
    if not path.exists():
        raise ServiceError(f"--evidence {path}: no such file; nothing was recorded")
    if not path.is_file():
        raise ServiceError(f"--evidence {path}: not a file; give the evidence file itself; nothing was recorded")
    try:
        size = path.stat().st_size
        if size > EVIDENCE_MAX_BYTES:
            raise ServiceError(f"--evidence {path}: {size / 2**20:.0f} MB, more than the {EVIDENCE_MAX_BYTES // 2**20} MB "
                               "an evidence file may be inside the store; give an excerpt; nothing was recorded")
        content = path.read_bytes()
    except OSError as e:
        raise ServiceError(f"--evidence {path}: cannot be read ({e.strerror or e}); nothing was recorded") from None
    if not content:
        raise ServiceError(f"--evidence {path}: the file is empty; nothing was recorded")
    return path.name, content


def record_judgement(store: StoreSource, plan: Plan, target: str, verdict: str, by: str, *,
                     evidence: Sequence[Path] = (), year: int | None = None, note: str = "") -> RecordedJudgement:
    """Record a curator's verdict (met, nearly or missed, or 达成, 基本达成, 未达成) on a qualitative
    target, with the evidence files it rests on (``judge``). Every check runs before the store is
    opened (``store`` may be an opener), so a refused judgement writes nothing. Append-only."""
    from planwatch.evaluate.final import VERDICT_WORDS

    t, tv, year = judged_target(plan, target, year)
    word = VERDICT_WORDS.get(verdict.strip()) or VERDICT_WORDS.get(verdict.strip().lower())
    if word is None:
        raise ServiceError(f"--verdict {shorten(verdict, MAX_ECHO)!r}: not a verdict; give met, nearly or missed "
                           "(达成, 基本达成, 未达成)")
    if not by.strip():
        raise ServiceError("--by is empty: give the name (or department) of whoever makes this judgement")
    files = [evidence_file(path) for path in evidence]
    # every check passed: only now is the store opened (and created if missing)
    store = opened(store)
    earlier = store.judgements()
    earlier = earlier[(earlier["target"] == t.id) & (earlier["year"] == year)]
    try:
        rec = store.add_judgement(t.id, year, word, by, note, files, plan.meta.id)
    except ValueError as e:  # StoreError is a ValueError
        raise ServiceError(str(e)) from None
    superseded = jsonable(earlier.iloc[-1].to_dict()) if len(earlier) else None
    return RecordedJudgement(rec, t, tv, superseded)


@dataclass(frozen=True)
class Judgements:
    """Recorded judgements, oldest first (the store's columns); the latest of a target and year stands."""

    frame: pd.DataFrame

    def to_records(self) -> list[dict]:
        return frame_records(self.frame)


def list_judgements(store: Store, target: str | None = None, year: int | None = None) -> Judgements:
    """The recorded judgements, optionally of one target and / or one target year (``judge --list``)."""
    df = store.judgements()
    if target is not None:
        df = df[df["target"].isin({target.strip(), target.strip().upper()})]
    if year is not None:
        df = df[df["year"] == year]
    return Judgements(df)


__all__ = [
    "EVIDENCE_MAX_BYTES", "Bridge", "Checkup", "FinalAccount", "Judgements", "RecordedJudgement", "bridge", "checkup",
    "evidence_file", "final_account", "judged_target", "level_label", "list_judgements", "record_judgement",
    "verdict_label",
]
