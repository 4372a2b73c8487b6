"""Network distance from every origin to its nearest destination: one multi-source Dijkstra.

Every destination enters the search with its own head start — the straight snap distance plus the
distance along its edge to each end node — which ``scipy.sparse.csgraph.dijkstra(indices=…,
min_only=True)`` cannot take directly (its sources all start at 0). So the CSR graph gets one
extra row: a virtual source joined to each destination's two edge ends by edges of exactly that
head start, and a single Dijkstra from it gives, for every node, the distance to its nearest
destination. An origin then takes the better of its two edge ends (plus the distance along its
edge and its own snap distance), or the direct way along the edge when an origin and a
destination snapped to the same edge. Nothing is approximated: the result equals networkx's
shortest path on the same graph with the snap points inserted, to floating-point rounding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from planwatch.indicators.network import Network, Snap


def node_distances(network: Network, destinations: Snap, *, limit: float = np.inf) -> np.ndarray:
    """For every node, the network distance (m) to the nearest destination, snap distances counted;
    ``inf`` where none is reachable (or none within ``limit``)."""
    n = network.n_nodes
    if len(destinations) == 0:
        return np.full(n, np.inf)
    tgt = np.concatenate([destinations.u, destinations.v])
    w = np.concatenate([destinations.snap_m + destinations.to_u, destinations.snap_m + destinations.to_v])
    order = np.lexsort((w, tgt))
    tgt, w = tgt[order], w[order]
    first = np.r_[True, tgt[1:] != tgt[:-1]]
    tgt, w = tgt[first], w[first]
    g = network.graph
    indptr = np.concatenate([g.indptr, [g.indptr[-1] + len(tgt)]])
    indices = np.concatenate([g.indices, tgt.astype(g.indices.dtype)])
    data = np.concatenate([g.data, w])
    aug = sp.csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))
    dist = dijkstra(aug, directed=True, indices=[n], min_only=True, limit=limit)
    return np.asarray(dist)[:n]


def nearest_destination_distance(
    network: Network, origins: Snap, destinations: Snap, *, limit: float = np.inf
) -> np.ndarray:
    """For every origin, the network distance (m) to its nearest destination, both snap distances
    counted; ``inf`` where none is reachable (or none within ``limit``)."""
    dist = node_distances(network, destinations, limit=limit)
    via_nodes = np.minimum(origins.to_u + dist[origins.u], origins.to_v + dist[origins.v]) + origins.snap_m
    direct = _same_edge(origins, destinations)
    out = np.minimum(via_nodes, direct)
    if np.isfinite(limit):
        out[out > limit] = np.inf
    return out


def _same_edge(origins: Snap, destinations: Snap) -> np.ndarray:
    """Distance along a shared edge, for origins with a destination on the same edge (else inf):
    snap_o + |pos_o − pos_d| + snap_d, minimised by a sweep over each edge in both directions."""
    out = np.full(len(origins), np.inf)
    if len(destinations) == 0 or len(origins) == 0:
        return out
    shared = np.intersect1d(origins.edge[origins.edge >= 0], destinations.edge[destinations.edge >= 0])
    if len(shared) == 0:
        return out
    o_sel = np.flatnonzero(np.isin(origins.edge, shared))
    d_sel = np.flatnonzero(np.isin(destinations.edge, shared))
    edge = np.concatenate([destinations.edge[d_sel], origins.edge[o_sel]])
    pos = np.concatenate([destinations.to_u[d_sel], origins.to_u[o_sel]])
    is_dest = np.concatenate([np.ones(len(d_sel), bool), np.zeros(len(o_sel), bool)])
    snap_d = np.concatenate([destinations.snap_m[d_sel], np.zeros(len(o_sel))])
    who = np.concatenate([np.full(len(d_sel), -1), o_sel])
    order = np.lexsort((~is_dest, pos, edge))  # by edge, then position; destinations first at a tie
    edge, pos, is_dest, snap_d, who = edge[order], pos[order], is_dest[order], snap_d[order], who[order]
    forward = pd.Series(np.where(is_dest, snap_d - pos, np.inf)).groupby(edge).cummin().to_numpy() + pos
    rev = slice(None, None, -1)
    backward = pd.Series(np.where(is_dest, snap_d + pos, np.inf)[rev]).groupby(edge[rev]).cummin().to_numpy()[rev] - pos
    best = np.minimum(forward, backward)
    o = ~is_dest
    out[who[o]] = best[o] + origins.snap_m[who[o]]
    return out
