"""Importing one-map layers: formats, geometry checks and repairs, attributes, and a store that stays
whole whatever happens (bad files, exceptions, kill -9)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile

import geopandas as gpd
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.onemap.layers import LayerImportError, import_layer
from planwatch.store import SYNTHETIC_LABEL, layer_content_hash, open_store

from .conftest import ROOT, SHARED

DISTRICTS = SHARED / "data/beijing/districts.geojson"
STATIONS = SHARED / "data/beijing/subway/beijing_subway_stations_osm.geojson"
runner = CliRunner()


def districts_wgs84(n: int | None = None) -> gpd.GeoDataFrame:
    d = gpd.read_file(DISTRICTS)
    return d if n is None else d.iloc[:n].reset_index(drop=True)


def square(x, y, size=0.01):
    """A small lon/lat square near (x, y)."""
    return Polygon([(x, y), (x + size, y), (x + size, y + size), (x, y + size)])


def frame(geoms, crs="EPSG:4326", **cols) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols or {"id": [f"F{i}" for i in range(1, len(geoms) + 1)]}, geometry=list(geoms), crs=crs)


def refused(path, layer_type, store, plan, **kw) -> str:
    with pytest.raises(LayerImportError) as e:
        import_layer(path, layer_type, store, plan, **kw)
    return str(e.value)


# ------------------------------------------------------------------ real data


def test_the_real_districts_import_and_their_areas_are_computed_in_the_metric_crs(store, plan):
    report = import_layer(DISTRICTS, "districts", store, plan)
    assert report.features == 16 and report.crs_in == "EPSG:4326" and report.crs_stored == "EPSG:4548"
    assert report.repairs == [] and report.version == 1 and report.table_name == "ly_districts"
    got = store.read_layer("districts")
    assert got.crs.to_epsg() == 4548 and len(got) == 16
    for row in got.itertuples():
        assert abs(row.geometry.area / 1e6 - row.area_km2) / row.area_km2 < 0.01, row.district
    assert got.attrs["layer"]["synthetic"] is False


def test_the_raw_osm_station_file_is_refused_for_lacking_name_and_the_shipped_one_imports(store, plan):
    msg = refused(STATIONS, "rail_stations", store, plan)
    assert "field 'name'" in msg and "stop_name" in msg and "nothing was written" in msg
    shipped = ROOT / "src/planwatch/plans/beijing-2021-2025/layers/rail_stations.geojson"
    report = import_layer(shipped, "轨道站点", store, plan)
    assert report.layer_type == "rail_stations" and report.features == 511


def test_an_unknown_layer_type_is_refused_listing_the_known_ones(store, plan):
    msg = refused(DISTRICTS, "roads", store, plan)
    assert "unknown layer type 'roads'" in msg and "farmland (永久基本农田)" in msg


# ------------------------------------------------------------------ formats


def _write(gdf: gpd.GeoDataFrame, fmt: str, tmp_path):
    if fmt == "gpkg":
        path = tmp_path / "in.gpkg"
        pyogrio.write_dataframe(gdf, path, layer="districts_in", driver="GPKG")
        return path
    if fmt == "geojson":
        path = tmp_path / "in.geojson"
        pyogrio.write_dataframe(gdf, path, driver="GeoJSON")
        return path
    if fmt == "parquet":
        path = tmp_path / "in.parquet"
        gdf.to_parquet(path)
        return path
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    shp = shp_dir / "in.shp"
    pyogrio.write_dataframe(gdf, shp, driver="ESRI Shapefile", layer_options={"ENCODING": "UTF-8"})
    if fmt == "shp":
        return shp
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(shp_dir.iterdir()):
            z.write(f, f"data/{f.name}")
    return path


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "zip", "geojson", "parquet"])
def test_each_format_round_trips_through_the_store(fmt, store, plan, tmp_path):
    src = districts_wgs84(4).to_crs("EPSG:4490")  # CGCS2000 lon/lat, as official data comes
    path = _write(src, fmt, tmp_path)
    report = import_layer(path, "districts", store, plan)
    assert report.features == 4 and report.crs_stored == "EPSG:4548"
    if fmt == "zip":
        assert report.source_layer == "data/in.shp"
    got = store.read_layer("districts")
    assert list(got["district"]) == list(src["district"])
    want = src.to_crs("EPSG:4548")
    for a, b in zip(got.geometry, want.geometry, strict=True):
        assert shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=0.01)  # 1 cm
    assert report.sha256 and len(report.sha256) == 64


def test_a_geopackage_with_several_layers_needs_one_chosen(store, plan, tmp_path):
    path = tmp_path / "two.gpkg"
    pyogrio.write_dataframe(districts_wgs84(2), path, layer="a", driver="GPKG")
    pyogrio.write_dataframe(districts_wgs84(3), path, layer="b", driver="GPKG")
    msg = refused(path, "districts", store, plan)
    assert "2 feature layers (a, b)" in msg and f"{path}:LAYER" in msg
    assert import_layer(f"{path}:b", "districts", store, plan).features == 3


def test_a_zip_with_two_shapefiles_needs_one_chosen(store, plan, tmp_path):
    path = tmp_path / "two.zip"
    for name, n in (("a", 2), ("b", 3)):
        d = tmp_path / name
        d.mkdir()
        pyogrio.write_dataframe(districts_wgs84(n), d / f"{name}.shp", driver="ESRI Shapefile")
        with zipfile.ZipFile(path, "a") as z:
            for f in sorted(d.iterdir()):
                z.write(f, f.name)
    msg = refused(path, "districts", store, plan)
    assert "2 vector files" in msg
    assert import_layer(f"{path}:b.shp", "districts", store, plan).features == 3


def test_unreadable_and_unknown_files_are_refused_by_name(store, plan, tmp_path):
    assert "file not found" in refused(tmp_path / "nope.gpkg", "districts", store, plan)
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n")
    assert "unsupported file type '.csv'" in refused(bad, "districts", store, plan)
    junk = tmp_path / "junk.geojson"
    junk.write_text("{ not json")
    assert "cannot be read as GeoJSON" in refused(junk, "districts", store, plan)
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    assert "the layer has no features" in refused(empty, "districts", store, plan)


# ------------------------------------------------------------------ geometry


def test_an_invalid_polygon_is_repaired_and_reported_feature_by_feature(store, plan, tmp_path):
    bowtie = Polygon([(116.30, 39.90), (116.32, 39.92), (116.32, 39.90), (116.30, 39.92)])
    spike = Polygon([(116.40, 39.90), (116.42, 39.90), (116.42, 39.92), (116.41, 39.92), (116.41, 39.93),
                     (116.41, 39.92), (116.40, 39.92)])
    path = tmp_path / "parks.geojson"
    frame([square(116.2, 39.9), bowtie, spike], name=["ok", "bowtie", "spike"]).to_file(path)
    report = import_layer(path, "parks", store, plan)
    assert len(report.repairs) == 2
    assert "feature 2 (name=bowtie)" in report.repairs[0] and "Self-intersection" in report.repairs[0]
    assert "Polygon → MultiPolygon of 2" in report.repairs[0]
    assert "feature 3 (name=spike)" in report.repairs[1] and "dropped 1 LineString" in report.repairs[1]
    got = store.read_layer("parks")
    assert got.is_valid.all() and set(got.geom_type) <= {"Polygon", "MultiPolygon"}
    assert any("bowtie" in n for n in got.attrs["layer"]["notes"])


def test_null_empty_and_wrong_type_geometries_are_refused_each_named(store, plan, tmp_path):
    path = tmp_path / "farm.gpkg"
    gdf = gpd.GeoDataFrame(
        {"code": ["A", "B", "C", "D"]},
        geometry=[square(116.6, 39.8), None, Polygon(), Point(116.6, 39.8)],
        crs="EPSG:4326",
    )
    pyogrio.write_dataframe(gdf, path, driver="GPKG", geometry_type="Unknown")
    msg = refused(path, "永久基本农田", store, plan)
    assert "feature 2 (code=B): geometry is null" in msg
    assert "feature 3 (code=C): geometry is empty" in msg
    assert "feature 4 (code=D): wrong geometry type Point: layer type farmland (永久基本农田) holds Polygon or MultiPolygon" in msg
    assert store.layers().empty


def test_a_polygon_that_collapses_to_a_line_when_repaired_is_refused(store, plan, tmp_path):
    flat = Polygon([(116.3, 39.9), (116.4, 39.9), (116.35, 39.9), (116.3, 39.9)])
    path = tmp_path / "flat.geojson"
    frame([square(116.2, 39.9), flat]).to_file(path)
    msg = refused(path, "parks", store, plan)
    assert "feature 2 (id=F2): invalid geometry" in msg and "cannot be repaired into a polygon" in msg


def test_lines_in_a_point_layer_are_refused(store, plan, tmp_path):
    path = tmp_path / "st.geojson"
    frame([Point(116.3, 39.9), LineString([(116.3, 39.9), (116.4, 39.95)])], name=["a", "b"]).to_file(path)
    assert "feature 2 (name=b): wrong geometry type LineString" in refused(path, "rail_stations", store, plan)


# ------------------------------------------------------------------ attributes


def test_a_missing_required_field_is_refused_naming_the_field_and_the_allowed_values(store, plan, tmp_path):
    path = tmp_path / "z.geojson"
    frame([square(116.3, 39.9)], kind=["生态控制区"]).to_file(path)
    msg = refused(path, "two_lines_three_zones", store, plan)
    assert "field 'zone': required field is missing" in msg and "生态控制区, 集中建设区, 限制建设区" in msg and "kind" in msg


def test_values_outside_the_allowed_list_are_refused_feature_by_feature(store, plan, tmp_path):
    path = tmp_path / "z.geojson"
    frame([square(116.3, 39.9), square(116.5, 39.9), square(116.7, 39.9)], id=["a", "b", "c"],
          zone=["生态控制区", "工业区", None]).to_file(path)
    msg = refused(path, "两线三区", store, plan)
    assert "feature 2 (id=b), field 'zone': value '工业区' is not allowed" in msg
    assert "feature 3 (id=c), field 'zone': required value is empty" in msg
    assert "feature 1" not in msg


def test_a_field_differing_only_in_case_is_accepted_with_a_note(store, plan, tmp_path):
    path = tmp_path / "z.shp"
    frame([square(116.3, 39.9)], ZONE=["限制建设区"]).to_file(path, engine="pyogrio", layer_options={"ENCODING": "UTF-8"})
    report = import_layer(path, "two_lines_three_zones", store, plan)
    assert any("field 'ZONE' read as 'zone'" in n for n in report.notes)
    assert store.read_layer("two_lines_three_zones")["zone"].tolist() == ["限制建设区"]


# ------------------------------------------------------------------ the store


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
def test_the_store_is_a_geopackage_qgis_lists_with_every_layer_and_its_label(store, plan, tmp_path, db):
    import_layer(DISTRICTS, "districts", store, plan)
    path = tmp_path / "farm.geojson"
    frame([square(116.6, 39.8), square(116.7, 39.8)]).to_file(path)
    import_layer(path, "farmland", store, plan, synthetic=True)
    listed = {name: kind for name, kind in pyogrio.list_layers(db)}
    # the stable names QGIS opens (views of the versioned tables ly_<type>_v<N> behind them)
    assert listed["ly_districts"] == listed["ly_districts_v1"] == "MultiPolygon"
    assert listed["ly_farmland"] == listed["ly_farmland_v1"] == "Polygon"
    assert "pw_layers" in listed and "pw_observations" in listed
    info = pyogrio.read_info(db, layer="ly_farmland")
    assert info["crs"] == "EPSG:4548" and info["features"] == 2 and info["fid_column"] == "fid"
    assert pyogrio.read_dataframe(db, layer="ly_farmland")["id"].tolist() == ["F1", "F2"]
    with sqlite3.connect(db) as con:
        desc = dict(con.execute("SELECT table_name, description FROM gpkg_contents"))
        ident = dict(con.execute("SELECT table_name, identifier FROM gpkg_contents"))
        rtree = con.execute("SELECT count(*) FROM gpkg_extensions WHERE extension_name='gpkg_rtree_index'").fetchone()[0]
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        views = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='view'")}
    assert views == {"ly_districts", "ly_farmland"}
    assert SYNTHETIC_LABEL in desc["ly_farmland"] and SYNTHETIC_LABEL not in desc["ly_districts"]
    assert ident["ly_farmland"] == f"farmland ({SYNTHETIC_LABEL})" and ident["ly_districts"] == "districts"
    assert ident["ly_districts_v1"] == "districts v1 (storage)"
    assert rtree == 2 and app_id == 0x47504B47
    reg = store.layers().set_index("layer_type")
    assert bool(reg.loc["farmland", "synthetic"]) and not bool(reg.loc["districts", "synthetic"])
    assert reg.loc["districts", "features"] == 16 and reg.loc["districts", "crs"] == "EPSG:4548"


def test_reading_a_layer_that_is_not_there_names_the_stored_ones(store, plan):
    import_layer(DISTRICTS, "districts", store, plan)
    with pytest.raises(KeyError, match="no 'farmland' layer .* stored layers: districts"):
        store.read_layer("farmland")


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
def test_a_new_version_replaces_the_old_and_drops_its_table(store, plan, db):
    first = import_layer(DISTRICTS, "districts", store, plan)
    second = import_layer(DISTRICTS, "districts", store, plan)
    assert (first.version, second.version) == (1, 2)
    assert first.content_hash == second.content_hash  # same features, same hash
    names = [n for n, _ in pyogrio.list_layers(db)]
    assert "ly_districts_v2" in names and "ly_districts_v1" not in names and "ly_districts" in names
    with sqlite3.connect(db) as con:
        left = con.execute("SELECT name FROM sqlite_master WHERE name LIKE '%districts_v1%'").fetchall()
        view = con.execute("SELECT sql FROM sqlite_master WHERE name='ly_districts'").fetchone()[0]
    assert left == [] and "ly_districts_v2" in view  # the stable name follows the current version


def test_a_bad_file_leaves_the_previous_layer_current(store, plan, tmp_path):
    good = tmp_path / "good.geojson"
    frame([square(116.6, 39.8), square(116.7, 39.8)]).to_file(good)
    before = import_layer(good, "farmland", store, plan)
    bad = tmp_path / "bad.geojson"
    frame([square(116.6, 39.8), square(121.4, 31.2)]).to_file(bad)  # the second is in Shanghai
    msg = refused(bad, "farmland", store, plan)
    assert "feature 2 (id=F2): lies outside the plan area" in msg
    row = store.layers().set_index("layer_type").loc["farmland"]
    assert row["version"] == 1 and row["content_hash"] == before.content_hash
    assert len(store.read_layer("farmland")) == 2


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
def test_a_failure_between_write_and_switch_leaves_the_previous_layer_and_the_orphan_is_cleaned(store, plan, db, monkeypatch):
    import_layer(DISTRICTS, "districts", store, plan)
    before = store.read_layer("districts")

    def boom(self, row, previous):
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(store), "_switch_layer", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        import_layer(DISTRICTS, "districts", store, plan)
    monkeypatch.undo()
    assert "ly_districts_v2" in [n for n, _ in pyogrio.list_layers(db)]  # the orphan, unreferenced
    current = store.read_layer("districts")
    assert current.attrs["layer"]["version"] == 1 and layer_content_hash(current) == layer_content_hash(before)
    import_layer(DISTRICTS, "districts", store, plan)
    names = [n for n, _ in pyogrio.list_layers(db)]
    assert names.count("ly_districts_v2") == 1 and "ly_districts_v1" not in names


_KILL_SCRIPT = """
import os, signal, sys
import geopandas as gpd, numpy as np, shapely
from planwatch.store import open_store
from planwatch.store.gpkg import GeoPackageStore
db, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
x = np.arange(n) % 1000 * 100.0 + 650000
y = np.arange(n) // 1000 * 100.0 + 4400000
gdf = gpd.GeoDataFrame({"name": [f"p{i}" for i in range(n)]}, geometry=shapely.box(x, y, x + 50, y + 50), crs="EPSG:4548")
if mode == "before-switch":
    GeoPackageStore._switch_layer = lambda self, row, previous: os.kill(os.getpid(), signal.SIGKILL)
