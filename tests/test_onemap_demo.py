"""The shipped real layers, the 圈层 derived from them, and the synthetic demo one-map: complete,
deterministic, labelled synthetic, and drawn so the plan's rules give a known mix of results."""

from __future__ import annotations

import json
import sqlite3

import pyogrio
import pytest
import shapely
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.demo.onemap import (
    BASE_LAYER_TYPES,
    DEMO_LAYER_TYPES,
    RULE_DESIGN,
    build_demo_layers,
    load_demo_map,
)
from planwatch.onemap.rings import RINGS, SUB_CENTER_KM2
from planwatch.plan import load_plan
from planwatch.store import SYNTHETIC_LABEL, layer_content_hash, open_store

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(plan):
    return build_demo_layers(plan)


@pytest.fixture(scope="module")
def demo_store(plan, tmp_path_factory):
    db = tmp_path_factory.mktemp("demo") / "demo.gpkg"
    store = open_store(db)
    rows = load_demo_map(store, plan)
    return store, db, rows


def union(layer):
    return shapely.union_all(layer.geometry.values)


def test_the_demo_has_every_layer_type_of_the_plan_in_the_metric_crs(demo, plan):
    assert set(demo) == {lt.id for lt in plan.spatial.layer_types}
    assert set(demo) == set(DEMO_LAYER_TYPES) | set(BASE_LAYER_TYPES)
    for name, layer in demo.items():
        assert len(layer) > 0, name
        assert layer.crs.to_epsg() == 4548, name
        assert layer.is_valid.all() and not layer.is_empty.any(), name


def test_the_demo_is_deterministic(demo, plan):
    again = build_demo_layers(plan)
    for name in demo:
        assert layer_content_hash(demo[name]) == layer_content_hash(again[name]), name
    other = build_demo_layers(plan, seed=7)
    assert layer_content_hash(other["farmland"]) != layer_content_hash(demo["farmland"])


def test_the_rings_follow_the_districts(demo):
    rings = demo["rings"].set_index("ring")
    assert list(rings.index) == RINGS
    g = rings.geometry
    districts = union(demo["districts"])
    partition = [g["中心城区"], g["城市副中心"], g["平原新城"], g["生态涵养区"]]
    assert abs(sum(p.area for p in partition) - districts.area) / districts.area < 1e-9
    assert shapely.union_all(partition).symmetric_difference(districts).area < 1.0  # m²
    assert g["核心区"].difference(g["中心城区"]).area < 1.0  # the core area lies in the central city
    assert abs(g["城市副中心"].area / 1e6 - SUB_CENTER_KM2) < 0.01
    d = demo["districts"].set_index("district").geometry
    assert abs(g["核心区"].area - (d["东城区"].area + d["西城区"].area)) < 1.0
    tongzhou = d["通州区"]
    assert g["城市副中心"].difference(tongzhou).area < 1.0
    for name in ("昌平区", "房山区"):  # split between the plain and the mountains, about 2/3 mountain
        mountain = shapely.intersection(d[name], g["生态涵养区"]).area / d[name].area
        assert 0.5 < mountain < 0.75, name
    for name in ("门头沟区", "平谷区", "怀柔区", "密云区", "延庆区"):
        assert shapely.intersection(d[name], g["生态涵养区"]).area / d[name].area > 0.999, name


def test_district_areas_in_the_metric_crs_match_the_published_ones(demo_store):
    store, _, _ = demo_store
    districts = store.read_layer("districts")
    assert districts.crs.to_epsg() == 4548
    for r in districts.itertuples():
        assert abs(r.geometry.area / 1e6 - r.area_km2) / r.area_km2 < 0.01, r.district


def test_the_demo_is_loaded_whole_and_labelled_synthetic_everywhere(demo_store, plan):
    store, db, rows = demo_store
    reg = store.layers().set_index("layer_type")
    assert set(reg.index) == {lt.id for lt in plan.spatial.layer_types}
    for name in DEMO_LAYER_TYPES:
        assert bool(reg.loc[name, "synthetic"]), name
        assert SYNTHETIC_LABEL in reg.loc[name, "description"] and any(SYNTHETIC_LABEL in n for n in reg.loc[name, "notes"])
        assert store.read_layer(name).attrs["layer"]["synthetic"] is True
    for name in BASE_LAYER_TYPES:
        assert not bool(reg.loc[name, "synthetic"]), name
    assert any("OpenStreetMap contributors" in n for n in reg.loc["rail_stations", "notes"])
    assert any("城市副中心 approximated" in n for n in reg.loc["rings", "notes"])
    with sqlite3.connect(db) as con:
        contents = dict(con.execute("SELECT table_name, description FROM gpkg_contents"))
        idents = dict(con.execute("SELECT table_name, identifier FROM gpkg_contents"))
    for name in DEMO_LAYER_TYPES:
        table = reg.loc[name, "table_name"]
        assert SYNTHETIC_LABEL in contents[table] and SYNTHETIC_LABEL in idents[table]
    listed = [n for n, _ in pyogrio.list_layers(db)]
    assert all(reg.loc[name, "table_name"] == f"ly_{name}" and f"ly_{name}" in listed for name in reg.index)
    assert {r["layer_type"] for r in rows} == set(reg.index)


