"""The walking network: built from road lines, snapped to, and routed over — the same distances as
networkx (the reference, used here only) within 0.1 m; bad road layers get a clear error."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from planwatch.demo.streets import synthetic_street_lines
from planwatch.indicators import NetworkError, nearest_destination_distance, network_from_lines, snap_points
from planwatch.indicators.osm import read_osm_network, read_osm_ways

CRS = "EPSG:4548"


def lines(*coords) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[shapely.LineString(c) for c in coords], crs=CRS)


# ------------------------------------------------------------------ the reference: networkx


def reference_distances(road_lines, origins: np.ndarray, destinations: np.ndarray) -> np.ndarray:
    """Walking distance from each origin to its nearest destination, computed independently of
    planwatch: GEOS nodes the lines (shapely.node), every point is inserted into its nearest segment
    (brute force), and networkx runs Dijkstra from a super-source joined to the destinations by
    their snap distances."""
    noded = shapely.node(shapely.union_all(np.asarray(road_lines.geometry.values)))
    segs = []
    for part in shapely.get_parts(noded):
        c = shapely.get_coordinates(part)
        segs += [(tuple(a), tuple(b)) for a, b in zip(c[:-1], c[1:], strict=True) if tuple(a) != tuple(b)]
    key = lambda p: (round(p[0], 6), round(p[1], 6))  # noqa: E731
    a = np.array([s[0] for s in segs])
    b = np.array([s[1] for s in segs])
    on_segment: dict[int, list] = {}

    def insert(name, p):
        d = b - a
        t = np.clip(((p - a) * d).sum(1) / (d * d).sum(1), 0, 1)
        proj = a + t[:, None] * d
        dist = np.hypot(*(p - proj).T)
        k = int(np.argmin(dist))
        on_segment.setdefault(k, []).append((t[k], name))
        return dist[k]

    snap_o = [insert(("o", i), p) for i, p in enumerate(origins)]
    snap_d = [insert(("d", i), p) for i, p in enumerate(destinations)]
    g = nx.Graph()
    for k, (p, q) in enumerate(segs):
        length = float(np.hypot(q[0] - p[0], q[1] - p[1]))
        chain = [(0.0, key(p))] + sorted(on_segment.get(k, []), key=lambda x: x[0]) + [(1.0, key(q))]
        for (t1, n1), (t2, n2) in zip(chain[:-1], chain[1:], strict=True):
            w = (t2 - t1) * length
            if not g.has_edge(n1, n2) or g[n1][n2]["weight"] > w:
                g.add_edge(n1, n2, weight=w)
    for i, s in enumerate(snap_d):
        g.add_edge("source", ("d", i), weight=float(s))
    dist = nx.single_source_dijkstra_path_length(g, "source")
    return np.array([dist.get(("o", i), np.inf) + snap_o[i] for i in range(len(origins))])


# ------------------------------------------------------------------ building


def test_lines_become_nodes_at_endpoints_shared_vertices_and_crossings():
    # a cross (two lines crossing mid-way, no shared vertex), a T (ends on the other's interior)
    # and a polyline whose middle vertex another line shares
    net = network_from_lines(lines([(0, 0), (100, 0)], [(50, -50), (50, 50)], [(100, 0), (100, 80)], [(80, 80), (100, 80), (130, 80)]))
    xy = {(round(x, 6), round(y, 6)) for x, y in zip(net.x, net.y, strict=True)}
    assert (50, 0) in xy  # the crossing became a node
    assert {(0, 0), (100, 0), (50, -50), (50, 50), (100, 80), (80, 80), (130, 80)} <= xy
    assert net.n_nodes == 8 and net.n_edges == 7
    assert net.length.sum() == pytest.approx(100 + 100 + 80 + 50)
    n, _ = net.components()
    assert n == 1


def test_without_node_crossings_a_bridge_stays_a_bridge():
    road = lines([(0, 0), (100, 0)], [(50, -50), (50, 50)])
    assert network_from_lines(road, node_crossings=False).components()[0] == 2
    assert network_from_lines(road).components()[0] == 1


def test_parallel_duplicate_lines_keep_the_shortest_edge_and_tiny_gaps_merge():
    net = network_from_lines(lines([(0, 0), (100, 0)], [(100, 0), (0, 0)], [(100.004, 0), (200, 0)]))
    assert net.n_nodes == 3 and net.n_edges == 2  # vertices 4 mm apart are one node (1 cm tolerance)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_network_distances_match_networkx_within_a_tenth_of_a_metre(seed):
    rng = np.random.default_rng(seed)
    region = shapely.Point(0, 0).buffer(2500).difference(shapely.box(-150, -3000, 150, 3000))  # two halves, joined by a connector
    road = synthetic_street_lines(region, spacing_m=180, jitter_m=60, seed=seed, crs=CRS)
    assert "连接道路" in set(road["kind"])
    origins = rng.uniform(-2600, 2600, (300, 2))
    destinations = rng.uniform(-2600, 2600, (12, 2))
    net = network_from_lines(road)
    ours = nearest_destination_distance(net, snap_points(net, origins), snap_points(net, destinations))
    ref = reference_distances(road, origins, destinations)
    assert np.isfinite(ref).all()
    assert np.abs(ours - ref).max() < 0.1


@pytest.mark.parametrize("seed", [11, 12])
def test_randomly_crossing_lines_are_noded_and_routed_like_geos_and_networkx(seed):
    rng = np.random.default_rng(seed)
    road = gpd.GeoDataFrame(geometry=[shapely.LineString(rng.uniform(0, 1000, (int(rng.integers(2, 5)), 2))) for _ in range(40)], crs=CRS)
    net = network_from_lines(road)
    noded = shapely.node(shapely.union_all(np.asarray(road.geometry.values)))
    assert net.length.sum() == pytest.approx(shapely.length(noded), rel=1e-9)
    origins = rng.uniform(0, 1000, (150, 2))
    destinations = rng.uniform(0, 1000, (5, 2))
    ours = nearest_destination_distance(net, snap_points(net, origins), snap_points(net, destinations))
    ref = reference_distances(road, origins, destinations)
    assert (np.isfinite(ours) == np.isfinite(ref)).all()
    fin = np.isfinite(ref)
    assert np.abs(ours[fin] - ref[fin]).max() < 0.1


def test_an_origin_and_a_destination_on_the_same_edge_go_straight_along_it():
    net = network_from_lines(lines([(0, 0), (1000, 0)]))
    o = snap_points(net, np.array([[300.0, 10.0], [900.0, -5.0]]))
    d = snap_points(net, np.array([[400.0, 20.0]]))
    dist = nearest_destination_distance(net, o, d)
    assert dist == pytest.approx([10 + 100 + 20, 5 + 500 + 20])


def test_node_snapping_counts_the_snap_distance_too():
    net = network_from_lines(lines([(0, 0), (100, 0), (200, 0)]))
    o = snap_points(net, np.array([[190.0, 30.0]]), how="node")
    d = snap_points(net, np.array([[0.0, 40.0]]), how="node")
    assert nearest_destination_distance(net, o, d) == pytest.approx([np.hypot(10, 30) + 200 + 40])


def test_a_disconnected_network_gives_infinity_not_zero():
    net = network_from_lines(lines([(0, 0), (100, 0)], [(500, 0), (600, 0)]), node_crossings=False)
    dist = nearest_destination_distance(net, snap_points(net, np.array([[550.0, 0.0], [50.0, 0.0]])), snap_points(net, np.array([[0.0, 0.0]])))
    assert np.isinf(dist[0]) and dist[1] == pytest.approx(50)


# ------------------------------------------------------------------ bad road layers


def test_a_road_layer_without_lines_is_refused_by_name():
    polys = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10)], crs=CRS)
    with pytest.raises(NetworkError, match="has no lines.*Polygon"):
        network_from_lines(polys, name="layer roads")
    with pytest.raises(NetworkError, match="has no features"):
        network_from_lines(gpd.GeoDataFrame(geometry=[], crs=CRS))
    with pytest.raises(NetworkError, match="zero length"):
        network_from_lines(lines([(5, 5), (5, 5)]))
    with pytest.raises(NetworkError, match="geographic"):
        network_from_lines(gpd.GeoDataFrame(geometry=[shapely.LineString([(116.3, 39.9), (116.4, 39.9)])], crs="EPSG:4326"))


# ------------------------------------------------------------------ OpenStreetMap


OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="planwatch-test">
  <node id="1" lat="39.900" lon="116.400" version="1"/>
  <node id="2" lat="39.900" lon="116.410" version="1"/>
  <node id="3" lat="39.910" lon="116.410" version="1"/>
  <node id="4" lat="39.910" lon="116.400" version="1"/>
  <node id="5" lat="39.905" lon="116.395" version="1"/>
  <node id="6" lat="39.905" lon="116.415" version="1"/>
  <way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/><tag k="name" v="甲街"/></way>
  <way id="11" version="1"><nd ref="3"/><nd ref="4"/><tag k="highway" v="footway"/></way>
  <way id="12" version="1"><nd ref="4"/><nd ref="1"/><tag k="highway" v="motorway"/></way>
  <way id="13" version="1"><nd ref="5"/><nd ref="6"/><tag k="highway" v="primary"/><tag k="bridge" v="yes"/></way>
  <way id="14" version="1"><nd ref="1"/><nd ref="3"/><tag k="building" v="yes"/></way>
</osm>
"""


