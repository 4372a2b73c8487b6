"""Benchmark: the quota ledger's postings per second, GeoPackage (embedded file) vs PostGIS (server),
one writer and several concurrent writer processes.

Workload, through the service layer (``planwatch.services.ledger``) as the CLI and the API call it,
with the Beijing package's own ``ledger.yaml`` (its caps and illustrative schedule unchanged):

* setup (timed apart, not counted): the schedule's 2021 release plan released into the pools of the
  10 districts outside the central city (中心城区 has a net-zero-growth cap, so nothing is released
  there), 600,000 m² of floor area and 400,000 m² of land each (the whole 2021 plan, within the
  1,500,000 m² per-district release cap and the 3,000,000 m² land cap); when ``--ops`` asks for more
  than that, the pools are topped up with ``credit_reduction`` at the 拆占比 1:1 (land stays within its
  3,000,000 m² per-district cap up to about ``--ops 12000``; beyond, the top-up is refused);
* each writer (a process of its own, forked, opening its own store) works on its own district's pools
  (writer w: district w mod 10) and posts ``--ops`` operations: cycles of ``reserve`` (100–1,000 m²,
  deterministic per writer) then a partial ``commit`` (50–100 % of it, the rest back to the pool), for
  a new project every cycle, alternating floor area and land. Refusals are counted (expected: none);
* afterwards ``ledger check`` (``services.ledger.check``): every balance recomputed from the entries
  and every invariant proven, timed.

Printed per (backend, writers): operations, wall seconds (from the moment all writers are released
together to the last one's end), ops/s, latency p50 / p95 / max, the writers' own CPU per operation,
the machine's busy share during the run (2 cores: 50 % is one core; other programs count too, so the
share just before the run is printed as well), the refusals, and the ledger check with its duration;
then the ratios PostGIS / GeoPackage and N writers / 1 writer.

Each (backend, writers) run starts from a fresh store: a GeoPackage in a temporary folder, or a fresh
schema of the PostGIS database (dropped afterwards), funded the same way. (8 writers leave a ledger 8×
the size of 1 writer's; the mean latency of each writer's first and last tenth of operations, printed
per run, shows how much a posting slows down as the ledger grows.)

Run: ``.venv/bin/python bench/ledger.py [--ops N] [--writers 1,8] [--backends gpkg,postgis] [--dsn DSN]``
(the PostGIS server from ``bash scripts/postgis.sh``; ``$PLANWATCH_POSTGIS_DSN`` or its default DSN).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from store import DEFAULT_DSN, postgis_schema  # noqa: E402  (bench/store.py: a fresh schema per run)

from planwatch.plan import load_plan  # noqa: E402
from planwatch.services import ServiceError  # noqa: E402
from planwatch.services import ledger as L  # noqa: E402
from planwatch.store import open_store  # noqa: E402

SEED = 20213
ACTOR = "bench/ledger.py"
YEAR = 2021
MIN_M2, MAX_M2 = 100, 1000  # a reservation's size
QUOTAS = ("floor_area", "land")


def writer_pools(rules, writers: int) -> list[str]:
    """Writer w's district: the non-central districts in the order ledger.yaml lists them."""
    central = set(rules.rings["中心城区"])
    outside = [d for d in rules.districts if d not in central]
    return [outside[w % len(outside)] for w in range(writers)]


