"""The findings register, as a bureau uses it: the check-up's problems become findings once, a person's
decisions are never overwritten, each is assigned, rectified with evidence and verified by someone
else, nothing is ever edited away, overdue is computed when asked, every bad input is refused naming
what is wrong and writes nothing, and two people moving one finding at once never overwrite each
other. Every test here runs on the GeoPackage store and on PostGIS."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sqlite3
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.services import ServiceError
from planwatch.services import findings as svc
from planwatch.store import open_store
from planwatch.store.findings import FINDING_COLUMNS, StaleFinding

from .conftest import REAL_OBSERVATIONS, refused, said

runner = CliRunner()
TODAY = date.today()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(res):
    assert res.exit_code == 0, said(res)
    return res


def candidate(source="T12", geo="", level="red", **more) -> dict:
    return {"kind": "target", "source": source, "geo": geo, "article": "表第12行", "title": "细颗粒物年均浓度",
            "level": level, "value": 30.0, "value_unit": "微克/立方米", "reason": "高于上限", "recommendation": "建议…",
            "evidence": {"value": 30.0}, "severity": "high", "suggested_unit": "市生态环境局", "synthetic": False,
            **more}


@pytest.fixture
def real(tmp_path, plan):
    """A store holding the real published observations, with the 2022 findings generated."""
    db = tmp_path / "s.gpkg"
    ok(run("observe", "import", REAL_OBSERVATIONS, "--db", db))
    store = open_store(db)
    done = svc.generate(store, plan, 2022)
    return store, done


@pytest.fixture
def pdf(tmp_path):
    f = tmp_path / "整改报告.pdf"
    f.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4)
    return f


def first(store, kind="target"):
    f = store.findings()
    return int(f.loc[f["kind"] == kind, "finding_id"].iloc[0])


def counts(store) -> dict:
    return {name: n for name, n in store.snapshot().counts().items() if name.startswith("pw_f")}


# ------------------------------------------------------------------ generation


def test_the_2022_check_up_becomes_findings_with_article_evidence_severity_and_unit(real, plan):
    store, done = real
    f = store.findings()
    assert set(FINDING_COLUMNS) == set(f.columns)
    assert done.candidates["target"] >= 1 and len(done.added) == len(f)
    warned = f[f["kind"] == "target"].iloc[0]  # T29 人均期望寿命 is yellow in the published 2021 figure
    assert warned["source"] == "T29" and warned["level"] == "yellow" and warned["severity"] == "medium"
    assert warned["article"] == "表第29行" and "人均期望寿命" in warned["reason"]
    assert warned["suggested_unit"] == "市卫生健康委" and warned["state"] == "identified" and warned["version"] == 1
    evidence = json.loads(warned["evidence"])
    assert evidence["level"] == "yellow" and evidence["checkup_year"] == 2022
    gaps = f[f["kind"] == "no_data"]
    assert len(gaps) and (gaps["severity"] == "low").all()
    assert gaps["reason"].str.contains("2021年、2022年均无可评估").all()
    # 市生态环境局 answers for PM2.5 if it is a finding; each finding's unit is from the plan's table
    assert set(f["suggested_unit"]) <= set(svc.known_units(store, plan))


def test_generating_again_adds_nothing_and_leaves_what_a_person_did(real, plan):
    store, _ = real
    fid = first(store)
    svc.move(store, plan, fid, "assign", actor="张三", unit="市交通委", due=TODAY + timedelta(days=60), text="请按期整改")
    before = store.findings()
    again = svc.generate(store, plan, 2022)
    assert again.added == [] and again.seen_again == [] and again.not_observed == []
    after = store.findings()
    assert before.equals(after)


def test_a_problem_that_has_gone_is_marked_no_longer_observed_never_deleted(store):
    store.generate_findings([candidate(), candidate("T13")], year=2022, covers=[("target", "")], plan_id="p")
    done = store.generate_findings([candidate()], year=2022, covers=[("target", "")], plan_id="p")
    assert done.not_observed == [2]
    f = store.findings().set_index("finding_id")
    assert len(f) == 2 and not f.loc[2, "observed"] and f.loc[1, "observed"]
    assert store.finding_events(2)["action"].tolist() == ["identify", "not_observed"]
    back = store.generate_findings([candidate(), candidate("T13")], year=2023, covers=[("target", "")], plan_id="p")
    assert back.added == [] and sorted(back.seen_again) == [1, 2]
    assert store.finding_events(2)["action"].tolist()[-1] == "observed_again"


def test_a_problem_back_after_it_was_verified_is_a_new_finding_citing_the_old(store, plan, pdf):
    store.generate_findings([candidate()], year=2022, covers=[("target", "")], plan_id="p")
    svc.move(store, plan, 1, "assign", actor="甲", unit="市生态环境局", due=TODAY + timedelta(days=9))
    svc.move(store, plan, 1, "submit", actor="乙", evidence=[pdf], text="已整改")
    svc.move(store, plan, 1, "verify", actor="丙")
    assert store.generate_findings([candidate()], year=2022, covers=[("target", "")], plan_id="p").added == []
    later = store.generate_findings([candidate()], year=2023, covers=[("target", "")], plan_id="p")
    assert later.added == [2]
    assert json.loads(store.findings().set_index("finding_id").loc[2, "evidence"])["previous"] == [1]


def test_only_what_a_generation_looked_at_is_marked_gone(store):
    store.generate_findings([candidate(kind="review", source="a.gpkg#7#farmland")], year=2022,
                            covers=[("review", "a.gpkg#")], plan_id="p")
    done = store.generate_findings([], year=2022, covers=[("target", ""), ("review", "b.gpkg#")], plan_id="p")
    assert done.not_observed == []


# ------------------------------------------------------------------ the whole cycle


def test_assign_update_submit_verify_with_history_and_evidence(real, plan, pdf):
    store, _ = real
    fid = first(store)
    svc.move(store, plan, fid, "assign", actor="督察处", unit="市交通委", due=TODAY + timedelta(days=30), text="限期整改")
    svc.move(store, plan, fid, "update", actor="市交通委", text="已完成线路开通计划调整")
    svc.move(store, plan, fid, "deadline", actor="督察处", due=TODAY + timedelta(days=60), text="工程延期，经会商同意")
    moved = svc.move(store, plan, fid, "submit", actor="市交通委", evidence=[pdf], text="已整改完毕，申请销号")
    assert moved.to_state == "submitted" and moved.files[0]["known"] is None
    with pytest.raises(ServiceError, match="销号 is done by someone else"):
        svc.move(store, plan, fid, "verify", actor="市交通委")
    done = svc.move(store, plan, fid, "verify", actor="规划督察处 李四", text="佐证齐全")
    assert done.to_state == "verified" and done.version == 6
    detail = svc.show_finding(store, fid)
    assert detail.events["action"].tolist() == ["identify", "assign", "update", "deadline", "submit", "verify"]
    assert detail.events["actor"].tolist()[-1] == "规划督察处 李四"
    assert detail.deadlines["due"].tolist() == [str(TODAY + timedelta(days=30)), str(TODAY + timedelta(days=60))]
    assert detail.deadlines["text"].tolist()[-1] == "工程延期，经会商同意"
    assert detail.evidence["file_name"].tolist() == ["整改报告.pdf"]
    assert detail.evidence["sha256"].iloc[0] == hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert store.evidence_file(detail.evidence["sha256"].iloc[0]) == pdf.read_bytes()
    row = detail.finding
    assert row["state"] == "verified" and row["closed_by"] == "规划督察处 李四" and "整改报告.pdf" in row["evidence_files"]
    assert detail.next_actions == ["reopen"]


def test_a_resubmitted_identical_file_is_recognised_and_kept_once(real, plan, pdf, tmp_path):
    store, _ = real
    f = store.findings()
    a, b = (int(x) for x in f["finding_id"].iloc[:2])
    for fid in (a, b):
        svc.move(store, plan, fid, "assign", actor="甲", unit="市交通委", due=TODAY + timedelta(days=5))
    svc.move(store, plan, a, "submit", actor="乙", evidence=[pdf], text="整改完成")
    copy = tmp_path / "同一份报告.pdf"
    copy.write_bytes(pdf.read_bytes())
    again = svc.move(store, plan, b, "submit", actor="乙", evidence=[copy], text="整改完成")
    assert again.files[0]["known"]["finding_id"] == a and again.files[0]["known"]["name"] == "整改报告.pdf"
    assert counts(store)["pw_files"] == 1 and counts(store)["pw_finding_evidence"] == 2


# ------------------------------------------------------------------ overdue, computed when asked


def test_overdue_is_computed_on_the_check_date_and_never_stored(real, plan):
    store, _ = real
    fid = first(store)
    due = TODAY + timedelta(days=10)
    svc.move(store, plan, fid, "assign", actor="甲", unit="市交通委", due=due)
    assert not any("overdue" in c for c in FINDING_COLUMNS)
    now = svc.list_findings(store, plan, overdue=True)
    assert len(now.frame) == 0
    later = svc.list_findings(store, plan, overdue=True, check_date=due + timedelta(days=3))
    assert later.frame["finding_id"].tolist() == [fid] and later.frame["days_overdue"].tolist() == [3]
    everything = svc.list_findings(store, plan, check_date=due + timedelta(days=3)).frame
    assert everything["finding_id"].iloc[0] == fid  # overdue first


def test_list_filters_by_state_and_district(real, plan):
    store, _ = real
    assert len(svc.list_findings(store, plan, state="assigned").frame) == 0
    assert len(svc.list_findings(store, plan, state="open").frame) == len(store.findings())
    assert len(svc.list_findings(store, plan, district="全市").frame) == (store.findings()["geo"] == "").sum()
    with pytest.raises(ServiceError, match="not a district"):
        svc.list_findings(store, plan, district="火星区")
    with pytest.raises(ServiceError, match="--state must be one of"):
        svc.list_findings(store, plan, state="done")


# ------------------------------------------------------------------ refusals change nothing


def refused_unchanged(store, call, *words):
    before = (counts(store), store.findings())
    with pytest.raises(ServiceError) as e:
        call()
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    assert counts(store) == before[0] and store.findings().equals(before[1])
    return str(e.value)


def test_each_bad_input_is_refused_and_writes_nothing(real, plan, pdf, tmp_path, monkeypatch):
    store, _ = real
    fid = first(store)
    future = TODAY + timedelta(days=30)
    refused_unchanged(store, lambda: svc.move(store, plan, 9999, "assign", actor="甲", unit="市交通委", due=future),
                      "no finding #9999")
    refused_unchanged(store, lambda: svc.move(store, plan, fid, "verify", actor="甲"), "identified", "applies only")
    refused_unchanged(store, lambda: svc.move(store, plan, fid, "assign", actor="甲", unit="市交通委"), "--due")
    refused_unchanged(store, lambda: svc.move(store, plan, fid, "assign", actor="甲", unit="市交通委",
                                              due=TODAY - timedelta(days=1)), "lies before today", "--backdate")
    refused_unchanged(store, lambda: svc.move(store, plan, fid, "assign", actor="甲", unit="市火星局", due=future),
                      "市火星局", "--new-unit")
    refused_unchanged(store, lambda: svc.move(store, plan, fid, "assign", actor="甲", unit="市交通委", due="2027-13-01"),
                      "YYYY-MM-DD")
    svc.move(store, plan, fid, "assign", actor="甲", unit="市交通委", due=future)
    missing = tmp_path / "nope.pdf"
    refused_unchanged(store, lambda: svc.move(store, plan, fid, "submit", actor="乙", evidence=[missing], text="x"),
                      "nope.pdf", "no such file")
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    refused_unchanged(store, lambda: svc.move(store, plan, fid, "submit", actor="乙", evidence=[empty], text="x"),
                      "empty")
    script = tmp_path / "run.exe"
    script.write_bytes(b"MZ\x90\x00")
    refused_unchanged(store, lambda: svc.move(store, plan, fid, "submit", actor="乙", evidence=[script], text="x"),
                      "run.exe", "not accepted", ".pdf")
    fake = tmp_path / "photo.png"
    fake.write_bytes(b"%PDF-1.4 not a png")
    refused_unchanged(store, lambda: svc.move(store, plan, fid, "submit", actor="乙", evidence=[fake], text="x"),
                      "photo.png", "not a image")
    monkeypatch.setattr("planwatch.services.evaluation.EVIDENCE_MAX_BYTES", 100)
    refused_unchanged(store, lambda: svc.move(store, plan, fid, "submit", actor="乙", evidence=[pdf], text="x"),
                      "MB", "more than")
    monkeypatch.undo()
    refused_unchanged(store, lambda: svc.move(store, plan, fid, "submit", actor="乙", text="x"), "needs evidence")


def test_a_past_due_date_is_allowed_with_backdate_and_a_reason_and_a_new_unit_with_new_unit(real, plan):
    store, _ = real
    f = store.findings()
    a, b = (int(x) for x in f["finding_id"].iloc[:2])
    with pytest.raises(ServiceError, match="--backdate"):
        svc.move(store, plan, a, "assign", actor="甲", unit="市交通委", due=TODAY - timedelta(days=3), backdate=True)
    svc.move(store, plan, a, "assign", actor="甲", unit="市交通委", due=TODAY - timedelta(days=3), backdate=True,
             text="补录：2026年已书面交办")
    assert json.loads(store.finding_events(a)["detail"].iloc[-1]) == {"backdated": True}
    svc.move(store, plan, b, "assign", actor="甲", unit="城市副中心管委会", due=TODAY + timedelta(days=3), new_unit=True)
    assert "城市副中心管委会" in svc.known_units(store, plan)


# ------------------------------------------------------------------ nothing is ever edited away


def _raw(store):
    """A raw connection to the store's own database, as another program would have."""
    if hasattr(store, "dsn"):
        import psycopg

        return psycopg.connect(store.dsn, autocommit=True), psycopg.Error
    return sqlite3.connect(store.path, isolation_level=None), sqlite3.DatabaseError


