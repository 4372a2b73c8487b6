"""planwatch judge: a curator records a verdict on a qualitative target, with evidence, and the final
account shows it as a human judgement with its author and date. Append-only; every refusal writes
nothing; a store from before judgements existed is upgraded when opened."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.store import StoreError, open_store
from planwatch.store.gpkg import SCHEMA_VERSION

from .conftest import REAL_OBSERVATIONS, refused, said

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])



def ok(res):
    assert res.exit_code == 0, said(res)
    return res



@pytest.fixture
def filled(tmp_path):
    """A store with the real observations (so evaluate --final has figures)."""
    db = tmp_path / "s.gpkg"
    ok(run("observe", "import", REAL_OBSERVATIONS, "--db", db))
    return db


@pytest.fixture
def evidence_file(tmp_path):
    f = tmp_path / "能耗考核通报.pdf"
    f.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4)  # binary, not text
    return f


def listed(db) -> list[dict]:
    return json.loads(ok(run("judge", "--list", "--db", db, "--format", "json")).stdout)


def final_row(db, target: str) -> dict:
    rows = json.loads(ok(run("evaluate", "--final", 2025, "--db", db, "--format", "json")).stdout)
    return next(r for r in rows if r["id"] == target)


# ------------------------------------------------------------------ the curator's story


def test_a_judgement_with_evidence_shows_in_the_list_and_in_the_final_account(filled, evidence_file):
    assert final_row(filled, "T16")["verdict"] == "unknown"  # 达到国家要求: 需人工评估
    res = ok(run("judge", "T16", "--verdict", "达成", "--by", "张三", "--evidence", evidence_file,
                 "--note", "国家考核结果为完成", "--db", filled))
    assert "T16" in res.stdout and "达成" in res.stdout and "张三" in res.stdout
    sha = hashlib.sha256(evidence_file.read_bytes()).hexdigest()

    [j] = listed(filled)
    assert j["target"] == "T16" and j["year"] == 2025 and j["verdict"] == "met" and j["by"] == "张三"
    assert j["evidence"] == f"能耗考核通报.pdf（sha256 {sha[:8]}）" and j["note"] == "国家考核结果为完成"

    r = final_row(filled, "T16")
    assert r["verdict"] == "met" and r["judged"] is True
    assert r["judged_by"] == "张三" and r["judged_on"] == j["date"]
    assert r["evidence"] == j["evidence"]
    assert f"人工评估：张三于{j['date']}评定为达成" in r["reason"]
    table = ok(run("evaluate", "--final", 2025, "--db", filled)).stdout
    assert "人工评估" in table


def test_a_second_judgement_is_added_and_the_latest_stands(filled, evidence_file):
    ok(run("judge", "T16", "--verdict", "met", "--by", "张三", "--evidence", evidence_file, "--db", filled))
    res = ok(run("judge", "T16", "--verdict", "missed", "--by", "李四", "--note", "复核后改判", "--db", filled))
    assert "supersedes judgement #1" in res.stdout

    both = listed(filled)
    assert [(j["judgement_id"], j["verdict"], j["by"]) for j in both] == [(1, "met", "张三"), (2, "missed", "李四")]
    r = final_row(filled, "T16")
    assert r["verdict"] == "missed" and r["judged_by"] == "李四" and r["evidence"] == ""
    assert "未附证据" in r["reason"] and "复核后改判" in r["reason"]
    # --list TARGET filters; another target stays unjudged
    assert len(json.loads(ok(run("judge", "T16", "--list", "--db", filled, "--format", "json")).stdout)) == 2
    assert json.loads(ok(run("judge", "T17", "--list", "--db", filled, "--format", "json")).stdout) == []
    assert final_row(filled, "T17")["judged"] is False


def test_a_judgement_can_be_recorded_on_a_new_store_and_for_a_later_target_year(tmp_path):
    db = tmp_path / "new.gpkg"
    ok(run("judge", "t12", "--year", 2035, "--verdict", "nearly", "--by", "王五", "--db", db))  # 大气环境质量得到根本改善
    [j] = listed(db)
    assert (j["target"], j["year"], j["verdict"]) == ("T12", 2035, "nearly")


def test_the_table_shows_a_curators_text_as_written(filled):
    ok(run("judge", "T34", "--verdict", "met", "--by", "[bold]赵六", "--db", filled))
    assert "[bold]赵六" in ok(run("judge", "--list", "--db", filled)).stdout


# ------------------------------------------------------------------ refusals: exit 1, a message, nothing written


REFUSALS = {
    "unknown target": (["T99", "--verdict", "met", "--by", "张三"], ["unknown target 'T99'", "plan targets"]),
    "quantitative target": (["T05", "--verdict", "met", "--by", "张三"],
                            ["T05 is quantitative: its verdict comes from its data"]),
    "quantitative in that year": (["T19", "--year", "2035", "--verdict", "met", "--by", "张三"],
                                  ["T19 is quantitative in 2035"]),
    "no target that year": (["T24", "--year", "2035", "--verdict", "met", "--by", "张三"],
                            ["T24 has no target for 2035", "2025"]),
    "verdict word": (["T16", "--verdict", "done", "--by", "张三"], ["--verdict 'done'", "met, nearly or missed"]),
    "empty by": (["T16", "--verdict", "met", "--by", "  "], ["--by is empty"]),
    "missing evidence": (["T16", "--verdict", "met", "--by", "张三", "--evidence", "{tmp}/nope.pdf"],
                         ["nope.pdf: no such file", "nothing was recorded"]),
    "evidence is a folder": (["T16", "--verdict", "met", "--by", "张三", "--evidence", "{tmp}"], ["not a file"]),
    "empty evidence": (["T16", "--verdict", "met", "--by", "张三", "--evidence", "{tmp}/empty.pdf"], ["is empty"]),
    "one good and one missing evidence": (
        ["T16", "--verdict", "met", "--by", "张三", "--evidence", "{tmp}/good.pdf", "--evidence", "{tmp}/nope.pdf"],
        ["nope.pdf: no such file"]),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_each_refusal_exits_1_says_why_and_writes_nothing(filled, tmp_path, case):
    args, words = REFUSALS[case]
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "good.pdf").write_bytes(b"good")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    ok(run("judge", "T17", "--verdict", "met", "--by", "张三", "--db", filled))  # something already on record
    before = filled.read_bytes()
    refused(run("judge", *args, "--db", filled), *words)
    assert filled.read_bytes() == before
    # and no store is created by a refused judgement
    fresh = tmp_path / "fresh.gpkg"
    refused(run("judge", *args, "--db", fresh), *words)
    assert not fresh.exists()


def test_an_unreadable_evidence_file_is_refused(filled, tmp_path, monkeypatch):
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"x")
    read_bytes = Path.read_bytes

    def no_permission(self):  # chmod 0 does not stop root, so the refusal of the OS is simulated
        if self.name == "secret.pdf":
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", no_permission)
    before = filled.read_bytes()
    refused(run("judge", "T16", "--verdict", "met", "--by", "张三", "--evidence", secret, "--db", filled),
            "secret.pdf: cannot be read (Permission denied)", "nothing was recorded")
    assert filled.read_bytes() == before


def test_usage_mistakes_exit_2(filled):
    assert run("judge", "T16", "--by", "张三", "--db", filled).exit_code == 2  # no --verdict
    assert run("judge", "--list", "--verdict", "met", "--db", filled).exit_code == 2


def test_listing_a_missing_store_is_refused_and_creates_nothing(tmp_path):
    refused(run("judge", "--list", "--db", tmp_path / "none.gpkg"), "no planwatch store there")
    assert not (tmp_path / "none.gpkg").exists()


# ------------------------------------------------------------------ the store


def test_evidence_bytes_round_trip_with_their_sha256(db):
    store = open_store(db)
    pdf, photo = bytes(range(256)) * 1000, b"\x89PNG\r\n\x1a\n\x00\x00"
    rec = store.add_judgement("A110.1", 2025, "nearly", "张三", "", [("通报.pdf", pdf), ("现场.png", photo)], "bj")
    assert [(f["name"], f["sha256"], f["size"]) for f in rec["evidence"]] == [
        ("通报.pdf", hashlib.sha256(pdf).hexdigest(), len(pdf)),
        ("现场.png", hashlib.sha256(photo).hexdigest(), len(photo)),
    ]
    assert store.evidence(rec["judgement_id"]) == [("通报.pdf", pdf), ("现场.png", photo)]
    j = store.judgements().iloc[0]
    assert j["evidence"] == (f"通报.pdf（sha256 {hashlib.sha256(pdf).hexdigest()[:8]}）、"
                             f"现场.png（sha256 {hashlib.sha256(photo).hexdigest()[:8]}）")
    with pytest.raises(KeyError, match="no judgement #99"):
        store.evidence(99)


def test_judgements_have_the_final_accounts_columns(db):
    from planwatch.evaluate.final import JUDGEMENT_COLUMNS

    store = open_store(db)
    assert list(store.judgements().columns) == [*JUDGEMENT_COLUMNS, "judgement_id"]
    store.add_judgement("T16", 2025, "met", "张三", "", [], "bj")
    assert list(store.judgements().columns) == [*JUDGEMENT_COLUMNS, "judgement_id"]


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
def test_judgements_are_append_only_in_the_file_itself(db):
    store = open_store(db)
    store.add_judgement("T16", 2025, "met", "张三", "", [("a.pdf", b"a")], "bj")
    with sqlite3.connect(db) as con:
        for sql in ("UPDATE pw_judgements SET verdict='missed'", "DELETE FROM pw_judgements",
                    "UPDATE pw_evidence SET content=x'00'", "DELETE FROM pw_evidence"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(sql)
    assert store.judgements()["verdict"].tolist() == ["met"]


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
def test_evidence_altered_outside_planwatch_is_detected(db):
    store = open_store(db)
    rec = store.add_judgement("T16", 2025, "met", "张三", "", [("a.pdf", b"original")], "bj")
    with sqlite3.connect(db) as con:
        con.execute("DROP TRIGGER pw_evidence_no_update")
        con.execute("UPDATE pw_evidence SET content=x'00'")
    with pytest.raises(StoreError, match="no longer matches its sha256"):
        store.evidence(rec["judgement_id"])


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
def test_a_judgement_and_its_evidence_are_written_in_one_transaction(db):
    store = open_store(db)
    with sqlite3.connect(db) as con:  # the second evidence row fails, after the judgement row went in
        con.execute("CREATE TRIGGER boom BEFORE INSERT ON pw_evidence WHEN NEW.file_name = 'b.pdf'"
                    " BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.DatabaseError, match="disk full"):
        store.add_judgement("T16", 2025, "met", "张三", "", [("a.pdf", b"a"), ("b.pdf", b"b")], "bj")
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM pw_judgements").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM pw_evidence").fetchone()[0] == 0


def test_the_store_refuses_a_bad_verdict_or_an_empty_author(db):
    store = open_store(db)
    with pytest.raises(ValueError, match="verdict"):
        store.add_judgement("T16", 2025, "达成", "张三", "", [], "bj")  # the CLI translates; the store stores met
    with pytest.raises(ValueError, match="by is empty"):
        store.add_judgement("T16", 2025, "met", " ", "", [], "bj")
    assert store.judgements().empty


# ------------------------------------------------------------------ schema versions


def _registered(con) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute("SELECT table_name, data_type FROM gpkg_contents")}


def _as_v2(db) -> None:
    """Turn a current store back into one written before judgements existed."""
    with sqlite3.connect(db) as con:
        for t in ("pw_evidence", "pw_judgements"):
            con.execute(f"DROP TABLE {t}")
            con.execute("DELETE FROM gpkg_contents WHERE table_name=?", (t,))
        con.execute("UPDATE pw_meta SET value='2' WHERE key='schema_version'")


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
def test_a_v2_store_is_upgraded_on_open_and_keeps_its_observations(filled):
    before = open_store(filled).observations(latest=False)
    _as_v2(filled)
    ok(run("judge", "T16", "--verdict", "met", "--by", "张三", "--db", filled))
    store = open_store(filled)
    assert store.schema_version() == SCHEMA_VERSION == 8
    assert len(store.judgements()) == 1
    assert store.observations(latest=False).equals(before)
    with sqlite3.connect(filled) as con:
        assert _registered(con)["pw_judgements"] == _registered(con)["pw_evidence"] == "attributes"


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
def test_a_read_verb_upgrades_a_v2_store_too(filled):
    _as_v2(filled)
    ok(run("judge", "--list", "--db", filled))
    assert open_store(filled).schema_version() == SCHEMA_VERSION


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
def test_a_v1_store_becomes_current_in_one_open(filled):
    before = open_store(filled).observations(latest=False)
    _as_v2(filled)
    v1 = ("obs_id, indicator, year, geo, revision, value, unit, raw_value, raw_unit, conversion, scope, comparable,"
          " note, source, published, method, file, file_row, import_id")
    with sqlite3.connect(filled) as con:  # the v1 observation table: no origin, measure, synthetic
        con.execute(f"CREATE TABLE v1 AS SELECT {v1} FROM pw_observations")
        con.execute("DROP TABLE pw_observations")
        con.execute("ALTER TABLE v1 RENAME TO pw_observations")
        con.execute("DELETE FROM pw_meta WHERE key='schema_version'")
    store = open_store(filled)
    assert store.schema_version() == SCHEMA_VERSION and store.upgraded == [2, 3, 4, 5, 6, 7, 8]
    after = store.observations(latest=False)
    assert after[["indicator", "year", "value", "origin"]].equals(before[["indicator", "year", "value", "origin"]])
    store.add_judgement("T16", 2025, "met", "张三", "", [], "bj")
    assert len(store.judgements()) == 1


def test_opening_a_current_store_writes_nothing(filled):
    ok(run("judge", "T16", "--verdict", "met", "--by", "张三", "--db", filled))
    before = filled.read_bytes()
    ok(run("judge", "--list", "--db", filled))
    ok(run("evaluate", "--final", 2025, "--db", filled, "--format", "json"))
    assert filled.read_bytes() == before


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
def test_a_store_from_a_newer_planwatch_is_refused(filled):
    with sqlite3.connect(filled) as con:
        con.execute("UPDATE pw_meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    before = filled.read_bytes()
    refused(run("judge", "T16", "--verdict", "met", "--by", "张三", "--db", filled), "newer planwatch")
    assert filled.read_bytes() == before
