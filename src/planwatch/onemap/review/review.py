"""Compliance review (合规审查): which control lines and zones a project or parcel touches.

The plan package says what each layer type means for a project (``layers.yaml``: ``review`` with
severity, rule and article; ``role`` zone / guide / ring for the zones to report). This module
turns the stored layers into review zones and asks a :class:`ReviewEngine` for the overlaps:

* a **conflict** per reviewed layer type (``review:`` in the plan), its features filtered by the
  rule's ``where`` and dissolved, so features that overlap each other are not counted twice. With
  ``when: outside`` (the urban development boundary) the conflict is the part of the feature
  *outside* the layer: its area minus the part inside.
* a **zone** per value of a zone / guide / ring layer's enumerated attribute (两线三区's ``zone``,
  圈层's ``ring``), or per layer when it has none: the zones the feature falls in, with shares.

Areas are in square metres of the plan's metric CRS (EPSG:4548 for Beijing): features in another
CRS are reprojected first, never measured in degrees. Feature ids come from an ``id`` column, or
are the 1-based row number. Layers that are synthetic demo data say so on every conflict and zone
(``synthetic: true`` and the label).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planwatch.onemap.review.base import ReviewEngine, get_engine
from planwatch.plan.spatial import LayerType
from planwatch.store.base import SYNTHETIC_LABEL

SEVERITY_ORDER = ["forbidden", "restricted", "guidance"]  # worst first
ZONE_ROLES = ("zone", "guide", "ring")
# A feature whose outside part is below this share of its area lies inside (rounding of the pieces).
OUTSIDE_TOLERANCE = 1e-9

CONFLICT_COLUMNS = [
    "feature", "id", "layer", "layer_name", "rule", "article", "severity", "when",
    "overlap_m2", "overlap_share", "synthetic", "label",
]
ZONE_COLUMNS = ["feature", "id", "layer", "layer_name", "zone", "overlap_m2", "share", "synthetic", "label"]


class ReviewInputError(ValueError):
    """The features to review were refused; the message names the feature and what is wrong."""


@dataclass
class ReviewResult:
    """A review as tidy frames: one row per feature, per conflict, per zone a feature falls in."""

    features: gpd.GeoDataFrame  # id, area_m2, n_conflicts, worst_severity, geometry (metric CRS)
    conflicts: pd.DataFrame  # CONFLICT_COLUMNS; ``feature`` is the row position in ``features``
    zones: pd.DataFrame  # ZONE_COLUMNS
    missing_layers: list[str] = field(default_factory=list)  # reviewed / zone layer types with no layer loaded
    repaired: list[str] = field(default_factory=list)  # features whose invalid geometry was repaired

    def records(self) -> list[dict]:
        """One dict per feature: ``id``, ``area_m2``, ``conflicts`` and ``zones`` (JSON-ready)."""
        conflicts = _group_records(self.conflicts, CONFLICT_COLUMNS, len(self.features))
        zones = _group_records(self.zones, ZONE_COLUMNS, len(self.features))
        return [
            {"id": _py(fid), "area_m2": float(a), "conflicts": conflicts[i], "zones": zones[i]}
            for i, (fid, a) in enumerate(zip(self.features["id"], self.features["area_m2"], strict=True))
        ]


# ------------------------------------------------------------------ review zones from layers


@dataclass(frozen=True)
class ReviewZones:
    """The dissolved zones a review measures against (one row per conflict layer / zone value)."""

    zones: gpd.GeoDataFrame  # purpose ("conflict" | "zone"), layer, layer_name, zone, severity, when, rule,
    # article, synthetic, geometry
    missing_layers: list[str]


def layer_is_synthetic(gdf: gpd.GeoDataFrame) -> bool:
    """True for demo data: the store's registry row (``attrs["layer"]``), ``attrs["synthetic"]`` or a
    truthy ``synthetic`` column."""
    meta = gdf.attrs.get("layer") or {}
    if isinstance(meta, Mapping) and meta.get("synthetic"):
        return True
    if gdf.attrs.get("synthetic"):
        return True
    return "synthetic" in gdf.columns and bool(gdf["synthetic"].fillna(False).astype(bool).any())


def enumerated_attribute(lt: LayerType) -> str | None:
    """The attribute a zone layer is reported by (its first with a fixed list of values), if any."""
    for name, values in lt.attributes.items():
        if values:
            return name
    return None


_DISSOLVE_CACHE: dict[str, object] = {}


def _dissolve(geoms: np.ndarray) -> shapely.Geometry:
    """Union of the features (cached by their WKB: the same layer is dissolved once per process)."""
    if len(geoms) == 1:
        return geoms[0]
    key = hashlib.sha256(b"".join(shapely.to_wkb(geoms))).hexdigest()
    if key not in _DISSOLVE_CACHE:
        if len(_DISSOLVE_CACHE) > 64:
            _DISSOLVE_CACHE.clear()
        invalid = ~shapely.is_valid(geoms)
        if invalid.any():  # stored layers are repaired on import; a hand-made dict may not be
            geoms = geoms.copy()
            geoms[invalid] = shapely.make_valid(geoms[invalid])
        _DISSOLVE_CACHE[key] = shapely.union_all(geoms)
    return _DISSOLVE_CACHE[key]


def polygonal_part(g) -> shapely.Geometry | None:
    """The polygons with area in ``g`` (a collection's lines and points dropped), or None."""
    parts = shapely.get_parts(np.array([g], dtype=object))
    polys = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]
    return shapely.multipolygons(polys) if len(polys) else None


