"""The PostGIS store: every Store method gives what the GeoPackage store gives for the same input; the
stable layer names, QGIS's layer_styles and the schema history on both backends; whole-store copies
between them; and two programs writing at once. Needs ``$PLANWATCH_POSTGIS_DSN`` (the server of
``bash scripts/postgis.sh``): each test gets a fresh schema there (the ``postgis_dsn`` fixture)."""

from __future__ import annotations

import re
import sqlite3
import sys
import threading
import time
import xml.etree.ElementTree as ET
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from pandas.testing import assert_frame_equal
from shapely.geometry import MultiPolygon, Polygon

from planwatch.ledger.post import LedgerRefusal
from planwatch.plan import load_plan
from planwatch.store import (
    OBSERVATION_COLUMNS,
    SCHEMA_HISTORY,
    SCHEMA_VERSION,
    StoreError,
    layer_content_hash,
    open_store,
    store_exists,
)
from planwatch.store.base import PREDATES_HISTORY, RECORD_TABLES, STYLE_COLUMNS

psycopg = pytest.importorskip("psycopg", reason="the PostGIS store needs the server extra (psycopg)")

ISO_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TIME_COLUMNS = ["imported_at"]  # the only values that differ between two stores fed the same input


@pytest.fixture
def both(postgis_dsn, tmp_path):
    """A new GeoPackage store and a new PostGIS store."""
    return open_store(tmp_path / "same.gpkg"), open_store(postgis_dsn)


