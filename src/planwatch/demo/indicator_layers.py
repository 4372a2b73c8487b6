"""The demo layers the spatial indicators read: road network, land use, community services, plain area.

Added to the demo one-map by :func:`planwatch.demo.onemap.build_demo_layers` (and labelled
synthetic like the rest of it), drawn from layers the demo already has:

- 道路网 (road_network): a jittered 250 m street grid inside the urban development boundary (+300 m), its
  separate pieces joined by straight connector roads (:mod:`planwatch.demo.streets`).
- 用地分类 (land_use): every construction-land square cut into quarters, each given a class of
  :data:`LAND_USE_MIX` (village squares are mostly 居住用地, as homesteads are), so the city's
  job-housing ratio comes out near the plan's 1:1.4 and 居住用地 near 36 % of it.
- 社区服务设施 (community_services): one facility per 900 m grid cell (jittered) in the living
  guide zones, 85 % of the cells, so the 15-minute circle leaves visible gaps.
- 平原地区 (plain_area): the 圈层 中心城区 + 城市副中心 + 平原新城, cut into pieces of at most 2,000
  vertices. The official 平原地区 (about 6,300 km²) is not published as data; this one is about
  5,500 km².

Deterministic: its own random streams (seed, 11…14), so the other demo layers are unchanged.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

INDICATOR_DEMO_LAYER_TYPES = ["road_network", "land_use", "community_services", "plain_area"]

# Class shares of the land-use quarters: (class, share in town squares, share in village squares).
LAND_USE_MIX = [
    ("居住用地", 0.29, 0.50),
    ("公共管理与公共服务用地", 0.07, 0.04),
    ("商业服务业用地", 0.08, 0.03),
    ("工矿用地", 0.09, 0.10),
    ("仓储用地", 0.03, 0.04),
    ("交通运输用地", 0.17, 0.12),
    ("公用设施用地", 0.04, 0.03),
    ("绿地与开敞空间用地", 0.23, 0.14),
]
ROAD_SPACING_M = 250.0
ROAD_JITTER_M = 40.0
SERVICE_SPACING_M = 900.0


def _frame(geoms, crs, prefix: str, **columns) -> gpd.GeoDataFrame:
    ids = [f"{prefix}-{i:05d}" for i in range(1, len(geoms) + 1)]
    return gpd.GeoDataFrame(pd.DataFrame({"id": ids, **columns}), geometry=gpd.GeoSeries(list(geoms), crs=crs).values, crs=crs)


def demo_roads(layers: dict[str, gpd.GeoDataFrame], crs, seed: int) -> gpd.GeoDataFrame:
    from planwatch.demo.streets import synthetic_street_lines

    ub = shapely.union_all(layers["urban_boundary"].geometry.values)
    outline = shapely.union_all(layers["districts"].geometry.values)
    region = shapely.intersection(ub.buffer(300, quad_segs=4), shapely.simplify(outline, 100))
    roads = synthetic_street_lines(region, spacing_m=ROAD_SPACING_M, jitter_m=ROAD_JITTER_M, seed=seed, crs=crs)
    roads["id"] = [f"RD-{i:05d}" for i in range(1, len(roads) + 1)]
    return roads


def demo_land_use(layers: dict[str, gpd.GeoDataFrame], crs, rng: np.random.Generator) -> gpd.GeoDataFrame:
    cl = layers["construction_land"]
    b = shapely.bounds(cl.geometry.values)  # the squares are axis-aligned
    xmin, ymin, xmax, ymax = b.T
    xm, ym = (xmin + xmax) / 2, (ymin + ymax) / 2
    quads = [(xmin, ymin, xm, ym), (xm, ymin, xmax, ym), (xmin, ym, xm, ymax), (xm, ym, xmax, ymax)]
    geoms = np.concatenate([shapely.box(*q) for q in quads])
    village = np.tile(cl["kind"].to_numpy() == "村庄建设用地", 4)
    names = [n for n, _, _ in LAND_USE_MIX]
    p_town = np.array([s for _, s, _ in LAND_USE_MIX])
    p_village = np.array([s for _, _, s in LAND_USE_MIX])
    u = rng.uniform(size=len(geoms))
    cls_town = np.searchsorted(np.cumsum(p_town / p_town.sum()), u, side="right")
    cls_village = np.searchsorted(np.cumsum(p_village / p_village.sum()), u, side="right")
    cls = np.minimum(np.where(village, cls_village, cls_town), len(names) - 1)
    order = np.argsort(np.tile(np.arange(len(cl)), 4), kind="stable")  # quarters of a square together
    return _frame(list(geoms[order]), crs, "YD", use=[names[i] for i in cls[order]])


def demo_community_services(layers: dict[str, gpd.GeoDataFrame], crs, rng: np.random.Generator) -> gpd.GeoDataFrame:
    living = shapely.union_all(layers["living_guide"].geometry.values)
    shapely.prepare(living)
    xmin, ymin, xmax, ymax = living.bounds
    xs = np.arange(xmin, xmax, SERVICE_SPACING_M) + SERVICE_SPACING_M / 2
    ys = np.arange(ymin, ymax, SERVICE_SPACING_M) + SERVICE_SPACING_M / 2
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    gx = gx + rng.uniform(-200, 200, gx.shape)
    gy = gy + rng.uniform(-200, 200, gy.shape)
    keep = rng.uniform(size=gx.shape) < 0.85
    keep &= shapely.contains_xy(living, gx, gy)
    pts = shapely.points(np.round(gx[keep], 2), np.round(gy[keep], 2))
    kinds = rng.choice(["社区综合服务站", "社区卫生服务站", "便民商业网点", "社区养老驿站"], size=len(pts))
    return _frame(list(pts), crs, "FW", kind=kinds.tolist())


def demo_plain_area(layers: dict[str, gpd.GeoDataFrame], crs, rings: list[str]) -> gpd.GeoDataFrame:
    """The union of the plain 圈层, exact (so it meets the districts without slivers), cut into
    pieces of at most 2,000 vertices to keep the layer light."""
    from planwatch.indicators.compute import subdivide

    r = layers["rings"].set_index("ring").geometry
    plain = shapely.make_valid(shapely.union_all([r[name] for name in rings]))
    pieces, _ = subdivide(np.array([plain], dtype=object), max_vertices=2000)
    pieces = [shapely.normalize(p) for p in pieces]
    return _frame(pieces, crs, "PA", name=["平原地区"] * len(pieces), area_km2=[round(p.area / 1e6, 2) for p in pieces])


def build_indicator_demo_layers(plan, layers: dict[str, gpd.GeoDataFrame], seed: int = 2021) -> dict[str, gpd.GeoDataFrame]:
    """The demo layers of :data:`INDICATOR_DEMO_LAYER_TYPES`, from the demo's other layers."""
    from planwatch.plan.indicators import load_indicator_specs
    from planwatch.plan.load import PlanPackageError

    crs = plan.spatial.storage_crs

    def rng(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, k])

    try:
        plain_rings = load_indicator_specs(plan.meta.id).plain_area.rings
    except PlanPackageError:  # a plan loaded from elsewhere: the default rings
        plain_rings = ["中心城区", "城市副中心", "平原新城"]
    return {
        "road_network": demo_roads(layers, crs, seed * 100 + 11),
        "land_use": demo_land_use(layers, crs, rng(12)),
        "community_services": demo_community_services(layers, crs, rng(13)),
        "plain_area": demo_plain_area(layers, crs, plain_rings),
    }
