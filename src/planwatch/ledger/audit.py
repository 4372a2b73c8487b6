"""``ledger check``: every balance recomputed from the entries and every invariant proven, from the
ledger's tables as read (pure: DataFrames in, problems out).

The invariants:

1. each account's entries form one chain (versions 1, 2, …; each balance before is the previous
   balance after; before + amount = after) ending at the balance the account row keeps, which is also
   the sum of its entries;
2. each batch is balanced (its legs sum to zero) and posts one quota;
3. the sum over all accounts is zero;
4. no account but the sources (issuance, existing, linkage) is below zero;
5. each project's pending account holds exactly its open reservations, and a reservation resolved
   at most once;
6. no cap is exceeded, and no year's release plan was issued more than the schedule says.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planwatch.ledger import post as P
from planwatch.ledger.amounts import fmt, from_unit
from planwatch.ledger.rules import LedgerRules


@dataclass(frozen=True)
class Problem:
    account: str  # the account (or batch, reservation, cap) that fails
    what: str

    def __str__(self) -> str:
        return f"{self.account}: {self.what}"


def totals_of(tables: dict[str, pd.DataFrame]) -> P.Totals:
    """What the caps measure, from the tables (as :meth:`planwatch.store.ledger._Book.totals` reads it)."""
    acc = tables["pw_ledger_accounts"]
    by_kind = {}
    for (q, d, k), v in acc[acc["district"] != ""].groupby(["quota", "district", "kind"])["balance"].sum().items():
        by_kind[(q, d, k)] = int(v)
    ent, bat = tables["pw_ledger_entries"], tables["pw_ledger_batches"]
    rel = ent.merge(bat[["batch_id", "op", "year"]], on="batch_id").merge(
        acc[["account_id", "kind", "quota", "district"]], on="account_id")
    rel = rel[(rel["op"] == "release") & (rel["kind"] == "pool")]
    released = {(q, d, int(y)): int(v) for (q, d, y), v in rel.groupby(["quota", "district", "year"])["amount"].sum().items()}
    return P.Totals(by_kind, released)


def audit(rules: LedgerRules, tables: dict[str, pd.DataFrame]) -> list[Problem]:
    """Every invariant that fails (empty: the ledger is sound)."""
    acc, ent = tables["pw_ledger_accounts"], tables["pw_ledger_entries"]
    bat, res, sol = tables["pw_ledger_batches"], tables["pw_ledger_reservations"], tables["pw_ledger_resolutions"]
    problems: list[Problem] = []
    quotas = dict(zip(acc["account_id"], acc["quota"], strict=True))

    def q_of(quota: str):
        return rules.quotas.get(quota) or next(iter(rules.quotas.values()))

    # 1. chains, vectorised: entries sorted once by (account, version), each compared with the one before
    e = ent.sort_values(["account_id", "account_version"], kind="stable")
    first = ~e["account_id"].duplicated()
    prev_after = e["balance_after"].shift(1).where(~first, 0).fillna(0).astype("int64")
    nth = e.groupby("account_id").cumcount() + 1
    broken = e[(e["account_version"] != nth) | (e["balance_before"] != prev_after)
               | (e["balance_before"] + e["amount"] != e["balance_after"])]
    chain = {}
    for b in broken.drop_duplicates("account_id").itertuples(index=False):  # the first break of each account
        chain[b.account_id] = b
    last = e[~e["account_id"].duplicated(keep="last")].set_index("account_id")
    sums = e.groupby("account_id")["amount"].sum()
    counts = e.groupby("account_id").size()
    for row in acc.itertuples(index=False):
        q = q_of(row.quota)
        if row.account_id not in counts.index:
            if row.balance != 0 or row.version != 0:
                problems.append(Problem(row.name, f"has no entries but a balance of {fmt(row.balance, q)} (version "
                                                  f"{row.version})"))
            continue
        total = int(sums[row.account_id])
        if total != row.balance:
            problems.append(Problem(row.name, f"balance {fmt(row.balance, q)} but its entries sum to {fmt(total, q)}"))
        b = chain.get(row.account_id)
        if b is not None:
            problems.append(Problem(row.name, f"entry #{b.entry_id} breaks the chain (version {b.account_version}, "
                                              f"before {fmt(b.balance_before, q)}, amount {fmt(b.amount, q)}, after "
                                              f"{fmt(b.balance_after, q)})"))
        else:
            end, n = int(last.loc[row.account_id, "balance_after"]), int(counts[row.account_id])
            if end != row.balance or n != row.version:
                problems.append(Problem(row.name, f"its last entry leaves {fmt(end, q)} at version {n}, the account "
                                                  f"says {fmt(row.balance, q)} at version {row.version}"))
        # 4. no negative balance
        if row.kind not in P.SOURCES and row.balance < 0:
            problems.append(Problem(row.name, f"is below zero ({fmt(row.balance, q)})"))
    # 2. balanced batches
    for batch_id, g in ent.groupby("batch_id"):
        if int(g["amount"].sum()) != 0:
            problems.append(Problem(f"batch #{batch_id}", f"is not balanced: its legs sum to {int(g['amount'].sum())}"))
        if len({quotas.get(a) for a in g["account_id"]}) > 1:
            problems.append(Problem(f"batch #{batch_id}", "posts more than one quota"))
    for batch_id in set(bat["batch_id"]) - set(ent["batch_id"]):
        problems.append(Problem(f"batch #{batch_id}", "has no entries"))
    # 3. the sum over all accounts
    for quota, g in acc.groupby("quota"):
        if int(g["balance"].sum()) != 0:
            problems.append(Problem(f"all {quota} accounts", f"sum to {fmt(int(g['balance'].sum()), q_of(quota))}, not zero"))
    # 5. reservations
    resolved = sol.groupby("reservation_id").size()
    for rid, n in resolved[resolved > 1].items():
        problems.append(Problem(f"reservation #{rid}", f"resolved {n} times"))
    open_ = res[~res["reservation_id"].isin(sol["reservation_id"])]
    held = {(r.quota, r.district, r.project): 0 for r in res.itertuples(index=False)}
    for r in open_.itertuples(index=False):
        held[(r.quota, r.district, r.project)] += int(r.amount)
    pending = acc[acc["kind"] == "pending"]
    for row in pending.itertuples(index=False):
        want = held.get((row.quota, row.district, row.project), 0)
        if row.balance != want:
            problems.append(Problem(row.name, f"holds {fmt(row.balance, q_of(row.quota))} but its open reservations "
                                              f"total {fmt(want, q_of(row.quota))}"))
    # 6. caps and the schedule
    for cap, districts, year, measured, limit in P.cap_checks(rules, totals_of(tables)):
        if measured > limit:
            problems.append(Problem(f"cap {cap.id}", P.describe_cap(rules, cap, districts, year, measured, limit)
                                    .replace("would be", "is")))
    issued = ent.merge(bat[["batch_id", "op"]], on="batch_id").merge(acc[["account_id", "kind", "quota", "year"]],
                                                                     on="account_id")
    issued = issued[(issued["op"] == "issue") & (issued["kind"] == "plan")]
    for (quota, year), v in issued.groupby(["quota", "year"])["amount"].sum().items():
        scheduled = rules.schedule.amounts.get(quota, {}).get(int(year))
        if scheduled is not None and int(v) > from_unit(scheduled, rules.quotas[quota]):
            problems.append(Problem(f"plan:{quota}:{year}", f"issued {fmt(int(v), rules.quotas[quota])}, more than the "
                                    f"schedule's {fmt(from_unit(scheduled, rules.quotas[quota]), rules.quotas[quota])} "
                                    "(was ledger.yaml lowered?)"))
    return problems


__all__ = ["Problem", "audit", "totals_of"]
