"""A layer read a page at a time in WGS 84, for OGC API – Features (web/ogc.py), without reading the
whole layer: what both stores share. Each store does the reading with its own spatial index (the
GeoPackage's R-tree, the PostGIS GiST index) in :meth:`~planwatch.store.base.Store.layer_page` and
:meth:`~planwatch.store.base.Store.layer_extent`.

Ids. A feature's id is its stored row id, ``fid``. Both stores write each version of a layer into a
new table with fids 1..n in feature order, so the id is also the feature's 1-based position, and a
new version renumbers. A page lists features in id order. Without a bbox, the page at offset k is
fids k+1 .. k+limit, read by key.

Bbox (WGS 84 degrees). A feature matches when its geometry in WGS 84 intersects the box, as the
standard says. "Its geometry in WGS 84" means its vertices transformed, as geopandas'
``to_crs(4326)`` does. The store looks in the storage CRS through a :class:`Window`:

- ``outer``: the box's image there, densified and padded, clipped to the layer. Only features whose
  index box overlaps it are candidates.
- ``inner``: an axis-aligned rectangle inside that image, or None. A candidate whose index box lies
  inside it matches without its geometry being read, since all its vertices fall in the WGS 84 box.
- The remaining candidates, near the box's edges, are tested exactly in WGS 84 (:func:`intersecting`).

The match count therefore costs an index count plus the features along the box's edges, never a
read of the whole layer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import geopandas as gpd

WGS84 = "EPSG:4326"
Box = tuple[float, float, float, float]  # minx, miny, maxx, maxy
# Points per side when a box is carried between CRSs. At one degree a side, the chord between two
# points is about 1 km and sags by centimetres from the true image of the side, far under PAD.
DENSIFY = 101
# How far the windows widen (outer) and narrow (inner), as a fraction of the layer's extent (6 m on
# a 60 km layer). This covers that sag, the float32 boxes of the R-tree, and the bend of a feature's
# edges between the two CRSs.
PAD = 1e-4


@dataclass
class LayerPage:
    """One page of a layer's current version, as :meth:`Store.layer_page` returns it.

    - ``features``: in WGS 84 (EPSG:4326), in id order, indexed by id (``fid``); the columns are those
      :meth:`Store.read_layer` returns.
    - ``matched``: how many features of the whole layer match (the bbox, or the id).
    - ``layer``: the registry row of the version read (:data:`~planwatch.store.base.LAYER_COLUMNS`)."""

    features: gpd.GeoDataFrame
    matched: int
    layer: dict


@dataclass(frozen=True)
class Window:
    """Where a store looks for the features that intersect the WGS 84 ``bbox`` (see the module
    docstring): ``outer`` and ``inner`` are in the layer's storage CRS, and ``inner`` is None when
    no rectangle inside the box's image could be found."""

    bbox: Box
    outer: Box
    inner: Box | None


@functools.lru_cache(maxsize=32)
def _transformer(source: str, target: str):
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)


def _sides(box: Box, n: int = DENSIFY) -> list[tuple[np.ndarray, np.ndarray]]:
    """The four sides of ``box`` as (x, y) points: left and right bottom to top, bottom and top
    left to right."""
    x0, y0, x1, y1 = box
    t = np.linspace(0.0, 1.0, n)
    xs, ys = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
    return [(np.full(n, x0), ys), (np.full(n, x1), ys), (xs, np.full(n, y0)), (xs, np.full(n, y1))]


def _carried(box: Box, source: str, target: str) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The sides of ``box`` (CRS ``source``) in CRS ``target``; None where PROJ cannot carry them."""
    transformer = _transformer(source, target)
    sides = [tuple(np.asarray(v, dtype=float) for v in transformer.transform(x, y)) for x, y in _sides(box)]
    if not all(np.isfinite(v).all() for side in sides for v in side):
        return None
    return sides


def _bounds(sides) -> Box:
    xs = np.concatenate([x for x, _ in sides])
    ys = np.concatenate([y for _, y in sides])
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def wgs84_extent(extent: Box | None, crs: str) -> Box | None:
    """The WGS 84 box around a layer whose extent in its storage CRS ``crs`` is ``extent`` (None when
    the layer holds no geometry, or PROJ cannot carry it)."""
    if extent is None or any(v is None for v in extent):
        return None
    sides = _carried(tuple(float(v) for v in extent), crs, WGS84)
    return None if sides is None else _bounds(sides)


def bbox_window(bbox: Box, crs: str, extent: Box | None) -> Window | None:
    """Where to look for the features of a layer (storage CRS ``crs``, its ``extent`` there) that
    intersect the WGS 84 ``bbox``. Returns None when none can, because the layer is empty or lies
    elsewhere. The box is clipped to the layer first, so PROJ is only asked about places where the
    layer is."""
    from shapely import Polygon, box

    around = wgs84_extent(extent, crs)
    if around is None:
        return None
    pad84 = PAD * max(around[2] - around[0], around[3] - around[1], 1e-9)
    clip = (max(bbox[0], around[0] - pad84), max(bbox[1], around[1] - pad84),
            min(bbox[2], around[2] + pad84), min(bbox[3], around[3] + pad84))
    if clip[0] > clip[2] or clip[1] > clip[3]:
        return None
    pad = PAD * max(extent[2] - extent[0], extent[3] - extent[1], 1e-9)
    sides = _carried(clip, WGS84, crs)
    if sides is None:  # pragma: no cover - a layer PROJ can carry one way but not back
        return Window(tuple(bbox), (extent[0] - pad, extent[1] - pad, extent[2] + pad, extent[3] + pad), None)
    x0, y0, x1, y1 = _bounds(sides)
    outer = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    (lx, _), (rx, _), (_, by), (_, ty) = sides
    inner = (float(lx.max()) + pad, float(by.max()) + pad, float(rx.min()) - pad, float(ty.min()) - pad)
    # the image of the box as a ring (bottom, right, top and left sides in turn); the inner rectangle
    # must lie inside it, which also catches a CRS whose axes do not run east and north
    (left, right, bottom, top) = sides
    ring = np.concatenate([np.column_stack(bottom), np.column_stack(right),
                           np.column_stack(top)[::-1], np.column_stack(left)[::-1]])
    if inner[0] >= inner[2] or inner[1] >= inner[3] or not Polygon(ring).contains(box(*inner)):
        inner = None
    return Window(tuple(float(v) for v in bbox), outer, inner)


def to_wgs84(geometries, crs: str):
    """``geometries`` (a shapely array in CRS ``crs``) in WGS 84, vertices transformed as geopandas'
    ``to_crs(4326)`` does."""
    import geopandas as gpd

    return gpd.GeoSeries(geometries, crs=crs).to_crs(WGS84).values


def intersecting(geometries, crs: str, bbox: Box) -> np.ndarray:
    """Which of ``geometries`` (CRS ``crs``) intersect the WGS 84 ``bbox`` once in WGS 84: the exact
    test a window's edge candidates take."""
    import shapely

    return np.asarray(shapely.intersects(np.asarray(to_wgs84(geometries, crs)), shapely.box(*bbox)), dtype=bool)


__all__ = ["DENSIFY", "PAD", "WGS84", "LayerPage", "Window", "bbox_window", "intersecting", "to_wgs84", "wgs84_extent"]
