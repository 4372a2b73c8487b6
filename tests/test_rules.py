"""The plan's spatial rules (rules.yaml), each with inputs that pass and inputs that fail.

The thresholds are read from the plan package, never repeated here: the inputs are built at a
given distance from each rule's threshold.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.onemap.rules import check_rules, compare, evaluate_rule, evaluate_rules

X, Y = 450_000.0, 4_420_000.0  # EPSG:4548: central Beijing
YEAR = 2024


def layer(geoms, **cols) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs="EPSG:4548")


def rule(plan, rule_id):
    return next(r for r in plan.spatial.rules if r.id == rule_id)


def straddling(x_edge: float, y: float, share: float, size: float = 100.0):
    """A size × size parcel with ``share`` of its area west of x = x_edge."""
    return box(x_edge - share * size, y, x_edge + (1 - share) * size, y + size)


ZONE = box(X, Y, X + 1000, Y + 5000)  # any zone layer: x < X + 1000 is inside
EDGE = X + 1000


def rings():
    """A partition: 核心区 apart from the rest of 中心城区, then the plain rings and the mountains."""
    return layer(
        [box(X - 5000, Y - 5000, X + 500, Y + 5000), box(X + 500, Y - 5000, X + 3000, Y + 5000),
         box(X + 3000, Y - 5000, X + 6000, Y + 5000), box(X + 6000, Y - 5000, X + 9000, Y + 5000),
         box(X + 9000, Y - 5000, X + 12000, Y + 5000)],
        ring=["核心区", "中心城区", "城市副中心", "平原新城", "生态涵养区"],
    )


# ------------------------------------------------------------------ R01: Art. 56, share of new industrial land


def r01_layers(share: float) -> dict:
    supply = layer(
        [straddling(EDGE, Y, share), straddling(EDGE, Y + 200, share),
         straddling(EDGE, Y + 400, 0.0),  # residential, outside: not counted (where: use = 工业)
         straddling(EDGE, Y + 600, 0.0)],  # industrial of the year before: not counted
        use=["工业", "工业", "居住", "工业"], year=[YEAR, YEAR, YEAR, YEAR - 1],
    )
    return {"land_supply": supply, "production_guide": layer([ZONE])}


def test_r01_industrial_land_inside_the_production_zones_passes_above_the_threshold(plan):
    r = rule(plan, "R01")
    res = evaluate_rule(r, r01_layers((r.threshold + 10) / 100), YEAR)
    assert res["passed"] is True and res["status"] == "pass"
    assert res["value"] == pytest.approx(r.threshold + 10, rel=1e-9)
    assert res["records"] == 2 and res["article"] == 56 and res["unit"] == "%"


def test_r01_fails_below_the_threshold(plan):
    r = rule(plan, "R01")
    res = evaluate_rule(r, r01_layers((r.threshold - 20) / 100), YEAR)
    assert res["passed"] is False and res["status"] == "fail"
    assert res["value"] == pytest.approx(r.threshold - 20, rel=1e-9)


def test_r01_with_no_industrial_supply_that_year_has_no_value(plan):
    res = evaluate_rule(rule(plan, "R01"), r01_layers(0.9), YEAR + 5)
    assert res["passed"] is None and math.isnan(res["value"]) and res["status"].startswith("no data")


# ------------------------------------------------------------------ R02: Art. 68, central-city reduction ≈ 90 %


def r02_layers(share: float) -> dict:
    """Share of 中心城区 reduction land in the zone: (2 × share + 1) / 3."""
    remediate = layer([box(X - 4000, Y - 4000, X + 2000, Y + 1000)])  # x < X + 2000, y < Y + 1000 is inside
    reduction = layer(
        [straddling(X + 2000, Y, share),  # in 中心城区 (outside the core)
         straddling(X + 2000, Y + 200, share),
         box(X - 1000, Y - 2000, X - 900, Y - 1900),  # in 核心区, inside the zone: counted (核心区 ⊂ 中心城区)
         box(X + 7000, Y + 2000, X + 7100, Y + 2100)],  # in 平原新城: not this rule's
        year=[YEAR] * 4,
    )
    return {"reduction": reduction, "eco_remediate": remediate, "rings": rings()}


def r02_share_for(value: float) -> float:
    return (3 * value / 100 - 1) / 2


def test_r02_central_city_reduction_near_the_target_passes_and_counts_the_core_area(plan):
    r = rule(plan, "R02")
    assert r.comparator == "≈" and r.within == ["中心城区"]
    res = evaluate_rule(r, r02_layers(r02_share_for(r.threshold)), YEAR)
    assert res["records"] == 3  # the 平原新城 parcel is not counted
    assert res["details"]["records_area_m2"] == pytest.approx(30_000.0)
    assert res["value"] == pytest.approx(r.threshold, rel=1e-9)
    assert res["passed"] is True


@pytest.mark.parametrize("off", [-1.5, 1.5])
def test_r02_fails_when_off_the_target_either_way(plan, off):
    r = rule(plan, "R02")
    want = r.threshold + off * r.tolerance  # outside ±tolerance
    res = evaluate_rule(r, r02_layers(r02_share_for(want)), YEAR)
    assert res["passed"] is False and res["value"] == pytest.approx(want, rel=1e-9)


def test_r02_clips_records_to_the_ring(plan):
    """A reduction parcel half in 中心城区 and half in 城市副中心 counts with its half inside only."""
    r = rule(plan, "R02")
    remediate = layer([box(X, Y, X + 10000, Y + 1000)])
    reduction = layer([box(X + 2950, Y, X + 3050, Y + 100)], year=[YEAR])  # across x = X + 3000
    res = evaluate_rule(r, {"reduction": reduction, "eco_remediate": remediate, "rings": rings()}, YEAR)
    assert res["details"]["records_area_m2"] == pytest.approx(5_000.0)
    assert res["value"] == pytest.approx(100.0)


# ------------------------------------------------------------------ R03: Art. 68, plain-area reduction ≥ 65 %


def r03_layers(share: float) -> dict:
    remediate = layer([box(X + 3000, Y - 4000, X + 8000, Y + 4000)])  # x < X + 8000 inside
    reduction = layer(
        [straddling(X + 8000, Y, share), straddling(X + 8000, Y + 300, share),  # 平原新城
         box(X + 1000, Y, X + 1100, Y + 100)],  # 中心城区, outside: not this rule's
        year=[YEAR] * 3,
    )
    return {"reduction": reduction, "eco_remediate": remediate, "rings": rings()}


def test_r03_plain_area_reduction_passes_above_the_threshold(plan):
    r = rule(plan, "R03")
    res = evaluate_rule(r, r03_layers((r.threshold + 5) / 100), YEAR)
    assert res["passed"] is True and res["value"] == pytest.approx(r.threshold + 5, rel=1e-9)


def test_r03_fails_below_the_threshold(plan):
    r = rule(plan, "R03")
    res = evaluate_rule(r, r03_layers((r.threshold - 15) / 100), YEAR)
    assert res["passed"] is False and res["value"] == pytest.approx(r.threshold - 15, rel=1e-9)


# ------------------------------------------------------------------ R04–R06: none inside


NONE_INSIDE = {"R04": "strategic_reserve", "R05": "eco_redline", "R06": "farmland"}


def none_inside_layers(zone_id: str, touching_id: str | None) -> dict:
    geoms = [box(EDGE, Y, EDGE + 100, Y + 100),  # shares the zone's edge only: no area inside
             box(EDGE + 500, Y, EDGE + 600, Y + 100)]
    ids = ["S-1", "S-2"]
    if touching_id:
        geoms.append(straddling(EDGE, Y + 300, 0.01))  # 1 m² … 100 m² inside
        ids.append(touching_id)
    supply = layer(geoms, id=ids, use=["工业"] * len(geoms), year=[2030] * len(geoms))
    return {"land_supply": supply, zone_id: layer([ZONE])}


@pytest.mark.parametrize("rule_id", sorted(NONE_INSIDE))
def test_none_inside_rules_pass_when_nothing_is_inside(plan, rule_id):
    res = evaluate_rule(rule(plan, rule_id), none_inside_layers(NONE_INSIDE[rule_id], None), 2030)
    assert res["passed"] is True and res["value"] == 0 and res["details"]["offending"] == []


@pytest.mark.parametrize("rule_id", sorted(NONE_INSIDE))
def test_none_inside_rules_fail_naming_the_offending_parcels(plan, rule_id):
    res = evaluate_rule(rule(plan, rule_id), none_inside_layers(NONE_INSIDE[rule_id], "BAD-7"), 2030)
    assert res["passed"] is False and res["value"] == 1 and res["unit"] == "处"
    assert res["details"]["offending"] == [{"id": "BAD-7", "overlap_m2": pytest.approx(100.0)}]


def test_r04_strategic_reserve_applies_only_before_2035(plan):
    r = rule(plan, "R04")
    layers = none_inside_layers("strategic_reserve", "BAD-7")
    layers["land_supply"]["year"] = 2036
    res = evaluate_rule(r, layers, 2036)
    assert res["passed"] is None and res["status"].startswith("not applicable")


# ------------------------------------------------------------------ R07: Art. 24, central-city construction land


def r07_layers(km2_inside: float) -> dict:
    side = math.sqrt(km2_inside) * 1000
    # 中心城区 + 核心区 of rings() span x ∈ [X-5000, X+3000] (8 km): make a big ring instead
    big_rings = layer([box(X - 40_000, Y - 40_000, X, Y + 40_000), box(X, Y - 40_000, X + 40_000, Y + 40_000),
                       box(X + 40_000, Y - 40_000, X + 80_000, Y + 40_000)], ring=["核心区", "中心城区", "平原新城"])
    land = layer(
        [box(X - side / 2, Y - side / 2, X + side / 2, Y + side / 2),  # straddles 核心区 / 中心城区: all counted
         box(X - side / 2, Y - side / 2, X, Y),  # overlaps the first: counted once
         box(X + 50_000, Y, X + 60_000, Y + 10_000),  # 平原新城: not counted
         box(X - 30_000, Y - 30_000, X - 29_000, Y - 29_000)],  # an old snapshot's feature
        year=[2024, 2024, 2024, 2020],
    )
    return {"construction_land": land, "rings": big_rings}


def test_r07_construction_land_under_the_ceiling_passes(plan):
    r = rule(plan, "R07")
    res = evaluate_rule(r, r07_layers(r.threshold - 50), 2025)
    assert res["passed"] is True and res["value"] == pytest.approx(r.threshold - 50, rel=1e-9)
    assert res["unit"] == "平方公里" and "snapshot of 2024" in res["details"]["notes"][0]


def test_r07_fails_over_the_ceiling(plan):
    r = rule(plan, "R07")
    res = evaluate_rule(r, r07_layers(r.threshold + 30), 2025)
    assert res["passed"] is False and res["value"] == pytest.approx(r.threshold + 30, rel=1e-9)


def test_r07_is_a_stock_read_from_the_latest_snapshot(plan):
    res = evaluate_rule(rule(plan, "R07"), r07_layers(800), 2022)  # only the 2020 snapshot exists by then
    assert res["value"] == pytest.approx(1.0) and "snapshot of 2020" in res["details"]["notes"][0]


# ------------------------------------------------------------------ all rules, the store, the CLI


def test_a_rule_whose_layers_are_not_loaded_says_so(plan):
    res = evaluate_rules(plan.spatial.rules, {}, YEAR)
    assert list(res["id"]) == [r.id for r in plan.spatial.rules]
    assert res["passed"].isna().all() or all(p is None for p in res["passed"])
    assert res["status"].str.contains("not loaded|not applicable").all()


def test_comparators():
    assert compare(70, ">=", 70) and not compare(69.9, ">=", 70)
    assert compare(850, "<=", 850) and not compare(850.1, "<=", 850)
    assert compare(86, "≈", 90, 5) and not compare(96, "≈", 90, 5)
    assert compare(0, "==", 0) and not compare(1, "==", 0)


def all_layers(synthetic: bool) -> dict:
    layers = {**r01_layers(0.8), **r02_layers(0.875)}
    layers["farmland"] = layer([box(X + 20_000, Y, X + 21_000, Y + 1000)])
    if synthetic:
        for g in layers.values():
            g.attrs["synthetic"] = True
    return layers


def _store_with(tmp_path, layers: dict, synthetic: bool):
    from planwatch.store import open_store

    db = tmp_path / "s.gpkg"
    store = open_store(db)
    for type_id, gdf in layers.items():
        store.write_layer(type_id, gdf, source="test", sha256="0" * 64, synthetic=synthetic, notes=[])
    return db, store


def test_check_rules_stores_values_as_observations_of_their_targets(plan, tmp_path):
    db, store = _store_with(tmp_path, all_layers(False), synthetic=True)
    res = check_rules(store, plan, YEAR)
    by_id = res.set_index("id")
    assert by_id.loc["R01", "passed"] is True and by_id.loc["R01", "synthetic"]
    assert by_id.loc["R06", "passed"] is True  # no supply in the farmland
    obs = store.observations()
    mine = obs[obs["file"] == f"rules:{YEAR}"].set_index("indicator")
    assert set(mine.index) == {"A56.1", "A68.1", "A68.2"}  # rules with a target and a value (no construction land)
    a56 = mine.loc["A56.1"]
    assert a56["value"] == pytest.approx(80.0) and a56["year"] == YEAR and a56["unit"] == "%"
    assert a56["source"] == "planwatch rules check" and a56["method"].startswith("空间规则R01")
    assert a56["scope"] == "" and "示意数据（非官方）" in a56["note"]
    assert a56["origin"] == "computed" and a56["synthetic"]  # kept, shown, never graded
    # checking again with the same layers adds no revision
    check_rules(store, plan, YEAR)
    assert len(store.history("A56.1")) == 1


def test_cli_rules_check_json_and_table(plan, tmp_path):
    db, _ = _store_with(tmp_path, all_layers(False), synthetic=False)
    res = CliRunner().invoke(app, ["rules", "check", "--year", str(YEAR), "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    r01 = next(r for r in rows if r["id"] == "R01")
    assert set(r01) >= {"id", "article", "description", "value", "threshold", "comparator", "unit", "passed", "details"}
    assert r01["passed"] is True and r01["article"] == 56
    r07 = next(r for r in rows if r["id"] == "R07")
    assert r07["value"] is None and r07["passed"] is None
    res = CliRunner().invoke(app, ["rules", "check", "--year", str(YEAR), "--db", str(db), "--no-record"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "第56条" in res.stdout and "pass" in res.stdout


# ------------------------------------------------------------------ the demo one-map


@pytest.fixture(scope="module")
def demo_layers(plan):
    from planwatch.demo.onemap import build_demo_layers

    return build_demo_layers(plan, seed=2021)


@pytest.mark.parametrize("year", [2021, 2022, 2023])
def test_the_rules_on_the_demo_map_give_its_designed_values(plan, demo_layers, year):
    """The demo generator places records so each rule has a known value (demo.RULE_DESIGN); the
    rules engine must read exactly that back."""
    from planwatch.demo.onemap import RULE_DESIGN

    res = {r["id"]: r for r in evaluate_rules(plan.spatial.rules, demo_layers, year).to_dict("records")}
    for rule_id, design in RULE_DESIGN.items():
        r = res[rule_id]
        if rule_id == "R07":  # a stock, km²
            assert r["value"] == pytest.approx(design, rel=1e-9) and r["passed"] is False
        elif rule_id in ("R01", "R02", "R03"):  # shares: (inside, total) parcels of equal area
            inside, total = design[year]
            assert r["value"] == pytest.approx(100 * inside / total, rel=1e-9), rule_id
        else:  # none_inside: count of offending parcels
            assert r["value"] == design.get(year, 0), rule_id
            assert r["passed"] == (design.get(year, 0) == 0)
