"""The quota ledger (流量池, 减量, 增减挂钩, 拆占比): post an operation (release, reserve, commit, cancel,
expire, credit a reduction, transfer, correct), list the accounts with their balances, print the
audit trail, and prove the invariants (``ledger check``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from planwatch.services import MAX_ECHO, ServiceError, StoreSource, frame_records, jsonable, opened, shorten
from planwatch.services.findings import default_actor, parse_day

if TYPE_CHECKING:
    import pandas as pd

    from planwatch.ledger.rules import LedgerRules
    from planwatch.plan import Plan
    from planwatch.services.users import User

# Keys planwatch gives its own postings (the schedule's issuance, expiry): a user's --key may not take them.
SYSTEM_KEY_PREFIXES = ("issue:", "expire:")


def rules_of(plan: Plan) -> LedgerRules:
    """The plan's ledger rules, or a refusal when its package has no ledger.yaml."""
    if plan.ledger is None:
        raise ServiceError(f"plan {plan.meta.id} has no quota ledger rules (ledger.yaml in its package)")
    return plan.ledger


def new_key() -> str:
    """An idempotency key for a request that came without one."""
    return uuid.uuid4().hex


# ------------------------------------------------------------------ posting


@dataclass(frozen=True)
class Posted:
    """What one operation posted (or, ``repeated``, had already posted under the same key)."""

    op: str
    key: str
    repeated: bool
    batch: dict
    legs: list[dict]  # account, amount, before, after (in the quota's unit)
    reservation: dict | None
    resolution: dict | None
    unit: str
    notes: list[str] = field(default_factory=list)  # e.g. that an account holds illustrative (示意) figures

    def to_records(self) -> dict:
        return jsonable({"op": self.op, "key": self.key, "repeated": self.repeated, "batch": self.batch,
                         "legs": self.legs, "reservation": self.reservation, "resolution": self.resolution,
                         "unit": self.unit, "notes": self.notes})

    def message(self) -> str:
        b = self.batch
        head = (f"already posted: key {self.key} was batch #{b['batch_id']} ({b['op']}, by {b['actor']} at {b['at']}); "
                "nothing was posted again") if self.repeated else f"batch #{b['batch_id']} {b['op']} posted (key {self.key})"
        return head


def _amount(rules: LedgerRules, quota: str, text, option: str, *, allow_zero: bool = False) -> int:
    from planwatch.ledger.amounts import AmountError, parse_amount

    try:
        return parse_amount(text, rules.quotas[quota], option, allow_zero=allow_zero)
    except AmountError as e:
        raise ServiceError(str(e), usage=True) from None


def _amount_any(rules: LedgerRules, quota: str | None, text) -> int:
    """A commit's --amount: checked against ``quota`` when given; without it (the reservation says
    which), against the rule every quota shares, or refused asking for --quota when they differ."""
    if quota is not None:
        return _amount(rules, quota, text, "--amount")
    kinds = {(q.decimals, q.unit) for q in rules.quotas.values()}
    if len(kinds) > 1:
        raise ServiceError("--amount: the quotas differ in unit or decimals; say which with --quota", usage=True)
    decimals, unit = kinds.pop()
    from planwatch.ledger.amounts import AmountError, parse_amount
    from planwatch.ledger.rules import Quota

    try:
        return parse_amount(text, Quota(name="指标", unit=unit, decimals=decimals, illustrative=True), "--amount")
    except AmountError as e:
        raise ServiceError(str(e), usage=True) from None


def pool_of(plan: Plan, text: str, option: str = "--pool"):
    """The pool account a user named (``QUOTA:DISTRICT``), or a refusal saying how pools are named."""
    return _pool(rules_of(plan), text, option)


def _pool(rules: LedgerRules, text: str, option: str = "--pool"):
    from planwatch.ledger.post import LedgerRefusal, pool_account

    try:
        return pool_account(rules, text, option)
    except LedgerRefusal as e:
        raise ServiceError(str(e)) from None


def _project(text: str) -> str:
    project = str(text or "").strip()
    if not project or len(project) > 120 or any(c in project for c in "\n\r\t"):
        raise ServiceError(f"--project {shorten(text, MAX_ECHO)!r}: give the project's id (1–120 characters, one line)",
                           usage=True)
    return project


