"""The quota ledger under pressure, on both backends: ten people reserving from one pool at the same
moment are never granted more than it holds, and those it cannot serve are told what is left; one
request sent eight times at once under one key is posted once; eight first postings at once into an
empty ledger create its accounts and issue the release schedule once; eight people moving quota
between two pools in opposite directions all finish, moved or refused, with nothing lost; and a
process killed (kill -9) in the middle of a large batch leaves the ledger exactly as it was before
the batch or exactly as it is after it, never between, with every invariant of ``ledger check``
holding.

Every test runs on the GeoPackage store and on PostGIS (conftest's BOTH_BACKENDS); the people are
processes forked at a barrier, each opening the store itself, as test_findings does."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

from planwatch.ledger import post as P
from planwatch.services import ServiceError
from planwatch.services import ledger as svc
from planwatch.store import open_store

INSUFFICIENT = "余额不足 / insufficient quota"
WAIT_S = 120  # a bound on waiting for a child, never a measure of anything


def _target(store) -> str:
    """What a child opens: the PostGIS DSN, or the GeoPackage file."""
    return getattr(store, "dsn", None) or str(store.path)


def _children(ctx, target, args_of, n):
    """Start ``n`` forked children running ``target`` with ``args_of(i)``; their reports, then join."""
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_of(i), results)) for i in range(n)]
    for p in procs:
        p.start()
    reports = [results.get(timeout=WAIT_S) for _ in range(n)]
    for p in procs:
        p.join(timeout=WAIT_S)
        assert p.exitcode == 0, p.exitcode
    return reports


# ------------------------------------------------------------------ many reservations at once

POOL = "floor_area:顺义区"
HELD_M2 = 1_000_000  # released into POOL
ASK_M2 = 150_000  # what each of the ten asks
PEOPLE = 10


def _reserve(target, plan, project, key, barrier, results):
    try:
        store = open_store(target, create=False)
        barrier.wait(timeout=WAIT_S)
        done = svc.reserve(store, plan, project=project, pool=POOL, amount=ASK_M2, key=key, by=project)
        results.put(("granted", project, int(done.batch["batch_id"]), done.repeated))
    except ServiceError as e:
        results.put(("refused", project, str(e), None))
    except BaseException as e:  # anything else fails the test, with what it was
        results.put(("error", project, repr(e), None))


def test_ten_reservations_at_once_never_grant_more_than_the_pool_holds(store, plan):
    svc.release(store, plan, pool=POOL, amount=HELD_M2, year=2023, by="市规划自然资源委")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PEOPLE)
    reports = _children(ctx, _reserve, lambda i: (_target(store), plan, f"项目{i:02d}", None, barrier), PEOPLE)

    assert not [r for r in reports if r[0] == "error"], reports
    granted = sorted(r[1] for r in reports if r[0] == "granted")
    refused = [r for r in reports if r[0] == "refused"]
    assert len(granted) == HELD_M2 // ASK_M2 == 6, reports
    left_m2 = HELD_M2 - len(granted) * ASK_M2
    for _, _, message, _ in refused:
        # every refusal came once the pool was down to what six reservations left, and says so
        assert INSUFFICIENT in message and f"{left_m2:,.2f} m² available" in message, message
        assert "nothing was written" in message
    pool = svc.accounts(store, plan).pools.set_index("pool").loc[POOL]
    assert (pool["available"], pool["reserved"], pool["released"]) == (left_m2, len(granted) * ASK_M2, HELD_M2)
    reservations = store.ledger_tables()["pw_ledger_reservations"]
    assert sorted(reservations["project"]) == granted
    assert set(reservations["amount"]) == {ASK_M2 * 100}  # in steps of 0.01 m²
    assert svc.check(store, plan).ok, svc.check(store, plan).problems


def test_one_request_sent_eight_times_at_once_under_one_key_is_posted_once(store, plan):
    svc.release(store, plan, pool=POOL, amount=HELD_M2, year=2023, by="市规划自然资源委")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(8)
    reports = _children(ctx, _reserve, lambda i: (_target(store), plan, "项目同一", "one-key", barrier), 8)

    assert {r[0] for r in reports} == {"granted"}, reports
    assert len({r[2] for r in reports}) == 1  # one batch, the same answer to all eight
    assert sorted(r[3] for r in reports) == [False] + [True] * 7
    tables = store.ledger_tables()
    assert len(tables["pw_ledger_reservations"]) == 1
    assert (tables["pw_ledger_batches"]["idem_key"] == "one-key").sum() == 1
    pool = svc.accounts(store, plan).pools.set_index("pool").loc[POOL]
    assert (pool["available"], pool["reserved"]) == (HELD_M2 - ASK_M2, ASK_M2)
    assert svc.check(store, plan).ok


def _release(target, plan, district, barrier, results):
    try:
        store = open_store(target, create=False)
        barrier.wait(timeout=WAIT_S)
        done = svc.release(store, plan, pool=f"floor_area:{district}", amount=100_000, year=2023, by=district)
        results.put(("released", district, int(done.batch["batch_id"])))
    except BaseException as e:
        results.put(("error", district, repr(e)))


def test_eight_first_postings_at_once_create_the_chart_and_issue_the_schedule_once(store, plan):
    districts = ["通州区", "顺义区", "大兴区", "昌平区", "房山区", "平谷区", "怀柔区", "延庆区"]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(8)
    reports = _children(ctx, _release, lambda i: (_target(store), plan, districts[i], barrier), 8)

    assert {r[0] for r in reports} == {"released"}, reports
    tables = store.ledger_tables()
    acc, bat = tables["pw_ledger_accounts"], tables["pw_ledger_batches"]
    assert acc["name"].is_unique
    issued = bat[bat["op"] == "issue"]
    assert len(issued) == len(issued["idem_key"].unique()) == sum(len(y) for y in plan.ledger.schedule.amounts.values())
    balance = acc.set_index("name")["balance"]
    scheduled = plan.ledger.schedule.amounts["floor_area"][2023]
    assert balance["plan:floor_area:2023"] == (scheduled - 8 * 100_000) * 100
    assert all(balance[f"pool:floor_area:{d}"] == 100_000 * 100 for d in districts)
    assert svc.check(store, plan).ok, svc.check(store, plan).problems


# ------------------------------------------------------------------ transfers both ways at once

EAST, SOUTH = "floor_area:顺义区", "floor_area:大兴区"
EACH_M2 = 300_000  # released into each of the two
MOVE_M2 = 120_000  # each transfer: a pool runs dry after two more out than in
MOVES = 5  # per person


def _transfers(target, plan, source, dest, barrier, results):
    outcomes = []
    try:
        store = open_store(target, create=False)
        barrier.wait(timeout=WAIT_S)
        for _ in range(MOVES):
            try:
                done = svc.transfer(store, plan, source=source, target=dest, amount=MOVE_M2, by=source)
                outcomes.append(("moved", int(done.batch["batch_id"])))
            except ServiceError as e:
                outcomes.append(("refused", str(e)))
    except BaseException as e:
        outcomes.append(("error", repr(e)))
    results.put((source, outcomes))


def test_eight_people_moving_quota_both_ways_between_two_pools_all_finish_and_nothing_is_lost(store, plan):
    for pool in (EAST, SOUTH):
        svc.release(store, plan, pool=pool, amount=EACH_M2, year=2023, by="市规划自然资源委")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(8)
    # opposite directions: on PostgreSQL, a deadlock if each posting locked its own two pools in leg order
    ways = [(EAST, SOUTH), (SOUTH, EAST)] * 4
    reports = _children(ctx, _transfers, lambda i: (_target(store), plan, *ways[i], barrier), 8)

    every = [o for _, outcomes in reports for o in outcomes]
    assert len(every) == 8 * MOVES and not [o for o in every if o[0] == "error"], every
    for o in every:
        if o[0] == "refused":
            assert INSUFFICIENT in o[1] and "nothing was written" in o[1], o[1]
    moved = Counter(source for source, outcomes in reports for o in outcomes if o[0] == "moved")
    pools = svc.accounts(store, plan).pools.set_index("pool")["available"]
    assert pools[EAST] == EACH_M2 - MOVE_M2 * moved[EAST] + MOVE_M2 * moved[SOUTH]
    assert pools[EAST] + pools[SOUTH] == 2 * EACH_M2 and pools[EAST] >= 0 and pools[SOUTH] >= 0
    batches = store.ledger_tables()["pw_ledger_batches"]
    posted = sorted(o[1] for o in every if o[0] == "moved")
    assert sorted(batches.loc[batches["op"] == "transfer", "batch_id"]) == posted  # each one posted, once
    assert svc.check(store, plan).ok, svc.check(store, plan).problems


# ------------------------------------------------------------------ kill -9 in the middle of a large batch
#
# The largest real operation posts four legs; to hold a transaction open long enough to be killed in
# it, the child posts one batch of LEGS legs through the real write path (services → Store.ledger_post
# → store.ledger.post), with planwatch.ledger.post.transfer replaced, in the child only, by one that
# returns a balanced batch moving quota among ten pools. The child counts the statements of the
# posting (planwatch.store.ledger runs every one through Dialect.q) and stops before a chosen one,
# holding the transaction open, and says so; then it is killed. On SQLite its page cache is made
# small, as a batch larger than the cache would find it, so a killed writer has already written part
# of the batch into the file (the test checks it did) and left a hot journal: the next open must roll
# it back.

LEGS = 400
KILLS_INSIDE = 10  # per backend: stopped before a random statement after the batch's first write, then killed
KILLS_AT_COMMIT = 3  # per backend: killed a random moment after the posting's last statement
OUTSIDE = ["通州区", "顺义区", "大兴区", "昌平区", "房山区", "门头沟区", "平谷区", "怀柔区", "密云区", "延庆区"]  # none in 中心城区


def _legs(plan, seed: int) -> list[tuple[P.Account, int]]:
    """LEGS balanced legs among the ten pools: each pair moves up to 500 m² from one pool to another."""
    rng = random.Random(seed)
    pools = [P.account(plan.ledger, "pool", "floor_area", district=d) for d in OUTSIDE]
    legs = []
    for i in range(LEGS // 2):
        source = pools[i % len(pools)]
        dest = pools[(i + 1 + rng.randrange(len(pools) - 1)) % len(pools)]
        amount = rng.randint(1, 50_000)
        legs += [(source, -amount), (dest, amount)]
    return legs


def _batch(target, plan, legs, key, stop_at, hold, conn):
    """The child: post one batch of ``legs``; before statement ``stop_at`` runs say ("stopped", n)
    and, with ``hold``, wait there to be killed. At the end it says ("done", the posting's number of
    statements, the number of its INSERT of the batch row)."""
    from planwatch.store.findings import Dialect
    from planwatch.store.gpkg import GeoPackageStore

    P.transfer = lambda *_: P.Posting("transfer", "floor_area", list(legs))
    connect = GeoPackageStore._connect

    def small_cache(self):
        con = connect(self)
        con.execute("PRAGMA cache_size = 8")  # pages: the batch spills into the file before COMMIT
        return con

    GeoPackageStore._connect = small_cache
    q, seen = Dialect.q, {"n": 0, "batch": 0}

    def counted(self, query):
        seen["n"] += 1
        if query.startswith("INSERT INTO pw_ledger_batches"):
            seen["batch"] = seen["n"]
        if seen["n"] == stop_at:
            conn.send(("stopped", seen["n"]))
            while hold:
                time.sleep(1)  # the transaction stays open until the parent kills this process
        return q(self, query)

    Dialect.q = counted
    store = open_store(target, create=False)
    seen["n"] = 0
    svc.transfer(store, plan, source=f"floor_area:{OUTSIDE[0]}", target=f"floor_area:{OUTSIDE[1]}", amount=1,
                 key=key, by="kill-test")
    conn.send(("done", seen["n"], seen["batch"]))


def _run_batch(target, plan, legs, key, *, stop_at=None, hold=True, delay=0.0):
    """Run the child; kill it once it stops (after ``delay`` seconds). Returns its first message and
    whether it was killed."""
    ctx = multiprocessing.get_context("fork")
    mine, theirs = ctx.Pipe()
    proc = ctx.Process(target=_batch, args=(target, plan, legs, key, stop_at, hold, theirs))
    proc.start()
    assert mine.poll(WAIT_S), "the child said nothing"
    said = mine.recv()
    if stop_at is not None:
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=WAIT_S)
    assert proc.exitcode in (0, -signal.SIGKILL), proc.exitcode
    return said, proc.exitcode == -signal.SIGKILL


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[t].reset_index(drop=True).equals(b[t].reset_index(drop=True)) for t in a)


def _assert_after(before: dict, now: dict, key: str, legs) -> None:
    """``now`` is ``before`` with the whole batch ``key`` posted: one batch row, every leg in order,
    each account's balance and version moved by its legs, and nothing else."""
    for t in ("pw_ledger_reservations", "pw_ledger_resolutions"):
        assert now[t].reset_index(drop=True).equals(before[t].reset_index(drop=True)), t
    bat_b, bat_n = before["pw_ledger_batches"], now["pw_ledger_batches"].reset_index(drop=True)
    assert len(bat_n) == len(bat_b) + 1 and bat_n.iloc[:-1].equals(bat_b.reset_index(drop=True))
    batch = bat_n.iloc[-1]
    assert (batch["idem_key"], batch["op"]) == (key, "transfer")
    ent_b, ent_n = before["pw_ledger_entries"], now["pw_ledger_entries"].reset_index(drop=True)
    assert ent_n.iloc[:len(ent_b)].equals(ent_b.reset_index(drop=True))
    new = ent_n.iloc[len(ent_b):]
    acc_b = before["pw_ledger_accounts"].set_index("account_id")
    acc_n = now["pw_ledger_accounts"].set_index("account_id")
    names = acc_n["name"].to_dict()
    assert (new["batch_id"] == batch["batch_id"]).all()
    assert [(names[a], int(x)) for a, x in zip(new["account_id"], new["amount"], strict=True)] == \
        [(a.name, x) for a, x in legs]
    assert list(acc_n.index) == list(acc_b.index) and (acc_n["name"] == acc_b["name"]).all()
    net, count = Counter(), Counter()
    for a, x in legs:
        net[a.name] += x
        count[a.name] += 1
    for account_id, row in acc_n.iterrows():
        old = acc_b.loc[account_id]
        moved = (old["balance"] + net[row["name"]], old["version"] + count[row["name"]])
        assert (row["balance"], row["version"]) == moved, row["name"]


