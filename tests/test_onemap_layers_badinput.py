"""Layer import takes the files users have, and refuses the rest clearly: an unclosed ring names its
feature, a Shapefile without its .dbf is refused, 3D and measured geometries are flattened with a
note, a GBK Shapefile without .cpg asks for --encoding, and --field maps the user's field names.
Every refusal exits 1 with no traceback and leaves the store as it was."""

from __future__ import annotations

import json
import struct
import zipfile

import geopandas as gpd
import numpy as np
import pyogrio.raw
import pytest
import shapely
from shapely.geometry import Polygon
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.onemap.layers import LayerImportError, import_layer, mis_decoded_as

from .conftest import SHARED

DISTRICTS = SHARED / "data/beijing/districts.geojson"
STATIONS = SHARED / "data/beijing/subway/beijing_subway_stations_osm.geojson"
runner = CliRunner(env={"COLUMNS": "2000"})  # no wrapping inside a path

SQUARE = [[116.30, 39.90], [116.31, 39.90], [116.31, 39.91], [116.30, 39.91], [116.30, 39.90]]
UNCLOSED = SQUARE[:-1]  # the last point is not the first


def feature(ring, fid, z=None):
    coords = [[*p, z] for p in ring] if z is not None else ring
    return {"type": "Feature", "properties": {"id": fid}, "geometry": {"type": "Polygon", "coordinates": [coords]}}


def geojson(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def layers_import(*args: str):
    return runner.invoke(app, ["layers", "import", *map(str, args)])


def assert_refused_cleanly(res, *expected: str):
    """Exit code 1, every expected phrase in the message, no Python traceback."""
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and "GEOSException" not in res.output
    text = " ".join(res.output.split())  # Rich wraps long lines
    for phrase in expected:
        assert phrase in text, f"{phrase!r} not in {text!r}"


def store_state(store):
    return store.layers()[["layer_type", "version", "features", "content_hash"]].to_dict("records")


@pytest.fixture
def filled(store, plan):
    """A store holding the real districts: what a refused import must leave untouched."""
    import_layer(DISTRICTS, "districts", store, plan)
    return store


def gbk_shapefile(path, gdf):
    """A Shapefile written in GBK without a .cpg, as Chinese desktop GIS exports often are."""
    gdf.to_file(path, encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    return path


# ------------------------------------------------------------------ unclosed rings


def test_an_unclosed_ring_in_layers_import_is_refused_with_its_feature_number(filled, db, tmp_path):
    before = store_state(filled)
    path = geojson(tmp_path / "parks.geojson", [feature(SQUARE, "P1"), feature(UNCLOSED, "P2"), feature(SQUARE, "P3")])
    res = layers_import(path, "--as", "parks", "--db", db)
    assert_refused_cleanly(res, "parks.geojson: feature 2 (id=P2)", "ring is not closed", "nothing was written")
    assert "feature 1" not in res.output and "feature 3" not in res.output
    assert store_state(filled) == before


def test_an_unclosed_ring_in_review_is_refused_with_its_feature_number(filled, db, tmp_path):
    before = store_state(filled)
    path = geojson(tmp_path / "project.geojson", [feature(SQUARE, "A"), feature(UNCLOSED, "B")])
    res = runner.invoke(app, ["review", str(path), "--db", str(db)])
    assert_refused_cleanly(res, "project.geojson: feature 2 (id=B)", "ring is not closed", "features refused")
    res = runner.invoke(app, ["review", str(path), "--db", str(db), "--out", str(tmp_path / "result.gpkg")])
    assert_refused_cleanly(res, "project.geojson: feature 2 (id=B)", "ring is not closed")
    assert not (tmp_path / "result.gpkg").exists()
    assert store_state(filled) == before


def _unclosed_wkb() -> bytes:
    """A Polygon whose ring does not close, as ISO WKB (shapely cannot build one)."""
    pts = UNCLOSED
    return struct.pack("<BIII", 1, 3, 1, len(pts)) + b"".join(struct.pack("<2d", *p) for p in pts)


def test_an_unclosed_ring_in_a_geopackage_or_geoparquet_names_its_feature(store, plan, tmp_path):
    good = shapely.to_wkb(shapely.Polygon(SQUARE))
    wkb = np.array([good, good, _unclosed_wkb()], dtype=object)
    ids = np.array(["G1", "G2", "G3"], dtype=object)
    gpkg = tmp_path / "bad.gpkg"
    pyogrio.raw.write(gpkg, wkb, [ids], fields=["id"], geometry_type="Polygon", crs="EPSG:4326", driver="GPKG", layer="bad")

    import pyarrow as pa
    import pyarrow.parquet as pq

    geo = {"version": "1.0.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"]}}}
    table = pa.table({"id": ids.tolist(), "geometry": pa.array(wkb.tolist(), pa.binary())})
    parquet = tmp_path / "bad.parquet"
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), parquet)

    for path in (gpkg, parquet):
        with pytest.raises(LayerImportError) as e:
            import_layer(path, "parks", store, plan)
        assert f"{path}: feature 3 (id=G3): a polygon ring is not closed" in str(e.value)
        assert len(e.value.problems) == 1
    assert len(store.layers()) == 0


