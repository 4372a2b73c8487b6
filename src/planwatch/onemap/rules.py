"""The plan's spatial rules (``rules.yaml``), evaluated over whole years of records.

Pure evaluation: :func:`evaluate_rules` takes the rules, a dict layer type id → GeoDataFrame and a
year, and returns a DataFrame; :func:`check_rules` reads the layers from a store, evaluates, and
stores each rule's value as an observation of its target (so the evaluation and the report show
it).

Which records a rule counts, for ``--year Y``:

* ``share_inside`` and ``none_inside`` are about **flows**: the records (land supply, reduction) of
  year ``Y`` only (their ``year`` attribute). Art. 56's "70 % of *new* industrial land" is a share
  of one year's supply. A rule with ``year_from`` / ``year_to`` (Art. 26: strategic reserve land
  before 2035) is *not applicable* to a year outside that window.
* ``area_total`` is a **stock**: construction land in year ``Y`` is the latest snapshot at or before
  ``Y`` (records with the largest ``year`` ≤ ``Y``; a layer without ``year`` is one snapshot). Areas
  of overlapping records are counted once.

``where`` keeps records whose attribute is in the list. ``within`` restricts the records to the
given 圈层 (the ``rings`` layer, attribute ``ring``): records are clipped to those rings, so a parcel
on the edge counts with its part inside. Areas are in the plan's metric CRS; overlaps go through
the review engine (:mod:`planwatch.onemap.review`), so they match the compliance review exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planwatch.onemap.review.base import ReviewEngine, get_engine
from planwatch.onemap.review.review import layer_is_synthetic, polygonal_part
from planwatch.plan.spatial import SpatialRule
from planwatch.store.base import OBSERVATION_COLUMNS, SYNTHETIC_LABEL, SYNTHETIC_MARK

RINGS_LAYER, RING_ATTRIBUTE = "rings", "ring"
# 圈层 that lie inside another: the central city (中心城区, the 城六区) includes the core area (核心区,
# 东城 and 西城). A rings layer may draw them as a partition (core area apart) or nested; with this,
# ``within: [中心城区]`` means the whole central city either way.
RING_PARTS: dict[str, list[str]] = {"中心城区": ["核心区"]}

RULE_COLUMNS = [
    "id", "article", "description", "kind", "year", "value", "threshold", "comparator", "tolerance", "unit",
    "passed", "status", "records", "target", "synthetic", "label", "details",
]
SOURCE = "planwatch rules check"
KIND_ZH = {"share_inside": "位于区内的面积比例", "none_inside": "位于区内的图斑数", "area_total": "面积合计"}


class RuleInputError(ValueError):
    """A layer a rule needs lacks what the rule reads (an attribute, a CRS); the message says which."""


def compare(value: float, comparator: str, threshold: float, tolerance: float = 0.0) -> bool:
    """Whether ``value`` satisfies the rule. ``≈``: within ``tolerance`` of the threshold."""
    if comparator == ">=":
        return value >= threshold
    if comparator == "<=":
        return value <= threshold
    if comparator == "≈":
        return abs(value - threshold) <= tolerance
    if comparator == "==":
        return value == threshold
    raise ValueError(f"unknown comparator {comparator!r}")


def _metric(gdf: gpd.GeoDataFrame, layer: str, crs: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise RuleInputError(f"layer {layer}: no CRS")
    return gdf if gdf.crs == crs else gdf.to_crs(crs)


def _years(gdf: gpd.GeoDataFrame, layer: str) -> pd.Series:
    years = pd.to_numeric(gdf["year"], errors="coerce")
    if years.isna().any():
        bad = gdf.index[years.isna()][0]
        raise RuleInputError(f"layer {layer}: feature {bad} has no valid 'year' ({gdf.loc[bad, 'year']!r})")
    return years.astype(int)


def select_records(rule: SpatialRule, records: gpd.GeoDataFrame, year: int) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The records a rule counts for ``year`` (see the module docstring), ``where`` applied."""
    notes = []
    if rule.kind == "area_total":
        if "year" in records.columns and len(records):
            years = _years(records, rule.records)
            earlier = years[years <= year]
            if len(earlier) == 0:
                return records.iloc[0:0], [f"no {rule.records} snapshot at or before {year}"]
            snapshot = int(earlier.max())
            records = records[years == snapshot]
            notes.append(f"{rule.records} snapshot of {snapshot}")
    else:
        if "year" not in records.columns:
            raise RuleInputError(f"layer {rule.records}: rule {rule.id} counts the records of a year, but the layer has no 'year' attribute")
        records = records[_years(records, rule.records) == year]
    for attr, values in rule.where.items():
        if attr not in records.columns:
            raise RuleInputError(f"layer {rule.records}: rule {rule.id} filters on attribute {attr!r}, which the layer lacks")
        records = records[records[attr].astype(str).isin(values)]
    return records, notes


