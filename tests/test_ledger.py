"""The quota ledger (流量池, 减量, 增减挂钩, 拆占比), as a bureau uses it: a year's release plan is released
into a district's pool, a project reserves quota, commits all or part of it (the rest goes back) or
lets it lapse, a reduction credits a pool at the 拆占比, quota moves between pools and a mistaken
transfer is reversed once. Every batch is balanced and every balance is the sum of its entries; no
pool goes below zero and no cap of the plan is passed; a request repeated with its key posts nothing
twice; every bad input is refused naming the option and changes nothing; the database itself refuses
to edit the ledger's history, and ``ledger check`` names an account someone tampered with. Every test
here runs on the GeoPackage store and on PostGIS."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from datetime import date, timedelta

import pytest
from pandas.testing import assert_frame_equal
from pydantic import ValidationError
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.ledger.rules import LedgerRules
from planwatch.plan.check import check_plan
from planwatch.plan.load import source_text
from planwatch.services import ServiceError
from planwatch.services import ledger as svc
from planwatch.store import open_store

from .conftest import refused, said

runner = CliRunner()

SHUNYI = "floor_area:顺义区"  # 平原新城: no zero-growth cap, the illustrative annual release cap
DAXING = "floor_area:大兴区"
CHAOYANG = "floor_area:朝阳区"  # 中心城区: dynamic zero growth (第28条)
HAIDIAN = "floor_area:海淀区"  # 中心城区 too
LAND_SHUNYI = "land:顺义区"
LAND_DAXING = "land:大兴区"
BY = "市规划自然资源委 张三"
FUNDED = 10_000  # m² released into 顺义区's pool by the `funded` fixture
LEDGER_TABLES = ("pw_ledger_accounts", "pw_ledger_batches", "pw_ledger_entries", "pw_ledger_reservations",
                 "pw_ledger_resolutions")


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(res):
    assert res.exit_code == 0, said(res)
    return res


def release(store, plan, pool=SHUNYI, amount="1000", year=2023, when="2023-03-01", **kw):
    return svc.release(store, plan, pool=pool, amount=amount, year=year, by=kw.pop("by", BY), when=when, **kw)


def reserve(store, plan, project, amount, pool=SHUNYI, when="2023-04-01", **kw):
    return svc.reserve(store, plan, project=project, pool=pool, amount=amount, by=kw.pop("by", BY), when=when, **kw)


@pytest.fixture
def funded(store, plan):
    """A store whose 顺义区 floor-area pool holds 10,000 m² from the 2023 release plan."""
    release(store, plan, amount=str(FUNDED), key="fund-shunyi")
    return store


def scheduled(plan, quota: str, year: int) -> float:
    """What ledger.yaml's release plan issues for ``quota`` in ``year`` (the one source of the number)."""
    return float(plan.ledger.schedule.amounts[quota][year])


def pool_row(store, plan, pool: str) -> dict:
    pools = svc.accounts(store, plan).pools
    return pools.set_index("pool").loc[pool].to_dict()


def balances(store) -> dict[str, int]:
    """Each account's balance, in steps (0.01 m²)."""
    acc = store.ledger_tables()["pw_ledger_accounts"]
    return dict(zip(acc["name"], acc["balance"].astype(int), strict=True))


def steps(m2: float) -> int:
    return round(m2 * 100)


def assert_double_entry(store, plan) -> None:
    """Every batch's legs sum to zero, all accounts (and those of each quota) sum to zero, every balance
    is the sum of its entries, each entry's before + amount = after in one chain, and ``check`` agrees."""
    t = store.ledger_tables()
    acc, ent, bat = t["pw_ledger_accounts"], t["pw_ledger_entries"], t["pw_ledger_batches"]
    per_batch = ent.groupby("batch_id")["amount"].sum()
    assert (per_batch == 0).all(), per_batch[per_batch != 0]
    assert set(ent["batch_id"]) == set(bat["batch_id"])  # no batch without legs
    assert int(acc["balance"].sum()) == 0
    for quota, g in acc.groupby("quota"):
        assert int(g["balance"].sum()) == 0, quota
    sums = ent.groupby("account_id")["amount"].sum().reindex(acc["account_id"], fill_value=0)
    assert sums.tolist() == acc["balance"].tolist()
    assert ((ent["balance_before"] + ent["amount"]) == ent["balance_after"]).all()
    for _, g in ent.sort_values("entry_id").groupby("account_id"):
        assert g["account_version"].tolist() == list(range(1, len(g) + 1))
        assert g["balance_before"].tolist()[1:] == g["balance_after"].tolist()[:-1]
        assert g["balance_before"].iloc[0] == 0
    assert acc["version"].tolist() == ent.groupby("account_id").size().reindex(acc["account_id"], fill_value=0).tolist()
    check = svc.check(store, plan)
    assert check.ok, check.problems


def refused_unchanged(store, call, *words, usage: bool | None = None) -> str:
    """``call`` is refused with a ServiceError naming ``words``, and the five ledger tables are exactly
    as they were."""
    before = store.ledger_tables()
    with pytest.raises(ServiceError) as e:
        call()
    message = str(e.value)
    for w in words:
        assert w in message, (w, message)
    if usage is not None:
        assert e.value.usage is usage, message
    after = store.ledger_tables()
    for name in LEDGER_TABLES:
        assert_frame_equal(before[name], after[name], obj=name)
    return message


# ------------------------------------------------------------------ each verb


def test_release_draws_on_the_years_release_plan_and_credits_the_pool(store, plan):
    done = release(store, plan, amount="1500.25", year=2023, key="rel-1", memo="一季度释放")
    plan_2023 = scheduled(plan, "floor_area", 2023)
    assert done.op == "release" and not done.repeated and done.key == "rel-1" and done.unit == "m²"
    assert done.legs == [
        {"account": "plan:floor_area:2023", "amount": -1500.25, "before": plan_2023, "after": plan_2023 - 1500.25},
        {"account": "pool:floor_area:顺义区", "amount": 1500.25, "before": 0.0, "after": 1500.25},
    ]
    b = done.batch
    assert (b["op"], b["year"], b["actor"], b["effective"], b["memo"], b["idem_key"]) == (
        "release", 2023, BY, "2023-03-01", "一季度释放", "rel-1")
    assert done.reservation is None and done.resolution is None
    # the schedule was issued first, each year once, marked illustrative (示意) as ledger.yaml says
    bat = store.ledger_tables()["pw_ledger_batches"]
    issued = bat[bat["op"] == "issue"]
    assert len(issued) == sum(len(years) for years in plan.ledger.schedule.amounts.values())
    assert issued["illustrative"].all() and not bat.loc[bat["op"] == "release", "illustrative"].any()
    row = pool_row(store, plan, SHUNYI)
    assert (row["available"], row["released"], row["reserved"], row["committed"]) == (1500.25, 1500.25, 0.0, 0.0)
    second = release(store, plan, amount="0.75", year=2023)
    assert second.legs[1] == {"account": "pool:floor_area:顺义区", "amount": 0.75, "before": 1500.25, "after": 1501.0}
    assert_double_entry(store, plan)


