"""Validate and repair a layer's features against its plan layer type: geometry and attributes.

Pure functions over GeoDataFrames (no I/O). They never raise on bad data: they return the repaired
frame, the repairs made (one line per feature) and the problems that refuse the import (each naming
the file, the feature and, where it applies, the field), so an import can report everything at once.

Features are named by their 1-based position in the file ("feature 3"), plus the value of an
identifying field when the file has one (id, code, name, 名称, 编号, BSM, DKBH, …).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planwatch.plan.spatial import LayerType

# shapely type ids allowed per layer geometry
_ALLOWED_TYPES = {"polygon": {3, 6}, "point": {0, 4}, "line": {1, 5}}
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}
# Fields that identify a feature for a person, tried in order (case-insensitive).
ID_FIELDS = ("id", "objectid", "code", "bsm", "dkbh", "编号", "地块编号", "标识码", "name", "名称", "district", "stop_name")


@dataclass(frozen=True)
class FeatureProblem:
    """One reason a layer is refused."""

    file: str
    feature: str | None  # "feature 3 (id=A-12)", or None for the whole file
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.feature:
            where += f": {self.feature}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


def feature_labels(gdf: pd.DataFrame) -> list[str]:
    """A label per row: ``feature 3`` (1-based order in the file) with ``(id=…)`` when a field identifies it."""
    lower = {str(c).lower(): c for c in gdf.columns if c != getattr(gdf, "_geometry_column_name", None)}
    id_col = next((lower[f] for f in ID_FIELDS if f in lower), None)
    labels = [f"feature {i}" for i in range(1, len(gdf) + 1)]
    if id_col is not None:
        for i, v in enumerate(gdf[id_col].tolist()):
            if v is not None and not (isinstance(v, float) and np.isnan(v)) and str(v).strip():
                labels[i] += f" ({id_col}={v})"
    return labels


def check_geometry_presence(gdf: gpd.GeoDataFrame, layer_type: LayerType, file: str) -> list[FeatureProblem]:
    """Null, empty, non-finite and wrong-type geometries: these are refused, never repaired."""
    labels = feature_labels(gdf)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    problems: list[FeatureProblem] = []
    allowed = _ALLOWED_TYPES[layer_type.geometry]
    want = {"polygon": "Polygon or MultiPolygon", "point": "Point or MultiPoint", "line": "LineString or MultiLineString"}
    is_null = shapely.is_missing(geoms)
    is_empty = ~is_null & shapely.is_empty(np.where(is_null, None, geoms))
    type_ids = shapely.get_type_id(geoms)
    finite = _finite_per_geometry(geoms)
    for i in range(len(geoms)):
        if is_null[i]:
            problems.append(FeatureProblem(file, labels[i], None, "geometry is null (the feature has no shape)"))
        elif is_empty[i]:
            problems.append(FeatureProblem(file, labels[i], None, f"geometry is empty ({_TYPE_NAMES.get(int(type_ids[i]), '?')} EMPTY)"))
        elif type_ids[i] not in allowed:
            problems.append(
                FeatureProblem(
                    file, labels[i], None,
                    f"wrong geometry type {_TYPE_NAMES.get(int(type_ids[i]), type_ids[i])}: layer type "
                    f"{layer_type.id} ({layer_type.name}) holds {want[layer_type.geometry]}",
                )
            )
        elif not finite[i]:
            problems.append(FeatureProblem(file, labels[i], None, "geometry has NaN or infinite coordinates"))
    return problems


def _finite_per_geometry(geoms: np.ndarray) -> np.ndarray:
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    bad = ~np.isfinite(coords).all(axis=1)
    finite = np.ones(len(geoms), dtype=bool)
    finite[np.unique(index[bad])] = False
    return finite


def repair_geometries(
    gdf: gpd.GeoDataFrame, layer_type: LayerType, file: str, *, crs_label: str = ""
) -> tuple[gpd.GeoDataFrame, list[str], list[FeatureProblem]]:
    """Repair invalid geometries with ``shapely.make_valid`` and drop Z and M. Assumes
    :func:`check_geometry_presence` passed. For polygon layers a repair that yields a
    GeometryCollection keeps its polygonal part; one with no polygonal part left is refused.

    Returns (frame, repairs — one line per repaired feature with shapely's reason, problems)."""
    labels = feature_labels(gdf)
    geoms = np.asarray(gdf.geometry.values, dtype=object).copy()
    repairs: list[str] = []
    problems: list[FeatureProblem] = []
    in_crs = f" ({crs_label})" if crs_label else ""

    geoms, flattened = flatten_to_2d(geoms, file)
    repairs += flattened

    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid):
        reasons = shapely.is_valid_reason(geoms[invalid])
        fixed = shapely.make_valid(geoms[invalid])
        for i, reason, geom in zip(invalid, reasons, fixed, strict=True):
            before = _TYPE_NAMES.get(int(shapely.get_type_id(geoms[i])), "?")
            kept, dropped = keep_geometry_kind(geom, layer_type.geometry)
            if kept is None or shapely.is_empty(kept):
                problems.append(
                    FeatureProblem(
                        file, labels[i], None,
                        f"invalid geometry ({reason}{in_crs}) cannot be repaired into a {layer_type.geometry}: "
                        f"make_valid leaves only {_describe(geom)}",
                    )
                )
                continue
            note = f"{file}: {labels[i]}: invalid geometry ({reason}{in_crs}) repaired with make_valid ({before} → {_describe(kept)}"
            note += f"; dropped {dropped})" if dropped else ")"
            repairs.append(note)
            geoms[i] = kept
    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)
    return out, repairs, problems


