"""Cut large zones into small pieces before an overlay: the trick worth carrying to every engine.

A zone layer (a dissolved farmland layer, an urban boundary) can be one polygon with tens of
thousands of vertices. Testing a 4-vertex parcel against it costs as much as the zone is big. Cut
into pieces of at most a few dozen vertices, most parcels fall wholly inside one piece (a cheap
prepared ``contains_properly``), and the rest intersect a small piece. The pieces of one zone
have disjoint interiors and their union is the zone, so summing a parcel's overlaps with the pieces
gives its overlap with the zone.

The cut halves a piece's bounding box along its longer side until the piece has few enough
vertices, as PostGIS's ``ST_Subdivide`` does, vectorised over all pieces of a level at once.
"""

from __future__ import annotations

import numpy as np
import shapely

MAX_VERTICES = 64  # coordinates per piece; see bench/review.py
MIN_VERTICES = 8  # a box holding one polygon vertex cuts it to ≤ 8 coordinates; fewer may never be reached
MAX_DEPTH = 40  # halvings: stops a degenerate piece (many vertices in no area) from looping


def polygon_parts(geoms: np.ndarray, index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The polygons with area inside ``geoms`` (multi-parts and collections exploded), and the
    index of the geometry each came from."""
    parts, i = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
    if index is not None:
        i = index[i]
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    return parts[keep], i[keep]


def subdivide(geoms, max_vertices: int = MAX_VERTICES) -> tuple[np.ndarray, np.ndarray]:
    """Cut polygons into polygon pieces of at most ``max_vertices`` coordinates.

    ``geoms``: an array of (Multi)Polygons in a projected CRS. Returns ``(pieces, source)``: the
    pieces, and for each the position of the geometry it was cut from. ``max_vertices`` below
    :data:`MIN_VERTICES` is raised to it (a rectangle has 5 coordinates and halves into rectangles).
    """
    max_vertices = max(int(max_vertices), MIN_VERTICES)
    parts, idx = polygon_parts(geoms)
    out_pieces, out_index = [], []
    for _ in range(MAX_DEPTH):
        if len(parts) == 0:
            break
        small = shapely.get_num_coordinates(parts) <= max_vertices
        out_pieces.append(parts[small])
        out_index.append(idx[small])
        big, bidx = parts[~small], idx[~small]
        if len(big) == 0:
            parts = big
            break
        b = shapely.bounds(big)
        along_x = (b[:, 2] - b[:, 0]) >= (b[:, 3] - b[:, 1])
        mid = np.where(along_x, (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2)
        low = shapely.box(b[:, 0], b[:, 1], np.where(along_x, mid, b[:, 2]), np.where(along_x, b[:, 3], mid))
        high = shapely.box(np.where(along_x, mid, b[:, 0]), np.where(along_x, b[:, 1], mid), b[:, 2], b[:, 3])
        halves = shapely.intersection(np.concatenate([big, big]), np.concatenate([low, high]))
        parts, idx = polygon_parts(halves, np.concatenate([bidx, bidx]))
    if len(parts):  # MAX_DEPTH reached: keep what is left as it is
        out_pieces.append(parts)
        out_index.append(idx)
    if not out_pieces:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    return np.concatenate(out_pieces), np.concatenate(out_index).astype(np.int64)