@pytest.mark.parametrize("statement", [
    "UPDATE pw_finding_events SET text = 'x'", "DELETE FROM pw_finding_events",
    "UPDATE pw_finding_evidence SET uploader = 'x'", "DELETE FROM pw_finding_evidence",
    "UPDATE pw_files SET size = 0", "DELETE FROM pw_files",
    "UPDATE pw_findings SET reason = 'x'", "UPDATE pw_findings SET level = 'green'", "DELETE FROM pw_findings",
])
def test_the_store_refuses_to_edit_history_or_what_was_found(store, plan, pdf, statement):
    store.generate_findings([candidate()], year=2022, covers=[("target", "")], plan_id="p")
    svc.move(store, plan, 1, "assign", actor="甲", unit="市生态环境局", due=TODAY + timedelta(days=9))
    svc.move(store, plan, 1, "submit", actor="乙", evidence=[pdf], text="已整改")
    before = store.snapshot().records
    con, error = _raw(store)
    with con, pytest.raises(error, match="append-only|frozen|never deleted"):
        con.execute(statement)
    after = store.snapshot().records
    for name in before:
        assert before[name].equals(after[name]), name


def test_a_stale_version_is_refused_by_the_store_itself(store):
    store.generate_findings([candidate()], year=2022, covers=[("target", "")], plan_id="p")
    move = dict(action="withdraw", from_state="identified", to_state="withdrawn", actor="甲", text="误报",
                responsible=None, due=None, illustrative=False, files=[], effective=str(TODAY))
    with pytest.raises(StaleFinding, match="state changed, reload"):
        store.move_finding(1, expected_version=2, **move)
    with pytest.raises(KeyError):
        store.move_finding(7, expected_version=1, **move)
    assert store.move_finding(1, expected_version=1, **move)["version"] == 2


