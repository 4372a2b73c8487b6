"""Benchmark: the two store backends side by side, GeoPackage (embedded file) vs PostGIS (server).

Load (synthetic, deterministic: numpy seed 20211):
* observations: 1,000,000 rows (1,000 indicators × 100 geos × 10 years), imported in one
  ``add_observations`` call (one transaction), then read back with ``observations()`` (the newest
  revision of every series) and ``history()`` of one indicator;
* a layer of 1,000,000 square parcels (a 1000 × 1000 grid of 50 m squares in EPSG:4548, with an
  integer, a float and a text attribute), written with ``write_layer`` and read back with
  ``read_layer``.

Both backends run the same calls through the one ``Store`` interface in the same process, and the
results read back are checked equal (row counts, value sums, the layer's content hash).

With ``--evaluate``: the 3,000,000-observation load of ``bench/evaluate.py`` is imported into a
PostGIS store and evaluated straight from it (``observations()`` → ``evaluate_frame``).

Run: ``.venv/bin/python bench/store.py [--observations N] [--features N] [--evaluate | --evaluate-only]``
(the PostGIS server from ``bash scripts/postgis.sh``; ``$PLANWATCH_POSTGIS_DSN`` or its default DSN).
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from planwatch.store import OBSERVATION_COLUMNS, layer_content_hash, open_store

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:54329/planwatch"


def observation_rows(n: int, seed: int = 20211) -> pd.DataFrame:
    """``n`` observation rows of distinct series (indicator × geo × year), as the importer hands them over."""
    rng = np.random.default_rng(seed)
    years = 10
    geos = 100
    n_ind = max(1, -(-n // (years * geos)))
    i = np.arange(n)
    frame = pd.DataFrame({
        "indicator": np.char.add("B", np.char.zfill((i // (years * geos)).astype(str), 4)).astype(object),
        "year": 2021 + (i % years),
        "geo": np.char.add("J", np.char.zfill(((i // years) % geos).astype(str), 3)).astype(object),
        "value": rng.normal(50, 10, n).round(3),
    })
    frame["unit"] = "%"
    frame["raw_value"] = frame["value"].astype(str)
    frame["raw_unit"] = "%"
    for col in ("conversion", "scope", "measure", "note", "published"):
        frame[col] = ""
    frame["comparable"] = True
    frame["origin"] = "official"
    frame["synthetic"] = False
    frame["source"] = "bench/store.py (synthetic)"
    frame["method"] = "statistics"
    frame["file"] = "bench.csv"
    frame["file_row"] = i + 2
    assert n_ind * years * geos >= n
    return frame[OBSERVATION_COLUMNS]


def parcel_layer(n: int, seed: int = 20211):
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x0 = 430_000.0 + (i % side) * 50.0
    y0 = 4_400_000.0 + (i // side) * 50.0
    geoms = shapely.box(x0, y0, x0 + 45.0, y0 + 45.0)
    return gpd.GeoDataFrame({
        "parcel": i.astype(np.int64),
        "far": rng.uniform(0.5, 3.0, n).round(2),
        "use": np.array(["R", "C", "M", "G"], dtype=object)[i % 4],
    }, geometry=geoms, crs="EPSG:4548")


@contextmanager
def postgis_schema(dsn: str):
    """A fresh schema on the server for one run, dropped afterwards; yields the DSN that uses it."""
    import psycopg

    name = f"pw_bench_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in dsn else "?"
    try:
        yield f"{dsn}{sep}options=-csearch_path%3D{name},public"
    finally:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(f"DROP SCHEMA {name} CASCADE")


def timed(label: str, results: dict, fn):
    t0 = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - t0
    return value


def run_backend(store, rows: pd.DataFrame, layer) -> tuple[dict, dict]:
    times: dict = {}
    timed("import observations", times, lambda: store.add_observations(rows, file="bench.csv", sha256="0" * 64,
                                                                          plan_id="bench"))
    latest = timed("read observations", times, lambda: store.observations())
    hist = timed("history of one indicator", times, lambda: store.history(rows["indicator"].iloc[0]))
    timed("write layer", times, lambda: store.write_layer("parcels", layer, source="bench/store.py", sha256="0" * 64,
                                                         synthetic=True, notes=["synthetic benchmark parcels"]))
    back = timed("read layer", times, lambda: store.read_layer("parcels"))
    check = {
        "observations": len(latest), "value sum": round(float(latest["value"].sum()), 3), "history rows": len(hist),
        "features": len(back), "content hash": layer_content_hash(back)[:12],
    }
    return times, check


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--observations", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=1_000_000)
    ap.add_argument("--evaluate", action="store_true", help="also import and evaluate bench/evaluate.py's 3M load from PostGIS")
    ap.add_argument("--evaluate-only", action="store_true", help="only the 3M load evaluated from PostGIS")
    ap.add_argument("--dsn", default=os.environ.get("PLANWATCH_POSTGIS_DSN") or DEFAULT_DSN)
    a = ap.parse_args()
    if a.evaluate_only:
        evaluate_from_postgis(a.dsn)
        return

    t0 = time.perf_counter()
    rows = observation_rows(a.observations)
    layer = parcel_layer(a.features)
    print(f"synthetic load: {len(rows):,} observations, {len(layer):,} parcels (built in {time.perf_counter() - t0:.1f} s)")

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["GeoPackage"] = run_backend(open_store(Path(tmp) / "bench.gpkg"), rows, layer)
    with postgis_schema(a.dsn) as dsn:
        results["PostGIS"] = run_backend(open_store(dsn), rows, layer)

    g, p = results["GeoPackage"], results["PostGIS"]
    print(f"\n{'step':<28}{'GeoPackage s':>14}{'PostGIS s':>12}{'PostGIS / GeoPackage':>24}")
    for step in g[0]:
        print(f"{step:<28}{g[0][step]:>14.2f}{p[0][step]:>12.2f}{p[0][step] / g[0][step]:>23.2f}×")
    print("\nread back:")
    for key in g[1]:
        same = "same" if g[1][key] == p[1][key] else "DIFFERENT"
        print(f"  {key:<14} GeoPackage {g[1][key]!s:<16} PostGIS {p[1][key]!s:<16} {same}")
    if g[1] != p[1]:
        raise SystemExit("the two backends read back different data")

    if a.evaluate:
        evaluate_from_postgis(a.dsn)


def evaluate_from_postgis(dsn_base: str) -> None:
    """bench/evaluate.py's 3M load, imported into PostGIS and evaluated straight from the store."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from evaluate import synthetic_load

    from planwatch.evaluate import engine
    from planwatch.plan import load_plan

    plan = load_plan()
    obs, gbl = synthetic_load(plan, 3000, 100, 10)
    rows = obs.assign(unit="", raw_value=obs["value"].astype(str), raw_unit="", conversion="", measure="",
                      origin="official", synthetic=False, note="", source="bench/evaluate.py (synthetic)", published="",
                      method="statistics", file="bench-evaluate.csv", file_row=np.arange(len(obs)) + 2)[OBSERVATION_COLUMNS]
    with postgis_schema(dsn_base) as dsn:
        store = open_store(dsn)
        times: dict = {}
        timed("import 3M", times, lambda: store.add_observations(rows, file="bench-evaluate.csv", sha256="0" * 64,
                                                                 plan_id=plan.meta.id))
        stored = timed("read 3M", times, lambda: store.observations())
        ev = timed("evaluate", times, lambda: engine.evaluate_frame(plan, stored[["indicator", "year", "geo", "value",
                                                                                   "comparable", "scope"]], gbl))
        direct = engine.evaluate_frame(plan, obs, gbl)
    print(f"\n3M observations (bench/evaluate.py's load) from PostGIS: import {times['import 3M']:.1f} s, "
          f"read {times['read 3M']:.1f} s, evaluate {times['evaluate']:.1f} s")
    same = (ev.sort_values(["id", "geo", "year"])["level"].to_numpy()
            == direct.sort_values(["id", "geo", "year"])["level"].to_numpy()).all()
    print(f"  levels equal to evaluating the in-memory load: {bool(same)}")
    if not same:
        raise SystemExit("evaluating from PostGIS gave different levels")


if __name__ == "__main__":
    main()