def sql(dsn: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as con:
        cur = con.execute(query, params)
        return cur.fetchall() if cur.description else []


def observation_rows(values: dict[tuple[str, int, str], float], **extra) -> pd.DataFrame:
    """Observation rows as the importer hands them over, one per (indicator, year, geo)."""
    rows = []
    for i, ((indicator, year, geo), value) in enumerate(values.items()):
        rows.append({c: "" for c in OBSERVATION_COLUMNS} | {
            "indicator": indicator, "year": year, "geo": geo, "value": value, "unit": "%", "raw_value": str(value),
            "raw_unit": "%", "comparable": True, "origin": "official", "synthetic": False, "source": "test",
            "method": "statistics", "file": "obs.csv", "file_row": i + 2} | extra)
    return pd.DataFrame(rows, columns=OBSERVATION_COLUMNS)


# keys that sort differently by code point (SQLite) and by a language collation: upper/lower case, CJK
FIRST = {("T05", 2021, ""): 1.0, ("t05", 2021, ""): 2.0, ("森林覆盖率", 2021, "延庆区"): 44.0,
         ("森林覆盖率", 2021, "东城区"): 40.0, ("B10", 2022, "_x"): 3.0, ("B10", 2022, "Z"): 4.0}
SECOND = {("T05", 2021, ""): 1.5, ("t05", 2021, ""): 2.0, ("森林覆盖率", 2022, "延庆区"): 45.0}


def fill_observations(store) -> None:
    store.add_observations(observation_rows(FIRST), file="a.csv", sha256="a" * 64, plan_id="bj")
    store.add_observations(observation_rows(SECOND), file="b.csv", sha256="b" * 64, plan_id="bj")
    store.add_observations(observation_rows({("T05", 2021, ""): 9.0}, scope="城镇", comparable=False),
                           file="c.csv", sha256="c" * 64, plan_id="bj")


def same(a: pd.DataFrame, b: pd.DataFrame, times=TIME_COLUMNS) -> None:
    """Equal frames (columns, dtypes, values, order), but for the times of day they were written."""
    for col in times:
        if col in a:
            assert a[col].map(lambda t: bool(ISO_SECOND.match(t))).all() and b[col].map(lambda t: bool(ISO_SECOND.match(t))).all()
    assert_frame_equal(a.drop(columns=[c for c in times if c in a]), b.drop(columns=[c for c in times if c in b]))


X, Y = 650000.0, 4400000.0


def polygon_layer() -> gpd.GeoDataFrame:
    """Four features with int, float, text, bool and empty attributes; one without geometry, one empty."""
    return gpd.GeoDataFrame({
        "code": np.array([1, 2, 3, 4], dtype="int64"), "small": np.array([1, 2, 3, 4], dtype="int32"),
        "area": [1.5, np.nan, 2.25, 1e-9], "name": ["甲", None, "c", "d"], "ok": [True, False, True, False],
        "blank": [None, None, None, None], "maybe": pd.array([1, None, 3, 4], dtype="Int64"),
    }, geometry=[shapely.box(X, Y, X + 10, Y + 10), None, Polygon(), shapely.box(X + 20, Y, X + 30, Y + 10)],
        crs="EPSG:4548")


def mixed_layer() -> gpd.GeoDataFrame:
    """Polygons and multipolygons (the GeoPackage store makes them all multipolygons), some 3-D points."""
    parts = MultiPolygon([shapely.box(X + 20, Y, X + 30, Y + 10), shapely.box(X + 40, Y, X + 50, Y + 10)])
    return gpd.GeoDataFrame({"kind": pd.Categorical(["a", "b"]), "tiny": np.array([1, 2], dtype="int8")},
                            geometry=[shapely.box(X, Y, X + 10, Y + 10), parts], crs="EPSG:4548")


def write(store, layer_type: str, gdf, synthetic=False):
    return store.write_layer(layer_type, gdf, source=f"{layer_type}.geojson", sha256="0" * 64, synthetic=synthetic,
                             notes=["a note", "示意"], description="")


def same_layer(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    assert_geodataframe_equal(a, b, check_less_precise=False)
    assert layer_content_hash(a) == layer_content_hash(b)
    ra, rb = dict(a.attrs["layer"]), dict(b.attrs["layer"])
    assert ISO_SECOND.match(ra.pop("imported_at")) and ISO_SECOND.match(rb.pop("imported_at"))
    assert ra == rb


# ------------------------------------------------------------------ the same results as the GeoPackage store


def test_observations_history_and_imports_are_those_of_the_geopackage_store(both):
    gpkg, pg = both
    same(gpkg.observations(), pg.observations())  # empty: the same (object) columns
    for store in both:
        fill_observations(store)
    same(gpkg.observations(), pg.observations())
    same(gpkg.observations(latest=False), pg.observations(latest=False))
    assert pg.observations()["indicator"].tolist()[:3] == ["B10", "B10", "T05"]  # code point order, as SQLite
    for args in (("T05",), ("T05", 2021, ""), ("森林覆盖率", 2021), ("none",)):
        same(gpkg.history(*args), pg.history(*args))
    same(gpkg.imports(), pg.imports())
    assert pg.history("T05", 2021, "")["revision"].tolist() == [1, 2, 1]  # the official series, then 城镇's


def test_judgements_and_their_evidence_are_those_of_the_geopackage_store_and_stay_append_only(both, postgis_dsn):
    gpkg, pg = both
    assert_frame_equal(gpkg.judgements(), pg.judgements())
    files = [("纪要.pdf", b"%PDF-1.4 minutes"), ("photo.jpg", bytes(range(256)))]
    for store in both:
        first = store.add_judgement("T16", 2025, "met", "张三", "首次", files, "bj")
        later = store.add_judgement("T16", 2025, "nearly", "李四", "", [], "bj")
        assert (first["judgement_id"], later["judgement_id"]) == (1, 2) and first["evidence"][1]["size"] == 256
        assert store.evidence(1) == files and store.evidence(2) == []
        with pytest.raises(KeyError, match="no judgement #9"):
            store.evidence(9)
        with pytest.raises(ValueError, match="verdict"):
            store.add_judgement("T16", 2025, "达成", "张三", "", [], "bj")
    assert_frame_equal(gpkg.judgements(), pg.judgements())
    for statement in ("UPDATE pw_judgements SET verdict='missed'", "DELETE FROM pw_evidence", "TRUNCATE pw_judgements, pw_evidence"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            sql(postgis_dsn, statement)
    assert len(pg.judgements()) == 2 and pg.evidence(1) == files


def test_a_polygon_layer_and_an_empty_one_read_back_as_from_the_geopackage_store(both):
    gpkg, pg = both
    points = gpd.GeoDataFrame({"n": [1, 2]}, geometry=[shapely.Point(X, Y, 50.0), shapely.Point(X + 1, Y + 1, 60.0)],
                              crs="EPSG:4548")
    for store in both:
        write(store, "farmland", polygon_layer(), synthetic=True)
        write(store, "parks", polygon_layer().iloc[:0])
        write(store, "land_use", mixed_layer())
        write(store, "rail_stations", points)
    for layer_type in ("farmland", "parks", "land_use", "rail_stations"):
        same_layer(gpkg.read_layer(layer_type), pg.read_layer(layer_type))
    got = pg.read_layer("farmland")
    assert got["maybe"].dtype == "float64" and got.geometry.iloc[1] is None and got.geometry.iloc[2].is_empty
    assert got.crs.to_epsg() == 4548 and len(pg.read_layer("parks")) == 0
    mixed = pg.read_layer("land_use")
    assert mixed.geom_type.tolist() == ["MultiPolygon"] * 2 and mixed["tiny"].dtype == "int16"
    assert pg.read_layer("rail_stations").has_z.all()
    same(gpkg.layers(), pg.layers())
    with pytest.raises(KeyError, match="no 'roads' layer .* stored layers: farmland, land_use, parks, rail_stations"):
        pg.read_layer("roads")
    with pytest.raises(ValueError, match="reserved"):
        write(pg, "roads", polygon_layer().rename(columns={"code": "geom"}))


class WritingBoth:
    """A store that writes every layer into two (so the demo is generated once) and reads the first."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def write_layer(self, *args, **kwargs):
        self.second.write_layer(*args, **kwargs)
        return self.first.write_layer(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.first, name)


def test_the_demo_map_reads_back_the_same_from_both_backends(both, plan):
    from planwatch.demo.onemap import load_demo_map

    gpkg, pg = both
    load_demo_map(WritingBoth(gpkg, pg), plan)
    same(gpkg.layers(), pg.layers())
    for layer_type in gpkg.layers()["layer_type"]:
        same_layer(gpkg.read_layer(layer_type), pg.read_layer(layer_type))


# ------------------------------------------------------------------ stable names and QGIS's layer_styles


def test_the_stable_name_survives_a_second_write_with_its_key_index_and_default_style(postgis_dsn):
    store = open_store(postgis_dsn)
    write(store, "farmland", polygon_layer().iloc[[0, 2]])
    row = write(store, "farmland", polygon_layer().iloc[[0]])
    assert (row["table_name"], row["version"]) == ("ly_farmland", 2)
    schema = sql(postgis_dsn, "SELECT current_schema()")[0][0]
    tables = [t for (t,) in sql(postgis_dsn, "SELECT tablename FROM pg_tables WHERE schemaname=%s AND tablename LIKE 'ly_%%'", (schema,))]
    assert tables == ["ly_farmland"]  # version 1 is gone, version 2 took the stable name
    indexes = dict(sql(postgis_dsn, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname=%s AND tablename='ly_farmland'", (schema,)))
    assert set(indexes) == {"ly_farmland_pkey", "ly_farmland_geom_idx"} and "USING gist (geom)" in indexes["ly_farmland_geom_idx"]
    assert sql(postgis_dsn, "SELECT conname, contype FROM pg_constraint WHERE conrelid = 'ly_farmland'::regclass") == [("ly_farmland_pkey", "p")]
    assert sql(postgis_dsn, "SELECT f_geometry_column, srid, type FROM geometry_columns WHERE f_table_schema=%s", (schema,)) == [
        ("geom", 4548, "POLYGON")]
    assert sql(postgis_dsn, "SELECT fid FROM ly_farmland") == [(1,)]
    styles = sql(postgis_dsn, "SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, stylename, useasdefault,"
                              " styleqml::text, type, owner FROM layer_styles")
    assert len(styles) == 1
    catalog, in_schema, table, column, name, default, qml, kind, owner = styles[0]
    assert (catalog, in_schema, table, column, name, default, kind, owner) == (
        "planwatch", schema, "ly_farmland", "geom", "planwatch", True, "Polygon", "postgres")
    assert ET.fromstring(qml.encode()).tag == "qgis"
    assert pg_is_current(store)


def pg_is_current(store) -> bool:
    return store.schema_version() == SCHEMA_VERSION


def test_the_geopackage_layer_styles_table_is_qgis_own_with_the_default_style_of_each_view(tmp_path):
    db = tmp_path / "styles.gpkg"
    store = open_store(db)
    write(store, "farmland", polygon_layer(), synthetic=True)
    write(store, "farmland", polygon_layer(), synthetic=True)
    with sqlite3.connect(db) as con:
        columns = [r[1] for r in con.execute("PRAGMA table_info(layer_styles)")]
        rows = con.execute("SELECT f_table_schema, f_table_name, f_geometry_column, styleName, useAsDefault, styleQML"
                           " FROM layer_styles").fetchall()
        registered = con.execute("SELECT data_type FROM gpkg_contents WHERE table_name='layer_styles'").fetchone()
    assert columns == ["id", "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName",
                       "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time"]
    assert registered == ("attributes",) and len(rows) == 1
    assert rows[0][:5] == ("", "ly_farmland", "geom", "planwatch", 1) and ET.fromstring(rows[0][5].encode()).tag == "qgis"
    assert len(pyogrio.read_dataframe(db, layer="ly_farmland")) == 4


# ------------------------------------------------------------------ schema versions


def test_the_schema_history_is_the_same_on_both_backends(both):
    gpkg, pg = both
    a, b = gpkg.schema_history(), pg.schema_history()
    same(a.drop(columns="planwatch_version"), b.drop(columns="planwatch_version"), times=["applied_at"])
    assert list(zip(a["version"], a["description"], strict=True)) == SCHEMA_HISTORY
    assert gpkg.upgraded == pg.upgraded == [1, 2, 3, 4, 5, 6, 7, 8] and gpkg.upgrade() == pg.upgrade() == []


def as_postgis_v3(dsn: str) -> None:
    """Turn a current PostGIS store back into one of schema 3: no history, no layer_styles, layer tables
    named by version."""
    with psycopg.connect(dsn, autocommit=True) as con:
        for (layer_type, version) in con.execute("SELECT layer_type, version FROM pw_layers").fetchall():
            old = f"ly_{layer_type}_v{version}"
            con.execute(f"ALTER TABLE ly_{layer_type} RENAME TO {old}")
            con.execute(f"ALTER TABLE {old} RENAME CONSTRAINT ly_{layer_type}_pkey TO {old}_pkey")
            con.execute(f"ALTER INDEX ly_{layer_type}_geom_idx RENAME TO {old}_geom_idx")
            con.execute("UPDATE pw_layers SET table_name=%s WHERE layer_type=%s", (old, layer_type))
        con.execute("DROP TABLE pw_schema_history, layer_styles")
        con.execute("DROP TABLE pw_findings, pw_finding_events, pw_files, pw_finding_evidence")
        con.execute(f"DROP TABLE {', '.join(AFTER_V5)}")
        con.execute("UPDATE pw_meta SET value='3' WHERE key='schema_version'")


def as_postgis_v4(dsn: str) -> None:
    """Turn a current PostGIS store back into one of schema 4: no findings register, no ledger."""
    as_postgis_v5(dsn)
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("DROP TABLE pw_findings, pw_finding_events, pw_files, pw_finding_evidence")
        con.execute("DELETE FROM pw_schema_history WHERE version = 5")
        con.execute("UPDATE pw_meta SET value='4' WHERE key='schema_version'")


def as_postgis_v5(dsn: str) -> None:
    """Turn a current PostGIS store back into one of schema 5: no quota ledger, no accounts."""
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"DROP TABLE {', '.join(AFTER_V5)}")
        con.execute("DELETE FROM pw_schema_history WHERE version >= 6")
        con.execute("UPDATE pw_meta SET value='5' WHERE key='schema_version'")


def test_an_older_postgis_schema_is_refused_until_planwatch_db_upgrade(postgis_dsn):
    from planwatch.store.postgis import PostGISStore

    store = open_store(postgis_dsn)
    fill_observations(store)
    write(store, "farmland", polygon_layer())
    before = store.read_layer("farmland")
    as_postgis_v3(postgis_dsn)
    for opener in (lambda: open_store(postgis_dsn), lambda: open_store(postgis_dsn, create=False)):
        with pytest.raises(StoreError, match="schema 3, older .* planwatch db upgrade --db postgresql://"):
            opener()
    upgraded = PostGISStore(postgis_dsn, upgrade=True)
    assert upgraded.upgraded == [4, 5, 6, 7, 8] and upgraded.upgrade() == []  # the second time, nothing to do
    history = upgraded.schema_history()
    assert history["version"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all(PREDATES_HISTORY in d for d in history["description"][:3])
    assert not any(PREDATES_HISTORY in d for d in history["description"][3:])
    same_layer(before, upgraded.read_layer("farmland"))
    assert len(upgraded.observations(latest=False)) == 9
    assert sql(postgis_dsn, "SELECT f_table_name, stylename FROM layer_styles") == [("ly_farmland", "planwatch")]
    assert open_store(postgis_dsn, create=False).schema_version() == SCHEMA_VERSION


def test_a_schema_newer_than_this_planwatch_is_refused_by_both(both, postgis_dsn):
    gpkg, _ = both
    sql(postgis_dsn, "UPDATE pw_meta SET value=%s WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    with sqlite3.connect(gpkg.path) as con:
        con.execute("UPDATE pw_meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    for target in (gpkg.path, postgis_dsn):
        with pytest.raises(StoreError, match="newer planwatch"):
            open_store(target)


LEDGER_TABLES = ("pw_ledger_accounts", "pw_ledger_batches", "pw_ledger_entries", "pw_ledger_reservations",
                 "pw_ledger_resolutions")
AFTER_V5 = (*LEDGER_TABLES, "pw_users", "pw_tokens", "pw_audit")  # the tables of schemas 6 and 7


def as_gpkg_v3(db) -> None:
    """Turn a current GeoPackage store back into one of schema 3: no history, no layer_styles, no views,
    the registry naming the versioned tables."""
    with sqlite3.connect(db) as con:
        for view, storage, layer_type in con.execute("SELECT table_name, storage_table, layer_type FROM pw_layers").fetchall():
            con.execute(f'DROP VIEW "{view}"')
            for meta in ("gpkg_contents", "gpkg_geometry_columns"):
                con.execute(f"DELETE FROM {meta} WHERE table_name=?", (view,))
            con.execute("UPDATE gpkg_contents SET identifier=? WHERE table_name=?", (layer_type, storage))
        con.execute("UPDATE pw_layers SET table_name = storage_table")
        con.execute("ALTER TABLE pw_layers DROP COLUMN storage_table")
        for table in ("layer_styles", "pw_schema_history", "pw_findings", "pw_finding_events", "pw_files",
                      "pw_finding_evidence", *AFTER_V5):
            con.execute(f"DROP TABLE {table}")
            con.execute("DELETE FROM gpkg_contents WHERE table_name=?", (table,))
        con.execute("UPDATE pw_meta SET value='3' WHERE key='schema_version'")


def test_a_geopackage_v3_is_upgraded_on_open_keeping_its_data_and_gaining_the_views(tmp_path):
    db = tmp_path / "v3.gpkg"
    store = open_store(db)
    fill_observations(store)
    write(store, "farmland", polygon_layer(), synthetic=True)
    write(store, "farmland", polygon_layer(), synthetic=True)
    before_obs, before_layer = store.observations(latest=False), store.read_layer("farmland")
    as_gpkg_v3(db)
    assert "ly_farmland" not in [n for n, _ in pyogrio.list_layers(db)]
    upgraded = open_store(db)
    assert upgraded.upgraded == [4, 5, 6, 7, 8] and upgraded.schema_version() == SCHEMA_VERSION
    assert_frame_equal(upgraded.observations(latest=False), before_obs)
    same_layer(before_layer, upgraded.read_layer("farmland"))
    assert upgraded.layers()["table_name"].tolist() == ["ly_farmland"]
    assert len(pyogrio.read_dataframe(db, layer="ly_farmland")) == 4
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT f_table_name FROM layer_styles WHERE useAsDefault").fetchall() == [("ly_farmland",)]
    history = upgraded.schema_history()
    assert history["version"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [PREDATES_HISTORY in d for d in history["description"]] == [True, True, True, False, False, False, False, False]
    row = write(upgraded, "farmland", polygon_layer().iloc[:1], synthetic=True)  # and the next version switches the view
    assert row["version"] == 3 and len(pyogrio.read_dataframe(db, layer="ly_farmland")) == 1


# ------------------------------------------------------------------ whole-store copies


def fill(store) -> None:
    fill_observations(store)
    store.add_judgement("T16", 2025, "met", "张三", "", [("纪要.pdf", b"%PDF minutes")], "bj")
    write(store, "farmland", polygon_layer(), synthetic=True)
    write(store, "farmland", polygon_layer().iloc[[0, 3]], synthetic=True)
    write(store, "parks", polygon_layer().iloc[:0])
    ledger = load_plan().ledger
    for op, params in (("release", {"pool": "floor_area:顺义区", "amount": 50_000, "year": 2022}),
                       ("reserve", {"pool": "floor_area:顺义区", "project": "P1", "amount": 20_000, "expires": None}),
                       ("commit", {"project": "P1", "amount": 15_000})):
        store.ledger_post(ledger, op, params, key=op, actor="甲", effective=date(2022, 3, 1), memo="", illustrative=True,
                          plan_id="bj")


def same_snapshot(a, b) -> None:
    assert a.schema_version == b.schema_version and a.counts() == b.counts()
    for table in RECORD_TABLES:
        assert_frame_equal(a.records[table.name], b.records[table.name], obj=table.name)
    assert_frame_equal(a.layers, b.layers)
    assert a.features.keys() == b.features.keys()
    for layer_type in a.features:
        same_layer(a.features[layer_type], b.features[layer_type])
    styles = [c for c in STYLE_COLUMNS if c != "type"]  # QGIS's GeoPackage layer_styles has no type column
    assert_frame_equal(a.styles[styles], b.styles[styles])


def test_a_snapshot_round_trips_geopackage_to_postgis_to_geopackage(tmp_path, postgis_dsn):
    source = open_store(tmp_path / "source.gpkg")
    fill(source)
    first = source.snapshot()
    assert first.counts() == {"pw_imports": 3, "pw_observations": 9, "pw_judgements": 1, "pw_evidence": 1, "layers": 2,
                              "pw_findings": 0, "pw_finding_events": 0, "pw_files": 0, "pw_finding_evidence": 0,
                              "pw_ledger_accounts": 48, "pw_ledger_batches": 13, "pw_ledger_entries": 27,
                              "pw_ledger_reservations": 1, "pw_ledger_resolutions": 1, "pw_users": 0,
                              "pw_tokens": 0, "pw_audit": 0}
    server = open_store(postgis_dsn)
    server.restore(first)
    second = server.snapshot()
    same_snapshot(first, second)
    back = open_store(tmp_path / "back.gpkg")
    back.restore(second)
    same_snapshot(first, back.snapshot())
    assert back.read_layer("farmland").attrs["layer"]["version"] == 2
    assert len(pyogrio.read_dataframe(tmp_path / "back.gpkg", layer="ly_farmland")) == 2
    # later records are numbered after the copied ones, in both
    for store in (server, back):
        summary = store.add_observations(observation_rows({("T05", 2021, ""): 7.0}), file="d.csv", sha256="d" * 64, plan_id="bj")
        assert summary.import_id == 4 and store.observations(latest=False)["obs_id"].max() == 10
        assert store.add_judgement("T16", 2025, "missed", "王五", "", [("x.txt", b"x")], "bj")["judgement_id"] == 2
        assert write(store, "farmland", polygon_layer(), synthetic=True)["version"] == 3
        ledger = load_plan().ledger
        with pytest.raises(LedgerRefusal, match="already resolved"):  # the copied commit resolved P1
            store.ledger_post(ledger, "cancel", {"project": "P1"}, key="c", actor="乙", effective=date(2022, 4, 1),
                              memo="", illustrative=True, plan_id="bj")
        done = store.ledger_post(ledger, "reserve", {"pool": "floor_area:顺义区", "project": "P2", "amount": 100,
                                                     "expires": None}, key="r2", actor="乙", effective=date(2022, 4, 1),
                                 memo="", illustrative=True, plan_id="bj")
        assert done["batch"]["batch_id"] == 14 and done["reservation"]["reservation_id"] == 2
        assert done["legs"][0]["before"] == 50_000 - 20_000 + 5_000  # the copied balance


def test_a_restore_into_a_store_that_holds_anything_is_refused_and_writes_nothing(both):
    gpkg, pg = both
    for store in both:
        write(store, "parks", polygon_layer())
    snap = gpkg.snapshot()
    for store, name in ((gpkg, str(gpkg.path)), (pg, pg.dsn)):
        with pytest.raises(StoreError, match=re.escape(name) + ".*holds records .*1 layers.*nothing was written"):
            store.restore(snap)
        assert store.observations(latest=False).empty and store.layers()["version"].tolist() == [1]


# ------------------------------------------------------------------ two programs at once, and reaching the server


def test_two_concurrent_imports_both_land_with_consecutive_revisions(postgis_dsn):
    open_store(postgis_dsn)
    keys = [(f"K{i:03d}", 2021 + i % 5, "") for i in range(400)]
    results, errors = [], []

    def run(seed: int) -> None:
        try:
            store = open_store(postgis_dsn)  # each its own store object and connections
            rows = observation_rows({k: seed * 1000 + i for i, k in enumerate(keys)})
            results.append(store.add_observations(rows, file=f"{seed}.csv", sha256=str(seed) * 64, plan_id="bj"))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted((r.added, r.revised) for r in results) == [(0, 400), (400, 0)]
    obs = open_store(postgis_dsn).observations(latest=False)
    assert len(obs) == 800 and (obs.groupby(["indicator", "year"])["revision"].apply(sorted) == pd.Series([[1, 2]] * 400, index=obs.groupby(["indicator", "year"]).size().index)).all()


def hold_lock(dsn: str, name: str, seconds: float, ready: threading.Event) -> None:
    """Hold the store's advisory lock ``name`` (as a writer would) for ``seconds``."""
    with psycopg.connect(dsn) as con:
        schema = con.execute("SELECT current_schema()").fetchone()[0]
        con.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"planwatch:{schema}:{name}",))
        ready.set()
        time.sleep(seconds)


def test_an_import_waits_for_another_writer_saying_so_once_then_lands(postgis_dsn, monkeypatch):
    told = []
    store = open_store(postgis_dsn, on_wait=told.append)
    ready = threading.Event()
    holder = threading.Thread(target=hold_lock, args=(postgis_dsn, "observations", 1.3, ready))
    holder.start()
    ready.wait(10)
    summary = store.add_observations(observation_rows(FIRST), file="a.csv", sha256="a" * 64, plan_id="bj")
    holder.join()
    assert summary.added == len(FIRST) and len(told) == 1 and "in use by another program; waiting" in told[0]
    monkeypatch.setenv("PLANWATCH_LOCK_WAIT", "0.5")
    ready.clear()
    holder = threading.Thread(target=hold_lock, args=(postgis_dsn, "observations", 1.2, ready))
    holder.start()
    ready.wait(10)
    with pytest.raises(StoreError, match="stayed locked by another program for 0.5 s; nothing was written"):
        store.add_observations(observation_rows(SECOND), file="b.csv", sha256="b" * 64, plan_id="bj")
    holder.join()
    assert len(store.imports()) == 1


def test_a_server_that_cannot_be_reached_is_named_with_its_password_masked():
    with pytest.raises(StoreError) as e:
        open_store("postgresql://planner:s3cret@127.0.0.1:1/planwatch")
    text = str(e.value)
    assert "s3cret" not in text and "postgresql://planner:***@127.0.0.1:1/planwatch" in text
    assert "cannot connect" in text and "bash scripts/postgis.sh" in text


def test_no_store_there_is_refused_without_create_and_other_tables_are_left_alone(postgis_dsn):
    sql(postgis_dsn, "CREATE TABLE customers (id integer, name text)")
    sql(postgis_dsn, "INSERT INTO customers VALUES (1, 'a')")
    assert not store_exists(postgis_dsn)
    with pytest.raises(StoreError, match="no planwatch store there .*planwatch db init --db postgresql://"):
        open_store(postgis_dsn, create=False)
    open_store(postgis_dsn)
    assert store_exists(postgis_dsn) and sql(postgis_dsn, "SELECT * FROM customers") == [(1, "a")]


def test_without_psycopg_a_dsn_asks_for_the_server_extra(monkeypatch):
    import planwatch.store

    monkeypatch.delitem(sys.modules, "planwatch.store.postgis", raising=False)
    monkeypatch.delattr(planwatch.store, "postgis", raising=False)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError, match=re.escape("the PostGIS store needs the server extra: pip install 'planwatch[server]'")):
        open_store("postgresql://postgres@127.0.0.1:54329/planwatch")


