"""A walking network from road lines: nodes, undirected edges and a CSR graph, and snapping points to it.

Build (:func:`network_from_lines`):

- every line is cut into its straight segments; every distinct vertex is a node (vertices closer
  than ``tolerance`` metres are one node) and every segment an undirected edge whose weight is its
  length in metres. Lines that share a vertex (an OSM way's shared nodes, a digitised junction) are
  joined there; a line's intermediate vertices are nodes too, so edges are exact straight pieces and
  snapping to them is exact.
- with ``node_crossings`` (the default) two segments that cross, or where one ends on the other's
  interior, are also joined: both are split at the crossing point. Turn it off for data that draws
  bridges and tunnels as crossings without a junction, as OSM does (:func:`planwatch.indicators.osm`
  builds such networks without it). Collinear overlapping segments are not merged.
- parallel edges between the same two nodes keep the shortest.

Snap (:func:`snap_points`): a point goes to the nearest point of the nearest edge (``how="edge"``),
or to the nearest node (``how="node"``). The straight snap distance is part of the distance the
routing reports: origin → snap point → along its edge → … → along the destination's edge → snap
point → destination.

Everything is in a metric CRS (metres), never degrees. Vectorised over NumPy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

TOLERANCE_M = 0.01  # vertices closer than this (m) are the same node
GEOMETRY_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
                  6: "MultiPolygon", 7: "GeometryCollection"}


class NetworkError(ValueError):
    """Road lines that cannot make a network: none, empty, or not lines; the message says which."""


@dataclass(frozen=True, eq=False)
class Network:
    """An undirected network in a metric CRS: node coordinates, edges ``u < v`` with their length in
    metres (straight segments between the node coordinates) and the symmetric CSR adjacency matrix."""

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    graph: sp.csr_matrix
    crs: object = None
    _trees: dict = field(default_factory=dict, repr=False)  # lazily built search trees (edges, nodes)

    @property
    def n_nodes(self) -> int:
        return len(self.x)

    @property
    def n_edges(self) -> int:
        return len(self.u)

    def components(self) -> tuple[int, np.ndarray]:
        """(number of connected components, component label per node)."""
        return connected_components(self.graph, directed=False)

    def edge_lines(self) -> np.ndarray:
        """Each edge as a shapely LineString (u → v)."""
        xy = np.stack([np.column_stack([self.x[self.u], self.y[self.u]]), np.column_stack([self.x[self.v], self.y[self.v]])], axis=1)
        return shapely.linestrings(xy)

    def edge_tree(self) -> shapely.STRtree:
        """An STRtree over the edges (built once)."""
        if "edges" not in self._trees:
            self._trees["edges"] = shapely.STRtree(self.edge_lines())
        return self._trees["edges"]

    def node_tree(self):
        """A KD-tree over the nodes (built once)."""
        if "nodes" not in self._trees:
            from scipy.spatial import cKDTree

            self._trees["nodes"] = cKDTree(np.column_stack([self.x, self.y]))
        return self._trees["nodes"]

    def describe(self) -> str:
        n, _ = self.components()
        km = self.length.sum() / 1000
        return f"{self.n_nodes:,} nodes, {self.n_edges:,} edges, {km:,.1f} km, {n} connected component{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class Snap:
    """Where points meet the network. For each point: the edge it snapped to (-1 for a node snap),
    the edge's end nodes ``u``/``v`` (both the node for a node snap), the distance along the edge
    from the snap point to ``u`` and to ``v`` (m), and the straight snap distance (m)."""

    edge: np.ndarray
    u: np.ndarray
    v: np.ndarray
    to_u: np.ndarray
    to_v: np.ndarray
    snap_m: np.ndarray

    def __len__(self) -> int:
        return len(self.u)


# ------------------------------------------------------------------ build


def line_segments(geoms) -> tuple[np.ndarray, np.ndarray]:
    """The straight segments of line geometries (LineString / MultiLineString; other kinds are
    skipped): two (n, 2) arrays of start and end coordinates. Zero-length segments are dropped."""
    geoms = np.asarray(geoms, dtype=object)
    parts = shapely.get_parts(geoms[~shapely.is_missing(geoms)])
    parts = parts[np.isin(shapely.get_type_id(parts), [1, 2]) & ~shapely.is_empty(parts)]  # LineString, LinearRing
    coords, index = shapely.get_coordinates(parts, return_index=True)
    same = index[1:] == index[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    keep = (a != b).any(axis=1)
    return a[keep], b[keep]


def split_crossings(a: np.ndarray, b: np.ndarray, eps: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Split segments where they cross or where one ends on another's interior, so that every
    junction is a shared vertex. Returns the new (start, end) arrays. Vectorised: STRtree pairs of
    overlapping bounding boxes, then the segment–segment intersection parameters in NumPy."""
    if len(a) < 2:
        return a, b
    segs = shapely.linestrings(np.stack([a, b], axis=1))
    i, j = shapely.STRtree(segs).query(segs)  # bounding boxes only: the exact test is the NumPy below (4× faster)
    keep = i < j
    i, j = i[keep], j[keep]
    p, r = a[i], b[i] - a[i]
    q, s = a[j], b[j] - a[j]
    denom = r[:, 0] * s[:, 1] - r[:, 1] * s[:, 0]
    qp = q - p
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qp[:, 0] * s[:, 1] - qp[:, 1] * s[:, 0]) / denom  # along segment i
        w = (qp[:, 0] * r[:, 1] - qp[:, 1] * r[:, 0]) / denom  # along segment j
    ok = np.isfinite(t) & np.isfinite(w) & (denom != 0)  # parallel or collinear: no single crossing point
    ok &= (t >= -eps) & (t <= 1 + eps) & (w >= -eps) & (w <= 1 + eps)  # the lines meet on both segments
    inner_t = ok & (t > eps) & (t < 1 - eps)
    inner_w = ok & (w > eps) & (w < 1 - eps)
    # The junction point: an existing endpoint when one of the two ends there (so both segments get
    # bit-identical coordinates), else the computed crossing.
    point = p + np.clip(t, 0, 1)[:, None] * r
    w_end0, w_end1 = ok & (w <= eps), ok & (w >= 1 - eps)
    t_end0, t_end1 = ok & (t <= eps), ok & (t >= 1 - eps)
    point = np.where(w_end0[:, None], q, point)
    point = np.where(w_end1[:, None], q + s, point)
    point = np.where(t_end0[:, None], p, point)
    point = np.where(t_end1[:, None], p + r, point)
    split_i = inner_t  # i is split when the junction lies inside it
    split_j = inner_w
    seg = np.concatenate([i[split_i], j[split_j]])
    if len(seg) == 0:
        return a, b
    pos = np.concatenate([t[split_i], w[split_j]])
    pts = np.concatenate([point[split_i], point[split_j]])
    n = len(a)
    all_seg = np.concatenate([np.arange(n), np.arange(n), seg])
    all_pos = np.concatenate([np.zeros(n), np.ones(n), pos])
    all_pts = np.concatenate([a, b, pts])
    order = np.lexsort((all_pos, all_seg))
    all_seg, all_pts = all_seg[order], all_pts[order]
    same = all_seg[1:] == all_seg[:-1]
    na, nb = all_pts[:-1][same], all_pts[1:][same]
    keep = (na != nb).any(axis=1)
    return na[keep], nb[keep]


