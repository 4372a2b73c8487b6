"""Benchmark: compliance review of 1,000,000 synthetic parcels against the demo one map.

Load (deterministic, numpy seed 20214): N parcels (default 1,000,000), rotated rectangles with sides
of 50–200 m, their centres uniform over Beijing's 16 districts (the real boundaries in
``../shared/data``), in EPSG:4548. The zones are the review's own: every reviewed layer of the demo
one map (``planwatch.demo.onemap.build_demo_layers``) filtered by its rule's ``where`` and dissolved,
and every guide / zone / ring layer dissolved per zone value (``review_zones``) — the zones a
``planwatch review`` measures against. If the demo module is not importable, synthetic zones built
here stand in for it, and the output says so.

Engines, side by side in this process, on the same parcels and zones (``overlaps``: the area of
every parcel × zone overlap):

* ``geopandas`` — the default engine (chunks of parcels on every core), and on one thread;
* ``geopandas.overlay`` (how="intersection", then ``.area``) — on a random sample, extrapolated
  linearly to N (said so in the output): at full size it runs for many minutes;
* ``postgis`` — the local server of ``scripts/postgis.sh`` (COPY load, ST_Subdivide, GiST, zones as
  the outer loop), its load and query times shown apart;
* ``duckdb`` — DuckDB 1.5.5 spatial (extension file from the pinned wheel), zones pre-cut;
* ``dask`` — dask-geopandas partitions (Hilbert order), threads scheduler;
* ``dask (cluster …)`` — with ``--dask-cluster local:N`` (or ``tcp://HOST:PORT``): the same engine on a
  ``dask.distributed`` cluster, started before the clock starts (its start-up time is printed apart).

Each engine's total overlap area and pair count are checked against the default engine's.

With ``--dask-cluster``, a second table: the whole batch (``planwatch review FILE --out RESULT.gpkg``)
from a GeoParquet file of the same parcels (row groups of 100,000), each run in a child process so
that its peak RSS (``VmHWM``) is the client's alone: the default in-process ``review_file``
(geopandas), then ``review_file_on_cluster`` on the cluster (the workers read the file). The number
of conflicts and their total area are read back from each result file and compared.

Run: ``.venv/bin/python bench/review.py [--parcels N] [--overlay-sample N] [--skip postgis,dask]
[--dask-cluster local:2]``; ``--skip`` also takes ``one-thread``, ``batch`` and ``batch-default``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planwatch.onemap.review import get_engine
from planwatch.onemap.review.review import review_zones
from planwatch.plan import load_plan

ROOT = Path(__file__).resolve().parents[1]
DISTRICTS = ROOT.parent / "shared" / "data" / "beijing" / "districts.geojson"
SEED = 20214


def beijing(crs: str) -> shapely.Geometry:
    d = gpd.read_file(DISTRICTS).to_crs(crs)
    return shapely.union_all(np.asarray(d.geometry.array, dtype=object))


def synthetic_parcels(n: int, area: shapely.Geometry, seed: int = SEED) -> np.ndarray:
    """Rotated 50–200 m rectangles, centres uniform inside ``area`` (rejection sampling)."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = area.bounds
    shapely.prepare(area)
    cx, cy = np.empty(0), np.empty(0)
    while len(cx) < n:
        x, y = rng.uniform(xmin, xmax, 2 * n), rng.uniform(ymin, ymax, 2 * n)
        keep = shapely.contains_xy(area, x, y)
        cx, cy = np.concatenate([cx, x[keep]]), np.concatenate([cy, y[keep]])
    cx, cy = cx[:n], cy[:n]
    w, h, a = rng.uniform(50, 200, n), rng.uniform(50, 200, n), rng.uniform(0, np.pi, n)
    c, s = np.cos(a), np.sin(a)
    ux, uy = np.array([-0.5, 0.5, 0.5, -0.5]), np.array([-0.5, -0.5, 0.5, 0.5])
    xs = cx[:, None] + ux * w[:, None] * c[:, None] - uy * h[:, None] * s[:, None]
    ys = cy[:, None] + ux * w[:, None] * s[:, None] + uy * h[:, None] * c[:, None]
    return shapely.polygons(np.stack([xs, ys], axis=-1))


