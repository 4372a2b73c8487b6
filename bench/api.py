"""Load on `planwatch serve`: throughput and latency of the evaluation and features endpoints, on both
stores, from a client process on loopback; and the same features served by pygeoapi side by side.

For each backend it builds a store: the shipped real observations, and a synthetic layer of
--features parcels (deterministic; rectangles with a name, a zone, an area and an approval flag,
labelled 示意数据) as land_supply. It starts `planwatch serve` on that store in a second process,
warms each endpoint once, then sends bounded load from --clients threads and prints requests per
second, p50 and p99 latency (of the answers with status 200; the others are counted apart):

- GET /api/evaluations/2022 (the check-up of a year, every target), --requests times;
- GET /ogc/collections/land_supply/items?limit=100&offset=K, K spread over the layer, --requests times;
- paging with limit=1000: each client follows `next` links for --pages pages, starting at its own
  share of the layer (client k at offset k·n/clients);
- --random pages of limit=1000 at random offsets (numpy seed 14).

The last two also run against pygeoapi (--pygeoapi: a Python that has pygeoapi and uvicorn),
serving the same layer from the same store in its own process, started by uvicorn with its Starlette
app and a config the bench writes to a temporary folder. The ratio printed is planwatch's throughput
over pygeoapi's. GeoPackage: pygeoapi's SQLiteGPKG provider reads a layer through SpatiaLite's
VirtualGPKG, which fails on views ("SQL logic error"). planwatch's stable name ly_<type> is a view, so
pygeoapi is pointed at the table it shows, ly_<type>_v<N> (pw_layers.storage_table, the current
version), in the same file. PostGIS: pygeoapi's PostgreSQL provider reads ly_<type> itself. Both are
given the storage CRS (EPSG:4548, always_xy: its axes are northing, easting in EPSG's definition)
and max_items 10000; everything else is pygeoapi's default (it counts numberMatched on every request).
The first page of both servers is compared, so that they are known to serve the same features.

The peak resident memory (VmHWM) of each server process is read from /proc after the paging, beside
its resident memory after one page.

    python bench/api.py [--features 1000000] [--requests 200] [--clients 4] [--pages 15] [--random 60]
                        [--backends gpkg,postgis] [--dsn DSN] [--pygeoapi PYTHON]

PostGIS stores are made in schemas pw_bench_*, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import sqlite3
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
PAGE = 1000  # features per page when paging
# What pygeoapi runs: the config and OpenAPI document it needs, then its Starlette app under uvicorn.
# pygeoapi's SQLiteGPKG provider loads SpatiaLite into Python's sqlite3; a Python built without
# loadable extensions (pyenv's default) gets them from the pysqlite3-binary wheel.
PYGEOAPI_LAUNCHER = '''
import os, sqlite3, sys
from pathlib import Path
if not hasattr(sqlite3.Connection, "enable_load_extension"):
    import pysqlite3
    sys.modules["sqlite3"] = pysqlite3
from pygeoapi.openapi import generate_openapi_document
import uvicorn
config, port = Path(sys.argv[1]), int(sys.argv[2])
openapi = config.with_name("openapi.yml")
openapi.write_text(generate_openapi_document(config, "yaml"))
os.environ["PYGEOAPI_CONFIG"], os.environ["PYGEOAPI_OPENAPI"] = str(config), str(openapi)
uvicorn.run("pygeoapi.starlette_app:APP", host="127.0.0.1", port=port, log_level="warning")
'''


def parcels(n: int) -> gpd.GeoDataFrame:
    """``n`` synthetic parcels on a 60 m grid (deterministic), labelled as demo data by their name."""
    rng = np.random.default_rng(20211)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x0, y0 = X + (i % side) * 60.0, Y + (i // side) * 60.0
    return gpd.GeoDataFrame({"name": [f"示意地块{k}" for k in range(n)], "zone": rng.integers(1, 9, n).astype("int32"),
                             "area": np.round(rng.uniform(500, 2500, n), 2), "approved": rng.random(n) < 0.5},
                            geometry=box(x0, y0, x0 + rng.uniform(30, 50, n), y0 + rng.uniform(30, 50, n)),
                            crs="EPSG:4548")


def build_store(target: str, n: int) -> dict:
    """The store at ``target``: the real observations and ``n`` parcels as land_supply (synthetic).
    Returns the layer's registry row."""
    from planwatch.plan import load_plan
    from planwatch.services import observations
    from planwatch.store import open_store

    plan = load_plan()
    store = open_store(target)
    observations.import_file(store, plan, OBSERVATIONS)
    return store.write_layer("land_supply", parcels(n), source="bench/api.py", sha256="0" * 64, synthetic=True,
                             notes=["bench: synthetic parcels (示意数据)"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def started(proc: subprocess.Popen, url: str, what: str) -> subprocess.Popen:
    for _ in range(600):
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"{what} did not start")


def serve(target: str, port: int) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "planwatch"
    proc = subprocess.Popen([str(exe), "serve", "--db", target, "--port", str(port)], stderr=subprocess.DEVNULL)
    return started(proc, f"http://127.0.0.1:{port}/api/plans", "planwatch serve")


def pygeoapi_config(folder: Path, port: int, provider: dict, bbox: list[float]) -> Path:
    """A pygeoapi config serving land_supply through ``provider``; JSON is YAML, so no yaml needed."""
    anyone = {"name": "planwatch bench", "url": "http://127.0.0.1"}
    config = {
        "server": {"bind": {"host": "127.0.0.1", "port": port}, "url": f"http://127.0.0.1:{port}",
                   "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8", "language": "en-US",
                   "limits": {"default_items": 10, "max_items": 10_000},
                   "map": {"url": "http://127.0.0.1/{z}/{x}/{y}.png", "attribution": "none"}},
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "planwatch bench", "description": "synthetic demo data (示意数据)",
                               "keywords": ["bench"], "keywords_type": "theme", "terms_of_service": "none",
                               "url": "http://127.0.0.1"},
            "license": {"name": "none", "url": "http://127.0.0.1"}, "provider": anyone,
            "contact": {**anyone, "email": "bench@example.org", "role": "pointOfContact"},
        },
        "resources": {"land_supply": {
            "type": "collection", "title": "land_supply（示意数据）", "description": "synthetic demo data (示意数据)",
            "keywords": ["bench"],
            "extents": {"spatial": {"bbox": bbox, "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
            "providers": [{"type": "feature", "id_field": "fid", "always_xy": True,
                           "storage_crs": "http://www.opengis.net/def/crs/EPSG/0/4548", **provider}],
        }},
    }
    path = folder / "pygeoapi.config.yml"
    path.write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def serve_pygeoapi(python: str, config: Path, port: int) -> subprocess.Popen:
    launcher = config.with_name("run_pygeoapi.py")
    launcher.write_text(PYGEOAPI_LAUNCHER)
    with open(config.with_name("pygeoapi.log"), "ab") as log:
        proc = subprocess.Popen([python, str(launcher), str(config), str(port)], stdout=log, stderr=log)
    return started(proc, f"http://127.0.0.1:{port}/collections/land_supply?f=json", "pygeoapi")


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident memory) of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def answer(client: httpx.Client, url: str) -> tuple[int, dict]:
    """(status, JSON body) of GET ``url``; a dropped connection counts as status 0, an error as {}."""
    try:
        r = client.get(url)
    except httpx.HTTPError:
        return 0, {}
    return r.status_code, r.json() if r.status_code == 200 else {}


