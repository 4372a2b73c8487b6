"""The findings register (问题清单 → 交办 → 整改 → 销号): generate the year's findings from the check-up,
list them (overdue computed on the check date), show one with its whole history, move one through
the state machine with its evidence, and write the 问题清单 workbook."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from planwatch.services import (
    MAX_ECHO,
    Progress,
    ServiceError,
    StoreSource,
    frame_records,
    jsonable,
    opened,
    shorten,
)
from planwatch.services.observations import require_observations
from planwatch.services.plans import check_year

if TYPE_CHECKING:
    import pandas as pd

    from planwatch.plan import Plan
    from planwatch.services.users import User
    from planwatch.store import Store

ACTIONS = ("assign", "update", "submit", "verify", "reopen", "withdraw", "accept_risk", "deadline")
# What a finding's responsible unit (a department, or a district editor for its district) may do itself;
# every other action is the bureau's (an admin's).
ANSWERS = ("update", "submit")


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def default_actor() -> str:
    """Who acts when ``--by`` is not given: ``$PLANWATCH_USER``, else the login name."""
    import getpass

    try:
        return os.environ.get("PLANWATCH_USER") or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return ""


def parse_day(text: str | date | None, option: str) -> date | None:
    """A YYYY-MM-DD option value as a date (None when not given), or a usage refusal naming it."""
    if text is None or text == "":
        return None
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise ServiceError(f"{option} {shorten(text, MAX_ECHO)!r}: expected a date YYYY-MM-DD", usage=True) from None


# ------------------------------------------------------------------ generate


@dataclass(frozen=True)
class Generated:
    """What ``findings generate`` did for ``year``: the candidates found by kind, the findings added,
    seen again (in a later year, or again after a gap) and marked no longer observed."""

    year: int
    candidates: dict[str, int]
    added: list[int]
    seen_again: list[int]
    not_observed: list[int]
    reviews: list[str] = field(default_factory=list)

    def to_records(self) -> dict:
        return {"year": self.year, "candidates": self.candidates, "added": self.added, "seen_again": self.seen_again,
                "not_observed": self.not_observed, "reviews": self.reviews}


def _review_conflicts(path: Path, store: Store) -> tuple[pd.DataFrame, pd.Series | None]:
    """The conflicts layer of a batch review GeoPackage, and the district each conflict's parcel lies
    in (by a point on the parcel, in the store's districts layer when there is one)."""
    import geopandas as gpd
    import pyogrio

    path = Path(path)  # generate() has checked it is a file before opening the store
    try:
        layers = {name for name, _ in pyogrio.list_layers(path)}
    except Exception as e:  # noqa: BLE001 - GDAL's own words for a file it cannot open
        raise ServiceError(f"--review {path}: not a GeoPackage GDAL can read ({e}); nothing was written") from None
    if "conflicts" not in layers:
        raise ServiceError(f"--review {path}: no layer 'conflicts' (it has {', '.join(sorted(layers)) or 'none'}); give the "
                           "GeoPackage planwatch review --out wrote; nothing was written")
    conflicts = gpd.read_file(path, layer="conflicts")
    needed = {"id", "layer", "layer_name", "severity", "article", "overlap_m2", "overlap_share", "synthetic"}
    missing = sorted(needed - set(conflicts.columns))
    if missing:
        raise ServiceError(f"--review {path}: layer 'conflicts' lacks the field(s) {', '.join(missing)}: not a planwatch "
                           "batch review; nothing was written")
    if not len(conflicts) or "districts" not in set(store.layers()["layer_type"]):
        return conflicts, None
    districts = store.read_layer("districts")
    points = conflicts.geometry.representative_point().to_crs(districts.crs)
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=points), districts[["district", "geometry"]], how="left",
                       predicate="within")
    return conflicts, joined.groupby(level=0)["district"].first().reindex(conflicts.index)


