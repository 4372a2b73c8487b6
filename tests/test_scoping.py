"""Who may write what, in the service layer (both stores) and, on PostGIS, again in the database.

A district editor imports, reserves, commits and answers findings of its own district only; a
department answers the findings of its unit only; everything else is an admin's; every other account
is refused (:class:`Forbidden`) with nothing written. Each write for an account is audited in the
write's own transaction: a refused write leaves no audit row, and a write whose audit row cannot be
written is not made. On PostGIS the same scope holds with the service's check taken away: PostgreSQL's
row-level security refuses the write, and nothing changes."""

from __future__ import annotations

import json
from datetime import date

import pytest

from planwatch.services import Forbidden, ServiceError, findings, ledger, observations, users
from planwatch.services import review as reviews
from planwatch.services.users import User
from planwatch.store import Scope, open_store

from .conftest import REAL_OBSERVATIONS, write_csv
from .test_ledger_review import CLEAR, FIELDS, fund, mapped, projects  # noqa: F401  (mapped: a fixture)

SHUNYI = User("顺义编辑", "district_editor", district="顺义区")
DAXING = User("大兴编辑", "district_editor", district="大兴区")
ADMIN = User("管理员", "admin")
VIEWER = User("观察员", "viewer")
TRANSPORT = User("交通委", "department", unit="市交通委")
TRANSPORT_2 = User("交通委复核", "department", unit="市交通委")
WATER = User("水务局", "department", unit="市水务局")
PDF = b"%PDF-1.4\n% evidence\n"
HEADER = "indicator,year,value,unit,geo,scope,note,source"


@pytest.fixture(params=["gpkg", "postgis"])
def store(request, tmp_path):
    """An empty store of each backend (PostGIS: a fresh schema, dropped afterwards)."""
    if request.param == "gpkg":
        return open_store(tmp_path / "store.gpkg")
    return open_store(request.getfixturevalue("postgis_dsn"))


@pytest.fixture
def pg(postgis_dsn):
    """An empty PostGIS store (the database's own wall)."""
    return open_store(postgis_dsn)


def state(store) -> list:
    """Everything the scoped writes could change, audit log included."""
    return [store.observations(latest=False), store.imports(), *store.ledger_tables().values(), store.findings(),
            store.finding_events(), store.finding_evidence(), store.people("pw_audit")]


def unchanged(store, before) -> bool:
    return all(a.equals(b) for a, b in zip(before, state(store), strict=True))


def rows(tmp_path, name, *geos):
    return write_csv(tmp_path / name, [f"T22,2023,{40 + i},%,{geo},,,区统计局" for i, geo in enumerate(geos)], HEADER)


def audit(store) -> list[dict]:
    log = store.people("pw_audit")
    return [{**r, "detail": json.loads(r["detail"])} for r in log.to_dict("records")]


# ------------------------------------------------------------------ observations


def test_a_district_editor_imports_its_own_districts_rows_only_each_import_audited(store, plan, tmp_path):
    own, other = rows(tmp_path, "own.csv", "顺义区"), rows(tmp_path, "mixed.csv", "顺义区", "朝阳区")
    city = rows(tmp_path, "city.csv", "")
    before = state(store)
    for f in (other, city):
        with pytest.raises(ServiceError, match="the only district this account may write") as refused:
            observations.import_file(store, plan, f, user=SHUNYI, address="10.0.0.7")
        assert not isinstance(refused.value, Forbidden)  # the file's rows are wrong, not the account
    for who in (VIEWER, TRANSPORT):
        with pytest.raises(Forbidden, match="may not"):
            observations.import_file(store, plan, own, user=who)
        with pytest.raises(Forbidden):
            observations.preview(plan, own, user=who)
    assert unchanged(store, before)  # nothing written, not even an audit row
    assert observations.preview(plan, other, user=SHUNYI).errors[0]["column"] == "geo"
    done = observations.import_file(store, plan, own, user=SHUNYI, address="10.0.0.7")
    assert done.summary.added == 1
    (row,) = audit(store)
    assert (row["actor"], row["action"], row["target"], row["address"]) == ("顺义编辑", "observations.import", "own.csv",
                                                                            "10.0.0.7")
    assert row["detail"] == {"file": "own.csv", "import_id": done.summary.import_id, "rows_read": 1, "added": 1,
                             "revised": 0, "unchanged": 0}
    assert observations.import_file(store, plan, city, user=ADMIN).summary.added == 1  # an admin: any geography
    operator = observations.import_file(store, plan, other, user=None).summary  # the local operator: as before
    assert (operator.added, operator.unchanged) == (1, 1)
    assert [r["action"] for r in audit(store)] == ["observations.import"] * 2  # the operator's import: unaudited


