"""Every bad input gets a clear answer: no traceback, no silent wrong result, nothing lost.

One named test per case a reviewer tried (the corpus), then a fuzz suite. Each asserts what the
user sees: exit code 1 with one message that names the file, row or feature and column, and a
store left as it was. Layer files and plan texts have their own corpus in
test_onemap_layers_badinput.py and test_extract_badinput.py.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.store import open_store

from .conftest import REAL_OBSERVATIONS, refused, said, write_csv

runner = CliRunner()
HEADER = "indicator,year,value,unit,geo,scope,note,source"


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)




@pytest.fixture
def filled(tmp_path):
    """A store with the real observations; returns (path, bytes before)."""
    db = tmp_path / "s.gpkg"
    assert run("observe", "import", REAL_OBSERVATIONS, "--db", db).exit_code == 0
    return db


def snapshot(db):
    """Every stored observation row (every revision, with its ids), whichever backend; [] when no store
    is there."""
    if not Path(db).exists():
        return []
    rows = open_store(db, create=False).snapshot().records["pw_observations"]
    return [tuple(r) for r in rows.itertuples(index=False)]


def stored(db, *columns):
    """The first stored observation's ``columns``."""
    first = open_store(db, create=False).snapshot().records["pw_observations"].iloc[0]
    return tuple(first[c].item() if hasattr(first[c], "item") else first[c] for c in columns)


# ------------------------------------------------------------------ stores are only created on purpose


def test_a_read_only_verb_refuses_a_missing_store_and_creates_nothing(tmp_path):
    typo = tmp_path / "planwach.gpkg"
    for verb in (["evaluate", "--year", "2022"], ["observe", "list"], ["layers", "list"]):
        res = run(*verb, "--db", typo)
        refused(res, str(typo), "no planwatch store there")
        assert not typo.exists()


def test_report_refuses_a_missing_store(tmp_path):
    res = run("report", "--year", "2022", "--out", tmp_path / "r", "--db", tmp_path / "nope.gpkg")
    refused(res, "no planwatch store there")
    assert not (tmp_path / "nope.gpkg").exists()


def test_a_file_that_is_not_a_database_is_refused_and_not_modified(tmp_path):
    f = tmp_path / "notes.gpkg"
    f.write_text("hello, this is not a database\n")
    before = f.read_bytes()
    for verb in (["evaluate", "--year", "2022"], ["observe", "import", REAL_OBSERVATIONS]):
        refused(run(*verb, "--db", f), "not a planwatch store", "not a GeoPackage/SQLite file")
    assert f.read_bytes() == before


def test_an_unrelated_sqlite_file_gets_no_planwatch_tables(tmp_path):
    f = tmp_path / "other.sqlite"
    con = sqlite3.connect(f)
    con.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    con.commit()
    con.close()
    before = f.read_bytes()
    refused(run("observe", "import", REAL_OBSERVATIONS, "--db", f), "not a planwatch store", "customers")
    refused(run("layers", "demo", "--db", f), "not a planwatch store")
    assert f.read_bytes() == before


def test_a_db_in_a_missing_folder_is_refused(tmp_path):
    res = run("observe", "import", REAL_OBSERVATIONS, "--db", tmp_path / "no" / "such" / "s.gpkg")
    refused(res, "does not exist")


@pytest.mark.gpkg_only  # SQLite's lock (PostGIS's: tests/test_store_postgis.py)
def test_a_locked_store_is_waited_on_with_a_message_then_refused_cleanly(filled):
    before = snapshot(filled)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sqlite3, time
            con = sqlite3.connect({str(filled)!r}, isolation_level=None)
            con.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        f = write_csv(filled.parent / "more.csv", ["T05,2023,2185.8,万人,,,,test"])
        res = run("observe", "import", f, "--db", filled, env={"PLANWATCH_LOCK_WAIT": "2"})
    finally:
        holder.kill()
        holder.wait()
    refused(res, "in use by another program; waiting", "stayed locked", "nothing was written")
    assert snapshot(filled) == before


