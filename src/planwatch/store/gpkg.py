"""The embedded store: one GeoPackage (SQLite) file that QGIS opens and later layers share.

The file is a valid GeoPackage (application_id 'GPKG', the gpkg_* metadata tables); planwatch's
own tables are registered in ``gpkg_contents`` as ``attributes`` so QGIS lists them. Every import
runs inside one ``BEGIN IMMEDIATE`` transaction, so a failure or a kill -9 leaves the file as it
was (SQLite's rollback journal).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from planwatch import __version__
from planwatch.store.base import OBSERVATION_COLUMNS, ImportSummary, Store

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

_PLANWATCH_TABLES = """
CREATE TABLE IF NOT EXISTS pw_imports (
  import_id INTEGER PRIMARY KEY AUTOINCREMENT, file TEXT NOT NULL, sha256 TEXT NOT NULL,
  plan_id TEXT NOT NULL, imported_at TEXT NOT NULL, planwatch_version TEXT NOT NULL,
  rows_read INTEGER NOT NULL, added INTEGER NOT NULL, revised INTEGER NOT NULL, unchanged INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pw_observations (
  obs_id INTEGER PRIMARY KEY AUTOINCREMENT,
  indicator TEXT NOT NULL, year INTEGER NOT NULL, geo TEXT NOT NULL DEFAULT '',
  revision INTEGER NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL,
  raw_value TEXT NOT NULL, raw_unit TEXT NOT NULL, conversion TEXT NOT NULL DEFAULT '',
  scope TEXT NOT NULL DEFAULT '', comparable INTEGER NOT NULL,
  note TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '', published TEXT NOT NULL DEFAULT '',
  method TEXT NOT NULL DEFAULT '', file TEXT NOT NULL, file_row INTEGER NOT NULL,
  import_id INTEGER NOT NULL REFERENCES pw_imports(import_id),
  UNIQUE (indicator, year, geo, revision));
CREATE INDEX IF NOT EXISTS pw_observations_key ON pw_observations (indicator, year, geo);
INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) VALUES
  ('pw_observations', 'attributes', 'pw_observations', 'planwatch: indicator observations, every revision (append-only)'),
  ('pw_imports', 'attributes', 'pw_imports', 'planwatch: import log with file hashes');
"""

DEFAULT_DB = "planwatch.gpkg"


class GeoPackageStore(Store):
    """Observations in a GeoPackage/SQLite file (created on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise ValueError(f"{self.path}: is a folder, expected a .gpkg file")
        with closing(self._connect()) as con:
            con.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
            con.executescript(_GPKG_CORE + _PLANWATCH_TABLES)
            con.commit()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        con.execute("PRAGMA foreign_keys = ON")
        return con

    def add_observations(self, rows: pd.DataFrame, *, file: str, sha256: str, plan_id: str) -> ImportSummary:
        missing = [c for c in OBSERVATION_COLUMNS if c not in rows.columns]
        if missing:
            raise ValueError(f"rows lack columns {missing}")
        with closing(self._connect()) as con:
            con.execute("BEGIN IMMEDIATE")
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
            (r[0], r[1], r[2]): (r[3], r[4], r[5])
            for r in con.execute(
                "SELECT o.indicator, o.year, o.geo, o.revision, o.value, o.scope FROM pw_observations o"
                " JOIN (SELECT indicator, year, geo, MAX(revision) AS rev FROM pw_observations GROUP BY 1,2,3) m"
                " ON o.indicator=m.indicator AND o.year=m.year AND o.geo=m.geo AND o.revision=m.rev"
            )
        }
        cols = OBSERVATION_COLUMNS
        insert = (
            f"INSERT INTO pw_observations ({', '.join(cols)}, revision, import_id) VALUES ({', '.join('?' * (len(cols) + 2))})"
        )
        for rec in rows[cols].itertuples(index=False):
            rec = rec._asdict()
            key = (rec["indicator"], int(rec["year"]), rec["geo"])
            prev = newest.get(key)
            if prev is not None and prev[1] == float(rec["value"]) and prev[2] == rec["scope"]:
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
            values[cols.index("file_row")] = int(rec["file_row"])
            con.execute(insert, [*values, revision, import_id])
            newest[key] = (revision, float(rec["value"]), rec["scope"])
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
        if "comparable" in df:
            df["comparable"] = df["comparable"].astype(bool)
        return df

    def observations(self, *, latest: bool = True) -> pd.DataFrame:
        sql = "SELECT * FROM pw_observations"
        if latest:
            sql += (
                " o WHERE revision = (SELECT MAX(revision) FROM pw_observations i"
                " WHERE i.indicator=o.indicator AND i.year=o.year AND i.geo=o.geo)"
            )
        return self._frame(sql + " ORDER BY indicator, geo, year, revision")

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
        return self._frame(sql + " ORDER BY o.geo, o.year, o.revision", params)

    def imports(self) -> pd.DataFrame:
        return self._frame("SELECT * FROM pw_imports ORDER BY import_id")
