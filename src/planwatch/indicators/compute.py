"""Spatial indicators and land statistics, computed from the one map's layers (capability 9).

What is computed, and from which layers, is data in the plan package (``indicators.yaml``, read by
:func:`planwatch.plan.indicators.load_indicator_specs`). This module turns layers into numbers:

- :func:`overlay_areas`: the area of features inside zones (districts, 圈层, 两线三区), an exact
  overlay: the zones cut into small pieces (the review engines' :func:`subdivide`), an STRtree, a
  feature lying wholly inside a piece taken at its own area and only the rest intersected (it
  equals ``geopandas.overlay(how="intersection")``);
- :func:`land_statistics`: construction land and land use by district, 圈层, land-use class and
  两线三区 zone, as one tidy table;
- :func:`compute_indicators`: every computable indicator, by city, district and 圈层, with the
  method and the layers (type@content-hash) it used; :func:`observation_rows` and
  :func:`store_indicators` turn the run into observations (city rows; district rows for rates the
  package marks ``store_districts``; 圈层 rows are printed only, since an observation's geo is 全市
  or a district);
- :func:`station_coverage_table`: the share of each district's area within 800 m of a rail
  station, on the real districts and stations.

Areas in km² and shares in % (the plan's units), measured in the plan's metric CRS.
:func:`land_statistics` and :func:`compute_indicators` take an ``engine`` that runs the overlays
and coverage's straight-line distances: None is this process, :class:`~planwatch.indicators.scale.DaskEngine`
partitions them by space (with the same results).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planwatch import __version__
from planwatch.indicators.coverage import (
    CoverageInputError,
    area_within_distance,
    coverage,
    network_in_one_process,
    parse_distance,
)
from planwatch.indicators.network import Network, NetworkError, network_from_lines
from planwatch.onemap.review.subdivide import subdivide
from planwatch.plan.indicators import IndicatorSpec, IndicatorSpecs, load_indicator_specs
from planwatch.plan.model import Plan
from planwatch.store.base import (
    OBSERVATION_COLUMNS,
    SYNTHETIC_MARK,
    Store,
    layer_content_hash,
)

SOURCE = "planwatch indicators compute"
SOURCE_LABEL = {"euclidean": "直线距离", "network": "路网距离", "area": "图层面积统计"}
CITY = "全市"
RESULT_COLUMNS = [
    "indicator", "name", "level", "geo", "value", "unit", "numerator", "denominator", "basis",
    "method", "layers", "synthetic",
]


class IndicatorInputError(ValueError):
    """A layer the computation cannot use; the message names the layer type, feature and field."""


# ------------------------------------------------------------------ layers


class LayerSource:
    """The layers of one computation, from a store or a dict of GeoDataFrames (read once each), in
    the plan's metric CRS, with their provenance tag ``type@hash8`` and synthetic flag."""

    def __init__(self, store_or_layers, plan: Plan):
        self.source = store_or_layers
        self.plan = plan
        self._cache: dict[str, gpd.GeoDataFrame | None] = {}

    def get(self, layer_type: str) -> gpd.GeoDataFrame | None:
        if layer_type not in self._cache:
            gdf = None
            if isinstance(self.source, Mapping):
                gdf = self.source.get(layer_type)
            elif self.source is not None:
                try:
                    gdf = self.source.read_layer(layer_type)
                except KeyError:
                    gdf = None
            if gdf is not None and len(gdf) and gdf.crs is not None and gdf.crs != self.plan.spatial.metric_crs:
                attrs = dict(gdf.attrs)
                gdf = gdf.to_crs(self.plan.spatial.metric_crs)
                gdf.attrs.update(attrs)
            self._cache[layer_type] = gdf if gdf is not None and len(gdf) else None
        return self._cache[layer_type]

    def need(self, layer_type: str, why: str) -> gpd.GeoDataFrame:
        gdf = self.get(layer_type)
        if gdf is None:
            name = _layer_name(self.plan, layer_type)
            raise MissingLayer(layer_type, f"{why} needs the layer {layer_type} ({name}), which is not loaded: "
                                           f"planwatch layers import FILE --as {layer_type}")
        if gdf.crs is None:
            raise IndicatorInputError(f"layer {layer_type}: has no CRS")
        return gdf

    def tag(self, layer_type: str) -> str:
        gdf = self.get(layer_type)
        if gdf is None:
            return f"{layer_type}@-"
        meta = gdf.attrs.get("layer") or {}
        h = meta.get("content_hash") if isinstance(meta, Mapping) else None
        if not h:
            h = layer_content_hash(gdf)
            gdf.attrs.setdefault("layer", {})
            if isinstance(gdf.attrs["layer"], dict):
                gdf.attrs["layer"]["content_hash"] = h
        return f"{layer_type}@{h[:8]}"

    def synthetic(self, layer_type: str) -> bool:
        gdf = self.get(layer_type)
        if gdf is None:
            return False
        meta = gdf.attrs.get("layer") or {}
        return bool((isinstance(meta, Mapping) and meta.get("synthetic")) or gdf.attrs.get("synthetic"))


