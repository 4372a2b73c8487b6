"""The embedded store: one GeoPackage (SQLite) file that QGIS opens, with observations, layers and
curators' judgements (with their evidence files, append-only).

The file is a valid GeoPackage (application_id 'GPKG', the gpkg_* metadata tables); planwatch's
own tables are registered in ``gpkg_contents`` as ``attributes`` so QGIS lists them. Every import
runs inside one ``BEGIN IMMEDIATE`` transaction, so a failure or a kill -9 leaves the file as it
was (SQLite's rollback journal).

Layers: each version of a layer type is an ordinary GeoPackage feature table ``ly_<type>_v<N>``
(written by GDAL through pyogrio, with its R-tree spatial index; ``pw_layers.storage_table``), and
the stable name ``ly_<type>`` (``pw_layers.table_name``) is a spatial view of the current one,
registered in ``gpkg_contents`` / ``gpkg_geometry_columns`` with QGIS's default style for it in
``layer_styles``, so QGIS and GDAL open ``ly_<type>`` whatever the version. A new version is
written beside the current one; only then, in one transaction, the registry, the view and the style
switch to it and the previous table is dropped. A crash before the switch leaves an orphan table
that the next layer write removes; the registry never points at a half-written table.
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import pandas as pd

from planwatch import __version__
from planwatch.store import findings as register
from planwatch.store import ledger as quota_ledger
from planwatch.store import people as people_sql
from planwatch.store.base import (
    LAYER_COLUMNS,
    OBSERVATION_COLUMNS,
    RECORD_TABLES,
    REGISTRY_COLUMNS,
    SCHEMA_HISTORY_COLUMNS,
    SCHEMA_VERSION,
    STYLE_COLUMNS,
    STYLE_NAME,
    SYNTHETIC_LABEL,
    VERDICTS,
    ImportSummary,
    Scope,
    Store,
    StoreError,
    StoreSnapshot,
    check_layer,
    check_snapshot,
    checked_evidence,
    history_entries,
    judgement_input,
    judgement_record,
    judgements_frame,
    layer_identifier,
    layer_row,
    layer_style,
    new_revisions,
    record_frame,
    restore_refusal,
    result_frame,
    utc_now,
    versions_after,
)

try:  # POSIX: serialise layer writers across processes (released by the OS on kill -9)
    import fcntl
except ImportError:  # pragma: no cover - Windows: single-writer use only
    fcntl = None

__all__ = ["DEFAULT_DB", "SCHEMA_VERSION", "VERDICTS", "GeoPackageStore", "StoreError", "as_stored"]

GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10300  # GeoPackage 1.3: what every GDAL from 2.2 on (QGIS 3.x) reads without a warning;
# the store uses nothing of 1.4

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

# table_name: the stable name (the view QGIS opens); storage_table: the versioned table behind it.
_LAYER_TABLES = """
CREATE TABLE IF NOT EXISTS pw_layers (
  layer_type TEXT PRIMARY KEY, table_name TEXT NOT NULL UNIQUE, version INTEGER NOT NULL,
  features INTEGER NOT NULL, crs TEXT NOT NULL, sha256 TEXT NOT NULL, content_hash TEXT NOT NULL,
  source TEXT NOT NULL, synthetic INTEGER NOT NULL, notes TEXT NOT NULL DEFAULT '[]',
  description TEXT NOT NULL DEFAULT '', imported_at TEXT NOT NULL, planwatch_version TEXT NOT NULL,
  storage_table TEXT NOT NULL DEFAULT '');
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

# v3 → v4 (and every new store): the schema history, and QGIS's own layer_styles table, exactly as QGIS
# creates it in a GeoPackage (through OGR, FID "id"), so QGIS finds the default style planwatch writes
# for each ly_<type> and saves its own styles beside it.
_V4_TABLES = (
    """CREATE TABLE IF NOT EXISTS pw_schema_history (
  version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL, planwatch_version TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS "layer_styles" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "f_table_catalog" TEXT(256), "f_table_schema" TEXT(256),
  "f_table_name" TEXT(256), "f_geometry_column" TEXT(256), "styleName" TEXT(30), "styleQML" TEXT, "styleSLD" TEXT,
  "useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30), "ui" TEXT(30),
  "update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))""",
    """INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) VALUES
  ('pw_schema_history', 'attributes', 'pw_schema_history', 'planwatch: the schema versions applied to this store'),
  ('layer_styles', 'attributes', 'layer_styles', '')""",
)

_LAYER_TABLE_RE = re.compile(r"^ly_([a-z][a-z0-9_]{1,30})_v([0-9]+)$")
# GeoPackage metadata tables that may reference a feature table (some exist only once GDAL made them)
_GPKG_REFERENCING = ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents", "gpkg_data_columns")
_NOW_MS = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"  # GeoPackage's own timestamps (last_change, update_time)