def test_kill_9_in_the_middle_of_a_large_batch_leaves_the_ledger_as_before_or_as_after(store, plan):
    target = _target(store)
    gpkg = not hasattr(store, "dsn")
    for d in OUTSIDE:
        svc.release(store, plan, pool=f"floor_area:{d}", amount=500_000, year=2023, by="市规划自然资源委")
    # one batch run to its end: how many statements a posting makes, and where its first write is
    before = store.ledger_tables()
    said, killed = _run_batch(target, plan, _legs(plan, 0), "batch-0")
    assert said[0] == "done" and not killed
    statements, first_write = said[1], said[2]
    assert first_write > 0 and statements > first_write + LEGS
    _assert_after(before, open_store(target).ledger_tables(), "batch-0", _legs(plan, 0))

    rng = random.Random(20211)
    outcomes = Counter()
    for k in range(1, KILLS_INSIDE + KILLS_AT_COMMIT + 1):
        inside = k <= KILLS_INSIDE
        legs, key = _legs(plan, k), f"batch-{k}"
        before = open_store(target).ledger_tables()
        disk = Path(target).read_bytes() if gpkg else b""
        # inside: before any statement after the batch's first write; at commit: at the last statement
        # (all written, not committed), then a random moment later
        stop_at = rng.randint(first_write + 1, statements) if inside else statements
        said, killed = _run_batch(target, plan, legs, key, stop_at=stop_at, hold=inside,
                                  delay=0.0 if inside else rng.uniform(0, 0.02))
        assert said == ("stopped", stop_at)
        if inside and gpkg and Path(target).read_bytes() != disk:
            outcomes["the file was partly written"] += 1
        now = open_store(target).ledger_tables()  # opening it rolls a hot journal back
        if inside:
            assert killed
            assert _same(before, now), f"kill {k} at statement {stop_at}: the ledger is not as before the batch"
            outcomes["as before"] += 1
        elif _same(before, now):
            outcomes["as before"] += 1
        else:
            _assert_after(before, now, key, legs)
            outcomes["as after"] += 1
        problems = svc.check(open_store(target), plan).problems
        assert not problems, (k, problems)
    assert outcomes["as before"] + outcomes["as after"] == KILLS_INSIDE + KILLS_AT_COMMIT
    if gpkg:  # the kills left a file with part of a batch in it, and opening it undid that
        assert outcomes["the file was partly written"] >= 1, outcomes
    # the store takes the next write
    before = open_store(target).ledger_tables()
    said, _ = _run_batch(target, plan, _legs(plan, 999), "batch-999")
    assert said[0] == "done"
    _assert_after(before, open_store(target).ledger_tables(), "batch-999", _legs(plan, 999))
    assert svc.check(open_store(target), plan).ok