def within_region(rule: SpatialRule, rings: gpd.GeoDataFrame | None) -> shapely.Geometry | None:
    """The union of the rule's 圈层 (with the rings nested in them), or None for the whole plan area."""
    if not rule.within:
        return None
    if rings is None or len(rings) == 0:
        raise LookupError(f"the {RINGS_LAYER} layer is not loaded")
    if RING_ATTRIBUTE not in rings.columns:
        raise RuleInputError(f"layer {RINGS_LAYER}: no {RING_ATTRIBUTE!r} attribute")
    wanted = set(rule.within)
    for ring in rule.within:
        wanted.update(RING_PARTS.get(ring, []))
    sel = rings[rings[RING_ATTRIBUTE].astype(str).isin(wanted)]
    if len(sel) == 0:
        raise LookupError(f"the {RINGS_LAYER} layer has no {'/'.join(rule.within)}")
    return polygonal_part(shapely.union_all(np.asarray(sel.geometry.array, dtype=object))) or shapely.Polygon()


def _ids(records: gpd.GeoDataFrame) -> np.ndarray:
    return records["id"].to_numpy(dtype=object) if "id" in records.columns else records.index.to_numpy(dtype=object)


def _overlap_per_record(engine: ReviewEngine, records: gpd.GeoDataFrame, zone: shapely.Geometry | None,
                        crs: str) -> np.ndarray:
    """Area of each record inside ``zone`` (m²); the whole area when ``zone`` is None."""
    geoms = np.asarray(records.geometry.array, dtype=object)
    if zone is None:
        return shapely.area(geoms)
    out = np.zeros(len(records))
    if len(records) == 0 or shapely.is_empty(zone):
        return out
    ov = engine.overlaps(gpd.GeoDataFrame(geometry=list(geoms), crs=crs), gpd.GeoDataFrame(geometry=[zone], crs=crs))
    np.add.at(out, ov["parcel"].to_numpy(), ov["overlap_m2"].to_numpy())
    return out


def _polygons(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) & np.isin(shapely.get_type_id(geoms), (3, 6))
    return gdf[keep]


def evaluate_rule(
    rule: SpatialRule,
    layers: Mapping[str, gpd.GeoDataFrame],
    year: int,
    *,
    engine: str | ReviewEngine | None = None,
    metric_crs: str = "EPSG:4548",
) -> dict:
    """One rule for one year. Returns a dict with the keys of :data:`RULE_COLUMNS`.

    ``passed`` is True / False, or None when the rule has no value (no records, a layer missing)
    or does not apply to the year; ``status`` says which in words."""
    eng = engine if isinstance(engine, ReviewEngine) else get_engine(engine)
    out = {
        "id": rule.id, "article": rule.article, "description": rule.description, "kind": rule.kind, "year": year,
        "value": math.nan, "threshold": rule.threshold, "comparator": rule.comparator, "tolerance": rule.tolerance,
        "unit": rule.unit, "passed": None, "status": "", "records": 0, "target": rule.target or "",
        "synthetic": False, "label": "", "details": {},
    }
    if (rule.year_from is not None and year < rule.year_from) or (rule.year_to is not None and year > rule.year_to):
        window = f"{rule.year_from or ''}–{rule.year_to or ''}"
        out["status"] = f"not applicable: the rule covers the years {window}"
        return out
    needed = [rule.records] + ([rule.zone] if rule.zone else []) + ([RINGS_LAYER] if rule.within else [])
    missing = [t for t in needed if layers.get(t) is None]
    if missing:
        out["status"] = f"no data: layer(s) {', '.join(missing)} not loaded"
        return out
    used = {t: _metric(layers[t], t, metric_crs) for t in needed}
    if any(layer_is_synthetic(g) for g in used.values()):
        out["synthetic"], out["label"] = True, SYNTHETIC_LABEL
    records, notes = select_records(rule, _polygons(used[rule.records]), year)
    try:
        region = within_region(rule, used.get(RINGS_LAYER))
    except LookupError as e:
        out["status"] = f"no data: {e}"
        return out
    details: dict = {"notes": notes}
    if rule.within:
        details["within"] = list(rule.within)

    if rule.kind == "area_total":
        # a stock: overlapping records count once
        parts = shapely.get_parts(shapely.union_all(np.asarray(records.geometry.array, dtype=object))) if len(records) else []
        parts = gpd.GeoDataFrame(geometry=list(parts), crs=metric_crs)
        area_m2 = float(_overlap_per_record(eng, parts, region, metric_crs).sum())
        out["records"] = int((_overlap_per_record(eng, records, region, metric_crs) > 0).sum())
        out["value"] = area_m2 / 1e6  # km² (平方公里)
        details["area_m2"] = area_m2
    else:
        zone_gdf = _polygons(used[rule.zone])
        zone = shapely.union_all(np.asarray(zone_gdf.geometry.array, dtype=object)) if len(zone_gdf) else shapely.Polygon()
        if region is not None:
            zone = polygonal_part(shapely.intersection(zone, region)) or shapely.Polygon()
        counted = _overlap_per_record(eng, records, region, metric_crs)  # each record's part the rule counts
        inside = _overlap_per_record(eng, records, zone, metric_crs)
        out["records"] = int((counted > 0).sum())  # records with some area where the rule applies
        details["records_area_m2"] = float(counted.sum())
        details["inside_area_m2"] = float(inside.sum())
        if rule.kind == "share_inside":
            if counted.sum() > 0:
                out["value"] = 100.0 * inside.sum() / counted.sum()
        else:  # none_inside: the records that touch the zone with some area
            hit = np.flatnonzero(inside > 0)
            ids = _ids(records)
            details["offending"] = [{"id": _py(ids[i]), "overlap_m2": float(inside[i])} for i in hit]
            out["value"] = float(len(hit))
    out["details"] = details
    if math.isnan(out["value"]):
        out["status"] = f"no data: no {rule.records} records for {year}" + (
            f" in {'/'.join(rule.within)}" if rule.within else "")
        return out
    out["passed"] = bool(compare(out["value"], rule.comparator, rule.threshold, rule.tolerance))
    out["status"] = "pass" if out["passed"] else "fail"
    return out


