"""The quota ledger against a model of it: random sequences of operations (release, reserve, commit in
full or in part, cancel, expire, credit a reduction, transfer, correct a transfer, a request repeated
under its key, a key reused for another request) run on a fresh store and on a model written here
from the rules as ledger.yaml states them (plain dicts; not planwatch.ledger.post). After every step
the store's balances are the model's, every quota's accounts sum to zero, ``ledger check`` finds
nothing, and the store refused exactly what the model refused, for the same reason. On the
GeoPackage store and on PostGIS (conftest's BOTH_BACKENDS: each example's store is a new file, or a
new schema)."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from planwatch.ledger.audit import audit
from planwatch.services import ServiceError
from planwatch.services import ledger as svc
from planwatch.store import open_store

# ------------------------------------------------------------------ the rules, as ledger.yaml states them

FA, LAND = "floor_area", "land"
STEPS = 100  # amounts are kept to 0.01 m²
SCHEDULE = {FA: 6_000_000, LAND: 4_000_000}  # m² per year, 2021–2025
YEARS = range(2021, 2026)
CENTRAL = {"东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区"}  # 中心城区
CENTRAL_CAP = "中心城区建筑规模动态零增长"  # floor area: held and used less demolished ≤ 0
RELEASE_CAP, RELEASE_LIMIT = "各区建筑规模年度释放上限", 1_500_000 * STEPS  # floor area released per district and year
LAND_CAP, LAND_LIMIT = "各区城乡建设用地指标上限", 3_000_000 * STEPS  # land held and used per district
RATIO_MIN = Fraction(1)  # 拆占比 at least 1:1
SOURCES = ("issuance", "existing", "linkage")  # the only accounts that may go below zero
WHEN = date(2024, 1, 2)  # the effective date of every operation here
AS_OF = date(2025, 1, 1)  # when `ledger expire` runs
SYSTEM_KEYS = ("issue:", "expire:")  # keys planwatch gives its own postings

DISTRICTS = ["东城区", "朝阳区", "顺义区", "延庆区"]  # two in 中心城区, two outside
POOLS = [f"{q}:{d}" for q in (FA, LAND) for d in DISTRICTS]
PROJECTS = ["P1", "P2"]


def test_the_model_keeps_the_rules_of_ledger_yaml(plan):
    """If ledger.yaml changes, the model below must change with it."""
    r = plan.ledger
    assert r.schedule.amounts == {q: dict.fromkeys(YEARS, v) for q, v in SCHEDULE.items()}
    assert {q: x.decimals for q, x in r.quotas.items()} == {FA: 2, LAND: 2}
    assert set(r.rings["中心城区"]) == CENTRAL and Fraction(r.ratio.min) == RATIO_MIN and r.ratio.max is None
    caps = [(c.id, c.quota, c.ring, c.each_district, c.measure, c.limit * STEPS, c.year) for c in r.caps]
    assert caps == [(CENTRAL_CAP, FA, "中心城区", False, "net_growth", 0, None),
                    (RELEASE_CAP, FA, None, True, "released", RELEASE_LIMIT, None),
                    (LAND_CAP, LAND, None, True, "allocated", LAND_LIMIT, None)]
    assert r.reservation_days == 180


# ------------------------------------------------------------------ the model


class Refused(Exception):
    """The model refuses; ``why`` is what the store's message must say."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def steps(m2: str) -> int:
    return int(Decimal(m2) * STEPS)


