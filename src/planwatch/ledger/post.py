"""What each ledger operation posts: balanced legs between accounts, and the caps it must keep. Pure:
the store reads the balances, calls these, and writes what they return in one transaction.

The account chart (every account is named ``kind:quota:…``):

- ``issuance:Q``: the plan's issuance of quota ``Q``, the source of everything released (its balance
  is minus what was issued);
- ``plan:Q:YEAR``: the release plan of a year (释放计划), issued from ``issuance`` per the schedule;
- ``pool:Q:DISTRICT``: a district's flow pool (流量池): what is available;
- ``pending:Q:DISTRICT:PROJECT``: a project's reservation, held until committed, cancelled or expired;
- ``project:Q:DISTRICT:PROJECT``: what a project committed;
- ``existing:Q:DISTRICT`` → ``reduced:Q:DISTRICT``: floor area or land demolished and returned to green
  (减量), moved out of the existing stock;
- ``linkage:Q``: the source of quota credited for a reduction (增减挂钩), at the 拆占比.

A leg is (account, signed amount in the quota's smallest step); the legs of one operation sum to zero
per quota (debits equal credits). Only ``issuance``, ``existing`` and ``linkage`` may go below zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from planwatch.ledger.amounts import fmt, from_unit
from planwatch.ledger.rules import Cap, LedgerRules

KINDS = ("issuance", "plan", "pool", "pending", "project", "existing", "reduced", "linkage")
SOURCES = ("issuance", "existing", "linkage")  # may go below zero: they record what left them
KIND_ZH = {"issuance": "规划发行", "plan": "年度释放计划", "pool": "流量池", "pending": "项目预留", "project": "项目已用",
           "existing": "现状存量", "reduced": "减量（已拆除还绿）", "linkage": "增减挂钩"}
OPS = ("issue", "release", "reserve", "commit", "cancel", "expire", "credit_reduction", "transfer", "correct")


class LedgerRefusal(ValueError):
    """An operation the ledger refuses, in the user's terms; nothing was written."""


class InsufficientQuota(LedgerRefusal):
    """余额不足 / insufficient quota: the message names the account and what it has available."""


class CapExceeded(LedgerRefusal):
    """The operation would take a scope past one of the plan's caps: the message names the cap, its
    article and the figures."""


@dataclass(frozen=True)
class Account:
    """One account of the chart; ``name`` is its key (see the module's docstring)."""

    name: str
    kind: str
    quota: str
    district: str = ""
    ring: str = ""
    year: int = 0
    project: str = ""

    @property
    def may_go_negative(self) -> bool:
        return self.kind in SOURCES


def account(rules: LedgerRules, kind: str, quota: str, *, district: str = "", year: int = 0,
            project: str = "") -> Account:
    """The account of ``kind`` for ``quota`` (and district, year or project, as the kind needs)."""
    parts = [kind, quota]
    if kind == "plan":
        parts.append(str(year))
    if kind in ("pool", "pending", "project", "existing", "reduced"):
        parts.append(district)
    if kind in ("pending", "project"):
        parts.append(project)
    ring = rules.district_ring.get(district, "") if district else ""
    return Account(":".join(parts), kind, quota, district, ring, int(year), project)


def pool_account(rules: LedgerRules, text: str, option: str = "--pool") -> Account:
    """The pool a user named: ``QUOTA:DISTRICT`` (``floor_area:朝阳区``) or ``pool:QUOTA:DISTRICT``."""
    shown = str(text).strip()
    parts = shown.split(":")
    if parts and parts[0] == "pool":
        parts = parts[1:]
    if len(parts) != 2 or parts[0] not in rules.quotas or parts[1] not in rules.district_ring:
        example = f"{next(iter(rules.quotas))}:{rules.districts[0]}"
        quotas = ", ".join(rules.quotas)
        raise LedgerRefusal(f"{option} {shown[:60]!r}: unknown pool; a pool is QUOTA:DISTRICT, e.g. {example} "
                            f"(quotas: {quotas}; ledger accounts lists them)")
    return account(rules, "pool", parts[0], district=parts[1])