# ------------------------------------------------------------------ Shapefile without .dbf


def test_a_zipped_shapefile_without_its_dbf_is_refused_naming_it(filled, db, tmp_path):
    before = store_state(filled)
    gpd.read_file(DISTRICTS).to_file(tmp_path / "districts.shp")
    path = tmp_path / "districts.zip"
    with zipfile.ZipFile(path, "w") as z:
        for ext in ("shp", "shx", "prj", "cpg"):
            z.write(tmp_path / f"districts.{ext}", f"export/districts.{ext}")
    res = layers_import(path, "--as", "districts", "--db", db)
    assert_refused_cleanly(res, "districts.zip", "the Shapefile's .dbf (its attributes) is missing", "districts.dbf")
    assert store_state(filled) == before
    # and beside a plain .shp
    (tmp_path / "districts.dbf").unlink()
    res = layers_import(tmp_path / "districts.shp", "--as", "districts", "--db", db)
    assert_refused_cleanly(res, "the Shapefile's .dbf (its attributes) is missing: no districts.dbf beside it")
    assert store_state(filled) == before


# ------------------------------------------------------------------ 3D and measured geometries


def test_a_3d_geojson_is_imported_flattened_with_a_note(store, plan, db, tmp_path):
    # RFC 7946 GeoJSON (no "crs" member) with heights: GDAL reports it as EPSG:4979, WGS 84 3D
    path = geojson(tmp_path / "parks3d.geojson", [feature(SQUARE, "Z1", z=42.5), feature(SQUARE, "Z2", z=43.0)])
    assert pyogrio.read_info(path)["crs"] == "EPSG:4979"
    res = layers_import(path, "--as", "parks", "--db", db)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "EPSG:4979 (WGS 84) is 3D: read as EPSG:4326" in text
    assert "flattened 2 3D/M geometries to 2D" in text
    stored = store.read_layer("parks")
    assert len(stored) == 2 and not stored.has_z.any() and stored.crs == "EPSG:4548"


