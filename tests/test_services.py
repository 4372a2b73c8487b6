"""The service layer (planwatch.services): what the CLI verbs call, and what the web API will call.

Each verb's ``--format json`` keeps the field names it has always printed (pinned here, literally);
each service function returns exactly the records its verb prints; a refusal is a ServiceError with
the verb's own words; and the CLI imports nothing from planwatch but the CLI, the services and the
store, so no domain logic can creep back into it."""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass, field
from pathlib import Path

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.services import (
    ServiceError,
    evaluation,
    extract,
    findings,
    indicators,
    layers,
    observations,
    plans,
    review,
)
from planwatch.store import open_store

from .conftest import REAL_OBSERVATIONS, ROOT, refused, said

runner = CliRunner()
SHIPPED = ROOT / "src/planwatch/plans/beijing-2021-2025"
PLAN_TEXT = ROOT / "tests/fixtures/extract/jiangchuan-2026-2030.md"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def printed(*args):
    """What a verb prints with --format json, parsed."""
    res = run(*args, "--format", "json")
    assert res.exit_code == 0, said(res)
    return json.loads(res.stdout)


def as_printed(records):
    """Records as they come back from being printed as JSON (tuples → lists, NaN → null)."""
    return json.loads(json.dumps(records, ensure_ascii=False))


def keys_at(doc, path: str = "") -> set[str]:
    """The field names at ``path`` of a JSON document ("" the top; "a.b" nested); the field names of
    a list are those of its records, together."""
    nodes = [doc]
    for part in filter(None, path.split(".")):
        nodes = [n[part] for x in nodes for n in (x if isinstance(x, list) else [x]) if part in n]
    records = [n for x in nodes for n in (x if isinstance(x, list) else [x]) if isinstance(n, dict)]
    assert records, f"nothing at {path!r}"
    return set().union(*(r.keys() for r in records))


# ------------------------------------------------------------------ the store every verb reads


@dataclass
class Demo:
    """The demo store (the shipped real observations and the demo one map), its plan and the files
    the verbs read. ``copy()`` gives a fresh copy for a verb that writes."""

    db: Path
    folder: Path
    plan: object
    project: Path  # two 300 m squares: one on farmland, one on the ecological red line
    parks: Path  # 20 parks, as a GeoJSON file to import
    evidence: Path
    copies: list[Path] = field(default_factory=list)

    def copy(self) -> Path:
        target = self.folder / f"copy-{len(self.copies)}.gpkg"
        shutil.copy(self.db, target)
        self.copies.append(target)
        return target


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from planwatch.demo.onemap import load_demo_map
    from planwatch.observe import import_observations

    folder = tmp_path_factory.mktemp("services")
    plan = plans.load()
    db = folder / "demo.gpkg"
    store = open_store(db)
    for csv in sorted((SHIPPED / "observations").glob("observations_*.csv")):
        import_observations(csv, store, plan)
    load_demo_map(store, plan)
    farmland = store.read_layer("farmland")
    farm = farmland.geometry.iloc[0].representative_point()
    red = store.read_layer("eco_redline").geometry.iloc[0].representative_point()
    project = folder / "project.geojson"
    gpd.GeoDataFrame({"id": ["P-1", "P-2"]}, crs=farmland.crs,
                     geometry=[farm.buffer(150, cap_style="square"), red.buffer(150, cap_style="square")],
                     ).to_crs("EPSG:4326").to_file(project, driver="GeoJSON")
    parks = folder / "parks.geojson"
    store.read_layer("parks").iloc[:20].to_crs("EPSG:4326").to_file(parks, driver="GeoJSON")
    evidence = folder / "evidence.txt"
    evidence.write_text("minutes of the review meeting\n", encoding="utf-8")
    return Demo(db, folder, plan, project, parks, evidence)


@pytest.fixture(scope="module")
def judged(demo):
    """A copy of the demo store with one judgement recorded (T16 met, by 张三, with evidence)."""
    db = demo.copy()
    printed("judge", "T16", "--verdict", "met", "--by", "张三", "--evidence", demo.evidence, "--note", "n", "--db", db)
    printed("findings", "generate", "--year", 2022, "--db", db)  # and the 2022 findings register
    return db


