"""The Beijing plan package: complete, valid, and true to its source text."""

from __future__ import annotations

import re

import pytest
import yaml
from pydantic import ValidationError

from planwatch.plan import Kind, PlanPackageError, load_plan, source_text
from planwatch.plan.check import check_plan, normalise_ws
from planwatch.plan.load import plan_dir
from planwatch.plan.model import Measure, Plan

from .conftest import SHARED


def test_all_42_table_rows_are_there_in_order(plan):
    table = [t for t in plan.targets if t.id.startswith("T")]
    assert [t.id for t in table] == [f"T{i:02d}" for i in range(1, 43)]
    assert all(t.source.table_row == int(t.id[1:]) for t in table)


def test_every_table_row_has_a_2020_baseline_entry_and_a_2025_target(plan):
    for t in (t for t in plan.targets if t.id.startswith("T")):
        assert t.baseline is not None, t.id
        assert t.baseline.year in (2019, 2020), t.id
        assert any(v.year == 2025 for v in t.targets), t.id


def test_at_least_60_quantified_article_targets_with_article_and_quote(plan):
    arts = [t for t in plan.targets if t.id.startswith("A")]
    quantified = [t for t in arts if any(v.kind != Kind.QUALITATIVE for v in t.targets)]
    assert len(quantified) >= 55
    assert len(arts) >= 60
    for t in arts:
        assert re.fullmatch(rf"A{t.source.article}\.\d+", t.id)
        assert t.quote.strip()


def test_every_quote_is_verbatim_in_the_seed_and_every_value_in_its_quote(plan):
    problems = check_plan(plan, source_text())
    assert problems == [], "\n".join(map(str, problems))


def test_the_shipped_source_is_the_seed():
    seed = SHARED / "seeds/beijing-near-term-territorial-spatial-plan-2021-2025.md"
    if not seed.exists():
        pytest.skip("shared/ seed not beside the repo")
    assert normalise_ws(seed.read_text(encoding="utf-8")) == normalise_ws(source_text())


def test_the_check_catches_a_drifted_number(plan):
    t5 = plan.target("T05")
    drifted = t5.model_copy(update={"targets": [t5.targets[0].model_copy(update={"value": 2400.0})]})
    bad = plan.model_copy(update={"targets": [drifted]})
    problems = check_plan(bad, source_text())
    assert any("2400" in str(p) for p in problems)


def test_the_check_catches_a_quote_not_in_the_text_and_a_wrong_article(plan):
    a = next(t for t in plan.targets if t.id.startswith("A"))
    moved = a.model_copy(update={"source": a.source.model_copy(update={"article": a.source.article + 1})})
    missing = a.model_copy(update={"quote": a.quote + "并不存在的句子"})
    problems = check_plan(plan.model_copy(update={"targets": [moved, missing]}), source_text())
    assert any(p.field == "source.article" for p in problems)
    assert any(p.field == "quote" for p in problems)


def test_ocr_corrections_keep_the_raw_text_and_a_note(plan):
    corrected = [(t, v) for t in plan.targets for v in t.targets if v.ocr is not None]
    assert corrected, "the seed's $123 \\%$ and $1 5 5 \\%$ need documented corrections"
    for t, v in corrected:
        assert normalise_ws(v.ocr.raw) in normalise_ws(t.quote)
        assert v.ocr.note


def test_garbled_rows_carry_reconstruction_notes(plan):
    for row in (17, 18, 19, 38, 39, 40, 41, 42):
        assert plan.target(f"T{row:02d}").notes, f"T{row} was reconstructed and must say how"
    assert plan.notes


def test_kinds_of_the_table(plan):
    assert plan.target("T05").targets[0].kind == Kind.CEILING
    assert plan.target("T01").targets[0].kind == Kind.STABLE
    assert plan.target("T09").targets[0].kind == Kind.APPROX
    assert plan.target("T11").targets[0].kind == Kind.RATIO and plan.target("T11").targets[0].value == 1.5
    assert plan.target("T16").targets[0].kind == Kind.QUALITATIVE
    assert plan.target("T42").targets[0].kind == Kind.FLOOR
    t41 = plan.target("T41")
    assert t41.baseline.year == 2019 and t41.targets[0].kind == Kind.DECREASE_FROM
    assert t41.targets[0].reference.value == 1.98