def generate(store: StoreSource, plan: Plan, year: int, *, reviews: Sequence[Path] = (),
             min_severity: str = "restricted", force: bool = False, progress: Progress | None = None) -> Generated:
    """Turn the problems of ``year`` into findings (``findings generate``), without duplicates: red and
    yellow targets, failed spatial rules of their own, the conflicts of each batch review in
    ``reviews`` at ``min_severity`` or worse, and targets without data for this year and the one
    before. A finding a person has acted on is never changed; one whose problem is gone is marked no
    longer observed, never deleted. One transaction."""
    from planwatch.evaluate.engine import rules_checkup
    from planwatch.evaluate.select import split_graded
    from planwatch.findings.generate import (
        REVIEW_ORDER,
        graded_years,
        no_data_candidates,
        review_candidates,
        rule_candidates,
        target_candidates,
    )

    check_year(plan, year, force=force)
    if min_severity not in REVIEW_ORDER:
        raise ServiceError(f"--min-severity must be one of {', '.join(REVIEW_ORDER)}, not "
                           f"{shorten(min_severity, MAX_ECHO)!r}", usage=True)
    for path in reviews:
        if not Path(path).is_file():
            raise ServiceError(f"--review {path}: no such file (a batch review's GeoPackage, from planwatch review FILE "
                               "--out RESULT.gpkg); nothing was written")
    store = opened(store)
    obs = require_observations(store)
    _say(progress, f"evaluating {year}…")
    results = None
    layer_types = set(store.layers()["layer_type"])
    if plan.spatial and plan.spatial.rules and {r.records for r in plan.spatial.rules} & layer_types:
        from planwatch.onemap.rules import check_rules

        _say(progress, f"checking the plan's spatial rules for {year}…")
        results = check_rules(store, plan, year, record=False)
    ev, verdicts = rules_checkup(plan, obs, results, year)
    graded, _related = split_graded(obs[obs["year"] <= year])
    found = {
        "target": target_candidates(plan, ev, year),
        "rule": rule_candidates(plan, verdicts, year),
        "no_data": no_data_candidates(plan, graded_years(graded), year),
        "review": [],
    }
    covers = [("target", ""), ("no_data", "")] + ([("rule", "")] if results is not None else [])
    names = []
    for path in reviews:
        _say(progress, f"reading the batch review {Path(path).name}…")
        conflicts, districts = _review_conflicts(Path(path), store)
        name = Path(path).name
        names.append(name)
        found["review"] += review_candidates(plan, conflicts, name, year, min_severity=min_severity, districts=districts)
        covers.append(("review", f"{name}#"))
    _say(progress, "merging into the register…")
    candidates = [c for kind in found.values() for c in kind]
    merged = store.generate_findings(candidates, year=year, covers=covers, plan_id=plan.meta.id)
    return Generated(year, {k: len(v) for k, v in found.items()}, merged.added, merged.seen_again, merged.not_observed,
                     names)


# ------------------------------------------------------------------ list and show


@dataclass(frozen=True)
class Register:
    """The register as of ``check_date`` (overdue computed then), filtered as asked: ``frame`` one row
    per finding (columns :data:`planwatch.findings.view.REGISTER_COLUMNS`), in the 问题清单's order."""

    check_date: date
    frame: pd.DataFrame

    def to_records(self) -> list[dict]:
        return frame_records(self.frame)


def read_register(store: Store, check_date: date) -> pd.DataFrame:
    """Every finding, as people read it, on ``check_date``."""
    from planwatch.findings.view import register_view

    return register_view(store.findings(), store.finding_events(), store.finding_evidence(), check_date)


