"""The embedded store: one GeoPackage (SQLite) file that QGIS opens, with observations, layers and
curators' judgements (with their evidence files, append-only).

The file is a valid GeoPackage (application_id 'GPKG', the gpkg_* metadata tables); planwatch's
own tables are registered in ``gpkg_contents`` as ``attributes`` so QGIS lists them. Every import
runs inside one ``BEGIN IMMEDIATE`` transaction, so a failure or a kill -9 leaves the file as it
was (SQLite's rollback journal).

Layers: each version of a layer type is an ordinary GeoPackage feature table ``ly_<type>_v<N>``
(written by GDAL through pyogrio, with its R-tree spatial index), and ``pw_layers`` points at the
current one. A new version is written beside the current one; only then, in one transaction, the
pointer switches and the previous table is dropped. A crash before the switch leaves an orphan
table that the next layer write removes; the registry never points at a half-written table.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from planwatch import __version__
from planwatch.store.base import (
    JUDGEMENT_COLUMNS,
    LAYER_COLUMNS,
    OBSERVATION_COLUMNS,
    SYNTHETIC_LABEL,
    ImportSummary,
    Store,
    layer_content_hash,
)

try:  # POSIX: serialise layer writers across processes (released by the OS on kill -9)
    import fcntl
except ImportError:  # pragma: no cover - Windows: single-writer use only
    fcntl = None

GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10400  # GeoPackage 1.4

_GPKG_CORE = """
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES
  ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
  ('WGS 84 geodetic', 4326, 'EPSG', 4326, 'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]', 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name));
"""

SCHEMA_VERSION = 3  # 1: observations keyed by (indicator, year, geo); 2: + scope, origin, synthetic, measure;
# 3: + pw_judgements, pw_evidence (a curator's verdicts on qualitative targets, with their evidence)

_OBSERVATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
  obs_id INTEGER PRIMARY KEY AUTOINCREMENT,
  indicator TEXT NOT NULL, year INTEGER NOT NULL, geo TEXT NOT NULL DEFAULT '',
  revision INTEGER NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL,
  raw_value TEXT NOT NULL, raw_unit TEXT NOT NULL, conversion TEXT NOT NULL DEFAULT '',
  scope TEXT NOT NULL DEFAULT '', measure TEXT NOT NULL DEFAULT '', comparable INTEGER NOT NULL,
  origin TEXT NOT NULL DEFAULT 'official' CHECK (origin IN ('official', 'computed')),
  synthetic INTEGER NOT NULL DEFAULT 0,
  note TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '', published TEXT NOT NULL DEFAULT '',
  method TEXT NOT NULL DEFAULT '', file TEXT NOT NULL, file_row INTEGER NOT NULL,
  import_id INTEGER NOT NULL REFERENCES pw_imports(import_id),
  UNIQUE (indicator, year, geo, scope, origin, revision));
"""

_PLANWATCH_TABLES = """
CREATE TABLE IF NOT EXISTS pw_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pw_imports (
  import_id INTEGER PRIMARY KEY AUTOINCREMENT, file TEXT NOT NULL, sha256 TEXT NOT NULL,
  plan_id TEXT NOT NULL, imported_at TEXT NOT NULL, planwatch_version TEXT NOT NULL,
  rows_read INTEGER NOT NULL, added INTEGER NOT NULL, revised INTEGER NOT NULL, unchanged INTEGER NOT NULL);
INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) VALUES
  ('pw_observations', 'attributes', 'pw_observations', 'planwatch: indicator observations, every revision (append-only)'),
  ('pw_imports', 'attributes', 'pw_imports', 'planwatch: import log with file hashes');
"""

_OBSERVATIONS_INDEX = """
CREATE INDEX IF NOT EXISTS pw_observations_series ON pw_observations (indicator, year, geo, scope, origin);
"""