def test_reserve_holds_quota_until_the_default_or_the_given_expiry(funded, plan):
    store = funded
    a = reserve(store, plan, "京顺-2023-001", "400.5", when="2023-04-01")
    assert a.legs == [
        {"account": "pool:floor_area:顺义区", "amount": -400.5, "before": 10000.0, "after": 9599.5},
        {"account": "pending:floor_area:顺义区:京顺-2023-001", "amount": 400.5, "before": 0.0, "after": 400.5},
    ]
    due = date(2023, 4, 1) + timedelta(days=plan.ledger.reservation_days)
    assert a.reservation["expires"] == due.isoformat()
    b = reserve(store, plan, "京顺-2023-002", "100", expires="2023-06-30")
    assert b.reservation == {"reservation_id": a.reservation["reservation_id"] + 1, "expires": "2023-06-30"}
    res = store.ledger_tables()["pw_ledger_reservations"]
    assert res["project"].tolist() == ["京顺-2023-001", "京顺-2023-002"]
    assert res["amount"].tolist() == [40050, 10000] and res["district"].tolist() == ["顺义区", "顺义区"]
    row = pool_row(store, plan, SHUNYI)
    assert (row["available"], row["reserved"], row["committed"]) == (9499.5, 500.5, 0.0)
    assert_double_entry(store, plan)


def test_a_full_commit_posts_the_whole_reservation_to_the_project(funded, plan):
    store = funded
    held = reserve(store, plan, "P1", "400")
    done = svc.commit(store, plan, project="P1", by=BY, when="2023-05-01")
    assert done.legs == [
        {"account": "pending:floor_area:顺义区:P1", "amount": -400.0, "before": 400.0, "after": 0.0},
        {"account": "project:floor_area:顺义区:P1", "amount": 400.0, "before": 0.0, "after": 400.0},
    ]
    assert done.resolution == {"reservation_id": held.reservation["reservation_id"], "action": "commit",
                               "committed": 400.0}
    row = pool_row(store, plan, SHUNYI)
    assert (row["available"], row["reserved"], row["committed"]) == (9600.0, 0.0, 400.0)
    assert_double_entry(store, plan)


def test_a_partial_commit_returns_the_remainder_to_the_pool(funded, plan):
    store = funded
    reserve(store, plan, "P1", "400.5")
    done = svc.commit(store, plan, project="P1", amount="100.25", by=BY, when="2023-05-01")
    assert done.legs == [
        {"account": "pending:floor_area:顺义区:P1", "amount": -400.5, "before": 400.5, "after": 0.0},
        {"account": "project:floor_area:顺义区:P1", "amount": 100.25, "before": 0.0, "after": 100.25},
        {"account": "pool:floor_area:顺义区", "amount": 300.25, "before": 9599.5, "after": 9899.75},
    ]
    assert done.resolution["committed"] == 100.25
    row = pool_row(store, plan, SHUNYI)
    assert (row["available"], row["reserved"], row["committed"]) == (9899.75, 0.0, 100.25)
    # committing exactly what was reserved is a full commit: two legs, nothing back
    reserve(store, plan, "P2", "50")
    exact = svc.commit(store, plan, project="P2", amount="50.00", by=BY)
    assert [leg["account"] for leg in exact.legs] == ["pending:floor_area:顺义区:P2", "project:floor_area:顺义区:P2"]
    assert_double_entry(store, plan)


def test_cancel_returns_the_whole_reservation_to_the_pool(funded, plan):
    store = funded
    reserve(store, plan, "P1", "2500")
    done = svc.cancel(store, plan, project="P1", by=BY, memo="项目撤销", when="2023-06-01")
    assert done.legs == [
        {"account": "pending:floor_area:顺义区:P1", "amount": -2500.0, "before": 2500.0, "after": 0.0},
        {"account": "pool:floor_area:顺义区", "amount": 2500.0, "before": 7500.0, "after": 10000.0},
    ]
    assert done.resolution["action"] == "cancel" and done.resolution["committed"] == 0.0
    row = pool_row(store, plan, SHUNYI)
    assert (row["available"], row["reserved"], row["committed"]) == (10000.0, 0.0, 0.0)
    # the project may reserve again once its reservation is resolved
    again = reserve(store, plan, "P1", "10")
    assert again.reservation["reservation_id"] == done.resolution["reservation_id"] + 1
    assert_double_entry(store, plan)


def test_expire_releases_what_is_past_its_expiry_once_and_nothing_else(funded, plan):
    store = funded
    lapsing = reserve(store, plan, "逾期项目", "300", when="2023-04-01")  # held through 2023-09-28
    later = reserve(store, plan, "长期项目", "200", expires="2024-12-31")
    reserve(store, plan, "已落地项目", "100", expires="2023-05-01")
    svc.commit(store, plan, project="已落地项目", by=BY, when="2023-04-15")
    last_day = lapsing.reservation["expires"]
    assert last_day == "2023-09-28"
    before = store.ledger_tables()
    assert svc.expire(store, plan, as_of=last_day, by=BY) == []  # its last day: still held
    assert_frame_equal(before["pw_ledger_batches"], store.ledger_tables()["pw_ledger_batches"])
    done = svc.expire(store, plan, as_of="2023-09-29", by=BY)
    assert len(done) == 1
    [e] = done
    rid = lapsing.reservation["reservation_id"]
    assert e.op == "expire" and e.key == f"expire:{rid}" and e.resolution == {
        "reservation_id": rid, "action": "expire", "committed": 0.0}
    assert e.legs == [
        {"account": "pending:floor_area:顺义区:逾期项目", "amount": -300.0, "before": 300.0, "after": 0.0},
        {"account": "pool:floor_area:顺义区", "amount": 300.0, "before": 9400.0, "after": 9700.0},
    ]
    assert e.batch["effective"] == "2023-09-29" and "2023-09-28" in e.batch["memo"]
    after_first = store.ledger_tables()
    assert svc.expire(store, plan, as_of="2023-09-30", by=BY) == []  # never twice
    for name in LEDGER_TABLES:
        assert_frame_equal(after_first[name], store.ledger_tables()[name], obj=name)
    row = pool_row(store, plan, SHUNYI)
    assert (row["available"], row["reserved"], row["committed"]) == (9700.0, 200.0, 100.0)
    # an expired reservation resolves once: it can be neither committed nor cancelled now
    refused_unchanged(store, lambda: svc.commit(store, plan, project="逾期项目", by=BY), "already resolved", "expire")
    # the long one lapses after its own expiry
    assert [d.resolution["reservation_id"] for d in svc.expire(store, plan, as_of="2025-01-01", by=BY)] == [
        later.reservation["reservation_id"]]
    assert_double_entry(store, plan)


