"""Coverage: for every origin (residential block, grid cell, population point) the distance to its
nearest destination (park, station, service facility), whether that is within reach, and the
covered share weighted by area or by a population column — for the city, each district and each
圈层.

Two distances, which give different numbers and are always named in the result's ``method``:

- ``euclidean`` (straight line): from the origin's point to the nearest point of the nearest
  destination geometry (0 inside a destination polygon), by an STRtree nearest-neighbour search
  in the metric CRS.
- ``network`` (walking): over a :class:`~planwatch.indicators.network.Network`. Origins and
  destination points snap to the nearest edge (or node); the straight snap distance is *added* at
  both ends (see :mod:`planwatch.indicators.routing`). A polygon destination (a park) is entered at
  points along its boundary every ``entrance_spacing_m`` metres — its edge stands in for its
  gates — and an origin inside a destination polygon is at distance 0, as for ``euclidean``.

The origin's point is its representative point (``shapely.point_on_surface``: inside the polygon,
the centroid when that is inside); a whole origin counts as covered or not, so the share is the
share of origin *features* (weighted), not of area cut by a buffer. The same point places an
origin in its district and 圈层. For the area of a region within a distance of points (the share
of a district within 800 m of a station) use :func:`area_within_distance`, which is exact.

All inputs in one metric CRS (metres).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planwatch.indicators.network import Network, snap_points
from planwatch.indicators.routing import nearest_destination_distance

ENTRANCE_SPACING_M = 100.0
CITY = "全市"
LEVELS = ("全市", "区", "圈层")


class CoverageInputError(ValueError):
    """Inputs coverage cannot use; the message names the layer, the feature or the column."""


def network_in_one_process(engine: str) -> str:
    """The refusal of network coverage on another engine than the default."""
    return (f"the network method runs in one process only; the {engine} engine computes the area overlays and the "
            f"straight-line (euclidean) coverage: drop --engine {engine} for --method network, or use --method euclidean")


@dataclass
class CoverageResult:
    """``origins``: the origin features with ``distance_m`` (inf: unreachable), ``covered``,
    ``weight`` and, for network, ``snap_m``; plus ``district`` / ``ring`` when given. ``shares``:
    one row per (level, geo) with the covered share in % (``share_pct``). ``warnings``: what a user
    must know (unreachable origins, origins far from any road)."""

    origins: gpd.GeoDataFrame
    shares: pd.DataFrame
    method: str
    within_m: float
    weight: str
    warnings: list[str] = field(default_factory=list)

    def share(self, level: str = CITY, geo: str = CITY) -> float:
        row = self.shares[(self.shares["level"] == level) & (self.shares["geo"] == geo)]
        return float(row["share_pct"].iloc[0]) if len(row) else float("nan")


# ------------------------------------------------------------------ inputs


def parse_distance(text: str | float | int) -> float:
    """``500m``, ``0.8km``, ``800`` (metres) → metres."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        s = str(text).strip().lower().replace(" ", "")
        scale = 1.0
        if s.endswith("km"):
            s, scale = s[:-2], 1000.0
        elif s.endswith("m"):
            s = s[:-1]
        try:
            value = float(s) * scale
        except ValueError:
            raise CoverageInputError(f"distance {text!r}: expected metres like 500m, 0.8km or 500") from None
    if not np.isfinite(value) or value <= 0:
        raise CoverageInputError(f"distance {text!r}: must be a positive number of metres")
    return value


def origin_points(origins: gpd.GeoDataFrame, name: str = "origins") -> np.ndarray:
    """(n, 2) coordinates of each origin's representative point; refuses empty or missing geometries."""
    if len(origins) == 0:
        raise CoverageInputError(f"{name}: the layer has no features")
    geoms = np.asarray(origins.geometry.values, dtype=object)
    bad = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(bad):
        raise CoverageInputError(f"{name}: {len(bad)} feature(s) have no geometry, e.g. {_label(origins, bad[0])}")
    pts = shapely.point_on_surface(geoms)
    return shapely.get_coordinates(pts)


def destination_points(destinations: gpd.GeoDataFrame, spacing_m: float = ENTRANCE_SPACING_M) -> tuple[np.ndarray, np.ndarray]:
    """Points where the network meets each destination: points themselves, lines and polygon
    boundaries every ``spacing_m`` (vertices included). Returns ((k, 2) coordinates, feature index)."""
    geoms = np.asarray(destinations.geometry.values, dtype=object)
    kind = shapely.get_type_id(geoms)
    polygonal = np.isin(kind, [3, 6])
    lineal = shapely.boundary(geoms[polygonal]) if polygonal.any() else np.array([], dtype=object)
    parts = geoms.copy()
    parts[polygonal] = lineal
    is_line = np.isin(shapely.get_type_id(parts), [1, 2, 5])
    parts[is_line] = shapely.segmentize(parts[is_line], spacing_m)
    coords, index = shapely.get_coordinates(parts, return_index=True)
    # drop repeated points of one feature (closed rings repeat their first vertex)
    frame = pd.DataFrame({"i": index, "x": np.round(coords[:, 0], 3), "y": np.round(coords[:, 1], 3)})
    keep = ~frame.duplicated().to_numpy()
    return coords[keep], index[keep]