def fund(target, plan, writers: int, ops: int) -> int:
    """Release the 2021 plan into the non-central pools, and top them up by credit_reduction when the
    writers need more. Returns the number of postings made."""
    from planwatch.ledger.amounts import from_unit, to_unit

    rules = plan.ledger
    central = set(rules.rings["中心城区"])
    outside = [d for d in rules.districts if d not in central]
    store = open_store(target)
    n = 0
    share = {q: to_unit(from_unit(rules.schedule.amounts[q][YEAR], rules.quotas[q]) // len(outside), rules.quotas[q])
             for q in QUOTAS}
    for d in outside:
        for q in QUOTAS:
            L.release(store, plan, pool=f"{q}:{d}", amount=f"{share[q]:.2f}", year=YEAR, by=ACTOR)
            n += 1
    # what each writer's pool needs: its writers' reservations of each quota, all at the largest size
    per_pool: dict[str, int] = {}
    for d in writer_pools(rules, writers):
        per_pool[d] = per_pool.get(d, 0) + 1
    cycles = ops // 2
    for d, w in per_pool.items():
        for i, q in enumerate(QUOTAS):
            need = w * ((cycles + 1 - i) // 2 + 1) * MAX_M2
            if need > share[q]:
                L.credit_reduction(store, plan, pool=f"{q}:{d}", demolished=f"{need - share[q]:.2f}", ratio=1,
                                   ref=f"bench top-up {q}:{d}", by=ACTOR)
                n += 1
    return n


def workload(writer: int, district: str, ops: int) -> list[tuple[str, dict]]:
    """Writer ``writer``'s operations: reserve → partial commit, a new project each cycle."""
    rng = random.Random(SEED * 1000 + writer)
    out = []
    for c in range(ops // 2):
        q = QUOTAS[c % 2]
        project = f"BENCH-{writer:02d}-{c:06d}"
        amount = rng.randint(MIN_M2 * 100, MAX_M2 * 100) / 100
        used = round(amount * rng.uniform(0.5, 1.0), 2)
        out.append(("reserve", {"project": project, "pool": f"{q}:{district}", "amount": f"{amount:.2f}"}))
        out.append(("commit", {"project": project, "quota": q, "amount": f"{min(used, amount):.2f}"}))
    if ops % 2:  # an odd count ends on a reservation left open
        q = QUOTAS[(ops // 2) % 2]
        out.append(("reserve", {"project": f"BENCH-{writer:02d}-{ops // 2:06d}", "pool": f"{q}:{district}",
                                "amount": f"{MIN_M2:.2f}"}))
    return out


def writer_main(target: str, writer: int, district: str, ops: int, barrier, results) -> None:
    """One writer process: open the store, wait for the others, post, report."""
    try:
        plan = load_plan()
        store = open_store(target)
        work = workload(writer, district, ops)
        latencies, refusals = [], []
        barrier.wait()
        cpu0 = _cpu_self()
        t0 = time.perf_counter()
        for op, kw in work:
            t = time.perf_counter()
            try:
                getattr(L, op)(store, plan, by=f"{ACTOR} #{writer}", **kw)
            except ServiceError as e:
                refusals.append(f"{op} {kw['project']}: {e}")
            latencies.append(time.perf_counter() - t)
        results.put({"writer": writer, "ops": len(work), "seconds": time.perf_counter() - t0, "latencies": latencies,
                     "cpu": _cpu_self() - cpu0, "refusals": refusals, "error": None})
    except BaseException:
        results.put({"writer": writer, "error": traceback.format_exc()})
        try:
            barrier.abort()
        except Exception:
            pass


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _machine_cpu() -> tuple[float, float] | None:
    """(busy, total) jiffies of all cores since boot (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat") as fh:
            v = [float(x) for x in fh.readline().split()[1:]]
    except OSError:
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def background_busy(seconds: float = 1.0) -> float:
    """The machine's busy share while this process sleeps (other programs' load)."""
    m0 = _machine_cpu()
    time.sleep(seconds)
    m1 = _machine_cpu()
    return (m1[0] - m0[0]) / (m1[1] - m0[1]) if m0 and m1 and m1[1] > m0[1] else float("nan")


def run(target: str, plan, writers: int, ops: int) -> dict:
    background = background_busy()
    t0 = time.perf_counter()
    funded = fund(target, plan, writers, ops)
    setup = time.perf_counter() - t0
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(writers + 1)
    results = ctx.Queue()
    districts = writer_pools(plan.ledger, writers)
    procs = [ctx.Process(target=writer_main, args=(target, w, districts[w], ops, barrier, results))
             for w in range(writers)]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    t0, m0 = time.perf_counter(), _machine_cpu()
    done = [results.get() for _ in procs]  # before join: a full queue would block the writers' exit
    wall, m1 = time.perf_counter() - t0, _machine_cpu()
    busy = (m1[0] - m0[0]) / (m1[1] - m0[1]) if m0 and m1 and m1[1] > m0[1] else float("nan")
    for p in procs:
        p.join()
    errors = [d["error"] for d in done if d["error"]]
    if errors:
        raise SystemExit("a writer failed:\n" + "\n".join(errors))
    lat = sorted(x for d in done for x in d["latencies"])
    k = max(1, len(done[0]["latencies"]) // 10)  # each writer's first and last tenth: does a posting slow down?
    first = statistics.mean(x for d in done for x in d["latencies"][:k])
    last = statistics.mean(x for d in done for x in d["latencies"][-k:])
    n = sum(d["ops"] for d in done)
    refusals = [r for d in done for r in d["refusals"]]
    t0 = time.perf_counter()
    checked = L.check(open_store(target), plan)
    check_s = time.perf_counter() - t0
    return {"writers": writers, "ops": n, "seconds": wall, "ops/s": n / wall, "refusals": refusals,
            "p50 ms": 1000 * statistics.median(lat), "p95 ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
            "max ms": 1000 * lat[-1], "first done": min(d["seconds"] for d in done),
            "background": background, "first ms": 1000 * first, "last ms": 1000 * last, "client cpu ms": 1000 * sum(d["cpu"] for d in done) / n, "machine busy": busy,
            "setup": (funded, setup), "check ok": checked.ok, "problems": checked.problems, "check s": check_s,
            "accounts": checked.counts["pw_ledger_accounts"], "entries": checked.counts["pw_ledger_entries"],
            "batches": checked.counts["pw_ledger_batches"]}


@contextmanager
def fresh(backend: str, dsn: str):
    if backend == "gpkg":
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "ledger.gpkg")
            open_store(path)
            yield path
    else:
        with postgis_schema(dsn) as target:
            open_store(target)
            yield target


NAMES = {"gpkg": "GeoPackage", "postgis": "PostGIS"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=200, help="operations per writer (default 200)")
    ap.add_argument("--writers", default="1,8", help="writer counts, comma-separated (default 1,8)")
    ap.add_argument("--backends", default="gpkg,postgis", help="gpkg, postgis or both (default)")
    ap.add_argument("--dsn", default=os.environ.get("PLANWATCH_POSTGIS_DSN") or DEFAULT_DSN)
    a = ap.parse_args()
    writers = [int(w) for w in a.writers.split(",") if w.strip()]
    backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    if any(b not in NAMES for b in backends) or not writers or min(writers) < 1 or a.ops < 1:
        ap.error("--backends: gpkg and/or postgis; --writers: counts ≥ 1; --ops ≥ 1")
    plan = load_plan()
    print(f"quota ledger: {a.ops} operations per writer (reserve → partial commit, floor area and land), "
          f"writers {', '.join(map(str, writers))}; {os.cpu_count()} cores")
    rows = {}
    for b in backends:
        for w in writers:
            with fresh(b, a.dsn) as target:
                r = rows[(b, w)] = run(target, plan, w, a.ops)
            print(f"  {NAMES[b]:<10} {w} writer(s): {r['ops']} ops in {r['seconds']:.2f} s = {r['ops/s']:.1f} ops/s "
                  f"(setup: {r['setup'][0]} postings in {r['setup'][1]:.2f} s; mean latency, first tenth "
                  f"{r['first ms']:.1f} ms, last tenth {r['last ms']:.1f} ms; machine busy before the run "
                  f"{r['background']:.0%}; the first writer was done after {r['first done']:.2f} s); check "
                  f"{'OK' if r['check ok'] else 'FAILED'} in {r['check s']:.2f} s", flush=True)

    print(f"\n{'backend':<11}{'writers':>8}{'ops':>7}{'seconds':>9}{'ops/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}"
          f"{'client CPU ms/op':>17}{'CPU busy':>9}{'refused':>8}  ledger check (accounts, entries)")
    for (b, w), r in rows.items():
        check = f"{'OK' if r['check ok'] else 'FAILED'} {r['check s']:.2f} s ({r['accounts']:,}, {r['entries']:,})"
        print(f"{NAMES[b]:<11}{w:>8}{r['ops']:>7}{r['seconds']:>9.2f}{r['ops/s']:>8.1f}{r['p50 ms']:>8.1f}"
              f"{r['p95 ms']:>8.1f}{r['max ms']:>8.0f}{r['client cpu ms']:>17.1f}{r['machine busy']:>9.0%}{len(r['refusals']):>8}  {check}")
    print()
    for w in writers:
        if ("gpkg", w) in rows and ("postgis", w) in rows:
            print(f"PostGIS / GeoPackage ops/s, {w} writer(s): {rows[('postgis', w)]['ops/s'] / rows[('gpkg', w)]['ops/s']:.2f}×")
    for b in backends:
        for w in writers[1:]:
            print(f"{NAMES[b]}: {w} writers / {writers[0]} writer(s) ops/s: "
                  f"{rows[(b, w)]['ops/s'] / rows[(b, writers[0])]['ops/s']:.2f}×")
    bad = False
    for (b, w), r in rows.items():
        for x in r["refusals"][:5]:
            print(f"refused ({NAMES[b]}, {w} writers): {x}")
        for x in r["problems"][:10]:
            print(f"ledger check problem ({NAMES[b]}, {w} writers): {x}")
        bad = bad or bool(r["problems"]) or bool(r["refusals"])
    if bad:
        raise SystemExit("refusals or ledger check problems (see above)")


if __name__ == "__main__":
    main()
