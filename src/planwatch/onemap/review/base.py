"""The review engine interface: the area where each parcel overlaps each zone.

One interface here, one file per engine beside it (``geopandas_engine.py``, ``postgis_engine.py``,
``dask_engine.py``, ``duckdb_engine.py``), chosen by name through :func:`get_engine`. The review and the
spatial rules call :meth:`ReviewEngine.overlaps` and never ask which engine they hold.
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

OVERLAP_COLUMNS = ["parcel", "zone", "overlap_m2"]

# name -> "module:Class" (imported on first use, so an engine's driver is needed only when chosen)
ENGINES: dict[str, str] = {
    "geopandas": "planwatch.onemap.review.geopandas_engine:GeoPandasEngine",
    "postgis": "planwatch.onemap.review.postgis_engine:PostGISEngine",
    "dask": "planwatch.onemap.review.dask_engine:DaskEngine",
    "duckdb": "planwatch.onemap.review.duckdb_engine:DuckDBEngine",
}
DEFAULT_ENGINE = "geopandas"


class ReviewEngine(ABC):
    """Computes parcel × zone overlap areas. Inputs are in one metric CRS (metres)."""

    name: str = ""

    @abstractmethod
    def overlaps(self, parcels: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> pd.DataFrame:
        """Every (parcel, zone) pair whose overlap area is > 0.

        ``parcels`` and ``zones`` are polygon GeoDataFrames (or GeoSeries) in the same projected CRS.
        Returns a DataFrame with columns ``parcel`` and ``zone`` (positional indices, 0-based, into
        the inputs) and ``overlap_m2`` (the area of their intersection, in the CRS's square units),
        sorted by parcel then zone.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# the optional part (planwatch.extras) each engine needs beyond the default install
ENGINE_EXTRAS = {"postgis": "server", "dask": "scale", "duckdb": "duckdb"}


def get_engine(name: str | None = None, **options) -> ReviewEngine:
    """The engine called ``name`` (default ``$PLANWATCH_REVIEW_ENGINE`` or ``geopandas``)."""
    name = name or os.environ.get("PLANWATCH_REVIEW_ENGINE") or DEFAULT_ENGINE
    if isinstance(name, ReviewEngine):
        return name
    try:
        module_name, class_name = ENGINES[name].split(":")
    except KeyError:
        raise ValueError(f"unknown review engine {name!r}; known engines: {', '.join(ENGINES)}") from None
    if name in ENGINE_EXTRAS:
        from planwatch.extras import require

        require(ENGINE_EXTRAS[name], f"the {name} review engine")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**options)


def check_inputs(parcels, zones) -> tuple[np.ndarray, np.ndarray]:
    """The two geometry arrays, after checking what every engine expects: polygons, one metric CRS."""
    pg, zg = _geometries(parcels, "parcels"), _geometries(zones, "zones")
    pc, zc = getattr(parcels, "crs", None), getattr(zones, "crs", None)
    if pc != zc:
        raise ValueError(f"parcels ({pc}) and zones ({zc}) are in different CRS; reproject one first")
    if pc is not None and not pc.is_projected:
        raise ValueError(f"the CRS {pc.to_string()} is not projected: overlap areas need metres, not degrees")
    return pg, zg


def _geometries(frame, what: str) -> np.ndarray:
    geoms = np.asarray(frame.geometry.array if hasattr(frame, "geometry") else frame, dtype=object)
    if len(geoms) == 0:
        return geoms
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ValueError(f"{what}: feature {i} has no geometry (null or empty)")
    types = shapely.get_type_id(geoms)
    bad = ~np.isin(types, (3, 6))  # Polygon, MultiPolygon
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{what}: feature {i} is a {geoms[i].geom_type}, expected Polygon or MultiPolygon")
    return geoms


def empty_overlaps() -> pd.DataFrame:
    return pd.DataFrame(
        {"parcel": np.empty(0, np.int64), "zone": np.empty(0, np.int64), "overlap_m2": np.empty(0, np.float64)}
    )


def sum_by_pair(parcel: np.ndarray, zone: np.ndarray, area: np.ndarray, n_zones: int) -> pd.DataFrame:
    """Sum piece-level areas per (parcel, zone), drop zero sums, sort by parcel then zone."""
    if len(parcel) == 0:
        return empty_overlaps()
    key = parcel.astype(np.int64) * max(n_zones, 1) + zone.astype(np.int64)
    uniq, inv = np.unique(key, return_inverse=True)
    total = np.bincount(inv, weights=area, minlength=len(uniq))
    keep = total > 0
    uniq, total = uniq[keep], total[keep]
    return pd.DataFrame({"parcel": uniq // max(n_zones, 1), "zone": uniq % max(n_zones, 1), "overlap_m2": total})
