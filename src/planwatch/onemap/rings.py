"""圈层 (the plan's rings) derived from the 16 districts.

The plan groups Beijing into 核心区, 中心城区, 城市副中心, 平原新城 and 生态涵养区, the structure of
the 2016–2035 master plan that this near-term plan implements. The districts give most of it exactly;
two parts are approximations, documented here, in the layer's notes and in the layers'
PROVENANCE.md:

- 核心区 = 东城区 + 西城区 (exact).
- 中心城区 = the 城六区: 东城 西城 朝阳 海淀 丰台 石景山 (exact). It contains the 核心区: the two
  features overlap, as the plan's scopes do (a central-city figure includes the core area).
- 城市副中心: the sub-center is a 155 km² part of 通州 that no district boundary draws. Approximated by
  a disc around its centre (116.73°E, 39.91°N), cut to 通州, with the radius chosen so that the part
  inside 通州 is 155 km².
- 平原新城: 顺义 大兴 (with 亦庄, whose 北京经济技术开发区 lies in 大兴 and 通州) 昌平 房山 new towns,
  taken as the whole plain: 顺义区, 大兴区, the rest of 通州区, and the plain parts of 昌平区 and 房山区.
- 生态涵养区: 门头沟 平谷 怀柔 密云 延庆 (the plan's 生态涵养区五区) plus the mountain parts of 昌平区 and
  房山区. Those parts are split off along a hand-drawn piedmont line (roughly where the hills meet
  the plain, near the 100 m contour; ±1–2 km): :data:`PIEDMONT_LINES`. 59 % of 昌平 and 69 % of
  房山 fall on the mountain side, close to the districts' own descriptions (about 2/3 each).

Rings 城市副中心, 平原新城, 生态涵养区 and 中心城区 partition the plan area; 核心区 lies inside 中心城区.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

RINGS = ["核心区", "中心城区", "城市副中心", "平原新城", "生态涵养区"]
CORE = ["东城区", "西城区"]
CENTRAL_CITY = ["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区"]
PLAIN_DISTRICTS = ["顺义区", "大兴区"]  # wholly 平原新城
SPLIT_DISTRICTS = ["昌平区", "房山区"]  # plain part → 平原新城, mountain part → 生态涵养区
CONSERVATION = ["门头沟区", "平谷区", "怀柔区", "密云区", "延庆区"]
SUB_CENTER_DISTRICT = "通州区"
SUB_CENTER_LONLAT = (116.73, 39.91)  # the sub-center's centre (行政办公区 / 运河商务区 area)
SUB_CENTER_KM2 = 155.0  # the plan's figure for the sub-center

# Piedmont lines (lon, lat; WGS 84), each running with the mountains on its left (north-west), the
# plain on its right. They reach past the district so that they cut it cleanly.
PIEDMONT_LINES: dict[str, list[tuple[float, float]]] = {
    # 昌平: the 西山 foot at 阳坊, the 居庸关 gap at 南口, the 十三陵 basin under 天寿山, then east
    # along the 军都山 foot past 兴寿 to the 怀柔 border.
    "昌平区": [
        (115.98, 39.98), (116.10, 40.11), (116.13, 40.20), (116.16, 40.245), (116.21, 40.275),
        (116.27, 40.285), (116.33, 40.26), (116.40, 40.235), (116.47, 40.22), (116.60, 40.22),
    ],
    # 房山: from 张坊 at the Hebei border north-east past 大石窝 and 韩村河, along the foot of the
    # hills past 周口店, 城关 and 青龙湖, to the 门头沟 border west of 长辛店.
    "房山区": [
        (115.60, 39.45), (115.70, 39.53), (115.80, 39.565), (115.89, 39.61), (115.935, 39.67),
        (115.98, 39.715), (116.03, 39.77), (116.08, 39.84), (116.13, 39.95),
    ],
}


def _to_metric(points: list[tuple[float, float]], crs: str) -> np.ndarray:
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tr.transform(*np.asarray(points, dtype=float).T)
    return np.column_stack([x, y])


def _mountain_side(line_xy: np.ndarray, reach: float = 200_000.0) -> shapely.Polygon:
    """The half of the plane on the left of a polyline (its mountain side): the line closed by two
    points far out on the left of its first and last segments."""
    def left(p0, p1, at):
        d = (p1 - p0) / np.hypot(*(p1 - p0))
        return at + np.array([-d[1], d[0]]) * reach

    start = left(line_xy[0], line_xy[1], line_xy[0]) - (line_xy[1] - line_xy[0]) / np.hypot(*(line_xy[1] - line_xy[0])) * reach
    end = left(line_xy[-2], line_xy[-1], line_xy[-1]) + (line_xy[-1] - line_xy[-2]) / np.hypot(*(line_xy[-1] - line_xy[-2])) * reach
    ring = np.vstack([line_xy, end, start, line_xy[:1]])
    return shapely.make_valid(shapely.Polygon(ring))


def sub_center(tongzhou: shapely.Geometry, crs: str) -> shapely.Geometry:
    """The 城市副中心 approximation: a disc around :data:`SUB_CENTER_LONLAT` cut to 通州, its radius
    found by bisection so that the cut disc has :data:`SUB_CENTER_KM2` (to 0.01 km²)."""
    cx, cy = _to_metric([SUB_CENTER_LONLAT], crs)[0]
    centre = shapely.Point(cx, cy)
    lo, hi = 1_000.0, 20_000.0
    for _ in range(60):
        r = (lo + hi) / 2
        a = shapely.intersection(centre.buffer(r, quad_segs=32), tongzhou).area / 1e6
        if abs(a - SUB_CENTER_KM2) < 0.01:
            break
        lo, hi = (r, hi) if a < SUB_CENTER_KM2 else (lo, r)
    return shapely.intersection(centre.buffer(r, quad_segs=32), tongzhou)


def build_rings(districts: gpd.GeoDataFrame, crs: str = "EPSG:4548") -> gpd.GeoDataFrame:
    """The 圈层 layer from the district polygons (a frame with a ``district`` column holding the
    Chinese names, e.g. 东城区; any CRS). Returns one feature per ring in ``crs`` (metric) with
    ``ring``, ``districts`` (what it is made of), ``area_km2`` and ``basis`` (exact / approximate)."""
    d = districts.to_crs(crs)
    geom = dict(zip(d["district"], d.geometry, strict=True))
    expected = set(CENTRAL_CITY + PLAIN_DISTRICTS + SPLIT_DISTRICTS + CONSERVATION + [SUB_CENTER_DISTRICT])
    missing = sorted(expected - set(geom))
    if missing:
        raise ValueError(f"districts lack {', '.join(missing)}: the 圈层 are derived from all 16 districts")

    mountain = {name: _mountain_side(_to_metric(PIEDMONT_LINES[name], crs)) for name in SPLIT_DISTRICTS}
    hills = {name: shapely.intersection(geom[name], mountain[name]) for name in SPLIT_DISTRICTS}
    plains = {name: shapely.difference(geom[name], mountain[name]) for name in SPLIT_DISTRICTS}
    sc = sub_center(geom[SUB_CENTER_DISTRICT], crs)

    def share(name):
        return f"{hills[name].area / geom[name].area:.0%}"

    rows = [
        ("核心区", shapely.union_all([geom[n] for n in CORE]), "东城区、西城区", "exact"),
        ("中心城区", shapely.union_all([geom[n] for n in CENTRAL_CITY]), "东城区、西城区、朝阳区、海淀区、丰台区、石景山区（城六区，含核心区）", "exact"),
        ("城市副中心", sc, f"通州区的一部分：以(116.73E, 39.91N)为中心、面积{SUB_CENTER_KM2:g}平方公里的近似范围", "approximate"),
        (
            "平原新城",
            shapely.union_all([geom[n] for n in PLAIN_DISTRICTS] + [shapely.difference(geom[SUB_CENTER_DISTRICT], sc)] + list(plains.values())),
            "顺义区、大兴区（含亦庄）、通州区（副中心以外）、昌平区和房山区的平原部分",
            "approximate",
        ),
        (
            "生态涵养区",
            shapely.union_all([geom[n] for n in CONSERVATION] + list(hills.values())),
            f"门头沟区、平谷区、怀柔区、密云区、延庆区，及昌平区（{share('昌平区')}）和房山区（{share('房山区')}）的山区部分",
            "approximate",
        ),
    ]
    out = gpd.GeoDataFrame(
        pd.DataFrame(
            {
                "ring": [r[0] for r in rows],
                "districts": [r[2] for r in rows],
                "area_km2": [round(r[1].area / 1e6, 1) for r in rows],
                "basis": [r[3] for r in rows],
            }
        ),
        geometry=[shapely.normalize(r[1]) for r in rows],
        crs=crs,
    )
    return out


def rings_notes(rings: gpd.GeoDataFrame) -> list[str]:
    """The approximations, as notes for the layer registry."""
    return [
        "圈层 derived from the 16 districts by planwatch.onemap.rings: 核心区 = 东城+西城; 中心城区 = 城六区 (contains 核心区)",
        f"城市副中心 approximated: a disc around 116.73E 39.91N cut to 通州, {SUB_CENTER_KM2:g} km² (no published boundary)",
        "平原新城 = 顺义 + 大兴 (with 亦庄) + the rest of 通州 + the plain parts of 昌平 and 房山",
        "生态涵养区 = 门头沟 平谷 怀柔 密云 延庆 + the mountain parts of 昌平 and 房山, split along a hand-drawn "
        "piedmont line (±1–2 km): " + "; ".join(f"{r.ring} {r.area_km2} km²" for r in rings.itertuples()),
    ]