def layer_or_file(spec: str, store, plan: Plan) -> gpd.GeoDataFrame:
    """A stored layer type (its id or the plan's name, e.g. ``parks`` or ``公园绿地``) or a vector file
    (GeoPackage, Shapefile, GeoJSON, GeoParquet), in the plan's metric CRS. Raises
    :class:`IndicatorInputError` naming what was not found or not readable."""
    from planwatch.onemap.layers import LayerImportError, read_vector, split_layer_spec

    file, _ = split_layer_spec(spec)
    if file.exists():
        try:
            gdf, _ = read_vector(spec)
        except LayerImportError as e:
            raise IndicatorInputError(str(e)) from e
        if gdf.crs is None:
            raise IndicatorInputError(f"{file} has no CRS; import it with planwatch layers import {file} --as TYPE --crs EPSG:…")
        gdf = gdf.to_crs(plan.spatial.metric_crs)
        gdf.attrs["layer"] = {"layer_type": file.name, "synthetic": False}
        return gdf
    type_id = spec
    try:
        type_id = plan.spatial.layer_type(spec).id
    except KeyError:
        pass
    gdf = LayerSource(store, plan).get(type_id)
    if gdf is None:
        raise IndicatorInputError(f"{spec!r} is neither a file nor a layer in the store (planwatch layers list shows the stored layers)")
    return gdf


class MissingLayer(LookupError):
    def __init__(self, layer_type: str, message: str):
        super().__init__(message)
        self.layer_type = layer_type


def _layer_name(plan: Plan, layer_type: str) -> str:
    try:
        return plan.spatial.layer_type(layer_type).name
    except KeyError:
        return layer_type


# ------------------------------------------------------------------ areas


def overlay_areas(features: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, zone_col: str, *, by: str | None = None) -> pd.DataFrame:
    """Area (km²) of ``features`` inside each value of ``zones[zone_col]`` (and each value of
    ``features[by]``): the sum over feature × zone pairs of their intersection area. Overlapping
    features or zones are counted once per pair, as ``geopandas.overlay(how="intersection")`` does.
    Both in one metric CRS. Columns: ``zone_col``, (``by``), ``area_km2``; rows in the order of the
    zones (and of the classes) in their layers; zone values with no feature are absent."""
    empty = overlay_inputs(features, zones, zone_col, by)
    if empty is not None:
        return empty
    f = np.asarray(features.geometry.values, dtype=object)
    # the review engines' ST_Subdivide-like cut: small pieces, so intersections stay cheap
    z, owner = subdivide(np.asarray(zones.geometry.values, dtype=object))
    fi, zj = shapely.STRtree(f).query(z, predicate="intersects")[::-1]
    shapely.prepare(z)
    frame = pd.DataFrame({zone_col: zones[zone_col].astype(str).to_numpy()[owner[zj]], "area_km2": pair_areas(f[fi], z[zj]) / 1e6})
    if by:
        frame[by] = features[by].astype(str).to_numpy()[fi]
    return summed_areas(frame, zones, zone_col, features, by)


def overlay_inputs(features, zones, zone_col: str, by: str | None) -> pd.DataFrame | None:
    """The empty result when there is nothing to overlay, None when there is; refuses a missing column."""
    cols = [zone_col] + ([by] if by else [])
    if features is None or zones is None or len(features) == 0 or len(zones) == 0:
        return pd.DataFrame(columns=[*cols, "area_km2"])
    if zone_col not in zones.columns:
        raise IndicatorInputError(f"the zone layer has no column {zone_col!r}")
    if by and by not in features.columns:
        raise IndicatorInputError(f"the feature layer has no column {by!r}")
    return None