def test_rail_mileage_declares_it_includes_suburban_railways(plan):
    assert "市郊铁路" in plan.target("T36").scope.definition


def test_a_broken_package_names_the_file_and_target(tmp_path):
    src = plan_dir()
    for f in src.iterdir():
        if f.is_file():
            (tmp_path / f.name).write_bytes(f.read_bytes())
    rows = yaml.safe_load((tmp_path / "targets-table.yaml").read_text(encoding="utf-8"))
    rows[4]["targets"][0]["kind"] = "sideways"
    (tmp_path / "targets-table.yaml").write_text(yaml.safe_dump(rows, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PlanPackageError, match=r"target T05: targets/0/kind"):
        load_plan(str(tmp_path))


def test_unknown_plan_is_a_clear_error():
    with pytest.raises(PlanPackageError, match="unknown plan 'nowhere'.*beijing-2021-2025"):
        load_plan("nowhere")


# ------------------------------------------------------------------ scope, measure, links, source hints

REVIEWED_LINKS = {
    "A113.1": "T12",
    "A20.1": "T05",
    "A68.3": "T20",
    "A68.4": "T21",
    "A134.2": "T18",
    "A70.1": "T36",
}


def test_article_targets_that_restate_a_table_row_share_its_data(plan):
    for article, row in REVIEWED_LINKS.items():
        assert plan.target(article).same_as == row, article
        assert plan.primary(article) == row and article in plan.linked(row)


def test_a_linked_article_keeps_its_own_quote_and_says_what_it_restates(plan):
    linked = [t for t in plan.targets if t.same_as]
    assert len(linked) >= len(REVIEWED_LINKS)
    for t in linked:
        assert t.quote and t.source.article is not None, t.id
        assert any(t.same_as in n for n in t.notes), f"{t.id} must say in a note that it restates {t.same_as}"
        assert t.same_as in t.source_hint, f"{t.id} shares {t.same_as}'s data, so its hint points there"


def test_green_trips_are_a_central_city_indicator_and_parks_a_built_up_area_one(plan):
    assert plan.target("T37").scope.geo == "中心城区"  # the 2020 baseline 73.1 % is the central city's
    assert plan.target("T20").scope.geo == plan.target("T21").scope.geo == "建成区"


def test_every_target_says_where_its_figure_would_come_from(plan):
    missing = [t.id for t in plan.targets if not t.source_hint.strip()]
    assert missing == []


def test_declines_since_2015_declare_their_base_year_and_counts_and_ratios_their_measure(plan):
    declines = [t for t in plan.targets if t.scope.measure == Measure.CUMULATIVE_DECLINE]
    assert {"T15", "T16", "T17", "A132.4"} <= {t.id for t in declines}
    for t in declines:
        assert t.scope.base_year is not None, t.id
    assert all(plan.target(i).scope.base_year == 2015 for i in ("T15", "T16", "T17", "A132.4"))
    assert {plan.target(i).scope.measure for i in ("T24", "T25", "T26")} == {Measure.COUNT}
    assert {plan.target(i).scope.measure for i in ("T08", "T11")} == {Measure.RATIO}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a["targets"][0].update(value=2400.0), "A20.1: same_as T05, but its 2025 target differs"),
        (lambda a: a.update(unit="人"), "A20.1: same_as T05, but the units differ"),
        (lambda a: a["scope"].update(geo="城六区"), "A20.1: same_as T05, but the scopes differ"),
    ],
)
def test_a_same_as_link_to_a_target_that_measures_something_else_is_refused(plan, change, message):
    meta = plan.meta.model_dump()
    row = plan.target("T05").model_dump()
    article = plan.target("A20.1").model_dump()
    assert Plan.model_validate({"meta": meta, "targets": [row, article]}).primary("A20.1") == "T05"
    change(article)
    with pytest.raises(ValidationError, match=re.escape(message)):
        Plan.model_validate({"meta": meta, "targets": [row, article]})
