"""The planwatch command line, as a user (and other issues' checks) call it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from planwatch.cli import app

from .conftest import REAL_OBSERVATIONS, write_csv

runner = CliRunner()


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def test_plan_targets_json_has_the_agreed_fields():
    res = run("plan", "targets", "--plan", "beijing-2021-2025", "--format", "json")
    assert res.exit_code == 0, res.output
    targets = json.loads(res.stdout)
    ids = [t["id"] for t in targets]
    assert ids[:42] == [f"T{i:02d}" for i in range(1, 43)]
    assert any(i.startswith("A24.") for i in ids)
    t5 = targets[4]
    assert set(t5) >= {"id", "name", "unit", "category", "scope", "direction", "baseline", "targets", "source", "quote"}
    assert t5["name"] == "常住人口规模" and t5["unit"] == "万人"
    assert t5["baseline"] == {"year": 2020, "value": 2189.0}
    assert t5["targets"][0] == {"year": 2025, "value": 2300.0, "kind": "ceiling", "raw": "<2300"}
    assert t5["source"] == {"table_row": 5}
    art = next(t for t in targets if t["id"].startswith("A"))
    assert set(art["source"]) == {"article"}


def test_plan_check_passes_on_the_shipped_package():
    res = run("plan", "check")
    assert res.exit_code == 0 and "every quote and number matches" in res.output


def test_observe_import_then_evaluate_json(tmp_path):
    db = tmp_path / "s.gpkg"
    res = run("observe", "import", REAL_OBSERVATIONS, "--db", db)
    assert res.exit_code == 0, res.output
    assert "14 added" in res.output and "not comparable" in res.output
    res = run("evaluate", "--year", 2022, "--db", db, "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    # T36 has only subway-only mileage (another scope): not graded. The article targets that restate a
    # graded table row carry its verdict.
    assert {r["id"] for r in rows} == {"T01", "T05", "T12", "T18", "T20", "T21", "T22", "T29",
                                       "A20.1", "A68.3", "A68.4", "A113.1", "A134.2"}
    for r in rows:
        assert set(r) >= {"id", "year", "value", "level", "reason", "methods", "forecast", "related"}
        assert r["level"] in {"green", "yellow", "red", "grey"}
        assert set(r["methods"]) >= {"time_progress", "open_sdg", "bounds"}
    t21 = next(r for r in rows if r["id"] == "T21")
    assert t21["level"] == "green" and t21["forecast"]["2025"]["linear"] is not None
    assert t21["forecast"]["n_points"] == 3 and t21["forecast"]["interval_level"] is None


def test_the_store_defaults_to_planwatch_db_env(tmp_path):
    db = tmp_path / "env.gpkg"
    res = run("observe", "import", REAL_OBSERVATIONS, env={"PLANWATCH_DB": str(db)})
    assert res.exit_code == 0 and db.exists()


def test_a_bad_import_exits_non_zero_with_the_row_and_column(tmp_path):
    f = write_csv(tmp_path / "bad.csv", ["T05,2023,lots,万人,,,,"])
    res = run("observe", "import", f, "--db", tmp_path / "s.gpkg")
    assert res.exit_code == 1
    assert "row 2, column 'value'" in res.output and "nothing was written" in res.output


def test_history_lists_revisions(tmp_path):
    db = tmp_path / "s.gpkg"
    run("observe", "import", REAL_OBSERVATIONS, "--db", db)
    run("observe", "import", write_csv(tmp_path / "r.csv", ["T05,2022,2184.8,万人,,,,rev"]), "--db", db)
    res = run("observe", "history", "T05", "--year", 2022, "--db", db, "--format", "json")
    revs = json.loads(res.stdout)
    assert [r["revision"] for r in revs] == [1, 2]


def test_report_writes_three_files(tmp_path):
    db = tmp_path / "s.gpkg"
    run("observe", "import", REAL_OBSERVATIONS, "--db", db)
    res = run("report", "--year", 2022, "--out", tmp_path / "rep", "--db", db)
    assert res.exit_code == 0, res.output
    for name in ("report.html", "report.pdf", "report.xlsx"):
        assert (tmp_path / "rep" / name).stat().st_size > 1000


def test_unknown_plan_and_format_are_clear_errors():
    assert "unknown plan" in run("plan", "targets", "--plan", "nowhere").output
    assert "--format must be json or table" in run("plan", "targets", "--format", "xml").output


def test_plan_check_fails_with_a_clear_list_on_a_drifted_package(tmp_path):
    import yaml

    from planwatch.plan.load import plan_dir

    for f in plan_dir().iterdir():
        if f.is_file():
            (tmp_path / f.name).write_bytes(f.read_bytes())
    rows = yaml.safe_load((tmp_path / "targets-articles.yaml").read_text(encoding="utf-8"))
    by_id = {r["id"]: r for r in rows}
    by_id["A24.2"]["targets"][0]["value"] = 3700  # the quote says 3670
    by_id["A27.1"].update(id="A23.9", source={"article": 23})  # its quote is in 第27条
    (tmp_path / "targets-articles.yaml").write_text(yaml.safe_dump(rows, allow_unicode=True), encoding="utf-8")
    units = tmp_path / "units.yaml"  # the table of responsible units follows the renamed target
    units.write_text(units.read_text(encoding="utf-8").replace("A27.1:", "A23.9:"), encoding="utf-8")
    res = run("plan", "check", "--plan", tmp_path, env={"COLUMNS": "300"})
    assert res.exit_code == 1
    assert "A24.2 targets[2025].value: value 3700 does not appear in the quote" in res.output
    assert "quote is not in 第23条 (it is in 第27条)" in res.output