def pair_areas(features: np.ndarray, pieces: np.ndarray) -> np.ndarray:
    """Intersection area (m²) of each feature with the zone piece beside it (two aligned arrays; the
    pieces prepared): a feature wholly inside its piece at its own area, the rest intersected."""
    inside = shapely.contains(pieces, features)
    area = np.empty(len(features))
    area[inside] = shapely.area(features[inside])
    rest = ~inside
    area[rest] = shapely.area(shapely.intersection(features[rest], pieces[rest]))
    return area


def summed_areas(frame: pd.DataFrame, zones: gpd.GeoDataFrame, zone_col: str, features: gpd.GeoDataFrame,
                 by: str | None = None) -> pd.DataFrame:
    """``frame`` (columns ``zone_col``, (``by``), ``area_km2``: pairs or partial sums) summed by zone
    (and class), in the order of the zones in ``zones`` and of the classes in ``features``."""
    cols = [zone_col] + ([by] if by else [])
    out = frame.groupby(cols, sort=False, as_index=False)["area_km2"].sum()
    ranks = [_first_seen(zones[zone_col], out[zone_col])]
    if by:
        ranks.append(_first_seen(features[by], out[by]))
    return out.iloc[np.lexsort(ranks[::-1])].reset_index(drop=True)


def _first_seen(layer_values: pd.Series, values: pd.Series) -> np.ndarray:
    """The position of each of ``values`` among the distinct values of a layer's column, in layer order."""
    rank = {v: i for i, v in enumerate(pd.unique(layer_values.astype(str)))}
    return values.map(rank).to_numpy(dtype=np.int64)


def zone_areas(zones: gpd.GeoDataFrame, zone_col: str) -> pd.Series:
    """Area (km²) of each value of ``zones[zone_col]`` (features of one value summed)."""
    return pd.Series(zones.geometry.area.to_numpy() / 1e6, index=zones[zone_col].astype(str).to_numpy()).groupby(level=0, sort=False).sum()


def _select(gdf: gpd.GeoDataFrame, where: dict[str, list[str]], layer_type: str) -> gpd.GeoDataFrame:
    for attr, values in where.items():
        if attr not in gdf.columns:
            cols = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name)
            raise IndicatorInputError(f"layer {layer_type}: has no attribute {attr!r} (its columns: {cols})")
        gdf = gdf[gdf[attr].astype(str).isin(values)]
    return gdf


def _ring_zones(rings: gpd.GeoDataFrame | None, names: list[str] | None = None) -> gpd.GeoDataFrame | None:
    if rings is None:
        return None
    if "ring" not in rings.columns:
        raise IndicatorInputError("layer rings: has no attribute 'ring'")
    return rings if names is None else rings[rings["ring"].astype(str).isin(names)]


def _clip_zones(zones: gpd.GeoDataFrame, col: str, region: shapely.Geometry) -> gpd.GeoDataFrame:
    """Each zone cut to ``region``; empty pieces dropped."""
    pieces = shapely.intersection(np.asarray(zones.geometry.values, dtype=object), region)
    out = gpd.GeoDataFrame({col: zones[col].astype(str).to_numpy()}, geometry=pieces, crs=zones.crs)
    return out[~shapely.is_empty(pieces) & (shapely.area(pieces) > 0)].reset_index(drop=True)


def land_use_check(land_use: gpd.GeoDataFrame, specs: IndicatorSpecs) -> None:
    """The land-use layer's class attribute must exist and hold only classes of the mapping table."""
    lu = specs.land_use
    if lu.attribute not in land_use.columns:
        cols = ", ".join(str(c) for c in land_use.columns if c != land_use.geometry.name)
        raise IndicatorInputError(f"layer {lu.layer}: has no attribute {lu.attribute!r} with the land-use class (its columns: {cols})")
    known = {c.name for c in lu.classes}
    values = land_use[lu.attribute].astype(str)
    unknown = sorted(set(values) - known)
    if unknown:
        first = int(np.flatnonzero(values.isin(unknown).to_numpy())[0])
        raise IndicatorInputError(
            f"layer {lu.layer}: {len(unknown)} land-use class(es) not in the plan's mapping table (indicators.yaml "
            f"land_use.classes): {', '.join(unknown[:10])}; e.g. feature {first + 1}; add them to the table with their groups"
        )


