"""Benchmark: network coverage of 200,000 origins over a synthetic street network of ~500,000 nodes.

Load (deterministic, numpy seed 20215), written as road *lines* — what a user imports:

* ``--network grid`` (default): the demo's street generator (``planwatch.demo.streets``), a
  jittered grid, 100 m spacing, ±30 m jitter, 708 × 708 nodes (~501,000 nodes, ~1,000,000 edges,
  70.7 km a side), one line per grid row and column;
* ``--network voronoi``: the edges of a Voronoi diagram of random points (irregular, degree-3
  junctions; ~500,000 nodes), one line per edge.

Origins: N random points (default 200,000). Destinations: D random network nodes (default 2,000),
so that every engine sees the same destination nodes and none needs a destination snap.
Coverage: within 500 m.

Engines, side by side in this process, each timed from the road lines to the per-origin answer
(the network build counted):

* ``planwatch`` — lines → nodes/edges (with crossing detection) → scipy CSR → snap origins to the
  nearest *edge* → one multi-source Dijkstra → distance per origin. Shown apart: the query with a
  search limit of the coverage distance, and snapping to the nearest *node* (pandana's answer).
* ``networkx`` — the reference: the graph built from the same edges, then (a) one
  ``multi_source_dijkstra_path_length`` from every destination (the same algorithm), and (b) the
  naive way, ``single_source_dijkstra_path_length`` from each destination, run on a sample of
  destinations and extrapolated linearly to D (said so in the output).
* ``pandana`` — pandana reads no lines: planwatch's line reader makes its nodes and edges (the time
  is counted), then ``pandana.Network`` (contraction hierarchies), ``get_node_ids`` (nearest node),
  ``set_pois`` + ``nearest_pois(maxdist=500)``. Its contraction-hierarchy build grows much faster
  than linearly on these networks (n^1.5 on the Voronoi network, n^1.7–2 on the grid), so by
  default it runs on smaller networks of the same generator (``--pandana-sizes``) and the
  full-size time is extrapolated from a power law fitted to them — said so in the output. (Checked
  at full size on 2 CPUs: the grid's fit predicted 3,346 s, measured 2,595 s; the Voronoi
  network's 529 s, measured 524 s.) ``--pandana-full`` runs it at full size instead (about 45
  minutes on the grid). Not installed: it says so.

Every engine's node-snapped answer is checked against planwatch's (max absolute difference, m).

Run: ``.venv/bin/python bench/access.py [--network grid|voronoi] [--nodes N] [--origins N]
[--destinations D] [--within M] [--nx-sample K] [--pandana-sizes 5000,10000,…] [--pandana-full]
[--skip networkx,pandana]``
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time

import geopandas as gpd
import numpy as np
import shapely

from planwatch.demo.streets import synthetic_street_lines
from planwatch.indicators.network import network_from_lines, snap_points
from planwatch.indicators.routing import nearest_destination_distance, node_distances

SEED = 20215
CRS = "EPSG:4548"
X0, Y0 = 440_000.0, 4_400_000.0  # somewhere in Beijing, metres
SPACING = 100.0


# ------------------------------------------------------------------ load


def grid_lines(n_nodes: int, seed: int = SEED) -> gpd.GeoDataFrame:
    side = round(math.sqrt(n_nodes))
    extent = (side - 1) * SPACING
    return synthetic_street_lines(None, bounds=(X0, Y0, X0 + extent, Y0 + extent), spacing_m=SPACING, jitter_m=30.0,
                                  seed=seed, connect=False, crs=CRS)


def voronoi_lines(n_nodes: int, seed: int = SEED) -> gpd.GeoDataFrame:
    from scipy.spatial import Voronoi

    rng = np.random.default_rng(seed)
    extent = math.sqrt(n_nodes / 2) * SPACING  # a Voronoi diagram of k points has about 2k vertices
    vor = Voronoi(rng.uniform(0, extent, (n_nodes // 2, 2)))
    ridges = np.array([r for r in vor.ridge_vertices if -1 not in r])
    xy = np.round(vor.vertices, 2)
    seg = xy[ridges]
    inside = (seg.min(axis=(1, 2)) >= 0) & (seg.max(axis=(1, 2)) <= extent)
    seg = seg[inside] + [X0, Y0]
    return gpd.GeoDataFrame(geometry=list(shapely.linestrings(seg)), crs=CRS)


def load(kind: str, n_nodes: int, n_origins: int, seed: int = SEED):
    lines = (grid_lines if kind == "grid" else voronoi_lines)(n_nodes, seed)
    xmin, ymin, xmax, ymax = shapely.total_bounds(np.asarray(lines.geometry.values))
    rng = np.random.default_rng(seed)
    origins = np.column_stack([rng.uniform(xmin, xmax, n_origins), rng.uniform(ymin, ymax, n_origins)])
    return lines, origins, rng


def timed(label: str, fn, times: dict):
    t = time.perf_counter()
    out = fn()
    times[label] = time.perf_counter() - t
    return out


# ------------------------------------------------------------------ engines


def run_planwatch(lines, origins, dest_xy, within):
    times: dict[str, float] = {}
    net = timed("build (lines → CSR)", lambda: network_from_lines(lines), times)
    o = timed("snap origins to edges", lambda: snap_points(net, origins, "edge"), times)
    d = timed("snap destinations", lambda: snap_points(net, dest_xy, "edge"), times)
    dist = timed("multi-source Dijkstra + per origin", lambda: nearest_destination_distance(net, o, d), times)
    extra = {}
    t = time.perf_counter()
    nearest_destination_distance(net, o, d, limit=within)
    extra["query with limit = within"] = time.perf_counter() - t
    t = time.perf_counter()
    on = snap_points(net, origins, "node")
    node_dist = node_distances(net, snap_points(net, dest_xy, "node"))
    extra["node snap + Dijkstra (no build)"] = time.perf_counter() - t
    return net, dist, node_dist[on.u], times, extra


@contextlib.contextmanager
def quiet_stdout():
    """Silence pandana's C++ progress lines (written straight to file descriptor 1)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def run_pandana(lines, origins, dest_xy, within):
    import pandana
    import pandas as pd

    times: dict[str, float] = {}
    net = timed("parse lines (planwatch's reader)", lambda: network_from_lines(lines), times)

    def build():
        with quiet_stdout():
            return pandana.Network(pd.Series(net.x), pd.Series(net.y), pd.Series(net.u), pd.Series(net.v),
                                   pd.DataFrame({"w": net.length}), twoway=True)

    pn = timed("pandana.Network (contraction hierarchies)", build, times)
    ids = timed("get_node_ids (origins)", lambda: pn.get_node_ids(pd.Series(origins[:, 0]), pd.Series(origins[:, 1])), times)

    def query():
        with quiet_stdout():
            pn.set_pois("dest", within, 1, pd.Series(dest_xy[:, 0]), pd.Series(dest_xy[:, 1]))
            return pn.nearest_pois(within, "dest", num_pois=1)[1]

    per_node = timed("set_pois + nearest_pois", query, times)
    return net, per_node.loc[ids.to_numpy()].to_numpy(float), times


