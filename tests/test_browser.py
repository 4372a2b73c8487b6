"""The dashboard in a real browser: Playwright (pip) driving Debian's chromium, headless, on both stores.
Every view loads with its key content; the language toggles; a drawn and an uploaded polygon are
reviewed with their conflicts on the map; a district editor logs in and imports its own district's
file, and is refused another's; one finding walks from assigned to verified with two accounts; and
no page asks for anything outside the server. Screenshots go to the folder printed at the start."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from .conftest import REAL_OBSERVATIONS, screenshot_folder

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (scripts/setup.sh installs it)")

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
PASSWORD = "pw-0123456789"
SHOTS = screenshot_folder()

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def site(request, tmp_path_factory, plan):
    """A store with the real observations (both published files, as the demo), the demo one map, the 2022 findings, a ledger release to 顺义区
    and three accounts, served by uvicorn on a free port; yields (base URL, store, backend)."""
    import uvicorn
    from typer.testing import CliRunner

    from planwatch.cli import app
    from planwatch.services import findings, layers, ledger, users
    from planwatch.store import open_store
    from planwatch.web import create_app

    schema = None
    if request.param == "postgis":
        dsn = os.environ.get("PLANWATCH_POSTGIS_DSN")
        if not dsn:
            pytest.skip("PLANWATCH_POSTGIS_DSN is not set: start the local server with `bash scripts/postgis.sh`")
        import psycopg

        schema = f"pw_t_{secrets.token_hex(6)}"
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {schema}")
        target = f"{dsn}{'&' if '?' in dsn else '?'}options=-csearch_path%3D{schema},public"
    else:
        target = str(tmp_path_factory.mktemp("browser") / "store.gpkg")
    try:
        store = open_store(target)
        for published in (REAL_OBSERVATIONS, REAL_OBSERVATIONS.with_name("observations_more_2020_2022.csv")):
            r = CliRunner().invoke(app, ["observe", "import", str(published), "--db", target])
            assert r.exit_code == 0, r.output
        layers.load_demo(store, plan)
        findings.generate(store, plan, 2022)
        ledger.release(store, plan, pool="floor_area:顺义区", amount="500000", year=2022, by="管理员", when=date(2022, 3, 1))
        users.add_user(store, plan, "管理员", "admin", PASSWORD, by="setup")
        users.add_user(store, plan, "顺义编辑", "district_editor", PASSWORD, district="顺义区", by="setup")
        users.add_user(store, plan, "交通委", "department", PASSWORD, unit="市交通委", by="setup")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        server = uvicorn.Server(uvicorn.Config(create_app(open_store=lambda: store, plan_id=plan.meta.id),
                                               host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(400):
            if server.started:
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", store, request.param
        server.should_exit = True
        thread.join(10)
    finally:
        if schema:
            import psycopg

            with psycopg.connect(os.environ["PLANWATCH_POSTGIS_DSN"], autocommit=True) as con:
                con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nplanwatch dashboard screenshots: {SHOTS}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, site):
    """A fresh browser context (no cookies) whose every request outside the server is refused and recorded."""
    base = site[0]
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    outside: list[str] = []

    def guard(route):
        url = route.request.url
        if url.startswith(base + "/") or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.outside, pg.errors = outside, errors
    yield pg
    context.close()
    assert not outside, f"requests outside the server: {outside}"
    assert not errors, f"script errors: {errors}"


def go(page, site, path: str):
    page.goto(site[0] + path)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)


def shot(page, site, name: str):
    page.screenshot(path=str(SHOTS / f"{site[2]}-{name}.png"), full_page=False)


def login(page, site, name: str):
    go(page, site, "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")
    assert name in page.inner_text("header .who")


def map_layers(page) -> list[str]:
    return page.evaluate("() => window.planwatchMap.getStyle().layers.map(l => l.id)")


def test_every_view_loads_with_its_key_content(page, site):
    go(page, site, "/")
    assert page.inner_text("h1").startswith("规划实施总览")
    assert page.locator("#chart-categories canvas").count() == 1
    assert page.inner_text("#counts").count("绿灯") == 1
    assert "T36 轨道交通里程" in page.inner_text("#changes")
    shot(page, site, "1-board")
    go(page, site, "/indicators/T36?year=2022")
    assert "轨道交通里程" in page.inner_text("h1") and "红灯" in page.inner_text(".verdict")
    assert "1091.6" in page.inner_text("#article-text")
    assert page.locator("#chart-indicator canvas").count() == 1
    assert "时间进度法" in page.inner_text("#methods") and "Open SDG" in page.inner_text("#methods")
    assert "地铁" in page.inner_text("#observations")  # the subway-only figure, shown with its scope, not graded
    assert "2022-" in page.inner_text("#open-findings")  # its finding, open
    shot(page, site, "2-indicator")
    go(page, site, "/map")
    page.wait_for_selector("#map[data-ready='1']", timeout=60_000)
    ids = map_layers(page)
    assert "lyr-districts-line" in ids and "lyr-urban_boundary-fill" in ids
    assert "示意数据（非官方）" in page.inner_text("#layer-list")
    page.check("#layer-list input[data-layer=farmland]")
    page.wait_for_function("() => window.planwatchMap.getLayer('lyr-farmland-fill') !== undefined")
    options = page.eval_on_selector_all("#choropleth option", "els => els.map(e => e.value)")
    assert "map:T21" in options
    page.select_option("#choropleth", "map:T21")
    page.wait_for_function("() => document.getElementById('map').dataset.choropleth === 'map:T21'", timeout=60_000)
    assert "示意数据" in page.inner_text("#legend")
    page.wait_for_timeout(500)
    shot(page, site, "3-map")
    go(page, site, "/review")
    page.wait_for_selector("#map[data-ready='1']", timeout=60_000)
    assert "上传 GeoJSON" in page.inner_text("main")
    shot(page, site, "4-review")
    go(page, site, "/ledger")
    assert "建筑规模指标 · 顺义区" in page.inner_text("#pools")
    assert page.locator("#chart-pools canvas").count() == 1
    assert "中心城区建筑规模动态零增长" in page.inner_text("#caps")
    assert "release" in page.inner_text("#history")
    shot(page, site, "5-ledger")
    go(page, site, "/findings")
    assert "轨道交通里程" in page.inner_text("#register")
    shot(page, site, "6-findings")
    go(page, site, "/entry")
    assert "区级编辑" in page.inner_text("main")
    shot(page, site, "7-entry")


def test_the_language_toggles_and_stays(page, site):
    go(page, site, "/ledger")
    assert page.inner_text("h1") == "指标台账" and page.get_attribute("html", "lang") == "zh-CN"
    page.click("#lang-toggle")
    page.wait_for_selector("body[data-lang='en'][data-ready='1']")
    assert page.inner_text("h1") == "Quota ledger" and page.get_attribute("html", "lang") == "en"
    go(page, site, "/")  # the choice is kept
    assert page.inner_text("h1").startswith("Plan implementation overview")
    assert "Project review" in page.inner_text("header nav")
    shot(page, site, "language-en")
    page.click("#lang-toggle")
    page.wait_for_selector("body[data-lang='zh'][data-ready='1']")
    assert page.inner_text("h1").startswith("规划实施总览")


def _farmland_square(store, size: float = 0.01) -> dict:
    """A GeoJSON square (WGS 84) around a point inside the first farmland feature: a forbidden conflict."""
    from shapely.geometry import box, mapping

    point = store.read_layer("farmland").to_crs(4326).geometry.iloc[0].representative_point()
    square = box(point.x - size, point.y - size, point.x + size, point.y + size)
    return {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "上传地块"},
                                                       "geometry": mapping(square)}]}


def test_a_polygon_uploaded_or_drawn_is_reviewed_and_its_conflicts_shown(page, site, tmp_path):
    store = site[1]
    upload = tmp_path / "地块.geojson"
    upload.write_text(json.dumps(_farmland_square(store)), encoding="utf-8")
    go(page, site, "/review")
    page.wait_for_selector("#map[data-ready='1']", timeout=60_000)
    page.set_input_files("#geojson-file", str(upload))
    page.click("#run-review")
    page.wait_for_selector("#review-result[data-conflicts]", timeout=60_000)
    assert int(page.get_attribute("#review-result", "data-conflicts")) >= 1
    text = page.inner_text("#review-result")
    assert "永久基本农田" in text and "forbidden" in text and "第65条" in text
    page.wait_for_function("() => (document.getElementById('map').dataset.conflictLayers || '').includes('farmland')")
    assert "conflict-farmland-fill" in map_layers(page)
    shot(page, site, "review-conflicts")
    # drawn: four clicks and a double-click on the map
    page.click("#clear")
    box = page.locator("#map canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((-40, -40), (40, -40), (40, 40)):
        page.mouse.click(cx + dx, cy + dy)
        page.wait_for_timeout(150)
    page.mouse.dblclick(cx - 40, cy + 40)
    page.wait_for_function("() => !document.getElementById('run-review').disabled")
    page.click("#run-review")
    page.wait_for_selector("#review-result[data-conflicts]", timeout=60_000)
    assert "公顷" in page.inner_text("#review-result")
    shot(page, site, "review-drawn")


def test_a_district_editor_imports_its_own_district_and_is_refused_another(page, site, tmp_path):
    store = site[1]
    login(page, site, "顺义编辑")
    go(page, site, "/entry")
    with page.expect_download() as got:
        page.click("#template-link")
    from openpyxl import load_workbook

    assert got.value.suggested_filename == "观测数据填报模板-顺义区.xlsx"
    saved = tmp_path / got.value.suggested_filename
    got.value.save_as(saved)
    sheet = load_workbook(saved)["observations"]
    assert [c.value for c in sheet[1]][:5] == ["indicator", "year", "value", "unit", "geo"]
    assert sheet.cell(2, 5).value == "顺义区"
    head = "indicator,year,value,unit,geo,note,source\n"
    other = tmp_path / "chaoyang.csv"
    other.write_text(head + "T22,2023,40,%,朝阳区,,朝阳区统计局\n", encoding="utf-8")
    before = len(store.observations(latest=False))
    page.set_input_files("#entry-form input[type=file]", str(other))
    page.click("#preview-button")
    page.wait_for_selector("#entry-result[data-ok]")
    assert page.get_attribute("#entry-result", "data-ok") == "false"
    assert "朝阳区" in page.inner_text("#entry-result") and page.is_disabled("#commit-button")
    shot(page, site, "entry-refused")
    # the API refuses it too, whatever the page allows (the browser's session, with its CSRF token)
    status = page.evaluate("""async () => { const fd = new FormData();
        fd.append('file', new File(['indicator,year,value,unit,geo\\nT22,2023,40,%,朝阳区\\n'], 'x.csv'));
        const r = await fetch('/api/observations', {method: 'POST', body: fd,
          headers: {'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}}); return r.status; }""")
    assert status in (400, 403)
    reserve = page.evaluate("""async () => { const r = await fetch('/api/ledger/reserve', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content},
        body: JSON.stringify({project: 'X-1', pool: 'floor_area:朝阳区', amount: '10'})}); return r.status; }""")
    assert reserve == 403
    assert len(store.observations(latest=False)) == before
    own = tmp_path / "shunyi.csv"
    own.write_text(head + "T22,2023,41.5,%,顺义区,示意数据（测试）,顺义区统计局（测试）\n", encoding="utf-8")
    page.set_input_files("#entry-form input[type=file]", str(own))
    page.click("#preview-button")
    page.wait_for_selector("#entry-result[data-ok='true']")
    page.click("#commit-button")
    page.wait_for_selector("#entry-result[data-imported]")
    assert "已导入" in page.inner_text("#entry-result")
    stored = store.observations()
    assert ((stored["indicator"] == "T22") & (stored["geo"] == "顺义区") & (stored["year"] == 2023)).sum() == 1
    shot(page, site, "entry-imported")
    # the review page's reservation, in its own district's pool only
    go(page, site, "/review")
    pools = page.eval_on_selector_all("#reserve-form select[name=pool] option", "els => els.map(e => e.value)")
    assert pools and all(p.endswith(":顺义区") for p in pools)
    page.fill("#reserve-form input[name=project]", "顺义-浏览器-1")
    page.select_option("#reserve-form select[name=pool]", "floor_area:顺义区")
    page.fill("#reserve-form input[name=amount]", "1200.50")
    page.click("#reserve-form button[type=submit]")
    page.wait_for_selector("#reserve-result .result-ok")
    held = store.ledger_tables()["pw_ledger_reservations"]
    assert (held["project"] == "顺义-浏览器-1").sum() == 1
    shot(page, site, "review-reserved")


def test_a_finding_walks_from_assigned_to_verified_with_two_accounts(browser, site, tmp_path):
    store = site[1]
    from planwatch.services import findings

    rows = findings.list_findings(store, findings_plan(), state="identified").to_records()
    target = next(r for r in rows if r["suggested_unit"] == "市交通委") if any(
        r["suggested_unit"] == "市交通委" for r in rows) else rows[0]
    fid = target["finding_id"]
    evidence = tmp_path / "整改佐证.pdf"
    evidence.write_bytes(b"%PDF-1.4\n% planwatch test evidence\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")

    def act(pg, action: str, **fields):
        go(pg, site, f"/findings/{fid}")
        form = pg.locator(f"form.finding-action[data-action={action}]")
        for name, value in fields.items():
            if name == "evidence":
                form.locator("input[name=evidence]").set_input_files(value)
            else:
                form.locator(f"input[name={name}]").fill(value)
        with pg.expect_navigation():
            form.locator("button[type=submit]").click()
        pg.wait_for_selector("body[data-ready='1']")

    admin = browser.new_context(viewport={"width": 1400, "height": 1000})
    dept = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        a, d = admin.new_page(), dept.new_page()
        login(a, site, "管理员")
        login(d, site, "交通委")
        act(a, "assign", unit="市交通委", due="2027-06-30", text="请按期整改")
        assert "已交办" in a.inner_text("#state")
        act(d, "update", text="已开工建设")
        act(d, "submit", text="已完成，附佐证", evidence=str(evidence))
        assert "整改佐证.pdf" in d.inner_text("#evidence")
        shot(d, site, "finding-submitted")
        go(a, site, f"/findings/{fid}")
        assert a.locator("form.finding-action[data-action=verify]").count() == 1
        act(a, "verify", text="核验通过")
        assert "已销号" in a.inner_text("#state")
        events = store.finding_events(fid)
        assert {"管理员", "交通委"} <= set(events["actor"])
        assert events["action"].tolist()[-4:] == ["assign", "update", "submit", "verify"]
        shot(a, site, "finding-verified")
    finally:
        admin.close()
        dept.close()


def findings_plan():
    from planwatch.services import plans

    return plans.load()


def test_no_page_or_asset_names_an_outside_address(page, site):
    """Beyond the browser's own record (every request outside the server is refused and fails the
    test): the pages' HTML and the stylesheets name no outside script, style, font or tile."""
    import re

    outside = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I)
    for path in ("/", "/indicators/T36", "/map", "/review", "/ledger", "/findings", "/entry", "/login"):
        go(page, site, path)
        assert not outside.search(page.content()), path
    here = Path(__file__).resolve().parents[1] / "src" / "planwatch" / "web" / "static"
    for css in here.rglob("*.css"):
        assert not outside.search(css.read_text(encoding="utf-8")), css
    own_js = (here / "app.js").read_text(encoding="utf-8")
    assert not re.search(r"https?://", own_js)
    assert shutil.which("chromium") or Path(CHROMIUM).exists()
