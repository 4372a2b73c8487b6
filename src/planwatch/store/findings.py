"""The findings register's tables, and the SQL both backends run on them.

Four tables (schema v5), the same in the GeoPackage and the PostGIS store:

- ``pw_findings``: one row per finding: what was found (frozen at generation: the source, the plan's
  article, the value, the level, the reason, the suggested unit; triggers refuse any change to them),
  and where it stands now (``state``, ``responsible``, ``due``, ``observed``, ``last_seen_year``) with a
  ``version`` every change bumps: a change names the version it was decided on and is refused when the
  row has moved on (compare-and-set). No row is ever deleted.
- ``pw_finding_events``: every transition and every system observation, append-only, one per version
  (``UNIQUE (finding_id, version)``): the actor, the time, the text (reason, progress, summary), the
  unit and due date it set. A deadline change is such a row.
- ``pw_files``: evidence files by content (sha256, unique), append-only: a file submitted twice is kept
  once.
- ``pw_finding_evidence``: which file was given for which finding and event, under which name, by whom,
  with which effective date; append-only.

The backends differ only in their DDL and the placeholder (:class:`Dialect`); every query here is in
the SQL both speak. Which findings a generation adds, re-observes or marks no longer observed is
decided by :func:`merge_findings`, a pure rule, inside the generation's transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from planwatch.store.base import RECORDS, RecordTable, StoreError, result_frame, utc_now

# ------------------------------------------------------------------ columns (both backends)

# What was found, frozen at generation (a trigger refuses any UPDATE of these).
FROZEN_COLUMNS = [
    "year", "kind", "source", "geo", "article", "title", "level", "value", "value_unit", "reason", "recommendation",
    "evidence", "severity", "suggested_unit", "synthetic", "created_at", "created_by", "plan_id", "planwatch_version",
]  # fmt: skip
# Where it stands: what transitions and generations change, with the version bumped each time.
CURRENT_COLUMNS = ["state", "responsible", "due", "observed", "last_seen_year", "version"]
FINDING_COLUMNS = ["finding_id", *FROZEN_COLUMNS, *CURRENT_COLUMNS]
EVENT_COLUMNS = ["event_id", "finding_id", "version", "action", "from_state", "to_state", "actor", "at", "text",
                 "responsible", "due", "illustrative", "detail"]
EVIDENCE_COLUMNS = ["evidence_id", "finding_id", "event_id", "sha256", "file_name", "size", "uploader", "effective",
                    "uploaded_at", "illustrative"]

FINDING_TABLES: list[RecordTable] = [RECORDS[name] for name in
                                    ("pw_findings", "pw_finding_events", "pw_files", "pw_finding_evidence")]
APPEND_ONLY = ("pw_finding_events", "pw_files", "pw_finding_evidence")
SYSTEM_ACTOR = "planwatch findings generate"


class StaleFinding(StoreError):
    """The finding changed since the caller read it (another person moved it first): reload, then
    decide again. Nothing was written."""


# ------------------------------------------------------------------ DDL


def _columns_ddl(types: dict[str, str], table: RecordTable) -> str:
    return ",\n  ".join(f'"{c}" {types[kind]}' for c, kind in table.columns.items())


def sqlite_ddl() -> list[str]:
    """The v5 tables, indexes and triggers in a GeoPackage (SQLite); each statement idempotent."""
    types = {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "int": "INTEGER NOT NULL", "float": "REAL",
             "text": "TEXT NOT NULL DEFAULT ''", "bool": "INTEGER NOT NULL DEFAULT 0", "time": "TEXT NOT NULL",
             "bytes": "BLOB NOT NULL"}
    out = [f"CREATE TABLE IF NOT EXISTS {t.name} (\n  {_columns_ddl(types, t)}{_constraints(t.name)})"
           for t in FINDING_TABLES]
    out += _indexes()
    frozen = ", ".join(f'"{c}"' for c in FROZEN_COLUMNS)
    out.append(f"""CREATE TRIGGER IF NOT EXISTS pw_findings_frozen BEFORE UPDATE OF {frozen}, finding_id ON pw_findings
BEGIN SELECT RAISE(ABORT, 'pw_findings: what a finding found is frozen at generation; record a new finding instead'); END""")
    out.append("""CREATE TRIGGER IF NOT EXISTS pw_findings_no_delete BEFORE DELETE ON pw_findings