def _post(store: StoreSource, plan: Plan, op: str, params: dict, *, by: str | None, key: str | None,
          when: date | str | None, memo: str, illustrative: bool, system_key: bool = False, user: User | None = None,
          address: str = "") -> Posted:
    """Post ``op`` with ``params`` (amounts already in whole steps); refusals become :class:`ServiceError`.
    ``user``: the account posting (its scope already checked): it is the actor, and the posting is
    audited (``ledger.<op>``, the request and its key) and held to its scope in the posting's transaction."""
    from planwatch.ledger.amounts import to_unit
    from planwatch.ledger.post import LedgerRefusal
    from planwatch.services import users

    rules = rules_of(plan)
    actor = (user.name if user is not None else by if by is not None else default_actor()).strip()
    if not actor:
        raise ServiceError("--by: say who posts (or set $PLANWATCH_USER)", usage=True)
    key = (key or "").strip() or new_key()
    if len(key) > 200:
        raise ServiceError(f"--key {shorten(key, MAX_ECHO)!r}: at most 200 characters", usage=True)
    if not system_key and key.startswith(SYSTEM_KEY_PREFIXES):
        raise ServiceError(f"--key {shorten(key, MAX_ECHO)!r}: keys starting with {' or '.join(SYSTEM_KEY_PREFIXES)} "
                           "are planwatch's own (the schedule's issuance, expiry); choose another", usage=True)
    effective = parse_day(when, "--date") or date.today()
    if op == "reserve" and params.get("expires") and params["expires"] < effective.isoformat():
        raise ServiceError(f"--expires {params['expires']} is before the reservation's date {effective.isoformat()}",
                           usage=True)
    acting = users.acting(user, f"ledger.{op}", str(params.get("project", "")), {**params, "key": key}, address)
    try:
        done = opened(store).ledger_post(rules, op, params, key=key, actor=actor, effective=effective, memo=memo or "",
                                         illustrative=illustrative, plan_id=plan.meta.id, **acting)
    except LedgerRefusal as e:
        raise ServiceError(str(e)) from None
    quota = rules.quotas[done["batch"]["quota"]]
    legs = [{**leg, **{k: to_unit(leg[k], quota) for k in ("amount", "before", "after")}} for leg in done["legs"]]
    resolution = done["resolution"]
    if resolution is not None:
        resolution = {**resolution, "committed": to_unit(resolution["committed"], quota)}
    notes = []
    if rules.schedule.illustrative and any(leg["account"].startswith("plan:") for leg in legs):
        notes.append("plan:… accounts hold the release schedule of ledger.yaml, whose amounts are illustrative (示意): "
                     "the plan gives none")
    return Posted(op, key, bool(done["repeated"]), done["batch"], legs, done["reservation"], resolution, quota.unit,
                  notes)


def release(store: StoreSource, plan: Plan, *, pool: str, amount, year: int, memo: str = "", by: str | None = None,
            key: str | None = None, when=None, illustrative: bool = False) -> Posted:
    """Release ``amount`` of ``year``'s release plan into ``pool``."""
    rules = rules_of(plan)
    p = _pool(rules, pool)
    return _post(store, plan, "release", {"pool": p.name, "amount": _amount(rules, p.quota, amount, "--amount"),
                                          "year": int(year)}, by=by, key=key, when=when, memo=memo,
                 illustrative=illustrative)


def reserve(store: StoreSource, plan: Plan, *, project: str, pool: str, amount, expires=None, memo: str = "",
            by: str | None = None, key: str | None = None, when=None, illustrative: bool = False,
            user: User | None = None, address: str = "") -> Posted:
    """Hold ``amount`` of ``pool`` for ``project`` (pending until committed, cancelled or expired).
    ``user``: the account reserving (from ``address``): the district editor of the pool's district, or
    an admin (else :class:`Forbidden`); None: the local operator."""
    rules = rules_of(plan)
    p = _pool(rules, pool)
    _may_reserve(user, p.district)
    until = parse_day(expires, "--expires")
    return _post(store, plan, "reserve", {"pool": p.name, "project": _project(project),
                                          "amount": _amount(rules, p.quota, amount, "--amount"),
                                          "expires": until.isoformat() if until else None},
                 by=by, key=key, when=when, memo=memo, illustrative=illustrative, user=user, address=address)


def _may_reserve(user: User | None, district: str) -> None:
    """Refuse (:class:`Forbidden`) an account that may not reserve in ``district``'s pools."""
    from planwatch.services import users

    if user is not None:
        users.require(user, "reserve", district=district)


