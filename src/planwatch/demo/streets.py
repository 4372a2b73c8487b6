"""A deterministic synthetic street network: a jittered grid clipped to a region.

No real road network ships with planwatch. For the demo, the tests and the benchmark this draws a
stand-in: grid nodes every ``spacing_m`` metres, each moved by up to ``jitter_m`` in x and y (a
seeded generator), kept when inside the region; a street joins two neighbouring kept nodes. The
streets are written as lines along each grid row and column (one line per unbroken run), so the
lines share their vertices at the junctions the way digitised or OSM-derived road data do.
Optionally the pieces of a region that falls apart are joined by straight connector roads, so the
network is one component. Everything is labelled synthetic by whoever stores it.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from scipy.spatial import cKDTree

from planwatch.indicators.network import network_from_edges


def jittered_grid(bounds, spacing_m: float, jitter_m: float, seed: int):
    """Grid node coordinates (rows × cols arrays) over ``bounds`` (xmin, ymin, xmax, ymax)."""
    xmin, ymin, xmax, ymax = bounds
    xs = np.arange(xmin, xmax + spacing_m, spacing_m)
    ys = np.arange(ymin, ymax + spacing_m, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    rng = np.random.default_rng(seed)
    gx = gx + rng.uniform(-jitter_m, jitter_m, gx.shape)
    gy = gy + rng.uniform(-jitter_m, jitter_m, gy.shape)
    return np.round(gx, 2), np.round(gy, 2)  # centimetres: stable through any file format


def _runs(keep_edge: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) node positions of each unbroken run of kept edges along one row."""
    out = []
    i, n = 0, len(keep_edge)
    while i < n:
        if keep_edge[i]:
            j = i
            while j < n and keep_edge[j]:
                j += 1
            out.append((i, j))  # nodes i .. j
            i = j
        else:
            i += 1
    return out


def synthetic_street_lines(
    region: shapely.Geometry | None,
    *,
    bounds=None,
    spacing_m: float = 250.0,
    jitter_m: float = 40.0,
    seed: int = 2021,
    connect: bool = True,
    crs=None,
) -> gpd.GeoDataFrame:
    """Street lines (columns ``id``, ``kind``: 街道 or 连接道路) of a jittered grid inside ``region``
    (or over ``bounds`` when ``region`` is None), in the region's metric CRS. With ``connect`` the
    separate pieces are joined to the largest by a straight 连接道路 between their closest nodes."""
    if region is not None:
        region = shapely.make_valid(region)
        shapely.prepare(region)
        bounds = region.bounds
    gx, gy = jittered_grid(bounds, spacing_m, jitter_m, seed)
    rows, cols = gx.shape
    inside = np.ones(gx.shape, bool) if region is None else shapely.contains_xy(region, gx, gy)
    lines: list[np.ndarray] = []
    for r in range(rows):  # streets along rows: node c joins c+1 when both are kept
        for a, b in _runs(inside[r, :-1] & inside[r, 1:]):
            lines.append(np.column_stack([gx[r, a:b + 1], gy[r, a:b + 1]]))
    for c in range(cols):
        for a, b in _runs(inside[:-1, c] & inside[1:, c]):
            lines.append(np.column_stack([gx[a:b + 1, c], gy[a:b + 1, c]]))
    kinds = ["街道"] * len(lines)
    if connect and lines:
        for link in _connectors(gx, gy, inside):
            lines.append(link)
            kinds.append("连接道路")
    geoms = _linestrings(lines)
    ids = [f"RD-{i:06d}" for i in range(1, len(lines) + 1)]
    return gpd.GeoDataFrame({"id": ids, "kind": kinds}, geometry=list(geoms), crs=crs)


def _linestrings(coords: list[np.ndarray]) -> np.ndarray:
    """LineStrings from a ragged list of (k, 2) coordinate arrays, in one vectorised call."""
    if not coords:
        return np.array([], dtype=object)
    counts = np.fromiter((len(c) for c in coords), dtype=np.int64, count=len(coords))
    return shapely.linestrings(np.concatenate(coords), indices=np.repeat(np.arange(len(coords)), counts))


def _connectors(gx: np.ndarray, gy: np.ndarray, inside: np.ndarray) -> list[np.ndarray]:
    """Straight links joining every other piece of the grid to the largest, closest nodes first."""
    rows, cols = gx.shape
    idx = np.arange(rows * cols).reshape(rows, cols)
    h = inside[:, :-1] & inside[:, 1:]
    v = inside[:-1, :] & inside[1:, :]
    u = np.concatenate([idx[:, :-1][h], idx[:-1, :][v]])
    w = np.concatenate([idx[:, 1:][h], idx[1:, :][v]])
    x, y = gx.ravel(), gy.ravel()
    net = network_from_edges(x, y, u, w)
    n, labels = net.components()
    used = np.zeros(len(x), bool)
    used[u] = used[w] = True
    labels = np.where(used, labels, -1)
    sizes = np.bincount(labels[used], minlength=n)
    if (sizes > 0).sum() <= 1:
        return []
    main = int(np.argmax(sizes))
    main_nodes = np.flatnonzero(labels == main)
    tree = cKDTree(np.column_stack([x[main_nodes], y[main_nodes]]))
    links = []
    for comp in np.flatnonzero(sizes):
        if comp == main:
            continue
        nodes = np.flatnonzero(labels == comp)
        dist, j = tree.query(np.column_stack([x[nodes], y[nodes]]))
        k = int(np.argmin(dist))
        a, b = nodes[k], main_nodes[j[k]]
        links.append(np.array([[x[a], y[a]], [x[b], y[b]]]))
    return links