@dataclass
class Model:
    balances: Counter = field(default_factory=Counter)  # account name → steps
    released: Counter = field(default_factory=Counter)  # (district, year) → floor area steps released
    reservations: list[dict] = field(default_factory=list)  # project, quota, district, amount, expires, open
    keys: dict = field(default_factory=dict)  # key → (request, batch id the store gave it)
    batch_ops: dict = field(default_factory=dict)  # batch id → op
    transfers: dict = field(default_factory=dict)  # transfer batch id → (from, to, amount)
    corrected: set = field(default_factory=set)
    batches: int = 0

    # -- measures

    def allocated(self, quota: str, district: str) -> int:
        held = (v for name, v in self.balances.items()
                if name.split(":")[0] in ("pending", "project") and name.split(":")[1:3] == [quota, district])
        return self.balances[f"pool:{quota}:{district}"] + sum(held)

    def central_growth(self) -> int:
        return sum(self.allocated(FA, d) - self.balances[f"reduced:{FA}:{d}"] for d in CENTRAL)

    def caps(self) -> dict[str, tuple[str, int, int]]:
        """Every cap scope the operations here can touch: scope → (cap id, measured, limit)."""
        out = {"central": (CENTRAL_CAP, self.central_growth(), 0)}
        for d in DISTRICTS:
            out[f"land {d}"] = (LAND_CAP, self.allocated(LAND, d), LAND_LIMIT)
            for y in YEARS:
                out[f"released {d} {y}"] = (RELEASE_CAP, self.released[(d, y)], RELEASE_LIMIT)
        return out

    # -- posting legs: refused when an account that may not go below zero would, or a cap would be
    #    taken up and past its limit; else applied

    def post(self, legs: list[tuple[str, int]], *, release: tuple[str, int] | None = None) -> None:
        after = Counter(self.balances)
        for name, amount in legs:
            after[name] += amount
        for name, _ in legs:
            if after[name] < 0 and name.split(":")[0] not in SOURCES:
                raise Refused("余额不足 / insufficient quota")
        before_caps = self.caps()
        was = self.balances, Counter(self.released)
        self.balances = after
        if release is not None:
            self.released[release] += sum(a for n, a in legs if n.startswith("pool:"))
        for scope, (cap, measured, limit) in self.caps().items():
            if measured > limit and measured > before_caps[scope][1]:
                self.balances, self.released = was
                raise Refused(f"cap {cap}")
        self.batches += 1

    def issue_schedule(self) -> None:
        """The first posting also issues the schedule's release plans (ten batches)."""
        if self.batches:
            return
        for q, amount in SCHEDULE.items():
            for y in YEARS:
                self.balances[f"issuance:{q}"] -= amount * STEPS
                self.balances[f"plan:{q}:{y}"] += amount * STEPS
                self.batches += 1

    def open_of(self, project: str, quota: str | None) -> list[dict]:
        return [r for r in self.reservations if r["open"] and r["project"] == project and quota in (None, r["quota"])]

    def the_reservation(self, project: str, quota: str | None) -> dict:
        found = self.open_of(project, quota)
        if len(found) > 1:
            raise Refused("say which with --quota")
        if not found:
            ever = [r for r in self.reservations if r["project"] == project and quota in (None, r["quota"])]
            raise Refused("was already resolved" if ever else "no reservation")
        return found[0]


# ------------------------------------------------------------------ the operations, on both


@dataclass(frozen=True)
class Op:
    op: str
    args: tuple
    key: str | None  # None: a new key


AMOUNTS = st.sampled_from(["400000", "1", "100000", "900000", "1600000", "2500.5", "0.01"])
KEYS = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(["k1", "k2", "k2", "expire:1"]))  # 1 in 4 given
RELEASE = st.builds(lambda pool, amount, year, key: Op("release", (pool, amount, year), key),
                    st.sampled_from(POOLS), AMOUNTS, st.sampled_from([2021, 2023, 2026]), KEYS)
RESERVE = st.builds(lambda project, pool, amount, expires, key: Op("reserve", (project, pool, amount, expires), key),
                    st.sampled_from(PROJECTS), st.sampled_from(POOLS), AMOUNTS,
                    st.sampled_from([None, "2025-06-30", "2023-12-31"]), KEYS)