# ------------------------------------------------------------------ the verbs, their services, their fields


@dataclass(frozen=True)
class Verb:
    """A verb with --format json: its arguments (given the demo and the store to use), the service
    call that returns its records (given the demo, a store and the store's path), whether it writes
    to the store, and its JSON field names by path (see keys_at)."""

    args: Callable[[Demo, Path], list]
    service: Callable[[Demo, object, Path], object]
    fields: dict[str, set[str]]
    writes: bool = False
    store: str = "demo"  # or "judged": the copy with a judgement


OBSERVATION_FIELDS = {"comparable", "conversion", "file", "file_row", "geo", "import_id", "indicator", "measure", "method",
                      "note", "obs_id", "origin", "published", "raw_unit", "raw_value", "revision", "scope", "source",
                      "synthetic", "unit", "value", "year"}
FINAL_FIELDS = {"baseline_value", "baseline_year", "category", "evidence", "gap", "gap_pct", "id", "judged", "judged_by",
                "judged_on", "linked_to", "name", "obs_published", "obs_source", "precision_benefit", "provisional",
                "reason", "rule", "source", "target_kind", "target_raw", "target_value", "target_year", "unit", "value",
                "value_text", "verdict", "verdict_zh", "year"}
FORECAST_YEAR_FIELDS = {"cagr", "clipped", "high", "interval_level", "linear", "low", "no_band_reason", "unclipped"}
COVERAGE_FIELDS = {
    "": {"method", "out", "shares", "synthetic_layers", "warnings", "weight", "within_m"},
    "shares": {"covered", "geo", "level", "origins", "share_pct", "unreachable", "weight_covered", "weight_total"},
}
STATION_FIELDS = {"": {"method", "rows", "within"}, "rows": {"area_km2", "covered_km2", "district", "share", "stations"}}
INDICATOR_FIELDS = {
    "": {"method", "notes", "results", "skipped", "stored", "warnings", "year"},
    "results": {"basis", "denominator", "geo", "indicator", "layers", "level", "method", "name", "numerator", "synthetic",
                "unit", "value"},
}
ARTICLE_FIELDS = {
    "articles": {"chapter", "line", "number", "section", "text", "title"},
    "articles.chapter": {"label", "number", "title"},
    "articles.section": {"label", "number", "title"},
    "candidates": {"article", "baseline", "comparator", "confidence", "notes", "quote", "raw_value", "subject", "unit",
                   "value", "value_high", "year"},
    "candidates.baseline": {"value", "year"},
}

REGISTER_FIELDS = {
    "article", "closed_at", "closed_by", "closed_how", "code", "commitment", "created_at", "days_overdue", "due",
    "evidence_files", "finding_id", "geo", "illustrative", "kind", "kind_zh", "last_seen_year", "level", "level_zh",
    "observed", "overdue", "reason", "recommendation", "responsible", "severity", "severity_zh", "source", "state",
    "state_zh", "submitted_by", "suggested_unit", "synthetic", "title", "touched", "value", "value_unit", "version",
    "year",
}

