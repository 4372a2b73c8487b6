"""What the quota ledger says for one year's check-up report: the pools by district and by 圈层, the
year's release plan, the caps, the plan targets the ledger is set against, and each pool's balance
over the year. Pure: the ledger's tables (as :meth:`planwatch.store.base.Store.ledger_tables` reads
them), the rules and the plan in; plain data out, amounts in the quota's unit (m²).

Everything is read as of the end of the year (31 December) by the batches' effective dates (业务
日期), whatever order they were posted in. The figures of a pool add up: released + credited for
reductions + transferred in (net) = reserved + committed + available.

The plan targets (``references`` of ``ledger.yaml``) give their numbers themselves (``plan.target``):

- a reference whose quota and scope carry a ``net_growth`` cap (中心城区建筑规模, 第28条) is set
  against it as net growth: held in pools, reserved and committed, less demolished. The ledger does
  not know the total stock (8.5亿平方米 is a stock), so only the growth it recorded is stated;
- any other reference (城乡建设用地, 表9 and 第24条) as a net change: committed to projects less
  reduced (demolished and returned to green); where the target has a baseline, the baseline plus
  that change is given as exactly that computation (not a survey figure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pandas as pd

from planwatch.ledger import post as P
from planwatch.ledger.amounts import from_unit, to_unit
from planwatch.ledger.audit import totals_of
from planwatch.ledger.rules import Cap, LedgerRules

# Square metres in one unit of a plan target (to set a ledger amount in m² against it).
UNIT_M2 = {"平方米": 1, "m²": 1, "万平方米": 10_000, "公顷": 10_000, "平方公里": 1_000_000, "亿平方米": 100_000_000}
POOL_FIGURES = ("released", "credited", "transferred", "reserved", "committed", "available", "demolished")
TRANSFER_OPS = ("transfer", "correct")


@dataclass(frozen=True)
class PoolRow:
    """One district's (or 圈层's, or the city's) pools of one quota, in the quota's unit, at year end.
    ``ring``: a district's 圈层; for a 圈层 or the city, its districts joined by 、."""

    name: str
    ring: str
    released: float  # by the release plan, every year up to the end of the report year
    credited: float  # for floor area or land demolished (增减挂钩), at the 拆占比
    transferred: float  # transfers in less transfers out (and their corrections)
    reserved: float  # held for projects (pending)
    committed: float  # posted to projects
    available: float  # left in the pool
    demolished: float  # demolished and returned to green (减量), before the 拆占比

    @property
    def active(self) -> bool:
        return any(getattr(self, f) for f in POOL_FIGURES)


@dataclass(frozen=True)
class QuotaTable:
    """One quota's pools: each district with anything recorded, each 圈层 and the city; and the
    report year's release plan (issued, released from it, left in it)."""

    quota: str
    name: str
    unit: str
    districts: tuple[PoolRow, ...]  # only districts with anything recorded, in the rules' order
    idle: tuple[str, ...]  # the districts with nothing recorded
    rings: tuple[PoolRow, ...]
    total: PoolRow
    plan_year: int | None  # the report year, when the schedule has it
    planned: float  # issued for the report year's release plan
    released_from_plan: float  # released from that plan (whatever the release's effective date)
    unreleased: float  # left in that plan

    @property
    def active(self) -> bool:
        return self.total.active


@dataclass(frozen=True)
class CapScope:
    scope: str  # a district, a 圈层 or 全市
    measured: float
    limit: float
    over: bool


@dataclass(frozen=True)
class CapCheck:
    """One cap in the report year: every scope it applies to with its measure (a ``released`` cap:
    of the report year's releases)."""

    id: str
    quota: str
    quota_name: str
    unit: str
    measure: str  # allocated, net_growth or released
    year: int | None  # a released cap: the report year
    article: int | None
    quote: str
    illustrative: bool
    note: str
    each_district: bool
    scopes: tuple[CapScope, ...]

    @property
    def over(self) -> bool:
        return any(s.over for s in self.scopes)


@dataclass(frozen=True)
class TargetValue:
    year: int
    value: float | None
    raw: str