COMMIT = st.builds(lambda project, quota, amount, key: Op("commit", (project, quota, amount), key),
                   st.sampled_from(PROJECTS), st.sampled_from([None, FA, LAND]), st.one_of(st.none(), AMOUNTS), KEYS)
CANCEL = st.builds(lambda project, quota, key: Op("cancel", (project, quota), key),
                   st.sampled_from(PROJECTS), st.sampled_from([None, FA, LAND]), KEYS)
CREDIT = st.builds(lambda pool, demolished, ratio, key: Op("credit_reduction", (pool, demolished, ratio), key),
                   st.sampled_from(POOLS), AMOUNTS, st.sampled_from(["0.5", "1", "1.5", "2", "3"]), KEYS)
TRANSFER = st.builds(lambda a, b, amount, key: Op("transfer", (a, b, amount), key),
                     st.sampled_from(POOLS), st.sampled_from(POOLS), AMOUNTS, KEYS)
CORRECT = st.builds(lambda pick, key: Op("correct", (pick,), key), st.integers(-1, 5), KEYS)
AGAIN = st.builds(lambda pick: Op("again", (pick,), None), st.integers(0, 40))  # a step run before, under its key
EXPIRE = st.just(Op("expire", (), None))
# weighted towards what moves quota: releases, reservations, commitments and transfers
OPS = st.one_of(RELEASE, RELEASE, RESERVE, RESERVE, COMMIT, COMMIT, CANCEL, CREDIT, TRANSFER, TRANSFER, CORRECT, AGAIN,
                EXPIRE)
# every example starts from pools with quota in them, and near their caps: 顺义区 has had 1,000,000 of
# its 1,500,000 m² of floor area for 2021, 东城区 holds 2,000,000 of its 3,000,000 m² of land, the
# central city has room for 300,000 m² of floor area (600,000 demolished in 朝阳区 at 2:1), and P1
# holds a reservation
PRELUDE = [
    Op("release", (f"{FA}:顺义区", "1000000", 2021), None),
    Op("credit_reduction", (f"{FA}:朝阳区", "600000", "2"), None),
    Op("release", (f"{LAND}:东城区", "2000000", 2021), None),
    Op("reserve", ("P1", f"{FA}:顺义区", "400000", None), None),
]


def model_step(m: Model, op: str, args: tuple, key: str, resolved: dict) -> tuple[str, object]:
    """What the ledger must do: ("posted", request) / ("repeated", batch id), or raise Refused."""
    # refused before the store is asked (the service checks its input)
    if op == "transfer" and args[0] == args[1]:
        raise Refused("are the same pool")
    if key.startswith(SYSTEM_KEYS):
        raise Refused("are planwatch's own")
    if op == "reserve" and args[3] is not None and date.fromisoformat(args[3]) < WHEN:
        raise Refused("is before the reservation's date")
    request = (op, *(resolved.get("request") or args))
    if key in m.keys:  # the store answers a key it knows before anything else
        if m.keys[key][0] != request:
            raise Refused("was already used for a different request")
        return "repeated", m.keys[key][1]
    before = (Counter(m.balances), Counter(m.released), m.batches)
    m.issue_schedule()
    try:
        _apply(m, op, args, resolved)
    except Refused:
        m.balances, m.released, m.batches = before  # the issue is rolled back with the refusal
        raise
    return "posted", request