VERBS = {
    "plan targets": Verb(
        lambda d, db: ["plan", "targets"],
        lambda d, store, db: plans.targets(d.plan),
        {"": {"aliases", "baseline", "category", "direction", "id", "name", "notes", "quote", "same_as", "scope", "source",
              "source_hint", "targets", "unit"},
         "targets": {"kind", "ocr", "raw", "reference", "value", "value_high", "year"},
         "source": {"article", "table_row"},
         "scope": {"base_year", "definition", "geo", "measure"},
         "baseline": {"value", "year"}},
    ),
    "observe list": Verb(
        lambda d, db: ["observe", "list", "--db", db],
        lambda d, store, db: observations.list_observations(store),
        {"": OBSERVATION_FIELDS},
    ),
    "observe list --all": Verb(
        lambda d, db: ["observe", "list", "--all", "--db", db],
        lambda d, store, db: observations.list_observations(store, all_revisions=True),
        {"": OBSERVATION_FIELDS},
    ),
    "observe history": Verb(
        lambda d, db: ["observe", "history", "T01", "--db", db],
        lambda d, store, db: observations.history(store, "T01"),
        {"": OBSERVATION_FIELDS | {"imported_at", "sha256"}},
    ),
    "evaluate --year": Verb(
        lambda d, db: ["evaluate", "--year", 2022, "--db", db],
        lambda d, store, db: evaluation.checkup(store, d.plan, 2022),
        {"": {"checkup_year", "figure", "forecast", "geo", "id", "level", "linked_to", "methods", "name", "precision",
              "previous", "reason", "related", "source", "stale", "target", "unit", "value", "value_as_published", "year"},
         "methods": {"band", "bounds", "decided_by", "open_sdg", "precision_benefit", "time_progress"},
         "methods.time_progress": {"elapsed", "level", "ratio", "task"},
         "methods.bounds": {"applies", "crossed", "level"},
         "methods.open_sdg": {"cagr_observed", "cagr_required", "category", "level", "ratio"},
         "related": {"comparable", "geo", "measure", "origin", "scope", "source", "synthetic", "unit", "value",
                     "value_as_published", "year"},
         "previous": {"change", "value", "year"},
         "figure": {"origin", "published", "source"},
         "forecast": {"2025", "2035", "interval_level", "method", "n_points"},
         "forecast.2025": FORECAST_YEAR_FIELDS,
         "forecast.2035": FORECAST_YEAR_FIELDS,
         "target": {"kind", "raw", "value", "year"}},
    ),
    "evaluate --final": Verb(
        lambda d, db: ["evaluate", "--final", 2025, "--db", db],
        lambda d, store, db: evaluation.final_account(store, d.plan, 2025),
        {"": FINAL_FIELDS},
        store="judged",
    ),
    "bridge": Verb(
        lambda d, db: ["bridge", "--from", 2025, "--to", 2035, "--db", db],
        lambda d, store, db: evaluation.bridge(store, d.plan, 2025, 2035),
        {"": {"achieved_change", "achieved_growth", "baseline_value", "baseline_year", "category", "from_year",
              "growth_note", "id", "interim_growth", "interim_linear", "interim_year", "level", "level_text", "level_year",
              "name", "pace_ratio", "provisional", "reason", "required_change", "required_growth", "target_kind",
              "target_raw", "target_value", "target_year", "unit"}},
    ),
    "judge": Verb(
        lambda d, db: ["judge", "T16", "--verdict", "met", "--by", "张三", "--evidence", d.evidence, "--note", "n", "--db", db],
        lambda d, store, db: evaluation.record_judgement(store, d.plan, "T16", "met", "张三", evidence=[d.evidence], note="n"),
        {"": {"by", "date", "evidence", "judged_at", "judgement_id", "note", "plan_id", "target", "verdict", "year"},
         "evidence": {"name", "sha256", "size"}},
        writes=True,
    ),
    "findings generate": Verb(
        lambda d, db: ["findings", "generate", "--year", 2022, "--db", db],
        lambda d, store, db: findings.generate(store, d.plan, 2022),
        {"": {"added", "candidates", "not_observed", "reviews", "seen_again", "year"},
         "candidates": {"no_data", "review", "rule", "target"}},
        writes=True,
    ),
    "findings list": Verb(
        lambda d, db: ["findings", "list", "--db", db],
        lambda d, store, db: findings.list_findings(store, d.plan),
        {"": REGISTER_FIELDS},
        store="judged",
    ),
    "findings show": Verb(
        lambda d, db: ["findings", "show", 1, "--db", db],
        lambda d, store, db: findings.show_finding(store, 1),
        {"": {"deadlines", "events", "evidence", "finding", "next_actions"},
         "finding": REGISTER_FIELDS,
         "events": {"action", "actor", "at", "detail", "due", "event_id", "finding_id", "from_state", "illustrative",
                    "responsible", "text", "to_state", "version"}},
        store="judged",
    ),
    "judge --list": Verb(
        lambda d, db: ["judge", "--list", "--db", db],
        lambda d, store, db: evaluation.list_judgements(store),
        {"": {"by", "date", "evidence", "judgement_id", "note", "target", "verdict", "year"}},
        store="judged",
    ),
    "layers list": Verb(
        lambda d, db: ["layers", "list", "--db", db],
        lambda d, store, db: layers.list_layers(store, d.plan),
        {"": {"layers", "missing", "synthetic_label"},
         "layers": {"content_hash", "crs", "description", "features", "imported_at", "layer_type", "name", "notes",
                    "sha256", "source", "synthetic", "table_name", "version"}},
    ),
    "layers import": Verb(
        lambda d, db: ["layers", "import", d.parks, "--as", "parks", "--db", db],
        lambda d, store, db: layers.import_layer(store, d.plan, str(d.parks), "parks"),
        {"": {"content_hash", "crs_in", "crs_stored", "features", "file", "layer_type", "name", "notes", "repairs",
              "sha256", "source_layer", "synthetic", "table_name", "version"}},
        writes=True,
    ),
    "rules check": Verb(
        lambda d, db: ["rules", "check", "--year", 2022, "--db", db],
        lambda d, store, db: review.check_rules(store, d.plan, 2022),
        {"": {"article", "comparator", "description", "details", "id", "kind", "label", "passed", "records", "status",
              "synthetic", "target", "threshold", "tolerance", "unit", "value", "verdict", "year"},
         "verdict": {"level", "reason", "text"}},
        writes=True,  # the rule values are recorded as observations
    ),
    "indicators compute": Verb(
        lambda d, db: ["indicators", "compute", "--year", 2022, "--db", db],
        lambda d, store, db: indicators.compute(store, d.plan, 2022),
        INDICATOR_FIELDS,
    ),
    "indicators compute --store": Verb(
        lambda d, db: ["indicators", "compute", "--year", 2022, "--only", "T21", "--store", "--db", db],
        lambda d, store, db: indicators.compute(store, d.plan, 2022, only=["T21"], store_results=True),
        INDICATOR_FIELDS | {"stored": {"added", "import_id", "revised", "unchanged"}},
        writes=True,
    ),
    "indicators land": Verb(
        lambda d, db: ["indicators", "land", "--db", db],
        lambda d, store, db: indicators.land(store, d.plan),
        {"": {"area_km2", "class", "geo", "layer", "level"}},
    ),
    "access coverage": Verb(
        lambda d, db: ["access", "coverage", "--from", "residential", "--to", "parks", "--within", "500m", "--db", db],
        lambda d, store, db: indicators.access_coverage(store, d.plan, "residential", "parks", "500m"),
        COVERAGE_FIELDS,
    ),
    "access coverage --method network": Verb(
        lambda d, db: ["access", "coverage", "--from", "residential", "--to", "parks", "--within", "500m",
                       "--method", "network", "--db", db],
        lambda d, store, db: indicators.access_coverage(store, d.plan, "residential", "parks", "500m", method="network"),
        COVERAGE_FIELDS,
    ),
    "access stations": Verb(
        lambda d, db: ["access", "stations", "--db", db],
        lambda d, store, db: indicators.station_coverage(store, d.plan),
        STATION_FIELDS,
    ),
    "access stations --shipped": Verb(
        lambda d, db: ["access", "stations", "--shipped", "--db", db],
        lambda d, store, db: indicators.station_coverage(None, d.plan),
        STATION_FIELDS,
    ),
    "review": Verb(
        lambda d, db: ["review", d.project, "--db", db],
        lambda d, store, db: review.review_features(store, d.plan, d.project),
        {"": {"area_m2", "conflicts", "id", "zones"},
         "conflicts": {"article", "label", "layer", "layer_name", "overlap_m2", "overlap_share", "rule", "severity",
                       "synthetic", "when"},
         "zones": {"label", "layer", "layer_name", "overlap_m2", "share", "synthetic", "zone"}},
    ),
    "extract": Verb(
        lambda d, db: ["extract", PLAN_TEXT],
        lambda d, store, db: extract.extract(PLAN_TEXT),
        {"": {"articles", "candidates", "warnings"}, **ARTICLE_FIELDS},
    ),
    "extract --compare": Verb(
        lambda d, db: ["extract", SHIPPED / "source.md", "--compare", "beijing-2021-2025"],
        lambda d, store, db: extract.extract(SHIPPED / "source.md", compare="beijing-2021-2025"),
        {"": {"articles", "candidates", "comparison", "warnings"}, **ARTICLE_FIELDS,
         "comparison": {"counts", "found", "min_confidence", "missed", "plan", "precision", "qualitative", "recall",
                        "recall_confident", "unmatched"},
         "comparison.counts": {"candidates", "candidates_confident", "confident_matched", "curated_article_targets", "found",
                               "found_confident", "missed", "numeric", "qualitative", "unmatched"},
         "comparison.found": {"article", "candidate", "id", "name", "quote", "unit", "unit_agrees", "values", "via"},
         "comparison.qualitative": {"article", "id", "name", "quote", "unit", "values"}},
    ),
}


