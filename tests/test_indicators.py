"""Spatial indicators as a check-up analyst gets them: computed from the map's layers with one
command, in the plan's units, matching a brute-force overlay and hand-computed values, stored as
observations with their method, and used by the evaluation like any other."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

import planwatch.cli.indicators  # noqa: F401  (registers the access and indicators verbs)
from planwatch.cli.main import app
from planwatch.indicators.compute import (
    IndicatorInputError,
    compute_indicators,
    land_statistics,
    observation_rows,
    overlay_areas,
    station_coverage_table,
    store_indicators,
    subdivide,
)
from planwatch.plan.indicators import (
    KIND_UNITS,
    IndicatorSpec,
    IndicatorSpecs,
    check_specs,
    load_indicator_specs,
)
from planwatch.store import open_store

CRS = "EPSG:4548"
runner = CliRunner()


def said(res) -> str:
    return " ".join(res.output.split())


def frame(geoms, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(dict(columns), geometry=list(geoms), crs=CRS)


@pytest.fixture
def tiny():
    """Two 1 km² districts side by side; every answer below is worked out by hand."""
    box = shapely.box
    return {
        "districts": frame([box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)], district=["东城区", "西城区"]),
        "rings": frame([box(0, 0, 1000, 1000), box(0, 0, 2000, 1000)], ring=["核心区", "中心城区"]),
        "plain_area": frame([box(0, 0, 1500, 1000)], name=["平原地区"]),
        # 0.5 km² in 东城; 0.2 km² across the border (0.1 each side)
        "construction_land": frame([box(0, 0, 500, 1000), box(900, 0, 1100, 1000)], kind=["城镇建设用地"] * 2),
        "two_lines_three_zones": frame([box(0, 0, 1500, 1000), box(1500, 0, 2000, 1000)], zone=["集中建设区", "生态控制区"]),
        "land_use": frame(
            [box(0, 0, 600, 1000), box(600, 0, 1000, 1000), box(1000, 0, 1200, 1000), box(1200, 0, 1500, 1000), box(1500, 0, 2000, 1000)],
            use=["居住用地", "工矿用地", "商业服务业用地", "绿地与开敞空间用地", "耕地"],
        ),
        # blocks of 0.01, 0.01, 0.02 and 0.04 km²; centres (150,150) (150,450) (200,850) (1200,200)
        "residential": frame([box(100, 100, 200, 200), box(100, 400, 200, 500), box(100, 800, 300, 900), box(1100, 100, 1300, 300)],
                             id=["R1", "R2", "R3", "R4"]),
        "parks": frame([box(0, 0, 100, 100)], id=["P1"]),
        "community_services": frame([shapely.Point(1200, 600)], id=["S1"]),
    }


@pytest.fixture(scope="module")
def specs(plan):
    return load_indicator_specs(plan.meta.id)


def values(run, level="全市"):
    r = run.results
    return dict(zip(r.loc[r["level"] == level, "indicator"], r.loc[r["level"] == level, "value"], strict=True))


# ------------------------------------------------------------------ the plan package


def test_the_package_marks_the_spatial_indicators_computable_in_the_targets_units(plan, specs):
    ids = [s.target for s in specs.indicators]
    assert {"T21", "T34", "T14", "T10", "T09", "A24.3", "T11"} <= set(ids)
    units = {t.id: t.unit for t in plan.targets}
    for s in specs.indicators:
        assert units[s.target] in KIND_UNITS[s.kind], s.target
    assert units["T21"] == "%" and units["T09"] == "平方公里" and units["T11"] == ""
    t34 = specs.spec("T34")
    assert t34.distance_m(specs.walking) == pytest.approx(1000)  # 15 min × 4 km/h


def test_a_spec_whose_kind_does_not_give_the_targets_unit_is_refused(plan, specs):
    bad = IndicatorSpecs(indicators=[IndicatorSpec(target="T21", kind="area_total", layer="parks"),
                                     IndicatorSpec(target="T99", kind="area_total", layer="parks"),
                                     IndicatorSpec(target="T09", kind="area_total", layer="nowhere")])
    problems = " | ".join(check_specs(bad, plan))
    assert "T21" in problems and "'%'" in problems and "平方公里" in problems
    assert "T99: no such target" in problems and "unknown layer type 'nowhere'" in problems
    with pytest.raises(ValueError, match="within_m, within_minutes"):
        IndicatorSpec(target="T21", kind="coverage", origins="residential", destinations="parks")


def test_every_land_use_class_of_the_demo_is_in_the_mapping_table(specs):
    from planwatch.demo.indicator_layers import LAND_USE_MIX

    assert {c for c, _, _ in LAND_USE_MIX} <= {c.name for c in specs.land_use.classes}


# ------------------------------------------------------------------ hand-computed values


def test_indicators_on_a_tiny_map_equal_the_hand_computed_values(tiny, plan, specs):
    run = compute_indicators(tiny, plan, specs=specs)
    v = values(run)
    assert v["T09"] == pytest.approx(0.7)  # km²
    assert v["A24.3"] == pytest.approx(0.7)  # all of it lies in 中心城区
    assert v["T10"] == pytest.approx(100 * 0.7 / 1.5)  # the plain is x < 1500
    assert v["T14"] == pytest.approx(25.0)  # 0.5 of 2 km²
    assert v["T11"] == pytest.approx(0.6 / (0.4 + 0.2))  # 住 / 职 = 1.0
    assert v["A62.3"] == pytest.approx(100 * 0.6 / 1.5)  # 耕地 is not construction land
    assert v["A61.1"] == pytest.approx(100 * 0.6 / 1.5)
    assert v["T21"] == pytest.approx(25.0)  # R1 (70.7 m) and R2 (354 m) of 0.08 km²: 0.02
    assert v["T34"] == pytest.approx(50.0)  # only R4 (400 m) of the 1 km circle: 0.04
    d = values(run, "区")
    r = run.results
    assert r[(r.indicator == "T14") & (r.geo == "西城区")]["value"].item() == pytest.approx(50.0)
    assert r[(r.indicator == "T09") & (r.geo == "东城区")]["value"].item() == pytest.approx(0.6)
    assert r[(r.indicator == "T21") & (r.geo == "东城区")]["value"].item() == pytest.approx(50.0)
    assert d  # district rows exist
    ring = r[(r.level == "圈层") & (r.indicator == "T09")].set_index("geo")["value"]
    assert ring["核心区"] == pytest.approx(0.6) and ring["中心城区"] == pytest.approx(0.7)
    for row in r.itertuples():
        assert row.unit == {t.id: t.unit for t in plan.targets}[row.indicator]
    assert run.skipped == {} and run.warnings == []


def test_without_a_plain_area_layer_the_plain_is_the_plain_rings(tiny, plan, specs):
    del tiny["plain_area"]
    tiny["rings"] = frame([shapely.box(0, 0, 1000, 1000), shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000),
                           shapely.box(0, 0, 0.5, 0.5)], ring=["核心区", "中心城区", "平原新城", "城市副中心"])
    run = compute_indicators(tiny, plan, specs=specs, targets=["T10"])
    assert values(run)["T10"] == pytest.approx(100 * 0.7 / 2.0, rel=1e-6)
    assert "圈层 中心城区 + 城市副中心 + 平原新城" in run.results["method"].iloc[0]


def test_network_coverage_runs_over_the_road_layer_and_says_so(tiny, plan, specs):
    xs = np.arange(0, 2001, 100)
    ys = np.arange(0, 1001, 100)
    tiny["road_network"] = frame([shapely.LineString([(x, 0), (x, 1000)]) for x in xs] + [shapely.LineString([(0, y), (2000, y)]) for y in ys])
    e = compute_indicators(tiny, plan, specs=specs, targets=["T21", "T34"])
    n = compute_indicators(tiny, plan, specs=specs, targets=["T21", "T34"], method="network")
    assert values(n)["T21"] <= values(e)["T21"] and values(n)["T34"] <= values(e)["T34"]
    assert values(n)["T34"] == pytest.approx(50.0)  # R4: 400 m straight down x = 1200 plus nothing to snap
    assert "walking network" in n.results["method"].iloc[0] and "road_network@" in n.results["method"].iloc[0]
    assert "straight-line" in e.results["method"].iloc[0]


def test_a_missing_layer_skips_its_indicator_with_the_import_command(tiny, plan, specs):
    del tiny["community_services"]
    run = compute_indicators(tiny, plan, specs=specs)
    assert "T34" in run.skipped and "planwatch layers import FILE --as community_services" in run.skipped["T34"]
    assert "T34" not in set(run.results["indicator"]) and "T21" in set(run.results["indicator"])


def test_a_land_use_class_missing_from_the_mapping_table_is_an_error(tiny, plan, specs):
    tiny["land_use"].loc[4, "use"] = "神秘用地"
    with pytest.raises(IndicatorInputError, match="神秘用地.*feature 5"):
        compute_indicators(tiny, plan, specs=specs, targets=["T11"])


def test_network_indicators_without_roads_are_skipped_and_unknown_targets_refused(tiny, plan, specs):
    run = compute_indicators(tiny, plan, specs=specs, targets=["T21"], method="network")
    assert "road_network" in run.skipped["T21"]
    with pytest.raises(IndicatorInputError, match="not computable: T05"):
        compute_indicators(tiny, plan, specs=specs, targets=["T05"])


# ------------------------------------------------------------------ land statistics vs the brute-force overlay


def brute_force(features, zones, zone_col, by=None) -> pd.Series:
    o = gpd.overlay(features, zones[[zone_col, "geometry"]], how="intersection", keep_geom_type=True)
    keys = [zone_col] + ([by] if by else [])
    return (o.geometry.area / 1e6).groupby([o[k].astype(str) for k in keys]).sum()


@pytest.fixture(scope="module")
def demo(plan):
    from planwatch.demo.onemap import build_demo_layers

    return build_demo_layers(plan)


def test_overlay_areas_match_geopandas_overlay_on_the_demo_map(demo):
    cl = demo["construction_land"].iloc[::3]  # every third square: enough to cross every boundary
    for zones, col in ((demo["districts"], "district"), (demo["rings"], "ring"), (demo["two_lines_three_zones"], "zone")):
        ours = overlay_areas(cl, zones, col).set_index(col)["area_km2"]
        ref = brute_force(cl, zones, col)
        assert ours.sort_index().to_numpy() == pytest.approx(ref.sort_index().to_numpy(), rel=1e-9, abs=1e-9)
    lu = demo["land_use"].iloc[::7]
    ours = overlay_areas(lu, demo["districts"], "district", by="use").set_index(["district", "use"])["area_km2"].sort_index()
    ref = brute_force(lu, demo["districts"], "district", by="use").sort_index()
    assert list(ours.index) == list(ref.index)
    assert ours.to_numpy() == pytest.approx(ref.to_numpy(), rel=1e-9, abs=1e-9)


def test_overlay_areas_match_geopandas_overlay_on_random_overlapping_shapes():
    rng = np.random.default_rng(7)
    feats = frame([shapely.Point(x, y).buffer(r, quad_segs=6) for x, y, r in rng.uniform([0, 0, 20], [2000, 2000, 300], (150, 3))],
                  kind=rng.choice(["a", "b", "c"], 150))
    blob = shapely.Point(1000, 1000).buffer(900, quad_segs=200)  # hundreds of vertices: subdivided
    zones = frame([blob, shapely.box(0, 0, 700, 2000), shapely.box(1200, 300, 2000, 900)], zone=["x", "y", "y"])
    ours = overlay_areas(feats, zones, "zone", by="kind").set_index(["zone", "kind"])["area_km2"].sort_index()
    ref = brute_force(feats, zones, "zone", by="kind").sort_index()
    assert ours.to_numpy() == pytest.approx(ref.to_numpy(), rel=1e-9)


def test_subdivided_zones_partition_the_zone():
    blob = shapely.Point(0, 0).buffer(1000, quad_segs=300).difference(shapely.Point(200, 0).buffer(300, quad_segs=100))
    pieces, owner = subdivide(np.array([blob, shapely.box(0, 0, 1, 1)], dtype=object), max_vertices=64)
    assert len(pieces) > 10 and (shapely.get_num_coordinates(pieces) <= 64).all()
    assert shapely.area(pieces[owner == 0]).sum() == pytest.approx(blob.area, rel=1e-12)
    assert (owner == 1).sum() == 1


def test_land_statistics_by_district_ring_class_and_zone(tiny, plan, specs):
    stats = land_statistics(tiny, plan, specs)
    cl = stats[stats.layer == "construction_land"].set_index(["level", "geo"])["area_km2"]
    assert cl[("全市", "全市")] == pytest.approx(0.7) and cl[("区", "西城区")] == pytest.approx(0.1)
    assert cl[("两线三区", "集中建设区")] == pytest.approx(0.7) and cl[("圈层", "核心区")] == pytest.approx(0.6)
    lu = stats[(stats.layer == "land_use") & (stats.level == "全市")].set_index("class")["area_km2"]
    assert lu["居住用地"] == pytest.approx(0.6) and lu["耕地"] == pytest.approx(0.5)
    zone = stats[(stats.layer == "land_use") & (stats.level == "两线三区")].set_index(["geo", "class"])["area_km2"]
    assert zone[("生态控制区", "耕地")] == pytest.approx(0.5)


def test_land_statistics_of_the_demo_match_the_overlay(demo, plan, specs):
    layers = {k: demo[k] for k in ("districts", "rings", "two_lines_three_zones", "construction_land")}
    stats = land_statistics(layers, plan, specs)
    by_zone = stats[(stats.layer == "construction_land") & (stats.level == "两线三区")].set_index("geo")["area_km2"].sort_index()
    ref = brute_force(demo["construction_land"], demo["two_lines_three_zones"], "zone").sort_index()
    assert by_zone.to_numpy() == pytest.approx(ref.to_numpy(), rel=1e-9)
    city = stats[(stats.layer == "construction_land") & (stats.level == "全市")]["area_km2"].item()
    assert city == pytest.approx(demo["construction_land"].area.sum() / 1e6, rel=1e-6)  # every square lies in Beijing


# ------------------------------------------------------------------ observations and the evaluation


def test_results_become_observations_that_the_evaluation_uses_with_their_method(tiny, plan, specs, store):
    from planwatch.evaluate.engine import checkup

    for gdf in tiny.values():
        gdf.attrs["layer"] = {"synthetic": True}
    run = compute_indicators(tiny, plan, specs=specs)
    rows = observation_rows(run, plan, 2023, specs)
    assert set(rows["geo"]) == {"", "东城区", "西城区"}  # 圈层 values are not observations
    assert set(rows.loc[rows["geo"] != "", "indicator"]) == {s.target for s in specs.indicators if s.store_districts}
    t21 = rows[(rows.indicator == "T21") & (rows.geo == "")].iloc[0]
    assert t21["unit"] == "%" and t21["value"] == pytest.approx(25.0)
    assert "straight-line" in t21["method"] and "residential@" in t21["method"] and "planwatch 0.1.0" in t21["method"]
    assert "示意数据（非官方）" in t21["note"] and "直线距离" in t21["note"]
    assert t21["source"].startswith("planwatch indicators compute")
    assert t21["origin"] == "computed" and t21["synthetic"]
    summary = store_indicators(store, plan, run, 2023)
    assert summary.added == len(rows)
    again = store_indicators(store, plan, run, 2023)
    assert again.unchanged == len(rows) and again.added == 0
    assert checkup(plan, store.observations(), 2023).empty  # computed from synthetic layers: never graded
    # the same layers as official data: the computed values are graded
    for gdf in tiny.values():
        gdf.attrs["layer"] = {"synthetic": False}
    real = compute_indicators(tiny, plan, specs=specs)
    store_indicators(store, plan, real, 2023)
    obs = store.observations()
    ev = checkup(plan, obs, 2023).set_index(["id", "geo"])
    assert ("T21", "") in ev.index and ev.loc[("T21", ""), "value"] == pytest.approx(25.0)
    assert ev.loc[("T21", ""), "level"] == "red"  # 25 % against 86.8 % in 2020 and 90 % by 2025
    assert ("T21", "东城区") in ev.index  # district rates are evaluated against the city target's bounds


# ------------------------------------------------------------------ rail-station coverage on the real data


def test_station_coverage_on_the_real_districts_and_stations(plan):
    t = station_coverage_table(None, plan, radius_m=800)
    assert list(t["district"]) == [*plan.meta.districts, "全市"]
    s = t.set_index("district")
    assert s.loc["全市", "area_km2"] == pytest.approx(16_407.8, rel=0.0005)  # EPSG:4548, within 0.03 % of the geodesic area
    assert 75 < s.loc["东城区", "share"] < 95 and 75 < s.loc["西城区", "share"] < 95
    for d in ("怀柔区", "平谷区", "密云区", "延庆区"):  # no subway station in these districts
        assert s.loc[d, "share"] == 0 and s.loc[d, "stations"] == 0
    assert (s["covered_km2"] <= s["area_km2"]).all()
    assert s["share"].to_numpy() == pytest.approx(100 * s["covered_km2"] / s["area_km2"])
    assert s.loc["全市", "covered_km2"] == pytest.approx(s["covered_km2"].iloc[:-1].sum())
    assert "800 m" in t.attrs["method"] and t.attrs["synthetic"] is False


# ------------------------------------------------------------------ the verbs, on the demo one-map


@pytest.fixture(scope="module")
def demo_db(plan, tmp_path_factory):
    from planwatch.demo.onemap import load_demo_map

    db = tmp_path_factory.mktemp("ind") / "demo.gpkg"
    load_demo_map(open_store(db), plan)
    return db


def test_cli_indicators_compute_prints_by_city_district_and_ring_and_stores(demo_db):
    res = runner.invoke(app, ["indicators", "compute", "--year", "2023", "--db", str(demo_db), "--format", "json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    results = pd.DataFrame(body["results"])
    assert set(results["level"]) == {"全市", "区", "圈层"}
    city = results[results.level == "全市"].set_index("indicator")
    assert city.loc["A24.3", "value"] == pytest.approx(880.0, abs=1e-6)  # the demo's designed central-city total (R07)
    assert 2000 < city.loc["T09", "value"] < 3200 and 0 < city.loc["T14", "value"] < 100
    assert city["synthetic"].all() and body["skipped"] == {}
    assert body["stored"] is None and open_store(demo_db).observations().empty  # nothing stored unless asked
    res = runner.invoke(app, ["indicators", "compute", "--year", "2023", "--db", str(demo_db), "--format", "json", "--store"])
    assert json.loads(res.stdout)["stored"]["added"] > 0
    obs = open_store(demo_db).observations()
    mine = obs[obs["source"].str.startswith("planwatch indicators compute")]
    assert set(mine["indicator"]) == set(city.index) and (mine["year"] == 2023).all()
    assert mine["note"].str.contains("示意数据（非官方）", regex=False).all() and mine["synthetic"].all()
    res = runner.invoke(app, ["indicators", "compute", "--year", "2023", "--db", str(demo_db), "--method", "network", "--only", "T21,T34",
                              "--store"])
    assert res.exit_code == 0, res.output
    assert "walking network" in said(res) and "stored as observations of 2023" in said(res)
    t21 = open_store(demo_db).history("T21", 2023, "")
    assert len(t21) == 2 and "路网距离" in t21["source"].iloc[-1] and "直线距离" in t21["source"].iloc[0]


def test_cli_indicators_land_and_access_stations(demo_db):
    res = runner.invoke(app, ["indicators", "land", "--db", str(demo_db), "--format", "json"])
    assert res.exit_code == 0, res.output
    stats = pd.DataFrame(json.loads(res.stdout))
    assert {"construction_land", "land_use"} <= set(stats["layer"]) and "两线三区" in set(stats["level"])
    res = runner.invoke(app, ["access", "stations", "--db", str(demo_db), "--within", "800m"])
    assert res.exit_code == 0, res.output
    assert "东城区" in res.output and "OpenStreetMap" in said(res)
    res = runner.invoke(app, ["access", "stations", "--shipped", "--format", "json", "--db", str(demo_db)])
    rows = json.loads(res.stdout)["rows"]
    assert len(rows) == 17 and rows[-1]["district"] == "全市"


def test_cli_import_osm_stores_the_roads_layer(tmp_path, plan):
    pytest.importorskip("osmium")
    from tests.test_access_network import OSM_XML

    path = tmp_path / "beijing.osm"
    path.write_text(OSM_XML, encoding="utf-8")
    db = tmp_path / "osm.gpkg"
    res = runner.invoke(app, ["access", "import-osm", str(path), "--db", str(db)])
    assert res.exit_code == 0, res.output
    roads = open_store(db).read_layer("road_network")
    assert len(roads) == 3 and roads.attrs["layer"]["synthetic"] is False
    assert any("OpenStreetMap" in n for n in roads.attrs["layer"]["notes"])
