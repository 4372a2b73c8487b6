"""OGC API – Features pages a layer from the store, on both stores: following ``next`` links, every
feature of a 25,000-feature layer comes exactly once, equal to the stored layer in WGS 84. A bbox
selects what geopandas' ``cx`` does, and no request reads the whole layer."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import box

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from planwatch.web import create_app  # noqa: E402


def pytest_generate_tests(metafunc):
    """Every test runs on the GeoPackage store and on the PostGIS store (tests/conftest.py makes each
    store a fresh PostGIS schema on the second), as the tests of conftest.BOTH_BACKENDS do."""
    metafunc.fixturenames.append("backend")
    metafunc.parametrize("backend", ["gpkg", "postgis"], indirect=True)

X, Y = 450_000.0, 4_420_000.0  # EPSG:4548, central Beijing
N = 25_000
ITEMS = "/ogc/collections/land_supply/items"
ATTRIBUTES = ["name", "zone", "area", "approved"]


def parcels(n: int = N) -> gpd.GeoDataFrame:
    """``n`` synthetic parcels (deterministic): rectangles and triangles of 20–60 m on a jittered 70 m
    grid, and every 500th a 3 km strip across many cells, so that a box's edges cut through features
    and a box can overlap a triangle's bounds without touching it."""
    rng = np.random.default_rng(2021)
    i = np.arange(n)
    x0 = X + (i % 160) * 70.0 + rng.uniform(0, 10, n)
    y0 = Y + (i // 160) * 70.0 + rng.uniform(0, 10, n)
    x1, y1 = x0 + rng.uniform(20, 60, n), y0 + rng.uniform(20, 60, n)
    geometry = box(x0, y0, x1, y1)
    triangles = i % 3 == 1
    geometry[triangles] = shapely.polygons(np.stack([np.column_stack(c)[triangles] for c in
                                                     ((x0, y0), (x1, y0), (x0, y1), (x0, y0))], axis=1))
    strips = i % 500 == 0
    geometry[strips] = box(x0[strips], y0[strips], x0[strips] + 3000, y0[strips] + 40)
    return gpd.GeoDataFrame({"name": [f"示意地块{k}" for k in i], "zone": rng.integers(1, 9, n).astype("int32"),
                             "area": np.round(rng.uniform(100, 5000, n), 3), "approved": rng.random(n) < 0.3},
                            geometry=geometry, crs="EPSG:4548")


@pytest.fixture
def served(store, plan):
    """A store holding the parcels as land_supply (synthetic), and a test client of the app over it."""
    store.write_layer("land_supply", parcels(), source="test", sha256="0" * 64, synthetic=True, notes=[])
    return TestClient(create_app(open_store=lambda: store, plan_id=plan.meta.id))


@pytest.fixture
def reference(served, store) -> gpd.GeoDataFrame:
    """The stored layer as geopandas puts it in WGS 84, indexed by feature id (1..n)."""
    layer = store.read_layer("land_supply").to_crs(4326)
    layer.index = layer.index + 1
    return layer


def follow(client: TestClient, url: str, params: dict | None = None) -> tuple[list[dict], set[int]]:
    """Every feature the ``next`` links lead through from ``url``, and the numberMatched each page said."""
    features, matched = [], set()
    while url:
        body = client.get(url, params=params).json()
        params = None  # the next link carries them
        assert body["numberReturned"] == len(body["features"])
        features += body["features"]
        matched.add(body["numberMatched"])
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    return features, matched


def as_frame(features: list[dict]) -> gpd.GeoDataFrame:
    ids = pd.Index([f["id"] for f in features], name="fid")
    geometry = shapely.from_geojson([json.dumps(f["geometry"]) for f in features])
    return gpd.GeoDataFrame([f["properties"] for f in features], index=ids, geometry=geometry, crs=4326)


def test_next_links_page_through_every_feature_once_as_stored(served, reference):
    features, matched = follow(served, ITEMS, {"limit": 1000})
    assert matched == {N} and len(features) == N
    got = as_frame(features)
    assert got.index.is_unique and list(got.index) == list(range(1, N + 1))  # each once, in id order
    pd.testing.assert_frame_equal(pd.DataFrame(got[ATTRIBUTES]), pd.DataFrame(reference[ATTRIBUTES]),
                                  check_dtype=False, check_names=False)
    assert shapely.equals_exact(got.geometry.values, reference.geometry.values, tolerance=1e-7).all()
    # one feature by its id is the feature the pages gave under that id
    for fid in (1, 500, 12_345, N):
        one = served.get(f"{ITEMS}/{fid}").json()
        page = next(f for f in features if f["id"] == fid)
        assert (one["id"], one["properties"], one["geometry"]) == (fid, page["properties"], page["geometry"])
    for missing in (0, N + 1, 2**70):
        assert served.get(f"{ITEMS}/{missing}").status_code == 404


def test_a_bbox_selects_what_geopandas_cx_selects(served, reference):
    minx, miny, maxx, maxy = (float(v) for v in reference.total_bounds)
    w, h = maxx - minx, maxy - miny
    boxes = [
        (minx + 0.3 * w, miny + 0.3 * h, minx + 0.55 * w, miny + 0.6 * h),  # inside: strips and parcels cut
        (minx - 0.01, miny + 0.4 * h, minx + 0.2 * w, miny + 0.45 * h),  # across the layer's west edge
        (minx + 0.5 * w, miny - 1, minx + 0.5 * w, maxy + 1),  # a line (no width) through the middle
        (minx - 1, miny - 1, maxx + 1, maxy + 1),  # all of it
        (0.0, 0.0, 1.0, 1.0),  # elsewhere
        (-180.0, -90.0, 180.0, 90.0),  # the world
    ]
    # a box in the empty corner of a triangle's bounds (feature 2 is one): it meets the bounds, not the triangle
    tx0, ty0, tx1, ty1 = (float(v) for v in reference.geometry[2].bounds)
    boxes.append((tx1 - 0.05 * (tx1 - tx0), ty1 - 0.05 * (ty1 - ty0), tx1 + 1e-4, ty1 + 1e-4))
    bounds_only = 0  # features whose bounds meet a box while they do not: a filter on bounds would fail
    for x0, y0, x1, y1 in boxes:
        expected = reference.cx[x0:x1, y0:y1]
        assert list(expected.index) == list(reference.index[reference.intersects(box(x0, y0, x1, y1))])
        b = reference.bounds
        bounds_only += int(((b.maxx >= x0) & (b.minx <= x1) & (b.maxy >= y0) & (b.miny <= y1)).sum()) - len(expected)
        features, matched = follow(served, ITEMS, {"limit": 2500, "bbox": f"{x0!r},{y0!r},{x1!r},{y1!r}"})
        assert matched == {len(expected)}, (x0, y0, x1, y1)
        assert [f["id"] for f in features] == list(expected.index), (x0, y0, x1, y1)
    assert bounds_only > 0
    cut = [f["id"] for f in follow(served, ITEMS, {"limit": 1000, "bbox": ",".join(map(repr, boxes[0]))})[0]]
    assert 0 < len(cut) < N and any(fid % 500 == 1 for fid in cut)  # strips among them
    # an offset inside a bbox's matches pages them in the same order
    x0, y0, x1, y1 = boxes[0]
    body = served.get(ITEMS, params={"limit": 7, "offset": 5, "bbox": f"{x0!r},{y0!r},{x1!r},{y1!r}"}).json()
    assert [f["id"] for f in body["features"]] == cut[5:12]


def test_paging_reads_a_page_from_the_store_never_the_whole_layer(served, store, monkeypatch):
    import pyogrio

    from planwatch.store import postgis

    def whole(*args, **kwargs):
        raise AssertionError("the whole layer was read to serve a page")

    monkeypatch.setattr(type(store), "read_layer", whole)
    monkeypatch.setattr(type(store), "snapshot", whole)
    sizes: list[int] = []  # the features each read of the store brought back
    read_dataframe, read_table = pyogrio.read_dataframe, postgis._LayerTable.read

    def counted_dataframe(*args, **kwargs):
        sizes.append(len(frame := read_dataframe(*args, **kwargs)))
        return frame

    def counted_table(*args, **kwargs):
        sizes.append(len(frame := read_table(*args, **kwargs)))
        return frame

    monkeypatch.setattr(pyogrio, "read_dataframe", counted_dataframe)
    monkeypatch.setattr(postgis._LayerTable, "read", staticmethod(counted_table))
    features, _ = follow(served, ITEMS, {"limit": 1000})
    assert len(features) == N
    assert sizes and max(sizes) == 1000 and len(sizes) == N // 1000
    last = served.get(ITEMS, params={"limit": 1000, "offset": N - 10}).json()
    assert [f["id"] for f in last["features"]] == list(range(N - 9, N + 1))
    assert served.get(ITEMS, params={"offset": 10**30}).json()["features"] == []
    collection = served.get("/ogc/collections/land_supply").json()
    assert "示意数据" in collection["title"]
    minx, miny, maxx, maxy = collection["extent"]["spatial"]["bbox"][0]
    assert 116 < minx < maxx < 117 and 39.5 < miny < maxy < 40.5