DEFAULT_DB = "planwatch.gpkg"
LOCK_WAIT_S = 30  # how long a write waits for another program's write to finish ($PLANWATCH_LOCK_WAIT)
BUSY_TIMEOUT_S = 2  # sqlite's own wait per attempt
SQLITE_MAGIC = b"SQLite format 3\x00"
JUDGEMENT_TABLES = {"pw_judgements", "pw_evidence"}
# A file holding any of these is a planwatch store (layer_styles alone is any QGIS-styled GeoPackage).
PLANWATCH_TABLES = {"pw_meta", "pw_observations", "pw_imports", "pw_layers", *JUDGEMENT_TABLES, "pw_schema_history",
                    *(t.name for t in register.FINDING_TABLES)}


def _check_is_planwatch_store(path: Path) -> None:
    """Refuse, without writing a byte, a file that is not a planwatch store."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head != SQLITE_MAGIC:
        raise StoreError(f"{path}: not a planwatch store (not a GeoPackage/SQLite file); planwatch will not modify it")
    # A write killed midway (kill -9, power loss) leaves a hot journal beside the file; a read-only
    # connection cannot roll it back, so such a store is opened read-write, and SQLite rolls the
    # interrupted transaction back (what any open of the file does), leaving the store as it was.
    hot_journal = path.with_name(path.name + "-journal")
    mode = "rw" if hot_journal.exists() and hot_journal.stat().st_size > 0 and os.access(path, os.W_OK) else "ro"
    try:
        with closing(sqlite3.connect(f"file:{path}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT_S)) as con:
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
        """Open the store at ``path``; with ``create``, make it if it does not exist yet. A store of an
        older schema is upgraded on open (one transaction; ``self.upgraded`` lists the versions applied).

        Refused with :class:`StoreError`, the file left untouched: a folder, a missing file (without
        ``create``), a missing parent folder, a file that is not SQLite, a SQLite/GeoPackage file that
        holds other tables but no planwatch store, a store written by a newer planwatch, and a
        read-only store that would need upgrading. Opening a current store writes nothing."""
        self.path = Path(path)
        self.on_wait = on_wait  # told when the store is busy and planwatch waits for it
        self.upgraded: list[int] = []
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
                self.upgraded = self._upgrade(con)
        except sqlite3.OperationalError as e:
            if "readonly" in str(e) or "read-only" in str(e):
                raise StoreError(f"{self.path}: the store is read-only and needs to be set up or upgraded; "
                                 "open it once with write permission") from e
            if "unable to open" in str(e):
                raise StoreError(f"{self.path}: cannot be created or opened ({e})") from e
            raise

    def __repr__(self) -> str:
        return f"GeoPackageStore({str(self.path)!r})"

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

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any error)."""
        with closing(self._connect()) as con:
            self._begin(con)
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ schema

    def _upgrade(self, con: sqlite3.Connection) -> list[int]:
        """Bring the store to :data:`SCHEMA_VERSION` in one transaction (a kill -9 midway leaves the
        previous schema, which the next open upgrades again): v1 → v2 the observation table, v2 → v3
        the judgement tables, v3 → v4 the schema history, layer_styles and the stable layer names.
        Returns the versions applied."""
        if self._current(con):
            return []
        self._begin(con)
        try:
            if self._current(con):  # another program upgraded it while this one waited
                con.execute("COMMIT")
                return []
            row = con.execute("SELECT value FROM pw_meta WHERE key = 'schema_version'").fetchone()
            columns = {r[1] for r in con.execute("PRAGMA table_info(pw_observations)")}
            before = int(row[0]) if row else (1 if columns else 0)  # no observation table yet: a new store
            if columns and "origin" not in columns:
                # one statement at a time: executescript() would commit the open transaction
                con.execute(_OBSERVATIONS_TABLE.format(name="pw_observations_v2").replace("IF NOT EXISTS ", ""))
                for statement in _MIGRATE_1_TO_2.split(";"):
                    if statement.strip():
                        con.execute(statement)
            elif not columns:
                con.execute(_OBSERVATIONS_TABLE.format(name="pw_observations"))
            con.execute(_OBSERVATIONS_INDEX)
            for statement in (*_JUDGEMENT_TABLES, *_V4_TABLES, *register.sqlite_ddl(), *quota_ledger.sqlite_ddl(),
                              *people_sql.sqlite_ddl()):
                con.execute(statement)
            self._stable_layer_names(con)
            recorded = {r[0] for r in con.execute("SELECT version FROM pw_schema_history")}
            now = utc_now()
            con.executemany(
                "INSERT INTO pw_schema_history (version, description, applied_at, planwatch_version) VALUES (?,?,?,?)",
                [(version, description, now, __version__) for version, description in history_entries(before, recorded)],
            )
            con.execute("INSERT INTO pw_meta (key, value) VALUES ('schema_version', ?)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return versions_after(before)

    def _stable_layer_names(self, con: sqlite3.Connection) -> None:
        """v3 → v4: the registry's table_name becomes the stable ``ly_<type>`` (a view of the versioned
        table, now ``storage_table``), with its default style (inside the upgrade's transaction)."""
        if "storage_table" not in {r[1] for r in con.execute("PRAGMA table_info(pw_layers)")}:
            con.execute("ALTER TABLE pw_layers ADD COLUMN storage_table TEXT NOT NULL DEFAULT ''")
        old = [r[0] for r in con.execute("SELECT layer_type FROM pw_layers WHERE storage_table = ''")]
        con.execute("UPDATE pw_layers SET storage_table = table_name, table_name = 'ly_' || layer_type WHERE storage_table = ''")
        for layer_type in old:
            record = self._layer_record(layer_type, con)
            self._publish_layer(con, record)
            self._upsert_default_style(con, record)

    def schema_version(self) -> int:
        with closing(self._connect()) as con:
            row = con.execute("SELECT value FROM pw_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 1

    def schema_history(self) -> pd.DataFrame:
        with closing(self._connect()) as con:
            rows = con.execute(f"SELECT {', '.join(SCHEMA_HISTORY_COLUMNS)} FROM pw_schema_history ORDER BY version").fetchall()
        return result_frame(rows, SCHEMA_HISTORY_COLUMNS)

    def upgrade(self) -> list[int]:
        with closing(self._connect()) as con:
            return self._upgrade(con)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        con.execute("PRAGMA foreign_keys = ON")
        return con

    # ------------------------------------------------------------------ observations

    def add_observations(self, rows: pd.DataFrame, *, file: str, sha256: str, plan_id: str, audit: dict | None = None,
                         scope: Scope | None = None) -> ImportSummary:
        # scope: SQLite has no roles; the service layer's check is the only wall here
        missing = [c for c in OBSERVATION_COLUMNS if c not in rows.columns]
        if missing:
            raise ValueError(f"rows lack columns {missing}")
        with self._write() as con:
            summary = self._append(con, rows, file=file, sha256=sha256, plan_id=plan_id)
            people_sql.audit_write(con, register.SQLITE, audit, summary.counts())
            return summary

    def _append(self, con, rows: pd.DataFrame, *, file: str, sha256: str, plan_id: str) -> ImportSummary:
        cur = con.execute(
            "INSERT INTO pw_imports (file, sha256, plan_id, imported_at, planwatch_version, rows_read, added, revised, unchanged)"
            " VALUES (?,?,?,?,?,?,0,0,0)",
            (file, sha256, plan_id, utc_now(), __version__, len(rows)),
        )
        import_id = cur.lastrowid
        newest = {
            (r[0], r[1], r[2], r[3], r[4]): (r[5], r[6], bool(r[7]))
            for r in con.execute(
                "SELECT o.indicator, o.year, o.geo, o.scope, o.origin, o.revision, o.value, o.synthetic FROM pw_observations o"
                " JOIN (SELECT indicator, year, geo, scope, origin, MAX(revision) AS rev FROM pw_observations"
                " GROUP BY 1,2,3,4,5) m ON o.indicator=m.indicator AND o.year=m.year AND o.geo=m.geo"
                " AND o.scope=m.scope AND o.origin=m.origin AND o.revision=m.rev"
            )
        }
        records, summary = new_revisions(rows, newest)
        cols = [*OBSERVATION_COLUMNS, "revision", "import_id"]
        con.executemany(f"INSERT INTO pw_observations ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [[*r, import_id] for r in records])
        con.execute(
            "UPDATE pw_imports SET added=?, revised=?, unchanged=? WHERE import_id=?",
            (summary.added, summary.revised, summary.unchanged, import_id),
        )
        con.execute(f"UPDATE gpkg_contents SET last_change={_NOW_MS} WHERE table_name IN ('pw_observations','pw_imports')")
        summary.file, summary.import_id = file, import_id
        return summary

    def _frame(self, sql: str, params=()) -> pd.DataFrame:
        with closing(self._connect()) as con:
            cur = con.execute(sql, params)
            df = result_frame(cur.fetchall(), [d[0] for d in cur.description])
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
        verdict, by, note, files = judgement_input(verdict, by, note, evidence)
        judged_at = utc_now()
        with self._write() as con:
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
            con.execute(f"UPDATE gpkg_contents SET last_change={_NOW_MS} WHERE table_name IN ('pw_judgements','pw_evidence')")
        return judgement_record(judgement_id, target, year, verdict, by, judged_at, note, plan_id, files)

    def judgements(self) -> pd.DataFrame:
        with closing(self._connect()) as con:
            rows = con.execute(
                'SELECT judgement_id, target, year, verdict, "by", judged_at, note FROM pw_judgements ORDER BY judgement_id'
            ).fetchall()
            evidence = con.execute("SELECT judgement_id, file_name, sha256 FROM pw_evidence ORDER BY evidence_id").fetchall()
        return judgements_frame(rows, evidence)

    def evidence(self, judgement_id: int) -> list[tuple[str, bytes]]:
        with closing(self._connect()) as con:
            if con.execute("SELECT 1 FROM pw_judgements WHERE judgement_id=?", (int(judgement_id),)).fetchone() is None:
                raise KeyError(f"no judgement #{judgement_id} in {self.path}")
            rows = con.execute(
                "SELECT file_name, sha256, content FROM pw_evidence WHERE judgement_id=? ORDER BY evidence_id",
                (int(judgement_id),),
            ).fetchall()
        return checked_evidence(str(self.path), judgement_id, rows)

    # ------------------------------------------------------------------ the findings register (问题清单)

    def generate_findings(self, candidates, *, year, covers, plan_id):
        with self._write() as con:
            return register.generate(con, register.SQLITE, candidates, year=year, covers=covers, plan_id=plan_id,
                                     planwatch_version=__version__)

    def findings(self) -> pd.DataFrame:
        with closing(self._connect()) as con:
            return register.read_findings(con, register.SQLITE)

    def finding_events(self, finding_id: int | None = None) -> pd.DataFrame:
        with closing(self._connect()) as con:
            return register.read_events(con, register.SQLITE, finding_id)

    def finding_evidence(self, finding_id: int | None = None) -> pd.DataFrame:
        with closing(self._connect()) as con:
            return register.read_evidence(con, register.SQLITE, finding_id)

    def move_finding(self, finding_id: int, *, audit: dict | None = None, scope: Scope | None = None, **move) -> dict:
        with self._write() as con:
            done = register.record_move(con, register.SQLITE, finding_id, **move)
            people_sql.audit_write(con, register.SQLITE, audit, {"version": done["version"], "event_id": done["event_id"]})
            return done

    def evidence_file(self, sha256: str) -> bytes:
        with closing(self._connect()) as con:
            return register.read_file(con, register.SQLITE, sha256)

    # ------------------------------------------------------------------ the quota ledger (流量池)

    def ledger_post(self, rules, op, params, *, key, actor, effective, memo, illustrative, plan_id, audit=None,
                    scope=None) -> dict:
        with self._write() as con:  # BEGIN IMMEDIATE: one writer at a time
            done = quota_ledger.post(con, register.SQLITE, rules, op, params, key=key, actor=actor, effective=effective,
                                     memo=memo, illustrative=illustrative, plan_id=plan_id,
                                     planwatch_version=__version__, lock=lambda con: None)
            people_sql.audit_write(con, register.SQLITE, audit, {"batch": done["batch"]["batch_id"],
                                                                 "repeated": done["repeated"]})
            return done

    def ledger_tables(self) -> dict[str, pd.DataFrame]:
        with closing(self._connect()) as con:
            con.execute("BEGIN")  # one read transaction: one consistent view of the five tables
            try:
                return quota_ledger.read_all(con, register.SQLITE)
            finally:
                con.execute("ROLLBACK")

    # ------------------------------------------------------------------ accounts, tokens, audit

    def people_write(self, op: str, args: dict, audit: dict) -> int | bool:
        with self._write() as con:
            done = getattr(people_sql, op)(con, register.SQLITE, **args)
            people_sql.audit(con, register.SQLITE, **audit)
            return done

    def people(self, table: str) -> pd.DataFrame:
        with closing(self._connect()) as con:
            return people_sql.read(con, register.SQLITE, table)

    def token_owner(self, sha256: str):
        with closing(self._connect()) as con:
            return people_sql.token_owner(con, register.SQLITE, sha256)

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
        check_layer(layer_type, gdf)
        row = layer_row(layer_type, gdf, source=source, sha256=sha256, synthetic=synthetic, notes=notes,
                        description=description)
        with self._layer_lock():
            self._drop_orphan_layer_tables()
            current = self._layer_record(layer_type)
            version = (current["version"] if current else 0) + 1
            storage = f"{row['table_name']}_v{version}"
            # Written beside the current version: until _switch_layer commits, nothing points here.
            with _quiet_extension():
                write_feature_table(gdf, self.path, storage, description=row["description"])
            row.update(version=version, storage_table=storage, imported_at=utc_now(), planwatch_version=__version__)
            row["style"] = self._default_style(row)  # made before the switch, which then only writes
            self._switch_layer(row, previous=current["storage_table"] if current else None)
        return {c: row[c] for c in LAYER_COLUMNS}

    def _switch_layer(self, row: dict, previous: str | None) -> None:
        """One transaction: point the registry at the new storage table, drop the previous one, and
        point the view ``ly_<type>`` and its default style at the new one."""
        with self._write() as con:
            self._register_layer(con, row)
            con.execute(f'DROP VIEW IF EXISTS "{row["table_name"]}"')
            if previous and previous != row["storage_table"]:
                _drop_feature_table(con, previous)
            self._publish_layer(con, row)
            self._upsert_default_style(con, row)

    @staticmethod
    def _register_layer(con: sqlite3.Connection, row: dict) -> None:
        cols = [*REGISTRY_COLUMNS, "storage_table"]
        values = [json.dumps(row[c], ensure_ascii=False) if c == "notes" else row[c] for c in cols]
        con.execute(
            f"INSERT INTO pw_layers ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) ON CONFLICT (layer_type)"
            f" DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in cols if c != 'layer_type')}",
            values,
        )

    def _publish_layer(self, con: sqlite3.Connection, row: dict) -> None:
        """(Re)create the spatial view ``ly_<type>`` of the storage table and register it as the
        layer QGIS and GDAL open; the storage table keeps a distinct identifier (inside the caller's
        transaction)."""
        view, storage = row["table_name"], row["storage_table"]
        con.execute(f'DROP VIEW IF EXISTS "{view}"')
        existing = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for meta in _GPKG_REFERENCING:
            if meta in existing:
                con.execute(f"DELETE FROM {meta} WHERE table_name=?", (view,))
        geometry = con.execute(
            "SELECT column_name, geometry_type_name, srs_id, z, m FROM gpkg_geometry_columns WHERE table_name=?", (storage,)
        ).fetchone()
        extent = con.execute("SELECT min_x, min_y, max_x, max_y, srs_id FROM gpkg_contents WHERE table_name=?",
                             (storage,)).fetchone()
        if geometry is None or extent is None:
            raise StoreError(f"{self.path}: layer table {storage} is not registered as a GeoPackage feature table")
        # fid first (the storage table's own order), so GDAL takes it as the view's feature id
        con.execute(f'CREATE VIEW "{view}" AS SELECT * FROM "{storage}"')
        synthetic = bool(row["synthetic"])
        storage_id = f"{row['layer_type']} v{row['version']} (storage{', ' + SYNTHETIC_LABEL if synthetic else ''})"
        con.execute("UPDATE gpkg_contents SET identifier=?, description=? WHERE table_name=?",
                    (storage_id, row["description"], storage))
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change,"
            f" min_x, min_y, max_x, max_y, srs_id) VALUES (?, 'features', ?, ?, {_NOW_MS}, ?, ?, ?, ?, ?)",
            (view, layer_identifier(row["layer_type"], synthetic), row["description"], *extent),
        )
        con.execute("INSERT INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, srs_id, z, m)"
                    " VALUES (?,?,?,?,?,?)", (view, *geometry))

    def _default_style(self, row: dict, con: sqlite3.Connection | None = None) -> tuple[str, str]:
        """The default QGIS style (QML, description) of the layer in ``row``'s storage table."""
        if con is None:
            with closing(self._connect()) as own:
                return self._default_style(row, own)
        found = con.execute("SELECT geometry_type_name FROM gpkg_geometry_columns WHERE table_name=?",
                            (row["storage_table"],)).fetchone()
        return layer_style(row["layer_type"], found[0] if found else "GEOMETRY", bool(row["synthetic"]))

    def _upsert_default_style(self, con: sqlite3.Connection, row: dict) -> None:
        """The layer's default QGIS style: the row of stylename ``planwatch`` for ``ly_<type>``, the
        layer's only default (as QGIS keeps one), rewritten for the new version."""
        view = row["table_name"]
        column = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name=?", (view,)).fetchone()[0]
        qml, description = row.get("style") or self._default_style(row, con)
        where = "f_table_schema='' AND f_table_name=? AND f_geometry_column=?"
        con.execute(f"UPDATE layer_styles SET useAsDefault=0 WHERE {where} AND styleName<>?", (view, column, STYLE_NAME))
        values = (qml, description, view, column, STYLE_NAME)
        updated = con.execute(
            f"UPDATE layer_styles SET styleQML=?, styleSLD=NULL, useAsDefault=1, description=?, update_time={_NOW_MS}"
            f" WHERE {where} AND styleName=?", values,
        ).rowcount
        if not updated:
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName,"
                f" styleQML, styleSLD, useAsDefault, description, owner, ui, update_time)"
                f" VALUES ('', '', ?, ?, ?, ?, NULL, 1, ?, '', NULL, {_NOW_MS})",
                (view, column, STYLE_NAME, qml, description),
            )
        con.execute(f"UPDATE gpkg_contents SET last_change={_NOW_MS} WHERE table_name='layer_styles'")

    def _drop_orphan_layer_tables(self) -> None:
        """Remove layer tables the registry does not point at (left by a write that crashed)."""
        with self._write() as con:
            current = {r[0] for r in con.execute("SELECT storage_table FROM pw_layers")}
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            names |= {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
            for name in sorted(names):
                if _LAYER_TABLE_RE.match(name) and name not in current:
                    _drop_feature_table(con, name)

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

    def _layer_record(self, layer_type: str, con: sqlite3.Connection | None = None) -> dict | None:
        """The registry row of ``layer_type`` with its storage table, or None."""
        if con is None:
            with closing(self._connect()) as own:
                return self._layer_record(layer_type, own)
        cols = [*REGISTRY_COLUMNS, "storage_table"]
        r = con.execute(f"SELECT {', '.join(cols)} FROM pw_layers WHERE layer_type=?", (layer_type,)).fetchone()
        if r is None:
            return None
        record = dict(zip(cols, r, strict=True))
        record.update(synthetic=bool(record["synthetic"]), notes=json.loads(record["notes"]))
        return record

    def read_layer(self, layer_type: str):
        import pyogrio

        for _attempt in range(3):  # a concurrent write may switch (and drop) the table between the two reads
            record = self._layer_record(layer_type)
            if record is None:
                stored = ", ".join(self.layers()["layer_type"]) or "none"
                raise KeyError(f"no {layer_type!r} layer in {self.path}; stored layers: {stored}")
            try:
                with _quiet_extension():
                    gdf = pyogrio.read_dataframe(self.path, layer=record["storage_table"])
            except pyogrio.errors.DataLayerError:
                continue
            if gdf.crs is None:
                gdf = gdf.set_crs(record["crs"])
            gdf.attrs["layer"] = {c: record[c] for c in LAYER_COLUMNS}
            return gdf
        raise RuntimeError(f"layer {layer_type!r} in {self.path} kept changing while being read")  # pragma: no cover

    def layers(self):
        with closing(self._connect()) as con:
            rows = con.execute(f"SELECT {', '.join(LAYER_COLUMNS)} FROM pw_layers ORDER BY layer_type").fetchall()
        df = result_frame(rows, LAYER_COLUMNS)
        df["synthetic"] = df["synthetic"].astype(bool)
        df["notes"] = [json.loads(n) for n in df["notes"]]
        return df

    # ------------------------------------------------------------------ a layer a page at a time (OGC API – Features)

    def layer_extent(self, layer_type: str):
        from planwatch.store.features import wgs84_extent

        with closing(self._connect()) as con:
            record, extent, _rtree = self._paged_layer(con, layer_type)
        return wgs84_extent(extent, record["crs"])

    def layer_page(self, layer_type: str, *, offset: int = 0, limit: int = 100, bbox=None, fid: int | None = None):
        """The page's fids are chosen in SQL on the storage table's key and its R-tree; GDAL then reads
        just those features, so they come typed as :meth:`read_layer` returns them."""
        import pyogrio

        from planwatch.store.features import LayerPage

        with closing(self._connect()) as con:
            # one read transaction: its shared lock keeps a layer switch from committing (and dropping
            # the table) until GDAL has read the page through its own connection
            con.execute("BEGIN")
            try:
                record, extent, rtree = self._paged_layer(con, layer_type)
                fids, matched = self._page_fids(con, record, extent, rtree, offset, limit, bbox, fid)
                with _quiet_extension():
                    page = pyogrio.read_dataframe(self.path, layer=record["storage_table"], where=_fid_filter(fids),
                                                  fid_as_index=True)
            finally:
                con.execute("COMMIT")
        if page.crs is None:
            page = page.set_crs(record["crs"])
        return LayerPage(page.sort_index().to_crs(4326), matched, {c: record[c] for c in LAYER_COLUMNS})

    def _paged_layer(self, con: sqlite3.Connection, layer_type: str) -> tuple[dict, tuple | None, str]:
        """The registry row of ``layer_type``, its storage table's extent (gpkg_contents, None when it
        holds no geometry) and the name of its R-tree."""
        record = self._layer_record(layer_type, con)
        if record is None:
            stored = ", ".join(r[0] for r in con.execute("SELECT layer_type FROM pw_layers ORDER BY layer_type")) or "none"
            raise KeyError(f"no {layer_type!r} layer in {self.path}; stored layers: {stored}")
        storage = record["storage_table"]
        found = con.execute("SELECT c.min_x, c.min_y, c.max_x, c.max_y, g.column_name FROM gpkg_contents c"
                            " JOIN gpkg_geometry_columns g ON g.table_name = c.table_name WHERE c.table_name = ?",
                            (storage,)).fetchone()
        if found is None:
            raise StoreError(f"{self.path}: layer table {storage} is not registered as a GeoPackage feature table")
        extent = None if None in found[:4] else tuple(float(v) for v in found[:4])
        return record, extent, f"rtree_{storage}_{found[4]}"

    def _page_fids(self, con: sqlite3.Connection, record: dict, extent, rtree: str, offset: int, limit: int, bbox,
                   fid: int | None) -> tuple[list[int], int]:
        """The fids of the page, ascending, and how many features match in all (see
        :mod:`planwatch.store.features`)."""
        import pyogrio

        from planwatch.store.features import bbox_window, intersecting

        storage = record["storage_table"]
        if fid is not None:
            hit = [r[0] for r in con.execute(f'SELECT fid FROM "{storage}" WHERE fid = ?', (int(fid),))]
            return hit, len(hit)
        if bbox is None:
            n = int(record["features"])
            first = con.execute(f'SELECT min(fid) FROM "{storage}"').fetchone()[0]  # each O(log n) on the key
            last = con.execute(f'SELECT max(fid) FROM "{storage}"').fetchone()[0]
            if (first, last) == (1, n):  # fids 1..n, as every version is written: the page by key
                return list(range(offset + 1, min(offset + limit, n) + 1)), n
            rows = con.execute(f'SELECT fid FROM "{storage}" ORDER BY fid LIMIT ? OFFSET ?', (limit, offset))
            return [r[0] for r in rows], n
        window = bbox_window(bbox, record["crs"], extent)
        if window is None:
            return [], 0
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (rtree,)).fetchone() is None:
            raise StoreError(f"{self.path}: layer table {storage} has no R-tree spatial index; write the layer again")
        overlaps = "maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?"
        outer = (window.outer[0], window.outer[2], window.outer[1], window.outer[3])
        inside, inner = ("0", ()) if window.inner is None else (
            "minx >= ? AND maxx <= ? AND miny >= ? AND maxy <= ?",
            (window.inner[0], window.inner[2], window.inner[1], window.inner[3]))
        # candidates near the box's edges: their geometry is read and tested exactly in WGS 84
        edge = [r[0] for r in con.execute(f'SELECT id FROM "{rtree}" WHERE {overlaps} AND NOT ({inside}) ORDER BY id',
                                          (*outer, *inner))]
        matches: list[int] = []
        if edge:
            with _quiet_extension():
                near = pyogrio.read_dataframe(self.path, layer=storage, columns=[], where=_fid_filter(edge),
                                              fid_as_index=True)
            matches = sorted(int(f) for f in near.index[intersecting(near.geometry.values, record["crs"], window.bbox)])
        sure = con.execute(f'SELECT count(*) FROM "{rtree}" WHERE {inside}', inner).fetchone()[0]
        rows = con.execute(f'SELECT id FROM (SELECT id FROM "{rtree}" WHERE {inside} UNION ALL'
                           " SELECT value FROM json_each(?)) ORDER BY id LIMIT ? OFFSET ?",
                           (*inner, json.dumps(matches), limit, offset))
        return [r[0] for r in rows], sure + len(matches)

    # ------------------------------------------------------------------ whole-store copies

    def snapshot(self) -> StoreSnapshot:
        import pyogrio

        with closing(self._connect()) as con:
            # one read transaction: its shared lock keeps writers from committing until every table
            # (and, through GDAL's own connection, every layer) has been read
            con.execute("BEGIN")
            try:
                records = {}
                for table in RECORD_TABLES:
                    cols = ", ".join(f'"{c}"' for c in table.columns)
                    rows = con.execute(f"SELECT {cols} FROM {table.name} ORDER BY {table.key}").fetchall()
                    records[table.name] = record_frame(table, rows)
                registry = [self._layer_record(t, con) for (t,) in con.execute("SELECT layer_type FROM pw_layers ORDER BY layer_type")]
                features = {}
                for record in registry:
                    with _quiet_extension():
                        gdf = pyogrio.read_dataframe(self.path, layer=record["storage_table"])
                    if gdf.crs is None:
                        gdf = gdf.set_crs(record["crs"])
                    gdf.attrs["layer"] = {c: record[c] for c in LAYER_COLUMNS}
                    features[record["layer_type"]] = gdf
                styles = con.execute(
                    "SELECT f_table_name, f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description,"
                    " owner, ui, update_time, NULL FROM layer_styles WHERE f_table_name IN"
                    " (SELECT table_name FROM pw_layers) ORDER BY id"
                ).fetchall()
                version = int(con.execute("SELECT value FROM pw_meta WHERE key='schema_version'").fetchone()[0])
            finally:
                con.execute("COMMIT")
        layers = pd.DataFrame([{c: r[c] for c in REGISTRY_COLUMNS} for r in registry], columns=REGISTRY_COLUMNS)
        styles_df = result_frame(styles, STYLE_COLUMNS)
        styles_df["useasdefault"] = styles_df["useasdefault"].astype(bool)
        return StoreSnapshot(source=str(self.path), schema_version=version, records=records, layers=layers,
                             features=features, styles=styles_df)

    def _counts(self, con: sqlite3.Connection) -> dict[str, int]:
        counts = {t.name: con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0] for t in RECORD_TABLES}
        counts["layers"] = con.execute("SELECT count(*) FROM pw_layers").fetchone()[0]
        return counts

    def restore(self, snapshot: StoreSnapshot) -> None:
        """The layer tables are written first, unregistered (orphans the next layer write removes if
        the restore dies there); then every record, the registry, the views and the styles in one
        transaction."""
        check_snapshot(snapshot, str(self.path))
        with closing(self._connect()) as con:
            refusal = restore_refusal(str(self.path), self._counts(con))
        if refusal:
            raise StoreError(refusal)
        with self._layer_lock():
            self._drop_orphan_layer_tables()
            rows = []
            for r in snapshot.layers.to_dict("records"):
                r["storage_table"] = f"{r['table_name']}_v{int(r['version'])}"
                with _quiet_extension():
                    write_feature_table(snapshot.features[r["layer_type"]], self.path, r["storage_table"],
                                        description=r["description"])
                rows.append(r)
            with self._write() as con:
                refusal = restore_refusal(str(self.path), self._counts(con))
                if refusal:
                    raise StoreError(refusal)
                for table in RECORD_TABLES:
                    df = snapshot.records[table.name]
                    cols = list(table.columns)
                    quoted = ", ".join(f'"{c}"' for c in cols)
                    con.executemany(
                        f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join('?' * len(cols))})",
                        [[_sqlite_value(v) for v in values] for values in df[cols].itertuples(index=False, name=None)],
                    )
                for r in rows:
                    self._register_layer(con, r)
                    self._publish_layer(con, r)
                con.executemany(
                    "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName,"
                    " styleQML, styleSLD, useAsDefault, description, owner, ui, update_time)"
                    " VALUES ('', '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [[_sqlite_value(v) for v in values]
                     for values in snapshot.styles[STYLE_COLUMNS[:-1]].itertuples(index=False, name=None)],
                )