def _may_resolve(store, user: User | None, project: str, quota: str | None) -> None:
    """Refuse (:class:`Forbidden`) an account that may not commit or cancel ``project``'s open
    reservation(s) (in ``quota``): only the district editor of their district, or an admin. With none
    open, a district editor goes on, for the ledger to say why (unknown project, already resolved)."""
    if user is None or user.may("admin"):
        return
    tables = store.ledger_tables()
    res, sol = tables["pw_ledger_reservations"], tables["pw_ledger_resolutions"]
    held = res[(res["project"] == project) & ~res["reservation_id"].isin(sol["reservation_id"])]
    if quota is not None:
        held = held[held["quota"] == quota]
    districts = set(held["district"]) or ({user.district} if user.role == "district_editor" else set())
    _may_reserve(user, districts.pop() if len(districts) == 1 else "")


def reserve_steps(store: StoreSource, plan: Plan, *, project: str, quota: str, district: str, steps: int, memo: str = "",
                  by: str | None = None, when=None, illustrative: bool = False, user: User | None = None,
                  address: str = "") -> Posted:
    """Reserve ``steps`` (already checked) of ``quota`` for ``project`` from ``district``'s pool, under
    the key ``reserve:<project>:<quota>:<steps>``: asking again for the same reserves nothing twice.
    ``user``, ``address``: as :func:`reserve`."""
    _may_reserve(user, district)
    return _post(store, plan, "reserve", {"pool": f"pool:{quota}:{district}", "project": _project(project),
                                          "amount": int(steps), "expires": None},
                 by=by, key=f"reserve:{project}:{quota}:{int(steps)}", when=when, memo=memo, illustrative=illustrative,
                 user=user, address=address)


def to_m2(rules: LedgerRules, quota: str, steps: int) -> float:
    """Whole steps of ``quota`` in its unit."""
    from planwatch.ledger.amounts import to_unit

    return to_unit(steps, rules.quotas[quota])


def _quota(rules: LedgerRules, quota: str | None) -> str | None:
    if quota is not None and quota not in rules.quotas:
        raise ServiceError(f"--quota {shorten(quota, MAX_ECHO)!r}: unknown quota (one of {', '.join(rules.quotas)})",
                           usage=True)
    return quota


def commit(store: StoreSource, plan: Plan, *, project: str, amount=None, quota: str | None = None, memo: str = "",
           by: str | None = None, key: str | None = None, when=None, illustrative: bool = False,
           user: User | None = None, address: str = "") -> Posted:
    """Post ``project``'s reservation: all of it, or ``amount`` of it with the rest back to the pool.
    ``user``: the account committing (from ``address``): the district editor of the reservation's
    district, or an admin (else :class:`Forbidden`); None: the local operator."""
    rules = rules_of(plan)
    quota = _quota(rules, quota)
    steps = None
    if amount is not None:
        steps = _amount_any(rules, quota, amount)
    project = _project(project)
    if user is not None:
        store = opened(store)
        _may_resolve(store, user, project, quota)
    return _post(store, plan, "commit", {"project": project, "quota": quota, "amount": steps}, by=by,
                 key=key, when=when, memo=memo, illustrative=illustrative, user=user, address=address)


def cancel(store: StoreSource, plan: Plan, *, project: str, quota: str | None = None, memo: str = "",
           by: str | None = None, key: str | None = None, when=None, illustrative: bool = False,
           user: User | None = None, address: str = "") -> Posted:
    """Void ``project``'s reservation: all of it back to the pool. ``user``, ``address``: as
    :func:`commit`."""
    rules = rules_of(plan)
    project, quota = _project(project), _quota(rules, quota)
    if user is not None:
        store = opened(store)
        _may_resolve(store, user, project, quota)
    return _post(store, plan, "cancel", {"project": project, "quota": quota}, by=by, key=key,
                 when=when, memo=memo, illustrative=illustrative, user=user, address=address)


def expire(store: StoreSource, plan: Plan, *, as_of=None, by: str | None = None,
           illustrative: bool = False) -> list[Posted]:
    """Release every reservation past its expiry on ``as_of`` (default today), each as its own batch
    (key ``expire:<reservation>``, so running it twice expires nothing twice)."""
    rules_of(plan)
    day = parse_day(as_of, "--as-of") or date.today()
    s = opened(store)
    tables = s.ledger_tables()
    res, sol = tables["pw_ledger_reservations"], tables["pw_ledger_resolutions"]
    due = res[~res["reservation_id"].isin(sol["reservation_id"]) & (res["expires"] < day.isoformat())]
    return [_post(s, plan, "expire", {"reservation_id": int(rid)}, by=by, key=f"expire:{int(rid)}", when=day,
                  memo=("示意：" if illustrative else "") + f"预留于{exp}到期，{day.isoformat()}释放",
                  illustrative=illustrative, system_key=True)
            for rid, exp in zip(due["reservation_id"], due["expires"], strict=True)]