def run_networkx(lines, origins, dest_nodes, sample: int, rng):
    import networkx as nx

    times: dict[str, float] = {}
    net = timed("parse lines (planwatch's reader)", lambda: network_from_lines(lines), times)

    def build():
        g = nx.Graph()
        g.add_weighted_edges_from(zip(net.u.tolist(), net.v.tolist(), net.length.tolist(), strict=True))
        return g

    g = timed("graph build", build, times)
    ref = timed("multi_source_dijkstra (all destinations)", lambda: nx.multi_source_dijkstra_path_length(g, set(dest_nodes.tolist())), times)
    timed("snap origins to nodes (KD-tree)", lambda: snap_points(net, origins, "node"), times)
    picks = rng.choice(dest_nodes, size=min(sample, len(dest_nodes)), replace=False)
    t = time.perf_counter()
    for s in picks:
        nx.single_source_dijkstra_path_length(g, int(s))
    single = (time.perf_counter() - t) / len(picks) * len(dest_nodes)
    dist = np.full(net.n_nodes, np.inf)
    keys = np.fromiter(ref.keys(), dtype=np.int64, count=len(ref))
    dist[keys] = np.fromiter(ref.values(), dtype=float, count=len(ref))
    return dist, times, single, len(picks)


def destinations(net, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    nodes = rng.choice(net.n_nodes, size=n, replace=False)
    return nodes, np.column_stack([net.x[nodes], net.y[nodes]])


# ------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--network", choices=["grid", "voronoi"], default="grid")
    ap.add_argument("--nodes", type=int, default=501_264, help="about this many network nodes (grid: 708² = 501,264)")
    ap.add_argument("--origins", type=int, default=200_000)
    ap.add_argument("--destinations", type=int, default=2_000)
    ap.add_argument("--within", type=float, default=500.0)
    ap.add_argument("--nx-sample", type=int, default=10, help="destinations to run networkx single-source Dijkstra from")
    ap.add_argument("--pandana-sizes", default="5000,10000,20000,40000", help="network sizes (nodes) pandana runs on")
    ap.add_argument("--pandana-full", action="store_true", help="run pandana at full size (hours on the grid)")
    ap.add_argument("--skip", default="", help="comma-separated: networkx, pandana")
    args = ap.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    print(f"bench/access.py: {args.network} network, ~{args.nodes:,} nodes, {args.origins:,} origins, {args.destinations:,} "
          f"destinations, within {args.within:g} m; {os.cpu_count()} CPUs")

    t = time.perf_counter()
    lines, origins, rng = load(args.network, args.nodes, args.origins)
    probe = network_from_lines(lines)
    dest_nodes, dest_xy = destinations(probe, args.destinations, rng)
    del probe
    print(f"load: {len(lines):,} road lines generated in {time.perf_counter() - t:.1f} s (not timed)")

    net, dist, by_node, times, extra = run_planwatch(lines, origins, dest_xy, args.within)
    total = sum(times.values())
    print(f"network: {net.describe()}")
    print(f"planwatch: {100 * (dist <= args.within).mean():.2f} % of origins within {args.within:g} m "
          "(edge snap, snap distances added)")
    rows = [("planwatch (scipy CSR, edge snap)", total, times, extra)]

    if "networkx" not in skip:
        try:
            ref, ntimes, single, k = run_networkx(lines, origins, dest_nodes, args.nx_sample, rng)
        except ImportError:
            print("networkx is not installed (pip install networkx): not run")
        else:
            ours = node_distances(net, snap_points(net, dest_xy, "node"))
            fin = np.isfinite(ref)
            print(f"networkx vs planwatch, node distances: max |Δ| = {np.abs(ours[fin] - ref[fin]).max():.2e} m over {fin.sum():,} nodes")
            rows.append(("networkx, multi-source Dijkstra (build + 1 run)", sum(ntimes.values()), ntimes, {}))
            fixed = {k: v for k, v in ntimes.items() if not k.startswith("multi_source")}
            rows.append((f"networkx, single-source × {args.destinations:,} (extrapolated from {k})",
                         sum(fixed.values()) + single, {**fixed, "Dijkstra runs (extrapolated)": single}, {}))

    if "pandana" not in skip:
        try:
            import pandana  # noqa: F401
        except ImportError:
            print("pandana is not installed (pip install pandana): not run")
        else:
            rows += pandana_rows(args, net, dest_xy, by_node, origins, lines)

    print(f"\n{'engine':62s} {'seconds':>9s} {'× planwatch':>12s}")
    for label, tot, parts, more in rows:
        print(f"{label:62s} {tot:9.2f} {tot / total:12.1f}")
        for key, v in parts.items():
            print(f"    {key:58s} {v:9.2f}")
        for key, v in more.items():
            print(f"    ({key}: {v:.2f} s)" if isinstance(v, float) else f"    ({v})")


def pandana_rows(args, net, dest_xy, by_node, origins, lines) -> list:
    within = args.within
    if args.pandana_full:
        pnet, d, ptimes = run_pandana(lines, origins, dest_xy, within)
        check(by_node, d, within, "full size")
        return [("pandana (CH, node snap, maxdist = within)", sum(ptimes.values()), ptimes, {})]
    sizes = [int(s) for s in args.pandana_sizes.split(",") if s.strip()]
    fits = []
    for n in sizes:
        lines_n, origins_all, rng_n = load(args.network, n, args.origins, SEED + n)
        probe = network_from_lines(lines_n)
        share = probe.n_nodes / net.n_nodes  # origins and destinations in proportion to the network
        origins_n = origins_all[: max(1, round(args.origins * share))]
        dn_nodes, dn_xy = destinations(probe, max(1, round(args.destinations * share)), rng_n)
        pnet, d, ptimes = run_pandana(lines_n, origins_n, dn_xy, within)
        on = snap_points(pnet, origins_n, "node")
        ours = node_distances(pnet, snap_points(pnet, dn_xy, "node"))[on.u]
        check(ours, d, within, f"{pnet.n_nodes:,} nodes")
        fits.append((pnet.n_nodes, ptimes))
        print(f"pandana on {pnet.n_nodes:,} nodes ({len(origins_n):,} origins): " +
              ", ".join(f"{k} {v:.2f} s" for k, v in ptimes.items()))
    n = np.array([f[0] for f in fits], dtype=float)
    parts = {}
    for key in fits[0][1]:
        t = np.array([f[1][key] for f in fits])
        if key.startswith("get_node_ids"):  # proportional to the origins, which grew with n
            b = 1.0
            a = t[-1] / n[-1]
        else:
            b, loga = np.polyfit(np.log(n), np.log(np.maximum(t, 1e-6)), 1)
            a = math.exp(loga)
        parts[f"{key} (∝ n^{b:.2f})"] = a * net.n_nodes ** b
    label = f"pandana, extrapolated from {len(fits)} smaller networks (≤ {int(n.max()):,} nodes)"
    note = "extrapolated: a power law fitted to the smaller runs; --pandana-full measures it"
    return [(label, sum(parts.values()), parts, {"note": note})]


def check(ours_node_dist: np.ndarray, pandana_dist: np.ndarray, within: float, label: str) -> None:
    """pandana returns maxdist where nothing is within reach; compare where both reach."""
    both = (ours_node_dist <= within - 1) & (pandana_dist < within)
    diff = float(np.abs(ours_node_dist[both] - pandana_dist[both]).max()) if both.any() else float("nan")
    same = float(((ours_node_dist <= within) == (pandana_dist < within)).mean() * 100)
    print(f"pandana vs planwatch ({label}), node-to-nearest-destination: max |Δ| = {diff:.4f} m over {int(both.sum()):,} "
          f"origins; same covered flag for {same:.3f} % of origins")


if __name__ == "__main__":
    main()