def test_the_control_lines_keep_apart_as_drawn(demo):
    ub, red, farm = union(demo["urban_boundary"]), union(demo["eco_redline"]), union(demo["farmland"])
    assert shapely.intersection(ub, red).area == 0 and shapely.intersection(ub, farm).area == 0
    assert shapely.intersection(red, farm).area == 0
    assert red.difference(union(demo["eco_protect"])).area < 1e3  # the red line lies in the protected area
    zones = demo["two_lines_three_zones"]
    assert set(zones["zone"]) == {"生态控制区", "集中建设区", "限制建设区"}
    parts = [union(zones[zones["zone"] == z]) for z in ("生态控制区", "集中建设区", "限制建设区")]
    for i in range(3):
        for j in range(i + 1, 3):
            assert shapely.intersection(parts[i], parts[j]).area < 1e4  # m²: a partition, up to simplification
    assert abs(sum(p.area for p in parts) / union(demo["districts"]).area - 1) < 0.01


def test_the_demo_records_give_the_designed_rule_results(demo):
    """R01–R07 computed here with plain shapely: the demo's records are placed wholly inside or wholly
    outside each zone, so area shares and counts are exact."""
    rings = demo["rings"].set_index("ring").geometry
    cc, plain = rings["中心城区"], shapely.union_all([rings["城市副中心"], rings["平原新城"]])
    production, remediate = union(demo["production_guide"]), union(demo["eco_remediate"])
    supply, reduction = demo["land_supply"], demo["reduction"]
    assert set(supply["year"]) == {2021, 2022, 2023} and set(supply["use"]) <= {"工业", "居住", "商业", "公共服务", "交通", "其他"}
    for year in (2021, 2022, 2023):
        ind = supply[(supply["use"] == "工业") & (supply["year"] == year)]
        n_in, n_all = RULE_DESIGN["R01"][year]
        assert len(ind) == n_all
        assert ind.intersection(production).area.sum() / ind.area.sum() == pytest.approx(n_in / n_all, abs=1e-9)
        for rule, region in (("R02", cc), ("R03", plain)):
            rec = reduction[(reduction["year"] == year) & reduction.intersects(region)]
            assert rec.within(region).all()
            n_in, n_all = RULE_DESIGN[rule][year]
            assert len(rec) == n_all
            assert rec.intersection(remediate).area.sum() / rec.area.sum() == pytest.approx(n_in / n_all, abs=1e-9)
        this_year = supply[supply["year"] == year]
        for rule, zone in (("R04", "strategic_reserve"), ("R05", "eco_redline"), ("R06", "farmland")):
            hits = this_year[this_year.intersects(union(demo[zone]))]
            assert len(hits) == RULE_DESIGN[rule].get(year, 0), (rule, year)
            assert (hits.intersection(union(demo[zone])).area / hits.area).round(9).eq(1).all()  # wholly inside
    cl = demo["construction_land"]
    assert cl.intersection(cc).area.sum() / 1e6 == pytest.approx(RULE_DESIGN["R07"], abs=1e-6)
    assert 2000 < cl.area.sum() / 1e6 < 3200  # the city's construction land, km² (plan: 2,790 by 2025)


def test_the_demo_zones_stay_light_enough_for_batch_review(demo):
    for name in DEMO_LAYER_TYPES:
        vertices = shapely.get_num_coordinates(demo[name].geometry.values)
        assert vertices.max() < 5_000, name


@pytest.mark.gpkg_only  # the tables of the GeoPackage file
def test_loading_the_demo_again_replaces_every_layer(plan, tmp_path):
    db = tmp_path / "twice.gpkg"
    store = open_store(db)
    load_demo_map(store, plan)
    load_demo_map(store, plan)
    reg = store.layers()
    assert (reg["version"] == 2).all()
    tables = [n for n, _ in pyogrio.list_layers(db) if n.startswith("ly_")]
    # the stable names (views) and, behind each, its current version's table: nothing else
    assert sorted(tables) == sorted([*reg["table_name"], *(f"{t}_v2" for t in reg["table_name"])])
    with sqlite3.connect(db) as con:
        styles = con.execute("SELECT f_table_name FROM layer_styles WHERE useAsDefault").fetchall()
    assert sorted(t for (t,) in styles) == sorted(reg["table_name"])  # one default style per layer


def test_cli_layers_demo(tmp_path):
    db = tmp_path / "cli.gpkg"
    res = runner.invoke(app, ["layers", "demo", "--db", str(db)])
    assert res.exit_code == 0, res.output
    n_types = len(load_plan().spatial.layer_types)
    assert f"{n_types} layers" in res.output and "farmland: " in res.output and SYNTHETIC_LABEL in " ".join(res.output.split())
    res = runner.invoke(app, ["layers", "list", "--db", str(db), "--format", "json"])
    listed = json.loads(res.stdout)
    assert len(listed["layers"]) == n_types and listed["missing"] == []
    assert [r["layer_type"] for r in listed["layers"]][:2] == ["farmland", "eco_redline"]  # the plan's order
    assert sum(r["synthetic"] for r in listed["layers"]) == len(DEMO_LAYER_TYPES)
    res = runner.invoke(app, ["layers", "list", "--db", str(db)])
    assert res.exit_code == 0 and "示意" in res.output
