"""Load on `planwatch serve`: throughput and latency of the evaluation and features endpoints, on both
stores, from a client process on loopback.

For each backend it builds a store (the shipped real observations, and a synthetic layer of
--features squares as land_supply), starts `planwatch serve` on it in a second process, warms the
endpoints once, then sends --requests requests to each endpoint from --clients threads and prints
requests per second, p50 and p99 latency:

- GET /api/evaluations/2022 (the check-up of a year, every target);
- GET /ogc/collections/land_supply/items?limit=100&offset=K, K spread over the layer (paging).

    python bench/api.py [--features 100000] [--requests 200] [--clients 4] [--backends gpkg,postgis] [--dsn DSN]

Not yet measured here (issue 14): pygeoapi serving the same layer side by side, and paging a
1,000,000-feature layer without holding it in memory (the server keeps each layer version's WGS 84
frame in memory and pages from it).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
from shapely import box

ROOT = Path(__file__).resolve().parents[1]
OBSERVATIONS = ROOT / "src/planwatch/plans/beijing-2021-2025/observations/observations_2021_2022.csv"
X, Y = 440_000.0, 4_410_000.0  # EPSG:4548, Beijing


def build_store(target: str, n: int) -> None:
    from planwatch.plan import load_plan
    from planwatch.services import observations
    from planwatch.store import open_store

    plan = load_plan()
    store = open_store(target)
    observations.import_file(store, plan, OBSERVATIONS)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x0, y0 = X + (i % side) * 60.0, Y + (i // side) * 60.0
    squares = gpd.GeoDataFrame({"name": [f"示意地块{k}" for k in range(n)]},
                               geometry=box(x0, y0, x0 + 50, y0 + 50), crs="EPSG:4548")
    store.write_layer("land_supply", squares, source="bench/api.py", sha256="0" * 64, synthetic=True,
                      notes=["bench: synthetic squares"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(target: str, port: int) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "planwatch"
    proc = subprocess.Popen([str(exe), "serve", "--db", target, "--port", str(port)], stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/plans", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def load(urls: list[str], clients: int) -> tuple[float, list[float], int]:
    """(seconds, per-request latencies in ms, non-200 answers) for ``urls`` from ``clients`` threads."""
    with httpx.Client(timeout=120) as client:
        def one(url):
            t = time.perf_counter()
            code = client.get(url).status_code
            return (time.perf_counter() - t) * 1000, code

        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            done = list(pool.map(one, urls))
        return time.perf_counter() - start, [d[0] for d in done], sum(d[1] != 200 for d in done)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--backends", default="gpkg,postgis")
    ap.add_argument("--dsn", default=os.environ.get("PLANWATCH_POSTGIS_DSN", "postgresql://postgres@127.0.0.1:54329/planwatch"))
    a = ap.parse_args()
    rows = []
    for backend in a.backends.split(","):
        schema = None
        with tempfile.TemporaryDirectory() as folder:
            if backend == "gpkg":
                target = str(Path(folder) / "bench.gpkg")
            else:
                import psycopg

                schema = f"pw_bench_{secrets.token_hex(4)}"
                with psycopg.connect(a.dsn, autocommit=True) as con:
                    con.execute(f"CREATE SCHEMA {schema}")
                target = f"{a.dsn}{'&' if '?' in a.dsn else '?'}options=-csearch_path%3D{schema},public"
            try:
                t = time.perf_counter()
                build_store(target, a.features)
                print(f"{backend}: store with {a.features:,} features built in {time.perf_counter() - t:.1f} s", flush=True)
                port = free_port()
                proc = serve(target, port)
                try:
                    base = f"http://127.0.0.1:{port}"
                    offsets = np.linspace(0, max(0, a.features - 100), a.requests).astype(int)
                    endpoints = {
                        "GET /api/evaluations/2022": [f"{base}/api/evaluations/2022"] * a.requests,
                        "GET /ogc/…/items?limit=100&offset=K": [
                            f"{base}/ogc/collections/land_supply/items?limit=100&offset={k}" for k in offsets],
                    }
                    for name, urls in endpoints.items():
                        t = time.perf_counter()
                        httpx.get(urls[0], timeout=600)  # warm: the first features request reads the layer
                        warm = time.perf_counter() - t
                        secs, ms, bad = load(urls, a.clients)
                        q = statistics.quantiles(ms, n=100)
                        rows.append((backend, name, len(urls), secs, len(urls) / secs, q[49], q[98], bad, warm))
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
            finally:
                if schema:
                    import psycopg

                    with psycopg.connect(a.dsn, autocommit=True) as con:
                        con.execute(f"DROP SCHEMA {schema} CASCADE")
    print(f"\n{a.clients} client threads, {a.features:,} features in the layer")
    print("| store | endpoint | requests | s | req/s | p50 ms | p99 ms | not 200 | first request s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for b, name, n, secs, rps, p50, p99, bad, warm in rows:
        print(f"| {b} | {name} | {n} | {secs:.1f} | {rps:.1f} | {p50:.0f} | {p99:.0f} | {bad} | {warm:.1f} |")


if __name__ == "__main__":
    main()