def credit_reduction(store: StoreSource, plan: Plan, *, pool: str, demolished, ratio, ref: str, memo: str = "",
                     by: str | None = None, key: str | None = None, when=None, illustrative: bool = False) -> Posted:
    """Credit ``pool`` for ``demolished`` m² demolished and returned to green, at the 拆占比 ``ratio``:
    the reduction and the linked increase (增减挂钩) in one balanced batch."""
    rules = rules_of(plan)
    p = _pool(rules, pool)
    try:
        r = float(str(ratio).strip())
    except ValueError:
        raise ServiceError(f"--ratio {shorten(ratio, MAX_ECHO)!r}: not a number (the 拆占比, e.g. 2 for 2:1)",
                           usage=True) from None
    if not r > 0 or r != r or r == float("inf"):
        raise ServiceError(f"--ratio {ratio}: must be a positive number (the 拆占比, e.g. 2 for 2:1)", usage=True)
    ref = str(ref or "").strip()
    if not ref:
        raise ServiceError("--ref: name the parcel (or project) that was demolished", usage=True)
    return _post(store, plan, "credit_reduction", {"pool": p.name, "ref": ref, "ratio": r,
                                                   "demolished": _amount(rules, p.quota, demolished, "--demolished-m2")},
                 by=by, key=key, when=when, memo=memo, illustrative=illustrative)


def transfer(store: StoreSource, plan: Plan, *, source: str, target: str, amount, memo: str = "",
             by: str | None = None, key: str | None = None, when=None, illustrative: bool = False) -> Posted:
    """Move ``amount`` between two pools of one quota, within the plan's caps."""
    rules = rules_of(plan)
    a, b = _pool(rules, source, "--from"), _pool(rules, target, "--to")
    if a.name == b.name:
        raise ServiceError(f"--from and --to are the same pool ({a.name}); a transfer moves quota between two pools",
                           usage=True)
    return _post(store, plan, "transfer", {"from": a.name, "to": b.name,
                                           "amount": _amount(rules, a.quota, amount, "--amount")},
                 by=by, key=key, when=when, memo=memo, illustrative=illustrative)


def correct(store: StoreSource, plan: Plan, *, transfer_id: int, why: str, by: str | None = None,
            key: str | None = None, when=None, illustrative: bool = False) -> Posted:
    """Reverse transfer ``transfer_id`` with an equal and opposite one; nothing is edited."""
    why = str(why or "").strip()
    if not why:
        raise ServiceError("--why: say why the transfer is corrected", usage=True)
    return _post(store, plan, "correct", {"transfer": int(transfer_id)}, by=by, key=key, when=when, memo=why,
                 illustrative=illustrative)


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class Accounts:
    """Every pool with what is available, reserved (pending) and committed, and the caps over it; and
    every other account with its balance. Amounts in the quota's unit."""

    pools: pd.DataFrame  # pool, quota, quota_name, district, ring, available, reserved, committed, released, reduced, unit, caps
    others: pd.DataFrame  # name, kind, quota, district, ring, year, project, balance, unit
    caps: list[dict]  # id, quota, scope, measure, measured, limit, unit, article, illustrative, over

    def to_records(self) -> dict:
        return {"pools": frame_records(self.pools), "accounts": frame_records(self.others), "caps": jsonable(self.caps)}


def accounts(store: StoreSource, plan: Plan, *, as_of: date | None = None) -> Accounts:
    """The ledger's accounts and caps (as of the end of ``as_of``'s effective date when given)."""
    rules = rules_of(plan)
    tables = opened(store).ledger_tables()
    return accounts_from(rules, tables, as_of=as_of)


