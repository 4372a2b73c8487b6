"""``planwatch serve``: the REST API's read routes and the one map as OGC API – Features, on both stores;
GDAL's OGC API driver (the one QGIS uses) reads the collections and their features over HTTP."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from datetime import date

import geopandas as gpd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.services import ledger

from .conftest import REAL_OBSERVATIONS

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from planwatch.web import SECURITY_HEADERS, create_app  # noqa: E402

X, Y = 450_000.0, 4_420_000.0  # EPSG:4548, central Beijing
N_PARCELS = 7


@pytest.fixture
def served(store, db, plan):
    """A store holding real observations, a small layer of 7 squares (synthetic) and one ledger
    release; and a test client of the app over it."""
    r = CliRunner().invoke(app, ["observe", "import", str(REAL_OBSERVATIONS), "--db", str(db)])
    assert r.exit_code == 0, r.output
    squares = gpd.GeoDataFrame({"name": [f"地块{i}" for i in range(1, N_PARCELS + 1)]},
                               geometry=[box(X + 1000 * i, Y, X + 1000 * i + 500, Y + 500) for i in range(N_PARCELS)],
                               crs="EPSG:4548")
    store.write_layer("land_supply", squares, source="test", sha256="0" * 64, synthetic=True, notes=[])
    ledger.release(store, plan, pool="floor_area:顺义区", amount="1000", year=2022, by="甲", when=date(2022, 3, 1))
    return TestClient(create_app(open_store=lambda: store, plan_id=plan.meta.id))


def test_the_api_answers_with_the_services_json(served, store, plan, tmp_path):
    plans = served.get("/api/plans").json()
    assert plans[0]["id"] == plan.meta.id and plans[0]["targets"] == len(plan.targets)
    targets = served.get(f"/api/plans/{plan.meta.id}/targets").json()
    assert {t["id"] for t in targets} == {t.id for t in plan.targets}
    assert served.get("/api/plans/other/targets").status_code == 404
    t05 = served.get("/api/observations", params={"indicator": "T05", "year": 2022}).json()
    assert t05 and all(o["indicator"] == "T05" and o["year"] == 2022 for o in t05)
    assert served.get("/api/observations/T05/history").json()
    evaluated = served.get("/api/evaluations/2022").json()
    assert {"id", "level", "reason"} <= set(evaluated[0]) and any(e["id"] == "T05" for e in evaluated)
    assert all(e["category"] == "协调" for e in served.get("/api/evaluations/2022", params={"category": "协调"}).json())
    t05 = next(e for e in evaluated if e["id"] == "T05" and e.get("geo") in ("", "全市"))
    revised = tmp_path / "revised.csv"
    revised.write_text("indicator,year,value,unit\nT05,2022,2185.0,万人\n", encoding="utf-8")
    from planwatch.services import observations

    observations.import_file(store, plan, revised)
    again = next(e for e in served.get("/api/evaluations/2022").json() if e["id"] == "T05" and e.get("geo") in ("", "全市"))
    assert (t05["value"], again["value"]) == (2184.3, 2185.0)  # a new import is a new state: computed again
    refused = served.get("/api/evaluations/1900")
    assert refused.status_code == 400 and "outside the plan's span" in refused.json()["detail"]
    pools = {p["pool"]: p for p in served.get("/api/ledger/accounts").json()["pools"]}
    assert pools["floor_area:顺义区"]["available"] == 1000.0
    trail = served.get("/api/ledger/history", params={"pool": "floor_area:顺义区"}).json()
    assert [e["op"] for e in trail] == ["release"] and trail[0]["balance_after"] == 1000.0
    assert served.get("/api/findings").json() == []
    assert served.get("/api/findings", params={"overdue": True}).json() == []  # was a 500 (found by schemathesis)
    assert served.get("/api/findings/1").status_code == 400
    spec = served.get("/api/openapi.json").json()
    assert {"/api/evaluations/{year}", "/ogc/collections/{collection_id}/items"} <= set(spec["paths"])


def test_every_response_carries_the_security_headers_and_no_cors(served):
    r = served.get("/api/plans", headers={"Origin": "http://evil.example"})
    for k, v in SECURITY_HEADERS.items():
        assert r.headers[k] == v
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}


def test_the_ogc_landing_conformance_and_collections(served):
    landing = served.get("/ogc").json()
    assert {link["rel"] for link in landing["links"]} >= {"self", "conformance", "data", "service-desc"}
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in served.get("/ogc/conformance").json()["conformsTo"]
    (col,) = [c for c in served.get("/ogc/collections").json()["collections"] if c["id"] == "land_supply"]
    assert "示意数据" in col["title"] and "synthetic" in col["description"]
    minx, miny, maxx, maxy = col["extent"]["spatial"]["bbox"][0]
    assert 116 < minx < maxx < 117 and 39.5 < miny < maxy < 40.5  # WGS 84 degrees, central Beijing
    assert served.get("/ogc/collections/land_supply").json()["id"] == "land_supply"
    assert served.get("/ogc/collections/nope").status_code == 404


def test_items_page_with_next_links_filter_by_bbox_and_read_one(served):
    seen, url = [], "/ogc/collections/land_supply/items?limit=3"
    while url:
        page = served.get(url)
        assert page.headers["content-type"].startswith("application/geo+json")
        body = page.json()
        assert body["numberMatched"] == N_PARCELS and body["numberReturned"] == len(body["features"]) <= 3
        seen += [f["properties"]["name"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    assert seen == [f"地块{i}" for i in range(1, N_PARCELS + 1)]
    first = served.get("/ogc/collections/land_supply/items/1").json()
    assert first["id"] == 1 and first["properties"]["name"] == "地块1" and first["geometry"]["type"] == "Polygon"
    lon, lat = first["geometry"]["coordinates"][0][0]
    west = served.get("/ogc/collections/land_supply/items", params={"bbox": f"{lon - 0.001},{lat - 0.001},{lon + 0.003},{lat + 0.003}"}).json()
    assert [f["properties"]["name"] for f in west["features"]] == ["地块1"]
    for bad in ("1,2,3", "a,b,c,d", "3,3,1,1", "nan,1,2,3"):
        assert served.get("/ogc/collections/land_supply/items", params={"bbox": bad}).status_code == 400
    assert served.get("/ogc/collections/land_supply/items/99").status_code == 404
    assert served.get("/ogc/collections/land_supply/items", params={"limit": 0}).status_code == 422


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed (scripts/setup.sh installs gdal-bin)")
def test_gdal_reads_the_collections_and_their_features_over_http(served, store, plan):
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(create_app(open_store=lambda: store, plan_id=plan.meta.id), host="127.0.0.1",
                                           port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        root = f"OAPIF:http://127.0.0.1:{port}/ogc"
        listed = subprocess.run(["ogrinfo", "-ro", "-q", root], capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert "land_supply" in listed.stdout
        # GDAL pages through the items (page size 3) and counts every feature
        read = subprocess.run(["ogrinfo", "-ro", "-al", "-so", "-oo", "PAGE_SIZE=3", root, "land_supply"],
                              capture_output=True, text=True, timeout=60)
        assert read.returncode == 0, read.stderr
        assert f"Feature Count: {N_PARCELS}" in read.stdout, read.stdout
        feats = subprocess.run(["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", "-oo", "PAGE_SIZE=3", root, "land_supply"],
                               capture_output=True, text=True, timeout=60)
        assert feats.returncode == 0, feats.stderr
        names = sorted(f["properties"]["name"] for f in json.loads(feats.stdout)["features"])
        assert names == sorted(f"地块{i}" for i in range(1, N_PARCELS + 1))
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_serve_refuses_a_store_that_is_not_there(tmp_path):
    r = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "none.gpkg")])
    assert r.exit_code == 1 and "no planwatch store there" in r.output


# ------------------------------------------------------------------ accounts, tokens, scoped writes, the audit log


def test_accounts_tokens_and_a_scoped_audited_write(served, store, plan):
    from planwatch.services import ServiceError, users

    users.add_user(store, plan, "顺义编辑", "district_editor", "pw-0123456789", district="顺义区", by="管理员")
    users.add_user(store, plan, "观察员", "viewer", "pw-0123456789", by="管理员")
    for bad in ({"role": "boss"}, {"role": "district_editor", "district": "不存在区"}, {"role": "viewer", "password": "short"},
                {"role": "department", "unit": "某局"}, {"name": "顺义编辑", "role": "viewer"}):
        with pytest.raises(ServiceError):
            users.add_user(store, plan, bad.get("name", "新人"), bad["role"], bad.get("password", "pw-0123456789"),
                           district=bad.get("district", ""), unit=bad.get("unit", ""), by="管理员")
    assert users.check_password(store, "顺义编辑", "pw-0123456789").district == "顺义区"
    assert users.check_password(store, "顺义编辑", "wrong-password") is None
    assert "password_hash" not in users.list_users(store).columns
    assert str(store.people("pw_users")["password_hash"].iloc[0]).startswith("$argon2")
    editor, _ = users.issue_token(store, "顺义编辑", by="管理员")
    viewer, _ = users.issue_token(store, "观察员", by="管理员")
    assert store.people("pw_tokens")["token_sha256"].tolist() == [users.token_hash(editor), users.token_hash(viewer)]
    body = {"project": "XM-1", "pool": "floor_area:顺义区", "amount": "100", "key": "web-1"}
    before = store.ledger_tables()

    def post(json_body, token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return served.post("/api/ledger/reserve", json=json_body, headers=headers)

    assert post(body).status_code == 401
    assert post(body, "pw_forged").status_code == 401
    assert post(body, viewer).status_code == 403
    other = post({**body, "pool": "floor_area:朝阳区"}, editor)
    assert other.status_code == 403 and "may not reserve in 朝阳区" in other.json()["detail"]
    assert post({**body, "pool": "x' OR '1'='1"}, editor).status_code == 400
    for name, table in store.ledger_tables().items():
        assert table.equals(before[name]), name  # nothing written by any refusal
    done = post(body, editor)
    assert done.status_code == 200 and done.json()["batch"]["actor"] == "顺义编辑"
    assert post(body, editor).json()["repeated"] is True
    log = users.audit_log(store)
    assert log["action"].tolist()[-2:] == ["ledger.reserve", "ledger.reserve"] and set(log["actor"].tail(2)) == {"顺义编辑"}
    first, again = (json.loads(d) for d in log["detail"].tail(2))  # written in the posting's own transaction
    assert first["batch"] == again["batch"] == done.json()["batch"]["batch_id"] and (first["repeated"], again["repeated"]) == (
        False, True)
    assert set(log["address"].tail(2)) == {"testclient"} and len(log) == 6  # 2 accounts, 2 tokens, 2 postings: no refusal
    users.set_disabled(store, "顺义编辑", True, by="管理员")
    assert post({**body, "key": "web-2"}, editor).status_code == 401  # a disabled account's token stops working
    assert users.user_for_token(store, viewer, today=date(2099, 1, 1)) is None  # expired


def test_the_audit_log_and_accounts_are_append_only_at_the_database(store, plan):
    from planwatch.services import users

    users.add_user(store, plan, "甲", "viewer", "pw-0123456789", by="管理员")
    con_of = getattr(store, "_conninfo", None)
    statements = ["UPDATE pw_audit SET actor = 'x'", "DELETE FROM pw_audit", "DELETE FROM pw_users",
                  "UPDATE pw_users SET name = 'x'"]
    for sql in statements:
        if con_of is None:
            import sqlite3

            with pytest.raises(sqlite3.DatabaseError), sqlite3.connect(store.path) as con:
                con.execute(sql)
        else:
            import psycopg

            with pytest.raises(psycopg.Error), psycopg.connect(con_of) as con:
                con.execute(sql)
    assert len(users.audit_log(store)) == 1 and users.list_users(store)["name"].tolist() == ["甲"]


PDF = b"%PDF-1.4\n% evidence\n"


def test_a_finding_walks_from_assigned_to_verified_through_the_api_with_two_accounts(served, store, plan):
    from planwatch.services import findings, users

    findings.generate(store, plan, 2022)
    open_ = store.findings()
    fid = int(open_[open_["source"] == "T36"]["finding_id"].iloc[0])  # 轨道交通里程: the 市交通委's
    users.add_user(store, plan, "管理员", "admin", "pw-0123456789", by="安装")
    users.add_user(store, plan, "交通委", "department", "pw-0123456789", unit="市交通委", by="管理员")
    users.add_user(store, plan, "水务局", "department", "pw-0123456789", unit="市水务局", by="管理员")
    users.add_user(store, plan, "朝阳编辑", "district_editor", "pw-0123456789", district="朝阳区", by="管理员")
    token = {name: users.issue_token(store, name, by="管理员")[0] for name in ("管理员", "交通委", "水务局", "朝阳编辑")}

    def act(action, who, data=None, files=None):
        return served.post(f"/api/findings/{fid}/{action}", data=data or {}, files=files,
                           headers={"Authorization": f"Bearer {token[who]}"})

    assert act("assign", "交通委", {"unit": "市交通委", "due": "2099-06-30"}).status_code == 403  # only the bureau assigns
    assigned = act("assign", "管理员", {"unit": "市交通委", "due": "2099-06-30", "text": "限期整改"})
    assert assigned.status_code == 200 and assigned.json()["to_state"] == "assigned"
    before = (store.findings(), store.finding_events(), store.finding_evidence())
    refusals = [
        act("submit", "水务局", {"text": "x"}, [("evidence", ("a.pdf", PDF, "application/pdf"))]),  # another unit
        act("submit", "朝阳编辑", {"text": "x"}, [("evidence", ("a.pdf", PDF, "application/pdf"))]),  # not its district's
        act("submit", "交通委", {"text": "x"}, [("evidence", ("run.exe", b"MZ\x90\x00", "application/octet-stream"))]),
        act("submit", "交通委", {"text": "x"}, [("evidence", ("fake.pdf", b"<script>", "application/pdf"))]),
        act("submit", "交通委", {"text": "x"}, [("evidence", ("empty.pdf", b"", "application/pdf"))]),
        act("nonsense", "交通委", {"text": "x"}),
        served.post(f"/api/findings/{fid}/submit", data={"text": "x"}),  # no token
        served.post(f"/api/findings/{fid}/submit", data={"text": "x"}, headers={"Authorization": "Bearer pw_forged"}),
    ]
    assert [r.status_code for r in refusals] == [403, 403, 400, 400, 400, 404, 401, 401]
    after = (store.findings(), store.finding_events(), store.finding_evidence())
    assert all(a.equals(b) for a, b in zip(before, after, strict=True))  # nothing written by any refusal
    # a path in the uploaded name is cut to its last component: shown, never used as a path
    submitted = act("submit", "交通委", {"text": "<script>alert(1)</script> 已完成"},
                    [("evidence", ("../../etc/整改报告.pdf", PDF, "application/pdf"))])
    assert submitted.status_code == 200 and submitted.json()["files"][0]["name"] == "整改报告.pdf"
    assert store.finding_evidence()["file_name"].tolist() == ["整改报告.pdf"]
    assert act("verify", "交通委").status_code == 403
    verified = act("verify", "管理员", {"text": "核查通过"})
    assert verified.status_code == 200 and verified.json()["to_state"] == "verified"
    actors = store.finding_events(fid)["actor"].tolist()
    assert actors[-3:] == ["管理员", "交通委", "管理员"]
    log = users.audit_log(store)
    assert log["action"].tolist()[-3:] == ["findings.assign", "findings.submit", "findings.verify"]
    shown = served.get(f"/api/findings/{fid}").json()
    assert any("<script>" in e["text"] for e in shown["events"])  # kept as written: JSON, never HTML


def test_a_district_editor_previews_and_imports_its_own_districts_observations_only(served, store, plan):
    from planwatch.services import users

    users.add_user(store, plan, "顺义编辑", "district_editor", "pw-0123456789", district="顺义区", by="管理员")
    users.add_user(store, plan, "观察员", "viewer", "pw-0123456789", by="管理员")
    editor = {"Authorization": f"Bearer {users.issue_token(store, '顺义编辑', by='管理员')[0]}"}
    viewer = {"Authorization": f"Bearer {users.issue_token(store, '观察员', by='管理员')[0]}"}
    head = "indicator,year,value,unit,geo,note,source\n"
    mixed = (head + "T22,2023,40.1,%,顺义区,<img src=x onerror=alert(1)>,区统计局\n"
             "T22,2023,45.0,%,朝阳区,,区统计局\n").encode()
    before = store.observations(latest=False)

    def send(path, content, name="森林覆盖率.csv", headers=editor):
        return served.post(path, files={"file": (name, content, "text/csv")}, headers=headers)

    checked = send("/api/observations/preview", mixed)
    assert checked.status_code == 200
    body = checked.json()
    assert body["ok"] is False and body["rows"] == 2 and body["file"] == "森林覆盖率.csv"
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(3, "geo")] and "朝阳区" in body["errors"][0]["message"]
    refused = [send("/api/observations", mixed), send("/api/observations", mixed, headers=viewer),
               send("/api/observations", mixed, headers={}), send("/api/observations", b"MZ", name="../../x.exe"),
               send("/api/observations", b"x" * (20 * 2**20 + 1))]
    assert [r.status_code for r in refused] == [400, 403, 401, 400, 413]
    assert store.observations(latest=False).equals(before)  # nothing imported by any of them
    bad_row = send("/api/observations/preview", (head + "T22,2023,abc,%,顺义区,,\n").encode()).json()
    assert bad_row["ok"] is False and bad_row["errors"][0]["row"] == 2 and bad_row["errors"][0]["column"] == "value"
    own = (head + "T22,2023,40.1,%,顺义区,<img src=x onerror=alert(1)>,区统计局\n").encode()
    done = send("/api/observations", own)
    assert done.status_code == 200 and done.json()["added"] == 1
    stored = store.observations()
    row = stored[(stored["indicator"] == "T22") & (stored["geo"] == "顺义区")].iloc[0]
    assert row["note"] == "<img src=x onerror=alert(1)>" and row["file"] == "森林覆盖率.csv"  # as written, never a path
    assert users.audit_log(store)["action"].tolist()[-1] == "observations.import"


def test_login_gives_a_token_and_repeated_failures_are_throttled(served, store, plan):
    from planwatch.services import users

    users.add_user(store, plan, "甲", "viewer", "pw-0123456789", by="管理员")
    ok = served.post("/api/login", json={"name": "甲", "password": "pw-0123456789"})
    assert ok.status_code == 200 and ok.json()["account"]["role"] == "viewer"
    assert users.user_for_token(store, ok.json()["token"]).name == "甲"
    codes = [served.post("/api/login", json={"name": "甲", "password": f"wrong-{i}"}).status_code for i in range(6)]
    assert codes == [401] * 5 + [429]
    late = served.post("/api/login", json={"name": "甲", "password": "pw-0123456789"})  # even the right one, for now
    assert late.status_code == 429 and "too many failed logins" in late.json()["detail"]
    assert served.post("/api/login", json={"name": "乙", "password": "x"}).status_code == 401


def test_a_review_through_the_api_and_a_reservation_committed_and_cancelled_in_scope(served, store, plan):
    from shapely.geometry import mapping

    from planwatch.services import users

    farmland = gpd.GeoDataFrame(geometry=[box(X, Y + 2000, X + 1000, Y + 3000)], crs="EPSG:4548")
    store.write_layer("farmland", farmland, source="test", sha256="2" * 64, synthetic=True, notes=[])
    on_farmland = gpd.GeoSeries([box(X + 100, Y + 2100, X + 200, Y + 2200)], crs="EPSG:4548").to_crs(4326)
    sent = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "XM-1"},
                                                       "geometry": mapping(on_farmland.iloc[0])}]}
    (reviewed,) = served.post("/api/reviews", json=sent).json()
    assert reviewed["id"] == "XM-1" and [c["severity"] for c in reviewed["conflicts"]] == ["forbidden"]
    assert reviewed["conflicts"][0]["overlap_m2"] == pytest.approx(10_000, rel=1e-3)
    for bad in ({"type": "FeatureCollection", "features": []}, {"type": "Feature"}, {"type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": "x"}}]}):
        assert served.post("/api/reviews", json=bad).status_code == 400
    users.add_user(store, plan, "顺义编辑", "district_editor", "pw-0123456789", district="顺义区", by="管理员")
    users.add_user(store, plan, "大兴编辑", "district_editor", "pw-0123456789", district="大兴区", by="管理员")
    auth = {n: {"Authorization": f"Bearer {users.issue_token(store, n, by='管理员')[0]}"} for n in ("顺义编辑", "大兴编辑")}
    for project in ("XM-2", "XM-3"):
        body = {"project": project, "pool": "floor_area:顺义区", "amount": "100"}
        assert served.post("/api/ledger/reserve", json=body, headers=auth["顺义编辑"]).status_code == 200
    assert served.post("/api/ledger/commit", json={"project": "XM-2"}, headers=auth["大兴编辑"]).status_code == 403
    assert served.post("/api/ledger/commit", json={"project": "XM-2"}).status_code == 401
    done = served.post("/api/ledger/commit", json={"project": "XM-2", "amount": "60"}, headers=auth["顺义编辑"]).json()
    assert done["resolution"]["committed"] == 60.0
    assert served.post("/api/ledger/cancel", json={"project": "XM-3"}, headers=auth["顺义编辑"]).json()["op"] == "cancel"
    again = served.post("/api/ledger/cancel", json={"project": "XM-3"}, headers=auth["顺义编辑"])
    assert again.status_code == 400 and "already resolved" in again.json()["detail"]
    pools = {p["pool"]: p for p in served.get("/api/ledger/accounts").json()["pools"]}
    assert (pools["floor_area:顺义区"]["available"], pools["floor_area:顺义区"]["committed"]) == (1000 - 60, 60)


def test_a_report_is_downloaded_in_each_format_it_is_built_in(served):
    got = served.get("/api/reports/annual/2022/report.xlsx")
    assert got.status_code == 200 and got.content[:2] == b"PK"
    assert got.headers["content-disposition"] == 'attachment; filename="beijing-2021-2025-annual-2022.xlsx"'
    assert served.get("/api/reports/annual/2022/report.exe").status_code == 404
    assert served.get("/api/reports/monthly/2022/report.pdf").status_code == 404
    refused = served.get("/api/reports/five-year/2019/report.pdf")
    assert refused.status_code == 400 and "outside the plan period" in refused.json()["detail"]