# v1 → v2: a figure computed by planwatch carried a method other than "statistics"; one computed from
# synthetic layers said so in its note (示意数据) or its method ("synthetic").
_MIGRATE_1_TO_2 = """
INSERT INTO pw_observations_v2 (obs_id, indicator, year, geo, revision, value, unit, raw_value, raw_unit, conversion,
  scope, measure, comparable, origin, synthetic, note, source, published, method, file, file_row, import_id)
SELECT obs_id, indicator, year, geo, revision, value, unit, raw_value, raw_unit, conversion, scope, '', comparable,
  CASE WHEN method IN ('', 'statistics') THEN 'official' ELSE 'computed' END,
  CASE WHEN note LIKE '%示意数据%' OR method LIKE '%synthetic%' THEN 1 ELSE 0 END,
  note, source, published, method, file, file_row, import_id
FROM pw_observations;
DROP INDEX IF EXISTS pw_observations_key;
DROP TABLE pw_observations;
ALTER TABLE pw_observations_v2 RENAME TO pw_observations;
"""

_LAYER_TABLES = """
CREATE TABLE IF NOT EXISTS pw_layers (
  layer_type TEXT PRIMARY KEY, table_name TEXT NOT NULL UNIQUE, version INTEGER NOT NULL,
  features INTEGER NOT NULL, crs TEXT NOT NULL, sha256 TEXT NOT NULL, content_hash TEXT NOT NULL,
  source TEXT NOT NULL, synthetic INTEGER NOT NULL, notes TEXT NOT NULL DEFAULT '[]',
  description TEXT NOT NULL DEFAULT '', imported_at TEXT NOT NULL, planwatch_version TEXT NOT NULL);
INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) VALUES
  ('pw_layers', 'attributes', 'pw_layers', 'planwatch: layer registry, the current version of each layer type (synthetic = demo data)');
"""

# v2 → v3 (and every new store): a curator's recorded verdicts on qualitative targets and the files they
# rest on. Append-only, enforced by triggers: a correction is a new judgement, the latest one stands.
# One statement per item: they run inside _upgrade's transaction (executescript() would commit it).
_JUDGEMENT_TABLES = (
    """CREATE TABLE IF NOT EXISTS pw_judgements (
  judgement_id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, year INTEGER NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN ('met', 'nearly', 'missed')),
  "by" TEXT NOT NULL CHECK (length(trim("by")) > 0), judged_at TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
  plan_id TEXT NOT NULL, planwatch_version TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS pw_evidence (
  evidence_id INTEGER PRIMARY KEY AUTOINCREMENT,
  judgement_id INTEGER NOT NULL REFERENCES pw_judgements(judgement_id),
  file_name TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, content BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS pw_judgements_target ON pw_judgements (target, year)",
    "CREATE INDEX IF NOT EXISTS pw_evidence_judgement ON pw_evidence (judgement_id)",
    *(
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: record a new judgement instead'); END"""
        for table in ("pw_judgements", "pw_evidence")
        for op in ("UPDATE", "DELETE")
    ),
    """INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) VALUES
  ('pw_judgements', 'attributes', 'pw_judgements',
   'planwatch: curators'' verdicts on qualitative targets, every one kept (append-only, the latest stands)'),
  ('pw_evidence', 'attributes', 'pw_evidence', 'planwatch: the evidence files of the judgements, with their sha256')""",
)
JUDGEMENT_TABLES = {"pw_judgements", "pw_evidence"}
VERDICTS = ("met", "nearly", "missed")  # as stored; the CLI also takes 达成 / 基本达成 / 未达成

_LAYER_TABLE_RE = re.compile(r"^ly_([a-z][a-z0-9_]{1,30})_v([0-9]+)$")
_LAYER_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
# GeoPackage metadata tables that may reference a feature table (some exist only once GDAL made them)
_GPKG_REFERENCING = ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents", "gpkg_data_columns")

DEFAULT_DB = "planwatch.gpkg"
LOCK_WAIT_S = 30  # how long a write waits for another program's write to finish ($PLANWATCH_LOCK_WAIT)
BUSY_TIMEOUT_S = 2  # sqlite's own wait per attempt
SQLITE_MAGIC = b"SQLite format 3\x00"
PLANWATCH_TABLES = {"pw_meta", "pw_observations", "pw_imports", "pw_layers", *JUDGEMENT_TABLES}


class StoreError(ValueError):
    """The store cannot be opened or written as asked; the message names the path and what to do."""