def accounts_from(rules: LedgerRules, tables: dict[str, pd.DataFrame], *, as_of: date | None = None) -> Accounts:
    """:func:`accounts` from the ledger's tables (what the report uses too)."""
    import pandas as pd

    from planwatch.ledger.amounts import to_unit
    from planwatch.ledger.audit import totals_of
    from planwatch.ledger.post import cap_checks
    from planwatch.ledger.summary import tables_until

    if as_of is not None:
        tables = tables_until(tables, as_of)
    acc = tables["pw_ledger_accounts"]
    totals = totals_of(tables)
    rows = []
    for quota, q in rules.quotas.items():
        for district in rules.districts:
            def bal(kind, quota=quota, district=district):
                return totals.by_kind.get((quota, district, kind), 0)

            released = sum(v for (qq, d, _), v in totals.released.items() if qq == quota and d == district)
            rows.append({"pool": f"{quota}:{district}", "quota": quota, "quota_name": q.name, "district": district,
                         "ring": rules.district_ring[district], "available": to_unit(bal("pool"), q),
                         "reserved": to_unit(bal("pending"), q), "committed": to_unit(bal("project"), q),
                         "released": to_unit(released, q), "reduced": to_unit(bal("reduced"), q), "unit": q.unit,
                         "caps": [c.id for c in rules.caps if c.quota == quota and any(
                             district in ds for ds in rules.scope_districts(c))]})
    pools = pd.DataFrame(rows)
    others = acc[~acc["kind"].isin(["pool"])].copy()
    others["unit"] = [rules.quotas[q].unit if q in rules.quotas else "" for q in others["quota"]]
    others["balance"] = [to_unit(b, rules.quotas[q]) if q in rules.quotas else float(b)
                         for b, q in zip(others["balance"], others["quota"], strict=True)]
    others = others[["name", "kind", "quota", "district", "ring", "year", "project", "balance", "unit"]].reset_index(drop=True)
    caps = []
    for cap, districts, year, measured, limit in cap_checks(rules, totals):
        q = rules.quotas[cap.quota]
        caps.append({"id": cap.id, "quota": cap.quota, "scope": cap.ring or (districts[0] if len(districts) == 1 else "全市"),
                     "measure": cap.measure, "year": year, "measured": to_unit(measured, q), "limit": to_unit(limit, q),
                     "unit": q.unit, "article": cap.article, "illustrative": cap.illustrative,
                     "over": measured > limit})
    return Accounts(pools, others, caps)


@dataclass(frozen=True)
class History:
    """The audit trail: one row per entry, oldest first (who, when, why, the key, the balance before
    and after), amounts in the quota's unit."""

    frame: pd.DataFrame
    filters: dict = field(default_factory=dict)

    def to_records(self) -> list[dict]:
        return frame_records(self.frame)


HISTORY_COLUMNS = ["batch_id", "entry_id", "effective", "at", "op", "account", "amount", "balance_before", "balance_after",
                   "unit", "actor", "memo", "ref", "idem_key", "corrects", "illustrative"]


def history(store: StoreSource, plan: Plan, *, pool: str | None = None, project: str | None = None) -> History:
    """Every entry (of ``pool``, or of ``project``'s reservations and commitments), oldest first."""
    from planwatch.ledger.amounts import to_unit

    rules = rules_of(plan)
    account = _pool(rules, pool).name if pool else None
    project = _project(project) if project is not None else None
    t = opened(store).ledger_tables()
    df = (t["pw_ledger_entries"]
          .merge(t["pw_ledger_batches"], on="batch_id")
          .merge(t["pw_ledger_accounts"][["account_id", "name", "quota", "project", "kind"]], on="account_id",
                 suffixes=("", "_account")))
    if account is not None:
        df = df[df["name"] == account]
    if project is not None:
        known = (t["pw_ledger_reservations"]["project"] == project).any()
        if not known:
            raise ServiceError(f"--project {shorten(project, MAX_ECHO)!r}: no reservation for this project in the ledger")
        batches = set(df.loc[df["project"] == project, "batch_id"])
        df = df[df["batch_id"].isin(batches)]
    df = df.sort_values("entry_id")
    out = df.rename(columns={"name": "account"})
    for c in ("amount", "balance_before", "balance_after"):
        out[c] = [to_unit(v, rules.quotas[q]) for v, q in zip(out[c], out["quota_account"], strict=True)]
    out["unit"] = [rules.quotas[q].unit for q in out["quota_account"]]
    return History(out[HISTORY_COLUMNS].reset_index(drop=True), {"pool": account, "project": project})


@dataclass(frozen=True)
class LedgerCheck:
    """``ledger check``: the counts read and every invariant that fails (none: the ledger is sound)."""

    problems: list[str]
    counts: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_records(self) -> dict:
        return {"ok": self.ok, "problems": self.problems, "counts": self.counts}


def check(store: StoreSource, plan: Plan) -> LedgerCheck:
    """Recompute every balance from the entries and prove the invariants (:mod:`planwatch.ledger.audit`)."""
    from planwatch.ledger.audit import audit

    rules = rules_of(plan)
    tables = opened(store).ledger_tables()
    return LedgerCheck([str(p) for p in audit(rules, tables)], {k: len(v) for k, v in tables.items()})


__all__ = [
    "Accounts", "History", "LedgerCheck", "Posted", "accounts", "accounts_from", "cancel", "check", "commit",
    "correct", "credit_reduction", "expire", "history", "new_key", "pool_of", "release", "reserve", "reserve_steps", "rules_of",
    "to_m2", "transfer",
]
