"""Compliance review as a land officer uses it: a project's conflicts with the control lines, with
areas, shares and articles, and the zones it falls in."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import box
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.onemap.review.review import (
    ReviewInputError,
    review_features,
    review_file,
    review_frame,
    review_zones,
)
from planwatch.store.base import SYNTHETIC_LABEL

from .test_review_engines import engine_or_skip, random_parcels

X, Y = 450_000.0, 4_420_000.0  # EPSG:4548: central Beijing


def layer(geoms, **cols) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs="EPSG:4548")


def one_map(synthetic: bool = False) -> dict[str, gpd.GeoDataFrame]:
    """A small hand-made one map around (X, Y), every reviewed kind of layer in it."""
    layers = {
        # two farmland patches overlapping each other by 500 m × 1000 m
        "farmland": layer([box(X, Y, X + 1000, Y + 1000), box(X + 500, Y, X + 1500, Y + 1000)]),
        "eco_redline": layer([box(X + 5000, Y, X + 6000, Y + 1000)]),
        "urban_boundary": layer([box(X - 5000, Y - 5000, X + 2000, Y + 5000)]),
        "two_lines_three_zones": layer(
            [box(X, Y, X + 3000, Y + 3000), box(X - 3000, Y, X, Y + 3000)], zone=["生态控制区", "集中建设区"]
        ),
        "strategic_reserve": layer([box(X - 2000, Y - 2000, X - 1000, Y - 1000)]),
        "production_guide": layer([box(X - 2000, Y - 2000, X + 200, Y + 200)]),
        "green_belt": layer([box(X - 4000, Y - 4000, X - 3000, Y - 3000)]),
        "rings": layer(
            [box(X - 10000, Y - 10000, X, Y + 10000), box(X, Y - 10000, X + 10000, Y + 10000)], ring=["核心区", "中心城区"]
        ),
    }
    if synthetic:
        for gdf in layers.values():
            gdf.attrs["synthetic"] = True
    return layers


def brute_conflict(feature, layer_gdf) -> float:
    return feature.intersection(shapely.union_all(layer_gdf.geometry.values)).area


@pytest.fixture
def project():
    return layer(
        [
            box(X + 100, Y + 100, X + 300, Y + 300),  # in farmland (patch 1), 生态控制区, core of the city
            box(X + 400, Y + 100, X + 600, Y + 300),  # across both farmland patches (their overlap)
            box(X + 1900, Y + 100, X + 2100, Y + 300),  # half outside the urban boundary
            box(X - 500, Y + 100, X - 300, Y + 300),  # 集中建设区, half in the production guide zone: clean
        ],
        id=["A", "B", "C", "D"],
    )


def by_layer(rec) -> dict:
    return {c["layer"]: c for c in rec["conflicts"]}


def test_a_project_in_farmland_is_forbidden_with_area_share_and_article(plan, project):
    res = review_features(project, one_map(), plan)
    assert [r["id"] for r in res] == ["A", "B", "C", "D"]
    a = by_layer(res[0])
    farm = a["farmland"]
    assert farm == {
        "layer": "farmland", "layer_name": "永久基本农田", "rule": "永久基本农田内不得进行城镇开发建设",
        "article": 65, "severity": "forbidden", "when": "inside", "overlap_m2": 40_000.0, "overlap_share": 1.0,
    }
    assert res[0]["conflicts"][0]["severity"] == "forbidden"  # worst first
    assert a["two_lines_three_zones"]["severity"] == "restricted"  # where: zone = 生态控制区
    assert res[3]["conflicts"] == []  # 集中建设区, inside the boundary


def test_overlapping_features_of_one_layer_are_not_counted_twice(plan, project):
    res = review_features(project, one_map(), plan)
    assert by_layer(res[1])["farmland"]["overlap_m2"] == pytest.approx(40_000.0, rel=1e-12)


def test_outside_the_urban_boundary_the_conflict_is_the_part_outside(plan, project):
    res = review_features(project, one_map(), plan)
    c = by_layer(res[2])["urban_boundary"]
    assert c["when"] == "outside" and c["severity"] == "restricted"
    assert c["overlap_m2"] == pytest.approx(20_000.0, rel=1e-12) and c["overlap_share"] == pytest.approx(0.5)
    assert "urban_boundary" not in by_layer(res[0])  # wholly inside: no conflict


def test_zones_list_guide_zones_and_rings_with_shares(plan, project):
    res = review_features(project, one_map(), plan)
    zones = {(z["layer"], z["zone"]): z["share"] for z in res[3]["zones"]}
    assert zones == {
        ("two_lines_three_zones", "集中建设区"): 1.0,
        ("production_guide", "生产空间引导区"): pytest.approx(0.5),
        ("rings", "核心区"): 1.0,
    }
    assert ("rings", "中心城区") in {(z["layer"], z["zone"]) for z in res[0]["zones"]}


def test_synthetic_layers_are_labelled_on_every_conflict_and_zone(plan, project):
    res = review_features(project, one_map(synthetic=True), plan)
    items = [x for r in res for x in r["conflicts"] + r["zones"]]
    assert items and all(x["synthetic"] is True and x["label"] == SYNTHETIC_LABEL for x in items)
    assert "示意数据（非官方）" in SYNTHETIC_LABEL
    plain = review_features(project, one_map(), plan)
    assert all("synthetic" not in x for r in plain for x in r["conflicts"] + r["zones"])


def test_ids_come_from_the_id_column_or_the_row_number(plan, project):
    res = review_features(project.drop(columns="id"), one_map(), plan)
    assert [r["id"] for r in res] == [1, 2, 3, 4]


def test_features_in_wgs84_are_reviewed_in_metres(plan, project):
    res_metric = review_features(project, one_map(), plan)
    res_wgs84 = review_features(project.to_crs("EPSG:4326"), one_map(), plan)
    a, b = by_layer(res_metric[0])["farmland"], by_layer(res_wgs84[0])["farmland"]
    assert b["overlap_m2"] == pytest.approx(a["overlap_m2"], rel=1e-6)  # the round trip moves vertices by ~1e-9 m


def test_overlap_areas_match_a_brute_force_reference(plan):
    """Random parcels against the hand-made map: every conflict area equals the per-pair Shapely
    intersection with the layer's (filtered) features, within a relative 1e-9 (1 mm² floor)."""
    m = one_map()
    parcels = shapely.transform(random_parcels(1500, seed=3, extent=8000.0), lambda c: c - 1000.0)
    feats = layer(parcels)
    res = review_features(feats, m, plan)
    checked = 0
    eco_control = m["two_lines_three_zones"][m["two_lines_three_zones"]["zone"] == "生态控制区"]
    for rec, geom in zip(res, parcels, strict=True):
        got = by_layer(rec)
        for lid, lay in (("farmland", m["farmland"]), ("two_lines_three_zones", eco_control), ("production_guide", None)):
            if lay is None:
                continue
            ref = brute_conflict(geom, lay)
            if ref > 0:
                checked += 1
                assert got[lid]["overlap_m2"] == pytest.approx(ref, rel=1e-9, abs=1e-6)
            else:
                assert lid not in got
        ref_out = geom.difference(shapely.union_all(m["urban_boundary"].geometry.values)).area
        if ref_out > 1e-9 * geom.area:
            checked += 1
            assert got["urban_boundary"]["overlap_m2"] == pytest.approx(ref_out, rel=1e-9, abs=1e-6)
    assert checked > 300


