"""The Dask engine of the spatial indicators (``--engine dask``): the area overlays of the land
statistics and the area indicators (:func:`~planwatch.indicators.compute.overlay_areas`), and the
straight-line distances of coverage (:func:`~planwatch.indicators.coverage.euclidean_distances`),
partitioned by space.

- The features (or the origins' points) become a dask-geopandas frame shuffled along a Hilbert
  curve (``spatial_shuffle(by="hilbert")``), so the features of one partition lie near one another.
  It is persisted, and reused while the engine lives: overlaying one layer with the districts, the
  圈层 and the 两线三区 zones shuffles it once.
- The zones (or the destinations) travel as one task of the graph: plain geometries, labels and a
  token naming their content (:class:`Zones`, :class:`Destinations`; they pickle). Each worker
  process cuts the zones into pieces and builds their STRtree once per token
  (:func:`prepared`), and each thread prepares its own copy of the pieces (GEOS builds a prepared
  geometry's index lazily, so threads do not share one).
- A partition returns its areas summed by zone and class, or each point's distance and nearest
  destination with the point's position; this process adds up the sums
  (:func:`~planwatch.indicators.compute.summed_areas`) and puts the distances back in order.

Each feature × piece area and each distance is computed as the default engine computes it, so
the results are the default engine's: the same rows in the same order, the areas up to the order
of their summation. It runs on Dask's threads in this process, or on a ``dask.distributed``
client (:func:`planwatch.cluster.client`). The walking-network coverage has no Dask path.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planwatch.indicators.compute import overlay_inputs, pair_areas, summed_areas
from planwatch.onemap.review.subdivide import subdivide

PARTITIONS_PER_WORKER = 4  # more partitions than workers, so a slow one does not hold the others up
PARTITION_ROWS = 50_000  # and no partition larger than this many features
KEEP_PREPARED = 8  # zone sets kept prepared per process (a long-lived remote worker serves many runs)
KEEP_SHUFFLED = 4  # shuffled feature frames an engine keeps persisted

_AREAS_META = pd.DataFrame({"zone": pd.Series(dtype=object), "class": pd.Series(dtype=object),
                            "area_km2": pd.Series(dtype=float)})
_NEAREST_META = pd.DataFrame({"pos": pd.Series(dtype=np.int64), "nearest": pd.Series(dtype=np.int64),
                              "distance_m": pd.Series(dtype=float)})


# ------------------------------------------------------------------ what travels to the workers


def content_token(kind: str, geoms: np.ndarray, labels: np.ndarray | None = None) -> str:
    """A name for geometries (and their labels) by their content: their WKB, hashed."""
    h = hashlib.sha256(kind.encode())
    h.update(np.int64(len(geoms)).tobytes())
    h.update(b"".join(w or b"" for w in shapely.to_wkb(geoms)))
    if labels is not None:
        h.update("\x1f".join(map(str, labels)).encode())
    return h.hexdigest()


@dataclass
class PreparedZones:
    """Zones as a worker uses them: the pieces, their STRtree, the label of each piece, and each
    thread's prepared copy of the pieces."""

    pieces: np.ndarray
    tree: shapely.STRtree
    labels: np.ndarray
    _copies: dict = field(default_factory=dict, repr=False)

    def prepared_pieces(self) -> np.ndarray:
        key = threading.get_ident()
        mine = self._copies.get(key)
        if mine is None:
            mine = shapely.from_wkb(shapely.to_wkb(self.pieces))
            shapely.prepare(mine)
            self._copies[key] = mine
        return mine


@dataclass(frozen=True)
class Zones:
    """Zone geometries and the label of each, as they travel to the workers."""

    token: str
    geoms: np.ndarray
    labels: np.ndarray

    def prepare(self) -> PreparedZones:
        # the default engine's cut (compute.overlay_areas): the same pieces, so the same pair areas
        pieces, owner = subdivide(self.geoms)
        return PreparedZones(pieces, shapely.STRtree(pieces), self.labels[owner])