# ------------------------------------------------------------------ the quota ledger


def test_reservations_commits_and_cancels_are_held_to_the_pools_district(store, plan):
    ledger.release(store, plan, pool="floor_area:顺义区", amount="1000", year=2022, by="甲", when=date(2022, 3, 1))
    before = state(store)
    for who in (DAXING, VIEWER, TRANSPORT):
        with pytest.raises(Forbidden, match="may not reserve"):
            ledger.reserve(store, plan, project="XM-1", pool="floor_area:顺义区", amount="100", user=who)
    assert unchanged(store, before)
    held = ledger.reserve(store, plan, project="XM-1", pool="floor_area:顺义区", amount="100", key="k-1", by="冒名",
                          user=SHUNYI, address="10.0.0.8")
    assert held.batch["actor"] == "顺义编辑"  # an account acts as itself
    ledger.reserve(store, plan, project="XM-2", pool="floor_area:顺义区", amount="50", user=SHUNYI)
    before = state(store)
    for who, resolve in ((DAXING, ledger.commit), (TRANSPORT, ledger.cancel), (VIEWER, ledger.commit)):
        with pytest.raises(Forbidden, match="in 顺义区"):
            resolve(store, plan, project="XM-1", user=who)
    assert unchanged(store, before)
    committed = ledger.commit(store, plan, project="XM-1", amount="60", user=SHUNYI, address="10.0.0.8")
    assert committed.resolution["committed"] == 60.0
    with pytest.raises(ServiceError, match="already resolved") as again:  # nothing open: the ledger says why
        ledger.commit(store, plan, project="XM-1", user=SHUNYI)
    assert not isinstance(again.value, Forbidden)
    with pytest.raises(Forbidden):
        ledger.cancel(store, plan, project="XM-1", user=TRANSPORT)  # and only to those who may
    ledger.cancel(store, plan, project="XM-2", user=ADMIN)
    log = audit(store)
    assert [(r["actor"], r["action"], r["target"]) for r in log] == [
        ("顺义编辑", "ledger.reserve", "XM-1"), ("顺义编辑", "ledger.reserve", "XM-2"), ("顺义编辑", "ledger.commit", "XM-1"),
        ("管理员", "ledger.cancel", "XM-2")]
    assert log[0]["detail"] == {"pool": "pool:floor_area:顺义区", "project": "XM-1", "amount": 10000, "expires": None,
                                "key": "k-1", "batch": held.batch["batch_id"], "repeated": False}
    assert log[2]["detail"]["batch"] == committed.batch["batch_id"] and log[2]["address"] == "10.0.0.8"
    assert ledger.check(store, plan).ok