def test_postgis_gives_the_same_review(plan):
    """The same review on the PostGIS engine (a real local server) gives the same answer."""
    engine = engine_or_skip("postgis")
    feats = layer(random_parcels(800, seed=11, extent=6000.0))
    a = review_frame(feats, one_map(), plan, "geopandas")
    b = review_frame(feats, one_map(), plan, engine)
    for x, y in ((a.conflicts, b.conflicts), (a.zones, b.zones)):
        assert len(x) == len(y) > 0
        assert (x.drop(columns=[c for c in x.columns if c.startswith("overlap") or c == "share"])
                .equals(y.drop(columns=[c for c in y.columns if c.startswith("overlap") or c == "share"])))
        col = "overlap_m2"
        assert np.allclose(x[col], y[col], rtol=1e-9, atol=1e-6)


def test_dask_gives_the_same_review(plan):
    feats = layer(random_parcels(800, seed=12, extent=6000.0))
    a = review_frame(feats, one_map(), plan, "geopandas")
    b = review_frame(feats, one_map(), plan, "dask")
    assert a.conflicts.equals(b.conflicts) and a.zones.equals(b.zones)


def test_layers_not_loaded_are_reported_not_silently_passed(plan, project):
    m = one_map()
    del m["eco_redline"]
    r = review_frame(project, m, plan)
    assert "eco_redline" in r.missing_layers and "farmland" not in r.missing_layers