# ------------------------------------------------------------------ two people at once


def _race(target, fid, version, action, actor, barrier, results):
    from planwatch.plan import load_plan

    plan = load_plan()
    store = open_store(target, create=False)
    barrier.wait()
    try:
        kw = {"unit": "市交通委", "due": TODAY + timedelta(days=20)} if action == "assign" else {"text": "不是问题"}
        svc.move(store, plan, fid, action, actor=actor, if_version=version, **kw)
        results.put(("won", actor))
    except ServiceError as e:
        results.put(("refused", str(e)))


def test_two_people_moving_one_finding_at_once_one_wins_the_other_is_told_to_reload(store):
    store.generate_findings([candidate(source=f"T{n:02d}") for n in range(1, 5)], year=2022,
                            covers=[("target", "")], plan_id="p")
    target = getattr(store, "dsn", None) or store.path
    ctx = multiprocessing.get_context("fork")
    for fid in range(1, 5):
        barrier, results = ctx.Barrier(2), ctx.Queue()
        people = [ctx.Process(target=_race, args=(target, fid, 1, "assign", "甲", barrier, results)),
                  ctx.Process(target=_race, args=(target, fid, 1, "withdraw", "乙", barrier, results))]
        for p in people:
            p.start()
        outcome = sorted(results.get(timeout=60) for _ in people)
        for p in people:
            p.join(timeout=60)
        assert [o[0] for o in outcome] == ["refused", "won"], outcome
        assert "state changed" in outcome[0][1] and "reload" in outcome[0][1]
        events = store.finding_events(fid)
        assert len(events) == 2 and events["version"].tolist() == [1, 2]
        assert store.findings().set_index("finding_id").loc[fid, "version"] == 2