@dataclass
class Posting:
    """What one operation writes: its legs, the accounts it needs (created when missing), and the
    reservation it opens or resolves."""

    op: str
    quota: str
    legs: list[tuple[Account, int]]
    year: int = 0  # the release year (release) or 0
    reservation: dict | None = None  # a reservation opened: project, quota, district, amount, expires
    resolves: int | None = None  # the reservation id resolved (commit, cancel, expire)
    committed: int = 0  # what a commit posted to the project
    corrects: int | None = None  # the batch a correction reverses
    detail: dict = field(default_factory=dict)

    def accounts(self) -> list[Account]:
        return list({a.name: a for a, _ in self.legs}.values())

    def balanced(self) -> bool:
        return sum(amount for _, amount in self.legs) == 0


# ------------------------------------------------------------------ the operations


def issue(rules: LedgerRules, quota: str, year: int, amount: int) -> Posting:
    """The schedule's amount for ``year`` moved from the plan's issuance to that year's release plan."""
    return Posting("issue", quota, [(account(rules, "issuance", quota), -amount),
                                    (account(rules, "plan", quota, year=year), amount)], year=year)


def release(rules: LedgerRules, pool: Account, amount: int, year: int) -> Posting:
    """``amount`` from ``year``'s release plan into ``pool``."""
    if year not in rules.schedule.amounts.get(pool.quota, {}):
        years = ", ".join(str(y) for y in sorted(rules.schedule.amounts.get(pool.quota, {})))
        raise LedgerRefusal(f"--year {year}: the release schedule of {rules.quotas[pool.quota].name} has no year {year} "
                            f"(it has {years or 'none'}; ledger.yaml schedule)")
    return Posting("release", pool.quota, [(account(rules, "plan", pool.quota, year=year), -amount), (pool, amount)],
                   year=year)


def reserve(rules: LedgerRules, pool: Account, project: str, amount: int, expires: date) -> Posting:
    """``amount`` held from ``pool`` for ``project`` until ``expires`` (pending, two-phase)."""
    held = account(rules, "pending", pool.quota, district=pool.district, project=project)
    return Posting("reserve", pool.quota, [(pool, -amount), (held, amount)],
                   reservation={"project": project, "quota": pool.quota, "district": pool.district, "amount": amount,
                                "expires": expires.isoformat()})


def commit(rules: LedgerRules, reservation: Mapping, amount: int | None) -> Posting:
    """A reservation posted to its project: ``amount`` of it (all when None), the rest back to the pool."""
    held, pool, used = _reservation_accounts(rules, reservation)
    total = int(reservation["amount"])
    amount = total if amount is None else amount
    if amount > total:
        q = rules.quotas[reservation["quota"]]
        raise LedgerRefusal(f"--amount {fmt(amount, q)} is more than project {reservation['project']} reserved "
                            f"({fmt(total, q)}, reservation #{reservation['reservation_id']}); reserve more first")
    legs = [(held, -total), (used, amount)]
    if total - amount:
        legs.append((pool, total - amount))
    return Posting("commit", reservation["quota"], legs, resolves=int(reservation["reservation_id"]), committed=amount)


def cancel(rules: LedgerRules, reservation: Mapping, op: str = "cancel") -> Posting:
    """A reservation voided (``cancel``) or run out (``expire``): all of it back to the pool."""
    held, pool, _ = _reservation_accounts(rules, reservation)
    total = int(reservation["amount"])
    return Posting(op, reservation["quota"], [(held, -total), (pool, total)], resolves=int(reservation["reservation_id"]))