def test_the_review_reads_layers_from_the_store(plan, project, store):
    for type_id, gdf in one_map().items():
        store.write_layer(type_id, gdf, source="test", sha256="0" * 64, synthetic=type_id == "farmland", notes=[])
    res = review_features(project, store, plan)
    farm = by_layer(res[0])["farmland"]
    assert farm["synthetic"] is True and farm["overlap_m2"] == pytest.approx(40_000.0)
    assert "synthetic" not in by_layer(res[0])["two_lines_three_zones"]


@pytest.mark.parametrize(
    ("geoms", "crs", "message"),
    [
        ([box(X, Y, X + 10, Y + 10)], None, "no CRS"),
        ([box(X, Y, X + 10, Y + 10), None], "EPSG:4548", "feature 2: geometry is null"),
        ([shapely.Polygon()], "EPSG:4548", "feature 1: geometry is empty"),
        ([shapely.Point(X, Y)], "EPSG:4548", "feature 1: wrong geometry type Point"),
        ([box(39.9, 116.3, 39.91, 116.31)], "EPSG:4326", "the axes look swapped"),
        ([box(116.3, 39.9, 116.31, 39.91)], "EPSG:4548", "no feature lies in the plan area"),
    ],
)
def test_bad_features_are_refused_naming_the_feature(plan, geoms, crs, message):
    with pytest.raises(ReviewInputError, match=message):
        review_features(gpd.GeoDataFrame(geometry=geoms, crs=crs), one_map(), plan)


def test_an_invalid_polygon_is_repaired_and_reported(plan):
    bowtie = shapely.Polygon([(X, Y), (X + 200, Y + 200), (X + 200, Y), (X, Y + 200)])
    r = review_frame(layer([bowtie], id=["bow"]), one_map(), plan)
    assert r.repaired and "id=bow" in r.repaired[0] and "make_valid" in r.repaired[0]
    assert r.features["area_m2"].iloc[0] == pytest.approx(20_000.0)


def test_review_file_writes_a_parcel_layer_and_a_conflict_layer(plan, tmp_path, project):
    src = tmp_path / "parcels.geojson"
    project.to_crs("EPSG:4326").to_file(src, driver="GeoJSON")
    out = tmp_path / "result.gpkg"
    result = review_file(src, out, one_map(synthetic=True), plan, batch=2, progress=False)
    assert {name for name, _ in pyogrio.list_layers(out)} == {"parcels", "conflicts"}
    parcels = gpd.read_file(out, layer="parcels")
    assert list(parcels["id"]) == ["A", "B", "C", "D"]
    assert list(parcels["worst_severity"]) == ["forbidden", "forbidden", "restricted", ""]
    assert list(parcels["n_conflicts"]) == [2, 2, 2, 0]
    conflicts = gpd.read_file(out, layer="conflicts")
    assert len(conflicts) == len(result.conflicts) == 6
    assert set(conflicts["label"]) == {SYNTHETIC_LABEL}
    row = conflicts[(conflicts["id"] == "C") & (conflicts["layer"] == "urban_boundary")].iloc[0]
    assert row["overlap_m2"] == pytest.approx(20_000.0, rel=1e-6) and row["article"] == 65


def test_review_zones_dissolve_per_layer_and_per_zone_value(plan):
    rz = review_zones(one_map(), plan).zones
    conflicts = rz[rz["purpose"] == "conflict"]
    assert set(conflicts["layer"]) == {"farmland", "eco_redline", "urban_boundary", "two_lines_three_zones",
                                       "strategic_reserve", "green_belt"}
    assert (conflicts["layer"] == "farmland").sum() == 1
    zones = rz[rz["purpose"] == "zone"]
    assert list(zones.loc[zones["layer"] == "rings", "zone"]) == ["核心区", "中心城区"]  # the plan's order


# ------------------------------------------------------------------ the CLI


def _store_with_map(tmp_path, synthetic=True):
    from planwatch.store import open_store

    db = tmp_path / "s.gpkg"
    store = open_store(db)
    for type_id, gdf in one_map().items():
        store.write_layer(type_id, gdf, source="test", sha256="0" * 64, synthetic=synthetic, notes=[])
    return db