# ------------------------------------------------------------------ the store copy carries the register


def test_a_whole_store_copy_carries_the_register(real, plan, pdf, tmp_path):
    from planwatch.store.copy import copy_store, diff_stores

    store, _ = real
    fid = first(store)
    svc.move(store, plan, fid, "assign", actor="甲", unit="市交通委", due=TODAY + timedelta(days=9))
    svc.move(store, plan, fid, "submit", actor="乙", evidence=[pdf], text="整改完成")
    other = open_store(tmp_path / "copy.gpkg")
    copy_store(store, other)
    assert diff_stores(store, other) == []
    assert other.findings().equals(store.findings())
    assert other.evidence_file(hashlib.sha256(pdf.read_bytes()).hexdigest()) == pdf.read_bytes()
    svc.move(other, plan, fid, "verify", actor="丙")  # numbering and versions continue in the copy
    assert other.finding_events(fid)["event_id"].iloc[-1] > store.finding_events(fid)["event_id"].iloc[-1]


# ------------------------------------------------------------------ a store from before the register


@pytest.mark.gpkg_only  # the GeoPackage file itself; PostGIS below
def test_a_v4_geopackage_store_gets_the_register_when_opened(tmp_path, plan):
    db = tmp_path / "v4.gpkg"
    ok(run("observe", "import", REAL_OBSERVATIONS, "--db", db))
    before = open_store(db).observations(latest=False)
    with sqlite3.connect(db) as con:
        con.execute("DROP TABLE pw_findings")
        con.execute("DROP TABLE pw_finding_events")
        con.execute("DROP TABLE pw_files")
        con.execute("DROP TABLE pw_finding_evidence")
        con.execute("DELETE FROM gpkg_contents WHERE table_name LIKE 'pw_f%'")
        for table in ("pw_ledger_accounts", "pw_ledger_batches", "pw_ledger_entries", "pw_ledger_reservations",
                      "pw_ledger_resolutions", "pw_users", "pw_tokens", "pw_audit"):
            con.execute(f"DROP TABLE {table}")
            con.execute("DELETE FROM gpkg_contents WHERE table_name = ?", (table,))
        con.execute("DELETE FROM pw_schema_history WHERE version IN (5, 6, 7, 8)")
        con.execute("UPDATE pw_meta SET value = '4' WHERE key = 'schema_version'")
    store = open_store(db)
    assert store.upgraded == [5, 6, 7, 8] and store.observations(latest=False).equals(before)
    assert len(svc.generate(store, plan, 2022).added) > 0