def _reservation_accounts(rules: LedgerRules, r: Mapping) -> tuple[Account, Account, Account]:
    q, d, p = r["quota"], r["district"], r["project"]
    return (account(rules, "pending", q, district=d, project=p), account(rules, "pool", q, district=d),
            account(rules, "project", q, district=d, project=p))


def credit_reduction(rules: LedgerRules, pool: Account, demolished: int, ratio: float) -> Posting:
    """``demolished`` (in steps) moved from the district's existing stock to its reductions, and the
    linked increase (增减挂钩) ``demolished / ratio`` (rounded down to a step) credited to ``pool``: one
    balanced batch of four legs."""
    r = rules.ratio
    if not ratio >= r.min or (r.max is not None and ratio > r.max):
        bound = f"at least {r.min:g}" + (f" and at most {r.max:g}" if r.max is not None else "")
        label = "（示意）" if r.illustrative else ""
        raise LedgerRefusal(f"--ratio {ratio:g}: the 拆占比 must be {bound}{label} (第{r.article}条: {r.quote}; "
                            "ledger.yaml ratio)")
    credit = int(Decimal(int(demolished)) / Decimal(repr(float(ratio))))  # whole steps, rounded down
    if credit <= 0:
        raise LedgerRefusal(f"--demolished-m2 at --ratio {ratio:g} credits less than one step of "
                            f"{rules.quotas[pool.quota].name}; nothing to post")
    q, d = pool.quota, pool.district
    return Posting("credit_reduction", q, [
        (account(rules, "existing", q, district=d), -demolished),
        (account(rules, "reduced", q, district=d), demolished),
        (account(rules, "linkage", q), -credit),
        (pool, credit),
    ], detail={"demolished": demolished, "ratio": ratio, "credited": credit})


def transfer(rules: LedgerRules, source: Account, target: Account, amount: int) -> Posting:
    """``amount`` moved from pool ``source`` to pool ``target`` (same quota, different pools)."""
    if source.name == target.name:
        raise LedgerRefusal(f"--from and --to are the same pool ({source.name}); a transfer moves quota between two pools")
    if source.quota != target.quota:
        raise LedgerRefusal(f"--from {source.name} and --to {target.name} keep different quotas; a transfer stays "
                            "within one quota")
    return Posting("transfer", source.quota, [(source, -amount), (target, amount)])


def correct(rules: LedgerRules, batch_id: int, op: str, legs: list[tuple[Account, int]]) -> Posting:
    """The equal and opposite of transfer ``batch_id`` (given its legs): nothing is edited."""
    if op != "transfer":
        raise LedgerRefusal(f"--transfer {batch_id}: batch #{batch_id} is a {op}, not a transfer; only a transfer is "
                            "corrected this way (a reservation is cancelled, a release is transferred back)")
    return Posting("correct", legs[0][0].quota, [(a, -amount) for a, amount in legs], corrects=batch_id)


# ------------------------------------------------------------------ balances and caps


def apply_legs(rules: LedgerRules, balances: Mapping[str, int], posting: Posting) -> dict[str, tuple[int, int]]:
    """Each account's balance (before, after) once ``posting``'s legs are applied to ``balances``.
    Refuses with :class:`InsufficientQuota` (naming the account and what it has) when an account that
    may not go below zero would."""
    out: dict[str, tuple[int, int]] = {}
    for a, amount in posting.legs:
        before = out[a.name][1] if a.name in out else int(balances.get(a.name, 0))
        out[a.name] = (out.get(a.name, (before, before))[0], before + amount)
    for a, _ in posting.legs:
        before, after = out[a.name]
        if after < 0 and not a.may_go_negative:
            q = rules.quotas[a.quota]
            need = -sum(amount for b, amount in posting.legs if b.name == a.name)
            raise InsufficientQuota(f"余额不足 / insufficient quota: {a.name} has {fmt(before, q)} available, "
                                    f"{posting.op} needs {fmt(need, q)}; nothing was written")
    return out