def fallback_layers(plan, area: shapely.Geometry, seed: int = SEED) -> dict[str, gpd.GeoDataFrame]:
    """Stand-in zones when the demo module is missing: per polygon layer type, 40–400 blobs
    (buffered random walks, 0.3–3 km wide) inside Beijing; 圈层 from the real districts."""
    from planwatch.onemap.rings import build_rings

    rng = np.random.default_rng(seed)
    crs = plan.spatial.metric_crs
    xmin, ymin, xmax, ymax = area.bounds
    out: dict[str, gpd.GeoDataFrame] = {}
    for lt in plan.spatial.layer_types:
        if lt.geometry != "polygon" or lt.role in ("base", "records") or lt.id == "rings":
            continue
        n = int(rng.integers(40, 400))
        blobs = []
        for _ in range(n):
            start = [rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)]
            walk = np.cumsum(rng.normal(0, 800, (60, 2)), axis=0) + start
            blobs.append(shapely.LineString(walk).buffer(rng.uniform(300, 3000), quad_segs=8))
        geoms = shapely.intersection(np.array(blobs, dtype=object), area)
        cols = {}
        for attr, values in lt.attributes.items():
            cols[attr] = rng.choice(values, n) if values else [f"{attr}{i}" for i in range(n)]
        out[lt.id] = gpd.GeoDataFrame(cols, geometry=list(geoms), crs=crs)
    out["rings"] = build_rings(gpd.read_file(DISTRICTS), crs)
    return out