def test_credit_reduction_posts_four_balanced_legs_at_the_ratio_rounded_down(store, plan):
    done = svc.credit_reduction(store, plan, pool=CHAOYANG, demolished="1000", ratio="3", ref="朝阳-拆001", by=BY,
                                when="2023-07-01", memo="腾退还绿")
    assert done.legs == [
        {"account": "existing:floor_area:朝阳区", "amount": -1000.0, "before": 0.0, "after": -1000.0},
        {"account": "reduced:floor_area:朝阳区", "amount": 1000.0, "before": 0.0, "after": 1000.0},
        {"account": "linkage:floor_area", "amount": -333.33, "before": 0.0, "after": -333.33},  # 1000/3, down
        {"account": "pool:floor_area:朝阳区", "amount": 333.33, "before": 0.0, "after": 333.33},
    ]
    assert json.loads(done.batch["detail"]) == {"demolished": 100000, "ratio": 3.0, "credited": 33333}
    assert done.batch["ref"] == "朝阳-拆001" and done.batch["memo"] == "腾退还绿"
    # rounded down, never up: 100 m² at 1.5 is 66.666… → 66.66; at the minimum ratio (1) all of it
    assert svc.credit_reduction(store, plan, pool=SHUNYI, demolished="100", ratio="1.5", ref="r2",
                                by=BY).legs[3]["amount"] == 66.66
    assert svc.credit_reduction(store, plan, pool=LAND_DAXING, demolished="250.5", ratio=plan.ledger.ratio.min,
                                ref="r3", by=BY).legs[3]["amount"] == 250.5
    row = pool_row(store, plan, CHAOYANG)
    assert (row["available"], row["reduced"], row["released"]) == (333.33, 1000.0, 0.0)
    assert_double_entry(store, plan)


def test_transfer_moves_quota_and_a_correction_reverses_it_once(funded, plan):
    store = funded
    moved = svc.transfer(store, plan, source=SHUNYI, target=DAXING, amount="2500", by=BY, when="2023-08-01")
    assert moved.legs == [
        {"account": "pool:floor_area:顺义区", "amount": -2500.0, "before": 10000.0, "after": 7500.0},
        {"account": "pool:floor_area:大兴区", "amount": 2500.0, "before": 0.0, "after": 2500.0},
    ]
    tid = moved.batch["batch_id"]
    fixed = svc.correct(store, plan, transfer_id=tid, why="调错了区", by="复核人 李四", when="2023-08-02")
    assert fixed.batch["corrects"] == tid and fixed.batch["memo"] == "调错了区"
    assert [(leg["account"], leg["amount"]) for leg in fixed.legs] == [
        (leg["account"], -leg["amount"]) for leg in moved.legs]  # equal and opposite
    assert fixed.legs[0]["before"] == 7500.0 and fixed.legs[0]["after"] == 10000.0
    assert pool_row(store, plan, SHUNYI)["available"] == 10000.0 and pool_row(store, plan, DAXING)["available"] == 0.0
    message = refused_unchanged(store, lambda: svc.correct(store, plan, transfer_id=tid, why="再改一次", by=BY),
                                f"--transfer {tid}", "already corrected", f"batch #{fixed.batch['batch_id']}")
    assert "corrected once" in message
    # the transfer itself is still there: nothing was edited
    bat = store.ledger_tables()["pw_ledger_batches"].set_index("batch_id")
    assert bat.loc[tid, "op"] == "transfer" and bat.loc[fixed.batch["batch_id"], "op"] == "correct"
    assert_double_entry(store, plan)


def test_a_correction_that_would_overdraw_a_pool_is_refused(funded, plan):
    store = funded
    moved = svc.transfer(store, plan, source=SHUNYI, target=DAXING, amount="2500", by=BY)
    reserve(store, plan, "大兴项目", "2000", pool=DAXING)
    refused_unchanged(store, lambda: svc.correct(store, plan, transfer_id=moved.batch["batch_id"], why="x", by=BY),
                      "余额不足 / insufficient quota", "pool:floor_area:大兴区", "500.00 m² available")


def test_accounts_list_every_pool_with_available_reserved_and_committed(funded, plan):
    store = funded
    reserve(store, plan, "P1", "1000")
    reserve(store, plan, "P2", "400")
    svc.commit(store, plan, project="P2", amount="150", by=BY)
    svc.transfer(store, plan, source=SHUNYI, target=DAXING, amount="600", by=BY)
    a = svc.accounts(store, plan)
    assert len(a.pools) == len(plan.ledger.quotas) * len(plan.ledger.districts)
    pools = a.pools.set_index("pool")
    assert pools.loc[SHUNYI, ["available", "reserved", "committed", "released"]].tolist() == [
        10000 - 1000 - 150 - 600, 1000.0, 150.0, 10000.0]
    assert pools.loc[DAXING, ["available", "reserved", "committed", "released"]].tolist() == [600.0, 0.0, 0.0, 0.0]
    assert pools.loc[SHUNYI, "ring"] == "平原新城" and pools.loc[CHAOYANG, "ring"] == "中心城区"
    assert "中心城区建筑规模动态零增长" in pools.loc[CHAOYANG, "caps"]
    assert "中心城区建筑规模动态零增长" not in pools.loc[SHUNYI, "caps"]
    others = a.others.set_index("name")
    assert others.loc["plan:floor_area:2023", "balance"] == scheduled(plan, "floor_area", 2023) - FUNDED
    assert others.loc["pending:floor_area:顺义区:P1", "balance"] == 1000.0
    assert others.loc["project:floor_area:顺义区:P2", "balance"] == 150.0
    released = [c for c in a.caps if c["id"] == "各区建筑规模年度释放上限" and c["scope"] == "顺义区"]
    assert [(c["year"], c["measured"], c["over"]) for c in released] == [(2023, 10000.0, False)]
    # as of a day before anything was released, the pool held nothing
    early = svc.accounts(store, plan, as_of=date(2023, 2, 28)).pools.set_index("pool")
    assert early.loc[SHUNYI, "available"] == 0.0


def test_history_shows_who_when_why_the_key_and_balances_by_pool_and_by_project(funded, plan):
    store = funded
    reserve(store, plan, "P1", "400", key="res-P1", memo="一号地块", by="审批科 王五")
    reserve(store, plan, "P2", "100")
    svc.commit(store, plan, project="P1", amount="300", key="com-P1", by="审批科 王五", when="2023-05-02")
    h = svc.history(store, plan, pool=SHUNYI).frame
    assert set(h["account"]) == {"pool:floor_area:顺义区"}
    assert h["op"].tolist() == ["release", "reserve", "reserve", "commit"]
    assert h["amount"].tolist() == [10000.0, -400.0, -100.0, 100.0]
    assert h["balance_before"].tolist()[1:] == h["balance_after"].tolist()[:-1]  # one chain
    assert h["balance_after"].tolist()[-1] == pool_row(store, plan, SHUNYI)["available"] == 9600.0
    first = h.iloc[0]
    assert (first["actor"], first["effective"], first["idem_key"]) == (BY, "2023-03-01", "fund-shunyi")
    assert h.iloc[1]["memo"] == "一号地块" and h.iloc[1]["idem_key"] == "res-P1" and h.iloc[1]["ref"] == "P1"
    p1 = svc.history(store, plan, project="P1").frame
    assert sorted(set(p1["idem_key"])) == ["com-P1", "res-P1"]  # P2's reservation is not P1's
    assert set(p1["actor"]) == {"审批科 王五"}
    assert set(p1["account"]) == {"pool:floor_area:顺义区", "pending:floor_area:顺义区:P1", "project:floor_area:顺义区:P1"}
    assert p1.loc[p1["account"] == "project:floor_area:顺义区:P1", "balance_after"].tolist() == [300.0]
    assert p1["effective"].tolist()[-1] == "2023-05-02"
    refused_unchanged(store, lambda: svc.history(store, plan, project="无此项目"), "--project", "no reservation")
    refused_unchanged(store, lambda: svc.history(store, plan, pool="nonsense"), "--pool", "unknown pool")