BEGIN SELECT RAISE(ABORT, 'pw_findings: a finding is never deleted; withdraw it instead'); END""")
    out += [f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: record a new event instead'); END"""
            for table in APPEND_ONLY for op in ("UPDATE", "DELETE")]
    out.append("""INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) VALUES
  ('pw_findings', 'attributes', 'pw_findings', 'planwatch: the check-up findings register (问题清单), one row per finding'),
  ('pw_finding_events', 'attributes', 'pw_finding_events', 'planwatch: every transition of every finding (append-only)'),
  ('pw_files', 'attributes', 'pw_files', 'planwatch: evidence files by content hash (append-only)'),
  ('pw_finding_evidence', 'attributes', 'pw_finding_evidence', 'planwatch: which evidence file answers which finding (append-only)')""")
    return out


def postgres_ddl() -> list[str]:
    """The v5 tables, indexes and triggers in PostgreSQL; each statement idempotent."""
    types = {"id": "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "int": "bigint NOT NULL",
             "float": "double precision", "text": "text NOT NULL DEFAULT ''", "bool": "boolean NOT NULL DEFAULT false",
             "time": "timestamptz NOT NULL", "bytes": "bytea NOT NULL"}
    out = [f"CREATE TABLE IF NOT EXISTS {t.name} (\n  {_columns_ddl(types, t)}{_constraints(t.name)})"
           for t in FINDING_TABLES]
    out += _indexes()
    out.append("""CREATE OR REPLACE FUNCTION pw_findings_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'pw_findings' AND TG_OP = 'UPDATE' THEN
    RAISE EXCEPTION 'pw_findings: what a finding found is frozen at generation; record a new finding instead';
  ELSIF TG_TABLE_NAME = 'pw_findings' THEN
    RAISE EXCEPTION 'pw_findings: a finding is never deleted; withdraw it instead';
  END IF;
  RAISE EXCEPTION '% is append-only: record a new event instead', TG_TABLE_NAME;
END $$""")
    frozen = ", ".join(f'"{c}"' for c in FROZEN_COLUMNS)
    out.append(f"CREATE OR REPLACE TRIGGER pw_findings_frozen BEFORE UPDATE OF {frozen}, finding_id ON pw_findings "
               "FOR EACH ROW EXECUTE FUNCTION pw_findings_refuse()")
    out.append("CREATE OR REPLACE TRIGGER pw_findings_no_delete BEFORE DELETE ON pw_findings "
               "FOR EACH ROW EXECUTE FUNCTION pw_findings_refuse()")
    out += [f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION pw_findings_refuse()" for table in APPEND_ONLY]
    out += [f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION pw_findings_refuse()" for table in ("pw_findings", *APPEND_ONLY)]
    return out


def _constraints(table: str) -> str:
    return {
        "pw_findings": "",
        "pw_finding_events": ",\n  UNIQUE (finding_id, version)",
        "pw_files": ",\n  UNIQUE (sha256)",
        "pw_finding_evidence": "",
    }[table]


def _indexes() -> list[str]:
    return [
        "CREATE INDEX IF NOT EXISTS pw_findings_source ON pw_findings (kind, source, geo)",
        "CREATE INDEX IF NOT EXISTS pw_finding_events_finding ON pw_finding_events (finding_id)",
        "CREATE INDEX IF NOT EXISTS pw_finding_evidence_finding ON pw_finding_evidence (finding_id)",
        "CREATE INDEX IF NOT EXISTS pw_finding_evidence_sha ON pw_finding_evidence (sha256)",
    ]


# ------------------------------------------------------------------ the two dialects


@dataclass(frozen=True)
class Dialect:
    """What differs in the queries below: the placeholder, and how a time column reads as the UTC ISO
    8601 string :func:`utc_now` writes."""

    param: str  # "?" (sqlite3) or "%s" (psycopg)
    time_format: str = ""  # PostgreSQL's to_char format; "" when times are stored as that string

    def q(self, query: str) -> str:
        return query if self.param == "?" else query.replace("?", "%s")

    def select(self, table: RecordTable, columns: Sequence[str] | None = None) -> str:
        cols = columns or list(table.columns)
        return ", ".join(
            f"""to_char("{c}" AT TIME ZONE 'UTC', '{self.time_format}') AS "{c}\""""
            if self.time_format and table.columns[c] == "time" else f'"{c}"'
            for c in cols
        )


SQLITE = Dialect("?")


def postgres_dialect(time_format: str) -> Dialect:
    return Dialect("%s", time_format)


TABLES = {t.name: t for t in FINDING_TABLES}


def _frame(rows: Sequence[Sequence], table: RecordTable, columns: list[str]) -> pd.DataFrame:
    df = result_frame(rows, columns)
    for c in columns:
        kind = table.columns[c]
        if kind == "bool":
            df[c] = df[c].astype(bool)
        elif kind in ("int", "id") and len(df):
            df[c] = df[c].astype("int64")
        elif kind == "float":
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return df


# ------------------------------------------------------------------ reading


def read_findings(con, d: Dialect) -> pd.DataFrame:
    """Every finding, oldest first (columns :data:`FINDING_COLUMNS`)."""
    t = TABLES["pw_findings"]
    rows = con.execute(f"SELECT {d.select(t, FINDING_COLUMNS)} FROM pw_findings ORDER BY finding_id").fetchall()
    return _frame(rows, t, FINDING_COLUMNS)


def read_events(con, d: Dialect, finding_id: int | None = None) -> pd.DataFrame:
    """The events of one finding (or all), oldest first (columns :data:`EVENT_COLUMNS`)."""
    t = TABLES["pw_finding_events"]
    where, params = ("WHERE finding_id = ?", (int(finding_id),)) if finding_id is not None else ("", ())
    rows = con.execute(d.q(f"SELECT {d.select(t, EVENT_COLUMNS)} FROM pw_finding_events {where} ORDER BY event_id"),
                       params).fetchall()
    return _frame(rows, t, EVENT_COLUMNS)


def read_evidence(con, d: Dialect, finding_id: int | None = None) -> pd.DataFrame:
    """The evidence files given for one finding (or all), oldest first (columns
    :data:`EVIDENCE_COLUMNS`, no content)."""
    t = TABLES["pw_finding_evidence"]
    where, params = ("WHERE finding_id = ?", (int(finding_id),)) if finding_id is not None else ("", ())
    rows = con.execute(d.q(f"SELECT {d.select(t, EVIDENCE_COLUMNS)} FROM pw_finding_evidence {where} "
                           "ORDER BY evidence_id"), params).fetchall()
    return _frame(rows, t, EVIDENCE_COLUMNS)


def read_file(con, d: Dialect, sha256: str) -> bytes:
    """The content of the evidence file of ``sha256``; ``KeyError`` when the store has none."""
    row = con.execute(d.q("SELECT content FROM pw_files WHERE sha256 = ?"), (str(sha256),)).fetchone()
    if row is None:
        raise KeyError(f"no evidence file with sha256 {sha256}")
    content = bytes(row[0])
    if hashlib.sha256(content).hexdigest() != sha256:
        raise StoreError(f"evidence file {sha256[:12]}… no longer matches its sha256: the store was altered outside "
                         "planwatch")
    return content


# ------------------------------------------------------------------ generation


@dataclass
class MergeResult:
    """What a generation did: the findings it added (ids), those seen again and those no longer
    observed."""

    added: list[int] = field(default_factory=list)
    seen_again: list[int] = field(default_factory=list)
    not_observed: list[int] = field(default_factory=list)


def _key(row) -> tuple[str, str, str]:
    return (str(row["kind"]), str(row["source"]), str(row["geo"]))


def merge_findings(existing: pd.DataFrame, candidates: Sequence[dict], year: int,
                   covers: Iterable[tuple[str, str]]) -> tuple[list[dict], list[tuple[int, int, str, dict]]]:
    """Which ``candidates`` (the problems of ``year``) become new findings, and which stored findings
    change, without duplicates and without touching what a person decided.

    A candidate whose (kind, source, geo) has a stored finding that is not verified (open, withdrawn or
    risk-accepted) adds nothing: that finding is the problem's (seen again in a later year, it records
    so). Only a problem whose findings were all verified (销号) in an earlier year comes back as a new
    finding. A stored finding that is observed, whose (kind, source prefix) is in ``covers`` (what this
    generation looked at) and that no candidate of ``year`` (its last year seen or later) repeats, is
    marked no longer observed. Returns (the candidates to add, and the changes as (finding_id, version,
    action, detail)) with action ``seen_again``, ``observed_again`` or ``not_observed``."""
    rows = existing.to_dict("records")
    by_key: dict[tuple, list[dict]] = {}
    for r in rows:
        by_key.setdefault(_key(r), []).append(r)
    add, changes, matched = [], [], set()
    for c in candidates:
        same = by_key.get(_key(c), [])
        live = [r for r in same if r["state"] != "verified"]
        if live:
            r = live[-1]
            matched.add(r["finding_id"])
            detail = {k: c.get(k) for k in ("year", "level", "value", "value_unit", "reason")}
            if not r["observed"] and year >= r["last_seen_year"]:
                changes.append((r["finding_id"], r["version"], "observed_again", detail))
            elif year > r["last_seen_year"]:
                changes.append((r["finding_id"], r["version"], "seen_again", detail))
            continue
        if any(r["year"] >= year for r in same):  # verified, and this is the same (or an earlier) check-up
            matched.update(r["finding_id"] for r in same)
            continue
        add.append({**c, "previous": [r["finding_id"] for r in same]})
    covered = list(covers)
    for r in rows:
        if r["finding_id"] in matched or not r["observed"] or r["last_seen_year"] > year:
            continue
        if any(r["kind"] == kind and str(r["source"]).startswith(prefix) for kind, prefix in covered):
            changes.append((r["finding_id"], r["version"], "not_observed", {"year": year}))
    return add, changes


def generate(con, d: Dialect, candidates: Sequence[dict], *, year: int, covers: Iterable[tuple[str, str]],
             plan_id: str, planwatch_version: str) -> MergeResult:
    """Merge ``candidates`` (dicts of :data:`FROZEN_COLUMNS` but the times and versions, plus
    ``suggested_unit``) into the register inside the caller's write transaction (see
    :func:`merge_findings`); each new finding gets its ``identified`` event, each change its event."""
    existing = read_findings(con, d)
    add, changes = merge_findings(existing, candidates, year, covers)
    result = MergeResult()
    now = utc_now()
    frozen = list(FROZEN_COLUMNS)
    for c in add:
        values = {**{k: c.get(k, "") for k in frozen}, "created_at": now, "created_by": SYSTEM_ACTOR,
                  "plan_id": plan_id, "planwatch_version": planwatch_version, "year": int(year),
                  "evidence": json.dumps({**(c.get("evidence") or {}), **({"previous": c["previous"]} if c["previous"] else {})},
                                         ensure_ascii=False, sort_keys=True),
                  "synthetic": bool(c.get("synthetic", False)), "value": c.get("value")}
        current = {"state": "identified", "responsible": "", "due": "", "observed": True, "last_seen_year": int(year),
                   "version": 1}
        cols = [*frozen, *CURRENT_COLUMNS]
        row = {**values, **current}
        fid = con.execute(d.q(f"INSERT INTO pw_findings ({', '.join(f'{chr(34)}{k}{chr(34)}' for k in cols)}) "
                              f"VALUES ({', '.join('?' * len(cols))}) RETURNING finding_id"),
                          [row[k] for k in cols]).fetchone()[0]
        _event(con, d, fid, 1, "identify", "", "identified", SYSTEM_ACTOR, now, str(c.get("reason", "")),
               detail={"year": int(year), **({"previous": c["previous"]} if c["previous"] else {})})
        result.added.append(int(fid))
    for fid, version, action, detail in changes:
        observed = action != "not_observed"
        sets = "observed = ?, last_seen_year = ?, version = version + 1" if observed else "observed = ?, version = version + 1"
        params = [True, int(year)] if observed else [False]
        cur = con.execute(d.q(f"UPDATE pw_findings SET {sets} WHERE finding_id = ? AND version = ?"),
                          [*params, int(fid), int(version)])
        if cur.rowcount != 1:
            raise StaleFinding(f"finding #{fid} changed while the findings were generated; nothing was written, run "
                               "findings generate again")
        state = existing.loc[existing["finding_id"] == fid, "state"].iloc[0]
        text = {"seen_again": f"{year}年体检再次发现", "observed_again": f"{year}年体检再次发现（此前一度未再发现）",
                "not_observed": f"{year}年体检未再发现"}[action]
        _event(con, d, fid, int(version) + 1, action, state, state, SYSTEM_ACTOR, now, text, detail=detail)
        (result.not_observed if action == "not_observed" else result.seen_again).append(int(fid))
    return result


def _event(con, d: Dialect, finding_id: int, version: int, action: str, from_state: str, to_state: str, actor: str,
           at: str, text: str, *, responsible: str = "", due: str = "", illustrative: bool = False,
           detail: dict | None = None) -> int:
    cols = EVENT_COLUMNS[1:]
    values = [int(finding_id), int(version), action, from_state, to_state, actor, at, text, responsible, due,
              bool(illustrative), json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str)]
    return int(con.execute(d.q(f"INSERT INTO pw_finding_events ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in cols)}) "
                               f"VALUES ({', '.join('?' * len(cols))}) RETURNING event_id"), values).fetchone()[0])


# ------------------------------------------------------------------ transitions


def record_move(con, d: Dialect, finding_id: int, *, expected_version: int, action: str, from_state: str,
                to_state: str, actor: str, text: str, responsible: str | None, due: str | None, illustrative: bool,
                files: Sequence[dict], effective: str, detail: dict | None = None) -> dict:
    """Record one transition of ``finding_id`` inside the caller's write transaction: the row moves
    to ``to_state`` (with ``responsible`` / ``due`` when given) only if it is still at
    ``expected_version`` and ``from_state`` (else :class:`StaleFinding`, or ``KeyError`` for an unknown
    finding); the event and the evidence files (dicts name, sha256, size, content) are appended, each
    file's content once per store. Returns the event id, the new version, and per file whether the
    store held the same content already (and under which finding and name)."""
    sets, params = ["state = ?", "version = version + 1"], [to_state]
    if responsible is not None:
        sets.append("responsible = ?")
        params.append(responsible)
    if due is not None:
        sets.append("due = ?")
        params.append(due)
    cur = con.execute(d.q(f"UPDATE pw_findings SET {', '.join(sets)} WHERE finding_id = ? AND version = ? AND state = ?"),
                      [*params, int(finding_id), int(expected_version), from_state])
    if cur.rowcount != 1:
        row = con.execute(d.q("SELECT state, version FROM pw_findings WHERE finding_id = ?"), (int(finding_id),)).fetchone()
        if row is None:
            raise KeyError(f"no finding #{finding_id}")
        raise StaleFinding(f"finding #{finding_id} changed since it was read (it is now {row[0]}, version {row[1]}; "
                           f"this change was decided on version {expected_version}): state changed, reload it "
                           f"(findings show {finding_id}) and try again; nothing was written")
    now = utc_now()
    version = int(expected_version) + 1
    event_id = _event(con, d, finding_id, version, action, from_state, to_state, actor, now, text,
                      responsible=responsible or "", due=due or "", illustrative=illustrative, detail=detail)
    said = []
    for f in files:
        before = con.execute(d.q("SELECT finding_id, file_name, uploader, uploaded_at FROM pw_finding_evidence "
                                 "WHERE sha256 = ? ORDER BY evidence_id LIMIT 1"), (f["sha256"],)).fetchone()
        if con.execute(d.q("SELECT 1 FROM pw_files WHERE sha256 = ?"), (f["sha256"],)).fetchone() is None:
            con.execute(d.q("INSERT INTO pw_files (sha256, size, content, stored_at) VALUES (?, ?, ?, ?)"),
                        (f["sha256"], int(f["size"]), f["content"], now))
        con.execute(d.q("INSERT INTO pw_finding_evidence (finding_id, event_id, sha256, file_name, size, uploader, "
                        "effective, uploaded_at, illustrative) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    (int(finding_id), event_id, f["sha256"], f["name"], int(f["size"]), actor, effective, now,
                     bool(illustrative)))
        said.append({"name": f["name"], "sha256": f["sha256"], "size": int(f["size"]),
                     "known": None if before is None else {"finding_id": int(before[0]), "name": before[1],
                                                           "by": before[2], "at": str(before[3])}})
    return {"event_id": event_id, "version": version, "files": said}


__all__ = [
    "APPEND_ONLY", "CURRENT_COLUMNS", "EVENT_COLUMNS", "EVIDENCE_COLUMNS", "FINDING_COLUMNS", "FINDING_TABLES",
    "FROZEN_COLUMNS", "SQLITE", "SYSTEM_ACTOR", "Dialect", "MergeResult", "StaleFinding", "generate", "merge_findings",
    "postgres_ddl", "postgres_dialect", "read_events", "read_evidence", "read_file", "read_findings", "record_move",
    "sqlite_ddl",
]