def test_a_refused_write_leaves_no_audit_row_and_a_lost_audit_row_undoes_its_write(store, plan, tmp_path,
                                                                                  monkeypatch):
    from planwatch.store import people

    ledger.release(store, plan, pool="floor_area:顺义区", amount="1000", year=2022, by="甲", when=date(2022, 3, 1))
    before = state(store)
    with pytest.raises(ServiceError, match="available"):
        ledger.reserve(store, plan, project="XM-1", pool="floor_area:顺义区", amount="5000", user=SHUNYI)
    assert unchanged(store, before)

    def broken(*args, **kwargs):
        raise RuntimeError("the audit log cannot be written")

    monkeypatch.setattr(people, "audit", broken)
    with pytest.raises(RuntimeError, match="audit log"):
        ledger.reserve(store, plan, project="XM-1", pool="floor_area:顺义区", amount="100", user=SHUNYI)
    with pytest.raises(RuntimeError, match="audit log"):
        observations.import_file(store, plan, rows(tmp_path, "own.csv", "顺义区"), user=SHUNYI)
    assert unchanged(store, before)  # the write went with its audit row


def test_a_review_reserves_only_in_the_accounts_district_or_not_at_all(mapped, plan, tmp_path):  # noqa: F811
    fund(mapped, plan)
    path = projects(tmp_path, [("XM-1", CLEAR, 3000, 800.0)])  # in 顺义区
    before = state(mapped)
    for who in (DAXING, TRANSPORT):
        with pytest.raises(Forbidden, match="in 顺义区"):
            reviews.review_and_reserve(mapped, plan, path, fields=FIELDS, user=who)
    assert unchanged(mapped, before)
    _review, (held,) = reviews.review_and_reserve(mapped, plan, path, fields=FIELDS, user=SHUNYI, address="10.0.0.9")
    assert held.outcome == "reserved" and {p.batch["actor"] for p in held.posted} == {"顺义编辑"}
    assert [(r["action"], r["target"], r["address"]) for r in audit(mapped)] == [("ledger.reserve", "XM-1", "10.0.0.9")] * 2


# ------------------------------------------------------------------ the findings register


def _finding(store, plan, source="T36"):
    observations.import_file(store, plan, REAL_OBSERVATIONS)
    findings.generate(store, plan, 2022)
    f = store.findings()
    return int(f[f["source"] == source]["finding_id"].iloc[0])


def test_a_finding_is_answered_by_its_responsible_unit_and_decided_by_an_admin(store, plan):
    fid = _finding(store, plan)
    with pytest.raises(Forbidden, match="may not admin"):
        findings.move(store, plan, fid, "assign", unit="市交通委", due="2099-06-30", user=TRANSPORT)
    findings.move(store, plan, fid, "assign", unit="市交通委", due="2099-06-30", text="限期整改", user=ADMIN)
    before = state(store)
    for who in (WATER, SHUNYI, VIEWER):
        with pytest.raises(Forbidden, match="may not answer finding in 市交通委"):
            findings.move(store, plan, fid, "submit", text="x", uploads=[("a.pdf", PDF)], user=who)
    with pytest.raises(Forbidden):
        findings.move(store, plan, fid, "submit", text="x", uploads=[("run.exe", b"MZ")], user=WATER)  # scope first
    assert unchanged(store, before)
    moved = findings.move(store, plan, fid, "submit", text="已完成", uploads=[("报告.pdf", PDF)], user=TRANSPORT,
                          address="10.0.0.9")
    with pytest.raises(Forbidden):
        findings.move(store, plan, fid, "verify", user=TRANSPORT_2)
    findings.move(store, plan, fid, "verify", text="核查通过", user=ADMIN)
    assert store.finding_events(fid)["actor"].tolist()[-3:] == ["管理员", "交通委", "管理员"]
    log = audit(store)
    assert [r["action"] for r in log] == ["findings.assign", "findings.submit", "findings.verify"]
    assert log[1]["detail"] == {"files": [moved.files[0]["sha256"]], "version": moved.version,
                                "event_id": moved.event_id}
    assert (log[1]["actor"], log[1]["target"], log[1]["address"]) == ("交通委", f"#{fid}", "10.0.0.9")