def test_planwatch_db_may_name_a_dsn(monkeypatch, postgis_dsn):
    from planwatch.store import default_db_path

    monkeypatch.setenv("PLANWATCH_DB", postgis_dsn)
    assert default_db_path() == postgis_dsn
    assert open_store().dsn == postgis_dsn  # no password in it to mask


def test_a_store_is_created_where_an_earlier_one_was_dropped_table_by_table(postgis_dsn):
    """Tables dropped by hand leave the append-only trigger function behind: a new store is still made."""
    import psycopg

    open_store(postgis_dsn)
    with psycopg.connect(postgis_dsn, autocommit=True) as con:
        tables = [r[0] for r in con.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        con.execute("DROP TABLE " + ", ".join(tables) + " CASCADE")
    store = open_store(postgis_dsn)
    assert store.schema_version() == SCHEMA_VERSION and store.observations().empty


def test_a_v5_postgis_store_gains_the_ledger_at_db_upgrade_keeping_its_records(postgis_dsn, plan):
    from datetime import date

    from planwatch.store.postgis import PostGISStore

    store = open_store(postgis_dsn)
    fill_observations(store)
    before = store.observations(latest=False)
    as_postgis_v5(postgis_dsn)
    with pytest.raises(StoreError, match="schema 5, older .* planwatch db upgrade"):
        open_store(postgis_dsn)
    upgraded = PostGISStore(postgis_dsn, upgrade=True)
    assert upgraded.upgraded == [6, 7, 8] and upgraded.upgrade() == []
    assert upgraded.observations(latest=False).equals(before)
    done = upgraded.ledger_post(plan.ledger, "release", {"pool": "pool:floor_area:顺义区", "amount": 100, "year": 2022},
                                key="k", actor="甲", effective=date(2022, 1, 5), memo="", illustrative=False,
                                plan_id=plan.meta.id)
    assert done["legs"][-1] == {"account": "pool:floor_area:顺义区", "amount": 100, "before": 0, "after": 100}


def test_a_v5_geopackage_store_gains_the_ledger_when_opened(tmp_path, plan):
    db = tmp_path / "v5.gpkg"
    store = open_store(db)
    fill_observations(store)
    before = store.observations(latest=False)
    with sqlite3.connect(db) as con:
        for table in AFTER_V5:
            con.execute(f"DROP TABLE {table}")
            con.execute("DELETE FROM gpkg_contents WHERE table_name=?", (table,))
        con.execute("DELETE FROM pw_schema_history WHERE version >= 6")
        con.execute("UPDATE pw_meta SET value='5' WHERE key='schema_version'")
    upgraded = open_store(db)
    assert upgraded.upgraded == [6, 7, 8] and upgraded.observations(latest=False).equals(before)
    assert set(upgraded.ledger_tables()) == set(LEDGER_TABLES)