def flatten_to_2d(geoms: np.ndarray, file: str, *, measured_on_read: int = 0) -> tuple[np.ndarray, list[str]]:
    """Drop Z and M from every geometry (layers are 2-D: areas and overlaps are planar). Returns the
    geometries and a note, ``flattened N 3D/M geometries to 2D``, when any had them.
    ``measured_on_read``: features whose M values the reader already dropped (pyogrio reads a
    measured layer as 2-D and only warns), counted in the note."""
    has_z = shapely.has_z(geoms)
    has_m = shapely.has_m(geoms)
    flat = has_z | has_m
    if flat.any():
        geoms = np.where(flat, shapely.force_2d(geoms), geoms)
    n_z, n_m = int(has_z.sum()), int(has_m.sum()) + measured_on_read
    if not n_z and not n_m:
        return geoms, []
    what = []
    if n_z:
        what.append(f"Z coordinates dropped from {n_z} feature(s)")
    if n_m:
        what.append(f"M values dropped from {n_m} feature(s)")
    n = max(int(flat.sum()), measured_on_read)  # a measured layer's features may also have Z
    return geoms, [f"{file}: flattened {n} 3D/M geometries to 2D ({'; '.join(what)}; layers are 2-D)"]


def unreadable_geometries(wkb: np.ndarray, labels: list[str], file: str) -> list[FeatureProblem]:
    """The features whose WKB GEOS refuses to build (an unclosed ring, a ring of fewer than 4
    points, …), each named with its number and id, and what to do. ``wkb``: one item per feature in
    file order (None for a feature without geometry)."""
    wkb = np.asarray(wkb, dtype=object)
    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    present = np.array([w is not None and not (isinstance(w, float) and np.isnan(w)) for w in wkb], dtype=bool)
    problems = []
    for i in np.flatnonzero(shapely.is_missing(geoms) & present):
        try:
            shapely.from_wkb(wkb[i])
            reason = "GEOS cannot build it"
        except shapely.errors.ShapelyError as e:
            reason = str(e)
        problems.append(FeatureProblem(file, labels[i], None, explain_geos_reading_error(reason)))
    return problems


def explain_geos_reading_error(reason: str) -> str:
    """GEOS's words for a geometry it cannot build, in the user's words, with what to do."""
    reason = " ".join(str(reason).split())
    if "do not form a closed linestring" in reason:
        return "a polygon ring is not closed (its last point is not its first): close it by repeating the first point at the end"
    m = re.search(r"Invalid number of points in LinearRing found (\d+)", reason)
    if m:
        return (f"a polygon ring has {m.group(1)} point(s); a ring needs at least 4 (3 corners and the first repeated "
                "at the end): fix or delete this feature")
    m = re.search(r"Invalid number of points in LineString found (\d+)", reason)
    if m:
        return f"a line has {m.group(1)} point(s); a line needs at least 2: fix or delete this feature"
    m = re.search(r"point array must contain 0 or >1 elements", reason)
    if m:
        return "a ring or line has a single point: fix or delete this feature"
    return f"the geometry cannot be built ({reason}): fix or delete this feature"