def test_check_finds_a_fresh_and_a_busy_ledger_sound(store, plan):
    fresh = svc.check(store, plan)
    assert fresh.ok and fresh.counts == dict.fromkeys(LEDGER_TABLES, 0)
    release(store, plan, amount="5000")
    reserve(store, plan, "P1", "1000")
    svc.commit(store, plan, project="P1", amount="999.99", by=BY)
    svc.credit_reduction(store, plan, pool=CHAOYANG, demolished="800", ratio="2", ref="r", by=BY)
    t = svc.transfer(store, plan, source=SHUNYI, target=DAXING, amount="1", by=BY)
    svc.correct(store, plan, transfer_id=t.batch["batch_id"], why="误操作", by=BY)
    reserve(store, plan, "P2", "10", when="2023-01-01")
    svc.expire(store, plan, as_of="2024-01-01", by=BY)
    busy = svc.check(store, plan)
    assert busy.ok and busy.problems == [] and busy.counts["pw_ledger_resolutions"] == 2


# ------------------------------------------------------------------ double entry, after every operation


def test_every_operation_leaves_balanced_batches_and_balances_equal_to_their_entries(store, plan):
    steps_ = [
        lambda: release(store, plan, amount="12000.5"),
        lambda: release(store, plan, pool=LAND_SHUNYI, amount="3000", year=2024),
        lambda: reserve(store, plan, "A", "700.75"),
        lambda: reserve(store, plan, "A", "300", pool=LAND_SHUNYI),
        lambda: svc.commit(store, plan, project="A", quota="floor_area", amount="0.75", by=BY),
        lambda: svc.cancel(store, plan, project="A", quota="land", by=BY),
        lambda: svc.credit_reduction(store, plan, pool=CHAOYANG, demolished="1234.56", ratio="1.7", ref="x", by=BY),
        lambda: svc.credit_reduction(store, plan, pool=LAND_DAXING, demolished="99.99", ratio="1", ref="y", by=BY),
        lambda: svc.transfer(store, plan, source=SHUNYI, target=DAXING, amount="2000", by=BY),
        lambda: svc.transfer(store, plan, source=CHAOYANG, target=HAIDIAN, amount="100", by=BY),
        lambda: svc.correct(store, plan, transfer_id=int(store.ledger_tables()["pw_ledger_batches"]["batch_id"].max()),
                            why="撤回", by=BY),
        lambda: reserve(store, plan, "B", "50", when="2022-01-01"),
        lambda: svc.expire(store, plan, as_of="2023-01-01", by=BY),
    ]
    total_batches = 0
    for step in steps_:
        step()
        assert_double_entry(store, plan)
        n = len(store.ledger_tables()["pw_ledger_batches"])
        assert n > total_batches  # every operation posted a batch
        total_batches = n
    b = balances(store)
    assert b["pool:floor_area:顺义区"] == steps(12000.5 - 700.75 + 700.0 - 2000)
    assert b["project:floor_area:顺义区:A"] == steps(0.75) and b["pending:land:顺义区:A"] == 0
    assert b["pool:floor_area:朝阳区"] == steps(726.21) and b["pool:floor_area:海淀区"] == 0  # 1234.56/1.7, down


# ------------------------------------------------------------------ invariants


def test_a_pool_never_goes_below_zero(funded, plan):
    store = funded
    message = refused_unchanged(store, lambda: reserve(store, plan, "P1", "10000.01"),
                                "余额不足 / insufficient quota", "pool:floor_area:顺义区", "10,000.00 m² available",
                                "10,000.01 m²", "nothing was written", usage=False)
    assert "reserve" in message
    refused_unchanged(store, lambda: svc.transfer(store, plan, source=SHUNYI, target=DAXING, amount="10000.01", by=BY),
                      "余额不足", "10,000.00 m² available")
    refused_unchanged(store, lambda: reserve(store, plan, "P9", "1", pool=DAXING), "余额不足", "pool:floor_area:大兴区",
                      "0.00 m² available")
    reserve(store, plan, "P1", "10000")  # all of it: the pool may reach zero
    assert pool_row(store, plan, SHUNYI)["available"] == 0.0
    refused_unchanged(store, lambda: reserve(store, plan, "P2", "0.01"), "余额不足", "0.00 m² available")
    assert_double_entry(store, plan)


def test_a_years_release_plan_never_goes_below_zero(store, plan):
    land = scheduled(plan, "land", 2023)  # 4,000,000 m², more than one district's land cap allows
    cap = next(c for c in plan.ledger.caps if c.quota == "land" and c.measure == "allocated").limit
    release(store, plan, pool=LAND_SHUNYI, amount=str(cap))
    release(store, plan, pool=LAND_DAXING, amount=str(land - cap))
    refused_unchanged(store, lambda: release(store, plan, pool="land:昌平区", amount="0.01"),
                      "余额不足", "plan:land:2023", "0.00 m² available")
    release(store, plan, pool="land:昌平区", amount="0.01", year=2024)  # the next year's plan is its own
    assert_double_entry(store, plan)


def test_central_city_zero_growth_refuses_a_release_but_a_credited_reduction_may_be_reserved(store, plan):
    message = refused_unchanged(store, lambda: release(store, plan, pool=CHAOYANG, amount="1"),
                                "中心城区建筑规模动态零增长", "第28条", "动态零增长", "1.00 m²", "over the limit of 0.00 m²",
                                "nothing was written", usage=False)
    assert "（示意）" not in message  # the plan's own rule, not an illustrative one
    release(store, plan, amount="5000")
    refused_unchanged(store, lambda: svc.transfer(store, plan, source=SHUNYI, target=CHAOYANG, amount="1", by=BY),
                      "中心城区建筑规模动态零增长")
    credit = svc.credit_reduction(store, plan, pool=CHAOYANG, demolished="2000", ratio="2", ref="朝阳-腾退-01", by=BY)
    assert credit.legs[3]["amount"] == 1000.0
    held = reserve(store, plan, "朝阳-更新-01", "1000", pool=CHAOYANG)
    assert held.legs[0] == {"account": "pool:floor_area:朝阳区", "amount": -1000.0, "before": 1000.0, "after": 0.0}
    svc.commit(store, plan, project="朝阳-更新-01", amount="600", by=BY)
    assert pool_row(store, plan, CHAOYANG)["available"] == 400.0
    refused_unchanged(store, lambda: reserve(store, plan, "朝阳-更新-02", "400.01", pool=CHAOYANG), "余额不足",
                      "400.00 m² available")
    # within the ring quota may move: 朝阳区 → 海淀区 keeps the central city's net growth
    svc.transfer(store, plan, source=CHAOYANG, target=HAIDIAN, amount="100", by=BY)
    # net growth is what is held and used less what was demolished: 1000 − 2000 leaves room for 1000 more
    refused_unchanged(store, lambda: release(store, plan, pool=CHAOYANG, amount="1000.01"), "中心城区建筑规模动态零增长",
                      "0.01 m²")
    release(store, plan, pool=CHAOYANG, amount="1000")
    refused_unchanged(store, lambda: release(store, plan, pool=HAIDIAN, amount="0.01"), "中心城区建筑规模动态零增长")
    caps = {c["id"]: c for c in svc.accounts(store, plan).caps if c["scope"] == "中心城区"}
    assert caps["中心城区建筑规模动态零增长"]["measured"] == 0.0 and not caps["中心城区建筑规模动态零增长"]["over"]
    assert_double_entry(store, plan)


