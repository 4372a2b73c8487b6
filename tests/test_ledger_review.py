"""`planwatch review PROJECT --reserve`: a project with no forbidden conflict reserves its floor area
(and its new construction land) from its district's pool; a forbidden conflict reserves nothing and
says why; both quotas or neither; the same review again reserves nothing twice."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from pandas.testing import assert_frame_equal
from shapely.geometry import box
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.services import ServiceError
from planwatch.services import ledger as svc
from planwatch.services import review as reviews
from planwatch.store import open_store

from .test_review_features import X, Y, layer, one_map

BY = "测试员"


@pytest.fixture
def mapped(store):
    """A store with the small hand-made one map, two districts over it, and pools funded: 顺义区 has
    10,000 m² of floor area and 2,000 m² of land; 大兴区 nothing."""
    for layer_type, gdf in one_map().items():
        store.write_layer(layer_type, gdf, source="test", sha256="0" * 64, synthetic=False, notes=[])
    districts = layer([box(X - 10000, Y - 10000, X + 700, Y + 10000), box(X + 700, Y - 10000, X + 10000, Y + 10000)],
                      district=["顺义区", "大兴区"])
    store.write_layer("districts", districts, source="test", sha256="1" * 64, synthetic=False, notes=[])
    return store


def fund(store, plan, *, floor="10000", land="2000"):
    svc.release(store, plan, pool="floor_area:顺义区", amount=floor, year=2022, by=BY, when="2022-02-01")
    svc.credit_reduction(store, plan, pool="land:顺义区", demolished=land, ratio="1", ref="拆-1", by=BY, when="2022-02-01")


def projects(tmp_path, rows, name="projects.geojson"):
    """rows: (id, geometry, JZMJ, XZYD) in EPSG:4548; written as GeoJSON (WGS 84) as a user would."""
    gdf = gpd.GeoDataFrame({"XMBH": [r[0] for r in rows], "JZMJ": [r[2] for r in rows], "XZYD": [r[3] for r in rows]},
                           geometry=[r[1] for r in rows], crs="EPSG:4548").to_crs(4326)
    path = tmp_path / name
    gdf.to_file(path)
    return path


FIELDS = ["id=XMBH", "floor_area=JZMJ", "new_land=XZYD"]
CLEAR = box(X - 600, Y + 100, X - 500, Y + 200)  # 集中建设区, inside the urban boundary, in 顺义区
ON_FARMLAND = box(X + 100, Y + 100, X + 200, Y + 200)  # 永久基本农田 (forbidden), in 顺义区


def test_a_clear_project_reserves_its_floor_area_and_land_from_its_districts_pools(mapped, plan, tmp_path):
    fund(mapped, plan)
    path = projects(tmp_path, [("XM-1", CLEAR, 3000.5, 800.0)])
    _review, held = reviews.review_and_reserve(mapped, plan, path, fields=FIELDS, by=BY, when="2022-03-01")
    (h,) = held
    assert (h.project, h.district, h.outcome) == ("XM-1", "顺义区", "reserved")
    assert h.amounts == {"floor_area": 3000.5, "land": 800.0}
    pools = svc.accounts(mapped, plan).pools.set_index("pool")
    assert pools.loc["floor_area:顺义区", ["available", "reserved"]].tolist() == [10000 - 3000.5, 3000.5]
    assert pools.loc["land:顺义区", ["available", "reserved"]].tolist() == [1200.0, 800.0]
    assert svc.check(mapped, plan).ok


def test_a_forbidden_conflict_reserves_nothing_and_says_why(mapped, plan, tmp_path):
    fund(mapped, plan)
    before = mapped.ledger_tables()
    path = projects(tmp_path, [("XM-2", ON_FARMLAND, 3000, 0)])
    _review, (h,) = reviews.review_and_reserve(mapped, plan, path, fields=FIELDS, by=BY)
    assert h.outcome == "refused" and "forbidden" in h.reason and "永久基本农田" in h.reason and "第65条" in h.reason
    for name, table in mapped.ledger_tables().items():
        assert_frame_equal(table, before[name], obj=name)


def test_both_quotas_or_neither_and_the_same_review_again_reserves_nothing_twice(mapped, plan, tmp_path):
    fund(mapped, plan, land="500")
    path = projects(tmp_path, [("XM-3", CLEAR, 1000, 800)])  # the land pool holds 500 of the 800 asked
    _review, (h,) = reviews.review_and_reserve(mapped, plan, path, fields=FIELDS, by=BY)
    assert h.outcome == "refused" and "余额不足 / insufficient quota" in h.reason and "500.00 m²" in h.reason
    pools = svc.accounts(mapped, plan).pools.set_index("pool")
    assert pools.loc["floor_area:顺义区", ["available", "reserved"]].tolist() == [10000.0, 0.0]  # cancelled again
    assert svc.check(mapped, plan).ok
    ok = projects(tmp_path, [("XM-4", CLEAR, 1000, 0)], name="ok.geojson")
    first = reviews.review_and_reserve(mapped, plan, ok, fields=FIELDS, by=BY)[1][0]
    again = reviews.review_and_reserve(mapped, plan, ok, fields=FIELDS, by=BY)[1][0]
    assert first.outcome == again.outcome == "reserved" and [p.repeated for p in again.posted] == [True]
    assert svc.accounts(mapped, plan).pools.set_index("pool").loc["floor_area:顺义区", "reserved"] == 1000.0


def test_the_district_comes_from_the_attribute_when_given(mapped, plan, tmp_path):
    gdf = gpd.GeoDataFrame({"XMBH": ["XM-5"], "JZMJ": [10.0], "QX": ["大兴区"]}, geometry=[CLEAR], crs="EPSG:4548")
    path = tmp_path / "d.geojson"
    gdf.to_crs(4326).to_file(path)
    _review, (h,) = reviews.review_and_reserve(mapped, plan, path, fields=["id=XMBH", "floor_area=JZMJ", "district=QX"],
                                               by=BY)
    assert h.district == "大兴区" and h.outcome == "refused" and "pool:floor_area:大兴区 has 0.00 m² available" in h.reason


def test_bad_project_files_are_refused_naming_the_feature_and_field(mapped, plan, tmp_path):
    fund(mapped, plan)
    before = mapped.ledger_tables()
    bad_area = projects(tmp_path, [("XM-6", CLEAR, 10.0, 0), ("XM-7", CLEAR, -5.0, 0)], name="neg.geojson")
    with pytest.raises(ServiceError, match="feature 2: floor_area -5"):
        reviews.review_and_reserve(mapped, plan, bad_area, fields=FIELDS, by=BY)
    no_field = projects(tmp_path, [("XM-8", CLEAR, 10.0, 0)], name="nofield.geojson")
    with pytest.raises(ServiceError, match="no floor_area attribute.*--field floor_area="):
        reviews.review_and_reserve(mapped, plan, no_field, fields=["id=XMBH"], by=BY)
    two = projects(tmp_path, [("A", CLEAR, 1.0, 0), ("B", CLEAR, 1.0, 0)], name="two.geojson")
    with pytest.raises(ServiceError, match="--project names one project"):
        reviews.review_and_reserve(mapped, plan, two, fields=FIELDS, project="X", by=BY)
    for name, table in mapped.ledger_tables().items():  # nothing posted by any of them (the first feature neither)
        assert_frame_equal(table, before[name], obj=name)


def test_the_cli_reserves_and_exits_1_when_a_project_is_refused(mapped, plan, tmp_path, db):
    fund(mapped, plan)
    path = projects(tmp_path, [("XM-9", CLEAR, 100, 0), ("XM-10", ON_FARMLAND, 100, 0)])
    runner = CliRunner()
    r = runner.invoke(app, ["review", str(path), "--reserve", "--db", str(db), "--by", BY, "--format", "json",
                            *sum((["--field", f] for f in FIELDS), [])])
    assert r.exit_code == 1, r.output
    got = json.loads(r.stdout)
    assert [x["outcome"] for x in got["reservations"]] == ["reserved", "refused"]
    r = runner.invoke(app, ["review", str(path), "--reserve", "--out", str(tmp_path / "o.gpkg"), "--db", str(db)])
    assert r.exit_code == 2 and "--reserve" in r.output
    assert len(open_store(db).ledger_tables()["pw_ledger_reservations"]) == 1