@dataclass
class Totals:
    """What caps measure, per (quota, district): the balances by account kind (pool, pending, project,
    reduced), and per (quota, district, year) what the release plan released there."""

    by_kind: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (quota, district, kind) → balance
    released: dict[tuple[str, str, int], int] = field(default_factory=dict)  # (quota, district, year) → amount

    def after(self, posting: Posting) -> Totals:
        by_kind = dict(self.by_kind)
        released = dict(self.released)
        for a, amount in posting.legs:
            if a.district:
                by_kind[(a.quota, a.district, a.kind)] = by_kind.get((a.quota, a.district, a.kind), 0) + amount
            if posting.op == "release" and a.kind == "pool":
                key = (a.quota, a.district, posting.year)
                released[key] = released.get(key, 0) + amount
        return Totals(by_kind, released)


def measure(cap: Cap, districts: list[str], totals: Totals, year: int | None = None) -> int:
    """``cap``'s measure over ``districts`` (for a ``released`` cap, of ``year``)."""
    def s(kinds):
        return sum(totals.by_kind.get((cap.quota, d, k), 0) for d in districts for k in kinds)

    if cap.measure == "allocated":
        return s(("pool", "pending", "project"))
    if cap.measure == "net_growth":
        return s(("pool", "pending", "project")) - s(("reduced",))
    return sum(totals.released.get((cap.quota, d, year), 0) for d in districts)


def cap_checks(rules: LedgerRules, totals: Totals) -> list[tuple[Cap, list[str], int | None, int, int]]:
    """Every cap's scopes with their measure: (cap, districts, year, measured, limit), in steps."""
    out = []
    for cap in rules.caps:
        q = rules.quotas[cap.quota]
        years: list[int | None]
        if cap.measure == "released":
            years = [cap.year] if cap.year is not None else sorted({y for (qq, _, y) in totals.released if qq == cap.quota})
        else:
            years = [None]
        for districts in rules.scope_districts(cap):
            for year in years:
                out.append((cap, districts, year, measure(cap, districts, totals, year), from_unit(cap.limit, q)))
    return out


def describe_cap(rules: LedgerRules, cap: Cap, districts: list[str], year: int | None, measured: int, limit: int) -> str:
    q = rules.quotas[cap.quota]
    scope = cap.ring or (districts[0] if len(districts) == 1 else "全市")
    what = {"allocated": "held and used", "net_growth": "net growth (held and used less demolished)",
            "released": f"released in {year}"}[cap.measure]
    label = "（示意）" if cap.illustrative else ""
    cite = f"第{cap.article}条: {cap.quote}" if cap.article else "planwatch's illustrative rule"
    return (f"cap {cap.id}{label} ({cite}): {scope} {q.name} {what} would be {fmt(measured, q)}, over the limit of "
            f"{fmt(limit, q)}")


def check_caps(rules: LedgerRules, before: Totals, posting: Posting) -> Totals:
    """The totals after ``posting``; refuses with :class:`CapExceeded` when it takes a cap's measure up
    and past its limit (a cap already over its limit, say after a curator lowered it, refuses only
    what would raise it further)."""
    after = before.after(posting)
    was = {(c.id, tuple(d), y): m for c, d, y, m, _ in cap_checks(rules, before)}
    for cap, districts, year, measured, limit in cap_checks(rules, after):
        if measured > limit and measured > was.get((cap.id, tuple(districts), year), 0):
            raise CapExceeded(f"{describe_cap(rules, cap, districts, year, measured, limit)}; nothing was written")
    return after


__all__ = [
    "KINDS", "KIND_ZH", "OPS", "SOURCES", "Account", "CapExceeded", "InsufficientQuota", "LedgerRefusal", "Posting",
    "Totals", "account", "apply_legs", "cancel", "cap_checks", "check_caps", "commit", "correct", "credit_reduction",
    "describe_cap", "issue", "measure", "pool_account", "release", "reserve", "transfer",
]