def one_map(plan, area):
    try:
        from planwatch.demo.onemap import build_demo_layers
    except ImportError:
        return fallback_layers(plan, area), "SYNTHETIC STAND-IN ZONES (planwatch.demo.onemap not available)"
    return build_demo_layers(plan, seed=2021), "the demo one-map (planwatch.demo.onemap.build_demo_layers, seed 2021)"


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def overlay_areas(parcels: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> pd.DataFrame:
    p = parcels.assign(parcel=np.arange(len(parcels)))
    z = zones[["geometry"]].assign(zone=np.arange(len(zones)))
    ov = gpd.overlay(p, z, how="intersection", keep_geom_type=True)
    ov["overlap_m2"] = ov.geometry.area
    return ov.groupby(["parcel", "zone"], as_index=False)["overlap_m2"].sum().query("overlap_m2 > 0")


def peak_rss_gb() -> float:
    """This process's peak resident memory (``VmHWM``), GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def batch_child(a) -> None:
    """One batch review of ``a.batch_child`` (a child process: its peak RSS is the client's alone)."""
    from planwatch.onemap.review.review import review_file

    plan = load_plan()
    layers = pickle.loads(a.layers.read_bytes())
    base = peak_rss_gb()
    t0 = time.perf_counter()
    if a.scheduler:
        from planwatch.onemap.review.dask_engine import review_file_on_cluster

        b = review_file_on_cluster(a.batch_child, a.out, layers, plan, get_engine("dask", scheduler=a.scheduler),
                                   progress=False)
        n = b.features
    else:
        n = len(review_file(a.batch_child, a.out, layers, plan, progress=False).features)
    seconds, peak = time.perf_counter() - t0, peak_rss_gb()
    with sqlite3.connect(a.out) as con:  # read back from the file, in constant memory
        conflicts, area = con.execute("SELECT count(*), sum(overlap_m2) FROM conflicts").fetchone()
    print(json.dumps({"seconds": seconds, "features": n, "conflicts": conflicts, "area": area, "peak_rss_gb": peak,
                      "rss_before_gb": base, "out_bytes": Path(a.out).stat().st_size}))


def _write_parcels(parcels: gpd.GeoDataFrame) -> Path:
    """The parcels as GeoParquet (row groups of 100,000, ids 1…N) in a temporary folder."""
    t0 = time.perf_counter()
    src = Path(tempfile.mkdtemp(prefix="pw-bench-review-")) / "parcels.parquet"
    parcels.assign(id=np.arange(1, len(parcels) + 1)).to_parquet(src, row_group_size=100_000)
    print(f"batch: {len(parcels):,} parcels → {src.name} ({src.stat().st_size / 1e6:,.0f} MB, row groups of "
          f"100,000) [{time.perf_counter() - t0:.1f} s]; each run in a child process", flush=True)
    return src


def _release_memory() -> None:
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def run_batches(src: Path, layers, scheduler: str, skip: set[str]) -> dict[str, dict]:
    """The batch review of the GeoParquet file ``src``, in process and on the cluster, each in a
    child process; ``src``'s folder is removed after."""
    results: dict[str, dict] = {}
    tmp = src.parent
    try:
        lay = Path(tmp) / "layers.pickle"
        lay.write_bytes(pickle.dumps(layers))
        runs = [] if "batch-default" in skip else [("review_file, in process (geopandas)", None)]
        runs.append((f"review_file_on_cluster ({scheduler})", scheduler))
        for label, sched in runs:
            out = Path(tmp) / "result.gpkg"
            cmd = [sys.executable, __file__, "--batch-child", str(src), "--out", str(out), "--layers", str(lay)]
            done = subprocess.run(cmd + (["--scheduler", sched] if sched else []), capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                print(f"  {label}: failed\n{done.stderr[-3000:]}", flush=True)
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            results[label] = r
            print(f"  {label:<44} {r['seconds']:8.1f} s  client peak RSS {r['peak_rss_gb']:5.2f} GB "
                  f"(after imports {r['rss_before_gb']:.2f})  {r['conflicts']:>11,} conflicts  "
                  f"{r['out_bytes'] / 1e9:.2f} GB written", flush=True)
            out.unlink(missing_ok=True)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    if len(results) == 2:
        a, b = results.values()
        print(f"  cluster ÷ in process: time {b['seconds'] / a['seconds']:.2f}×, client peak RSS "
              f"{b['peak_rss_gb'] / a['peak_rss_gb']:.2f}×; conflicts {b['conflicts'] - a['conflicts']:+d}, total "
              f"conflict area rel. diff {abs(b['area'] - a['area']) / a['area']:.1e}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--overlay-sample", type=int, default=20_000, help="parcels given to geopandas.overlay")
    ap.add_argument("--skip", default="", help="comma-separated runs to leave out (postgis, duckdb, dask, overlay, "
                    "one-thread, batch, batch-default)")
    ap.add_argument("--dask-cluster", help="also run the dask engine on this cluster: local:N or tcp://HOST:PORT")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    ap.add_argument("--batch-child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--layers", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--scheduler", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.batch_child:
        batch_child(a)
        return
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}

    plan = load_plan()
    crs = plan.spatial.metric_crs
    area = beijing(crs)
    t0 = time.perf_counter()
    layers, what = one_map(plan, area)
    rz = review_zones(layers, plan)
    zones = rz.zones[~shapely.is_empty(np.asarray(rz.zones.geometry.array, dtype=object))].reset_index(drop=True)
    nverts = int(shapely.get_num_coordinates(np.asarray(zones.geometry.array, dtype=object)).sum())
    print(f"one map: {what}")
    print(f"  {sum(len(g) for g in layers.values()):,} features in {len(layers)} layers → {len(zones)} review zones "
          f"(dissolved), {nverts:,} vertices  [{time.perf_counter() - t0:.1f} s]")
    t0 = time.perf_counter()
    parcels = gpd.GeoDataFrame(geometry=synthetic_parcels(a.parcels, area), crs=crs)
    print(f"parcels: {len(parcels):,} rotated rectangles of 50–200 m inside Beijing, seed {SEED} "
          f"[{time.perf_counter() - t0:.1f} s]")

    results: dict[str, dict] = {}

    def run(label, fn, note=""):
        res, t = timed(fn)
        results[label] = {"seconds": t, "pairs": len(res), "area": float(res["overlap_m2"].sum()), "note": note}
        print(f"  {label:<28} {t:8.2f} s  {len(res):>10,} pairs  {note}", flush=True)
        return res

    print("engines (parcel × zone overlap areas):")
    default = get_engine("geopandas")
    base = run(f"geopandas (default, {default.threads} thr.)", lambda: default.overlaps(parcels, zones))
    base_area, base_pairs = float(base["overlap_m2"].sum()), len(base)
    del base  # 48M pairs at 10M parcels: not kept through the other runs
    if "one-thread" not in skip:
        run("geopandas, 1 thread", lambda: get_engine("geopandas", threads=1).overlaps(parcels, zones))
    if "overlay" not in skip:
        n = min(a.overlay_sample, len(parcels))
        sample = parcels.sample(n=n, random_state=SEED).reset_index(drop=True)
        ov, t = timed(lambda: overlay_areas(sample, zones))
        ref = default.overlaps(sample, zones)
        full = t * len(parcels) / n
        agree = abs(ov["overlap_m2"].sum() - ref["overlap_m2"].sum()) / ref["overlap_m2"].sum()
        results["geopandas.overlay"] = {"seconds": full, "pairs": None, "area": None,
                                        "note": f"extrapolated ×{len(parcels) / n:,.0f} from {n:,} parcels ({t:.2f} s)"}
        print(f"  {'geopandas.overlay':<28} {full:8.2f} s  {'':>10}        extrapolated from a sample of {n:,} parcels "
              f"({t:.2f} s); sample total area vs default: {agree:.1e}", flush=True)
    if "postgis" not in skip:
        pg = get_engine("postgis")
        run("postgis", lambda: pg.overlaps(parcels, zones))
        results["postgis"]["note"] = ", ".join(f"{k} {v:.1f} s" for k, v in pg.timings.items()) + f", {pg.workers} workers"
        print(f"  {'':<28} ({results['postgis']['note']})")
    if "duckdb" not in skip:
        run("duckdb spatial", lambda: get_engine("duckdb").overlaps(parcels, zones))
    if "dask" not in skip:
        run("dask (threads)", lambda: get_engine("dask").overlaps(parcels, zones))

    batches: dict[str, dict] = {}
    if a.dask_cluster:
        from planwatch.cluster import client, scheduler_from

        spec = scheduler_from(a.dask_cluster)
        t0 = time.perf_counter()
        with client(spec) as c:
            nthreads = sum(c.nthreads().values())
            print(f"  (cluster {spec}: {len(c.nthreads())} workers, {nthreads} threads, up in "
                  f"{time.perf_counter() - t0:.1f} s; not counted)", flush=True)
            run(f"dask (cluster {spec})", lambda: get_engine("dask", scheduler=c).overlaps(parcels, zones))
            if "batch" not in skip:
                # this process's copy of the parcels is let go first (10M: ~10 GB after the runs above),
                # and the workers start afresh; the child connects to this cluster's scheduler, so its
                # RSS is the client's only
                src = _write_parcels(parcels)
                del parcels
                _release_memory()
                c.restart()
                batches = run_batches(src, layers, c.scheduler.address, skip)

    t_base = next(iter(results.values()))["seconds"]
    print("ratios (time ÷ default engine's time), and agreement of the total overlap area:")
    for label, r in results.items():
        agree = "" if r["area"] is None else f"area rel. diff {abs(r['area'] - base_area) / base_area:.1e}, pairs {r['pairs'] - base_pairs:+d}"
        print(f"  {label:<28} {r['seconds'] / t_base:6.2f}×  {agree}")
    if a.json:
        a.json.write_text(json.dumps({"parcels": a.parcels, "zones": len(zones), "one_map": what, "results": results,
                                      "batches": batches, "load": os.getloadavg()}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