def land_statistics(store_or_layers, plan: Plan, specs: IndicatorSpecs | None = None, *, engine=None) -> pd.DataFrame:
    """Land statistics as one tidy table (columns ``layer``, ``level``, ``geo``, ``class``,
    ``area_km2``): construction land and land use (by class) for the city, by district, by 圈层 and
    by 两线三区 zone (level ``两线三区``). Layers not loaded are left out. ``engine``: what runs the
    overlays (its ``overlay_areas``, e.g. :class:`~planwatch.indicators.scale.DaskEngine`); None:
    :func:`overlay_areas` in this process."""
    specs = specs or load_indicator_specs(plan.meta.id)
    areas = engine.overlay_areas if engine is not None else overlay_areas
    src = store_or_layers if isinstance(store_or_layers, LayerSource) else LayerSource(store_or_layers, plan)
    districts, rings, zones = src.get("districts"), src.get("rings"), src.get("two_lines_three_zones")
    rows = []
    subjects = [("construction_land", None)]
    if specs.land_use is not None:
        subjects.append((specs.land_use.layer, specs.land_use.attribute))
    for layer_type, by in subjects:
        gdf = src.get(layer_type)
        if gdf is None:
            continue
        if by is not None:
            land_use_check(gdf, specs)
        for level, z, col in (("区", districts, "district"), ("圈层", rings, "ring"), ("两线三区", zones, "zone")):
            if z is None:
                continue
            a = areas(gdf, z, col, by=by).rename(columns={col: "geo"})
            a["class"] = a[by] if by else ""
            a = a.assign(layer=layer_type, level=level)[["layer", "level", "geo", "class", "area_km2"]]
            rows.append(a)
            if level == "区":
                city = a.groupby("class", sort=False, as_index=False)["area_km2"].sum().assign(layer=layer_type, level=CITY, geo=CITY)
                rows.append(city[["layer", "level", "geo", "class", "area_km2"]])
        if districts is None:
            a = pd.DataFrame({"class": gdf[by].astype(str) if by else "", "area_km2": gdf.geometry.area / 1e6})
            a = a.groupby("class", sort=False, as_index=False)["area_km2"].sum().assign(layer=layer_type, level=CITY, geo=CITY)
            rows.append(a[["layer", "level", "geo", "class", "area_km2"]])
    if not rows:
        return pd.DataFrame(columns=["layer", "level", "geo", "class", "area_km2"])
    out = pd.concat(rows, ignore_index=True)
    order = {CITY: 0, "区": 1, "圈层": 2, "两线三区": 3}
    return out.sort_values(["layer", "level", "class"], key=lambda s: s.map(order) if s.name == "level" else s, kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------ station coverage (real data)


def station_coverage_table(store_or_layers, plan: Plan, radius_m: float = 800) -> pd.DataFrame:
    """The share of each district's area within ``radius_m`` (straight line) of a rail station:
    columns ``district``, ``area_km2``, ``covered_km2``, ``share`` (%), ``stations`` (how many lie in
    the district), one row per district in the plan's order and a last row 全市. Reads the
    ``districts`` and ``rail_stations`` layers from a store or dict, or — given None — the real ones
    shipped in the plan package. Exact: the districts overlaid with the union of 16-gon buffers."""
    if store_or_layers is None:
        from planwatch.demo.onemap import read_base_layers

        store_or_layers = read_base_layers(plan)
    src = store_or_layers if isinstance(store_or_layers, LayerSource) else LayerSource(store_or_layers, plan)
    radius_m = parse_distance(radius_m)
    districts = src.need("districts", "station coverage")
    stations = src.need("rail_stations", "station coverage")
    t = area_within_distance(districts, stations, radius_m, by="district")
    order = {d: i for i, d in enumerate(plan.meta.districts)}
    t = t.sort_values("district", key=lambda s: s.map(order).fillna(len(order)), kind="stable").reset_index(drop=True)
    # stations = distinct station names (the shipped layer has one point per station per line)
    key = stations["name"].astype(str).to_numpy() if "name" in stations.columns else shapely.to_wkb(stations.geometry.values)
    where = _assign_points(stations, districts, "district")
    per = pd.Series(key).groupby(where).nunique()
    t["targets"] = t["district"].map(per).fillna(0).astype(int)
    total = pd.DataFrame([{
        "district": CITY, "area_km2": t["area_km2"].sum(), "covered_km2": t["covered_km2"].sum(),
        "targets": int(pd.Series(key)[where != ""].nunique()),
    }])
    total["share_pct"] = 100 * total["covered_km2"] / total["area_km2"]
    t = pd.concat([t, total], ignore_index=True).rename(columns={"share_pct": "share", "targets": "stations"})
    t.attrs["method"] = (
        f"straight-line {radius_m:g} m buffers (16-gon) around every distinct rail station location, overlaid with the "
        f"districts; layers {src.tag('districts')}, {src.tag('rail_stations')}; planwatch {__version__}"
    )
    t.attrs["synthetic"] = src.synthetic("districts") or src.synthetic("rail_stations")
    return t[["district", "area_km2", "covered_km2", "share", "stations"]]


def _assign_points(points: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, col: str) -> np.ndarray:
    """The ``col`` value of the zone each point lies in ("" outside every zone)."""
    out = np.full(len(points), "", dtype=object)
    i, j = shapely.STRtree(np.asarray(zones.geometry.values, dtype=object)).query(
        np.asarray(points.geometry.values, dtype=object), predicate="intersects"
    )
    out[i] = zones[col].astype(str).to_numpy()[j]
    return out


# ------------------------------------------------------------------ indicators


@dataclass
class IndicatorRun:
    """A computation of the package's spatial indicators: ``results`` (columns
    :data:`RESULT_COLUMNS`, one row per indicator × level × geo), the indicators ``skipped`` with
    the reason (a layer not loaded), and ``warnings`` (unreachable origins, …)."""

    method: str
    results: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # target → the observation note


def _rows(spec: IndicatorSpec, plan: Plan, values: list[tuple[str, str, float, float, float]], basis: str, method: str,
          layers: list[str], synthetic: bool) -> list[dict]:
    t = next(t for t in plan.targets if t.id == spec.target)
    return [
        {
            "indicator": t.id, "name": t.name, "level": level, "geo": geo, "value": value, "unit": t.unit,
            "numerator": num, "denominator": den, "basis": basis, "method": method, "layers": ", ".join(layers),
            "synthetic": synthetic,
        }
        for level, geo, value, num, den in values
    ]


MIN_AREA_KM2 = 1e-3  # a denominator below this (1,000 m²) is a sliver where two layers meet, not an area


def _ratio_rows(num: pd.Series, den: pd.Series, level: str, scale: float = 100.0) -> list[tuple]:
    out = []
    for geo, d in den.items():
        if d > MIN_AREA_KM2:
            n = float(num.get(geo, 0.0))
            out.append((level, str(geo), scale * n / d, n, float(d)))
    return out


def _by_geo(frame: pd.DataFrame, col: str) -> pd.Series:
    return frame.groupby(col, sort=False)["area_km2"].sum() if len(frame) else pd.Series(dtype=float)


def _compute_coverage(spec, specs, src, plan, method, network_for, engine) -> tuple[list, str, list[str], list[str]]:
    origins = src.need(spec.origins, spec.target)
    destinations = src.need(spec.destinations, spec.target)
    within = spec.distance_m(specs.walking)
    net = network_for() if method == "network" else None
    r = coverage(
        origins, destinations, within, method=method, weight=spec.weight, network=net,
        districts=src.get("districts"), rings=src.get("rings"), snap=specs.walking.snap,
        entrance_spacing_m=specs.walking.entrance_spacing_m, names=(spec.origins, spec.destinations), engine=engine,
    )
    scale = 1e6 if spec.weight == "area" else 1.0  # area weights in m² → km²
    values = [(row.level, row.geo, row.share_pct, row.weight_covered / scale, row.weight_total / scale) for row in r.shares.itertuples()]
    weight = "area-weighted" if spec.weight == "area" else f"weighted by {spec.weight}"
    how = (
        f"straight-line (euclidean) distance ≤ {within:g} m from each {spec.origins} feature's representative point to the "
        f"nearest {spec.destinations} geometry" if method == "euclidean" else
        f"walking network distance ≤ {within:g} m from each {spec.origins} feature's representative point to the nearest "
        f"{spec.destinations} over {src.tag(specs.walking.roads)} ({net.describe()}): multi-source Dijkstra on a scipy CSR "
        f"graph, snapped to the nearest {specs.walking.snap} with the snap distance added at both ends, polygons entered along "
        f"their edge every {specs.walking.entrance_spacing_m:g} m"
    )
    layers = [spec.origins, spec.destinations] + ([specs.walking.roads] if method == "network" else [])
    return values, f"{how}; {weight}", layers, r.warnings


def _compute_zone_share(spec, specs, src, plan, areas):
    zones = _select(src.need(spec.layer, spec.target), spec.where, spec.layer)
    districts = src.need("districts", spec.target)
    num = _by_geo(areas(zones, districts, "district"), "district")
    den = zone_areas(districts, "district")
    values = [(CITY, CITY, 100 * num.sum() / den.sum(), float(num.sum()), float(den.sum()))]
    values += _ratio_rows(num, den, "区")
    rings = _ring_zones(src.get("rings"))
    if rings is not None:
        values += _ratio_rows(_by_geo(areas(zones, rings, "ring"), "ring"), zone_areas(rings, "ring"), "圈层")
    what = ", ".join(f"{k} in {v}" for k, v in spec.where.items())
    return values, f"area of {spec.layer} where {what} / area of the districts (plan area), exact overlay", [spec.layer, "districts"], []


def _plain_area(specs, src) -> tuple[shapely.Geometry, str, str]:
    pa = specs.plain_area
    gdf = src.get(pa.layer)
    if gdf is not None:
        return shapely.union_all(gdf.geometry.values), f"平原地区 = layer {pa.layer}", pa.layer
    rings = src.need("rings", "平原地区 (no plain_area layer)")
    sel = _ring_zones(rings, pa.rings)
    missing = set(pa.rings) - set(sel["ring"].astype(str))
    if missing:
        raise IndicatorInputError(f"layer rings: has no ring {', '.join(sorted(missing))} for 平原地区")
    return shapely.union_all(sel.geometry.values), f"平原地区 = 圈层 {' + '.join(pa.rings)} (no plain_area layer)", "rings"


def _compute_intensity(spec, specs, src, plan, areas):
    land = src.need(spec.layer, spec.target)
    plain, plain_how, plain_layer = _plain_area(specs, src)
    whole = gpd.GeoDataFrame({"geo": [CITY]}, geometry=[plain], crs=land.crs)
    num = _by_geo(areas(land, whole, "geo"), "geo")
    values = _ratio_rows(num, zone_areas(whole, "geo"), CITY)
    layers = [spec.layer, plain_layer]
    for level, z, col in (("区", src.get("districts"), "district"), ("圈层", _ring_zones(src.get("rings")), "ring")):
        if z is None:
            continue
        pieces = _clip_zones(z, col, plain)
        values += _ratio_rows(_by_geo(areas(land, pieces, col), col), zone_areas(pieces, col), level)
    return values, f"area of {spec.layer} inside 平原地区 / area of 平原地区 ({plain_how}), exact overlay", layers, []


def _compute_area_total(spec, specs, src, plan, areas):
    land = src.need(spec.layer, spec.target)
    districts = src.need("districts", spec.target)
    rings = _ring_zones(src.get("rings"))
    layers = [spec.layer, "districts"]
    if spec.within_rings:
        if rings is None:
            src.need("rings", spec.target)
        region_rings = _ring_zones(rings, spec.within_rings)
        region = shapely.union_all(region_rings.geometry.values)
        whole = gpd.GeoDataFrame({"geo": [CITY]}, geometry=[region], crs=land.crs)
        total = float(_by_geo(areas(land, whole, "geo"), "geo").sum())
        by_d = _by_geo(areas(land, _clip_zones(districts, "district", region), "district"), "district")
        how = f"area of {spec.layer} inside 圈层 {' + '.join(spec.within_rings)}, exact overlay"
        layers.append("rings")
    else:
        by_d = _by_geo(areas(land, districts, "district"), "district")
        total = float(by_d.sum())
        how = f"area of {spec.layer} inside the districts (plan area), exact overlay"
    values = [(CITY, CITY, total, total, float("nan"))]
    values += [("区", str(d), float(a), float(a), float("nan")) for d, a in by_d.items()]
    if rings is not None and not spec.within_rings:
        values += [("圈层", str(r), float(a), float(a), float("nan")) for r, a in _by_geo(areas(land, rings, "ring"), "ring").items()]
        layers.append("rings")
    return values, how, layers, []


def _land_use_groups(spec, specs, src, areas):
    lu = specs.land_use
    land = src.need(lu.layer, spec.target)
    land_use_check(land, specs)
    districts = src.need("districts", spec.target)
    by_d = areas(land, districts, "district", by=lu.attribute).rename(columns={"district": "geo", lu.attribute: "class"})
    frames = [by_d.assign(level="区"), by_d.groupby("class", as_index=False)["area_km2"].sum().assign(level=CITY, geo=CITY)]
    rings = _ring_zones(src.get("rings"))
    if rings is not None:
        frames.append(areas(land, rings, "ring", by=lu.attribute).rename(columns={"ring": "geo", lu.attribute: "class"}).assign(level="圈层"))
    table = pd.concat(frames, ignore_index=True)

    def group(name: str) -> pd.Series:
        sel = table[table["class"].isin(lu.classes_in(name))]
        return sel.groupby(["level", "geo"], sort=False)["area_km2"].sum()

    return table, group, [lu.layer, "districts"] + (["rings"] if rings is not None else [])


def _compute_land_use(spec, specs, src, plan, areas):
    table, group, layers = _land_use_groups(spec, specs, src, areas)
    lu = specs.land_use
    if spec.kind == "land_use_ratio":
        num, den, scale = group(spec.numerator), group(spec.denominator), 1.0
        how = f"ratio 1:X, X = area of {spec.numerator} / area of {spec.denominator}"
    else:
        num, den, scale = group(spec.group), group(spec.of), 100.0
        how = f"area of {spec.group} / area of {spec.of}"
    keys = table[["level", "geo"]].drop_duplicates().itertuples(index=False)
    values = []
    for level, geo in keys:
        d = float(den.get((level, geo), 0.0))
        if d > MIN_AREA_KM2:
            n = float(num.get((level, geo), 0.0))
            values.append((level, geo, scale * n / d, n, d))
    groups = "; ".join(f"{g} = {'+'.join(lu.classes_in(g)) or '(none)'}" for g in dict.fromkeys(
        x for x in (spec.numerator, spec.denominator, spec.group, spec.of) if x))
    return values, f"{how} ({lu.layer}.{lu.attribute} classes: {groups}), exact overlay with the districts", layers, []


def compute_indicators(
    store_or_layers,
    plan: Plan,
    *,
    method: str = "euclidean",
    targets: list[str] | None = None,
    specs: IndicatorSpecs | None = None,
    roads: Network | gpd.GeoDataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    engine=None,
) -> IndicatorRun:
    """Compute every indicator of the plan package marked computable (or those of ``targets``) from
    the stored (or given) layers. ``method`` (euclidean or network) applies to coverage indicators;
    network coverage walks over ``roads`` (a network or a line layer) or the stored road layer.
    An indicator whose layers are not loaded is skipped with the reason; bad layers raise
    :class:`IndicatorInputError` (or :class:`~planwatch.indicators.CoverageInputError`).
    ``engine``: what runs the area overlays and the straight-line distances (its ``overlay_areas``
    and ``euclidean_distances``, e.g. :class:`~planwatch.indicators.scale.DaskEngine`); None: this
    process. Network coverage has no other engine, so ``method`` network with an engine is refused."""
    if method not in ("euclidean", "network"):
        raise IndicatorInputError(f"method must be euclidean or network, not {method!r}")
    if method == "network" and engine is not None:
        raise IndicatorInputError(network_in_one_process(engine.name))
    areas = engine.overlay_areas if engine is not None else overlay_areas
    specs = specs or load_indicator_specs(plan.meta.id)
    src = LayerSource(store_or_layers, plan)
    say = progress or (lambda _m: None)
    chosen = specs.indicators
    if targets:
        unknown = [t for t in targets if t not in {s.target for s in specs.indicators}]
        if unknown:
            known = ", ".join(s.target for s in specs.indicators)
            raise IndicatorInputError(f"not computable: {', '.join(unknown)}; the plan package computes {known}")
        chosen = [s for s in specs.indicators if s.target in targets]
    net: list[Network] = []

    def network_for() -> Network:
        if not net:
            if isinstance(roads, Network):
                net.append(roads)
            else:
                lines = roads if roads is not None else src.need(specs.walking.roads, "network coverage")
                say(f"building the walking network from {specs.walking.roads}")
                try:
                    net.append(network_from_lines(lines, name=f"layer {specs.walking.roads}"))
                except NetworkError as e:
                    raise IndicatorInputError(str(e)) from e
        return net[0]

    rows, skipped, warnings, notes = [], {}, [], {}
    for spec in chosen:
        say(f"computing {spec.target}")
        try:
            if spec.kind == "coverage":
                values, how, layers, warn = _compute_coverage(spec, specs, src, plan, method, network_for, engine)
                basis = method
            else:
                fn = {"zone_share": _compute_zone_share, "development_intensity": _compute_intensity,
                      "area_total": _compute_area_total, "land_use_ratio": _compute_land_use,
                      "land_use_share": _compute_land_use}[spec.kind]
                values, how, layers, warn = fn(spec, specs, src, plan, areas)
                basis = "area"
        except MissingLayer as e:
            skipped[spec.target] = str(e)
            continue
        except CoverageInputError as e:
            raise IndicatorInputError(f"{spec.target}: {e}") from e
        for layer in ("districts", "rings"):
            if src.get(layer) is not None and layer not in layers:
                layers.append(layer)
        tags = [src.tag(lt) for lt in layers]
        synthetic = any(src.synthetic(lt) for lt in layers)
        method_text = f"{how}; layers {', '.join(tags)}; planwatch {__version__}"
        rows += _rows(spec, plan, values, basis, method_text, tags, synthetic)
        warnings += [f"{spec.target}: {w}" for w in warn]
        notes[spec.target] = _note(spec, basis, synthetic, [_layer_name(plan, lt) for lt in layers])
    results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    return IndicatorRun(method=method, results=results, skipped=skipped, warnings=warnings, notes=notes)


def _note(spec: IndicatorSpec, basis: str, synthetic: bool, layer_names: list[str]) -> str:
    """The observation's note, in Chinese only (the report prints it): what was computed, how, from which
    layers; the full method with layer hashes and warnings is in the observation's ``method``."""
    parts = []
    if synthetic:
        parts.append(f"{SYNTHETIC_MARK}，不参与评级")
    parts.append({"euclidean": "直线距离（欧氏距离）", "network": "路网步行距离", "area": "图层面积统计"}[basis])
    if spec.definition:
        parts.append(spec.definition)
    if layer_names:
        parts.append("图层：" + "、".join(layer_names))
    return "；".join(parts)


def observation_rows(run: IndicatorRun, plan: Plan, year: int, specs: IndicatorSpecs | None = None) -> pd.DataFrame:
    """The run as observation rows (:data:`~planwatch.store.base.OBSERVATION_COLUMNS`) for ``year``:
    the city value of each indicator (geo ""), and district values of those marked
    ``store_districts``. 圈层 values are not observations (see the module docstring)."""
    specs = specs or load_indicator_specs(plan.meta.id)
    districts = {s.target for s in specs.indicators if s.store_districts}
    r = run.results
    keep = (r["level"] == CITY) | ((r["level"] == "区") & r["indicator"].isin(districts) & r["geo"].isin(plan.meta.districts))
    r = r[keep & np.isfinite(r["value"].to_numpy(float))]
    out = []
    for i, row in enumerate(r.itertuples(), start=1):
        value = round(float(row.value), 4)
        out.append({
            "indicator": row.indicator, "year": int(year), "geo": "" if row.level == CITY else row.geo,
            "value": value, "unit": row.unit, "raw_value": f"{value:g}", "raw_unit": row.unit, "conversion": "",
            "scope": "", "measure": "", "comparable": True, "origin": "computed", "synthetic": bool(row.synthetic),
            "note": run.notes.get(row.indicator, ""),
            "source": f"{SOURCE}（{SOURCE_LABEL[row.basis]}）", "published": "", "method": row.method,
            "file": SOURCE, "file_row": i,
        })
    return pd.DataFrame(out, columns=OBSERVATION_COLUMNS)


def store_indicators(store: Store, plan: Plan, run: IndicatorRun, year: int):
    """Append the run's observations to ``store`` (one import, all or nothing). Returns the import
    summary (added / revised / unchanged)."""
    rows = observation_rows(run, plan, year)
    digest = hashlib.sha256(json.dumps(rows.to_dict("records"), ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()
    return store.add_observations(rows, file=f"{SOURCE} --year {year} --method {run.method}", sha256=digest, plan_id=plan.meta.id)