def list_findings(store: StoreSource, plan: Plan, *, state: str | None = None, district: str | None = None,
                  overdue: bool = False, year: int | None = None, check_date: date | None = None) -> Register:
    """The findings (``findings list``): ``state`` one of the machine's states (or ``open`` /
    ``closed``), ``district`` one of the plan's districts (or 全市), ``overdue`` only those past due on
    ``check_date`` (default today), ``year`` only those found in that check-up. Open ones first
    (overdue first, then by severity and unit), then the closed."""
    import pandas as pd

    from planwatch.findings.machine import CLOSED, STATES
    from planwatch.findings.view import open_findings

    if state is not None and state not in (*STATES, "open", "closed"):
        raise ServiceError(f"--state must be one of {', '.join(STATES)}, open or closed, not "
                           f"{shorten(state, MAX_ECHO)!r}", usage=True)
    whole = plan.meta.whole_area
    if district is not None and district not in (*plan.meta.districts, whole):
        raise ServiceError(f"--district {shorten(district, MAX_ECHO)!r} is not a district of the plan "
                           f"({'、'.join(plan.meta.districts)}) nor {whole}", usage=True)
    check_date = check_date or date.today()
    view = read_register(opened(store), check_date)
    if state == "open":
        view = view[~view["state"].isin(CLOSED)]
    elif state == "closed":
        view = view[view["state"].isin(CLOSED)]
    elif state is not None:
        view = view[view["state"] == state]
    if district is not None:
        view = view[view["geo"] == ("" if district == whole else district)]
    if overdue:  # astype: an empty register's column is of objects, which would select columns, not rows
        view = view[view["overdue"].astype(bool)]
    if year is not None:
        view = view[view["year"] == year]
    closed = view[view["state"].isin(CLOSED)].sort_values("finding_id", kind="stable")
    ordered = pd.concat([open_findings(view), closed], ignore_index=True) if len(view) else view.reset_index(drop=True)
    return Register(check_date, ordered)


@dataclass(frozen=True)
class FindingDetail:
    """One finding (``finding`` its register row), every event (``events``), every evidence file
    (``evidence``), the deadline changes among the events, and what can be done next."""

    finding: dict
    events: pd.DataFrame
    evidence: pd.DataFrame
    next_actions: list[str]

    @property
    def deadlines(self) -> pd.DataFrame:
        return self.events[self.events["due"] != ""]

    def to_records(self) -> dict:
        import json

        events = frame_records(self.events)
        for e in events:
            e["detail"] = json.loads(e["detail"]) if e.get("detail") else {}
        return jsonable({"finding": self.finding, "events": events, "evidence": frame_records(self.evidence),
                         "deadlines": frame_records(self.deadlines[["event_id", "at", "actor", "due", "text"]]),
                         "next_actions": self.next_actions})


def _finding_row(store: Store, finding_id: int, check_date: date) -> dict:
    view = read_register(store, check_date)
    row = view[view["finding_id"] == int(finding_id)]
    if row.empty:
        known = f"it holds findings #1–#{int(view['finding_id'].max())}" if len(view) else "it holds no findings yet"
        raise ServiceError(f"no finding #{finding_id} in the store ({known}; planwatch findings list shows them); "
                           "nothing was written")
    return jsonable(row.iloc[0].to_dict())


def show_finding(store: StoreSource, finding_id: int, *, check_date: date | None = None) -> FindingDetail:
    """One finding with its whole history (``findings show``)."""
    from planwatch.findings.machine import actions_from

    store = opened(store)
    row = _finding_row(store, finding_id, check_date or date.today())
    return FindingDetail(row, store.finding_events(finding_id), store.finding_evidence(finding_id),
                         actions_from(row["state"]))


# ------------------------------------------------------------------ transitions


@dataclass(frozen=True)
class Moved:
    """A transition recorded: the finding's new state and version, the event, and each evidence file
    with whether the store held the same content already."""

    finding_id: int
    action: str
    from_state: str
    to_state: str
    version: int
    event_id: int
    files: list[dict]

    def to_records(self) -> dict:
        return jsonable({"finding_id": self.finding_id, "action": self.action, "from_state": self.from_state,
                         "to_state": self.to_state, "version": self.version, "event_id": self.event_id,
                         "files": self.files})