def test_the_illustrative_release_cap_is_per_district_and_per_year(store, plan):
    cap = next(c for c in plan.ledger.caps if c.measure == "released")
    limit = f"{cap.limit:,.2f} m²"
    release(store, plan, amount=str(cap.limit), year=2023)
    message = refused_unchanged(store, lambda: release(store, plan, amount="0.01", year=2023),
                                cap.id, "（示意）", f"第{cap.article}条", "released in 2023", limit, usage=False)
    assert "顺义区" in message
    release(store, plan, amount="0.01", year=2024)  # another year
    release(store, plan, pool=DAXING, amount=str(cap.limit), year=2023)  # another district
    # a transfer is not a release: it moves quota already released
    svc.transfer(store, plan, source=DAXING, target=SHUNYI, amount="1", by=BY)
    assert_double_entry(store, plan)


def test_the_illustrative_land_cap_limits_what_a_district_holds_and_uses(store, plan):
    cap = next(c for c in plan.ledger.caps if c.quota == "land" and c.measure == "allocated")
    release(store, plan, pool=LAND_SHUNYI, amount=str(cap.limit), year=2023)
    release(store, plan, pool=LAND_DAXING, amount="10", year=2023)
    refused_unchanged(store, lambda: release(store, plan, pool=LAND_SHUNYI, amount="0.01", year=2024), cap.id, "（示意）",
                      "held and used")
    refused_unchanged(store, lambda: svc.transfer(store, plan, source=LAND_DAXING, target=LAND_SHUNYI, amount="0.01",
                                                  by=BY), cap.id)
    refused_unchanged(store, lambda: svc.credit_reduction(store, plan, pool=LAND_SHUNYI, demolished="1", ratio="1",
                                                          ref="r", by=BY), cap.id)
    # reserving and committing keep what the district holds and uses: allowed at the cap
    reserve(store, plan, "L1", "500", pool=LAND_SHUNYI)
    svc.commit(store, plan, project="L1", by=BY)
    assert_double_entry(store, plan)


def test_a_reservation_resolves_once(funded, plan):
    store = funded
    reserve(store, plan, "P1", "100")
    svc.cancel(store, plan, project="P1", by=BY)
    refused_unchanged(store, lambda: svc.commit(store, plan, project="P1", by=BY), "already resolved", "cancel",
                      "resolves once")
    refused_unchanged(store, lambda: svc.cancel(store, plan, project="P1", by=BY), "already resolved", "resolves once")
    reserve(store, plan, "P2", "100")
    svc.commit(store, plan, project="P2", amount="60", by=BY)
    refused_unchanged(store, lambda: svc.commit(store, plan, project="P2", by=BY), "already resolved", "commit")
    refused_unchanged(store, lambda: svc.commit(store, plan, project="P2", amount="40", by=BY), "already resolved")
    refused_unchanged(store, lambda: svc.cancel(store, plan, project="P2", by=BY), "already resolved", "commit")
    # and one open reservation per project and quota: a second is refused until the first resolves
    reserve(store, plan, "P3", "1")
    refused_unchanged(store, lambda: reserve(store, plan, "P3", "1"), "P3 already holds reservation", "commit or cancel")
    t = store.ledger_tables()
    assert t["pw_ledger_resolutions"]["reservation_id"].is_unique
    assert_double_entry(store, plan)


def test_a_key_repeated_with_the_same_request_posts_nothing_the_same_key_for_another_is_refused(funded, plan):
    store = funded
    first = reserve(store, plan, "P1", "1000", key="申请-0001")
    before = store.ledger_tables()
    again = reserve(store, plan, "P1", "1000.00", key="申请-0001")  # the same request, written differently
    assert again.repeated and again.batch["batch_id"] == first.batch["batch_id"]
    assert again.legs == first.legs and again.reservation == first.reservation
    assert "already posted: key 申请-0001" in again.message() and "nothing was posted again" in again.message()
    for name in LEDGER_TABLES:
        assert_frame_equal(before[name], store.ledger_tables()[name], obj=name)
    message = refused_unchanged(store, lambda: reserve(store, plan, "P1", "1001", key="申请-0001"), "--key '申请-0001'",
                                "already used for a different request", f"batch #{first.batch['batch_id']}",
                                "nothing was written")
    assert "reserve" in message
    refused_unchanged(store, lambda: svc.commit(store, plan, project="P1", key="申请-0001", by=BY), "--key",
                      "different request")
    refused_unchanged(store, lambda: release(store, plan, amount="1000", key="fund-shunyi", year=2024), "--key",
                      "different request")
    # a refused request leaves its key unused: fixed and sent again, it posts
    refused_unchanged(store, lambda: reserve(store, plan, "P2", "99999", key="申请-0002"), "余额不足")
    assert not reserve(store, plan, "P2", "100", key="申请-0002").repeated
    assert_double_entry(store, plan)


def test_two_people_reserving_the_last_quota_at_once_cannot_overdraw_the_pool(store, plan):
    release(store, plan, amount="100")
    target = getattr(store, "_conninfo", None) or store.path
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    people = [ctx.Process(target=_reserve_at_once, args=(target, f"R{n}", barrier, results)) for n in range(4)]
    for p in people:
        p.start()
    outcome = sorted(results.get(timeout=60) for _ in people)
    for p in people:
        p.join(timeout=60)
    assert [o[0] for o in outcome] == ["refused", "refused", "won", "won"], outcome
    assert all("余额不足" in o[1] for o in outcome[:2]), outcome
    assert pool_row(store, plan, SHUNYI)["available"] == 20.0
    assert_double_entry(store, plan)


def _reserve_at_once(target, project, barrier, results):
    from planwatch.plan import load_plan

    store = open_store(target, create=False)
    barrier.wait()
    try:
        reserve(store, load_plan(), project, "40")
        results.put(("won", project))
    except ServiceError as e:
        results.put(("refused", str(e)))
    except Exception as e:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("error", repr(e)))


# ------------------------------------------------------------------ bad input changes nothing


BAD_AMOUNTS = [
    ("-5", ["--amount -5", "greater than zero"]),
    ("0", ["--amount 0", "greater than zero"]),
    ("0.00", ["--amount 0.00", "greater than zero"]),
    ("abc", ["--amount 'abc'", "not a number"]),
    ("", ["--amount", "not a number"]),
    ("nan", ["--amount 'nan'", "not a finite number"]),
    (float("nan"), ["--amount", "not a finite number"]),
    ("inf", ["--amount 'inf'", "not a finite number"]),
    (float("-inf"), ["--amount", "not a finite number"]),
    ("0.001", ["--amount 0.001", "2 decimal(s)"]),
    ("1000.005", ["--amount 1000.005", "2 decimal(s)"]),
]