def store_for(verb: Verb, demo: Demo, judged: Path) -> Path:
    if verb.writes:
        return demo.copy()  # each side writes into a copy of its own, from the same demo store
    return judged if verb.store == "judged" else demo.db


@pytest.mark.parametrize("name", list(VERBS))
def test_every_verb_prints_the_json_fields_it_always_has(name, demo, judged):
    verb = VERBS[name]
    doc = printed(*verb.args(demo, store_for(verb, demo, judged)))
    for path, expected in verb.fields.items():
        assert keys_at(doc, path) == expected, (name, path)


# Fields that differ between two runs of a verb that writes: when it ran.
VOLATILE = {"judge": {"judged_at"}}


@pytest.mark.parametrize("name", list(VERBS))
def test_each_service_returns_the_records_its_verb_prints(name, demo, judged):
    verb = VERBS[name]
    cli_db, svc_db = store_for(verb, demo, judged), store_for(verb, demo, judged)
    doc = printed(*verb.args(demo, cli_db))
    result = verb.service(demo, open_store(svc_db, create=False), svc_db)
    records = as_printed(result.to_records())
    for key in VOLATILE.get(name, ()):
        doc.pop(key), records.pop(key)
    assert records == doc
    with pytest.raises(FrozenInstanceError):  # a result is plain data, not a handle to change
        result.__setattr__(next(iter(result.__dataclass_fields__)), None)