def test_an_osm_extract_gives_walkable_ways_joined_at_shared_nodes(tmp_path):
    pytest.importorskip("osmium")
    path = tmp_path / "tiny.osm"
    path.write_text(OSM_XML, encoding="utf-8")
    ways = read_osm_ways(path)
    assert sorted(ways["osm_id"]) == [10, 11, 13]  # no motorway, no building
    assert ways.crs.to_epsg() == 4548
    net = read_osm_network(path)
    assert net.components()[0] == 2  # the bridge (way 13) crosses way 10 but shares no node with it
    clipped = read_osm_ways(path, bounds_wgs84=(116.405, 39.0, 117.0, 41.0))
    assert shapely.bounds(clipped.to_crs(4326).geometry.values)[:, 0].min() >= 116.405 - 1e-9


def test_a_file_that_is_not_osm_is_refused(tmp_path):
    pytest.importorskip("osmium")
    path = tmp_path / "bad.osm"
    path.write_text("not xml at all", encoding="utf-8")
    with pytest.raises(NetworkError, match="bad.osm"):
        read_osm_ways(path)


def test_snapping_to_edges_is_exact_even_next_to_an_isolated_node():
    from planwatch.indicators import network_from_edges

    # node 3 has no edge: the point beside it must still snap to the nearest real edge
    net = network_from_edges([0, 100, 100, 50], [0, 0, 100, 60], [0, 1], [1, 2])
    s = snap_points(net, np.array([[50.0, 61.0], [60.0, -5.0]]))
    assert s.snap_m == pytest.approx([50.0, 5.0]) and s.edge.tolist() == [1, 0]
    rng = np.random.default_rng(3)
    road = synthetic_street_lines(shapely.box(0, 0, 3000, 3000), spacing_m=150, jitter_m=50, seed=3, crs=CRS)
    net = network_from_lines(road)
    pts = rng.uniform(-200, 3200, (2000, 2))
    s = snap_points(net, pts)
    lines = net.edge_lines()
    brute = shapely.distance(shapely.points(pts)[:, None], lines[None, :]).min(axis=1)
    assert s.snap_m == pytest.approx(brute, abs=1e-9)