def evaluate_rules(
    rules: list[SpatialRule],
    layers: Mapping[str, gpd.GeoDataFrame],
    year: int,
    *,
    engine: str | ReviewEngine | None = None,
    metric_crs: str = "EPSG:4548",
) -> pd.DataFrame:
    """Every rule for one year: a DataFrame with :data:`RULE_COLUMNS`, one row per rule."""
    eng = engine if isinstance(engine, ReviewEngine) else get_engine(engine)
    rows = [evaluate_rule(r, layers, year, engine=eng, metric_crs=metric_crs) for r in rules]
    return pd.DataFrame(rows, columns=RULE_COLUMNS)


def rule_layers(store, plan) -> dict[str, gpd.GeoDataFrame]:
    """The layers the plan's rules read, from a store (those not stored are left out)."""
    needed = {r.records for r in plan.spatial.rules} | {r.zone for r in plan.spatial.rules if r.zone}
    if any(r.within for r in plan.spatial.rules):
        needed.add(RINGS_LAYER)
    out = {}
    for t in sorted(needed):
        try:
            out[t] = store.read_layer(t)
        except KeyError:
            continue
    return out


def rule_observations(results: pd.DataFrame, plan, year: int) -> pd.DataFrame:
    """The rules' values as observation rows (:data:`OBSERVATION_COLUMNS`) of their targets."""
    targets = {t.id: t for t in plan.targets}
    rows = []
    for i, r in enumerate(results.to_dict("records"), start=1):
        if not r["target"] or r["value"] is None or math.isnan(r["value"]):
            continue
        target = targets.get(r["target"])
        if target is None:
            raise ValueError(f"rule {r['id']}: target {r['target']!r} is not in plan package {plan.meta.id}")
        if target.unit != r["unit"]:
            raise ValueError(f"rule {r['id']}: unit {r['unit']!r} differs from target {target.id}'s {target.unit!r}")
        note = f"空间规则{r['id']}（第{r['article']}条）：{r['description']}；计入{r['records']}个图斑"
        if r["synthetic"]:
            note = f"{SYNTHETIC_MARK}，不参与评级；{note}"
        value = round(float(r["value"]), 4)
        rows.append({
            "indicator": target.id, "year": int(year), "geo": "", "value": value, "unit": target.unit,
            "raw_value": f"{value:g}", "raw_unit": r["unit"], "conversion": "", "scope": "", "measure": "",
            "comparable": True, "origin": "computed", "synthetic": bool(r["synthetic"]),
            "note": note, "source": SOURCE, "published": "",
            "method": f"空间规则{r['id']}（{KIND_ZH[r['kind']]}，第{r['article']}条），按一张图图层计算",
            "file": f"rules:{year}", "file_row": i,
        })
    return pd.DataFrame(rows, columns=OBSERVATION_COLUMNS)


def check_rules(store, plan, year: int, *, engine: str | ReviewEngine | None = None, record: bool = True) -> pd.DataFrame:
    """Evaluate the plan's spatial rules on the stored layers for ``year`` and (``record``) store each
    value that has a target as an observation (source "planwatch rules check", file "rules:<year>")."""
    layers = rule_layers(store, plan)
    results = evaluate_rules(plan.spatial.rules, layers, year, engine=engine, metric_crs=plan.spatial.metric_crs)
    if record:
        obs = rule_observations(results, plan, year)
        if len(obs):
            digest = hashlib.sha256(obs.to_json(orient="records", force_ascii=False).encode()).hexdigest()
            store.add_observations(obs, file=f"rules:{year}", sha256=digest, plan_id=plan.meta.id)
    return results


def results_json(results: pd.DataFrame) -> list[dict]:
    """The results as JSON-ready dicts (NaN → None)."""
    out = []
    for r in results.to_dict("records"):
        r = {k: _py(v) for k, v in r.items()}
        if isinstance(r["value"], float) and math.isnan(r["value"]):
            r["value"] = None
        out.append(json.loads(json.dumps(r, ensure_ascii=False, default=_py)))
    return out


def _py(v):
    if hasattr(v, "item") and not isinstance(v, str):
        return v.item()
    return v