def _check_is_planwatch_store(path: Path) -> None:
    """Refuse, without writing a byte, a file that is not a planwatch store."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head != SQLITE_MAGIC:
        raise StoreError(f"{path}: not a planwatch store (not a GeoPackage/SQLite file); planwatch will not modify it")
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)) as con:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise  # waited on by the caller
        raise StoreError(f"{path}: not a planwatch store ({e}); planwatch will not modify it") from e
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path}: not a planwatch store ({e}); planwatch will not modify it") from e
    if names and not (names & PLANWATCH_TABLES):
        shown = ", ".join(sorted(names)[:6]) + (" …" if len(names) > 6 else "")
        raise StoreError(f"{path}: a SQLite/GeoPackage file but not a planwatch store (it holds {shown}); "
                         "planwatch will not modify it: give another --db")


class GeoPackageStore(Store):
    """Observations in a GeoPackage/SQLite file (created on first use)."""

    def __init__(self, path: str | Path, *, create: bool = True, on_wait: Callable[[str], None] | None = None):
        """Open the store at ``path``; with ``create``, make it if it does not exist yet.

        Refused with :class:`StoreError`, the file left untouched: a folder, a missing file (without
        ``create``), a missing parent folder, a file that is not SQLite, a SQLite/GeoPackage file that
        holds other tables but no planwatch store, a store written by a newer planwatch, and a
        read-only store that would need upgrading. Opening a current store writes nothing."""
        self.path = Path(path)
        self.on_wait = on_wait  # told when the store is busy and planwatch waits for it
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder; give the path of a .gpkg file")
        if not self.path.exists() or self.path.stat().st_size == 0:
            if not create:
                raise StoreError(f"{self.path}: no planwatch store there (check the path, --db or $PLANWATCH_DB; "
                                 "a store is created by planwatch observe import or planwatch layers import)")
            if not self.path.parent.exists():
                raise StoreError(f"{self.path}: the folder {self.path.parent} does not exist")
        else:
            self._wait_while_locked(lambda: _check_is_planwatch_store(self.path))
        try:
            with closing(self._connect()) as con:
                if self._current(con):
                    return
                con.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
                con.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
                con.executescript(_GPKG_CORE + _PLANWATCH_TABLES + _LAYER_TABLES)
                con.commit()
                self._upgrade(con)
        except sqlite3.OperationalError as e:
            if "readonly" in str(e) or "read-only" in str(e):
                raise StoreError(f"{self.path}: the store is read-only and needs to be set up or upgraded; "
                                 "open it once with write permission") from e
            if "unable to open" in str(e):
                raise StoreError(f"{self.path}: cannot be created or opened ({e})") from e
            raise

    def _current(self, con: sqlite3.Connection) -> bool:
        """The schema is there and current: nothing to write."""
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not PLANWATCH_TABLES <= names:
            return False
        row = con.execute("SELECT value FROM pw_meta WHERE key = 'schema_version'").fetchone()
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: written by a newer planwatch (store schema {row[0]}; this planwatch knows "
                             f"{SCHEMA_VERSION}): upgrade planwatch to open it")
        return row is not None and int(row[0]) == SCHEMA_VERSION

    def _begin(self, con: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, waiting (and saying so once) while another program writes."""
        self._wait_while_locked(lambda: con.execute("BEGIN IMMEDIATE"))

    def _wait_while_locked(self, action):
        """Run ``action``, retrying while another program holds the store locked (saying so once),
        up to ``$PLANWATCH_LOCK_WAIT`` seconds; then :class:`StoreError`."""
        wait = float(os.environ.get("PLANWATCH_LOCK_WAIT", LOCK_WAIT_S))
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                return action()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
                if not told and self.on_wait is not None:
                    self.on_wait(f"the store {self.path} is in use by another program; waiting up to {wait:g} s…")
                    told = True
                if time.monotonic() >= deadline:
                    raise StoreError(f"{self.path}: the store stayed locked by another program for {wait:g} s; "
                                     "nothing was written, try again when it has finished") from e

    def _upgrade(self, con: sqlite3.Connection) -> None:
        """Bring the store to :data:`SCHEMA_VERSION` (v1 → v2: the observation table; v2 → v3: the
        judgement tables), in one transaction (a kill -9 midway leaves the previous schema, which the
        next open upgrades again)."""
        if self._current(con):
            return
        self._begin(con)
        try:
            columns = {r[1] for r in con.execute("PRAGMA table_info(pw_observations)")}
            if columns and "origin" not in columns:
                # one statement at a time: executescript() would commit the open transaction
                con.execute(_OBSERVATIONS_TABLE.format(name="pw_observations_v2").replace("IF NOT EXISTS ", ""))
                for statement in _MIGRATE_1_TO_2.split(";"):
                    if statement.strip():
                        con.execute(statement)
            elif not columns:
                con.execute(_OBSERVATIONS_TABLE.format(name="pw_observations"))
            con.execute(_OBSERVATIONS_INDEX)
            for statement in _JUDGEMENT_TABLES:
                con.execute(statement)
            con.execute("INSERT INTO pw_meta (key, value) VALUES ('schema_version', ?)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        with closing(self._connect()) as con:
            row = con.execute("SELECT value FROM pw_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 1

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        con.execute("PRAGMA foreign_keys = ON")
        return con

    def add_observations(self, rows: pd.DataFrame, *, file: str, sha256: str, plan_id: str) -> ImportSummary:
        missing = [c for c in OBSERVATION_COLUMNS if c not in rows.columns]
        if missing:
            raise ValueError(f"rows lack columns {missing}")
        with closing(self._connect()) as con:
            self._begin(con)
            try:
                summary = self._append(con, rows, file=file, sha256=sha256, plan_id=plan_id)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return summary

    def _append(self, con, rows: pd.DataFrame, *, file: str, sha256: str, plan_id: str) -> ImportSummary:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        cur = con.execute(
            "INSERT INTO pw_imports (file, sha256, plan_id, imported_at, planwatch_version, rows_read, added, revised, unchanged)"
            " VALUES (?,?,?,?,?,?,0,0,0)",
            (file, sha256, plan_id, now, __version__, len(rows)),
        )
        import_id = cur.lastrowid
        summary = ImportSummary(file=file, import_id=import_id, rows_read=len(rows))
        newest = {
            (r[0], r[1], r[2], r[3], r[4]): (r[5], r[6], bool(r[7]))
            for r in con.execute(
                "SELECT o.indicator, o.year, o.geo, o.scope, o.origin, o.revision, o.value, o.synthetic FROM pw_observations o"
                " JOIN (SELECT indicator, year, geo, scope, origin, MAX(revision) AS rev FROM pw_observations"
                " GROUP BY 1,2,3,4,5) m ON o.indicator=m.indicator AND o.year=m.year AND o.geo=m.geo"
                " AND o.scope=m.scope AND o.origin=m.origin AND o.revision=m.rev"
            )
        }
        cols = OBSERVATION_COLUMNS
        insert = (
            f"INSERT INTO pw_observations ({', '.join(cols)}, revision, import_id) VALUES ({', '.join('?' * (len(cols) + 2))})"
        )
        for rec in rows[cols].itertuples(index=False):
            rec = rec._asdict()
            key = (rec["indicator"], int(rec["year"]), rec["geo"], rec["scope"], rec["origin"])
            prev = newest.get(key)
            if prev is not None and prev[1] == float(rec["value"]) and prev[2] == bool(rec["synthetic"]):
                summary.unchanged += 1
                continue
            revision = 1 if prev is None else prev[0] + 1
            if prev is None:
                summary.added += 1
            else:
                summary.revised += 1
            values = [rec[c] for c in cols]
            values[cols.index("year")] = int(rec["year"])
            values[cols.index("value")] = float(rec["value"])
            values[cols.index("comparable")] = int(bool(rec["comparable"]))
            values[cols.index("synthetic")] = int(bool(rec["synthetic"]))
            values[cols.index("file_row")] = int(rec["file_row"])
            con.execute(insert, [*values, revision, import_id])
            newest[key] = (revision, float(rec["value"]), bool(rec["synthetic"]))
        con.execute(
            "UPDATE pw_imports SET added=?, revised=?, unchanged=? WHERE import_id=?",
            (summary.added, summary.revised, summary.unchanged, import_id),
        )
        con.execute(
            "UPDATE gpkg_contents SET last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name IN ('pw_observations','pw_imports')"
        )
        return summary

    def _frame(self, sql: str, params=()) -> pd.DataFrame:
        with closing(self._connect()) as con:
            df = pd.read_sql_query(sql, con, params=params)
        for col in ("comparable", "synthetic"):
            if col in df:
                df[col] = df[col].astype(bool)
        return df

    def observations(self, *, latest: bool = True) -> pd.DataFrame:
        sql = "SELECT * FROM pw_observations"
        if latest:
            sql += (
                " o WHERE revision = (SELECT MAX(revision) FROM pw_observations i WHERE i.indicator=o.indicator"
                " AND i.year=o.year AND i.geo=o.geo AND i.scope=o.scope AND i.origin=o.origin)"
            )
        return self._frame(sql + " ORDER BY indicator, geo, year, origin, scope, revision")

    def history(self, indicator: str, year: int | None = None, geo: str | None = None) -> pd.DataFrame:
        sql = (
            "SELECT o.*, i.imported_at, i.sha256 FROM pw_observations o JOIN pw_imports i USING (import_id)"
            " WHERE o.indicator = ?"
        )
        params: list = [indicator]
        if year is not None:
            sql += " AND o.year = ?"
            params.append(year)
        if geo is not None:
            sql += " AND o.geo = ?"
            params.append(geo)
        return self._frame(sql + " ORDER BY o.geo, o.year, o.origin, o.scope, o.revision", params)

    def imports(self) -> pd.DataFrame:
        return self._frame("SELECT * FROM pw_imports ORDER BY import_id")

    # ------------------------------------------------------------------ judgements (五年评估, qualitative targets)

    def add_judgement(
        self, target: str, year: int, verdict: str, by: str, note: str, evidence: Sequence[tuple[str, bytes]], plan_id: str
    ) -> dict:
        verdict, by, note = str(verdict).strip(), str(by).strip(), str(note or "").strip()
        if verdict not in VERDICTS:
            raise ValueError(f"verdict {verdict!r}: expected one of {', '.join(VERDICTS)}")
        if not by:
            raise ValueError("by is empty: a judgement names the person (or department) who made it")
        files = []
        for name, content in evidence:
            if not str(name).strip():
                raise ValueError("an evidence file without a name")
            content = bytes(content)
            files.append({"name": str(name).strip(), "sha256": hashlib.sha256(content).hexdigest(),
                          "size": len(content), "content": content})
        judged_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with closing(self._connect()) as con:
            self._begin(con)
            try:
                judgement_id = con.execute(
                    'INSERT INTO pw_judgements (target, year, verdict, "by", judged_at, note, plan_id, planwatch_version)'
                    " VALUES (?,?,?,?,?,?,?,?)",
                    (str(target), int(year), verdict, by, judged_at, note, str(plan_id), __version__),
                ).lastrowid
                for f in files:
                    con.execute(
                        "INSERT INTO pw_evidence (judgement_id, file_name, sha256, size, content) VALUES (?,?,?,?,?)",
                        (judgement_id, f["name"], f["sha256"], f["size"], sqlite3.Binary(f["content"])),
                    )
                con.execute("UPDATE gpkg_contents SET last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now')"
                            " WHERE table_name IN ('pw_judgements','pw_evidence')")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return {
            "judgement_id": judgement_id, "target": str(target), "year": int(year), "verdict": verdict, "by": by,
            "judged_at": judged_at, "date": judged_at[:10], "note": note, "plan_id": str(plan_id),
            "evidence": [{k: f[k] for k in ("name", "sha256", "size")} for f in files],
        }

    def judgements(self) -> pd.DataFrame:

        with closing(self._connect()) as con:
            rows = con.execute(
                'SELECT judgement_id, target, year, verdict, "by", judged_at, note FROM pw_judgements ORDER BY judgement_id'
            ).fetchall()
            files: dict[int, list[str]] = {}
            for judgement_id, name, sha in con.execute(
                "SELECT judgement_id, file_name, sha256 FROM pw_evidence ORDER BY evidence_id"
            ):
                files.setdefault(judgement_id, []).append(f"{name}（sha256 {sha[:8]}）")
        records = [
            {"target": target, "year": int(year), "verdict": verdict, "by": by, "date": judged_at[:10],
             "evidence": "、".join(files.get(judgement_id, [])), "note": note, "judgement_id": int(judgement_id)}
            for judgement_id, target, year, verdict, by, judged_at, note in rows
        ]
        return pd.DataFrame(records, columns=[*JUDGEMENT_COLUMNS, "judgement_id"])

    def evidence(self, judgement_id: int) -> list[tuple[str, bytes]]:
        with closing(self._connect()) as con:
            if con.execute("SELECT 1 FROM pw_judgements WHERE judgement_id=?", (int(judgement_id),)).fetchone() is None:
                raise KeyError(f"no judgement #{judgement_id} in {self.path}")
            rows = con.execute(
                "SELECT file_name, sha256, content FROM pw_evidence WHERE judgement_id=? ORDER BY evidence_id",
                (int(judgement_id),),
            ).fetchall()
        for name, sha, content in rows:
            if hashlib.sha256(content).hexdigest() != sha:
                raise StoreError(f"{self.path}: evidence {name!r} of judgement #{judgement_id} no longer matches its "
                                 f"sha256 {sha}: the store was altered outside planwatch")
        return [(name, bytes(content)) for name, _sha, content in rows]

    # ------------------------------------------------------------------ layers

    def write_layer(
        self,
        layer_type: str,
        gdf,
        *,
        source: str,
        sha256: str,
        synthetic: bool,
        notes: list[str],
        description: str = "",
    ) -> dict:
        import pyogrio

        if not _LAYER_TYPE_RE.match(layer_type):
            raise ValueError(f"layer type {layer_type!r}: expected a plan layer type id like 'farmland'")
        if gdf.crs is None:
            raise ValueError(f"layer {layer_type}: the features have no CRS; transform them to the storage CRS first")
        reserved = [c for c in gdf.columns if str(c).lower() == "fid"]
        if reserved:
            raise ValueError(f"layer {layer_type}: column {reserved[0]!r} is reserved by GeoPackage; rename it")
        crs = gdf.crs.to_string()
        notes = [str(n) for n in notes]
        description = _layer_description(layer_type, description, synthetic)
        row = {
            "layer_type": layer_type, "features": len(gdf), "crs": crs, "sha256": sha256,
            "content_hash": layer_content_hash(gdf), "source": str(source), "synthetic": bool(synthetic),
            "notes": notes, "description": description,
        }
        with self._layer_lock():
            self._drop_orphan_layer_tables()
            current = self._layer_row(layer_type)
            version = (current["version"] if current else 0) + 1
            table = f"ly_{layer_type}_v{version}"
            # Written beside the current version: until _switch_layer commits, nothing points here.
            options = {"IDENTIFIER": table, "DESCRIPTION": description, "SPATIAL_INDEX": "YES"}
            kwargs = {"geometry_type": "Unknown"} if len(gdf) == 0 else {}
            with _quiet_extension():
                pyogrio.write_dataframe(gdf, self.path, layer=table, driver="GPKG", layer_options=options, **kwargs)
            row.update(table_name=table, version=version)
            row["imported_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._switch_layer(row, previous=current["table_name"] if current else None)
        return {c: row[c] for c in LAYER_COLUMNS}

    def _switch_layer(self, row: dict, previous: str | None) -> None:
        """One transaction: point the registry at the new table, drop the previous one."""
        with closing(self._connect()) as con:
            self._begin(con)
            try:
                con.execute(
                    "INSERT INTO pw_layers (layer_type, table_name, version, features, crs, sha256, content_hash, source,"
                    " synthetic, notes, description, imported_at, planwatch_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT (layer_type) DO UPDATE SET table_name=excluded.table_name, version=excluded.version,"
                    " features=excluded.features, crs=excluded.crs, sha256=excluded.sha256,"
                    " content_hash=excluded.content_hash, source=excluded.source, synthetic=excluded.synthetic,"
                    " notes=excluded.notes, description=excluded.description, imported_at=excluded.imported_at,"
                    " planwatch_version=excluded.planwatch_version",
                    (
                        row["layer_type"], row["table_name"], row["version"], row["features"], row["crs"], row["sha256"],
                        row["content_hash"], row["source"], int(row["synthetic"]),
                        json.dumps(row["notes"], ensure_ascii=False), row["description"], row["imported_at"], __version__,
                    ),
                )
                if previous and previous != row["table_name"]:
                    _drop_feature_table(con, previous)
                # The identifier QGIS shows; unique in gpkg_contents, so set once the previous is gone.
                con.execute(
                    "UPDATE gpkg_contents SET identifier=?, description=? WHERE table_name=?",
                    (_layer_identifier(row["layer_type"], row["synthetic"]), row["description"], row["table_name"]),
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _drop_orphan_layer_tables(self) -> None:
        """Remove layer tables the registry does not point at (left by a write that crashed)."""
        with closing(self._connect()) as con:
            self._begin(con)
            try:
                current = {r[0] for r in con.execute("SELECT table_name FROM pw_layers")}
                names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                names |= {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
                for name in sorted(names):
                    if _LAYER_TABLE_RE.match(name) and name not in current:
                        _drop_feature_table(con, name)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    @contextmanager
    def _layer_lock(self) -> Iterator[None]:
        """One layer writer at a time per store file (a sidecar lock file, as SQLite has its journal)."""
        if fcntl is None:  # pragma: no cover
            yield
            return
        lock_path = self.path.with_name(self.path.name + "-layers.lock")
        with open(lock_path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _layer_row(self, layer_type: str) -> dict | None:
        with closing(self._connect()) as con:
            con.row_factory = sqlite3.Row
            r = con.execute("SELECT * FROM pw_layers WHERE layer_type=?", (layer_type,)).fetchone()
        return _registry_row(dict(r)) if r else None

    def read_layer(self, layer_type: str):
        import pyogrio

        for _attempt in range(3):  # a concurrent write may switch (and drop) the table between the two reads
            row = self._layer_row(layer_type)
            if row is None:
                stored = ", ".join(self.layers()["layer_type"]) or "none"
                raise KeyError(f"no {layer_type!r} layer in {self.path}; stored layers: {stored}")
            try:
                with _quiet_extension():
                    gdf = pyogrio.read_dataframe(self.path, layer=row["table_name"])
            except pyogrio.errors.DataLayerError:
                continue
            if gdf.crs is None:
                gdf = gdf.set_crs(row["crs"])
            gdf.attrs["layer"] = row
            return gdf
        raise RuntimeError(f"layer {layer_type!r} in {self.path} kept changing while being read")  # pragma: no cover

    def layers(self):
        with closing(self._connect()) as con:
            df = pd.read_sql_query("SELECT * FROM pw_layers ORDER BY layer_type", con)
        df["synthetic"] = df["synthetic"].astype(bool)
        df["notes"] = [json.loads(n) for n in df["notes"]]
        return df[LAYER_COLUMNS].reset_index(drop=True)


@contextmanager
def _quiet_extension() -> Iterator[None]:
    """GDAL warns when a GeoPackage is named .sqlite or .db; the store allows those names."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non conformant file extension", category=RuntimeWarning)
        yield


def _registry_row(r: dict) -> dict:
    r["synthetic"] = bool(r["synthetic"])
    r["notes"] = json.loads(r["notes"])
    return {c: r[c] for c in LAYER_COLUMNS}


def _layer_identifier(layer_type: str, synthetic: bool) -> str:
    return f"{layer_type} ({SYNTHETIC_LABEL})" if synthetic else layer_type


def _layer_description(layer_type: str, description: str, synthetic: bool) -> str:
    text = description or f"planwatch layer {layer_type}"
    if synthetic and SYNTHETIC_LABEL not in text:
        text = f"{SYNTHETIC_LABEL}: {text}"
    return text


def _drop_feature_table(con: sqlite3.Connection, table: str) -> None:
    """Drop a GeoPackage feature table, its R-tree index and every metadata row naming it (inside the
    caller's transaction). Dropping the table drops its R-tree triggers with it."""
    existing = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    rtrees = []
    if "gpkg_extensions" in existing:
        rtrees = [
            f"rtree_{table}_{col}"
            for (col,) in con.execute(
                "SELECT column_name FROM gpkg_extensions WHERE table_name=? AND extension_name='gpkg_rtree_index'",
                (table,),
            )
        ]
    con.execute(f'DROP TABLE IF EXISTS "{table}"')
    for rt in rtrees:
        if rt in existing:
            con.execute(f'DROP TABLE IF EXISTS "{rt}"')
    for meta in _GPKG_REFERENCING:
        if meta in existing:
            con.execute(f"DELETE FROM {meta} WHERE table_name=?", (table,))