def test_a_district_editor_answers_the_findings_its_district_is_responsible_for(store, plan):
    fid = _finding(store, plan)
    findings.move(store, plan, fid, "assign", unit="顺义区", due="2099-06-30", user=ADMIN)
    for who in (DAXING, TRANSPORT):
        with pytest.raises(Forbidden):
            findings.move(store, plan, fid, "update", text="进展", user=who)
    assert findings.move(store, plan, fid, "update", text="进展", user=SHUNYI).to_state == "in_rectification"


# ------------------------------------------------------------------ PostGIS: the database's own wall


@pytest.fixture
def no_service_check(monkeypatch):
    """The service layer's scope check taken away: only the database is left to refuse."""
    monkeypatch.setattr(users, "require", lambda user, *args, **kwargs: user)
    monkeypatch.setattr(observations, "import_scope", lambda user: None)


def rls_refusal(table: str):
    import psycopg

    return pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"row-level security policy for table \"{table}\"")


def test_postgis_alone_refuses_a_district_editors_rows_of_another_district(pg, plan, tmp_path, no_service_check):
    before = state(pg)
    for f in (rows(tmp_path, "other.csv", "朝阳区"), rows(tmp_path, "city.csv", ""),
              rows(tmp_path, "mixed.csv", "顺义区", "朝阳区")):
        with rls_refusal("pw_observations"):
            observations.import_file(pg, plan, f, user=SHUNYI)
        with rls_refusal("pw_observations"):
            observations.import_file(pg, plan, f, user=TRANSPORT)  # a department writes no observation at all
    assert unchanged(pg, before)
    assert observations.import_file(pg, plan, rows(tmp_path, "own.csv", "顺义区"), user=SHUNYI).summary.added == 1


def test_postgis_alone_holds_the_ledger_to_the_district(pg, plan, no_service_check):
    for district in ("顺义区", "大兴区"):
        ledger.release(pg, plan, pool=f"floor_area:{district}", amount="1000", year=2022, by="甲", when=date(2022, 3, 1))
    ledger.reserve(pg, plan, project="DX-1", pool="floor_area:大兴区", amount="100", user=DAXING)
    before = state(pg)
    with rls_refusal("pw_ledger_reservations"):
        ledger.reserve(pg, plan, project="XM-1", pool="floor_area:大兴区", amount="100", user=SHUNYI)
    with rls_refusal("pw_ledger_resolutions"):
        ledger.commit(pg, plan, project="DX-1", user=SHUNYI)
    with rls_refusal("pw_ledger_batches"):  # an operation a district may not post at all
        pg.ledger_post(plan.ledger, "transfer", {"from": "pool:floor_area:顺义区", "to": "pool:floor_area:大兴区",
                                                 "amount": 100}, key="t-1", actor="顺义编辑", effective=date(2022, 4, 1),
                       memo="", illustrative=False, plan_id=plan.meta.id, scope=Scope(district="顺义区"))
    assert unchanged(pg, before)
    ledger.reserve(pg, plan, project="XM-1", pool="floor_area:顺义区", amount="100", user=SHUNYI)
    assert ledger.commit(pg, plan, project="XM-1", user=SHUNYI).resolution["committed"] == 100.0
    ledger.transfer(pg, plan, source="floor_area:顺义区", target="floor_area:大兴区", amount="10", by="甲")  # the owner
    assert ledger.check(pg, plan).ok


def test_postgis_alone_holds_finding_events_to_the_responsible_unit(pg, plan, no_service_check):
    fid = _finding(pg, plan)
    with rls_refusal("pw_finding_events"):  # only the bureau assigns
        findings.move(pg, plan, fid, "assign", unit="市水务局", due="2099-06-30", user=WATER)
    findings.move(pg, plan, fid, "assign", unit="市交通委", due="2099-06-30", user=ADMIN)
    before = state(pg)
    for who in (WATER, SHUNYI):
        with rls_refusal("pw_finding_events"):
            findings.move(pg, plan, fid, "submit", text="x", uploads=[("a.pdf", PDF)], user=who)
    assert unchanged(pg, before)
    findings.move(pg, plan, fid, "submit", text="已完成", uploads=[("a.pdf", PDF)], user=TRANSPORT)
    with rls_refusal("pw_finding_events"):  # its own finding, but verifying is the bureau's
        findings.move(pg, plan, fid, "verify", user=TRANSPORT_2)
    assert findings.move(pg, plan, fid, "verify", user=ADMIN).to_state == "verified"