def test_a_bad_amount_is_refused_naming_the_option_by_every_verb(funded, plan):
    store = funded
    reserve(store, plan, "P1", "100")
    before = store.ledger_tables()
    for amount, words in BAD_AMOUNTS:
        calls = [
            (lambda a=amount: release(store, plan, amount=a), words),
            (lambda a=amount: reserve(store, plan, "P2", a), words),
            (lambda a=amount: svc.commit(store, plan, project="P1", amount=a, by=BY), words),
            (lambda a=amount: svc.transfer(store, plan, source=SHUNYI, target=DAXING, amount=a, by=BY), words),
            (lambda a=amount: svc.credit_reduction(store, plan, pool=SHUNYI, demolished=a, ratio="2", ref="r", by=BY),
             [w.replace("--amount", "--demolished-m2") for w in words]),
        ]
        for call, expected in calls:
            with pytest.raises(ServiceError) as e:
                call()
            assert e.value.usage and all(w in str(e.value) for w in expected), (amount, expected, str(e.value))
    after = store.ledger_tables()  # nothing any of them did is left
    for name in LEDGER_TABLES:
        assert_frame_equal(before[name], after[name], obj=name)


def test_each_bad_request_is_refused_naming_what_is_wrong_and_changes_nothing(funded, plan):
    store = funded
    reserve(store, plan, "P1", "100")
    svc.commit(store, plan, project="P1", by=BY)
    reserve(store, plan, "P2", "100")
    release(store, plan, pool=LAND_SHUNYI, amount="10")
    reserve(store, plan, "P4", "1")
    reserve(store, plan, "P4", "1", pool=LAND_SHUNYI)
    rel = int(store.ledger_tables()["pw_ledger_batches"].query("op == 'release'")["batch_id"].iloc[0])
    cases = [
        (lambda: release(store, plan, pool="floor_area:不存在区"), ["--pool 'floor_area:不存在区'", "unknown pool",
                                                                 "QUOTA:DISTRICT"]),
        (lambda: release(store, plan, pool="nonsense"), ["--pool 'nonsense'", "unknown pool"]),
        (lambda: release(store, plan, pool="water:顺义区"), ["--pool", "unknown pool", "floor_area, land"]),
        (lambda: reserve(store, plan, "P9", "1", pool="顺义区"), ["--pool '顺义区'", "unknown pool"]),
        (lambda: release(store, plan, year=2030), ["--year 2030", "no year 2030", "2021, 2022, 2023, 2024, 2025"]),
        (lambda: release(store, plan, year=2020), ["--year 2020"]),
        (lambda: svc.commit(store, plan, project="无此项目", by=BY), ["无此项目", "no reservation to commit",
                                                                  "unknown project"]),
        (lambda: svc.cancel(store, plan, project="无此项目", by=BY), ["no reservation to cancel"]),
        (lambda: svc.commit(store, plan, project="P2", quota="land", by=BY), ["no reservation of land to commit"]),
        (lambda: svc.commit(store, plan, project="P2", quota="water", by=BY), ["--quota 'water'", "unknown quota"]),
        (lambda: svc.commit(store, plan, project="P4", by=BY), ["P4 holds reservations of floor_area, land",
                                                                "--quota"]),
        (lambda: svc.cancel(store, plan, project="P4", by=BY), ["--quota"]),
        (lambda: svc.commit(store, plan, project="P1", by=BY), ["already resolved", "resolves once"]),
        (lambda: svc.commit(store, plan, project="P2", amount="100.01", by=BY), ["--amount 100.01 m²",
                                                                                "more than project P2 reserved"]),
        (lambda: reserve(store, plan, "", "1"), ["--project", "give the project's id"]),
        (lambda: reserve(store, plan, "a\nb", "1"), ["--project"]),
        (lambda: reserve(store, plan, "P9", "1", expires="2023-02-30"), ["--expires", "YYYY-MM-DD"]),
        (lambda: release(store, plan, when="yesterday"), ["--date", "YYYY-MM-DD"]),
        (lambda: release(store, plan, by="  "), ["--by"]),
        (lambda: release(store, plan, key="k" * 201), ["--key", "at most 200 characters"]),
        (lambda: svc.transfer(store, plan, source=SHUNYI, target=SHUNYI, amount="1", by=BY), ["--from and --to",
                                                                                            "same pool"]),
        (lambda: svc.transfer(store, plan, source=SHUNYI, target=LAND_SHUNYI, amount="1", by=BY), [
            "--from pool:floor_area:顺义区", "--to pool:land:顺义区", "different quotas"]),
        (lambda: svc.transfer(store, plan, source="nonsense", target=SHUNYI, amount="1", by=BY), ["--from 'nonsense'"]),
        (lambda: svc.transfer(store, plan, source=SHUNYI, target="floor_area:火星区", amount="1", by=BY), ["--to "]),
        (lambda: svc.credit_reduction(store, plan, pool=SHUNYI, demolished="10", ratio="0.5", ref="r", by=BY), [
            "--ratio 0.5", "拆占比 must be at least 1", "示意", "第24条"]),
        (lambda: svc.credit_reduction(store, plan, pool=SHUNYI, demolished="10", ratio="0.999", ref="r", by=BY), [
            "--ratio 0.999"]),
        (lambda: svc.credit_reduction(store, plan, pool=SHUNYI, demolished="10", ratio="二比一", ref="r", by=BY), [
            "--ratio '二比一'", "not a number"]),
        (lambda: svc.credit_reduction(store, plan, pool=SHUNYI, demolished="10", ratio="nan", ref="r", by=BY), [
            "--ratio nan", "positive number"]),
        (lambda: svc.credit_reduction(store, plan, pool=SHUNYI, demolished="10", ratio="-2", ref="r", by=BY), [
            "--ratio -2"]),
        (lambda: svc.credit_reduction(store, plan, pool=SHUNYI, demolished="10", ratio="2", ref=" ", by=BY), ["--ref"]),
        (lambda: svc.credit_reduction(store, plan, pool=SHUNYI, demolished="0.02", ratio="3", ref="r", by=BY), [
            "--demolished-m2", "less than one step"]),
        (lambda: svc.correct(store, plan, transfer_id=rel, why="x", by=BY), [f"--transfer {rel}", "is a release",
                                                                             "not a transfer"]),
        (lambda: svc.correct(store, plan, transfer_id=9999, why="x", by=BY), ["--transfer 9999", "no batch #9999"]),
        (lambda: svc.correct(store, plan, transfer_id=rel, why="", by=BY), ["--why"]),
        (lambda: reserve(store, plan, "P3", "1", key="fund-shunyi"), ["--key 'fund-shunyi'", "different request"]),
    ]
    for call, words in cases:
        refused_unchanged(store, call, *words)


def test_an_absurdly_large_amount_is_refused_naming_the_option(store, plan):
    refused_unchanged(store, lambda: svc.credit_reduction(store, plan, pool=SHUNYI, demolished="1e17", ratio="1",
                                                          ref="r", by=BY), "--demolished-m2")


def test_a_users_key_never_blocks_expire(funded, plan):
    store = funded
    first = reserve(store, plan, "P1", "10", when="2023-01-01")
    reserve(store, plan, "P2", "10", when="2023-01-01")
    for taken in (f"expire:{first.reservation['reservation_id']}", "issue:floor_area:2022:1"):
        refused_unchanged(store, lambda taken=taken: release(store, plan, amount="1", key=taken), "--key", "planwatch's own")
    done = svc.expire(store, plan, as_of="2024-01-01", by=BY)
    assert len(done) == 2


def test_a_refused_first_posting_leaves_a_new_store_without_any_ledger_rows(store, plan):
    for call in (lambda: release(store, plan, year=2030), lambda: release(store, plan, pool=CHAOYANG),
                 lambda: reserve(store, plan, "P1", "1"), lambda: svc.commit(store, plan, project="P1", by=BY),
                 lambda: svc.correct(store, plan, transfer_id=1, why="x", by=BY)):
        refused_unchanged(store, call)
    assert {name: len(t) for name, t in store.ledger_tables().items()} == dict.fromkeys(LEDGER_TABLES, 0)