def load_layers(store_or_layers, plan, needed: list[str]) -> tuple[dict[str, gpd.GeoDataFrame], list[str]]:
    """The layers of ``needed`` types from a store (``read_layer``) or a dict of GeoDataFrames."""
    found, missing = {}, []
    for type_id in needed:
        if isinstance(store_or_layers, Mapping):
            gdf = store_or_layers.get(type_id)
        else:
            try:
                gdf = store_or_layers.read_layer(type_id)
            except KeyError:
                gdf = None
        if gdf is None or len(gdf) == 0:
            missing.append(type_id)
        else:
            found[type_id] = gdf
    return found, missing


def review_zones(store_or_layers, plan) -> ReviewZones:
    """Build the review's zones from the plan's layer types and the stored (or given) layers."""
    spatial = plan.spatial
    relevant = [
        lt for lt in spatial.layer_types
        if lt.geometry == "polygon" and (lt.review is not None or lt.role in ZONE_ROLES)
    ]
    layers, missing = load_layers(store_or_layers, plan, [lt.id for lt in relevant])
    rows = []
    for lt in relevant:
        gdf = layers.get(lt.id)
        if gdf is None:
            continue
        if gdf.crs is None:
            raise ReviewInputError(f"layer {lt.id} ({lt.name}) has no CRS")
        if gdf.crs != spatial.metric_crs:
            gdf = gdf.to_crs(spatial.metric_crs)
        synthetic = layer_is_synthetic(gdf)
        base = {"layer": lt.id, "layer_name": lt.name, "synthetic": synthetic}
        if lt.review is not None:
            sel = gdf
            for attr, values in lt.review.where.items():
                if attr not in sel.columns:
                    raise ReviewInputError(f"layer {lt.id} ({lt.name}) has no attribute {attr!r}, which its review rule filters on")
                sel = sel[sel[attr].isin(values)]
            geom = polygonal_part(_dissolve(np.asarray(sel.geometry.array, dtype=object))) if len(sel) else None
            r = lt.review
            if geom is None and r.when == "outside":  # nothing of the layer selected: all is outside
                geom = shapely.Polygon()
            if geom is not None:
                rows.append({**base, "purpose": "conflict", "zone": "", "severity": r.severity, "when": r.when,
                             "rule": r.rule, "article": r.article, "geometry": geom})
        if lt.role in ZONE_ROLES:
            attr = enumerated_attribute(lt)
            if attr is not None and attr in gdf.columns:
                groups = [(str(v), g) for v, g in gdf.groupby(attr, sort=False)]
                order = {v: i for i, v in enumerate(lt.attributes[attr] or [])}
                groups.sort(key=lambda vg: order.get(vg[0], len(order)))
            else:
                groups = [(lt.name, gdf)]
            for value, g in groups:
                geom = polygonal_part(_dissolve(np.asarray(g.geometry.array, dtype=object)))
                if geom is not None:
                    rows.append({**base, "purpose": "zone", "zone": value, "severity": "", "when": "",
                                 "rule": "", "article": 0, "geometry": geom})
    cols = ["purpose", "layer", "layer_name", "zone", "severity", "when", "rule", "article", "synthetic", "geometry"]
    zones = gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs=spatial.metric_crs)
    return ReviewZones(zones=zones, missing_layers=missing)