def _catalog(dsn) -> tuple[dict, set, bool]:
    import psycopg

    from planwatch.store.row_security import POLICIES, ROLE

    with psycopg.connect(dsn) as con:
        flags = dict(((t, (s, f)) for t, s, f in con.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
            " AND relname = ANY(%s)", (list(POLICIES),))))
        roles = {r for (rs,) in con.execute("SELECT roles FROM pg_policies WHERE schemaname = current_schema()")
                 for r in rs}
        login = con.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()[0]
    return flags, roles, login


def test_a_v7_postgis_store_gains_the_wall_at_db_upgrade_and_the_owner_keeps_full_access(postgis_dsn, plan, tmp_path,
                                                                                           no_service_check):
    import psycopg

    from planwatch.store import StoreError
    from planwatch.store.postgis import PostGISStore
    from planwatch.store.row_security import POLICIES, ROLE

    open_store(postgis_dsn)
    flags, roles, login = _catalog(postgis_dsn)
    assert flags == dict.fromkeys(POLICIES, (True, False))  # enabled for the role, not forced on the owner
    assert roles == {ROLE} and login is False
    with psycopg.connect(postgis_dsn, autocommit=True) as con:  # back to schema 7: no wall
        schema = con.execute("SELECT current_schema()").fetchone()[0]
        for table in POLICIES:
            con.execute(f"DROP POLICY pw_scoped_read ON {table}")
            con.execute(f"DROP POLICY pw_scoped_write ON {table}")
            con.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        con.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {ROLE}")
        con.execute(f"REVOKE ALL ON SCHEMA {schema} FROM {ROLE}")
        con.execute("DELETE FROM pw_schema_history WHERE version = 8")
        con.execute("UPDATE pw_meta SET value = '7' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema 7, older"):
        open_store(postgis_dsn)
    upgraded = PostGISStore(postgis_dsn, upgrade=True)
    assert upgraded.upgraded == [8] and upgraded.upgrade() == []
    assert _catalog(postgis_dsn)[:2] == (dict.fromkeys(POLICIES, (True, False)), {ROLE})
    with rls_refusal("pw_observations"):
        observations.import_file(upgraded, plan, rows(tmp_path, "other.csv", "朝阳区"), user=SHUNYI)
    assert observations.import_file(upgraded, plan, rows(tmp_path, "own.csv", "顺义区"), user=SHUNYI).summary.added == 1
    # the owner (the command line, an admin) is not held: any geography, COPY as before
    assert observations.import_file(upgraded, plan, rows(tmp_path, "all.csv", "朝阳区", ""), user=ADMIN).summary.added == 2
    assert observations.import_file(upgraded, plan, REAL_OBSERVATIONS).summary.added > 0


def test_the_api_answers_the_databases_refusal_as_403(pg, plan, no_service_check):
    """Should the service's check ever miss, the API says the database refused (403), not a 500."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from planwatch.web import create_app

    ledger.release(pg, plan, pool="floor_area:大兴区", amount="1000", year=2022, by="甲", when=date(2022, 3, 1))
    users.add_user(pg, plan, "顺义编辑", "district_editor", "pw-0123456789", district="顺义区", by="setup")
    token, _ = users.issue_token(pg, "顺义编辑", by="setup")
    before = state(pg)
    r = TestClient(create_app(open_store=lambda: pg, plan_id=plan.meta.id)).post(
        "/api/ledger/reserve", json={"project": "XM-9", "pool": "floor_area:大兴区", "amount": "10"},
        headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and "row-level security" in r.json()["detail"], r.text
    assert unchanged(pg, before)