def read_evidence_files(paths: Sequence[Path]) -> list[dict]:
    """Each evidence file as {name, sha256, size, content}, checked before anything is written:
    missing, not a file, empty, over the size limit, or of a type not on the list is refused naming
    the file."""
    from planwatch.services.evaluation import evidence_file

    return [_evidence(*evidence_file(Path(path)), label=f"--evidence {path}") for path in paths]


def _evidence(name: str, content: bytes, *, label: str) -> dict:
    """One evidence file as {name, sha256, size, content}, or a refusal naming it (``label``) when its
    type is not on the list or its content is not of that type."""
    import hashlib

    from planwatch.findings.evidence import evidence_refusal

    refusal = evidence_refusal(name, content)
    if refusal:
        raise ServiceError(f"{label}: {refusal}; nothing was recorded")
    return {"name": name, "sha256": hashlib.sha256(content).hexdigest(), "size": len(content), "content": content}


def read_uploads(uploads: Sequence[tuple[str, bytes]]) -> list[dict]:
    """Evidence uploaded as (name, content), checked as :func:`read_evidence_files` checks files: the
    name is cut to its last component (shown, never used as a path)."""
    import re

    from planwatch.services.evaluation import EVIDENCE_MAX_BYTES

    files = []
    for raw, content in uploads:
        name = re.split(r"[\\/]", str(raw or ""))[-1].replace("\x00", "").strip()[:200]
        if not name or name in (".", ".."):
            raise ServiceError(f"evidence {shorten(raw, MAX_ECHO)!r}: give the file a name; nothing was recorded")
        if not content:
            raise ServiceError(f"evidence {name}: the file is empty; nothing was recorded")
        if len(content) > EVIDENCE_MAX_BYTES:
            raise ServiceError(f"evidence {name}: more than the {EVIDENCE_MAX_BYTES // 2**20} MB an evidence file may "
                               "be; give an excerpt; nothing was recorded")
        files.append(_evidence(name, content, label=f"evidence {name}"))
    return files


def known_units(store: Store, plan: Plan) -> list[str]:
    """The units a finding may be assigned to: the plan's table of units and districts, then any unit
    this store's findings were assigned to before (added with --new-unit)."""
    from planwatch.plan.units import known_units as plan_units

    units = plan_units(plan)
    used = [u for u in dict.fromkeys(store.findings()["responsible"]) if u and u not in units]
    return [*units, *used]


def may_move(user: User | None, action: str, responsible: str) -> None:
    """Refuse (:class:`Forbidden`) an account that may not take ``action`` on a finding ``responsible``
    answers for: update and submit only by that unit (a department whose unit it is, or the district
    editor of that district), every other action only by an admin. ``user`` None: the local operator."""
    from planwatch.services import users

    if user is None:
        return
    if action in ANSWERS:
        users.require(user, "answer_finding", district=responsible, unit=responsible)
    else:
        users.require(user, "admin")