# ------------------------------------------------------------------ append-only, at the database


def _raw(store):
    """A raw connection to the store's own database, as another program would have."""
    if hasattr(store, "_conninfo"):
        import psycopg

        return psycopg.connect(store._conninfo, autocommit=True), psycopg.Error
    return sqlite3.connect(store.path, isolation_level=None), sqlite3.DatabaseError


@pytest.fixture
def settled(funded, plan):
    """A ledger with a transfer, a reservation committed and one cancelled: a row in every table."""
    store = funded
    svc.transfer(store, plan, source=SHUNYI, target=DAXING, amount="10", by=BY)
    reserve(store, plan, "P1", "100")
    svc.commit(store, plan, project="P1", amount="40", by=BY)
    reserve(store, plan, "P2", "5")
    svc.cancel(store, plan, project="P2", by=BY)
    assert all(len(t) for t in store.ledger_tables().values())
    return store


REFUSED_SQL = [
    "UPDATE pw_ledger_entries SET amount = amount + 1", "DELETE FROM pw_ledger_entries",
    "UPDATE pw_ledger_entries SET balance_after = 0 WHERE entry_id = 1",
    "UPDATE pw_ledger_batches SET actor = '别人'", "UPDATE pw_ledger_batches SET memo = ''",
    "DELETE FROM pw_ledger_batches",
    "UPDATE pw_ledger_reservations SET amount = 1", "UPDATE pw_ledger_reservations SET expires = '2099-01-01'",
    "DELETE FROM pw_ledger_reservations",
    "UPDATE pw_ledger_resolutions SET committed = 0", "UPDATE pw_ledger_resolutions SET action = 'cancel'",
    "DELETE FROM pw_ledger_resolutions",
    "DELETE FROM pw_ledger_accounts", "DELETE FROM pw_ledger_accounts WHERE balance = 0",
    "UPDATE pw_ledger_accounts SET name = 'pool:floor_area:火星区' WHERE name = 'pool:floor_area:顺义区'",
    "UPDATE pw_ledger_accounts SET kind = 'issuance' WHERE name = 'pool:floor_area:顺义区'",
    "UPDATE pw_ledger_accounts SET district = '大兴区', balance = balance WHERE name = 'pool:floor_area:顺义区'",
]


def test_the_database_refuses_to_edit_or_delete_the_ledgers_history(settled, plan):
    store = settled
    before = store.ledger_tables()
    for statement in REFUSED_SQL:
        con, error = _raw(store)
        with con, pytest.raises(error, match="append-only|never renamed|never deleted"):
            con.execute(statement)
        con.close()
    for name in LEDGER_TABLES:
        assert_frame_equal(before[name], store.ledger_tables()[name], obj=name)
    assert svc.check(store, plan).ok


def test_the_database_lets_a_posting_update_a_balance(settled, plan):
    """Postings update ``balance`` and ``version``: the trigger lets those two change (which is why
    ``ledger check`` recomputes every balance from the entries)."""
    store = settled
    before = store.ledger_tables()
    con, _ = _raw(store)
    with con:
        con.execute("UPDATE pw_ledger_accounts SET balance = balance, version = version")
    con.close()
    for name in LEDGER_TABLES:
        assert_frame_equal(before[name], store.ledger_tables()[name], obj=name)


def test_postgis_refuses_to_truncate_the_ledger(settled, backend):
    if backend != "postgis":
        pytest.skip("TRUNCATE is PostgreSQL's")
    store = settled
    before = store.ledger_tables()
    for table in LEDGER_TABLES:
        con, error = _raw(store)
        with con, pytest.raises(error, match="append-only|never"):
            con.execute(f"TRUNCATE {table} CASCADE")
        con.close()
    for name in LEDGER_TABLES:
        assert_frame_equal(before[name], store.ledger_tables()[name], obj=name)


# ------------------------------------------------------------------ ledger check names what was tampered with


@pytest.mark.gpkg_only  # the GeoPackage file itself, edited with sqlite3
def test_ledger_check_names_an_account_whose_balance_was_edited_behind_its_back(tmp_path, plan):
    db = tmp_path / "s.gpkg"
    ok(run("ledger", "release", "--pool", SHUNYI, "--amount", "1000", "--year", 2023, "--by", BY, "--db", db))
    ok(run("ledger", "reserve", "--project", "P1", "--pool", SHUNYI, "--amount", "400", "--by", BY, "--db", db))
    sound = ok(run("ledger", "check", "--db", db))
    assert "ledger sound" in sound.stdout
    with sqlite3.connect(db) as con:  # allowed by the trigger: postings change balances
        con.execute("UPDATE pw_ledger_accounts SET balance = balance + 50000 WHERE name = 'pool:floor_area:顺义区'")
    text = " ".join(refused(run("ledger", "check", "--db", db), "pool:floor_area:顺义区", "FAIL").split())
    assert "FAIL pool:floor_area:顺义区: balance 1,100.00 m² but its entries sum to 600.00 m²" in text
    assert "ledger sound" not in text
    checked = run("ledger", "check", "--db", db, "--format", "json")
    assert checked.exit_code == 1
    found = json.loads(checked.stdout)
    assert found["ok"] is False
    assert any(p.startswith("pool:floor_area:顺义区:") for p in found["problems"])
    assert any(p.startswith("all floor_area accounts") for p in found["problems"])  # no longer sum to zero


@pytest.mark.gpkg_only
def test_ledger_check_names_an_unbalanced_batch_and_a_pending_account_that_lost_its_reservation(tmp_path, plan):
    db = tmp_path / "s.gpkg"
    store = open_store(db)
    release(store, plan, amount="1000")
    reserve(store, plan, "P1", "400")
    with sqlite3.connect(db) as con:  # INSERT is not refused (postings insert): the audit catches it
        acc = dict(con.execute("SELECT name, account_id FROM pw_ledger_accounts"))
        con.execute("INSERT INTO pw_ledger_batches (op, quota, idem_key, request, actor, at, effective, year, corrects) "
                    "VALUES ('transfer', 'floor_area', 'forged', '{}', '某人', '2023-01-01T00:00:00Z', '2023-01-01', 0, 0)")
        forged = con.execute("SELECT max(batch_id) FROM pw_ledger_batches").fetchone()[0]
        con.execute("INSERT INTO pw_ledger_entries (batch_id, account_id, amount, balance_before, balance_after, "
                    "account_version) VALUES (?, ?, 100, 0, 100, 1)", [forged, acc["pool:floor_area:大兴区"]])
        con.execute("UPDATE pw_ledger_accounts SET balance = 100, version = 1 WHERE name = 'pool:floor_area:大兴区'")
        con.execute("INSERT INTO pw_ledger_resolutions (reservation_id, batch_id, action, committed) VALUES (1, ?, "
                    "'cancel', 0)", [forged])
    problems = svc.check(store, plan).problems
    assert any(p.startswith(f"batch #{forged}: is not balanced") for p in problems), problems
    assert any(p.startswith("pending:floor_area:顺义区:P1: holds 400.00 m²") for p in problems), problems