@dataclass(frozen=True)
class Reference:
    """A plan target set against the ledger. ``kind``: ``net_growth`` (held, reserved and committed
    less demolished, against a net-growth cap) or ``net_change`` (committed less reduced, and, when
    the target has a baseline, the baseline plus that change: ``implied``). Amounts in the quota's
    unit; ``*_in_target_unit`` in the target's unit (None when the unit is not an area planwatch
    knows), exact as :class:`~decimal.Decimal`."""

    key: str
    kind: str
    target_id: str
    target_name: str
    target_unit: str
    source: str  # 第N条 or 表第N行
    quote: str
    scope: str  # a 圈层, or 全市
    districts: tuple[str, ...]
    targets: tuple[TargetValue, ...]
    baseline: TargetValue | None
    quota: str
    quota_name: str
    unit: str
    held: float
    reserved: float
    committed: float
    demolished: float
    net_growth: float  # held + reserved + committed - demolished
    net_change: float  # committed - demolished
    cap_id: str = ""
    cap_limit: float | None = None
    cap_over: bool = False
    net_in_target_unit: Decimal | None = None  # net_growth or net_change, as the kind says
    implied: Decimal | None = None  # baseline + net_change (net_change kind with a baseline only)


@dataclass(frozen=True)
class PoolSeries:
    """A pool's balance (available) through the report year by effective date: its balance at the
    start of 1 January, after each day with entries, and at the end of 31 December."""

    quota: str
    quota_name: str
    unit: str
    district: str
    ring: str
    points: tuple[tuple[str, float], ...]  # (YYYY-MM-DD, balance)


@dataclass(frozen=True)
class LedgerSummary:
    """The ledger as the ``year`` report shows it (see the module docstring)."""

    year: int
    as_of: str  # YYYY-MM-DD, the end of the report year
    operations: int  # batches posted by people (not the schedule's issuance) up to as_of
    operations_in_year: int
    ops_in_year: tuple[tuple[str, int], ...]  # (op, count), in the order of planwatch.ledger.post.OPS
    illustrative: bool  # any batch up to as_of (the schedule's issuance included) is illustrative
    illustrative_operations: int  # of ``operations``
    schedule_illustrative: bool
    ratio_min: float
    ratio_illustrative: bool
    ratio_article: int | None
    quotas: tuple[QuotaTable, ...]
    caps: tuple[CapCheck, ...]
    references: tuple[Reference, ...]
    series: tuple[PoolSeries, ...]

    @property
    def empty(self) -> bool:
        return self.operations == 0


# ------------------------------------------------------------------ reading the tables


def tables_until(tables: dict[str, pd.DataFrame], day: date) -> dict[str, pd.DataFrame]:
    """The ledger as it stood at the end of ``day``: batches of that effective date or earlier, their
    entries, reservations and resolutions, and the balances they leave."""
    bat = tables["pw_ledger_batches"]
    keep = set(bat.loc[bat["effective"] <= day.isoformat(), "batch_id"])
    ent = tables["pw_ledger_entries"]
    ent = ent[ent["batch_id"].isin(keep)]
    acc = tables["pw_ledger_accounts"].copy()
    sums = ent.groupby("account_id")["amount"].sum()
    acc["balance"] = acc["account_id"].map(sums).fillna(0).astype("int64")
    res, sol = tables["pw_ledger_reservations"], tables["pw_ledger_resolutions"]
    return {"pw_ledger_accounts": acc, "pw_ledger_batches": bat[bat["batch_id"].isin(keep)], "pw_ledger_entries": ent,
            "pw_ledger_reservations": res[res["batch_id"].isin(keep)],
            "pw_ledger_resolutions": sol[sol["batch_id"].isin(keep)]}