def rename_fields(
    gdf: gpd.GeoDataFrame, mapping: dict[str, str], file: str
) -> tuple[gpd.GeoDataFrame, list[str], list[FeatureProblem]]:
    """Read the file's fields under the layer type's names (``--field name=stop_name``): ``mapping``
    is layer-type field → file field. A file field is matched exactly, else case-insensitively (a
    Shapefile's STOP_NAME). A file field of the target's name that is not itself renamed is kept as
    ``src_<name>``. Returns (frame, notes, problems); an unknown file field is a problem naming the
    fields the file has."""
    if not mapping:
        return gdf, [], []
    geom_col = gdf.geometry.name
    fields = [str(c) for c in gdf.columns if c != geom_col]
    have = ", ".join(fields) or "none"
    renames: dict[str, str] = {}
    notes: list[str] = []
    problems: list[FeatureProblem] = []
    for target, source in mapping.items():
        col = source if source in fields else None
        if col is None:
            folded = [c for c in fields if c.lower() == source.lower()]
            col = folded[0] if len(folded) == 1 else None
        if col is None:
            problems.append(FeatureProblem(file, None, source, f"no such field (--field {target}={source}); the file has: {have}"))
        elif col in renames:
            problems.append(FeatureProblem(file, None, col, f"mapped twice (--field {renames[col]}={source} and "
                                                            f"--field {target}={source}): give one target per field"))
        elif target == geom_col:
            problems.append(FeatureProblem(file, None, col, f"--field {target}={source}: '{target}' is the geometry column"))
        else:
            renames[col] = target
    if problems:
        return gdf, [], problems
    displaced = {t: f"src_{t}" for t in renames.values() if t in fields and t not in renames}
    for col, target in renames.items():
        if col != target:
            notes.append(f"{file}: field '{col}' read as '{target}' (--field {target}={mapping[target]})")
    for t, kept in displaced.items():
        notes.append(f"{file}: the file's own field '{t}' kept as '{kept}' (--field {t}=… takes its place)")
    return gdf.rename(columns={**displaced, **renames}), notes, problems


def keep_geometry_kind(geom, kind: str):
    """The part of a (repaired) geometry of the layer's kind — ``polygon``, ``point`` or ``line`` — and a
    description of the parts dropped ('' if none). (None, …) when nothing of that kind is left."""
    allowed = _ALLOWED_TYPES[kind]
    tid = int(shapely.get_type_id(geom))
    if tid in allowed:
        return geom, ""
    parts = shapely.get_parts(shapely.get_parts(geom))  # a collection may hold multi-parts: flatten twice
    ptypes = shapely.get_type_id(parts)
    single = {"polygon": 3, "point": 0, "line": 1}[kind]
    keep = parts[ptypes == single]
    dropped = ", ".join(
        f"{int((ptypes == t).sum())} {_TYPE_NAMES.get(int(t), '?')}" for t in sorted(set(ptypes.tolist())) if t != single
    )
    if not len(keep):
        return None, dropped
    multi = {"polygon": shapely.multipolygons, "point": shapely.multipoints, "line": shapely.multilinestrings}[kind]
    return (keep[0] if len(keep) == 1 else multi(list(keep))), dropped


def _describe(geom) -> str:
    if geom is None:
        return "nothing"
    tid = int(shapely.get_type_id(geom))
    name = _TYPE_NAMES.get(tid, "?")
    if tid in (4, 5, 6, 7):
        n = shapely.get_num_geometries(geom)
        if tid == 7:
            kinds = sorted({_TYPE_NAMES.get(int(t), "?") for t in shapely.get_type_id(shapely.get_parts(geom))})
            return f"{name} of {n} ({', '.join(kinds)})"
        return f"{name} of {n}"
    return name


def check_attributes(
    gdf: gpd.GeoDataFrame, layer_type: LayerType, file: str
) -> tuple[gpd.GeoDataFrame, list[str], list[FeatureProblem]]:
    """The layer type's required attributes: present (a case-insensitive match is renamed to the
    canonical name, with a note), not empty, and in the allowed list where the type has one."""
    labels = feature_labels(gdf)
    notes: list[str] = []
    problems: list[FeatureProblem] = []
    out = gdf.copy()
    geom_col = gdf.geometry.name
    fields = [c for c in gdf.columns if c != geom_col]
    for name, allowed in layer_type.attributes.items():
        col = name if name in fields else next((c for c in fields if str(c).lower() == name.lower()), None)
        if col is None:
            have = ", ".join(map(str, fields)) or "none"
            need = f" with values {', '.join(allowed)}" if allowed else ""
            problems.append(
                FeatureProblem(
                    file, None, name,
                    f"required field is missing: layer type {layer_type.id} ({layer_type.name}) needs '{name}'{need}; "
                    f"the file has: {have}",
                )
            )
            continue
        if col != name:
            out = out.rename(columns={col: name})
            notes.append(f"{file}: field '{col}' read as '{name}'")
        values = out[name].tolist()
        for i, v in enumerate(values):
            if _blank(v):
                problems.append(FeatureProblem(file, labels[i], name, "required value is empty"))
            elif allowed is not None and str(v).strip() not in allowed:
                problems.append(
                    FeatureProblem(file, labels[i], name, f"value {v!r} is not allowed; allowed: {', '.join(allowed)}")
                )
        if allowed is not None:
            out[name] = [v if _blank(v) else str(v).strip() for v in values]
    return out, notes, problems


def _blank(v) -> bool:
    if v is None or v is pd.NA:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()