def load(urls: list[str], clients: int) -> tuple[float, list[float], list[int]]:
    """(seconds, per-request latencies in ms, statuses) for ``urls`` from ``clients`` threads."""
    with httpx.Client(timeout=600) as client:
        def one(url):
            t = time.perf_counter()
            code = answer(client, url)[0]
            return (time.perf_counter() - t) * 1000, code

        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            done = list(pool.map(one, urls))
        return time.perf_counter() - start, [d[0] for d in done], [d[1] for d in done]


def chains(starts: list[str], pages: int) -> tuple[float, list[float], list[int]]:
    """(seconds, latencies in ms, statuses) of one thread per start URL, each following the
    ``next`` links of the pages it gets for ``pages`` pages."""
    with httpx.Client(timeout=600) as client:
        def walk(url):
            out = []
            for _ in range(pages):
                t = time.perf_counter()
                code, body = answer(client, url)
                out.append(((time.perf_counter() - t) * 1000, code))
                nxt = [link["href"] for link in body.get("links", []) if link["rel"] == "next"]
                if not nxt:
                    break
                url = nxt[0]
            return out

        start = time.perf_counter()
        with ThreadPoolExecutor(len(starts)) as pool:
            done = [d for walked in pool.map(walk, starts) for d in walked]
        return time.perf_counter() - start, [d[0] for d in done], [d[1] for d in done]


