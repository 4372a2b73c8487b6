"""Importing observations: all or nothing, clear errors, units, revisions, scope."""

from __future__ import annotations

import sqlite3

import openpyxl
import pytest

from planwatch.observe import ObservationImportError, import_observations
from planwatch.observe.units import UnitError, convert

from .conftest import REAL_OBSERVATIONS, write_csv


def test_the_real_published_observations_import(store, plan):
    s = import_observations(REAL_OBSERVATIONS, store, plan)
    assert (s.rows_read, s.added, s.revised) == (14, 14, 0)
    obs = store.observations()
    assert len(obs) == 14
    pop = obs[(obs.indicator == "T05") & (obs.year == 2022)].iloc[0]
    assert pop.value == 2184.3 and pop.unit == "万人" and pop.source.startswith("北京市统计局、国家统计局北京调查总队：《北京市2022年国民经济和社会发展统计公报》")


def test_subway_only_mileage_is_stored_but_not_comparable(store, plan):
    s = import_observations(REAL_OBSERVATIONS, store, plan)
    rail = store.observations().query("indicator == 'T36'")
    assert len(rail) == 2 and not rail.comparable.any()
    assert len(s.not_comparable) == 2


def test_a_file_with_one_bad_row_changes_nothing_and_names_file_row_column(store, plan, tmp_path):
    import_observations(REAL_OBSERVATIONS, store, plan)
    before = store.observations(latest=False)
    f = write_csv(tmp_path / "bad.csv", ["T05,2023,2185.8,万人,,,,", "T12,2023,abc,微克/立方米,,,,"])
    with pytest.raises(ObservationImportError) as e:
        import_observations(f, store, plan)
    assert "bad.csv: row 3, column 'value': 'abc' is not a number" in str(e.value)
    assert store.observations(latest=False).equals(before)
    assert len(store.imports()) == 1


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("不存在的指标,2023,1,%,,,,", "indicator", "unknown indicator '不存在的指标'"),
        ("T05,1999,2180,万人,,,,", "year", "1999 is outside 2000–2100"),
        ("T05,2101,2180,万人,,,,", "year", "2101 is outside 2000–2100"),
        ("T05,二〇二三,2180,万人,,,,", "year", "is not a year"),
        ("T05,2023,2180,平方公里,,,,", "unit", "cannot be converted"),
        ("T05,2023,2180,万人,火星区,,,", "geo", "unknown geo '火星区'"),
    ],
)
def test_each_kind_of_bad_row_is_named(store, plan, tmp_path, row, column, message):
    f = write_csv(tmp_path / "obs.csv", [row])
    with pytest.raises(ObservationImportError) as e:
        import_observations(f, store, plan)
    text = str(e.value)
    assert f"obs.csv: row 2, column '{column}'" in text and message in text
    assert store.observations().empty


def test_a_duplicate_row_within_the_file_names_both_rows(store, plan, tmp_path):
    f = write_csv(tmp_path / "dup.csv", ["T05,2023,2185,万人,,,,", "常住人口规模,2023,2186,万人,,,,"])
    with pytest.raises(ObservationImportError, match=r"dup.csv: row 3, column 'indicator': duplicate of row 2"):
        import_observations(f, store, plan)


def test_a_missing_column_is_named(store, plan, tmp_path):
    f = write_csv(tmp_path / "cols.csv", ["T05,2023,2185"], header="indicator,year,value")
    with pytest.raises(ObservationImportError, match=r"column 'unit': required column is missing"):
        import_observations(f, store, plan)


def test_not_a_table_is_refused(store, plan, tmp_path):
    f = tmp_path / "x.csv"
    f.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(ObservationImportError, match="binary file"):
        import_observations(f, store, plan)
    pdf = tmp_path / "x.pdf"
    pdf.write_text("x")
    with pytest.raises(ObservationImportError, match="unsupported file type .pdf"):
        import_observations(pdf, store, plan)
    with pytest.raises(ObservationImportError, match="file not found"):
        import_observations(tmp_path / "missing.csv", store, plan)


def test_units_are_converted_and_recorded(store, plan, tmp_path):
    f = write_csv(
        tmp_path / "units.csv",
        [
            "T05,2023,21858000,人,,,,",  # 人 -> 万人
            "T09,2023,279000,公顷,,,,",  # 公顷 -> 平方公里
            "T22,2023,0.45,fraction,,,,",  # fraction -> %
            "T13,2023,100000,公顷,,,,",  # 公顷 -> 万亩
        ],
    )
    s = import_observations(f, store, plan)
    obs = store.observations().set_index("indicator")
    assert obs.loc["T05", "value"] == pytest.approx(2185.8)
    assert obs.loc["T09", "value"] == pytest.approx(2790)
    assert obs.loc["T22", "value"] == pytest.approx(45)
    assert obs.loc["T13", "value"] == pytest.approx(150)  # 10万公顷 = 150万亩
    assert obs.loc["T05", "raw_value"] == "21858000" and obs.loc["T05", "raw_unit"] == "人"
    assert "×0.0001" in obs.loc["T05", "conversion"]
    assert len(s.conversions) == 4


def test_unit_conversion_table():
    assert convert(1, "万亩", "公顷")[0] == pytest.approx(666.6666667)
    assert convert(1, "km²", "公顷")[0] == pytest.approx(100)
    assert convert(50, "%", "fraction")[0] == pytest.approx(0.5)
    with pytest.raises(UnitError):
        convert(1, "公里", "万人")


