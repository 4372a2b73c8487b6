"""The quota ledger's tables, and the SQL both backends run on them.

Five tables (schema v6), the same in the GeoPackage and the PostGIS store (after pgledger and
TigerBeetle):

- ``pw_ledger_accounts``: the account chart (see :mod:`planwatch.ledger.post`), each with its
  ``balance`` and a ``version`` every posting bumps. Triggers refuse any change but to those two, and
  any DELETE.
- ``pw_ledger_batches``: one row per operation: what was asked (``op``, the canonical ``request``),
  its idempotency key (unique), who, when, the effective date, the memo, and for a correction the
  batch it reverses (at most once).
- ``pw_ledger_entries``: the legs of each batch: the account, the signed amount, the balance before and
  after and the account's version (unique per account, so the entries of an account form one chain).
- ``pw_ledger_reservations``: each reservation (two-phase: pending until committed, cancelled or
  expired) and ``pw_ledger_resolutions``: how it resolved, at most once (unique per reservation).

Batches, entries, reservations and resolutions are append-only (triggers refuse UPDATE and DELETE on
both backends). Amounts are whole numbers of the quota's smallest step.

Every posting runs inside the caller's write transaction: :func:`post` makes sure the chart and the
schedule's issuance are there, takes the lock (``BEGIN IMMEDIATE`` already serialises SQLite; on
PostgreSQL the pool accounts are locked ``FOR UPDATE`` in account-id order, so writers of the ledger
go one at a time and never deadlock), answers a repeated idempotency key with the first answer, asks
:mod:`planwatch.ledger.post` for the legs, checks the balances and caps, and writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import pandas as pd

from planwatch.ledger import post as P
from planwatch.ledger.rules import LedgerRules
from planwatch.store.base import RECORDS, RecordTable, utc_now
from planwatch.store.findings import POSTGRES_TYPES, SQLITE_TYPES, Dialect, Guard, create_table, read_table

LEDGER_TABLES: list[RecordTable] = [RECORDS[name] for name in (
    "pw_ledger_accounts", "pw_ledger_batches", "pw_ledger_entries", "pw_ledger_reservations", "pw_ledger_resolutions")]
APPEND_ONLY = ("pw_ledger_batches", "pw_ledger_entries", "pw_ledger_reservations", "pw_ledger_resolutions")
ACCOUNT_FIXED = ["account_id", "name", "kind", "quota", "district", "ring", "year", "project", "created_at"]
TABLES = {t.name: t for t in LEDGER_TABLES}
GUARD = Guard("pw_ledger_refuse", "pw_ledger_accounts", tuple(ACCOUNT_FIXED), "fixed",
              "pw_ledger_accounts: an account is never renamed or moved; only postings change its balance",
              "pw_ledger_accounts: an account is never deleted", APPEND_ONLY,
              "% is append-only: post a correction instead")


# ------------------------------------------------------------------ DDL


_CONSTRAINTS = {
    "pw_ledger_accounts": ",\n  UNIQUE (name)",
    "pw_ledger_batches": ",\n  UNIQUE (idem_key)",
    "pw_ledger_entries": ",\n  UNIQUE (account_id, account_version)",
    "pw_ledger_reservations": "",
    "pw_ledger_resolutions": ",\n  UNIQUE (reservation_id)",
}
_INDEXES = [
    "CREATE UNIQUE INDEX IF NOT EXISTS pw_ledger_batches_corrects ON pw_ledger_batches (corrects) WHERE corrects > 0",
    "CREATE INDEX IF NOT EXISTS pw_ledger_entries_batch ON pw_ledger_entries (batch_id)",
    "CREATE INDEX IF NOT EXISTS pw_ledger_batches_op ON pw_ledger_batches (op)",
    "CREATE INDEX IF NOT EXISTS pw_ledger_reservations_project ON pw_ledger_reservations (project)",
]


def sqlite_ddl() -> list[str]:
    """The v6 tables, indexes and triggers in a GeoPackage (SQLite); each statement idempotent."""
    out = [create_table(SQLITE_TYPES, t, _CONSTRAINTS[t.name]) for t in LEDGER_TABLES]
    out += _INDEXES
    out += GUARD.sqlite()
    out.append("""INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) VALUES
  ('pw_ledger_accounts', 'attributes', 'pw_ledger_accounts', 'planwatch: the quota ledger''s accounts and balances'),
  ('pw_ledger_batches', 'attributes', 'pw_ledger_batches', 'planwatch: every quota ledger operation (append-only)'),
  ('pw_ledger_entries', 'attributes', 'pw_ledger_entries', 'planwatch: the quota ledger''s entries, balance before and after (append-only)'),
  ('pw_ledger_reservations', 'attributes', 'pw_ledger_reservations', 'planwatch: quota reservations for projects (append-only)'),
  ('pw_ledger_resolutions', 'attributes', 'pw_ledger_resolutions', 'planwatch: how each reservation resolved, once (append-only)')""")
    return out


def postgres_ddl() -> list[str]:
    """The v6 tables, indexes and triggers in PostgreSQL; each statement idempotent."""
    out = [create_table(POSTGRES_TYPES, t, _CONSTRAINTS[t.name]) for t in LEDGER_TABLES]
    out += _INDEXES
    out += GUARD.postgres()
    return out


# ------------------------------------------------------------------ reading


def _frame(con, d: Dialect, table: str, where: str = "", params: Sequence = ()) -> pd.DataFrame:
    return read_table(con, d, TABLES[table], where, params)


def read_all(con, d: Dialect) -> dict[str, pd.DataFrame]:
    """The five ledger tables, each oldest first, as read in the caller's (read) transaction."""
    return {t.name: _frame(con, d, t.name) for t in LEDGER_TABLES}


