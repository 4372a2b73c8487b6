"""Coverage as an analyst uses it: tiny grids whose answers are known by hand, straight-line and
over a street network, weighted by area or population, by district and 圈层; bad input gets a
clear error or a warning, never a silent 0 %."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from typer.testing import CliRunner

import planwatch.cli.indicators  # noqa: F401  (registers the access and indicators verbs)
from planwatch.cli.main import app
from planwatch.indicators import (
    CoverageInputError,
    area_within_distance,
    coverage,
    network_from_lines,
    parse_distance,
)

CRS = "EPSG:4548"
runner = CliRunner()


def said(res) -> str:
    """The verb's output with Rich's line wrapping undone."""
    return " ".join(res.output.split())


def cells(n: int = 4, size: float = 100.0, **columns) -> gpd.GeoDataFrame:
    """An n × n grid of size-metre cells from (0, 0); row-major (x fastest)."""
    boxes = [shapely.box(i * size, j * size, (i + 1) * size, (j + 1) * size) for j in range(n) for i in range(n)]
    return gpd.GeoDataFrame({"id": [f"C{k:02d}" for k in range(n * n)], **columns}, geometry=boxes, crs=CRS)


def points(*xy, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"id": [f"P{k}" for k in range(len(xy))], **columns}, geometry=[shapely.Point(p) for p in xy], crs=CRS)


def grid_streets(n: int = 5, spacing: float = 100.0) -> gpd.GeoDataFrame:
    """Streets along x = 0, 100, … and y = 0, 100, … (n lines each way)."""
    end = (n - 1) * spacing
    lines = [shapely.LineString([(k * spacing, 0), (k * spacing, end)]) for k in range(n)]
    lines += [shapely.LineString([(0, k * spacing), (end, k * spacing)]) for k in range(n)]
    return gpd.GeoDataFrame(geometry=lines, crs=CRS)


# ------------------------------------------------------------------ straight line


def test_a_tiny_grid_has_the_hand_computed_straight_line_coverage():
    # a station at the centre of cell (0, 0): cell (i, j) is 100·√(i² + j²) m away, centre to point
    origins = cells()
    result = coverage(origins, points((50, 50)), "150m")
    d = result.origins["distance_m"].to_numpy().reshape(4, 4)
    i, j = np.meshgrid(range(4), range(4))
    assert d == pytest.approx(100 * np.hypot(i, j))
    assert result.origins["covered"].sum() == 4  # (0,0) 0 m, (1,0) and (0,1) 100 m, (1,1) 141 m
    assert result.share() == pytest.approx(25.0)
    assert "straight-line" in result.method and "150 m" in result.method


def test_distance_to_a_polygon_destination_is_to_its_edge_and_zero_inside():
    park = gpd.GeoDataFrame({"id": ["park"]}, geometry=[shapely.box(0, 0, 100, 100)], crs=CRS)
    result = coverage(cells(), park, 60)
    d = result.origins["distance_m"].to_numpy().reshape(4, 4)
    assert d[0, 0] == 0 and d[0, 1] == pytest.approx(50) and d[1, 1] == pytest.approx(math.hypot(50, 50))
    assert result.share() == pytest.approx(100 * 3 / 16)  # (0,0), (1,0), (0,1); (1,1) is 70.7 m away
    assert result.origins.loc[0, "nearest"] == "park"


def test_population_weighting_uses_the_column():
    pop = [0] * 16
    pop[0], pop[1], pop[15] = 300, 100, 600  # (0,0) and (1,0) covered, (3,3) not
    result = coverage(cells(pop=pop), points((50, 50)), 150, weight="pop")
    assert result.share() == pytest.approx(40.0)
    assert result.weight == "pop"


def test_area_weighting_counts_bigger_blocks_more():
    blocks = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 100, 100), shapely.box(1000, 0, 1300, 100)], crs=CRS)
    result = coverage(blocks, points((50, 50)), 500)
    assert result.share() == pytest.approx(100 * 10_000 / 40_000)


def test_shares_come_by_district_and_ring_and_the_core_counts_in_the_central_city():
    districts = gpd.GeoDataFrame({"district": ["东城区", "朝阳区"]}, geometry=[shapely.box(0, 0, 200, 400), shapely.box(200, 0, 400, 400)], crs=CRS)
    rings = gpd.GeoDataFrame({"ring": ["核心区", "中心城区"]}, geometry=[shapely.box(0, 0, 200, 400), shapely.box(0, 0, 400, 400)], crs=CRS)
    result = coverage(cells(), points((50, 50)), 150, districts=districts, rings=rings)
    s = result.shares.set_index(["level", "geo"])["share_pct"]
    assert s[("全市", "全市")] == pytest.approx(25)
    assert s[("区", "东城区")] == pytest.approx(50)  # 4 of its 8 cells
    assert s[("区", "朝阳区")] == pytest.approx(0)
    assert s[("圈层", "核心区")] == pytest.approx(50) and s[("圈层", "中心城区")] == pytest.approx(25)
    assert set(result.origins["ring"]) == {"核心区、中心城区", "中心城区"}


# ------------------------------------------------------------------ network


def test_network_distance_follows_the_streets_and_adds_both_snap_distances():
    net = network_from_lines(grid_streets())
    origins = points((150, 20), (330, 380), (20, 250), w=[1, 1, 2])
    result = coverage(origins, points((0, -10)), 300, weight="w", method="network", network=net)
    # the destination snaps 10 m to the corner (0, 0). (150, 20): 20 m to (150, 0), 150 along y = 0:
    # 180. (330, 380): 20 m to (330, 400), 30 to (300, 400), 700 to the corner: 760. (20, 250): 20 m
    # to (0, 250), 250 down x = 0: 280.
    assert result.origins["distance_m"].to_numpy() == pytest.approx([180, 760, 280])
    assert result.origins["snap_m"].to_numpy() == pytest.approx([20, 20, 20])
    assert result.origins["covered"].tolist() == [True, False, True]
    assert result.share() == pytest.approx(100 * 3 / 4)
    assert "network" in result.method and "snap distance added" in result.method


def test_network_coverage_is_never_higher_than_straight_line():
    net = network_from_lines(grid_streets(9, 50))
    rng = np.random.default_rng(5)
    origins = points(*rng.uniform(0, 400, (200, 2)), pop=rng.integers(1, 100, 200))
    dest = points(*rng.uniform(0, 400, (3, 2)))
    e = coverage(origins, dest, 120, weight="pop")
    n = coverage(origins, dest, 120, weight="pop", method="network", network=net)
    assert (n.origins["distance_m"].to_numpy() >= e.origins["distance_m"].to_numpy() - 1e-9).all()
    assert n.share() <= e.share()


def test_a_disconnected_network_warns_about_unreachable_origins():
    streets = grid_streets()
    island = gpd.GeoDataFrame(geometry=[shapely.LineString([(2000, 0), (2100, 0)])], crs=CRS)
    net = network_from_lines(gpd.GeoDataFrame(geometry=list(streets.geometry) + list(island.geometry), crs=CRS))
    origins = points((150, 20), (2050, 10), weight=[1, 3])
    result = coverage(origins, points((0, 0)), 500, weight="weight", method="network", network=net)
    assert result.origins["reachable"].tolist() == [True, False]
    assert result.share() == pytest.approx(25.0)
    assert len(result.warnings) == 1 and "1 of 2" in result.warnings[0] and "75.0% of the weight" in result.warnings[0]
    assert "2 connected components" in result.warnings[0]
    assert result.shares.loc[0, "unreachable"] == 1


def test_no_origin_reaching_any_destination_is_an_error_not_zero_percent():
    two = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(500, 0), (600, 0)])], crs=CRS)
    with pytest.raises(CoverageInputError, match="no origins feature reaches any destinations feature"):
        coverage(points((550, 0), w=[1]), points((0, 0)), 1000, weight="w", method="network", network=network_from_lines(two))


# ------------------------------------------------------------------ bad input


def test_population_weighting_without_the_column_names_the_columns():
    with pytest.raises(CoverageInputError, match=r"no column 'population'.*id"):
        coverage(cells(), points((0, 0)), 100, weight="population")


def test_a_weight_column_with_text_or_negatives_names_the_feature():
    with pytest.raises(CoverageInputError, match="C01"):
        coverage(cells(pop=[1, -5] + [1] * 14), points((0, 0)), 100, weight="pop")


def test_area_weighting_of_points_is_refused():
    with pytest.raises(CoverageInputError, match="area weighting needs polygons"):
        coverage(points((1, 1)), points((0, 0)), 100)


def test_an_empty_destination_layer_is_an_error():
    with pytest.raises(CoverageInputError, match="has no features; nothing can be reached"):
        coverage(cells(), points(), 100)


def test_network_coverage_without_a_network_is_an_error():
    with pytest.raises(CoverageInputError, match="needs a road network"):
        coverage(cells(), points((0, 0)), 100, method="network")


def test_distances_parse_with_units_and_refuse_nonsense():
    assert parse_distance("500m") == 500 and parse_distance("0.8km") == 800 and parse_distance(" 250 ") == 250
    for bad in ("abc", "-5m", "0"):
        with pytest.raises(CoverageInputError):
            parse_distance(bad)


def test_layers_in_degrees_are_refused():
    with pytest.raises(CoverageInputError, match="geographic"):
        coverage(cells().to_crs(4326), points((0, 0)).to_crs(4326), 100)
    with pytest.raises(CoverageInputError, match="one metric CRS"):
        coverage(cells(), points((0, 0)).to_crs(4326), 100)


# ------------------------------------------------------------------ area within a distance


def test_area_within_distance_is_the_exact_overlay_with_the_buffers():
    squares = gpd.GeoDataFrame({"district": ["A", "B"]}, geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)], crs=CRS)
    stations = points((500, 500), (500, 500.001), (1000, 500))  # a duplicate location counts once
    t = area_within_distance(squares, stations, 200, by="district").set_index("district")
    disc = shapely.Point(0, 0).buffer(200, quad_segs=16).area / 1e6  # the 16-gon the function uses
    assert t.loc["A", "covered_km2"] == pytest.approx(disc + disc / 2, rel=1e-9)
    assert t.loc["B", "covered_km2"] == pytest.approx(disc / 2, rel=1e-9)
    assert t.loc["A", "share_pct"] == pytest.approx(100 * 1.5 * disc / 1.0)
    assert abs(disc - math.pi * 0.04) / (math.pi * 0.04) < 0.003  # the 16-gon is within 0.3 % of the circle


# ------------------------------------------------------------------ the verb


def test_cli_access_coverage_writes_each_origin_and_the_shares(tmp_path):
    origins = cells(pop=list(range(16)))
    origins.to_file(tmp_path / "blocks.gpkg", layer="blocks")
    points((50, 50)).to_file(tmp_path / "stops.geojson")
    grid_streets().to_file(tmp_path / "roads.shp")
    out = tmp_path / "cov.gpkg"
    db = tmp_path / "store.gpkg"
    res = runner.invoke(app, ["access", "coverage", "--from", str(tmp_path / "blocks.gpkg"), "--to", str(tmp_path / "stops.geojson"),
                              "--within", "150m", "--weight", "pop", "--out", str(out), "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body["shares"][0]["share_pct"] == pytest.approx(100 * (0 + 1 + 4 + 5) / sum(range(16)))
    layer = pyogrio.read_dataframe(out, layer="coverage")
    assert {"distance_m", "covered", "weight", "pop"} <= set(layer.columns) and len(layer) == 16
    shares = pyogrio.read_dataframe(out, layer="coverage_shares")
    assert shares.loc[0, "method"].startswith("straight-line")
    res = runner.invoke(app, ["access", "coverage", "--from", str(tmp_path / "blocks.gpkg"), "--to", str(tmp_path / "stops.geojson"),
                              "--within", "150m", "--method", "network", "--roads", str(tmp_path / "roads.shp"), "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "walking network" in said(res)


def test_cli_access_coverage_bad_input_exits_with_the_reason(tmp_path):
    cells().to_file(tmp_path / "blocks.gpkg")
    points((50, 50)).to_file(tmp_path / "stops.geojson")
    cells().to_file(tmp_path / "notroads.gpkg")
    db = tmp_path / "store.gpkg"
    base = ["access", "coverage", "--from", str(tmp_path / "blocks.gpkg"), "--to", str(tmp_path / "stops.geojson"), "--db", str(db)]
    res = runner.invoke(app, [*base, "--within", "150m", "--weight", "population"])
    assert res.exit_code == 1 and "no column 'population'" in said(res)
    res = runner.invoke(app, [*base, "--within", "150m", "--method", "network", "--roads", str(tmp_path / "notroads.gpkg")])
    assert res.exit_code == 1 and "has no lines" in said(res)
    res = runner.invoke(app, [*base, "--within", "far"])
    assert res.exit_code == 1 and "--within" in said(res)
    res = runner.invoke(app, [*base, "--within", "1km", "--method", "network"])
    assert res.exit_code == 1 and "road_network" in said(res)  # no road layer in the store
