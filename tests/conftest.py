from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from planwatch.plan import load_plan

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REAL_OBSERVATIONS = ROOT / "src/planwatch/plans/beijing-2021-2025/observations/observations_2021_2022.csv"


@pytest.fixture(scope="session")
def plan():
    return load_plan()


# ------------------------------------------------------------------ both backends
#
# Every test of these modules that uses a temporary folder runs twice: on the GeoPackage store, and on
# the PostGIS store. On PostGIS, each store a test makes at a path `….gpkg` (through open_store, so
# also every CLI run with --db PATH) is a fresh schema on the local server instead, reached from then
# on through the same path (an empty file marks it, so the path "exists" as a store file would).
# A test about the file itself (its bytes, SQLite, GDAL reading it) is marked gpkg_only.
BOTH_BACKENDS = {
    "test_access_coverage", "test_bad_input", "test_checkup_trust", "test_cli", "test_extras", "test_five_year_report",
    "test_findings", "test_indicators", "test_judge", "test_ledger", "test_ledger_concurrency", "test_ledger_property",
    "test_ledger_review", "test_observe_import", "test_web", "test_web_schema", "test_web_session", "test_onemap_crs", "test_onemap_demo", "test_onemap_layers",
    "test_onemap_layers_badinput", "test_report", "test_review_features", "test_rules", "test_services",
}


def pytest_configure(config):
    config.addinivalue_line("markers", "gpkg_only: a test of the GeoPackage file itself (not run on PostGIS)")


def pytest_generate_tests(metafunc):
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in BOTH_BACKENDS and {"tmp_path", "db", "store"} & set(metafunc.fixturenames):
        metafunc.fixturenames.append("backend")
        metafunc.parametrize("backend", ["gpkg", "postgis"], indirect=True)


@pytest.fixture
def backend(request):
    """The store backend a test runs on (a parameter of the tests of BOTH_BACKENDS)."""
    return getattr(request, "param", "gpkg")


@pytest.fixture(autouse=True)
def _stores_on_the_backend(request, monkeypatch):
    """On the ``postgis`` backend, every store made at a new ``.gpkg`` path is a fresh PostGIS schema."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or callspec.params.get("backend") != "postgis":
        yield
        return
    if request.node.get_closest_marker("gpkg_only"):
        pytest.skip("a test of the GeoPackage file itself")
    import planwatch.store as store_module
    from planwatch.store.gpkg import GeoPackageStore

    dsn = os.environ.get("PLANWATCH_POSTGIS_DSN")
    if not dsn:
        pytest.skip("PLANWATCH_POSTGIS_DSN is not set: start the local server with `bash scripts/postgis.sh`")
    import psycopg

    from planwatch.store.postgis import PostGISStore

    mapped: dict[Path, str] = {}

    def open_as_postgis(path, *, create=True, on_wait=None):
        key = Path(path).resolve()
        if key not in mapped:
            if not create or not key.parent.is_dir() or (key.exists() and key.stat().st_size > 0):
                # no store there, no folder for one, or a file that is not a mapped store: the file store answers
                return GeoPackageStore(path, create=create, on_wait=on_wait)
            schema = f"pw_t_{secrets.token_hex(6)}"
            with psycopg.connect(dsn, autocommit=True) as con:
                con.execute(f"CREATE SCHEMA {schema}")
            mapped[key] = f"{dsn}{'&' if '?' in dsn else '?'}options=-csearch_path%3D{schema},public"
            key.touch()  # the store "exists" at its path
        return PostGISStore(mapped[key], create=create, on_wait=on_wait)

    monkeypatch.setattr(store_module, "GeoPackageStore", open_as_postgis)
    try:
        yield
    finally:
        if mapped:
            with psycopg.connect(dsn, autocommit=True) as con:
                for target in mapped.values():
                    schema = target.rsplit("%3D", 1)[1].split(",")[0]
                    con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def db(tmp_path):
    return tmp_path / "store.gpkg"


@pytest.fixture
def store(db):
    from planwatch.store import open_store

    return open_store(db)


@pytest.fixture
def postgis_dsn():
    """A DSN of a fresh, empty schema on the PostGIS server of ``$PLANWATCH_POSTGIS_DSN`` (its search
    path: that schema, then public for PostGIS itself), dropped with everything in it afterwards.
    Skipped when the variable is unset."""
    dsn = os.environ.get("PLANWATCH_POSTGIS_DSN")
    if not dsn:
        pytest.skip("PLANWATCH_POSTGIS_DSN is not set: start the local server with `bash scripts/postgis.sh` "
                    "and set it to the DSN it prints")
    psycopg = pytest.importorskip("psycopg", reason="the PostGIS tests need the server extra (psycopg)")
    schema = f"pw_t_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{dsn}{'&' if '?' in dsn else '?'}options=-csearch_path%3D{schema},public"
    finally:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(f"DROP SCHEMA {schema} CASCADE")


def write_csv(path: Path, rows: list[str], header: str = "indicator,year,value,unit,geo,scope,note,source") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def said(res) -> str:
    """What a CLI run printed, on stdout and stderr."""
    return res.output + (res.stderr if res.stderr_bytes else "")


def refused(res, *words) -> str:
    """The run was refused the way planwatch refuses: exit 1, one message with ``words``, no traceback."""
    text = said(res)
    assert res.exit_code == 1, text
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in text
    for w in words:
        assert w in text, (w, text)
    return text


def screenshot_folder() -> Path:
    """Where the browser tests save their screenshots ($PLANWATCH_SCREENSHOTS, else a folder in the
    system's temporary directory); printed at the start and the end of the run."""
    import tempfile

    return Path(os.environ.get("PLANWATCH_SCREENSHOTS") or Path(tempfile.gettempdir()) / "planwatch-screenshots")


def pytest_report_header(config):
    return f"dashboard screenshots (tests/test_browser.py): {screenshot_folder()}"


def pytest_terminal_summary(terminalreporter):
    folder = screenshot_folder()
    if folder.is_dir() and any(folder.glob("*.png")):
        terminalreporter.write_line(f"dashboard screenshots: {folder} ({len(list(folder.glob('*.png')))} files)")