@dataclass(frozen=True)
class Destinations:
    """Destination geometries, in the order whose positions the nearest-destination search returns."""

    token: str
    geoms: np.ndarray

    def prepare(self) -> shapely.STRtree:
        return shapely.STRtree(self.geoms)


_prepared: OrderedDict[str, object] = OrderedDict()
_builds: dict[str, int] = {}
_prepared_lock = threading.Lock()


def prepared(payload: Zones | Destinations):
    """``payload.prepare()``, built once in this process per token and kept for the next partitions
    (the last :data:`KEEP_PREPARED` tokens)."""
    with _prepared_lock:
        hit = _prepared.get(payload.token)
        if hit is None:
            hit = payload.prepare()
            _prepared[payload.token] = hit
            _builds[payload.token] = _builds.get(payload.token, 0) + 1
            while len(_prepared) > KEEP_PREPARED:
                _prepared.popitem(last=False)
        else:
            _prepared.move_to_end(payload.token)
        return hit


def builds_in_this_process() -> dict[str, int]:
    """How many times this process prepared each token's zones or destinations."""
    with _prepared_lock:
        return dict(_builds)


# ------------------------------------------------------------------ one partition


def partition_areas(part: gpd.GeoDataFrame, zones: Zones) -> pd.DataFrame:
    """The area (km²) of one partition's features in each zone and class, summed."""
    z = prepared(zones)
    f = np.asarray(part.geometry.values, dtype=object)
    fi, zj = z.tree.query(f, predicate="intersects")
    frame = pd.DataFrame({
        "zone": z.labels[zj].astype(object), "class": part["_class"].to_numpy(dtype=object)[fi],
        "area_km2": pair_areas(f[fi], z.prepared_pieces()[zj]) / 1e6,
    })
    return frame.groupby(["zone", "class"], sort=False, as_index=False)["area_km2"].sum()


def partition_nearest(part: gpd.GeoDataFrame, destinations: Destinations) -> pd.DataFrame:
    """For each point of one partition: its position, the nearest destination's and the distance (m)."""
    tree = prepared(destinations)
    (i, j), dist = tree.query_nearest(np.asarray(part.geometry.values, dtype=object), return_distance=True,
                                      all_matches=False)
    return pd.DataFrame({"pos": part["_pos"].to_numpy(np.int64)[i], "nearest": j.astype(np.int64), "distance_m": dist})


# ------------------------------------------------------------------ the engine