def _sqlite_value(v):
    """A snapshot value as SQLite stores it (numpy scalars as Python, NaN/None as NULL, bool as 0/1)."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    if hasattr(v, "item") and not isinstance(v, bytes | str):
        v = v.item()
    return int(v) if isinstance(v, bool) else v


def write_feature_table(gdf, target, table: str, *, description: str = "") -> None:
    """Write ``gdf`` as the GeoPackage feature table ``table`` (GDAL through pyogrio, with its R-tree
    spatial index) into ``target``, a file path or a BytesIO."""
    import pyogrio

    options = {"IDENTIFIER": table, "DESCRIPTION": description, "SPATIAL_INDEX": "YES"}
    kwargs = {"geometry_type": "Unknown"} if len(gdf) == 0 else {}
    pyogrio.write_dataframe(gdf, target, layer=table, driver="GPKG", layer_options=options, **kwargs)


def _fid_filter(fids: list[int]) -> str:
    """The attribute filter (SQL that GDAL hands to SQLite) selecting the features ``fids`` (ascending)."""
    if not fids:
        return "0"
    if fids[-1] - fids[0] == len(fids) - 1:
        return f"fid BETWEEN {int(fids[0])} AND {int(fids[-1])}"
    return f"fid IN ({','.join(str(int(f)) for f in fids)})"


def as_stored(gdf):
    """The features as :meth:`GeoPackageStore.read_layer` returns them once written: GDAL's
    GeoPackage mapping of types (int8 → int16, nullable ints → float64, categories → str, …), single
    and multi geometries of a kind promoted to multi. The PostGIS store keeps a layer in this form,
    so both backends read back the same frame for the same input."""
    import pyogrio

    buffer = io.BytesIO()
    with _quiet_extension():
        write_feature_table(gdf, buffer, "layer")
        back = pyogrio.read_dataframe(buffer.getvalue())
    if back.crs is None and gdf.crs is not None:
        back = back.set_crs(gdf.crs)
    return back


@contextmanager
def _quiet_extension() -> Iterator[None]:
    """GDAL warns when a GeoPackage is named .sqlite or .db; the store allows those names."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non conformant file extension", category=RuntimeWarning)
        yield


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
