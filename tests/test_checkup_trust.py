"""A check-up report a bureau would sign: one test per problem a reviewer found, on the real figures.

Each test names the problem as the reviewer reported it. The PDF/DOCX language check and the
report's new sections are in test_report.py, test_report_docx.py, test_report_xlsx.py and
test_report_map.py.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.evaluate.engine import checkup, checkup_records
from planwatch.observe import ObservationImportError, import_observations
from planwatch.onemap.rules import evaluate_rules
from planwatch.plan import load_plan
from planwatch.plan.load import plan_dir
from planwatch.report.build import build_context

from .conftest import REAL_OBSERVATIONS, write_csv

MORE_OBSERVATIONS = plan_dir() / "observations" / "observations_more_2020_2022.csv"
X, Y = 450_000.0, 4_420_000.0  # EPSG:4548, central Beijing


def obs(rows):
    """rows: (indicator, year, value, raw_value[, origin, synthetic])"""
    recs = []
    for ind, year, value, raw, *rest in rows:
        origin = rest[0] if rest else "official"
        synthetic = rest[1] if len(rest) > 1 else False
        recs.append({"indicator": ind, "year": year, "geo": "", "value": value, "raw_value": raw, "comparable": True,
                     "scope": "", "origin": origin, "synthetic": synthetic, "source": "test"})
    return pd.DataFrame(recs)


def row(ev, target_id):
    return ev[(ev["id"] == target_id) & (ev["geo"] == "")].iloc[0]


@pytest.fixture
def real_store(store, plan):
    import_observations(REAL_OBSERVATIONS, store, plan)
    import_observations(MORE_OBSERVATIONS, store, plan)
    return store


# ------------------------------------------------------------------ the lights contradict each other


def _supply_layers(year: int, share_inside: float, synthetic: bool) -> dict:
    """Industrial land supply of ``year`` with ``share_inside`` of it inside the production guide zone
    (R01, Art. 56 / A56.1), and a central city whose construction land is 880 km² (R07 / A24.3)."""
    edge = X + 1000
    supply = gpd.GeoDataFrame(
        {"use": ["工业", "工业"], "year": [year, year]},
        geometry=[box(edge - share_inside * 100, Y + i * 200, edge + (1 - share_inside) * 100, Y + i * 200 + 100) for i in range(2)],
        crs="EPSG:4548",
    )
    zone = gpd.GeoDataFrame(geometry=[box(X, Y, edge, Y + 5000)], crs="EPSG:4548")
    layers = {"land_supply": supply, "production_guide": zone}
    for g in layers.values():
        g.attrs["synthetic"] = synthetic
    return layers


def test_the_rules_page_and_the_board_show_one_verdict_per_target(plan):
    """Reviewer: A56.1 (60%) is grey on one page and red as R01 on another."""
    results = evaluate_rules(plan.spatial.rules, _supply_layers(2025, 0.6, synthetic=False), 2025,
                             metric_crs=plan.spatial.metric_crs)
    ctx = build_context(plan, obs([]), 2025, rule_results=results)
    r01 = ctx.rules.set_index("id").loc["R01"]
    a56 = row(ctx.evaluation, "A56.1")
    assert a56.value == pytest.approx(60.0) and a56.level == "red"  # below the 70 % floor in its target year
    assert r01.level == a56.level == "red"
    assert "评级同A56.1" in r01.reason
    # the board counts A56.1 once, under its category, and R01 not a second time
    assert ctx.rollup.set_index("category").loc["创新", "red"] == 1
    assert ctx.counts["red"] == 1


def test_the_board_counts_rules_without_a_target_and_states_its_rule(plan):
    """Reviewer: the spatial-rules page shows 5 red rules, while the board shows 1 red."""
    layers = _supply_layers(2024, 1.0, synthetic=False)
    layers["strategic_reserve"] = gpd.GeoDataFrame(geometry=[box(X + 900, Y, X + 1100, Y + 1000)], crs="EPSG:4548")
    results = evaluate_rules(plan.spatial.rules, layers, 2024, metric_crs=plan.spatial.metric_crs)
    ctx = build_context(plan, obs([]), 2024, rule_results=results)
    rules = ctx.rules.set_index("id")
    assert rules.loc["R04", "level"] == "red"  # supply on strategic reserve land before 2035
    red_rules = set(rules.index[rules["level"] == "red"])
    assert ctx.counts["red"] == len(red_rules) >= 1  # every red on the rules page is on the board
    assert "未对应指标目标的空间规则单独计一项" in ctx.rollup_rule


def test_a_rule_computed_from_synthetic_layers_is_grey_on_every_page(plan):
    results = evaluate_rules(plan.spatial.rules, _supply_layers(2025, 0.6, synthetic=True), 2025,
                             metric_crs=plan.spatial.metric_crs)
    ctx = build_context(plan, obs([]), 2025, rule_results=results)
    assert ctx.rules.set_index("id").loc["R01", "level"] == "grey"
    assert "A56.1" not in set(ctx.evaluation["id"])
    assert ctx.counts["red"] == 0


# ------------------------------------------------------------------ computed values silently replace official ones


def test_official_t21_is_kept_and_graded_when_a_synthetic_value_is_stored_beside_it(plan, store):
    """Reviewer: on a demo store `indicators compute` overwrote the published T21 (88%) with 11.51%
    computed from synthetic layers; T21 then went red with 任务进度-2353%."""
    import_observations(REAL_OBSERVATIONS, store, plan)
    computed = obs([("T21", 2022, 11.51, "11.51", "computed", True)]).assign(
        unit="%", raw_unit="%", conversion="", measure="", note="", published="", method="test", file="t", file_row=1)
    from planwatch.store.base import OBSERVATION_COLUMNS

    store.add_observations(computed[OBSERVATION_COLUMNS], file="t", sha256="0", plan_id=plan.meta.id)
    t21 = store.observations().query("indicator == 'T21' and year == 2022")
    assert sorted(t21["origin"]) == ["computed", "official"]  # both kept
    r = row(checkup(plan, store.observations(), 2022), "T21")
    assert r.value == 88 and r.origin == "official" and r.level == "green"
    assert "-2353" not in r.reason


def test_indicators_compute_stores_nothing_unless_asked(plan, tmp_path):
    from planwatch.demo.onemap import read_base_layers
    from planwatch.store import open_store

    db = tmp_path / "s.gpkg"
    store = open_store(db)
    for t, g in read_base_layers(plan).items():
        store.write_layer(t, g, source="shipped", sha256="0", synthetic=False, notes=[])
    res = CliRunner().invoke(app, ["indicators", "compute", "--year", "2022", "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["stored"] is None and open_store(db).observations().empty


# ------------------------------------------------------------------ forecasts claim certainty they do not have


def test_no_band_from_three_points(plan):
    """Reviewer: 90%预测区间 bands come from 3 points (one degree of freedom)."""
    r = row(checkup(plan, obs([("T21", 2021, 87, "87"), ("T21", 2022, 88, "88")]), 2022), "T21")
    assert r.n_points == 3 and np.isnan(r.forecast_2025_low) and np.isnan(r.forecast_level)


def test_the_2035_pm25_forecast_is_not_negative_and_says_it_was_clipped(plan):
    """Reviewer: the 2035 PM2.5 forecast is −22.3 µg/m³, with a band down to −73.7."""
    o = obs([("T12", 2021, 33, "33"), ("T12", 2022, 30, "30")])  # with the 2020 baseline 38
    r = row(checkup(plan, o, 2022), "T12")
    assert r.forecast_2035 == 0 and r.forecast_2035_clipped and r.forecast_2035_raw == pytest.approx(-22.333, abs=1e-3)
    rec = next(x for x in checkup_records(plan, o, 2022) if x["id"] == "T12")
    assert rec["forecast"]["2035"]["clipped"] is True and rec["forecast"]["2035"]["low"] is None


def test_a_two_point_share_is_bounded_at_100_marked_and_has_no_band(plan):
    """Reviewer: a 2-point series jumps to a clipped 100%, with no band."""
    r = row(checkup(plan, obs([("T18", 2022, 99.5, "99.5")]), 2022), "T18")  # 95 → 99.5 in two years
    assert r.n_points == 2 and np.isnan(r.forecast_2025_low)
    assert r.forecast_2035 == 100 and r.forecast_2035_clipped and r.forecast_2035_raw > 100


# ------------------------------------------------------------------ reasons overstate precision


def test_t01_above_its_band_says_how_far_and_which_rule_made_it_green(plan):
    """Reviewer: T01 6.53 is called "within ±5% of 6", but it is 8.8% above."""
    r = row(checkup(plan, obs([("T01", 2021, 6.53, "6.53")]), 2021), "T01")
    assert r.level == "green" and "±5%范围内" not in r.reason
    assert "相差+8.8%" in r.reason and "有利方向" in r.reason


def test_a_figure_is_quoted_as_published(plan):
    """Reviewer: 159.81 is quoted as 159.8."""
    r = row(checkup(plan, obs([("T38", 2022, 159.81, "159.81")]), 2022), "T38")
    assert "159.81立方米" in r.reason


def test_t21_is_not_flagged_over_a_gap_smaller_than_its_published_precision(plan):
    """Reviewer: T21 is flagged 需加快 over 0.08 points on a figure published as a whole number."""
    r = row(checkup(plan, obs([("T21", 2022, 88, "88")]), 2022), "T21")
    assert r.level == "green" and r.precision == 0.5 and r.precision_benefit
    assert "需加快" not in r.reason and "公布精度（±0.5个百分点）" in r.reason
    # published with a decimal, the same gap decides: 87.9 is behind
    r = row(checkup(plan, obs([("T21", 2022, 87.9, "87.9")]), 2022), "T21")
    assert r.level == "yellow" and not r.precision_benefit


# ------------------------------------------------------------------ old data passes as new


def test_a_2022_value_in_the_2024_checkup_says_it_is_from_2022(plan):
    r = row(checkup(plan, obs([("T05", 2022, 2184.3, "2184.3")]), 2024), "T05")
    assert r.stale and r.reason.startswith("最新数据为2022年")


# ------------------------------------------------------------------ scope as data, not strings


def test_a_change_given_for_the_level_of_t09_is_refused_with_a_hint(plan, store, tmp_path):
    """Reviewer: a row giving a change (−120 km² over 2017–2022) was accepted as the level of T09."""
    f = write_csv(tmp_path / "t09.csv", ["城乡建设用地规模,2022,-120,平方公里,,,2017—2022年减少,某报道"])
    with pytest.raises(ObservationImportError) as e:
        import_observations(f, store, plan)
    msg = str(e.value)
    assert "t09.csv: row 2, column 'value'" in msg and "negative" in msg and "scope column" in msg
    assert store.observations().empty
    # declared as a change, it is kept as a related statistic and never graded
    f = write_csv(tmp_path / "t09b.csv", ["城乡建设用地规模,2022,-120,平方公里,,2017—2022年变化量,,某报道"])
    import_observations(f, store, plan)
    assert checkup(plan, store.observations(), 2022).empty


def test_t37_is_a_central_city_indicator_and_its_central_city_rows_are_graded(plan, real_store):
    """Reviewer: T37 is a 中心城区 indicator, and T20/T21 are 建成区."""
    assert plan.target("T37").scope.geo == "中心城区"
    assert plan.target("T20").scope.geo == plan.target("T21").scope.geo == "建成区"
    r = row(checkup(plan, real_store.observations(), 2022), "T37")
    assert r.value == 74 and r.year == 2021 and "中心城区绿色出行比例74%" in r.reason


def test_a_row_that_is_not_comparable_has_no_method_verdicts(plan, real_store):
    """Reviewer: a row that is not comparable still shows red/"deterioration" in its method fields (T36)."""
    recs = {r["id"]: r for r in checkup_records(plan, real_store.observations(), 2022)}
    t36 = recs["T36"]
    assert t36["value"] == 1148 and t36["year"] == 2021  # the comparable figure (with suburban railways)
    subway = [r for r in t36["related"] if r["value"] in (783.1, 797)]
    assert len(subway) == 2 and all(set(r) >= {"scope", "unit"} and "methods" not in r and "level" not in r for r in subway)


def test_the_more_observations_import_under_the_scope_rules(plan, real_store):
    """The shared file holds a duplicate year with another scope and a count where a ratio is expected."""
    o = real_store.observations()
    assert len(o) == 14 + 26
    t05 = o.query("indicator == 'T05' and year == 2020")
    assert len(t05) == 2 and not t05["comparable"].any()  # census point and a revised year-end, both scoped
    t08 = o.query("indicator == 'T08'")
    assert set(t08["unit"]) == {"万人"} and not t08["comparable"].any()  # volunteers counted, not a ratio
    t36 = o.query("indicator == 'T36' and year == 2021")
    assert sorted(t36["value"]) == [783.1, 1148.0] and t36.set_index("value").loc[1148.0, "comparable"]


def test_the_same_count_without_a_scope_is_refused(plan, store, tmp_path):
    f = write_csv(tmp_path / "t08.csv", ["实名注册志愿者与常住人口比值,2021,449.3,万人,,,,"])
    with pytest.raises(ObservationImportError, match="row 2, column 'unit'.*scope column"):
        import_observations(f, store, plan)
    f = write_csv(tmp_path / "t08b.csv", ["实名注册志愿者与常住人口比值,2021,449.3,,,,,"])
    with pytest.raises(ObservationImportError, match=r"row 2, column 'value'.*times the 2020 baseline 0\.2026"):
        import_observations(f, store, plan)


@pytest.mark.parametrize(
    ("line", "column", "words"),
    [
        ("森林覆盖率,2022,448,%,,,,", "value", "above 100%"),
        ("常住人口规模,2022,-2185.8,万人,,,,", "value", "negative"),
        ("常住人口规模,2022,21843000,万人,,,,", "value", "times the 2020 baseline"),
        ("森林覆盖率,2022,0.448,%,,,,", "value", "looks like a fraction"),
    ],
)
def test_implausible_values_are_refused_saying_why(plan, store, tmp_path, line, column, words):
    f = write_csv(tmp_path / "bad.csv", [line])
    with pytest.raises(ObservationImportError) as e:
        import_observations(f, store, plan)
    assert f"bad.csv: row 2, column '{column}'" in str(e.value) and words in str(e.value)
    assert store.observations().empty


# ------------------------------------------------------------------ one figure, many targets


@pytest.mark.parametrize(("article", "row_id"), [("A113.1", "T12"), ("A20.1", "T05"), ("A68.3", "T20"),
                                                 ("A68.4", "T21"), ("A134.2", "T18"), ("A70.1", "T36")])
def test_article_targets_share_the_data_and_verdict_of_the_row_they_restate(plan, real_store, article, row_id):
    ev = checkup(plan, real_store.observations(), 2022)
    a, t = row(ev, article), row(ev, row_id)
    assert (a.value, a.year, a.level) == (t.value, t.year, t.level)
    assert a.linked_to == row_id and a.source != t.source


# ------------------------------------------------------------------ the demo's board


def test_the_demo_board_grades_every_table_indicator_with_comparable_real_data(plan, real_store):
    ctx = build_context(plan, real_store.observations(), 2022)
    graded = set(ctx.evaluation.loc[(ctx.evaluation["geo"] == "") & ctx.evaluation["id"].str.startswith("T"), "id"])
    comparable = real_store.observations().query("comparable and not synthetic and year <= 2022")
    assert graded == {i for i in comparable["indicator"] if i.startswith("T")}
    assert len(graded) >= 10
    # the others are shown as related statistics, and the report says how many have nothing
    assert {"T04", "T06", "T08", "T09"} <= set(ctx.related["id"])
    assert ctx.counts["nodata"] == (ctx.coverage["status"].str.startswith("暂无数据")).sum() > 0


def test_rules_check_evaluate_and_report_agree_on_a56_1(plan, tmp_path):
    from planwatch.store import open_store

    db = tmp_path / "s.gpkg"
    store = open_store(db)
    for t, g in _supply_layers(2025, 0.6, synthetic=False).items():
        store.write_layer(t, g, source="test", sha256="0", synthetic=False, notes=[])
    runner = CliRunner()
    res = runner.invoke(app, ["rules", "check", "--year", "2025", "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    r01 = next(r for r in json.loads(res.stdout) if r["id"] == "R01")
    res = runner.invoke(app, ["evaluate", "--year", "2025", "--db", str(db), "--format", "json"])
    a56 = next(r for r in json.loads(res.stdout) if r["id"] == "A56.1")
    assert r01["status"] == "fail" and r01["verdict"]["level"] == a56["level"] == "red"
    assert a56["figure"]["origin"] == "computed"


def test_every_method_a_verdict_or_forecast_can_rest_on_is_defined_in_the_method_notes():
    """Reviewer: three methods are never defined."""
    from planwatch.evaluate.engine import METHOD_ZH
    from planwatch.report.view import METHOD_NOTES

    defined = {name for name, text in METHOD_NOTES if len(text) > 20}
    assert set(METHOD_ZH.values()) <= defined
    assert {"公布精度", "数据时效", "官方数据优先", "同一指标", "线性趋势预测", "年均复合增速外推", "物理界限", "回测"} <= defined


@pytest.mark.parametrize("name", ["observations_2021_2022.csv", "observations_more_2020_2022.csv"])
def test_every_shipped_source_names_its_publisher_and_title_and_a_date_or_says_it_is_unknown(name):
    """Reviewer: the sources page lists "journal abstract" and "railinks trade site"; no published date."""
    import re

    rows = pd.read_csv(plan_dir() / "observations" / name, dtype=str, keep_default_na=False)
    for r in rows.to_dict("records"):
        # 发布机构：《标题》, or an honest account of what could not be established
        assert re.search(r"^.+?：《.+》", r["source"]) or "未能确认" in r["source"], r["source"]
        assert re.fullmatch(r"(\d{4}-\d{2}(-\d{2})?)?", r["published"]), r["published"]
    assert (rows["published"] != "").mean() > 0.7
    ctx_sources = build_context(load_plan(), rows.assign(indicator="T05", year=2022, value=1.0), 2022).sources
    assert all(s["published"] for s in ctx_sources[1:])  # a date, or 发布日期不详 where none is known
