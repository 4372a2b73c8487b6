"""planwatch db init | upgrade | version | copy | diff, from the command line, and what a bureau checks
after moving the demo store to PostGIS: zero differences, the same report byte for byte, and the
layers open in GDAL (ogrinfo, what QGIS uses) with their default style."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.store import SCHEMA_VERSION, open_store
from tests.conftest import REAL_OBSERVATIONS, refused, said

DEMO_OBSERVATIONS = sorted(REAL_OBSERVATIONS.parent.glob("observations_*.csv"))


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def ok(res):
    assert res.exit_code == 0, said(res)
    return res


@pytest.fixture(scope="module")
def demo_gpkg(tmp_path_factory, plan):
    """The demo store: the shipped observations and the demo one map (as `planwatch demo` builds it)."""
    from planwatch.demo.onemap import load_demo_map
    from planwatch.observe import import_observations

    path = tmp_path_factory.mktemp("demo") / "planwatch.gpkg"
    store = open_store(path)
    for csv in DEMO_OBSERVATIONS:
        import_observations(csv, store, plan)
    load_demo_map(store, plan)
    store.add_judgement("T16", 2025, "nearly", "规划评估组", "示例", [("依据.txt", "示例证据".encode())], plan.meta.id)
    return path


def _pg_args(dsn: str) -> str:
    """The GDAL PG: connection string of a planwatch DSN (its schema as GDAL's active_schema)."""
    u = urlsplit(dsn)
    options = parse_qs(u.query).get("options", [""])[0]
    schema = options.split("search_path=")[1].split(",")[0] if "search_path=" in options else "public"
    return (f"PG:host={u.hostname} port={u.port} dbname={u.path.lstrip('/')} user={u.username} "
            f"active_schema={schema}")


def test_the_demo_store_copied_to_postgis_and_back_has_no_differences(demo_gpkg, postgis_dsn, tmp_path):
    res = ok(run("db", "copy", demo_gpkg, postgis_dsn))
    assert "copied" in res.stdout and "observations" in res.stdout and "layers" in res.stdout
    assert "no differences" in ok(run("db", "diff", demo_gpkg, postgis_dsn)).stdout
    back = tmp_path / "back.gpkg"
    ok(run("db", "copy", postgis_dsn, back))
    res = ok(run("db", "diff", demo_gpkg, back, "--format", "json"))
    assert json.loads(res.stdout)["differences"] == []
    src, dst = open_store(demo_gpkg), open_store(postgis_dsn)
    # every revision with its provenance, judgements with their evidence, layers with versions
    assert src.observations(latest=False).equals(dst.observations(latest=False))
    assert src.imports().equals(dst.imports())
    assert dst.evidence(1) == [("依据.txt", "示例证据".encode())]
    assert src.layers().equals(dst.layers())


def test_diff_names_a_changed_value_and_exits_1(demo_gpkg, postgis_dsn, tmp_path):
    copy = tmp_path / "copy.gpkg"
    shutil.copy(demo_gpkg, copy)
    import sqlite3

    with sqlite3.connect(copy) as con:
        con.execute("UPDATE pw_observations SET value = value + 1 WHERE obs_id = 1")
    res = run("db", "diff", demo_gpkg, copy)
    assert res.exit_code == 1
    assert "pw_observations obs_id=1: value" in res.stdout and "1 difference(s)" in res.stdout


def test_a_copy_into_a_store_that_holds_data_is_refused_and_writes_nothing(demo_gpkg, postgis_dsn, tmp_path):
    target = open_store(postgis_dsn)
    ok(run("observe", "import", REAL_OBSERVATIONS, "--db", postgis_dsn))
    before = target.observations(latest=False)
    refused(run("db", "copy", demo_gpkg, postgis_dsn), "a restore needs an empty store", "nothing was written")
    assert target.observations(latest=False).equals(before) and target.layers().empty
    refused(run("db", "copy", demo_gpkg, demo_gpkg), "the source and the destination are the same store")
    refused(run("db", "copy", tmp_path / "missing.gpkg", tmp_path / "new.gpkg"), "no planwatch store there")
    assert not (tmp_path / "new.gpkg").exists()


def test_the_report_from_the_postgis_copy_is_byte_identical(demo_gpkg, postgis_dsn, tmp_path):
    ok(run("db", "copy", demo_gpkg, postgis_dsn))
    from_file = tmp_path / "from-gpkg"
    from_server = tmp_path / "from-postgis"
    ok(run("report", "--year", 2022, "--out", from_file, "--db", demo_gpkg))
    ok(run("--db", postgis_dsn, "report", "--year", 2022, "--out", from_server))  # --db before the verb
    for name in ("report.html", "report.pdf", "report.docx", "report.xlsx"):
        assert (from_file / name).read_bytes() == (from_server / name).read_bytes(), name


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed (scripts/setup.sh installs gdal-bin)")
def test_ogrinfo_opens_the_postgis_layer_by_its_stable_name_with_its_default_style(demo_gpkg, postgis_dsn):
    ok(run("db", "copy", demo_gpkg, postgis_dsn))
    pg = _pg_args(postgis_dsn)
    info = subprocess.run(["ogrinfo", "-ro", "-so", pg, "ly_farmland"], capture_output=True, text=True, check=True).stdout
    assert "Layer name: ly_farmland" in info and "Geometry: Polygon" in info
    assert "Feature Count: 1055" in info and "CM 117E" in info and "示意数据（非官方）" in info
    assert "FID Column = fid" in info and "Geometry Column = geom" in info
    styles = subprocess.run(
        ["ogrinfo", "-ro", pg, "-sql", "SELECT f_table_name, stylename, useasdefault, styleqml FROM layer_styles "
         "WHERE f_table_name = 'ly_farmland'"], capture_output=True, text=True, check=True).stdout
    assert "f_table_name (String) = ly_farmland" in styles and "stylename (String) = planwatch" in styles
    assert "useasdefault (Integer(Boolean)) = 1" in styles
    qml = styles[styles.index("<!DOCTYPE qgis"):styles.index("</qgis>") + len("</qgis>")]
    assert ET.fromstring(qml.split("\n", 1)[1]).find(".//renderer-v2") is not None


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed (scripts/setup.sh installs gdal-bin)")
def test_ogrinfo_opens_the_geopackage_view_by_its_stable_name(demo_gpkg):
    info = subprocess.run(["ogrinfo", "-ro", "-so", str(demo_gpkg), "ly_farmland"], capture_output=True, text=True,
                          check=True).stdout
    assert "Layer name: ly_farmland" in info and "Feature Count: 1055" in info
    styles = subprocess.run(["ogrinfo", "-ro", str(demo_gpkg), "-sql",
                             "SELECT stylename, useasdefault FROM layer_styles WHERE f_table_name = 'ly_farmland'"],
                            capture_output=True, text=True, check=True).stdout
    # QGIS's own column names in a GeoPackage (styleName, useAsDefault)
    assert "styleName (String) = planwatch" in styles and "useAsDefault (Integer(Boolean)) = 1" in styles


def test_db_init_upgrade_and_version_on_both_backends(postgis_dsn, tmp_path):
    for target in (tmp_path / "new.gpkg", postgis_dsn):
        res = ok(run("db", "init", "--db", target))
        assert f"store created at schema {SCHEMA_VERSION}" in res.stdout
        assert "already a planwatch store" in ok(run("db", "init", "--db", target)).stdout
        assert f"already at schema {SCHEMA_VERSION}; nothing to do" in ok(run("db", "upgrade", "--db", target)).stdout
        history = json.loads(ok(run("db", "version", "--db", target, "--format", "json")).stdout)
        assert history["schema_version"] == SCHEMA_VERSION
        assert [h["version"] for h in history["history"]] == list(range(1, SCHEMA_VERSION + 1))


def test_an_older_postgis_store_is_refused_naming_db_upgrade_which_fixes_it(postgis_dsn):
    from tests.test_store_postgis import as_postgis_v3

    open_store(postgis_dsn)
    ok(run("observe", "import", REAL_OBSERVATIONS, "--db", postgis_dsn))
    as_postgis_v3(postgis_dsn)
    refused(run("observe", "list", "--db", postgis_dsn), "planwatch db upgrade --db")
    res = ok(run("db", "upgrade", "--db", postgis_dsn))
    assert f"upgraded to schema {SCHEMA_VERSION}: 4 " in res.stdout and "; 5 + the findings register" in res.stdout
    assert f"already at schema {SCHEMA_VERSION}" in ok(run("db", "upgrade", "--db", postgis_dsn)).stdout
    assert ok(run("observe", "list", "--db", postgis_dsn, "--format", "json")).stdout.count('"indicator"') > 10