def polygon_m_shapefile(base, rings):
    """A Shapefile of PolygonM (type 25) records, as ArcGIS exports with measures: .shp and .shx
    written by hand (pyogrio cannot write M); the .dbf comes from a 2-D copy written first."""
    recs = []
    for ring in rings:
        pts = np.asarray(ring, float)
        xs, ys, ms = pts[:, 0], pts[:, 1], pts[:, 2]
        c = struct.pack("<i4dii", 25, xs.min(), ys.min(), xs.max(), ys.max(), 1, len(pts)) + struct.pack("<i", 0)
        c += b"".join(struct.pack("<2d", x, y) for x, y in zip(xs, ys, strict=True))
        c += struct.pack("<2d", ms.min(), ms.max()) + b"".join(struct.pack("<d", m) for m in ms)
        recs.append(c)
    allp = np.concatenate([np.asarray(r, float) for r in rings])

    def header(words):
        box = (allp[:, 0].min(), allp[:, 1].min(), allp[:, 0].max(), allp[:, 1].max())
        return struct.pack(">7i", 9994, 0, 0, 0, 0, 0, words) + struct.pack(
            "<2i8d", 1000, 25, *box, 0, 0, allp[:, 2].min(), allp[:, 2].max())

    body, index, offset = b"", b"", 50
    for i, c in enumerate(recs, 1):
        body += struct.pack(">2i", i, len(c) // 2) + c
        index += struct.pack(">2i", offset, len(c) // 2)
        offset += 4 + len(c) // 2
    base.with_suffix(".shp").write_bytes(header(50 + len(body) // 2) + body)
    base.with_suffix(".shx").write_bytes(header(50 + len(index) // 2) + index)


def test_a_measured_shapefile_is_imported_flattened_with_a_note(store, plan, tmp_path):
    base = tmp_path / "parks_m.shp"
    squares = [shapely.box(116.30, 39.90, 116.31, 39.91), shapely.box(116.32, 39.90, 116.33, 39.91)]
    gpd.GeoDataFrame({"id": ["M1", "M2"]}, geometry=squares, crs="EPSG:4326").to_file(base)
    rings = [[(*xy, m) for m, xy in enumerate(g.exterior.coords)] for g in squares]
    polygon_m_shapefile(base, rings)
    report = import_layer(base, "parks", store, plan)
    assert report.features == 2
    assert any("flattened 2 3D/M geometries to 2D (M values dropped from 2 feature(s)" in r for r in report.repairs)
    stored = store.read_layer("parks")
    assert not shapely.has_m(stored.geometry.values).any()
    assert stored["id"].tolist() == ["M1", "M2"]


# ------------------------------------------------------------------ text encoding


def test_a_gbk_shapefile_without_cpg_is_refused_with_the_encoding_hint(filled, db, tmp_path):
    before = store_state(filled)
    path = gbk_shapefile(tmp_path / "districts_gbk.shp", gpd.read_file(DISTRICTS))
    res = layers_import(path, "--as", "districts", "--db", db)
    assert_refused_cleanly(
        res, "districts_gbk.shp: feature 1", "field 'district'", "looks mis-decoded", "read as ISO-8859-1",
        "no .cpg", "'东城区' in GBK", "pass --encoding GBK",
    )
    assert store_state(filled) == before


def test_the_gbk_shapefile_is_imported_with_encoding_gbk_and_its_chinese_names_are_right(store, db, tmp_path):
    real = gpd.read_file(DISTRICTS)
    path = gbk_shapefile(tmp_path / "districts_gbk.shp", real)
    res = layers_import(path, "--as", "districts", "--db", db, "--encoding", "GBK")
    assert res.exit_code == 0, res.output
    assert "text read as GBK (--encoding)" in " ".join(res.output.split())
    stored = store.read_layer("districts")
    assert stored["district"].tolist() == real["district"].tolist()
    assert "东城区" in set(stored["district"]) and set(stored["province"]) == {"北京市"}


def test_utf8_text_read_as_gbk_or_not_valid_utf8_is_refused_with_the_right_encoding(store, plan, tmp_path):
    real = gpd.read_file(DISTRICTS).iloc[:3]
    utf8 = tmp_path / "u8.shp"
    real.to_file(utf8)  # UTF-8 with its .cpg
    with pytest.raises(LayerImportError) as e:
        import_layer(utf8, "districts", store, plan, encoding="GBK")
    assert "read as GBK (--encoding GBK)" in str(e.value) and "pass --encoding UTF-8" in str(e.value)
    gbk = gbk_shapefile(tmp_path / "g.shp", real)
    with pytest.raises(LayerImportError) as e:
        import_layer(gbk, "districts", store, plan, encoding="UTF-8")
    assert "text is not valid UTF-8" in str(e.value) and "read as GBK it is '东城区': pass --encoding GBK" in str(e.value)
    with pytest.raises(LayerImportError, match="--encoding NO-SUCH: not a known text encoding"):
        import_layer(gbk, "districts", store, plan, encoding="NO-SUCH")
    assert len(store.layers()) == 0


def test_the_mojibake_heuristic_passes_real_chinese_and_european_text():
    stations = json.loads(STATIONS.read_text(encoding="utf-8"))["features"]
    names = {f["properties"]["stop_name"] for f in stations} | set(gpd.read_file(DISTRICTS)["district"])
    names |= {"永久基本农田", "生态保护红线", "城镇开发边界", "路", "Müller Straße", "São Paulo", "Øresund", "Café"}
    assert [n for n in names if mis_decoded_as(n)] == []
    assert mis_decoded_as("北京市".encode("gbk").decode("latin-1")) == ("GBK", "北京市")
    assert mis_decoded_as("北京市".encode().decode("latin-1")) == ("UTF-8", "北京市")


def test_review_reads_a_gbk_shapefile_with_encoding_and_field(filled, db, tmp_path):
    parcels = gpd.GeoDataFrame(
        {"地块编号": ["海淀-1", "朝阳-2"]},
        geometry=[shapely.box(116.30, 39.95, 116.31, 39.96), shapely.box(116.45, 39.92, 116.46, 39.93)], crs="EPSG:4326",
    )
    path = gbk_shapefile(tmp_path / "parcels.shp", parcels)
    res = runner.invoke(app, ["review", str(path), "--db", str(db), "--format", "json"])
    assert_refused_cleanly(res, "pass --encoding GBK")
    res = runner.invoke(app, ["review", str(path), "--db", str(db), "--format", "json",
                              "--encoding", "GBK", "--field", "id=地块编号"])
    assert res.exit_code == 0, res.output
    assert [r["id"] for r in json.loads(res.stdout)] == ["海淀-1", "朝阳-2"]
    out = tmp_path / "result.gpkg"
    res = runner.invoke(app, ["review", str(path), "--db", str(db), "--out", str(out),
                              "--encoding", "GBK", "--field", "id=地块编号"])
    assert res.exit_code == 0, res.output
    assert gpd.read_file(out, layer="parcels")["id"].tolist() == ["海淀-1", "朝阳-2"]


# ------------------------------------------------------------------ --field


def test_field_maps_the_users_field_name_to_the_layer_types(store, db):
    res = layers_import(STATIONS, "--as", "rail_stations", "--db", db)
    assert_refused_cleanly(res, "field 'name'", "required field is missing", "stop_name")
    res = layers_import(STATIONS, "--as", "rail_stations", "--db", db, "--field", "name=stop_name")
    assert res.exit_code == 0, res.output
    assert "field 'stop_name' read as 'name' (--field name=stop_name)" in " ".join(res.output.split())
    stored = store.read_layer("rail_stations")
    source = gpd.read_file(STATIONS)
    assert stored["name"].tolist() == source["stop_name"].tolist() and "stop_name" not in stored.columns


def test_an_unknown_field_source_is_refused_naming_the_fields_the_file_has(filled, db):
    before = store_state(filled)
    res = layers_import(STATIONS, "--as", "rail_stations", "--db", db, "--field", "name=station_name")
    assert_refused_cleanly(res, "field 'station_name': no such field (--field name=station_name)",
                           "the file has: stop_id, stop_code, stop_name")
    res = layers_import(STATIONS, "--as", "rail_stations", "--db", db, "--field", "name")
    assert_refused_cleanly(res, "--field 'name': expected LAYER_FIELD=FILE_FIELD")
    assert store_state(filled) == before


def test_field_keeps_a_displaced_field_of_the_same_name(store, plan, tmp_path):
    path = tmp_path / "stations.geojson"
    gpd.GeoDataFrame({"name": ["Gucheng"], "name_zh": ["古城"]}, geometry=[shapely.Point(116.18, 39.91)],
                     crs="EPSG:4326").to_file(path)
    report = import_layer(path, "rail_stations", store, plan, fields={"name": "name_zh"})
    stored = store.read_layer("rail_stations")
    assert stored["name"].tolist() == ["古城"] and stored["src_name"].tolist() == ["Gucheng"]
    assert any("kept as 'src_name'" in n for n in report.notes)


def test_a_polygon_with_z_given_as_a_frame_is_flattened_too(store, plan, tmp_path):
    path = tmp_path / "z.gpkg"
    gpd.GeoDataFrame({"id": ["a"]}, geometry=[Polygon([(116.3, 39.9, 5), (116.31, 39.9, 5), (116.31, 39.91, 5)])],
                     crs="EPSG:4326").to_file(path)
    report = import_layer(path, "parks", store, plan)
    assert any("flattened 1 3D/M geometries to 2D" in r for r in report.repairs)