def _label(gdf: gpd.GeoDataFrame, i: int) -> str:
    for col in ("id", "name", "district"):
        if col in gdf.columns:
            return f"feature {i + 1} ({col}={gdf[col].iloc[i]!r})"
    return f"feature {i + 1}"


def origin_weights(origins: gpd.GeoDataFrame, weight: str, name: str = "origins") -> np.ndarray:
    """``area`` (m² of each polygon) or a numeric, non-negative column such as population."""
    if weight == "area":
        kinds = set(shapely.get_type_id(np.asarray(origins.geometry.values, dtype=object)).tolist())
        if not kinds <= {3, 6}:
            raise CoverageInputError(
                f"{name}: area weighting needs polygons, but the layer holds points or lines; "
                "weight by a population column instead (--weight COLUMN)"
            )
        return origins.geometry.area.to_numpy(float)
    if weight not in origins.columns:
        cols = ", ".join(str(c) for c in origins.columns if c != origins.geometry.name) or "(none)"
        raise CoverageInputError(f"{name}: has no column {weight!r} to weight by; its columns are: {cols}")
    w = pd.to_numeric(origins[weight], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if len(bad):
        raise CoverageInputError(
            f"{name}: column {weight!r} must hold non-negative numbers; {len(bad)} feature(s) do not, "
            f"e.g. {_label(origins, bad[0])}: {origins[weight].iloc[bad[0]]!r}"
        )
    if w.sum() <= 0:
        raise CoverageInputError(f"{name}: column {weight!r} sums to 0; there is nothing to weight")
    return w


# ------------------------------------------------------------------ distances


def euclidean_distances(points: np.ndarray, destinations: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Straight-line distance (m) from each point to the nearest destination geometry, and that
    destination's row position."""
    tree = shapely.STRtree(np.asarray(destinations.geometry.values, dtype=object))
    (i, j), dist = tree.query_nearest(shapely.points(points), return_distance=True, all_matches=False)
    out_d = np.full(len(points), np.inf)
    out_j = np.full(len(points), -1, dtype=np.int64)
    out_d[i], out_j[i] = dist, j
    return out_d, out_j


def network_distances(
    points: np.ndarray,
    destinations: gpd.GeoDataFrame,
    network: Network,
    *,
    snap: str = "edge",
    entrance_spacing_m: float = ENTRANCE_SPACING_M,
) -> tuple[np.ndarray, np.ndarray]:
    """Walking distance (m) from each point to the nearest destination over ``network``, both snap
    distances added; 0 for points inside a destination polygon. Returns (distance, snap distance)."""
    dxy, _ = destination_points(destinations, entrance_spacing_m)
    o = snap_points(network, points, snap)
    d = snap_points(network, dxy, snap)
    dist = nearest_destination_distance(network, o, d)
    inside = _inside_polygons(points, destinations)
    dist[inside] = 0.0
    return dist, o.snap_m


def _inside_polygons(points: np.ndarray, destinations: gpd.GeoDataFrame) -> np.ndarray:
    geoms = np.asarray(destinations.geometry.values, dtype=object)
    polys = geoms[np.isin(shapely.get_type_id(geoms), [3, 6])]
    out = np.zeros(len(points), bool)
    if len(polys):
        i, _ = shapely.STRtree(polys).query(shapely.points(points), predicate="intersects")
        out[i] = True
    return out


# ------------------------------------------------------------------ coverage


def coverage(
    origins: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    within_m: float,
    *,
    method: str = "euclidean",
    weight: str = "area",
    network: Network | None = None,
    districts: gpd.GeoDataFrame | None = None,
    rings: gpd.GeoDataFrame | None = None,
    snap: str = "edge",
    entrance_spacing_m: float = ENTRANCE_SPACING_M,
    names: tuple[str, str] = ("origins", "destinations"),
    engine=None,
) -> CoverageResult:
    """Distance from every origin to its nearest destination, covered (≤ ``within_m``) or not, and
    the covered share weighted by ``weight`` (``area`` or a column) for the city, each district
    (``districts``, column ``district``) and each 圈层 (``rings``, column ``ring``; 核心区 lies
    inside 中心城区 and counts in both). All layers in one metric CRS.

    Raises :class:`CoverageInputError` on unusable input (no origins or destinations, a missing
    weight column, different CRSs, a network method without a network, no origin reaching any
    destination). Unreachable origins and origins far from any road are warnings in the result:
    they count as not covered, and the warning says how many and how much weight they carry.

    ``engine``: what computes the straight-line distances (its ``euclidean_distances``, e.g.
    :class:`~planwatch.indicators.scale.DaskEngine`); None: :func:`euclidean_distances` in this
    process. The network method has no other engine: with one, it is refused."""
    o_name, d_name = names
    within_m = parse_distance(within_m)
    if method not in ("euclidean", "network"):
        raise CoverageInputError(f"method must be euclidean or network, not {method!r}")
    if method == "network" and engine is not None:
        raise CoverageInputError(network_in_one_process(engine.name))
    if destinations is None or len(destinations) == 0:
        raise CoverageInputError(f"{d_name}: the destination layer has no features; nothing can be reached")
    d_geoms = np.asarray(destinations.geometry.values, dtype=object)
    if (shapely.is_missing(d_geoms) | shapely.is_empty(d_geoms)).all():
        raise CoverageInputError(f"{d_name}: every destination geometry is empty")
    destinations = destinations[~(shapely.is_missing(d_geoms) | shapely.is_empty(d_geoms))]
    for gdf, nm in ((destinations, d_name), (districts, "districts"), (rings, "rings")):
        if gdf is not None and origins.crs is not None and gdf.crs is not None and gdf.crs != origins.crs:
            raise CoverageInputError(f"{nm} is in {gdf.crs.to_string()}, {o_name} in {origins.crs.to_string()}: use one metric CRS")
    if origins.crs is not None and origins.crs.is_geographic:
        raise CoverageInputError(f"{o_name}: the CRS is geographic (degrees); distances need a metric CRS")
    weights = origin_weights(origins, weight, o_name)
    pts = origin_points(origins, o_name)
    warnings: list[str] = []
    out = origins.copy()
    if method == "euclidean":
        dist, nearest = (engine.euclidean_distances if engine is not None else euclidean_distances)(pts, destinations)
        label = f"straight-line (euclidean) distance ≤ {within_m:g} m to the nearest {d_name} geometry"
        if "id" in destinations.columns:
            out["nearest"] = np.where(nearest >= 0, destinations["id"].to_numpy(object)[np.maximum(nearest, 0)], None)
    else:
        if network is None:
            raise CoverageInputError("network coverage needs a road network (--roads LAYER)")
        dist, snap_m = network_distances(pts, destinations, network, snap=snap, entrance_spacing_m=entrance_spacing_m)
        out["snap_m"] = snap_m
        label = (
            f"walking network distance ≤ {within_m:g} m (multi-source Dijkstra, scipy CSR; {network.describe()}; "
            f"snapped to the nearest {snap}, snap distance added at both ends; polygon {d_name} entered along "
            f"their boundary every {entrance_spacing_m:g} m)"
        )
        unreachable = ~np.isfinite(dist)
        if unreachable.all():
            n_comp, _ = network.components()
            raise CoverageInputError(
                f"no {o_name} feature reaches any {d_name} feature over the network ({n_comp} connected components): "
                "the road layer may not connect them, or may not cover the area"
            )
        if unreachable.any():
            n_comp, _ = network.components()
            warnings.append(
                f"{int(unreachable.sum())} of {len(out)} {o_name} features ({weights[unreachable].sum() / weights.sum():.1%} "
                f"of the weight) cannot reach any {d_name} feature: the network has {n_comp} connected components. "
                "They count as not covered."
            )
        far = np.isfinite(dist) & (snap_m > within_m)
        if far.any():
            warnings.append(
                f"{int(far.sum())} {o_name} features lie more than {within_m:g} m from the nearest road, so they cannot be covered"
            )
    out["distance_m"] = dist
    out["covered"] = dist <= within_m
    out["weight"] = weights
    out["reachable"] = np.isfinite(dist)
    out["district"] = _assign(pts, districts, "district")
    ring_sets = _assign_all(pts, rings, "ring")
    out["ring"] = ["、".join(s) for s in ring_sets]
    shares = _shares(out, ring_sets, districts, rings)
    return CoverageResult(
        origins=out, shares=shares, method=label, within_m=within_m, weight=weight, warnings=warnings
    )


def _assign(points: np.ndarray, zones: gpd.GeoDataFrame | None, col: str) -> np.ndarray:
    """The ``col`` value of the zone containing each point (the first, if zones overlap); "" when none."""
    out = np.full(len(points), "", dtype=object)
    if zones is None or len(zones) == 0:
        return out
    if col not in zones.columns:
        raise CoverageInputError(f"the {col} layer has no column {col!r}")
    i, j = shapely.STRtree(np.asarray(zones.geometry.values, dtype=object)).query(shapely.points(points), predicate="intersects")
    order = np.lexsort((j, i))
    first = np.unique(i[order], return_index=True)[1]  # the lowest zone index per point
    out[i[order][first]] = zones[col].astype(str).to_numpy()[j[order][first]]
    return out


def _assign_all(points: np.ndarray, zones: gpd.GeoDataFrame | None, col: str) -> list[list[str]]:
    """Every ``col`` value of the zones containing each point (圈层 overlap: 核心区 ⊂ 中心城区)."""
    out: list[list[str]] = [[] for _ in range(len(points))]
    if zones is None or len(zones) == 0:
        return out
    if col not in zones.columns:
        raise CoverageInputError(f"the {col} layer has no column {col!r}")
    i, j = shapely.STRtree(np.asarray(zones.geometry.values, dtype=object)).query(shapely.points(points), predicate="intersects")
    values = zones[col].astype(str).to_numpy()
    order = np.lexsort((j, i))
    for a, b in zip(i[order], j[order], strict=True):
        if values[b] not in out[a]:
            out[a].append(values[b])
    return out


def _share_row(level: str, geo: str, frame: pd.DataFrame) -> dict:
    w = frame["weight"].to_numpy(float)
    cov = frame["covered"].to_numpy(bool)
    total = w.sum()
    return {
        "level": level, "geo": geo, "origins": len(frame), "covered": int(cov.sum()),
        "unreachable": int((~frame["reachable"].to_numpy(bool)).sum()),
        "weight_total": total, "weight_covered": w[cov].sum(),
        "share_pct": 100.0 * w[cov].sum() / total if total > 0 else float("nan"),
    }


def _shares(out: gpd.GeoDataFrame, ring_sets, districts, rings) -> pd.DataFrame:
    rows = [_share_row("全市", CITY, out)]
    if districts is not None and len(districts):
        for d in districts["district"].astype(str):
            sel = out[out["district"] == d]
            if len(sel):
                rows.append(_share_row("区", d, sel))
    if rings is not None and len(rings):
        for r in rings["ring"].astype(str):
            mask = np.array([r in s for s in ring_sets], dtype=bool)
            if mask.any():
                rows.append(_share_row("圈层", r, out[mask]))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ area within a distance


def area_within_distance(
    areas: gpd.GeoDataFrame, targets: gpd.GeoDataFrame, radius_m: float, *, by: str, quad_segs: int = 16
) -> pd.DataFrame:
    """For each area feature (one row per value of ``by``), its area, the part within ``radius_m``
    of any target geometry, and the share: the exact overlay of the area with the union of the
    buffers (``quad_segs`` segments per quarter circle: a 16-gon quarter loses < 0.2 % of a disc's
    area). Columns: ``by``, area_km2, covered_km2, share_pct, targets (how many lie inside)."""
    radius_m = parse_distance(radius_m)
    if targets is None or len(targets) == 0:
        raise CoverageInputError("the target layer (e.g. rail stations) has no features")
    if areas.crs is not None and targets.crs is not None and areas.crs != targets.crs:
        raise CoverageInputError(f"areas are in {areas.crs.to_string()}, targets in {targets.crs.to_string()}: use one metric CRS")
    t = np.asarray(targets.geometry.values, dtype=object)
    if shapely.get_type_id(t).max() == 0:  # points: one buffer per distinct location
        t = shapely.points(np.unique(np.round(shapely.get_coordinates(t), 2), axis=0))
    reach = shapely.union_all(shapely.buffer(t, radius_m, quad_segs=quad_segs))
    shapely.prepare(reach)
    geoms = np.asarray(areas.geometry.values, dtype=object)
    area = shapely.area(geoms)
    covered = shapely.area(shapely.intersection(geoms, reach))
    tree = shapely.STRtree(geoms)
    i, j = tree.query(np.asarray(targets.geometry.values, dtype=object), predicate="intersects")
    counts = np.bincount(j, minlength=len(geoms)) if len(j) else np.zeros(len(geoms), dtype=int)
    frame = pd.DataFrame({by: areas[by].astype(str).to_numpy(), "area_km2": area / 1e6, "covered_km2": covered / 1e6, "targets": counts})
    frame = frame.groupby(by, sort=False, as_index=False).sum()
    frame["share_pct"] = 100.0 * frame["covered_km2"] / frame["area_km2"]
    return frame[[by, "area_km2", "covered_km2", "share_pct", "targets"]]