@pytest.mark.gpkg_only  # a read-only file
@pytest.mark.skipif(not shutil.which("chattr"), reason="needs chattr (e2fsprogs) to make a file read-only for root")
def test_a_read_only_store_can_be_read_and_refuses_writes_without_a_traceback(filled, tmp_path):
    """An immutable store file: read-only even for root (as on a read-only share)."""
    if subprocess.run(["chattr", "+i", str(filled)], capture_output=True).returncode != 0:
        pytest.skip("the file system does not support chattr +i")
    try:
        before = snapshot(filled)
        res = run("evaluate", "--year", "2022", "--db", filled, "--format", "json")
        assert res.exit_code == 0, said(res)
        f = write_csv(tmp_path / "more.csv", ["T05,2023,2185.8,万人,,,,test"])
        refused(run("observe", "import", f, "--db", filled), "read-only", "nothing was written")
        assert snapshot(filled) == before
    finally:
        subprocess.run(["chattr", "-i", str(filled)], check=True)


# ------------------------------------------------------------------ report and evaluate


def test_report_out_pointing_at_a_file_or_under_one_is_refused(filled, tmp_path):
    a_file = tmp_path / "report.pdf"
    a_file.write_text("x")
    refused(run("report", "--year", "2022", "--db", filled, "--out", a_file), "is a file")
    refused(run("report", "--year", "2022", "--db", filled, "--out", a_file / "sub"), "lies under a file")


def test_a_year_outside_the_plan_is_refused_unless_forced(filled):
    refused(run("report", "--year", "1800", "--db", filled, "--out", filled.parent / "r"),
            "--year 1800 is outside the plan's span (2020–2035")
    refused(run("evaluate", "--year", "2100", "--db", filled), "outside the plan's span", "--force")
    assert run("evaluate", "--year", "2036", "--db", filled, "--force", "--format", "json").exit_code == 0


def test_evaluate_refuses_an_empty_store(tmp_path):
    db = tmp_path / "empty.gpkg"
    assert run("layers", "demo", "--db", db).exit_code == 0  # a store with layers and no observations
    refused(run("evaluate", "--year", "2022", "--db", db), "holds no observations")


def test_usage_errors_exit_2():
    assert run("evaluate").exit_code == 2  # --year is required
    assert run("no-such-verb").exit_code == 2


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(filled, monkeypatch):
    import planwatch.evaluate.engine as engine

    def broken(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "checkup_records", broken)
    res = run("evaluate", "--year", "2022", "--db", filled, "--format", "json")
    refused(res, "RuntimeError: boom", "PLANWATCH_DEBUG=1")
    res = run("evaluate", "--year", "2022", "--db", filled, "--format", "json", env={"PLANWATCH_DEBUG": "1"})
    assert isinstance(res.exception, RuntimeError)


# ------------------------------------------------------------------ observation files


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ('"44,8"', "looks like a decimal comma: write 44.8"),
        ("2_184", "has an underscore"),
        ("1e308", "not a plausible statistic"),
        ("inf", "not a finite number"),
        ("２１８４.３", "full-width characters"),
    ],
)
def test_locale_traps_in_values_are_refused_not_guessed(tmp_path, cell, words):
    f = write_csv(tmp_path / "v.csv", [f"常住人口规模,2022,{cell},万人,,,,"])
    db = tmp_path / "s.gpkg"
    refused(run("observe", "import", f, "--db", db), "v.csv: row 2, column 'value'", words)
    assert snapshot(db) == []


def test_full_width_digits_are_read_when_asked(tmp_path):
    f = write_csv(tmp_path / "v.csv", ["常住人口规模,２０２２,２１８４.３,万人,,,,"])
    db = tmp_path / "s.gpkg"
    res = run("observe", "import", f, "--db", db, "--normalise-width")
    assert res.exit_code == 0, said(res)
    assert snapshot(db)[0][1:6] == ("T05", 2022, "", 1, 2184.3)


def test_a_misspelt_header_is_refused(tmp_path):
    f = write_csv(tmp_path / "h.csv", ["T05,2022,2184.3,万人,,,,src"], header="indicator,year,value,unit,geo,scope,note,soruce")
    refused(run("observe", "import", f, "--db", tmp_path / "s.gpkg"), "h.csv: row 1, column 'soruce'", "unknown column")


def test_an_extra_column_is_kept_when_listed(tmp_path):
    f = write_csv(tmp_path / "h.csv", ["T05,2022,2184.3,万人,,,,src,王五"],
                  header="indicator,year,value,unit,geo,scope,note,source,填报人")
    db = tmp_path / "s.gpkg"
    refused(run("observe", "import", f, "--db", db), "column '填报人'", "--extra-column")
    res = run("observe", "import", f, "--db", db, "--extra-column", "填报人")
    assert res.exit_code == 0, said(res)
    assert stored(db, "note") == ("填报人：王五",)