# ------------------------------------------------------------------ posting


class _Book:
    """The ledger as one posting sees it, inside its transaction."""

    def __init__(self, con, d: Dialect, rules: LedgerRules):
        self.con, self.d, self.rules = con, d, rules

    def one(self, query: str, params: Sequence = ()):
        return self.con.execute(self.d.q(query), list(params)).fetchone()

    def all(self, query: str, params: Sequence = ()):
        return self.con.execute(self.d.q(query), list(params)).fetchall()

    def ensure_accounts(self, accounts: Sequence[P.Account]) -> None:
        """Create the accounts that are not there yet (in name order, so concurrent creators agree)."""
        now = utc_now()
        names = sorted({a.name for a in accounts})
        have = {r[0] for r in self.all(f"SELECT name FROM pw_ledger_accounts WHERE name IN ({', '.join('?' * len(names))})",
                                       names)} if names else set()
        for a in sorted(accounts, key=lambda a: a.name):
            if a.name in have:
                continue
            have.add(a.name)
            self.con.execute(self.d.q(
                "INSERT INTO pw_ledger_accounts (name, kind, quota, district, ring, year, project, balance, version, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?) ON CONFLICT (name) DO NOTHING"),
                [a.name, a.kind, a.quota, a.district, a.ring, int(a.year), a.project, now])

    def chart(self) -> list[P.Account]:
        r = self.rules
        out = []
        for q in r.quotas:
            out.append(P.account(r, "issuance", q))
            out.append(P.account(r, "linkage", q))
            out += [P.account(r, "plan", q, year=y) for y in r.schedule.amounts.get(q, {})]
            out += [P.account(r, "pool", q, district=dd) for dd in r.districts]
        return out

    def balances(self, names: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        """name → (account_id, balance, version)."""
        out = {}
        for name in sorted(set(names)):
            row = self.one("SELECT account_id, balance, version FROM pw_ledger_accounts WHERE name = ?", [name])
            if row is not None:
                out[name] = (int(row[0]), int(row[1]), int(row[2]))
        return out

    def totals(self, quota: str) -> P.Totals:
        """What the caps of ``quota`` measure (the other quotas' caps are not touched by its postings)."""
        by_kind = {(q, dd, k): int(v) for q, dd, k, v in self.all(
            "SELECT quota, district, kind, SUM(balance) FROM pw_ledger_accounts WHERE quota = ? AND district <> '' "
            "GROUP BY quota, district, kind", [quota])}
        released = {(q, dd, int(y)): int(v) for q, dd, y, v in self.all(
            "SELECT a.quota, a.district, b.year, SUM(e.amount) FROM pw_ledger_batches b "
            "JOIN pw_ledger_entries e ON e.batch_id = b.batch_id JOIN pw_ledger_accounts a ON a.account_id = e.account_id "
            "WHERE b.op = 'release' AND b.quota = ? AND a.kind = 'pool' GROUP BY a.quota, a.district, b.year", [quota])}
        return P.Totals(by_kind, released)

    def open_reservations(self, project: str | None = None, quota: str | None = None) -> list[dict]:
        where, params = ["s.resolution_id IS NULL"], []
        if project is not None:
            where.append("r.project = ?")
            params.append(project)
        if quota is not None:
            where.append("r.quota = ?")
            params.append(quota)
        return self._reservations(" AND ".join(where), params)

    def _reservations(self, where: str, params: Sequence) -> list[dict]:
        cols = ["reservation_id", "batch_id", "project", "quota", "district", "amount", "expires"]
        rows = self.all(f"SELECT {', '.join('r.' + c for c in cols)}, s.action, s.batch_id FROM pw_ledger_reservations r "
                        "LEFT JOIN pw_ledger_resolutions s ON s.reservation_id = r.reservation_id "
                        f"WHERE {where} ORDER BY r.reservation_id", params)
        return [{**dict(zip(cols, row[:7], strict=True)), "resolved": row[7], "resolved_by": row[8]} for row in rows]

    def reservation(self, reservation_id: int) -> dict | None:
        found = self._reservations("r.reservation_id = ?", [int(reservation_id)])
        return found[0] if found else None

    def project_reservations(self, project: str) -> list[dict]:
        return self._reservations("r.project = ?", [project])

    def batch(self, key: str):
        return self.one("SELECT batch_id, op, request, actor, at FROM pw_ledger_batches WHERE idem_key = ?", [key])

    def legs(self, batch_id: int) -> list[tuple[P.Account, int]]:
        rows = self.all("SELECT a.name, a.kind, a.quota, a.district, a.ring, a.year, a.project, e.amount "
                        "FROM pw_ledger_entries e JOIN pw_ledger_accounts a ON a.account_id = e.account_id "
                        "WHERE e.batch_id = ? ORDER BY e.entry_id", [int(batch_id)])
        return [(P.Account(n, k, q, dd, ring, int(y), pr), int(amount)) for n, k, q, dd, ring, y, pr, amount in rows]


def canonical(op: str, params: dict) -> str:
    """The request as its idempotency key is bound to: the operation and its parameters, sorted."""
    return json.dumps({"op": op, **params}, ensure_ascii=False, sort_keys=True, default=str)


def post(con, d: Dialect, rules: LedgerRules, op: str, params: dict, *, key: str, actor: str, effective: date,
         memo: str, illustrative: bool, plan_id: str, planwatch_version: str,
         lock: Callable[[object], None]) -> dict:
    """Post one operation (``op`` of :data:`planwatch.ledger.post.OPS` but ``issue``, with its
    ``params``) inside the caller's write transaction; see the module's docstring. Returns what was
    posted (``repeated`` True, and the first posting's batch, when ``key`` was used before for the same
    request). Raises :class:`planwatch.ledger.post.LedgerRefusal` (nothing written) on a refusal."""
    book = _Book(con, d, rules)
    request = canonical(op, params)
    book.ensure_accounts(book.chart())
    lock(con)
    _issue_schedule(book, plan_id=plan_id, planwatch_version=planwatch_version)
    seen = book.batch(key)
    if seen is not None:
        if seen[2] != request:
            raise P.LedgerRefusal(f"--key {key!r} was already used for a different request (batch #{seen[0]}, "
                                  f"{seen[1]} by {seen[3]} at {seen[4]}; ledger history shows it); a key names one "
                                  "request: use a new key; nothing was written")
        return {**batch_result(con, d, int(seen[0])), "repeated": True}
    posting = _build(book, op, params, effective)
    return _write(book, posting, key=key, request=request, actor=actor, effective=effective, memo=memo,
                  ref=str(params.get("ref", params.get("project", ""))), illustrative=illustrative, plan_id=plan_id,
                  planwatch_version=planwatch_version)


def _issue_schedule(book: _Book, **meta) -> None:
    """Issue each year's release plan up to the schedule (once per amount: the key names it)."""
    r = book.rules
    from planwatch.ledger.amounts import from_unit

    keys = [f"issue:{q}:{year}:{from_unit(amount, r.quotas[q])}" for q, years in r.schedule.amounts.items()
            for year, amount in years.items()]
    if keys and book.one(f"SELECT COUNT(*) FROM pw_ledger_batches WHERE idem_key IN ({', '.join('?' * len(keys))})",
                         keys)[0] == len(keys):
        return  # the schedule as it stands is issued (the usual case: one index lookup per year)
    issued = {(q, int(y)): int(v) for q, y, v in book.all(
        "SELECT a.quota, a.year, SUM(e.amount) FROM pw_ledger_entries e JOIN pw_ledger_batches b ON b.batch_id = e.batch_id "
        "JOIN pw_ledger_accounts a ON a.account_id = e.account_id WHERE b.op = 'issue' AND a.kind = 'plan' "
        "GROUP BY a.quota, a.year")}
    for q, years in r.schedule.amounts.items():
        for year, amount in sorted(years.items()):
            want = from_unit(amount, r.quotas[q])
            have = issued.get((q, int(year)), 0)
            if want > have:
                posting = P.issue(r, q, int(year), want - have)
                _write(book, posting, key=f"issue:{q}:{year}:{want}", request=canonical("issue", {
                    "quota": q, "year": int(year), "amount": want - have}), actor="planwatch (ledger.yaml schedule)",
                    effective=date(int(year), 1, 1), memo=f"{year}年度释放计划（ledger.yaml schedule）",
                    ref="", illustrative=r.schedule.illustrative, **meta)


def _build(book: _Book, op: str, params: dict, effective: date) -> P.Posting:
    r = book.rules
    if op == "release":
        return P.release(r, P.pool_account(r, params["pool"]), int(params["amount"]), int(params["year"]))
    if op == "reserve":
        pool = P.pool_account(r, params["pool"])
        project = str(params["project"])
        held = book.open_reservations(project, pool.quota)
        if held:
            h = held[0]
            raise P.LedgerRefusal(f"project {project} already holds reservation #{h['reservation_id']} of "
                                  f"{r.quotas[pool.quota].name} ({h['district']}); commit or cancel it first")
        expires = date.fromisoformat(params["expires"]) if params.get("expires") else \
            effective + timedelta(days=r.reservation_days)
        return P.reserve(r, pool, project, int(params["amount"]), expires)
    if op in ("commit", "cancel"):
        res = _the_reservation(book, str(params["project"]), params.get("quota"), op)
        if op == "commit":
            return P.commit(r, res, None if params.get("amount") is None else int(params["amount"]))
        return P.cancel(r, res)
    if op == "expire":
        res = book.reservation(int(params["reservation_id"]))
        if res is None:
            raise P.LedgerRefusal(f"no reservation #{params['reservation_id']}")
        if res["resolved"]:
            raise P.LedgerRefusal(f"reservation #{res['reservation_id']} was already resolved ({res['resolved']}, "
                                  f"batch #{res['resolved_by']}); a reservation resolves once")
        if date.fromisoformat(res["expires"]) >= effective:
            raise P.LedgerRefusal(f"reservation #{res['reservation_id']} runs until {res['expires']}: not expired on "
                                  f"{effective.isoformat()}")
        return P.cancel(r, res, op="expire")
    if op == "credit_reduction":
        return P.credit_reduction(r, P.pool_account(r, params["pool"]), int(params["demolished"]), float(params["ratio"]))
    if op == "transfer":
        return P.transfer(r, P.pool_account(r, params["from"], "--from"), P.pool_account(r, params["to"], "--to"),
                          int(params["amount"]))
    if op == "correct":
        batch_id = int(params["transfer"])
        row = book.one("SELECT op FROM pw_ledger_batches WHERE batch_id = ?", [batch_id])
        if row is None:
            raise P.LedgerRefusal(f"--transfer {batch_id}: no batch #{batch_id} (ledger history lists them)")
        done = book.one("SELECT batch_id, actor, at FROM pw_ledger_batches WHERE corrects = ?", [batch_id])
        if done is not None:
            raise P.LedgerRefusal(f"--transfer {batch_id}: already corrected by batch #{done[0]} ({done[1]}, {done[2]}); "
                                  "a transfer is corrected once")
        return P.correct(r, batch_id, row[0], book.legs(batch_id))
    raise P.LedgerRefusal(f"unknown ledger operation {op!r}")


def _the_reservation(book: _Book, project: str, quota: str | None, op: str) -> dict:
    """The one open reservation of ``project`` (in ``quota``) a commit or cancel resolves."""
    r = book.rules
    if quota is not None and quota not in r.quotas:
        raise P.LedgerRefusal(f"--quota {quota!r}: unknown quota (one of {', '.join(r.quotas)})")
    found = book.open_reservations(project, quota)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        quotas = ", ".join(f["quota"] for f in found)
        raise P.LedgerRefusal(f"project {project} holds reservations of {quotas}; say which with --quota")
    every = [x for x in book.project_reservations(project) if quota is None or x["quota"] == quota]
    if not every:
        raise P.LedgerRefusal(f"project {project!r}: no reservation{' of ' + quota if quota else ''} to {op} (unknown "
                              "project, or never reserved: ledger reserve --project … first)")
    last = every[-1]
    raise P.LedgerRefusal(f"project {project}: reservation #{last['reservation_id']} was already resolved "
                          f"({last['resolved']}, batch #{last['resolved_by']}); a reservation resolves once, so this "
                          f"{op} does nothing")


def _write(book: _Book, posting: P.Posting, *, key: str, request: str, actor: str, effective: date, memo: str, ref: str,
           illustrative: bool, plan_id: str, planwatch_version: str) -> dict:
    if not posting.balanced():  # a bug, never a user's mistake
        raise AssertionError(f"unbalanced posting {posting}")
    con, d, r = book.con, book.d, book.rules
    book.ensure_accounts(posting.accounts())
    current = book.balances([a.name for a, _ in posting.legs])
    after = P.apply_legs(r, {n: v[1] for n, v in current.items()}, posting)
    P.check_caps(r, book.totals(posting.quota), posting)
    now = utc_now()
    batch_id = int(con.execute(d.q(
        "INSERT INTO pw_ledger_batches (op, quota, idem_key, request, actor, at, effective, memo, ref, year, corrects, "
        "illustrative, plan_id, planwatch_version, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING batch_id"),
        [posting.op, posting.quota, key, request, actor, now, effective.isoformat(), memo, ref, int(posting.year),
         int(posting.corrects or 0), bool(illustrative), plan_id, planwatch_version,
         json.dumps(posting.detail, ensure_ascii=False, sort_keys=True)]).fetchone()[0])
    versions = {n: v[2] for n, v in current.items()}
    running = {n: v[1] for n, v in current.items()}
    for a, amount in posting.legs:
        account_id = current[a.name][0]
        before = running[a.name]
        running[a.name] = before + amount
        versions[a.name] += 1
        con.execute(d.q("INSERT INTO pw_ledger_entries (batch_id, account_id, amount, balance_before, balance_after, "
                        "account_version) VALUES (?, ?, ?, ?, ?, ?)"),
                    [batch_id, account_id, int(amount), int(before), int(running[a.name]), int(versions[a.name])])
    for name, (account_id, _, version) in current.items():
        cur = con.execute(d.q("UPDATE pw_ledger_accounts SET balance = ?, version = ? WHERE account_id = ? AND version = ?"),
                          [int(after[name][1]), int(versions[name]), account_id, int(version)])
        if cur.rowcount != 1:  # the lock makes this impossible; say so rather than write a broken chain
            raise P.LedgerRefusal(f"account {name} changed during the posting; nothing was written, try again")
    if posting.reservation is not None:
        res = posting.reservation
        con.execute(d.q("INSERT INTO pw_ledger_reservations (batch_id, project, quota, district, amount, expires) "
                        "VALUES (?, ?, ?, ?, ?, ?)"),
                    [batch_id, res["project"], res["quota"], res["district"], int(res["amount"]), res["expires"]])
    if posting.resolves is not None:
        con.execute(d.q("INSERT INTO pw_ledger_resolutions (reservation_id, batch_id, action, committed) "
                        "VALUES (?, ?, ?, ?)"), [int(posting.resolves), batch_id, posting.op, int(posting.committed)])
    return {**batch_result(con, d, batch_id), "repeated": False}


def batch_result(con, d: Dialect, batch_id: int) -> dict:
    """A batch as the verbs report it: its row, its legs (account, amount, before, after) and the
    reservation it opened or resolved."""
    b = _frame(con, d, "pw_ledger_batches", "WHERE batch_id = ?", [int(batch_id)]).iloc[0].to_dict()
    legs = con.execute(d.q("SELECT a.name, e.amount, e.balance_before, e.balance_after FROM pw_ledger_entries e "
                           "JOIN pw_ledger_accounts a ON a.account_id = e.account_id WHERE e.batch_id = ? "
                           "ORDER BY e.entry_id"), [int(batch_id)]).fetchall()
    opened = con.execute(d.q("SELECT reservation_id, expires FROM pw_ledger_reservations WHERE batch_id = ?"),
                         [int(batch_id)]).fetchone()
    resolved = con.execute(d.q("SELECT reservation_id, action, committed FROM pw_ledger_resolutions WHERE batch_id = ?"),
                           [int(batch_id)]).fetchone()
    return {
        "batch": {k: (v.item() if hasattr(v, "item") else v) for k, v in b.items()},
        "legs": [{"account": n, "amount": int(a), "before": int(x), "after": int(y)} for n, a, x, y in legs],
        "reservation": None if opened is None else {"reservation_id": int(opened[0]), "expires": opened[1]},
        "resolution": None if resolved is None else {"reservation_id": int(resolved[0]), "action": resolved[1],
                                                      "committed": int(resolved[2])},
    }


__all__ = ["APPEND_ONLY", "LEDGER_TABLES", "batch_result", "canonical", "post", "postgres_ddl", "read_all", "sqlite_ddl"]