def _apply(m: Model, op: str, args: tuple, resolved: dict) -> None:
    if op == "release":
        pool, amount, year = args
        quota, district = pool.split(":")
        if year not in YEARS:
            raise Refused("has no year")
        x = steps(amount)
        m.post([(f"plan:{quota}:{year}", -x), (f"pool:{pool}", x)],
               release=(district, year) if quota == FA else None)
    elif op == "reserve":
        project, pool, amount, expires = args
        quota, district = pool.split(":")
        if m.open_of(project, quota):
            raise Refused("commit or cancel it first")
        x = steps(amount)
        m.post([(f"pool:{pool}", -x), (f"pending:{quota}:{district}:{project}", x)])
        until = date.fromisoformat(expires) if expires else WHEN + timedelta(days=180)
        m.reservations.append({"project": project, "quota": quota, "district": district, "amount": x,
                               "expires": until, "open": True})
    elif op in ("commit", "cancel", "expire"):
        r = resolved["reservation"] if op == "expire" else m.the_reservation(args[0], args[1])
        used = 0 if op != "commit" else r["amount"] if args[2] is None else steps(args[2])
        if used > r["amount"]:
            raise Refused("is more than project")
        where = f"{r['quota']}:{r['district']}"
        legs = [(f"pending:{where}:{r['project']}", -r["amount"])]
        if used:
            legs.append((f"project:{where}:{r['project']}", used))
        if r["amount"] - used:
            legs.append((f"pool:{where}", r["amount"] - used))
        m.post(legs)
        r["open"] = False
    elif op == "credit_reduction":
        pool, demolished, ratio = args
        quota, district = pool.split(":")
        if Fraction(ratio) < RATIO_MIN:
            raise Refused("the 拆占比 must be at least")
        x = steps(demolished)
        credit = int(x / Fraction(ratio))  # whole steps, rounded down
        if credit <= 0:
            raise Refused("credits less than one step")
        m.post([(f"existing:{pool}", -x), (f"reduced:{pool}", x),
                (f"linkage:{quota}", -credit), (f"pool:{pool}", credit)])
    elif op == "transfer":
        a, b, amount = args
        if a.split(":")[0] != b.split(":")[0]:
            raise Refused("keep different quotas")
        x = steps(amount)
        m.post([(f"pool:{a}", -x), (f"pool:{b}", x)])
    elif op == "correct":
        batch = resolved["batch"]
        if batch not in m.batch_ops:
            raise Refused(f"no batch #{batch}")
        if m.batch_ops[batch] != "transfer":
            raise Refused("not a transfer")
        if batch in m.corrected:
            raise Refused("a transfer is corrected once")
        a, b, amount = m.transfers[batch]
        m.post([(f"pool:{a}", steps(amount)), (f"pool:{b}", -steps(amount))])
        m.corrected.add(batch)


def store_step(store, plan, op: str, args: tuple, key: str, resolved: dict):
    kw = {"key": key, "by": "property", "when": WHEN}
    if op == "release":
        return svc.release(store, plan, pool=args[0], amount=args[1], year=args[2], **kw)
    if op == "reserve":
        return svc.reserve(store, plan, project=args[0], pool=args[1], amount=args[2], expires=args[3], **kw)
    if op == "commit":
        return svc.commit(store, plan, project=args[0], quota=args[1], amount=args[2], **kw)
    if op == "cancel":
        return svc.cancel(store, plan, project=args[0], quota=args[1], **kw)
    if op == "credit_reduction":
        return svc.credit_reduction(store, plan, pool=args[0], demolished=args[1], ratio=args[2], ref="拆除地块", **kw)
    if op == "transfer":
        return svc.transfer(store, plan, source=args[0], target=args[1], amount=args[2], **kw)
    if op == "correct":
        return svc.correct(store, plan, transfer_id=resolved["batch"], why="录入有误", **kw)
    raise AssertionError(op)


def agree(store, plan, m: Model) -> None:
    """The store's ledger is the model's, sums to zero, and passes every invariant."""
    tables = store.ledger_tables()
    acc = tables["pw_ledger_accounts"]
    held = {name: int(b) for name, b in zip(acc["name"], acc["balance"], strict=True) if b}
    assert held == {name: b for name, b in m.balances.items() if b}
    for quota, total in acc.groupby("quota")["balance"].sum().items():
        assert total == 0, quota
    assert audit(plan.ledger, tables) == []
    assert len(tables["pw_ledger_batches"]) == m.batches
    res, sol = tables["pw_ledger_reservations"], tables["pw_ledger_resolutions"]
    still = res[~res["reservation_id"].isin(sol["reservation_id"])]
    held = zip(still["project"], still["quota"], still["district"], still["amount"].astype(int), strict=True)
    assert sorted(held) == sorted((r["project"], r["quota"], r["district"], r["amount"])
                                  for r in m.reservations if r["open"])