def test_a_second_value_column_is_refused(tmp_path):
    f = write_csv(tmp_path / "d.csv", ["T05,2022,2184.3,2185,万人"], header="indicator,year,value,value,unit")
    refused(run("observe", "import", f, "--db", tmp_path / "s.gpkg"), "column 'value'", "appears twice (columns 3 and 4)")


def test_chinese_headers_are_accepted(tmp_path):
    f = write_csv(tmp_path / "zh.csv", ["常住人口规模,2022,2184.3,万人,,年末数,北京市统计局：《公报》,2023-03-21"],
                  header="指标,年份,数值,单位,口径,备注,来源,发布日期")
    db = tmp_path / "s.gpkg"
    res = run("observe", "import", f, "--db", db)
    assert res.exit_code == 0, said(res)
    assert stored(db, "indicator", "value", "note", "published") == ("T05", 2184.3, "年末数", "2023-03-21")


def test_a_row_with_an_extra_field_is_refused_before_the_columns_shift(tmp_path):
    f = write_csv(tmp_path / "x.csv", ["T05,2022,2184.3,万人,,,note, with a comma,src"])
    text = refused(run("observe", "import", f, "--db", tmp_path / "s.gpkg"),
                   "x.csv: row 2", "has 9 fields but the header has 8", "double quotes")
    assert "column 'value'" not in text and "column 'unit'" not in text


def test_a_workbook_with_two_filled_sheets_needs_sheet(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2022"
    ws.append(["indicator", "year", "value", "unit"])
    ws.append(["T05", 2022, 2184.3, "万人"])
    ws2 = wb.create_sheet("2023")
    ws2.append(["indicator", "year", "value", "unit"])
    ws2.append(["T05", 2023, 2185.8, "万人"])
    f = tmp_path / "two.xlsx"
    wb.save(f)
    db = tmp_path / "s.gpkg"
    refused(run("observe", "import", f, "--db", db), "2 sheets with data (2022, 2023)", "--sheet")
    res = run("observe", "import", f, "--db", db, "--sheet", "2023")
    assert res.exit_code == 0, said(res)
    assert [r[2] for r in snapshot(db)] == [2023]


def test_a_formula_without_a_saved_value_names_its_cell(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["indicator", "year", "value", "unit"])
    ws.append(["T05", 2022, "=2184.3*1", "万人"])
    f = tmp_path / "f.xlsx"
    wb.save(f)  # openpyxl saves the formula without computing it
    refused(run("observe", "import", f, "--db", tmp_path / "s.gpkg"), "f.xlsx: row 2", "cell C2 holds a formula",
            "no saved value")


def test_a_huge_value_is_not_echoed_in_full(tmp_path):
    name = "指" * 100_000
    f = write_csv(tmp_path / "big.csv", [f"{name},2022,1,万人,,,,"])
    text = refused(run("observe", "import", f, "--db", tmp_path / "s.gpkg"), "unknown indicator", "共100000个字符")
    assert len(text) < 2_000


def test_a_refused_file_changes_nothing(filled, tmp_path):
    before = snapshot(filled)
    f = write_csv(tmp_path / "bad.csv", ["T05,2023,2185.8,万人,,,,", "森林覆盖率,2023,448,%,,,,"])
    refused(run("observe", "import", f, "--db", filled), "bad.csv: row 3, column 'value'", "above 100%")
    assert snapshot(filled) == before


# ------------------------------------------------------------------ fuzz: malformed observation files


CELLS = st.one_of(
    st.sampled_from(["T05", "常住人口规模", "森林覆盖率", "T21", "2022", "2184.3", "44,8", "-1", "1e308", "nan", "万人", "%",
                     "朝阳区", "火星区", "", " ", '"', "=1+1", "２０２２", "0", "100.5", "城市轨道交通(地铁), 不含市郊铁路"]),
    st.text(min_size=0, max_size=12),
)
HEADERS = st.lists(st.sampled_from(["indicator", "year", "value", "unit", "geo", "scope", "measure", "note", "source",
                                    "published", "指标", "年份", "数值", "soruce", "value", ""]),
                   min_size=1, max_size=9)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=HEADERS, rows=st.lists(st.lists(CELLS, min_size=0, max_size=10), min_size=0, max_size=6))