# ------------------------------------------------------------------ input features


# What is reviewed is checked like a layer of polygons: the layer importer's checks, with no attributes.
REVIEWED = LayerType(id="reviewed", name="审查对象", geometry="polygon", role="records")


def prepare_features(
    features: gpd.GeoDataFrame, plan, *, source: str = "features", crs: str | None = None
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Check and normalise the features to review with the layer importer's checks
    (:func:`planwatch.onemap.layers.prepare_layer`): polygons, not null nor empty; a known CRS
    (``crs``, an EPSG code or ``gcj02``, overrides the frame's); inside the plan area, axes not
    swapped; invalid geometries repaired (``make_valid``) and reported. Brought to the plan's metric
    CRS. Adds ``id`` (the ``id`` column, else the 1-based row number) and ``area_m2``.

    Returns (features, repairs); raises :class:`ReviewInputError` naming the feature and problem."""
    from planwatch.onemap.layers import LayerImportError, prepare_layer

    if not isinstance(features, gpd.GeoDataFrame):
        raise ReviewInputError(f"{source}: expected a GeoDataFrame of polygons, got {type(features).__name__}")
    ids = features["id"].tolist() if "id" in features.columns else list(range(1, len(features) + 1))
    if len(features) == 0:
        out = gpd.GeoDataFrame({"id": [], "area_m2": []}, geometry=[], crs=plan.spatial.metric_crs)
        return out, []
    try:
        prepared, repairs, _notes = prepare_layer(features, REVIEWED, plan.spatial, crs=crs, file=source)
    except LayerImportError as e:
        raise ReviewInputError(str(e).replace("layer refused, nothing was written", "features refused")) from e
    metric = plan.spatial.metric_crs
    if prepared.crs != metric:
        prepared = prepared.to_crs(metric)
    out = gpd.GeoDataFrame({"id": ids}, geometry=prepared.geometry.values, crs=metric)
    out["area_m2"] = shapely.area(np.asarray(out.geometry.array, dtype=object))
    return out, repairs


def read_features(path: str | Path) -> gpd.GeoDataFrame:
    """Read a file of project / parcel polygons as it is (GeoPackage, ``FILE.gpkg:LAYER``, Shapefile,
    zipped or not, GeoJSON, GeoParquet), with the layer importer's reader; :func:`prepare_features`
    then checks it and brings it to the metric CRS."""
    from planwatch.onemap.layers import LayerImportError, read_vector

    try:
        gdf, _chosen = read_vector(path)
    except LayerImportError as e:
        raise ReviewInputError(str(e).replace("layer refused, nothing was written", "features refused")) from e
    return gdf


# ------------------------------------------------------------------ the review


def review_frame(
    features: gpd.GeoDataFrame,
    store_or_layers,
    plan,
    engine: str | ReviewEngine | None = None,
    *,
    zones: ReviewZones | None = None,
    source: str = "features",
    crs: str | None = None,
) -> ReviewResult:
    """Review polygon features against the one map; the result as tidy frames (see :class:`ReviewResult`).

    ``store_or_layers``: a store (layers read with ``read_layer``) or a dict layer type id →
    GeoDataFrame. ``engine``: a name (``geopandas``, ``postgis``, ``dask``, ``duckdb``) or an engine.
    """
    feats, repaired = prepare_features(features, plan, source=source, crs=crs)
    rz = zones or review_zones(store_or_layers, plan)
    eng = engine if isinstance(engine, ReviewEngine) else get_engine(engine)
    zg = rz.zones
    zone_rows = nonempty_zone_rows(zg)
    ov = eng.overlaps(feats[["geometry"]], zg.iloc[zone_rows].reset_index(drop=True)) if len(feats) else None
    if ov is None or len(ov) == 0:
        f_idx, z_idx, area = np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    else:
        f_idx, z_idx, area = ov["parcel"].to_numpy(), zone_rows[ov["zone"].to_numpy()], ov["overlap_m2"].to_numpy()
    return review_overlaps(feats, zg, f_idx, z_idx, area, missing_layers=rz.missing_layers, repaired=repaired)


def nonempty_zone_rows(zones: gpd.GeoDataFrame) -> np.ndarray:
    """The rows of the review zones that have a geometry (what an engine measures against)."""
    return np.flatnonzero(~shapely.is_empty(np.asarray(zones.geometry.array, dtype=object)))


def review_overlaps(
    feats: gpd.GeoDataFrame, zg: pd.DataFrame, f_idx: np.ndarray, z_idx: np.ndarray, area: np.ndarray, *,
    missing_layers: list[str], repaired: list[str], zones: bool = True,
) -> ReviewResult:
    """The review of prepared features (``id``, ``area_m2``, geometry) from their overlaps with the
    review zones ``zg`` (:class:`ReviewZones`' frame; its geometry is not used): ``f_idx`` positions
    in ``feats``, ``z_idx`` rows of ``zg``, ``area`` m², sorted by feature then zone. ``zones=False``
    leaves the zones table empty (a batch written to a GeoPackage does not keep it): pass only the
    overlaps with conflict zones then."""
    feat_area = feats["area_m2"].to_numpy()
    # A zone's pieces sum to a hair over the feature's area when it straddles their cuts (rounding,
    # ~1e-15 relative): an overlap is never more than the feature.
    area = np.minimum(area, feat_area[f_idx])
    ids = feats["id"].to_numpy(dtype=object)
    purpose = zg["purpose"].to_numpy()

    # conflicts: inside layers
    parts = []
    inside = (purpose[z_idx] == "conflict") & (zg["when"].to_numpy()[z_idx] == "inside")
    parts.append((f_idx[inside], z_idx[inside], area[inside]))
    # conflicts: outside layers (urban boundary) = area − inside, for every feature
    for zi in np.flatnonzero((purpose == "conflict") & (zg["when"].to_numpy() == "outside")):
        inside_area = np.zeros(len(feats))
        sel = z_idx == zi
        np.add.at(inside_area, f_idx[sel], area[sel])
        outside = feat_area - inside_area
        hit = outside > OUTSIDE_TOLERANCE * feat_area
        parts.append((np.flatnonzero(hit), np.full(int(hit.sum()), zi), outside[hit]))
    cf, cz, ca = (np.concatenate(x) for x in zip(*parts, strict=True))
    conflicts = _rows(zg, cf, cz, ca, ids, feat_area, share_name="overlap_share",
                      columns=["layer", "layer_name", "rule", "article", "severity", "when", "synthetic"])
    conflicts["_rank"] = conflicts["severity"].map({s: i for i, s in enumerate(SEVERITY_ORDER)})
    conflicts = conflicts.sort_values(["feature", "_rank", "overlap_m2"], ascending=[True, True, False], kind="stable")
    conflicts = conflicts[CONFLICT_COLUMNS].reset_index(drop=True)

    zsel = (purpose[z_idx] == "zone") & zones
    zones_df = _rows(zg, f_idx[zsel], z_idx[zsel], area[zsel], ids, feat_area, share_name="share",
                     columns=["layer", "layer_name", "zone", "synthetic"])
    zones_df = zones_df.sort_values(["feature", "_zone_row"], kind="stable")[ZONE_COLUMNS].reset_index(drop=True)

    counts = np.bincount(conflicts["feature"].to_numpy(dtype=np.int64), minlength=len(feats))
    rank = np.full(len(feats), len(SEVERITY_ORDER))
    if len(conflicts):
        np.minimum.at(rank, conflicts["feature"].to_numpy(dtype=np.int64),
                      conflicts["severity"].map({s: i for i, s in enumerate(SEVERITY_ORDER)}).to_numpy())
    worst = np.array([*SEVERITY_ORDER, ""], dtype=object)[rank]
    out = gpd.GeoDataFrame(
        {"id": feats["id"], "area_m2": feat_area, "n_conflicts": counts, "worst_severity": worst},
        geometry=feats.geometry, crs=feats.crs,
    )
    return ReviewResult(features=out, conflicts=conflicts, zones=zones_df, missing_layers=list(missing_layers),
                        repaired=repaired)


def _rows(zg, f, z, a, ids, feat_area, *, share_name: str, columns: list[str]) -> pd.DataFrame:
    f, z = f.astype(np.int64), z.astype(np.int64)
    df = pd.DataFrame({"feature": f, "id": ids[f]})
    for c in columns:
        df[c] = zg[c].to_numpy()[z]
    df["overlap_m2"] = a
    df[share_name] = a / feat_area[f]
    df["label"] = np.where(df["synthetic"].astype(bool), SYNTHETIC_LABEL, "")
    df["_zone_row"] = z
    return df


def review_features(
    features: gpd.GeoDataFrame | str | Path,
    store_or_layers,
    plan,
    engine: str | ReviewEngine | None = "geopandas",
    *,
    crs: str | None = None,
) -> list[dict]:
    """Review features (a GeoDataFrame, or a file path) against the one map.

    Returns one dict per input feature, in input order::

        {"id": …, "area_m2": …,
         "conflicts": [{"layer", "layer_name", "rule", "article", "severity", "when",
                        "overlap_m2", "overlap_share", ("synthetic": True, "label": …)}, …],
         "zones": [{"layer", "layer_name", "zone", "overlap_m2", "share", ("synthetic", "label")}, …]}

    Conflicts are ordered worst severity first, then by area. Areas in m² of the metric CRS.
    """
    source = str(features) if isinstance(features, str | Path) else "features"
    if isinstance(features, str | Path):
        features = read_features(features)
    return review_frame(features, store_or_layers, plan, engine, source=source, crs=crs).records()


def review_file(
    path: str | Path,
    out_gpkg: str | Path,
    store_or_layers,
    plan,
    engine: str | ReviewEngine | None = "geopandas",
    *,
    crs: str | None = None,
    batch: int = 50_000,
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
) -> ReviewResult:
    """Review a whole file of parcels in batches (a Rich progress bar on the terminal) and write
    ``out_gpkg`` with two layers: ``parcels`` (one row per parcel: id, area_m2, n_conflicts,
    worst_severity, geometry) and ``conflicts`` (one row per conflict, with the parcel's geometry),
    all or nothing (see :class:`ReviewGpkg`). Returns the whole result. ``on_batch(done, total)`` is
    called after each batch. The whole file is held in memory here; on a Dask cluster,
    :func:`planwatch.onemap.review.dask_engine.review_file_on_cluster` reads it in partitions."""
    gdf = read_features(path)
    if "id" not in gdf.columns:
        gdf = gdf.assign(id=np.arange(1, len(gdf) + 1))
    rz = review_zones(store_or_layers, plan)
    eng = engine if isinstance(engine, ReviewEngine) else get_engine(engine)
    results: list[ReviewResult] = []
    total = len(gdf)

    def run(advance: Callable[[int], None]) -> None:
        for s in range(0, max(total, 1), batch):
            chunk = gdf.iloc[s : s + batch]
            if len(chunk) == 0:
                break
            with numbered_from(s):
                r = review_frame(chunk, store_or_layers, plan, eng, zones=rz, source=str(path), crs=crs)
            for frame in (r.conflicts, r.zones):
                frame["feature"] += s
            r.repaired = [renumbered(x, s) for x in r.repaired]
            results.append(r)
            advance(len(chunk))
            if on_batch:
                on_batch(min(s + batch, total), total)

    if progress:
        with progress_bars({"reviewing": f"reviewing {Path(path).name}"}) as step:
            run(lambda n: step("reviewing", n, total))
    else:
        run(lambda n: None)

    if results:
        result = ReviewResult(
            features=pd.concat([r.features for r in results], ignore_index=True),
            conflicts=pd.concat([r.conflicts for r in results], ignore_index=True),
            zones=pd.concat([r.zones for r in results], ignore_index=True),
            missing_layers=rz.missing_layers,
            repaired=[x for r in results for x in r.repaired],
        )
    else:
        result = review_frame(gdf, store_or_layers, plan, eng, zones=rz, source=str(path), crs=crs)
    write_review_gpkg(result, out_gpkg)
    return result


@contextmanager
def progress_bars(descriptions: Mapping[str, str]) -> Iterator[Callable[[str, int, int], None]]:
    """Rich progress bars on stderr (stdout stays the result), one per stage, described by
    ``descriptions[stage]``: yields ``step(stage, n, total)``, which adds ``n`` to the bar of
    ``stage`` (made on first use, ``total`` long)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True)) as bar:
        tasks: dict[str, object] = {}

        def step(stage: str, advance: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(descriptions.get(stage, stage), total=total)
            bar.advance(tasks[stage], advance)

        yield step


_FEATURE_NUMBER = re.compile(r"\bfeature (\d+)\b")


def renumbered(text: str, offset: int) -> str:
    """A message about a batch or partition starting at row ``offset`` of the file, with its
    ``feature N`` (1-based in the batch) made the feature's number in the file."""
    return _FEATURE_NUMBER.sub(lambda m: f"feature {int(m.group(1)) + offset}", text) if offset else text


@contextmanager
def numbered_from(offset: int) -> Iterator[None]:
    """Re-raise a :class:`ReviewInputError` of a batch starting at row ``offset`` with the features
    numbered as in the file."""
    try:
        yield
    except ReviewInputError as e:
        if not offset:
            raise
        raise ReviewInputError(renumbered(str(e), offset)) from e


@dataclass(frozen=True)
class BatchReview:
    """What a batch review wrote to ``out`` (layers parcels and conflicts): counts, not the rows."""

    out: Path
    features: int
    features_with_conflicts: int
    conflicts: int
    missing_layers: list[str]
    repaired: list[str]

    @classmethod
    def of(cls, result: ReviewResult, out: str | Path) -> BatchReview:
        return cls(Path(out), len(result.features), int((result.features["n_conflicts"] > 0).sum()),
                   len(result.conflicts), list(result.missing_layers), list(result.repaired))


def gpkg_layers(result: ReviewResult) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The two layers of the review's GeoPackage: ``parcels`` (one row per parcel) and ``conflicts``
    (one row per conflict, with its parcel's geometry); ids as text."""
    parcels = result.features.copy()
    parcels["id"] = parcels["id"].astype(str)
    geoms = np.asarray(result.features.geometry.array, dtype=object)
    c = result.conflicts.drop(columns=["feature"]).copy()
    c["id"] = c["id"].astype(str)
    c["synthetic"] = c["synthetic"].astype(bool)
    conflicts = gpd.GeoDataFrame(c, geometry=geoms[result.conflicts["feature"].to_numpy(dtype=np.int64)],
                                 crs=result.features.crs)
    return parcels, conflicts


RTREE_RAM_OPTION, RTREE_RAM_BYTES = "OGR_GPKG_MAX_RAM_USAGE_RTREE", "268435456"  # 256 MiB


class ReviewGpkg:
    """The review's GeoPackage, written all or nothing: ``out`` is replaced (an atomic rename) only
    on :meth:`commit`, once both layers are whole in a hidden temporary file beside it. An error, or a
    kill, before then leaves ``out`` as it was; leaving the ``with`` block on an error
    (:meth:`discard`) removes what was written.

    Parts are appended in order (:meth:`append`), so a batch never has to be in memory whole: each
    goes to an Arrow stream file per layer beside ``out``, and :meth:`commit` writes each layer to the
    GeoPackage from its stream in one session, so GDAL builds the layer's spatial index once at the
    end (appending part by part to a GeoPackage updates its index row by row, ~3× slower)."""

    LAYERS = ("parcels", "conflicts")

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.tmp = self.out.with_name(f".{self.out.name}.{uuid.uuid4().hex[:12]}.partial.gpkg")
        self.synthetic = False
        self._streams: dict[str, tuple] = {}  # layer -> (pyarrow stream writer, schema)
        self._first: dict[str, gpd.GeoDataFrame] = {}  # layer -> its first part (an empty layer's columns)

    def _stream_file(self, layer: str) -> Path:
        return self.tmp.with_name(f"{self.tmp.name}.{layer}.arrows")

    def append(self, parcels: gpd.GeoDataFrame, conflicts: gpd.GeoDataFrame) -> None:
        """Add a part of both layers (:func:`gpkg_layers`), after the parts appended before it."""
        import pyarrow as pa
        import pyarrow.ipc

        for layer, frame in zip(self.LAYERS, (parcels, conflicts), strict=True):
            self._first.setdefault(layer, frame.iloc[:0])
            if len(frame) == 0:
                continue
            table = pa.table(frame.to_arrow(geometry_encoding="WKB", index=False))
            if layer not in self._streams:
                self._streams[layer] = (pyarrow.ipc.new_stream(self._stream_file(layer), table.schema), table.schema)
            stream, schema = self._streams[layer]
            stream.write_table(table.cast(schema))  # a part's text may be str or object: one type
        self.synthetic |= bool(len(conflicts) and conflicts["synthetic"].any())

    def commit(self, on_layer: Callable[[str], None] | None = None) -> Path:
        """Write the GeoPackage from the parts and put it at ``out``; ``on_layer(name)`` is called as
        each layer is written."""
        import sqlite3

        import pyogrio

        for stream, _ in self._streams.values():
            stream.close()
        # GDAL builds a layer's spatial index in memory (~40 bytes a feature) up to this cap, then in
        # steps: capped, a batch's memory here stays the same whatever its size
        held = pyogrio.get_gdal_config_option(RTREE_RAM_OPTION)
        pyogrio.set_gdal_config_options({RTREE_RAM_OPTION: RTREE_RAM_BYTES})
        try:
            self._write_layers(on_layer)
        finally:
            pyogrio.set_gdal_config_options({RTREE_RAM_OPTION: held})
        note = f" Conflicts with synthetic layers are labelled {SYNTHETIC_LABEL}." if self.synthetic else ""
        con = sqlite3.connect(self.tmp)
        try:
            with con:
                for layer, what in zip(self.LAYERS, ("one row per parcel", "one row per conflict"), strict=True):
                    con.execute("UPDATE gpkg_contents SET description = ? WHERE table_name = ?",
                                (f"planwatch review: {what}.{note}", layer))
        finally:
            con.close()
        self._remove_streams()
        os.replace(self.tmp, self.out)
        return self.out

    def _write_layers(self, on_layer: Callable[[str], None] | None) -> None:
        import pyarrow
        import pyarrow.ipc
        import pyogrio

        for n, layer in enumerate(self.LAYERS):
            # "Unknown" (any geometry): one part may hold MultiPolygons where another held Polygons
            first = self._first[layer]
            if layer in self._streams:
                # a plain file, not memory-mapped: a mapped stream stays resident as it is read
                with pyarrow.OSFile(str(self._stream_file(layer))) as f, pyarrow.ipc.open_stream(f) as parts:
                    pyogrio.write_arrow(parts, self.tmp, layer=layer, driver="GPKG", geometry_type="Unknown",
                                        geometry_name=first.geometry.name, crs=first.crs.to_wkt() if first.crs else None,
                                        append=n > 0)
            else:
                pyogrio.write_dataframe(first, self.tmp, layer=layer, driver="GPKG", geometry_type="Unknown",
                                        append=n > 0)
            if on_layer:
                on_layer(layer)

    def _remove_streams(self) -> None:
        for stream, _ in self._streams.values():
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - closed already
                pass
        for layer in self.LAYERS:
            self._stream_file(layer).unlink(missing_ok=True)
        self._streams.clear()

    def discard(self) -> None:
        self._remove_streams()
        for p in (self.tmp, *(self.tmp.with_name(self.tmp.name + x) for x in ("-journal", "-wal", "-shm"))):
            p.unlink(missing_ok=True)

    def __enter__(self) -> ReviewGpkg:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None:
            self.discard()


def write_review_gpkg(result: ReviewResult, out_gpkg: str | Path) -> Path:
    """Write the review to a GeoPackage, all or nothing (:class:`ReviewGpkg`): layer ``parcels`` and
    layer ``conflicts``; an existing file at ``out_gpkg`` is replaced only once both are written."""
    with ReviewGpkg(out_gpkg) as gpkg:
        gpkg.append(*gpkg_layers(result))
        return gpkg.commit()


def _group_records(df: pd.DataFrame, columns: list[str], n: int) -> list[list[dict]]:
    out: list[list[dict]] = [[] for _ in range(n)]
    keep = [c for c in columns if c not in ("feature", "id")]
    for rec in df[["feature", *keep]].to_dict("records"):
        i = rec.pop("feature")
        if not rec.get("synthetic"):
            rec.pop("synthetic", None)
            rec.pop("label", None)
        else:
            rec["synthetic"] = True
        out[int(i)].append({k: _py(v) for k, v in rec.items()})
    return out


def _py(v):
    if hasattr(v, "item") and not isinstance(v, str):
        return v.item()
    return v