class DaskEngine:
    """Area overlays and straight-line distances over Dask partitions shuffled along a Hilbert
    curve. ``client``: a ``dask.distributed`` client (see :func:`planwatch.cluster.client`), or None
    for Dask's threads in this process. ``npartitions``: the partitions the shuffle is asked for;
    default :data:`PARTITIONS_PER_WORKER` per worker thread, or one per :data:`PARTITION_ROWS`
    features when that is more. ``shuffled``: the persisted partitions of each feature layer (or
    set of points) by its content token, the last :data:`KEEP_SHUFFLED`."""

    name = "dask"

    def __init__(self, client=None, *, npartitions: int | None = None):
        self.client = client
        self.npartitions = npartitions
        self.shuffled: OrderedDict[str, object] = OrderedDict()

    @property
    def workers(self) -> int:
        """Worker threads: the client's (all its workers'), else this machine's cores."""
        if self.client is None:
            return os.cpu_count() or 1
        return max(1, sum(self.client.nthreads().values()))

    @contextmanager
    def _scheduler(self) -> Iterator[None]:
        import dask

        # spatial_shuffle computes its divisions at once: it too must run where the engine runs
        with dask.config.set(scheduler=self.client if self.client is not None else "threads"):
            yield

    def _partitions(self, frame: gpd.GeoDataFrame, token: str):
        """``frame`` as Dask partitions shuffled along a Hilbert curve, persisted; kept by ``token``."""
        import dask_geopandas

        hit = self.shuffled.get(token)
        if hit is not None:
            self.shuffled.move_to_end(token)
            return hit
        n = self.npartitions or max(PARTITIONS_PER_WORKER * self.workers, math.ceil(len(frame) / PARTITION_ROWS))
        n = max(1, min(n, len(frame)))
        parts = dask_geopandas.from_geopandas(frame, npartitions=n)
        x0, y0, x1, y1 = shapely.total_bounds(np.asarray(frame.geometry.values, dtype=object))
        if x1 > x0 and y1 > y0:  # the curve is scaled to the extent: a point or a straight line has none to order
            parts = parts.spatial_shuffle(by="hilbert", npartitions=n, calculate_partitions=False, shuffle_method="tasks")
        parts = parts.persist()
        self.shuffled[token] = parts
        while len(self.shuffled) > KEEP_SHUFFLED:
            self.shuffled.popitem(last=False)
        return parts

    def overlay_areas(self, features: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, zone_col: str, *,
                      by: str | None = None) -> pd.DataFrame:
        """What :func:`~planwatch.indicators.compute.overlay_areas` returns, computed over partitions."""
        import dask

        empty = overlay_inputs(features, zones, zone_col, by)
        if empty is not None:
            return empty
        geoms = np.asarray(features.geometry.values, dtype=object)
        classes = features[by].astype(str).to_numpy(dtype=object) if by else np.full(len(geoms), "", dtype=object)
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))  # no geometry, no area
        labels = zones[zone_col].astype(str).to_numpy(dtype=object)
        z_geoms = np.asarray(zones.geometry.values, dtype=object)
        zone_set = Zones(content_token("zones", z_geoms, labels), z_geoms, labels)
        frame = gpd.GeoDataFrame({"_class": classes[keep]}, geometry=geoms[keep], crs=features.crs)
        with self._scheduler():
            if len(frame):
                parts = self._partitions(frame, content_token("features", geoms[keep], classes[keep]))
                task = dask.delayed(zone_set, name=f"planwatch-zones-{zone_set.token}", traverse=False)
                sums = parts.map_partitions(partition_areas, task, meta=_AREAS_META).compute()
            else:
                sums = _AREAS_META
        sums = sums.rename(columns={"zone": zone_col, "class": by}) if by else sums.drop(columns="class").rename(columns={"zone": zone_col})
        return summed_areas(sums, zones, zone_col, features, by)

    def euclidean_distances(self, points: np.ndarray, destinations: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
        """What :func:`~planwatch.indicators.coverage.euclidean_distances` returns, computed over partitions."""
        import dask

        out_d = np.full(len(points), np.inf)
        out_j = np.full(len(points), -1, dtype=np.int64)
        d_geoms = np.asarray(destinations.geometry.values, dtype=object)
        if len(points) == 0 or len(d_geoms) == 0:
            return out_d, out_j
        targets = Destinations(content_token("destinations", d_geoms), d_geoms)
        pts = shapely.points(np.asarray(points, dtype=float))
        frame = gpd.GeoDataFrame({"_pos": np.arange(len(pts), dtype=np.int64)}, geometry=pts, crs=destinations.crs)
        with self._scheduler():
            parts = self._partitions(frame, content_token("points", pts))
            task = dask.delayed(targets, name=f"planwatch-destinations-{targets.token}", traverse=False)
            found = parts.map_partitions(partition_nearest, task, meta=_NEAREST_META).compute()
        pos = found["pos"].to_numpy(np.int64)
        out_d[pos], out_j[pos] = found["distance_m"].to_numpy(float), found["nearest"].to_numpy(np.int64)
        return out_d, out_j


__all__ = ["DaskEngine", "Destinations", "Zones", "builds_in_this_process", "content_token", "partition_areas",
           "partition_nearest", "prepared"]