def node_ids(points: np.ndarray, tolerance: float = TOLERANCE_M) -> tuple[np.ndarray, np.ndarray]:
    """Merge coordinates on a ``tolerance`` grid: (node id per point, node coordinates (k, 2)).
    Node ids follow first appearance, so the same input gives the same ids."""
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2))
    k = np.round(points / tolerance).astype(np.int64)
    k -= k.min(axis=0)
    span = int(k[:, 1].max()) + 1
    if k[:, 0].max() < (np.iinfo(np.int64).max // span):
        ids, _ = pd.factorize(k[:, 0] * span + k[:, 1], sort=False)
    else:  # pragma: no cover - a plan area of 10^10 grid cells a side
        ids, _ = pd.factorize(pd.MultiIndex.from_arrays([k[:, 0], k[:, 1]]), sort=False)
    first = np.full(ids.max() + 1, -1, dtype=np.int64)
    first[ids[::-1]] = np.arange(len(ids))[::-1]
    return ids.astype(np.int64), points[first]


def network_from_edges(x, y, u, v, length=None, *, crs=None) -> Network:
    """A network from node coordinates and undirected edges (node indices). ``length`` defaults to
    the straight distance between the end nodes (m). Self-loops are dropped; parallel edges keep
    the shortest."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
    if length is None:
        length = np.hypot(x[u] - x[v], y[u] - y[v])
    length = np.asarray(length, dtype=float)
    if not np.isfinite(length).all() or (length < 0).any():
        raise NetworkError("edge lengths must be finite and not negative")
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    keep = lo != hi
    lo, hi, length = lo[keep], hi[keep], length[keep]
    n = len(x)
    key = lo * n + hi
    order = np.lexsort((length, key))
    key, lo, hi, length = key[order], lo[order], hi[order], length[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
    lo, hi, length = lo[first], hi[first], length[first]
    return Network(x=x, y=y, u=lo, v=hi, length=length, graph=csr_graph(n, lo, hi, length), crs=crs)


def csr_graph(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> sp.csr_matrix:
    """The symmetric n × n CSR matrix of undirected edges, built directly (explicit zeros kept)."""
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    data = np.concatenate([w, w])
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_matrix((data[order], cols[order].astype(np.int32 if n < 2**31 else np.int64), indptr), shape=(n, n))


def network_from_lines(lines, *, node_crossings: bool = True, tolerance: float = TOLERANCE_M, crs=None, name: str = "road layer") -> Network:
    """A walking network from road lines in a metric CRS (a GeoDataFrame, GeoSeries or array of
    LineString / MultiLineString). See the module docstring for how nodes and edges are made.
    Raises :class:`NetworkError` when there are no lines (e.g. a polygon or point layer)."""
    geoms = getattr(lines, "geometry", lines)
    if crs is None:
        crs = getattr(geoms, "crs", None)
    if crs is not None and getattr(crs, "is_geographic", False):
        raise NetworkError(f"{name}: its CRS is geographic (degrees); transform it to a metric CRS first")
    arr = np.asarray(getattr(geoms, "values", geoms), dtype=object)
    if len(arr) == 0:
        raise NetworkError(f"{name}: has no features")
    types = shapely.get_type_id(arr[~shapely.is_missing(arr)])
    if not np.isin(types, [1, 2, 5]).any():
        kinds = sorted({GEOMETRY_NAMES.get(int(t), str(t)) for t in np.unique(types)}) if len(types) else ["none"]
        raise NetworkError(f"{name}: has no lines (geometry types: {', '.join(kinds)}); a road layer must hold LineStrings")
    a, b = line_segments(arr)
    if len(a) == 0:
        raise NetworkError(f"{name}: its lines are empty or have zero length")
    if node_crossings:
        a, b = split_crossings(a, b)
    ids, xy = node_ids(np.concatenate([a, b]), tolerance)
    n = len(a)
    return network_from_edges(xy[:, 0], xy[:, 1], ids[:n], ids[n:], crs=crs)


# ------------------------------------------------------------------ snap


def snap_points(network: Network, xy: np.ndarray, how: str = "edge") -> Snap:
    """Snap points ((n, 2) metric coordinates) to the nearest edge (exact projection onto the
    segment) or to the nearest node."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    n = len(xy)
    if network.n_nodes == 0:
        raise NetworkError("the network has no nodes")
    if how == "node" or network.n_edges == 0:
        dist, node = network.node_tree().query(xy)
        node = node.astype(np.int64)
        zero = np.zeros(n)
        return Snap(edge=np.full(n, -1, dtype=np.int64), u=node, v=node, to_u=zero, to_v=zero.copy(), snap_m=dist)
    if how != "edge":
        raise ValueError(f"snap must be 'edge' or 'node', not {how!r}")
    edge, t, dist = _nearest_edges(network, xy)
    u, v = network.u[edge], network.v[edge]
    length = network.length[edge]
    return Snap(edge=edge, u=u, v=v, to_u=t * length, to_v=(1.0 - t) * length, snap_m=dist)


def _project(network: Network, xy: np.ndarray, edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position (0–1 from u) of each point's projection onto its edge, and the distance to it."""
    u, v = network.u[edge], network.v[edge]
    ax, ay = network.x[u], network.y[u]
    dx, dy = network.x[v] - ax, network.y[v] - ay
    t = np.clip(((xy[:, 0] - ax) * dx + (xy[:, 1] - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return t, np.hypot(xy[:, 0] - (ax + t * dx), xy[:, 1] - (ay + t * dy))


def _nearest_edges(network: Network, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nearest edge of each point, exactly, in three vectorised steps: the nearest *node* (a
    KD-tree) bounds the distance to the nearest edge by r; every edge whose box meets the point's
    ±r box is a candidate (STRtree, boxes only); the candidates' exact distances pick the edge
    (ties: the lowest edge index). Several times faster than a GEOS nearest-neighbour query."""
    r, _ = network.node_tree().query(xy)
    r = r * (1 + 1e-9) + 1e-6
    boxes = shapely.box(xy[:, 0] - r, xy[:, 1] - r, xy[:, 0] + r, xy[:, 1] + r)
    i, e = network.edge_tree().query(boxes)
    t, d = _project(network, xy[i], e)
    order = np.lexsort((e, d, i))
    first = np.unique(i[order], return_index=True)[1]
    pick = order[first]
    edge = np.full(len(xy), -1, dtype=np.int64)
    tt, dd = np.empty(len(xy)), np.empty(len(xy))
    edge[i[pick]], tt[i[pick]], dd[i[pick]] = e[pick], t[pick], d[pick]
    lost = np.flatnonzero(edge < 0)  # the nearest node has no edge (a network given with isolated nodes)
    if len(lost):
        _, e2 = network.edge_tree().query_nearest(shapely.points(xy[lost]), all_matches=False)
        edge[lost] = e2
        tt[lost], dd[lost] = _project(network, xy[lost], e2)
    return edge, tt, dd