def test_reimport_with_a_different_value_adds_a_revision(store, plan, tmp_path):
    import_observations(REAL_OBSERVATIONS, store, plan)
    again = import_observations(REAL_OBSERVATIONS, store, plan)
    assert (again.added, again.revised, again.unchanged) == (0, 0, 14)
    f = write_csv(tmp_path / "rev.csv", ["常住人口规模,2022,2184.8,万人,,,revised,2023 yearbook"])
    s = import_observations(f, store, plan)
    assert s.revised == 1
    latest = store.observations().query("indicator == 'T05' and year == 2022").iloc[0]
    assert latest.value == 2184.8 and latest.revision == 2 and latest.source == "2023 yearbook"
    hist = store.history("T05", 2022)
    assert list(hist.revision) == [1, 2] and list(hist.value) == [2184.3, 2184.8]
    assert hist.iloc[0].file.endswith("observations_2021_2022.csv")


def test_xlsx_imports_like_csv(store, plan, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["indicator", "year", "value", "unit", "geo", "source"])
    ws.append(["森林覆盖率", 2023, 44.9, "%", "", "2023 bulletin"])
    ws.append(["T05", 2023, 41.5, "万人", "延庆区", "district yearbook"])
    wb.save(tmp_path / "obs.xlsx")
    s = import_observations(tmp_path / "obs.xlsx", store, plan)
    assert s.added == 2
    obs = store.observations()
    assert set(obs.geo) == {"", "延庆区"}


def test_gb18030_csv_decodes(store, plan, tmp_path):
    f = tmp_path / "gbk.csv"
    f.write_bytes("indicator,year,value,unit\n森林覆盖率,2023,44.9,%\n".encode("gb18030"))
    assert import_observations(f, store, plan).added == 1


@pytest.mark.gpkg_only  # the GeoPackage file itself (PostGIS: tests/test_store_postgis.py, test_crash.py)
def test_the_store_is_a_geopackage_with_registered_tables(store, db, plan):
    import_observations(REAL_OBSERVATIONS, store, plan)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
    contents = {r[0]: r[1] for r in con.execute("SELECT table_name, data_type FROM gpkg_contents")}
    assert contents == {"pw_observations": "attributes", "pw_imports": "attributes", "pw_layers": "attributes",
                        "pw_judgements": "attributes", "pw_evidence": "attributes", "pw_schema_history": "attributes",
                        "layer_styles": "attributes", "pw_findings": "attributes", "pw_finding_events": "attributes",
                        "pw_files": "attributes", "pw_finding_evidence": "attributes",
                        "pw_ledger_accounts": "attributes", "pw_ledger_batches": "attributes",
                        "pw_ledger_entries": "attributes", "pw_ledger_reservations": "attributes",
                        "pw_ledger_resolutions": "attributes", "pw_users": "attributes", "pw_tokens": "attributes",
                        "pw_audit": "attributes"}
    assert con.execute("SELECT count(*) FROM pw_observations").fetchone()[0] == 14


def test_an_interrupted_import_leaves_the_store_as_it_was(db, plan, tmp_path):
    """kill -9 in the middle of the write transaction: SQLite's journal rolls it back."""
    import signal
    import subprocess
    import sys
    import textwrap

    from planwatch.store import open_store

    store = open_store(db)
    import_observations(REAL_OBSERVATIONS, store, plan)
    before = store.observations(latest=False)
    script = textwrap.dedent(
        f"""
        import os, signal, pandas as pd
        from planwatch.store.gpkg import GeoPackageStore
        from planwatch.store.base import OBSERVATION_COLUMNS
        s = GeoPackageStore({str(db)!r})
        orig = s._append
        def dying(con, rows, **kw):
            orig(con, rows, **kw)          # rows written inside the open transaction…
            os.kill(os.getpid(), signal.SIGKILL)   # …then the process dies before COMMIT
        s._append = dying
        row = dict.fromkeys(OBSERVATION_COLUMNS, "")
        row.update(indicator="T05", year=2024, value=2180.0, unit="万人", comparable=True, origin="official",
                   synthetic=False, file_row=2)
        s.add_observations(pd.DataFrame([row]), file="x.csv", sha256="0", plan_id="p")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    after = open_store(db).observations(latest=False)
    assert after.equals(before)
    assert len(open_store(db).imports()) == 1


def test_the_template_a_district_fills_in_imports_once_its_values_are_entered(store, plan, tmp_path):
    """``observe template --district``: every target's row with its unit and the district; filled in
    (the empty rows deleted, as its guide says), it imports as it is."""
    from typer.testing import CliRunner

    from planwatch.cli import app

    path = tmp_path / "模板.xlsx"
    r = CliRunner().invoke(app, ["observe", "template", "--district", "顺义区", "--year", "2023", "--out", str(path)])
    assert r.exit_code == 0, r.output
    wb = openpyxl.load_workbook(path)
    ws = wb["observations"]
    header = [c.value for c in ws[1]]
    assert header[:5] == ["indicator", "year", "value", "unit", "geo"]
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in ws.iter_rows(min_row=2)]
    assert [x["indicator"] for x in rows] == [t.id for t in plan.targets]
    assert all(x["geo"] == "顺义区" and x["year"] == 2023 for x in rows)
    t22 = next(i for i, x in enumerate(rows) if x["indicator"] == "T22")
    ws.cell(t22 + 2, header.index("value") + 1, 41.5)
    for i in sorted((i for i in range(len(rows)) if i != t22), reverse=True):
        ws.delete_rows(i + 2)
    wb.save(path)
    assert {"指标", "说明"} <= set(wb.sheetnames)
    summary = import_observations(path, store, plan)
    assert summary.added == 1
    assert CliRunner().invoke(app, ["observe", "template", "--district", "火星区", "--out", str(path)]).exit_code == 2