def move(store: StoreSource, plan: Plan, finding_id: int, action: str, *, actor: str = "", unit: str = "",
         due: str | date | None = None, text: str = "", evidence: Sequence[Path] = (), backdate: bool = False,
         new_unit: bool = False, if_version: int | None = None, effective: str | date | None = None,
         illustrative: bool = False, today: date | None = None, uploads: Sequence[tuple[str, bytes]] = (),
         user: User | None = None, address: str = "") -> Moved:
    """Move finding ``finding_id`` by ``action`` (assign 交办, update 整改进展, submit 申请销号, verify 销号,
    reopen, withdraw, accept_risk, deadline): every check of the state machine's table runs on the
    finding as stored, then the change is written compare-and-set on the version read (or
    ``if_version``, the version the caller saw): if another person changed the finding in between,
    the move is refused with "state changed, reload", and nothing is written. ``uploads``: evidence
    given as (file name, content) instead of paths (the web API): the name is only shown, never used as a
    path. ``user``: the account moving it (from ``address``; :func:`may_move`), then the actor; the move
    is audited and held to the account's scope in its own transaction. None: the local operator."""
    from planwatch.findings.machine import FindingState, MoveInput, TransitionRefused, plan_move
    from planwatch.findings.view import parse_date
    from planwatch.services import users
    from planwatch.store.findings import StaleFinding

    if action not in ACTIONS:
        raise ServiceError(f"unknown action {shorten(action, MAX_ECHO)!r}: the actions are {', '.join(ACTIONS)}",
                           usage=True)
    today = today or date.today()
    row = None
    if user is not None:  # the account's scope first, on the version the move is then compared and set on
        store = opened(store)
        row = _finding_row(store, finding_id, today)
        may_move(user, action, row["responsible"])
        actor = user.name
    due_day = parse_day(due, "--due")
    effective_day = parse_day(effective, "--effective") or today
    files = [*read_evidence_files(evidence), *read_uploads(uploads)]
    store = opened(store)
    row = row if row is not None else _finding_row(store, finding_id, today)
    if if_version is not None and int(if_version) != int(row["version"]):
        raise ServiceError(f"finding #{finding_id} is at version {row['version']}, not {if_version}: state changed, "
                           f"reload it (planwatch findings show {finding_id}) and decide again; nothing was written")
    finding = FindingState(int(finding_id), row["state"], row["responsible"], parse_date(row["due"]),
                           row["submitted_by"])
    given = MoveInput(actor=actor or "", today=today, unit=(unit or "").strip(), due=due_day, text=text or "",
                      evidence=tuple(f["sha256"] for f in files), backdate=backdate, new_unit=new_unit,
                      known_units=frozenset(known_units(store, plan) if action == "assign" else ()))
    try:
        step = plan_move(action, finding, given)
    except TransitionRefused as e:
        raise ServiceError(f"{e}; nothing was written") from None
    detail = {}
    if action == "assign" and new_unit and given.unit not in given.known_units:
        detail["new_unit"] = True
    if due_day is not None and due_day < today:
        detail["backdated"] = True
    try:
        done = store.move_finding(
            int(finding_id), expected_version=int(row["version"]), action=action, from_state=step.from_state,
            to_state=step.to_state, actor=given.actor.strip(), text=given.text.strip(),
            responsible=given.unit if action == "assign" else None,
            due=due_day.isoformat() if due_day is not None else None, illustrative=illustrative, files=files,
            effective=effective_day.isoformat(), detail=detail,
            **users.acting(user, f"findings.{action}", f"#{finding_id}", {"files": [f["sha256"] for f in files]},
                           address))
    except StaleFinding as e:
        raise ServiceError(str(e)) from None
    except KeyError:
        raise ServiceError(f"no finding #{finding_id} in the store; nothing was written") from None
    return Moved(int(finding_id), action, step.from_state, step.to_state, done["version"], done["event_id"],
                 done["files"])


def states() -> dict[str, dict]:
    """The state machine as a table: each state's Chinese name and the actions possible from it."""
    from planwatch.findings.machine import STATES, state_table

    return {state: {"zh": STATES[state], "actions": actions} for state, actions in state_table().items()}


# ------------------------------------------------------------------ the 问题清单 workbook


def write_register_xlsx(register: Register, plan: Plan, path: Path) -> Path:
    """The 问题清单 as a workbook a bureau circulates (``findings list --format xlsx``)."""
    from planwatch.findings.xlsx import write_register_xlsx as write

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise ServiceError(f"--out {path}: the 问题清单 workbook is written as .xlsx", usage=True)
    try:
        return write(register.frame, path, check_date=register.check_date, plan_title=plan.meta.title)
    except OSError as e:
        raise ServiceError(f"--out {path}: cannot write ({e.strerror or e})") from None


__all__ = ["ACTIONS", "ANSWERS", "FindingDetail", "Generated", "Moved", "Register", "default_actor", "generate", "known_units",
           "list_findings", "may_move", "move", "parse_day", "read_evidence_files", "read_register", "show_finding", "states",
           "write_register_xlsx"]