def same_features(a: list[dict], b: list[dict]) -> str:
    """How two servers' first pages compare: ids, and how far apart their coordinates are at most."""
    ids = [f["id"] for f in a] == [f["id"] for f in b]
    gap = max((float(np.abs(np.array(f["geometry"]["coordinates"], dtype=float)
                             - np.array(g["geometry"]["coordinates"], dtype=float)).max()) for f, g in zip(a, b, strict=True)),
              default=float("nan")) if ids else float("nan")
    return f"first page: {len(a)} / {len(b)} features, the same ids: {ids}, coordinates at most {gap:.1e}° apart"


def summary(backend: str, server: str, name: str, measured: tuple[float, list[float], list[int]], warm: float) -> tuple:
    """A row of the report: throughput and latencies count the answers with status 200 only."""
    secs, ms, codes = measured
    ok = [t for t, code in zip(ms, codes, strict=True) if code == 200] or [float("nan")]
    q = statistics.quantiles(ok, n=100) if len(ok) > 1 else ok * 99
    answered = codes.count(200)
    return backend, server, name, len(ms), secs, answered / secs, q[49], q[98], len(ms) - answered, warm


def timed_get(url: str) -> tuple[float, httpx.Response]:
    t = time.perf_counter()
    r = httpx.get(url, timeout=600)
    return time.perf_counter() - t, r


