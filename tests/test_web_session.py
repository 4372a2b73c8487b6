"""The dashboard's sessions: login by form (throttled, CSRF-checked), the session cookie that writes only
with the CSRF header, the public switch, and stored text shown escaped (no stored XSS)."""

from __future__ import annotations

from datetime import date

import pytest

from .conftest import REAL_OBSERVATIONS

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from planwatch.web import SECURITY_HEADERS, create_app  # noqa: E402
from planwatch.web.session import CSRF_COOKIE, SESSION_COOKIE  # noqa: E402

PASSWORD = "pw-0123456789"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def site(tmp_path, plan):
    from planwatch.services import ledger, observations, users
    from planwatch.store import open_store

    store = open_store(tmp_path / "store.gpkg")
    observations.import_file(store, plan, REAL_OBSERVATIONS)
    ledger.release(store, plan, pool="floor_area:顺义区", amount="1000", year=2022, by="甲", when=date(2022, 3, 1))
    users.add_user(store, plan, "顺义编辑", "district_editor", PASSWORD, district="顺义区", by="setup")
    return store


def client(store, plan, **kw) -> TestClient:
    return TestClient(create_app(open_store=lambda: store, plan_id=plan.meta.id, **kw))


def login(c: TestClient, name="顺义编辑", password=PASSWORD):
    c.get("/login")
    return c.post("/login", data={"name": name, "password": password, "csrf": c.cookies[CSRF_COOKIE], "next": "/ledger"},
                  follow_redirects=False)


def test_every_view_answers_in_chinese_and_english_with_the_security_headers(site, plan):
    c = client(site, plan)
    for path, zh, en in (("/", "规划实施总览", "Plan implementation overview"), ("/indicators", "指标", "Indicators"),
                         ("/indicators/T05", "常住人口", "常住人口"), ("/map", "一张图", "One map"),
                         ("/review", "项目审查", "Project review"), ("/ledger", "指标台账", "Quota ledger"),
                         ("/findings", "问题清单", "Findings"), ("/entry", "数据填报", "Data entry")):
        r = c.get(path)
        assert r.status_code == 200 and zh in r.text and 'lang="zh-CN"' in r.text, path
        for k, v in SECURITY_HEADERS.items():
            assert r.headers[k] == v
        assert en in c.get(path, params={"lang": "en"}).text, path
        c.cookies.delete("pw_lang")
    assert c.get("/indicators/T999").status_code == 404
    assert "&lt;" not in c.get("/indicators/T999").text or "T999" in c.get("/indicators/T999").text


def test_login_by_form_needs_the_csrf_token_and_is_throttled(site, plan):
    c = client(site, plan)
    c.get("/login")
    forged = c.post("/login", data={"name": "顺义编辑", "password": PASSWORD, "csrf": "forged"}, follow_redirects=False)
    assert forged.status_code == 403 and SESSION_COOKIE not in c.cookies
    ok = login(c)
    assert ok.status_code == 303 and ok.headers["location"] == "/ledger"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "顺义编辑" in c.get("/").text
    off = login(client(site, plan), password="wrong-password")
    assert off.status_code == 401 and "wrong name or password" in off.text
    other = client(site, plan)
    codes = [login(other, password="wrong-password").status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    assert login(other).status_code == 429  # even the right password waits
    assert login(client(site, plan), password="x", name="顺义编辑").status_code in (401, 429)
    away = c.post("/login", data={"name": "顺义编辑", "password": PASSWORD, "csrf": c.cookies[CSRF_COOKIE],
                                  "next": "//evil.example/x"}, follow_redirects=False)
    assert away.headers["location"] == "/"  # never sent to another site after logging in


def test_a_session_writes_only_with_the_csrf_header(site, plan):
    c = client(site, plan)
    assert login(c).status_code == 303
    body = {"project": "顺义-1", "pool": "floor_area:顺义区", "amount": "10"}
    before = site.ledger_tables()["pw_ledger_entries"].copy()
    refused = c.post("/api/ledger/reserve", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = c.post("/api/ledger/reserve", json=body, headers={"X-CSRF-Token": "not-the-token"})
    assert wrong.status_code == 403
    assert site.ledger_tables()["pw_ledger_entries"].equals(before)  # nothing written
    done = c.post("/api/ledger/reserve", json=body, headers={"X-CSRF-Token": c.cookies[CSRF_COOKIE]})
    assert done.status_code == 200, done.text
    # logging out ends the browser session, and its token on the server too
    from planwatch.services import users

    token = c.cookies[SESSION_COOKIE]
    assert users.user_for_token(site, token) is not None
    out = c.post("/logout", data={"csrf": c.cookies[CSRF_COOKIE]}, follow_redirects=False)
    assert users.user_for_token(site, token) is None
    assert users.audit_log(site)["action"].tolist()[-1] == "users.revoke_token"
    assert out.status_code == 303 and SESSION_COOKIE not in c.cookies
    again = c.post("/api/ledger/reserve", json={**body, "project": "顺义-2"}, headers={"X-CSRF-Token": c.cookies[CSRF_COOKIE]})
    assert again.status_code == 401


def test_the_public_pages_can_be_switched_off(site, plan, monkeypatch):
    c = client(site, plan, public=False)
    page = c.get("/ledger", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    for path in ("/api/plans", "/api/ledger/accounts", "/ogc/collections", "/api/evaluations/2022"):
        r = c.get(path)
        assert r.status_code == 401 and "not public" in r.json()["detail"], path
    assert c.get("/login").status_code == 200 and c.get("/static/app.css").status_code == 200
    assert c.get("/api/openapi.json").status_code == 200
    assert login(c).status_code == 303
    assert c.get("/ledger").status_code == 200 and c.get("/api/plans").status_code == 200
    monkeypatch.setenv("PLANWATCH_PUBLIC", "0")
    assert client(site, plan).get("/api/plans").status_code == 401
    monkeypatch.setenv("PLANWATCH_PUBLIC", "1")
    assert client(site, plan).get("/api/plans").status_code == 200


def test_stored_text_is_shown_escaped(site, plan, tmp_path):
    """Stored XSS through an observation's note or a finding's text is shown as text, never run."""
    from planwatch.services import findings, observations

    bad = tmp_path / "bad.csv"
    bad.write_text("indicator,year,value,unit,note,source\n"
                   f"T22,2023,41,%,\"{XSS.replace(chr(34), chr(34) * 2)}\",\"{XSS.replace(chr(34), chr(34) * 2)}\"\n",
                   encoding="utf-8")
    observations.import_file(site, plan, bad)
    findings.generate(site, plan, 2022)
    fid = int(site.findings()["finding_id"].iloc[0])
    findings.move(site, plan, fid, "assign", actor="督察处", unit=XSS[:80], due="2027-01-01", text=XSS, new_unit=True)
    c = client(site, plan)
    for path in ("/indicators/T22", f"/findings/{fid}", "/findings"):
        html = c.get(path).text
        assert "<script>alert" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", ""), path
        assert "&lt;script&gt;alert" in html, path