def play(store, plan, ops: list[Op]) -> list[str]:
    """Run ``ops`` on the store and on the model, comparing after every step; what each step did
    ("posted", "repeated", "expired N", or the refusal's reason)."""
    m = Model()
    outcomes: list[str] = []
    fresh = itertools.count()
    done: list[tuple[str, tuple, str]] = []  # (op, args, key) as run, for "again"
    for step in ops:
        op, args, key = step.op, step.args, step.key
        if op == "again":
            if not done:
                continue
            op, args, key = done[step.args[0] % len(done)]
        if op == "expire":
            due = [r for r in m.reservations if r["open"] and r["expires"] < AS_OF]
            for r in due:
                m.issue_schedule()
                _apply(m, "expire", (), {"reservation": r})
            assert len(svc.expire(store, plan, as_of=AS_OF, by="property")) == len(due)
            agree(store, plan, m)
            outcomes.append(f"expired {len(due)}")
            continue
        key = key or f"new-{next(fresh)}"
        done.append((op, args, key))
        resolved = {}
        if op == "correct":  # a transfer posted earlier, or another batch, or none
            transfers = sorted(m.transfers)
            others = sorted(b for b, o in m.batch_ops.items() if o != "transfer")
            pick = args[0]
            resolved["batch"] = (transfers[pick % len(transfers)] if pick >= 0 and transfers else
                                 others[0] if pick == -1 and others else 10**6)
            resolved["request"] = (resolved["batch"],)
        try:
            outcome, what = model_step(m, op, args, key, resolved)
        except Refused as refusal:
            try:
                posted = store_step(store, plan, op, args, key, resolved)
            except ServiceError as e:
                assert refusal.why in str(e), (op, args, refusal.why, str(e))
                outcomes.append(refusal.why)
            else:
                raise AssertionError(f"the store posted {op} {args} (batch #{posted.batch['batch_id']}); "
                                     f"the model refuses it: {refusal.why}")
        else:
            try:
                posted = store_step(store, plan, op, args, key, resolved)
            except ServiceError as e:
                raise AssertionError(f"the store refused {op} {args}: {e}; the model posts it") from None
            assert posted.repeated == (outcome == "repeated"), (op, args, key)
            batch = int(posted.batch["batch_id"])
            if outcome == "repeated":
                assert batch == what
            else:
                m.keys[key] = (what, batch)
                m.batch_ops[batch] = op
                if op == "transfer":
                    m.transfers[batch] = args
            outcomes.append(outcome)
        agree(store, plan, m)
    return outcomes


def test_random_sequences_of_operations_keep_the_store_and_the_model_equal(tmp_path, plan, backend):
    paths = (tmp_path / f"example-{n}.gpkg" for n in itertools.count())

    @settings(max_examples=25 if backend == "gpkg" else 10, deadline=None)
    @given(ops=st.lists(OPS, min_size=5, max_size=15))
    def run(ops):
        play(open_store(next(paths)), plan, PRELUDE + ops)  # a fresh store (on PostGIS, a fresh schema) per example

    run()