def pygeoapi_python(given: str | None) -> str | None:
    """The Python that runs pygeoapi: --pygeoapi, $PLANWATCH_PYGEOAPI_PYTHON, or this one if it has it."""
    python = given or os.environ.get("PLANWATCH_PYGEOAPI_PYTHON")
    if python:
        return python
    try:
        import pygeoapi  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--pages", type=int, default=15, help="pages each client follows through next links")
    ap.add_argument("--random", type=int, default=60, help="pages at random offsets")
    ap.add_argument("--backends", default="gpkg,postgis")
    ap.add_argument("--dsn", default=os.environ.get("PLANWATCH_POSTGIS_DSN", "postgresql://postgres@127.0.0.1:54329/planwatch"))
    ap.add_argument("--pygeoapi", default=None, help="a Python with pygeoapi installed (default: $PLANWATCH_PYGEOAPI_PYTHON)")
    a = ap.parse_args()
    python = pygeoapi_python(a.pygeoapi)
    if python is None:
        print("pygeoapi: not installed here and no --pygeoapi given; measuring planwatch alone", flush=True)
    n, rows, notes = a.features, [], []
    rng = np.random.default_rng(14)
    random_offsets = rng.integers(0, max(1, n - PAGE), a.random).tolist()
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
                build_store(target, n)
                print(f"{backend}: store with {n:,} features built in {time.perf_counter() - t:.1f} s", flush=True)
                servers = {"planwatch": (serve, target, "/ogc/collections/land_supply/items")}
                if python:
                    if backend == "gpkg":
                        with sqlite3.connect(target) as con:
                            (table,) = con.execute("SELECT storage_table FROM pw_layers WHERE layer_type = 'land_supply'").fetchone()
                        provider = {"name": "SQLiteGPKG", "data": target, "table": table}
                    else:
                        from psycopg.conninfo import conninfo_to_dict

                        info = conninfo_to_dict(a.dsn)
                        provider = {"name": "PostgreSQL", "table": "ly_land_supply", "geom_field": "geom",
                                    "data": {"host": info.get("host", "127.0.0.1"), "port": int(info.get("port", 5432)),
                                             "dbname": info["dbname"], "user": info.get("user", "postgres"),
                                             "password": info.get("password", ""), "search_path": [schema, "public"]}}
                    servers["pygeoapi"] = (None, provider, "/collections/land_supply/items")
                firsts, bbox = {}, None
                for server, (start, what, items) in servers.items():
                    port = free_port()
                    if start is not None:
                        proc = start(what, port)
                        about = httpx.get(f"http://127.0.0.1:{port}/ogc/collections/land_supply", timeout=600).json()
                        bbox = about["extent"]["spatial"]["bbox"][0]
                    else:
                        proc = serve_pygeoapi(python, pygeoapi_config(Path(folder), port, what, bbox), port)
                    try:
                        base = f"http://127.0.0.1:{port}"
                        page = f"{base}{items}?{'f=json&' if server == 'pygeoapi' else ''}limit={PAGE}&offset="
                        if server == "planwatch":
                            offsets = np.linspace(0, max(0, n - 100), a.requests).astype(int)
                            for name, urls in {
                                "GET /api/evaluations/2022": [f"{base}/api/evaluations/2022"] * a.requests,
                                f"items limit=100, {a.requests} offsets spread over the layer": [
                                    f"{base}{items}?limit=100&offset={k}" for k in offsets],
                            }.items():
                                warm, _ = timed_get(urls[0])
                                rows.append(summary(backend, server, name, load(urls, a.clients), warm))
                        warm, first = timed_get(page + "0")
                        firsts[server] = first.json()["features"]
                        before = memory_kb(proc.pid)
                        starts = [page + str(k * n // a.clients) for k in range(a.clients)]
                        rows.append(summary(backend, server, f"items limit={PAGE}, {a.clients}×{a.pages} pages by next links",
                                            chains(starts, a.pages), warm))
                        rows.append(summary(backend, server, f"items limit={PAGE}, {a.random} random offsets",
                                            load([page + str(k) for k in random_offsets], a.clients), warm))
                        after = memory_kb(proc.pid)
                        notes.append(f"{backend} {server}: resident memory after one page {before['VmRSS'] / 1024:.0f} MB,"
                                     f" peak (VmHWM) after all the paging {after['VmHWM'] / 1024:.0f} MB")
                        print(notes[-1], flush=True)
                    finally:
                        proc.terminate()
                        proc.wait(timeout=30)
                    log = Path(folder) / "pygeoapi.log"
                    if server == "pygeoapi" and log.exists():
                        errors = sorted({line.split(":")[0] for line in log.read_text(errors="replace").splitlines()
                                         if re.match(r"^[\w.]+(Error|Exception)\b", line)})
                        notes.append(f"{backend} pygeoapi: the errors it logged: {', '.join(errors) or 'none'}")
                        print(notes[-1], flush=True)
                if len(firsts) == 2:
                    notes.append(f"{backend}: {same_features(firsts['planwatch'], firsts['pygeoapi'])}")
                    print(notes[-1], flush=True)
            finally:
                if schema:
                    import psycopg

                    with psycopg.connect(a.dsn, autocommit=True) as con:
                        con.execute(f"DROP SCHEMA {schema} CASCADE")
    report(rows, notes, a.clients, n)


def report(rows: list[tuple], notes: list[str], clients: int, n: int) -> None:
    print(f"\n{clients} client threads, {n:,} features in the layer")
    print("| store | server | load | requests | s | req/s (200) | p50 ms | p99 ms | not 200 | first request s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for b, server, name, count, secs, rps, p50, p99, bad, warm in rows:
        print(f"| {b} | {server} | {name} | {count} | {secs:.1f} | {rps:.1f} | {p50:.0f} | {p99:.0f} | {bad} | {warm:.2f} |")
    ours = {(r[0], r[2]): r for r in rows if r[1] == "planwatch"}
    pairs = [(r, ours[(r[0], r[2])]) for r in rows if r[1] == "pygeoapi" and (r[0], r[2]) in ours]
    if pairs:
        print("\n| store | load | planwatch req/s | pygeoapi req/s | ratio (planwatch / pygeoapi) | p50 ms planwatch / pygeoapi |")
        print("|---|---|---:|---:|---:|---:|")
        for theirs, mine in pairs:
            print(f"| {mine[0]} | {mine[2]} | {mine[5]:.1f} | {theirs[5]:.2f} | {mine[5] / theirs[5]:.1f}× |"
                  f" {mine[6]:.0f} / {theirs[6]:.0f} |")
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