# ------------------------------------------------------------------ the plan package


def test_plan_check_passes_with_the_shipped_ledger_rules(plan):
    assert plan.ledger is not None and check_plan(plan, source_text()) == []
    res = ok(run("plan", "check"))
    assert "every quote and number matches the source text" in " ".join(res.stdout.split())


def test_a_ledger_rule_whose_quote_is_not_in_its_article_is_reported(plan):
    rules = plan.ledger
    text = source_text()
    wrong_quote = rules.model_copy(update={"ratio": rules.ratio.model_copy(update={"quote": "拆占比不低于5比1"})})
    problems = [str(p) for p in check_plan(plan.model_copy(update={"ledger": wrong_quote}), text)]
    assert problems == ["ledger.yaml ratio quote: not in 第24条"]
    central = next(c for c in rules.caps if c.article == 28)
    moved = central.model_copy(update={"article": 29})  # a real quote, cited to the wrong article
    wrong_article = rules.model_copy(update={"caps": [moved if c is central else c for c in rules.caps]})
    problems = [str(p) for p in check_plan(plan.model_copy(update={"ledger": wrong_article}), text)]
    assert problems == [f"ledger.yaml cap {central.id} quote: not in 第29条"]
    quota = rules.quotas["land"].model_copy(update={"article": 9999})
    missing = rules.model_copy(update={"quotas": {**rules.quotas, "land": quota}})
    problems = [str(p) for p in check_plan(plan.model_copy(update={"ledger": missing}), text)]
    assert problems == ["ledger.yaml quota land article: 第9999条 is not in the text"]


def _rules(plan, **changes) -> dict:
    data = plan.ledger.model_dump()
    data.update(changes)
    return data


def test_ledger_rules_refuse_an_unknown_quota_a_negative_schedule_and_an_uncited_rule(plan):
    assert LedgerRules.model_validate(_rules(plan)) == plan.ledger
    caps = plan.ledger.model_dump()["caps"]
    with pytest.raises(ValidationError, match="unknown quota water"):
        LedgerRules.model_validate(_rules(plan, caps=[*caps[:1], {**caps[1], "quota": "water"}]))
    schedule = plan.ledger.model_dump()["schedule"]
    negative = {**schedule, "amounts": {**schedule["amounts"], "land": {2021: -1.0}}}
    with pytest.raises(ValidationError, match="land 2021 is negative"):
        LedgerRules.model_validate(_rules(plan, schedule=negative))
    with pytest.raises(ValidationError, match="schedule: unknown quota water"):
        LedgerRules.model_validate(_rules(plan, schedule={**schedule, "amounts": {"water": {2021: 1.0}}}))
    with pytest.raises(ValidationError, match="must be marked illustrative"):
        LedgerRules.model_validate(_rules(plan, ratio={"min": 1.0}))
    with pytest.raises(ValidationError, match="cited without a quote"):
        LedgerRules.model_validate(_rules(plan, ratio={"min": 1.0, "article": 24}))
    with pytest.raises(ValidationError, match="listed twice"):
        LedgerRules.model_validate(_rules(plan, caps=[caps[0], caps[0]]))
    with pytest.raises(ValidationError, match="unknown ring 外环"):
        LedgerRules.model_validate(_rules(plan, caps=[{**caps[0], "ring": "外环"}]))
    with pytest.raises(ValidationError, match="greater than 0"):
        LedgerRules.model_validate(_rules(plan, reservation_days=0))


# ------------------------------------------------------------------ the command line


def test_the_cli_releases_reserves_commits_and_reports(db, plan):
    res = ok(run("ledger", "release", "--pool", SHUNYI, "--amount", "1000", "--year", 2023, "--by", BY, "--key", "k1",
                 "--date", "2023-03-01", "--memo", "年度释放", "--db", db))
    assert res.stdout.startswith("batch #")
    assert "release posted (key k1)" in res.stdout and "plan:floor_area:2023" in res.stdout
    again = ok(run("ledger", "release", "--pool", SHUNYI, "--amount", "1000", "--year", 2023, "--by", BY, "--key", "k1",
                   "--db", db))
    assert "already posted: key k1 was batch #" in " ".join(again.stdout.split())
    held = json.loads(ok(run("ledger", "reserve", "--project", "P1", "--pool", SHUNYI, "--amount", "400.5", "--by", BY,
                             "--date", "2023-04-01", "--expires", "2023-12-31", "--db", db, "--format",
                             "json")).stdout)
    assert held["reservation"]["expires"] == "2023-12-31" and held["legs"][0]["after"] == 599.5
    done = ok(run("ledger", "commit", "--project", "P1", "--amount", "100.5", "--by", BY, "--db", db))
    assert "resolved: commit, 100.50 m² committed" in " ".join(done.stdout.split())
    pools = json.loads(ok(run("ledger", "accounts", "--db", db, "--format", "json")).stdout)["pools"]
    row = next(p for p in pools if p["pool"] == SHUNYI)
    assert (row["available"], row["reserved"], row["committed"]) == (899.5, 0.0, 100.5)
    hist = json.loads(ok(run("ledger", "history", "--project", "P1", "--db", db, "--format", "json")).stdout)
    assert {h["op"] for h in hist} == {"reserve", "commit"} and {h["actor"] for h in hist} == {BY}
    assert "ledger sound" in ok(run("ledger", "check", "--db", db)).stdout
    assert "no reservation is past its expiry" in ok(run("ledger", "expire", "--as-of", "2023-12-31", "--db", db)).stdout


def test_the_cli_refuses_bad_input_with_the_right_exit_code_and_writes_nothing(db, store, plan):
    release(store, plan, amount="1000")
    before = store.ledger_tables()
    usage = run("ledger", "release", "--pool", SHUNYI, "--amount=-5", "--year", 2023, "--db", db)
    assert usage.exit_code == 2 and "--amount -5: must be greater than zero" in said(usage)
    for args in (["--amount", "0.001"], ["--amount", "nan"], ["--date", "2023-13-01"]):
        r = run("ledger", "release", "--pool", SHUNYI, "--amount", "1", "--year", 2023, *args, "--db", db)
        assert r.exit_code == 2 and "Traceback" not in said(r), said(r)
    refused(run("ledger", "release", "--pool", "nonsense", "--amount", "1", "--year", 2023, "--db", db),
            "--pool 'nonsense'", "unknown pool")
    refused(run("ledger", "release", "--pool", CHAOYANG, "--amount", "1", "--year", 2023, "--db", db),
            "中心城区建筑规模动态零增长", "nothing was written")
    refused(run("ledger", "reserve", "--project", "P1", "--pool", SHUNYI, "--amount", "1000.01", "--db", db),
            "余额不足 / insufficient quota", "1,000.00 m² available")
    refused(run("ledger", "commit", "--project", "无此项目", "--db", db), "no reservation to commit")
    refused(run("ledger", "correct", "--transfer", 9999, "--why", "x", "--db", db), "no batch #9999")
    refused(run("ledger", "history", "--project", "无此项目", "--db", db), "no reservation for this project")
    assert run("ledger", "credit-reduction", "--pool", SHUNYI, "--demolished-m2", "10", "--ratio", "two", "--ref", "r",
               "--db", db).exit_code == 2
    for name in LEDGER_TABLES:
        assert_frame_equal(before[name], store.ledger_tables()[name], obj=name)