def test_fuzz_malformed_csv_never_crashes_and_a_refusal_changes_nothing(filled, tmp_path_factory, header, rows):
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    f = tmp_path_factory.mktemp("fz") / "fuzz.csv"
    f.write_text(buf.getvalue(), encoding="utf-8")
    before = snapshot(filled)
    res = run("observe", "import", f, "--db", filled)
    text = said(res)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in text
    assert res.exit_code in (0, 1), text
    if res.exit_code == 1:
        assert "fuzz.csv" in text, text  # the message names the file, and the row and column where there is one
        assert "row " in text or "column" in text or "empty" in text or "binary" in text or "not valid CSV" in text, text
        assert snapshot(filled) == before


# ------------------------------------------------------------------ fuzz: workbooks, GeoJSON features, plan texts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(st.one_of(CELLS, st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                                        st.booleans(), st.none()), min_size=0, max_size=6), min_size=0, max_size=5),
       header=HEADERS, sheets=st.integers(1, 2))
def test_fuzz_malformed_xlsx_never_crashes_and_a_refusal_changes_nothing(filled, tmp_path_factory, rows, header, sheets):
    wb = openpyxl.Workbook()
    for k in range(sheets):
        ws = wb.active if k == 0 else wb.create_sheet(f"s{k}")
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", h) for h in header])
        for r in rows:  # what a workbook can hold: no NaN, no control characters (openpyxl refuses them)
            ws.append([None if isinstance(v, float) and v != v else (ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v)
                       for v in r])
    f = tmp_path_factory.mktemp("fx") / "fuzz.xlsx"
    wb.save(f)
    before = snapshot(filled)
    res = run("observe", "import", f, "--db", filled)
    text = said(res)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in text and res.exit_code in (0, 1), text
    if res.exit_code == 1:
        assert "fuzz.xlsx" in text
        assert snapshot(filled) == before


COORD = st.one_of(st.floats(115.5, 117.4), st.floats(allow_nan=True, allow_infinity=True), st.integers(-1000, 1000))
POINT = st.lists(COORD, min_size=0, max_size=4)
RING = st.lists(POINT, min_size=0, max_size=6)
GEOMETRY = st.one_of(
    st.none(),
    st.fixed_dictionaries({"type": st.just("Polygon"), "coordinates": st.lists(RING, min_size=0, max_size=2)}),
    st.fixed_dictionaries({"type": st.sampled_from(["Point", "LineString", "MultiPolygon", "Nonsense"]),
                           "coordinates": st.one_of(POINT, RING, st.lists(st.lists(RING, max_size=2), max_size=2))}),
)
FEATURE = st.fixed_dictionaries({
    "type": st.just("Feature"), "geometry": GEOMETRY,
    "properties": st.dictionaries(st.sampled_from(["district", "name", "id", "x"]),
                                  st.one_of(st.text(max_size=6), st.integers(), st.none()), max_size=3),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(features=st.lists(FEATURE, min_size=0, max_size=4))
def test_fuzz_malformed_geojson_layers_never_crash_and_a_refusal_changes_nothing(tmp_path_factory, features):
    import json

    from planwatch.store import open_store

    d = tmp_path_factory.mktemp("fg")
    db = d / "s.gpkg"
    open_store(db)  # an empty store
    f = d / "fuzz.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": features}, allow_nan=True), encoding="utf-8")
    res = run("layers", "import", f, "--as", "districts", "--db", db)
    text = said(res)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in text and res.exit_code in (0, 1), text
    if res.exit_code == 1:
        assert "fuzz.geojson" in text
        assert open_store(db).layers().empty


ARTICLE_LINE = st.builds(
    lambda n, body: f"第{n}条　{body}",
    st.integers(-3, 400),
    st.text(alphabet="规划到2025年达到控制在以上左右万人平方公里%。，、（）0123456789一二三四五十百千", max_size=60),
)
PLAN_LINE = st.one_of(ARTICLE_LINE, st.sampled_from(["# 第一章　总则", "# 第二节　目标", "", "|表|1|2|", "$7 5 \\%$"]),
                      st.text(max_size=40))


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(PLAN_LINE, min_size=0, max_size=30), strict=st.booleans())
def test_fuzz_plan_texts_never_crash_extract(tmp_path_factory, lines, strict):
    f = tmp_path_factory.mktemp("ft") / "plan.md"
    f.write_text("\n".join(lines), encoding="utf-8")
    res = run("extract", f, "--format", "json", *(["--strict"] if strict else []))
    text = said(res)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in text and res.exit_code in (0, 1), text
    if res.exit_code == 1:
        assert "plan.md" in text or "第" in text, text