# ------------------------------------------------------------------ refusals: the verb's own words


def refusal(call) -> str:
    with pytest.raises(ServiceError) as e:
        call()
    assert isinstance(e.value, ValueError)
    return str(e.value)


def test_a_refusal_is_a_service_error_with_the_words_the_verb_prints(demo, tmp_path):
    db = demo.db
    cases = [
        (lambda: evaluation.checkup(open_store(db, create=False), demo.plan, 1990),
         ["evaluate", "--year", 1990, "--db", db]),
        (lambda: evaluation.final_account(open_store(db, create=False), demo.plan, 2030),
         ["evaluate", "--final", 2030, "--db", db]),
        (lambda: evaluation.bridge(open_store(db, create=False), demo.plan, 2025, 2031),
         ["bridge", "--from", 2025, "--to", 2031, "--db", db]),
        (lambda: plans.load("nowhere"), ["plan", "targets", "--plan", "nowhere"]),
        (lambda: indicators.check_coverage_options("teleport"),
         ["access", "coverage", "--from", "residential", "--to", "parks", "--within", "500m", "--method", "teleport"]),
        (lambda: extract.extract(tmp_path / "missing.md"), ["extract", tmp_path / "missing.md"]),
    ]
    for call, args in cases:
        message = refusal(call)
        text = refused(run(*args))
        assert " ".join(message.split()) in " ".join(text.split()), (message, text)


def test_a_refused_judgement_never_opens_the_store(demo, tmp_path):
    opened = []

    def opener():
        opened.append(True)
        return open_store(tmp_path / "never.gpkg")

    for target, verdict, by in (("T99", "met", "张三"), ("T16", "perhaps", "张三"), ("T16", "met", " "), ("T05", "met", "张三")):
        refusal(lambda t=target, v=verdict, b=by: evaluation.record_judgement(opener, demo.plan, t, v, b))
    refusal(lambda: evaluation.record_judgement(opener, demo.plan, "T16", "met", "张三", evidence=[tmp_path / "none.pdf"]))
    assert not opened and not (tmp_path / "never.gpkg").exists()