def test_a_v4_postgis_store_is_refused_until_db_upgrade_adds_the_register(postgis_dsn, plan):
    from planwatch.store import StoreError
    from planwatch.store.postgis import PostGISStore
    from tests.test_store_postgis import as_postgis_v4

    ok(run("observe", "import", REAL_OBSERVATIONS, "--db", postgis_dsn))
    as_postgis_v4(postgis_dsn)
    with pytest.raises(StoreError, match="planwatch db upgrade"):
        open_store(postgis_dsn)
    upgraded = PostGISStore(postgis_dsn, upgrade=True)
    assert upgraded.upgraded == [5, 6, 7, 8] and upgraded.upgrade() == []
    assert len(svc.generate(upgraded, plan, 2022).added) > 0


# ------------------------------------------------------------------ the command line


def test_the_cli_walks_a_finding_through_its_cycle(tmp_path, pdf):
    db = tmp_path / "s.gpkg"
    ok(run("observe", "import", REAL_OBSERVATIONS, "--db", db))
    gen = json.loads(ok(run("findings", "generate", "--year", 2022, "--db", db, "--format", "json")).stdout)
    fid = gen["added"][0]
    due = str(TODAY + timedelta(days=30))
    ok(run("findings", "assign", fid, "--to", "市交通委", "--due", due, "--note", "限期整改", "--by", "督察处", "--db", db))
    ok(run("findings", "submit", fid, "--evidence", pdf, "--summary", "已完成", "--by", "市交通委", "--db", db))
    text = refused(run("findings", "verify", fid, "--by", "市交通委", "--db", db), "someone else", "nothing was written")
    assert "Traceback" not in text
    ok(run("findings", "verify", fid, "--by", "李四", "--db", db))
    shown = json.loads(ok(run("findings", "show", fid, "--db", db, "--format", "json")).stdout)
    assert [e["action"] for e in shown["events"]] == ["identify", "assign", "submit", "verify"]
    assert shown["finding"]["state"] == "verified" and shown["evidence"][0]["file_name"] == "整改报告.pdf"
    listed = json.loads(ok(run("findings", "list", "--state", "verified", "--db", db, "--format", "json")).stdout)
    assert [r["finding_id"] for r in listed] == [fid]
    refused(run("findings", "reopen", fid, "--db", db), "needs its text")
    refused(run("findings", "assign", 9999, "--to", "市交通委", "--due", due, "--db", db), "no finding #9999")
    out = tmp_path / "问题清单.xlsx"
    ok(run("findings", "list", "--format", "xlsx", "--out", out, "--db", db))
    assert out.stat().st_size > 0
    assert "identified" in ok(run("findings", "states")).stdout