def test_a_long_day_at_the_bureau_keeps_the_store_and_the_model_equal(tmp_path, plan):
    """One sequence written out, so every kind of step surely happens at least once: caps reached,
    the pool run dry, a 拆占比 making room in the central city, repeated and reused keys."""
    ops = [
        Op("release", (f"{FA}:顺义区", "900000", 2023), "k1"),
        Op("release", (f"{FA}:顺义区", "900000", 2023), "k1"),  # the same request again: answered once
        Op("release", (f"{FA}:顺义区", "900000", 2023), None),  # 1.8 million in one year: over the cap
        Op("release", (f"{FA}:顺义区", "1", 2023), "k1"),  # k1 for another request: refused
        Op("release", (f"{FA}:东城区", "1", 2023), None),  # the central city may not grow
        Op("credit_reduction", (f"{FA}:朝阳区", "400000", "2"), None),  # 200,000 credited, 400,000 gone
        Op("release", (f"{FA}:东城区", "100000", 2023), None),  # now there is room
        Op("release", (f"{FA}:东城区", "400000", 2023), None),  # but not this much
        Op("reserve", ("P1", f"{FA}:顺义区", "400000", "2024-06-30"), None),
        Op("reserve", ("P1", f"{FA}:顺义区", "1", None), None),  # P1 already holds one
        Op("reserve", ("P3", f"{FA}:顺义区", "1", "2023-12-31"), None),  # expiring before it is made
        Op("reserve", ("P3", f"{FA}:顺义区", "1", None), "issue:floor_area:2021"),  # planwatch's own key
        Op("reserve", ("P2", f"{FA}:顺义区", "900000", None), None),  # 500,000 left: refused
        Op("reserve", ("P2", f"{FA}:顺义区", "400000", None), None),
        Op("commit", ("P2", None, "100000"), None),  # in part: the rest back to the pool
        Op("commit", ("P2", None, None), None),  # resolved already
        Op("expire", (), None),  # P1's ran out on 2024-06-30
        Op("cancel", ("P1", FA), None),  # already expired
        Op("reserve", ("P3", f"{FA}:顺义区", "1000", None), None),
        Op("cancel", ("P3", None), None),
        Op("reserve", ("P3", f"{FA}:顺义区", "2000", None), None),  # a project may reserve again once resolved
        Op("commit", ("P3", FA, None), None),  # all of it
        Op("transfer", (f"{FA}:顺义区", f"{FA}:延庆区", "250000"), "k2"),
        Op("transfer", (f"{FA}:顺义区", f"{LAND}:延庆区", "1"), None),  # two quotas
        Op("transfer", (f"{FA}:延庆区", f"{FA}:顺义区", "400000"), None),  # 延庆区 holds 250,000
        Op("correct", (0,), None),
        Op("correct", (0,), None),  # once only
        Op("correct", (-1,), None),  # not a transfer
        Op("release", (f"{LAND}:延庆区", "1600000", 2021), None),
        Op("release", (f"{LAND}:延庆区", "1600000", 2022), None),  # 3.2 million held: over the land cap
        Op("credit_reduction", (f"{LAND}:延庆区", "2500000", "1.5"), None),  # credit 1,666,666.66: over it too
        Op("credit_reduction", (f"{LAND}:延庆区", "0.01", "1.5"), None),  # less than one step
        Op("credit_reduction", (f"{LAND}:延庆区", "100", "0.5"), None),  # 拆占比 below 1
        Op("again", (14,), None),  # commit P2 in part, under its key again
    ]
    assert play(open_store(tmp_path / "day.gpkg"), plan, ops) == [
        "posted", "repeated", f"cap {RELEASE_CAP}", "was already used for a different request", f"cap {CENTRAL_CAP}",
        "posted", "posted", f"cap {CENTRAL_CAP}",
        "posted", "commit or cancel it first", "is before the reservation's date", "are planwatch's own",
        "余额不足 / insufficient quota", "posted", "posted", "was already resolved",
        "expired 1", "was already resolved", "posted", "posted", "posted", "posted",
        "posted", "keep different quotas", "余额不足 / insufficient quota",
        "posted", "a transfer is corrected once", "not a transfer",
        "posted", f"cap {LAND_CAP}", f"cap {LAND_CAP}", "credits less than one step", "the 拆占比 must be at least",
        "repeated",
    ]