def _legs(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every entry with its account (kind, quota, district, year) and its batch (op, effective)."""
    acc, bat = tables["pw_ledger_accounts"], tables["pw_ledger_batches"]
    return (tables["pw_ledger_entries"][["batch_id", "account_id", "amount"]]
            .merge(acc[["account_id", "kind", "quota", "district", "year"]], on="account_id")
            .merge(bat[["batch_id", "op", "effective"]], on="batch_id"))


def _sums(legs: pd.DataFrame, by: list[str]) -> dict[tuple, int]:
    if legs.empty:
        return {}
    return {(k if isinstance(k, tuple) else (k,)): int(v) for k, v in legs.groupby(by)["amount"].sum().items()}


# ------------------------------------------------------------------ the summary


def summarize(rules: LedgerRules, tables: dict[str, pd.DataFrame], plan, year: int) -> LedgerSummary:
    """The ledger of ``tables`` as the ``year`` check-up report shows it, as of 31 December of
    ``year`` (effective dates). ``plan`` gives the reference targets' numbers (``plan.target``)."""
    end = date(int(year), 12, 31)
    now = tables_until(tables, end)
    legs = _legs(now)
    bat = now["pw_ledger_batches"]
    people = bat[bat["op"] != "issue"]
    in_year = people[people["effective"] >= f"{int(year)}-01-01"]
    counts = in_year["op"].value_counts()
    ops_in_year = tuple((op, int(counts[op])) for op in P.OPS if op in counts.index)

    pools = legs[legs["kind"] == "pool"]
    balances = _sums(legs, ["quota", "district", "kind"])
    by_op = _sums(pools, ["quota", "district", "op"])

    def steps(quota: str, districts: list[str]) -> dict[str, int]:
        def kind(k):
            return sum(balances.get((quota, d, k), 0) for d in districts)

        def op(*names):
            return sum(by_op.get((quota, d, o), 0) for d in districts for o in names)

        return {"released": op("release"), "credited": op("credit_reduction"), "transferred": op(*TRANSFER_OPS),
                "reserved": kind("pending"), "committed": kind("project"), "available": kind("pool"),
                "demolished": kind("reduced")}

    def row(quota: str, name: str, ring: str, districts: list[str]) -> PoolRow:
        q = rules.quotas[quota]
        return PoolRow(name, ring, **{k: to_unit(v, q) for k, v in steps(quota, districts).items()})

    plan_legs = legs[legs["kind"] == "plan"]
    quotas = []
    for quota, q in rules.quotas.items():
        districts = [row(quota, d, rules.district_ring[d], [d]) for d in rules.districts]
        planned = released = left = 0
        plan_year = int(year) if int(year) in rules.schedule.amounts.get(quota, {}) else None
        if plan_year is not None:
            mine = plan_legs[(plan_legs["quota"] == quota) & (plan_legs["year"] == plan_year)]
            planned = int(mine.loc[mine["op"] == "issue", "amount"].sum())
            left = int(mine["amount"].sum())
            released = planned - left
        quotas.append(QuotaTable(
            quota, q.name, q.unit, tuple(r for r in districts if r.active), tuple(r.name for r in districts if not r.active),
            tuple(row(quota, ring, "、".join(ds), list(ds)) for ring, ds in rules.rings.items()),
            row(quota, "全市", "、".join(rules.districts), rules.districts), plan_year,
            to_unit(planned, q), to_unit(released, q), to_unit(left, q)))

    totals = totals_of(now)
    caps = tuple(_cap_check(rules, cap, totals, int(year)) for cap in rules.caps
                 if not (cap.measure == "released" and cap.year is not None and cap.year != int(year)))
    references = tuple(_reference(rules, key, plan, steps, caps) for key in rules.references)
    return LedgerSummary(
        year=int(year), as_of=end.isoformat(), operations=len(people), operations_in_year=len(in_year),
        ops_in_year=ops_in_year, illustrative=bool(bat["illustrative"].astype(bool).any()),
        illustrative_operations=int(people["illustrative"].astype(bool).sum()),
        schedule_illustrative=rules.schedule.illustrative, ratio_min=rules.ratio.min,
        ratio_illustrative=rules.ratio.illustrative, ratio_article=rules.ratio.article, quotas=tuple(quotas), caps=caps,
        references=references, series=_series(rules, legs[legs["kind"] == "pool"], int(year)))


def _cap_check(rules: LedgerRules, cap: Cap, totals: P.Totals, year: int) -> CapCheck:
    q = rules.quotas[cap.quota]
    limit = from_unit(cap.limit, q)
    of_year = year if cap.measure == "released" else None
    scopes = []
    for districts in rules.scope_districts(cap):
        measured = P.measure(cap, districts, totals, of_year)
        scope = cap.ring or (districts[0] if len(districts) == 1 else "全市")
        scopes.append(CapScope(scope, to_unit(measured, q), to_unit(limit, q), measured > limit))
    return CapCheck(cap.id, cap.quota, q.name, q.unit, cap.measure, of_year, cap.article, cap.quote, cap.illustrative,
                    cap.note, cap.each_district, tuple(scopes))


def _source(target) -> str:
    if target.source.table_row:
        return f"表第{target.source.table_row}行"
    return f"第{target.source.article}条" if target.source.article else ""


def _reference(rules: LedgerRules, key: str, plan, steps, caps: tuple[CapCheck, ...]) -> Reference:
    ref = rules.references[key]
    target = plan.target(ref.target)
    q = rules.quotas[ref.quota]
    districts = list(rules.rings[ref.ring]) if ref.ring else rules.districts
    s = steps(ref.quota, districts)
    held = s["available"] + s["reserved"] + s["committed"]
    growth, change = held - s["demolished"], s["committed"] - s["demolished"]
    cap = next((c for c in caps if c.quota == ref.quota and c.measure == "net_growth" and not c.each_district
                and c.scopes and c.scopes[0].scope == (ref.ring or "全市")), None)
    kind = "net_growth" if cap is not None else "net_change"
    factor = UNIT_M2.get(target.unit) if q.unit in ("m²", "平方米") else None
    net = growth if kind == "net_growth" else change
    in_unit = None if factor is None else Decimal(int(net)).scaleb(-q.decimals) / Decimal(factor)
    base = target.baseline
    baseline = TargetValue(base.year, base.value, base.raw) if base is not None and base.value is not None else None
    implied = None
    if kind == "net_change" and baseline is not None and in_unit is not None:
        implied = Decimal(repr(float(baseline.value))) + in_unit
    return Reference(
        key=key, kind=kind, target_id=target.id, target_name=target.name, target_unit=target.unit,
        source=_source(target), quote=target.quote, scope=ref.ring or "全市", districts=tuple(districts),
        targets=tuple(TargetValue(v.year, v.value, v.raw) for v in target.targets), baseline=baseline,
        quota=ref.quota, quota_name=q.name, unit=q.unit, held=to_unit(s["available"], q),
        reserved=to_unit(s["reserved"], q), committed=to_unit(s["committed"], q), demolished=to_unit(s["demolished"], q),
        net_growth=to_unit(growth, q), net_change=to_unit(change, q),
        cap_id=cap.id if cap else "", cap_limit=cap.scopes[0].limit if cap else None,
        cap_over=bool(cap and cap.over), net_in_target_unit=in_unit, implied=implied)


def _series(rules: LedgerRules, pools: pd.DataFrame, year: int) -> tuple[PoolSeries, ...]:
    """Each pool with entries in ``year``: its balance through the year by effective date."""
    first, last = f"{year}-01-01", f"{year}-12-31"
    out = []
    moved = pools[(pools["effective"] >= first) & (pools["effective"] <= last)]
    for quota, q in rules.quotas.items():
        for district in rules.districts:
            mine = pools[(pools["quota"] == quota) & (pools["district"] == district)]
            if not ((moved["quota"] == quota) & (moved["district"] == district)).any():
                continue
            balance = int(mine.loc[mine["effective"] < first, "amount"].sum())
            points = [(first, to_unit(balance, q))]
            for day, amount in mine[mine["effective"] >= first].groupby("effective")["amount"].sum().items():
                balance += int(amount)
                points.append((str(day), to_unit(balance, q)))
            if points[-1][0] != last:
                points.append((last, to_unit(balance, q)))
            out.append(PoolSeries(quota, q.name, q.unit, district, rules.district_ring[district], tuple(points)))
    return tuple(out)


__all__ = ["CapCheck", "CapScope", "LedgerSummary", "PoolRow", "PoolSeries", "QuotaTable", "Reference", "TargetValue",
           "UNIT_M2", "summarize", "tables_until"]
