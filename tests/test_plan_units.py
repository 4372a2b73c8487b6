"""The table of responsible units (units.yaml): who a finding is suggested to go to (交办)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from planwatch.plan import PlanPackageError, load_plan
from planwatch.plan.load import plan_dir
from planwatch.plan.units import known_units, suggested_unit


def test_every_target_of_the_plan_has_a_unit_that_can_be_assigned_to(plan):
    assert plan.units is not None
    known = set(known_units(plan))
    missing = [t.id for t in plan.targets if t.id not in plan.units.indicators]
    assert missing == []
    for t in plan.targets:
        unit = suggested_unit(plan, kind="target", source=t.id)
        assert unit in known, f"{t.id} -> {unit}"
        assert suggested_unit(plan, kind="no_data", source=t.id) == unit


def test_pm25_goes_to_the_ecology_and_environment_bureau(plan):
    assert suggested_unit(plan, kind="target", source="T12") == "市生态环境局"
    assert suggested_unit(plan, kind="no_data", source="A113.1") == "市生态环境局"


@pytest.mark.parametrize(("target_id", "unit"), [
    ("T01", "市科委、中关村管委会"),
    ("T05", "市发展改革委"),
    ("T09", "市规划自然资源委"),
    ("T22", "市园林绿化局"),
    ("T30", "市卫生健康委"),
    ("T31", "市民政局"),
    ("T36", "市交通委"),
    ("T38", "市水务局"),
    ("T39", "市应急管理局"),
    ("T42", "市市场监管局"),
    ("A94.1", "市文物局"),
])
def test_an_indicator_goes_to_the_department_that_acts_on_it(plan, target_id, unit):
    assert suggested_unit(plan, kind="target", source=target_id) == unit


def test_an_article_restating_a_table_row_goes_where_the_row_goes(plan):
    for t in plan.targets:
        if t.same_as:
            assert plan.units.indicators[t.id] == plan.units.indicators[t.same_as], t.id


def test_a_finding_about_one_district_goes_to_that_district(plan):
    assert suggested_unit(plan, kind="target", source="T12", geo="朝阳区") == "朝阳区"
    assert suggested_unit(plan, kind="no_data", source="T05", geo=" 延庆区 ") == "延庆区"
    # an area that is not a district (中心城区, 全市) keeps the department
    assert suggested_unit(plan, kind="target", source="T37", geo="中心城区") == "市交通委"
    assert suggested_unit(plan, kind="target", source="T12", geo="全市") == "市生态环境局"


def test_a_failed_rule_goes_to_the_planning_department(plan):
    assert suggested_unit(plan, kind="rule", source="R01", geo="朝阳区") == "市规划自然资源委"


def test_a_review_conflict_goes_to_the_district_of_the_parcel_else_the_default(plan):
    assert suggested_unit(plan, kind="review", source="farmland", geo="房山区") == "房山区"
    assert suggested_unit(plan, kind="review", source="farmland", geo="") == "市规划自然资源委"
    assert suggested_unit(plan, kind="review", source="farmland", geo="中心城区") == "市规划自然资源委"


def test_an_unmapped_target_falls_back_to_its_primary_then_the_default(plan):
    indicators = {k: v for k, v in plan.units.indicators.items() if k not in {"A113.1", "T05"}}
    units = plan.units.model_copy(update={"indicators": indicators})
    trimmed = plan.model_copy(update={"units": units})
    assert suggested_unit(trimmed, kind="target", source="A113.1") == "市生态环境局"  # same_as T12
    assert suggested_unit(trimmed, kind="target", source="T05") == "市规划自然资源委"
    assert suggested_unit(trimmed, kind="target", source="A20.1") == "市发展改革委"  # still mapped itself
    assert suggested_unit(trimmed, kind="no_data", source="T99") == "市规划自然资源委"


def test_without_a_table_no_unit_is_suggested_and_only_districts_are_known(plan):
    bare = plan.model_copy(update={"units": None})
    for kind in ("target", "rule", "review", "no_data"):
        assert suggested_unit(bare, kind=kind, source="T12", geo="朝阳区") == ""
    assert known_units(bare) == plan.meta.districts


def test_an_unknown_kind_of_finding_is_refused(plan):
    with pytest.raises(ValueError, match="unknown kind of finding 'gossip'"):
        suggested_unit(plan, kind="gossip", source="T12")


def test_known_units_are_the_departments_then_the_districts_once_each(plan):
    known = known_units(plan)
    assert known == plan.units.departments + plan.meta.districts
    assert len(known) == len(set(known))
    doubled = plan.model_copy(update={"units": plan.units.model_copy(
        update={"departments": [*plan.units.departments, "朝阳区"]})})
    others = [d for d in plan.meta.districts if d != "朝阳区"]
    assert known_units(doubled) == [*plan.units.departments, "朝阳区", *others]  # once, at its first place


def test_the_table_says_it_is_a_suggestion_and_not_plan_text():
    head = (plan_dir() / "units.yaml").read_text(encoding="utf-8").split("departments:")[0]
    assert "NOT PLAN TEXT" in head and "交办" in head


# ------------------------------------------------------------------ a broken table is refused


@pytest.fixture
def package(tmp_path):
    """A copy of the shipped plan package; returns a function that edits its units.yaml and loads it."""
    folder = tmp_path / "plan"
    shutil.copytree(plan_dir(), folder)

    def load_with(edit):
        path = folder / "units.yaml"
        table = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(table)
        path.write_text(yaml.safe_dump(table, allow_unicode=True), encoding="utf-8")
        return load_plan(str(folder))

    return load_with


def test_a_table_naming_a_target_the_plan_does_not_have_is_refused(package):
    with pytest.raises(PlanPackageError, match=r"indicator T99 is not a target of this plan"):
        package(lambda t: t["indicators"].update({"T99": "市水务局"}))


def test_a_table_giving_an_indicator_a_unit_not_in_its_departments_is_refused(package):
    with pytest.raises(PlanPackageError, match=r"indicator T12: unit '市环保局' is not one of the departments"):
        package(lambda t: t["indicators"].update({"T12": "市环保局"}))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("default", "市规划委", r"default '市规划委' is not one of the departments"),
    ("rules", "市国土局", r"rules '市国土局' is not one of the departments"),
    ("reviews", "区政府", r"reviews '区政府' is neither 'district' nor one of the departments"),
])
def test_a_table_whose_default_rules_or_reviews_unit_is_unknown_is_refused(package, field, value, message):
    with pytest.raises(PlanPackageError, match=message):
        package(lambda t: t.update({field: value}))


def test_a_department_listed_twice_is_refused(package):
    with pytest.raises(PlanPackageError, match=r"department 市水务局 is listed twice"):
        package(lambda t: t["departments"].append("市水务局"))


def test_a_package_without_a_table_still_loads(package, tmp_path):
    (tmp_path / "plan" / "units.yaml").unlink()
    plan = load_plan(str(tmp_path / "plan"))
    assert plan.units is None
    assert suggested_unit(plan, kind="target", source="T12") == ""


def test_a_table_naming_a_reviewing_department_sends_every_review_there(package):
    plan = package(lambda t: t.update({"reviews": "市规划自然资源委"}))
    assert suggested_unit(plan, kind="review", source="farmland", geo="房山区") == "市规划自然资源委"