store = open_store(db)
print("writing", flush=True)
store.write_layer("parks", gdf, source="big", sha256="x", synthetic=False, notes=[])
print("done", flush=True)
"""


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
@pytest.mark.parametrize("mode", ["during-write", "before-switch"])
def test_kill_9_during_a_layer_write_leaves_the_previous_layer_current(mode, store, plan, db, tmp_path):
    path = tmp_path / "parks.geojson"
    frame([square(116.6, 39.8), square(116.7, 39.8)]).to_file(path)
    before = import_layer(path, "parks", store, plan)
    journal = db.with_name(db.name + "-journal")
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(db), "300000", mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    if mode == "during-write":
        deadline = time.time() + 60
        while not journal.exists() and proc.poll() is None and time.time() < deadline:  # GDAL is inside a transaction
            time.sleep(0.005)
        assert proc.poll() is None, "the write finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # the file opens, the registry still points at the previous version, and it reads whole
    assert "pw_layers" in [n for n, _ in pyogrio.list_layers(db)]
    row = store.layers().set_index("layer_type").loc["parks"]
    assert row["version"] == 1 and row["content_hash"] == before.content_hash
    assert len(store.read_layer("parks")) == 2
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # and the next write succeeds, leaving no orphan behind
    after = import_layer(path, "parks", store, plan)
    assert after.version == 2
    assert sorted(n for n, _ in pyogrio.list_layers(db) if n.startswith("ly_parks")) == ["ly_parks", "ly_parks_v2"]


# ------------------------------------------------------------------ CLI


def test_cli_import_and_list(tmp_path, db):
    res = runner.invoke(app, ["layers", "import", str(DISTRICTS), "--as", "行政区", "--db", str(db)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "16 features imported as districts (行政区), version 1" in text and "EPSG:4326 → EPSG:4548" in text
    res = runner.invoke(app, ["layers", "list", "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    listed = json.loads(res.stdout)
    assert [r["layer_type"] for r in listed["layers"]] == ["districts"]
    assert listed["layers"][0]["name"] == "行政区" and listed["layers"][0]["synthetic"] is False
    assert "farmland (永久基本农田)" in listed["missing"]
    res = runner.invoke(app, ["layers", "list", "--db", str(db)])
    assert res.exit_code == 0 and "districts" in res.output


def test_cli_import_errors_exit_1_naming_the_feature(tmp_path, db):
    bad = tmp_path / "bad.geojson"
    frame([square(116.6, 39.8), Point(116.6, 39.8)]).to_file(bad)
    res = runner.invoke(app, ["layers", "import", str(bad), "--as", "farmland", "--db", str(db)])
    assert res.exit_code == 1
    assert "feature 2 (id=F2): wrong geometry type Point" in " ".join(res.output.split())
    res = runner.invoke(app, ["layers", "import", str(bad), "--as", "farmland", "--crs", "EPSG:999999", "--db", str(db)])
    assert res.exit_code == 1 and "--crs EPSG:999999" in res.output


def test_cli_import_reports_repairs(tmp_path, db):
    bowtie = Polygon([(116.30, 39.90), (116.32, 39.92), (116.32, 39.90), (116.30, 39.92)])
    path = tmp_path / "p.geojson"
    frame([bowtie], name=["bowtie"]).to_file(path)
    res = runner.invoke(app, ["layers", "import", str(path), "--as", "parks", "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["layer_type"] == "parks" and len(report["repairs"]) == 1 and "Self-intersection" in report["repairs"][0]
    stored = open_store(db).read_layer("parks")
    assert report["table_name"] == "ly_parks" and stored.is_valid.all() and stored.geom_type.tolist() == ["MultiPolygon"]


def test_every_problem_of_a_file_is_reported_at_once(store, plan, tmp_path):
    path = tmp_path / "z.geojson"
    frame([square(116.3, 39.9), square(121.4, 31.2)], id=["a", "b"], zone=["工业区", "限制建设区"]).to_file(path)
    msg = refused(path, "two_lines_three_zones", store, plan)
    assert "2 problem(s)" in msg
    assert "feature 1 (id=a), field 'zone': value '工业区' is not allowed" in msg
    assert "feature 2 (id=b): lies outside the plan area" in msg


def test_z_coordinates_are_dropped_with_a_note(store, plan, tmp_path):
    path = tmp_path / "z3.geojson"
    frame([Polygon([(116.3, 39.9, 50), (116.31, 39.9, 50), (116.31, 39.91, 50), (116.3, 39.9, 50)])]).to_file(path)
    report = import_layer(path, "parks", store, plan)
    assert any("Z coordinates dropped from 1 feature" in r for r in report.repairs)
    assert not store.read_layer("parks").has_z.any()
