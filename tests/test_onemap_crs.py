"""CRS handling of layer imports: WGS 84, CGCS2000 and its Gauss-Kruger zones, GCJ-02, and the files
that must be refused (no CRS, swapped axes, outside the plan area)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planwatch.onemap.crs import CRSProblem, gcj02_to_wgs84, parse_crs, resolve_crs, wgs84_to_gcj02
from planwatch.onemap.layers import LayerImportError, import_layer

from .conftest import SHARED

DISTRICTS = SHARED / "data/beijing/districts.geojson"
GEOD = pyproj.Geod(ellps="WGS84")

# Published test vectors of the GCJ-02 formula (wgs lat, wgs lon, gcj lat, gcj lon), as used by the
# eviltransform implementations: Shanghai, Shenzhen, Beijing.
KNOWN = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]


def districts(n=3) -> gpd.GeoDataFrame:
    return gpd.read_file(DISTRICTS).iloc[:n].reset_index(drop=True)


def stored_matches(store, want_4548: gpd.GeoDataFrame, tol_m: float) -> None:
    got = store.read_layer("districts")
    assert got.crs.to_epsg() == 4548
    for a, b in zip(got.geometry, want_4548.geometry, strict=True):
        assert shapely.hausdorff_distance(a, b) < tol_m


# ------------------------------------------------------------------ GCJ-02


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), KNOWN)
def test_gcj02_forward_matches_published_points(wlat, wlon, glat, glon):
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert abs(lon - glon) < 1e-9 and abs(lat - glat) < 1e-9


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), KNOWN)
def test_gcj02_inverse_recovers_published_points_below_a_millimetre(wlat, wlon, glat, glon):
    lon, lat = gcj02_to_wgs84(glon, glat)
    _, _, dist = GEOD.inv(lon, lat, wlon, wlat)
    assert dist < 0.001


@settings(max_examples=200, deadline=None)
@given(st.floats(115.4, 117.5), st.floats(39.4, 41.1))
def test_gcj02_round_trip_is_sub_centimetre_across_beijing(lon, lat):
    glon, glat = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    _, _, dist = GEOD.inv(back_lon, back_lat, lon, lat)
    assert dist < 0.005  # well below a centimetre (the iteration stops at 1e-10°)


def test_gcj02_offset_in_beijing_is_a_few_hundred_metres_and_zero_outside_china():
    lon, lat = np.array([116.3975, 116.2, 117.0]), np.array([39.9087, 40.3, 40.5])
    glon, glat = wgs84_to_gcj02(lon, lat)
    _, _, dist = GEOD.inv(lon, lat, glon, glat)
    assert ((dist > 300) & (dist < 800)).all()
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)


def test_a_gcj02_file_imported_with_crs_gcj02_lands_on_the_true_position(store, plan, tmp_path):
    true = districts()
    mars = true.copy()
    mars["geometry"] = shapely.transform(true.geometry.values, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    path = tmp_path / "amap.geojson"
    mars.to_file(path)  # a GeoJSON says WGS 84 whatever its coordinates are: the usual trap
    report = import_layer(path, "districts", store, plan, crs="gcj02")
    assert report.crs_in == "GCJ-02"
    assert any("GCJ-02 to WGS 84" in n for n in report.notes)
    assert any("declares EPSG:4326; --crs gcj02 used as given" in n for n in report.notes)
    stored_matches(store, true.to_crs(4548), tol_m=0.01)
    # taken at its word, the same file lands hundreds of metres off
    import_layer(path, "districts", store, plan)
    off = shapely.hausdorff_distance(store.read_layer("districts").geometry[0], true.to_crs(4548).geometry[0])
    assert 300 < off < 800


# ------------------------------------------------------------------ supported CRSs


@pytest.mark.parametrize(
    "epsg",
    [
        4326,  # WGS 84
        4490,  # CGCS2000 geographic
        4547,  # CGCS2000 / 3-degree GK CM 114E (the neighbouring zone)
        4548,  # CGCS2000 / 3-degree GK CM 117E (Beijing's own zone, the storage CRS)
        4527,  # CGCS2000 / 3-degree GK zone 39 (CM 117E, zone number in the false easting)
        4509,  # CGCS2000 / GK CM 117E (6-degree)
        4498,  # CGCS2000 / GK zone 20 (6-degree, zone prefix)
    ],
)
def test_each_supported_crs_imports_to_the_same_place(epsg, store, plan, tmp_path):
    src = districts().to_crs(epsg)
    path = tmp_path / "d.gpkg"
    pyogrio.write_dataframe(src, path, driver="GPKG")
    report = import_layer(path, "districts", store, plan)
    assert report.crs_in == f"EPSG:{epsg}"
    stored_matches(store, districts().to_crs(4548), tol_m=0.001)


def test_a_shapefile_without_prj_is_refused_unless_the_crs_is_given(store, plan, tmp_path):
    path = tmp_path / "noprj.shp"
    pyogrio.write_dataframe(districts().to_crs(4548), path, driver="ESRI Shapefile")
    path.with_suffix(".prj").unlink()
    with pytest.raises(LayerImportError, match="the file has no CRS .* give it with --crs"):
        import_layer(path, "districts", store, plan)
    assert store.layers().empty
    report = import_layer(path, "districts", store, plan, crs="EPSG:4548")
    assert report.crs_in == "EPSG:4548"
    stored_matches(store, districts().to_crs(4548), tol_m=0.001)


def test_a_geoparquet_without_crs_is_refused(store, plan, tmp_path):
    path = tmp_path / "nocrs.parquet"
    districts().set_crs(None, allow_override=True).to_parquet(path)
    with pytest.raises(LayerImportError, match="the file has no CRS"):
        import_layer(path, "districts", store, plan)


def test_swapped_lon_lat_are_refused_saying_the_axes_look_swapped(store, plan, tmp_path):
    src = districts()
    src["geometry"] = shapely.transform(src.geometry.values, lambda xy: xy[:, ::-1])  # y = lon, x = lat
    path = tmp_path / "swapped.geojson"
    src.to_file(path)
    with pytest.raises(LayerImportError) as e:
        import_layer(path, "districts", store, plan)
    msg = str(e.value)
    assert "the axes look swapped: 3 of 3 features" in msg and "x = longitude, y = latitude" in msg
    assert "feature 1 (district=东城区): the axes look swapped" in msg


def test_swapped_gauss_kruger_axes_are_refused_too(store, plan, tmp_path):
    src = districts().to_crs(4548)
    src["geometry"] = shapely.transform(src.geometry.values, lambda xy: xy[:, ::-1])
    path = tmp_path / "swapped.gpkg"
    pyogrio.write_dataframe(src, path, driver="GPKG")
    with pytest.raises(LayerImportError, match="the axes look swapped.*x = easting, y = northing"):
        import_layer(path, "districts", store, plan)


def test_a_feature_outside_the_plan_area_is_refused_by_name(store, plan, tmp_path):
    src = districts()
    src.loc[1, "geometry"] = shapely.affinity.translate(src.geometry[1], xoff=5.0, yoff=-8.0)  # near Shanghai
    path = tmp_path / "moved.geojson"
    src.to_file(path)
    with pytest.raises(LayerImportError) as e:
        import_layer(path, "districts", store, plan)
    msg = str(e.value)
    assert "feature 2 (district=西城区): lies outside the plan area (lon 121." in msg
    assert "the plan area is lon 115.4–117.52, lat 39.4–41.07" in msg
    assert "feature 1" not in msg and "feature 3" not in msg


def test_metres_labelled_as_degrees_are_refused_with_a_hint(store, plan, tmp_path):
    src = districts().to_crs(4548).set_crs(4326, allow_override=True)  # a GeoJSON of GK metres
    path = tmp_path / "metres.geojson"
    src.to_file(path)
    with pytest.raises(LayerImportError, match="look like metres, not degrees"):
        import_layer(path, "districts", store, plan)


def test_a_wrong_gauss_kruger_zone_is_refused(store, plan, tmp_path):
    src = districts().to_crs(4547).set_crs(4548, allow_override=True)  # CM 114E coordinates labelled CM 117E
    path = tmp_path / "zone.gpkg"
    pyogrio.write_dataframe(src, path, driver="GPKG")
    with pytest.raises(LayerImportError, match=r"Gauss-Kruger zone\)\? give it with --crs"):
        import_layer(path, "districts", store, plan)


# ------------------------------------------------------------------ parsing


def test_crs_values_are_parsed_or_refused_clearly():
    assert parse_crs("4548").crs.to_epsg() == 4548
    assert parse_crs("EPSG:4490").crs.to_epsg() == 4490
    assert parse_crs("GCJ-02").gcj02 and parse_crs("gcj02").crs.to_epsg() == 4326
    with pytest.raises(CRSProblem, match="BD-09"):
        parse_crs("bd09")
    with pytest.raises(CRSProblem, match="not a CRS pyproj knows"):
        parse_crs("EPSG:999999")
    with pytest.raises(CRSProblem, match="is not supported"):
        parse_crs("EPSG:4214")  # Beijing 1954: needs local datum parameters
    with pytest.raises(CRSProblem, match="not supported"):
        resolve_crs(pyproj.CRS.from_epsg(2436), None, file="x.shp")  # Beijing 1954 / GK CM 117E
    assert resolve_crs(pyproj.CRS("OGC:CRS84"), None, file="x.geojson").label == "OGC:CRS84"  # supported as WGS 84


# ------------------------------------------------------------------ the storage CRS (EPSG:4548)


def test_beijing_is_stored_and_measured_in_its_own_zone_epsg_4548(plan):
    assert plan.spatial.storage_crs == plan.spatial.metric_crs == "EPSG:4548"
    # Beijing (115.4–117.5°E) lies inside the CM 117°E band: its area there is within 0.03 % of the
    # geodesic area, while the CM 114°E zone (EPSG:4547) makes it 0.06 % (or more) too large.
    d = gpd.read_file(DISTRICTS)
    geodesic = sum(abs(GEOD.geometry_area_perimeter(g)[0]) for g in d.geometry)
    assert d.to_crs(4548).area.sum() / geodesic - 1 == pytest.approx(0, abs=0.0003)
    assert d.to_crs(4547).area.sum() / geodesic - 1 > 0.0006


def test_a_store_written_in_epsg_4547_is_migrated_when_a_plan_verb_opens_it(db, plan):
    from typer.testing import CliRunner

    from planwatch.cli import app
    from planwatch.store import open_store

    store = open_store(db)
    old = districts(16).to_crs(4547)
    store.write_layer("districts", old, source="old store", sha256="x", synthetic=False, notes=["as imported in 2025"])
    res = CliRunner().invoke(app, ["layers", "list", "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert "migrated layer districts to EPSG:4548 (version 2)" in res.output
    got = open_store(db).read_layer("districts")
    assert got.crs.to_epsg() == 4548
    assert got.attrs["layer"]["notes"][-1].startswith("migrated from EPSG:4547 to EPSG:4548")
    for a, b in zip(got.geometry, districts(16).to_crs(4548).geometry, strict=True):
        assert shapely.hausdorff_distance(a, b) < 0.01
    # opened again: nothing left to migrate
    res = CliRunner().invoke(app, ["layers", "list", "--db", str(db), "--format", "json"])
    assert "migrated layer" not in res.output