def test_cli_review_prints_json_per_feature(tmp_path, project):
    db = _store_with_map(tmp_path)
    src = tmp_path / "project.gpkg"
    project.to_file(src, layer="project")
    res = CliRunner().invoke(app, ["review", str(src), "--format", "json", "--db", str(db)])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["id"] for r in rows] == ["A", "B", "C", "D"]
    assert set(rows[0]) >= {"id", "conflicts", "zones"}
    c = rows[0]["conflicts"][0]
    assert c["layer"] == "farmland" and c["article"] == 65 and c["severity"] == "forbidden"
    assert c["synthetic"] is True and c["label"] == SYNTHETIC_LABEL


def test_cli_review_table_shows_articles_and_the_synthetic_label(tmp_path, project):
    db = _store_with_map(tmp_path)
    src = tmp_path / "project.geojson"
    project.to_crs("EPSG:4326").to_file(src, driver="GeoJSON")
    res = CliRunner().invoke(app, ["review", str(src), "--db", str(db)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "第65条" in res.stdout and "永久基本农田" in res.stdout and "示意数据" in res.stdout


def test_cli_review_batch_writes_the_result_gpkg(tmp_path, project):
    db = _store_with_map(tmp_path, synthetic=False)
    src = tmp_path / "parcels.gpkg"
    project.to_file(src)
    out = tmp_path / "result.gpkg"
    res = CliRunner().invoke(app, ["review", str(src), "--out", str(out), "--db", str(db), "--engine", "dask"])
    assert res.exit_code == 0, res.output
    assert "4 features reviewed, 3 with conflicts" in " ".join(res.stdout.split())
    assert len(gpd.read_file(out, layer="parcels")) == 4


def test_cli_review_refuses_bad_input_clearly(tmp_path, project):
    db = _store_with_map(tmp_path)
    src = tmp_path / "nocrs.geojson"
    src.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
                   '"geometry":{"type":"Point","coordinates":[116.4,39.9]}}]}')
    res = CliRunner().invoke(app, ["review", str(src), "--db", str(db)])
    assert res.exit_code == 1 and "Point" in res.output
    res = CliRunner().invoke(app, ["review", str(tmp_path / "missing.gpkg"), "--db", str(db)])
    assert res.exit_code == 1 and "not found" in res.output
    res = CliRunner().invoke(app, ["review", str(src), "--db", str(db), "--engine", "arcgis"])
    assert res.exit_code == 1 and "--engine must be one of" in res.output
    missing = tmp_path / "missing-store.gpkg"
    res = CliRunner().invoke(app, ["review", str(src), "--db", str(missing)])
    assert res.exit_code == 1 and "no planwatch store there" in " ".join(res.output.split()) and not missing.exists()
    empty = tmp_path / "empty.gpkg"
    from planwatch.store import open_store

    open_store(empty)
    res = CliRunner().invoke(app, ["review", str(src), "--db", str(empty)])
    assert res.exit_code == 1 and "holds no layers" in " ".join(res.output.split())


def test_a_demo_project_prints_its_conflicts_with_articles(tmp_path):
    """On the shipped demo one-map: a project on farmland and the red line gets forbidden conflicts
    with Art. 65, each labelled synthetic; the 圈层 (real, derived from districts) is not."""
    from planwatch.demo.onemap import load_demo_map
    from planwatch.plan import load_plan
    from planwatch.store import open_store

    plan = load_plan()
    db = tmp_path / "demo.gpkg"
    store = open_store(db)
    load_demo_map(store, plan)
    farm = store.read_layer("farmland").geometry.iloc[0].representative_point()
    red = store.read_layer("eco_redline").geometry.iloc[0].representative_point()
    project = layer([farm.buffer(150, cap_style="square"), red.buffer(150, cap_style="square")], id=["P-1", "P-2"])
    src = tmp_path / "project.geojson"
    project.to_crs("EPSG:4326").to_file(src, driver="GeoJSON")
    res = CliRunner().invoke(app, ["review", str(src), "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    c1, c2 = by_layer(rows[0]), by_layer(rows[1])
    assert c1["farmland"]["severity"] == "forbidden" and c1["farmland"]["article"] == 65
    assert c2["eco_redline"]["severity"] == "forbidden"
    assert c1["farmland"]["overlap_share"] == pytest.approx(1.0, abs=1e-6)  # 300 m squares deep inside a patch
    assert all(c["label"] == SYNTHETIC_LABEL for r in rows for c in r["conflicts"])
    rings = [z for r in rows for z in r["zones"] if z["layer"] == "rings"]
    assert rings and all("synthetic" not in z for z in rings)