def test_a_store_without_observations_is_refused_in_the_words_of_the_cli(tmp_path):
    db = tmp_path / "empty.gpkg"
    store = open_store(db)
    message = refusal(lambda: evaluation.checkup(store, plans.load(), 2022))
    from planwatch.services import store_label

    assert message.startswith(f"the store {store_label(store)} holds no observations")
    assert refused(run("evaluate", "--year", 2022, "--db", db), "holds no observations: import some first")


def test_a_usage_mistake_is_marked_so_and_exits_2(demo, tmp_path):
    from planwatch.services import reports

    with pytest.raises(ServiceError) as e:
        reports.check_kind("quarterly")
    assert e.value.usage and e.value.exit_code == 2
    res = run("report", "--year", 2022, "--out", tmp_path / "r", "--kind", "quarterly", "--db", demo.db)
    assert res.exit_code == 2 and str(e.value) in " ".join(said(res).split())


def test_an_observation_file_is_imported_through_the_service(tmp_path):
    db = tmp_path / "s.gpkg"
    imported = observations.import_file(lambda: open_store(db), plans.load(), REAL_OBSERVATIONS)
    assert imported.summary.added == 14 and imported.to_records()["rows_read"] >= 14
    assert refusal(lambda: observations.import_file(lambda: open_store(tmp_path / "no.gpkg"), plans.load(),
                                                    tmp_path / "none.csv")) == f"{tmp_path / 'none.csv'}: no such file"
    assert not (tmp_path / "no.gpkg").exists()


def test_progress_is_told_what_is_being_done(demo):
    said_so: list[str] = []
    indicators.land(open_store(demo.db, create=False), demo.plan, progress=said_so.append)
    assert said_so and "overlaying land" in said_so[0]


# ------------------------------------------------------------------ the CLI holds no domain logic

CLI = ROOT / "src/planwatch/cli"
# Imports the CLI may make from planwatch: the CLI itself, the services, the store (opening it) and the
# error type of a missing optional part (planwatch.extras).
# planwatch.web: `planwatch serve` starts the other interface, which calls the services as the CLI does
ALLOWED = ("planwatch.cli", "planwatch.services", "planwatch.store", "planwatch.extras", "planwatch.web")
ALLOWED_NAMES = {"planwatch.plan": {"DEFAULT_PLAN"}}


def cli_imports():
    """(file, enclosing function, module, names) of every import from planwatch under cli/."""
    for path in sorted(CLI.glob("**/*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        owner = {id(node): f.name for f in functions for node in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [(node.module, {a.name for a in node.names})]
            elif isinstance(node, ast.Import):
                modules = [(a.name, set()) for a in node.names]
            else:
                continue
            for module, names in modules:
                if module == "planwatch" or module.startswith("planwatch."):
                    yield path.relative_to(CLI).as_posix(), owner.get(id(node)), module, names


def test_the_web_interface_imports_from_planwatch_only_the_services_the_store_and_itself():
    import ast

    wrong = []
    for path in sorted((CLI.parent / "web").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("planwatch"):
                module = node.module
                if not (module == "planwatch" or any(module == a or module.startswith(a + ".") for a in
                                                     ("planwatch.services", "planwatch.store", "planwatch.web",
                                                      "planwatch.extras"))):
                    wrong.append((path.name, module))
    assert not wrong, f"domain imports in the web interface (call planwatch.services instead): {wrong}"


def test_the_cli_imports_from_planwatch_only_the_cli_the_services_and_the_store():
    seen = list(cli_imports())
    assert any(m.startswith("planwatch.services") for _, _, m, _ in seen)  # the walk does see imports
    wrong = [
        (file, function, module) for file, function, module, names in seen
        if not (any(module == a or module.startswith(a + ".") and a != "planwatch.store" for a in ALLOWED)
                or (module in ALLOWED_NAMES and names <= ALLOWED_NAMES[module]))
    ]
    assert not wrong, f"domain imports in the CLI (call planwatch.services instead): {wrong}"
