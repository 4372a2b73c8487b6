"""The spatial indicators scaled out with ``--engine dask``, as an analyst with a big map runs them: the
land statistics and the straight-line coverage on a real cluster of two worker processes give the
default engine's tables, each worker cuts the zones once, the walking network is refused, a bad
``--scheduler`` is refused before any work, and no worker process outlives its run."""

from __future__ import annotations

import json
import os
import threading

import geopandas as gpd
import numpy as np
import pandas as pd
import psutil
import pytest
import shapely
from typer.testing import CliRunner

import planwatch.cli.indicators  # noqa: F401  (registers the access and indicators verbs)
from planwatch.cli.main import app
from planwatch.cluster import client
from planwatch.indicators import coverage
from planwatch.indicators.compute import (
    IndicatorInputError,
    compute_indicators,
    land_statistics,
    overlay_areas,
)
from planwatch.indicators.coverage import CoverageInputError
from planwatch.indicators.scale import (
    KEEP_PREPARED,
    DaskEngine,
    Zones,
    builds_in_this_process,
    content_token,
    prepared,
)
from planwatch.plan.indicators import load_indicator_specs
from planwatch.store import open_store

from .conftest import said

pytest.importorskip("dask_geopandas")
pytest.importorskip("distributed")

CRS = "EPSG:4548"
runner = CliRunner()
AREA_KEYS = ["layer", "level", "geo", "class"]


def children() -> set[int]:
    """This process's child processes, but multiprocessing's resource tracker (started with the first
    worker process, it lives as long as this process does)."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(p.cmdline()):
                out.add(p.pid)
        except psutil.NoSuchProcess:  # exited meanwhile
            pass
    return out


def gone(pids) -> bool:
    """Every one of ``pids`` has exited (waiting a little for the exit to be reaped)."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=15)
    return all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in alive)


@pytest.fixture(scope="module")
def demo(plan):
    from planwatch.demo.onemap import build_demo_layers

    return build_demo_layers(plan)


@pytest.fixture(scope="module")
def specs(plan):
    return load_indicator_specs(plan.meta.id)


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster of two worker processes for the module; afterwards none of them runs."""
    with client("local:2") as c:
        pids = set(c.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids  # processes, not threads of this one
        yield c
    assert gone(pids)


@pytest.fixture(scope="module")
def demo_db(plan, tmp_path_factory):
    from planwatch.services.layers import load_demo

    db = tmp_path_factory.mktemp("dask") / "demo.gpkg"
    load_demo(open_store(db), plan)
    return db


def same_areas(got: pd.DataFrame, ref: pd.DataFrame, keys: list[str]) -> None:
    """The same rows, in the same order, with the areas within 1e-6 relative."""
    assert list(got.columns) == list(ref.columns)
    pd.testing.assert_frame_equal(got[keys], ref[keys])
    assert got["area_km2"].to_numpy() == pytest.approx(ref["area_km2"].to_numpy(), rel=1e-6)


def same_coverage(got, ref) -> None:
    pd.testing.assert_frame_equal(got.shares, ref.shares)
    cols = ["distance_m", "covered", "weight", "district", "ring"] + (["nearest"] if "nearest" in ref.origins else [])
    pd.testing.assert_frame_equal(pd.DataFrame(got.origins[cols]), pd.DataFrame(ref.origins[cols]))


# ------------------------------------------------------------------ on two worker processes


def test_land_statistics_on_two_worker_processes_equal_the_default_engines_and_each_worker_cuts_the_zones_once(
        demo, plan, specs, cluster):
    layers = {k: demo[k] for k in ("districts", "rings", "two_lines_three_zones", "construction_land", "land_use")}
    ref = land_statistics(layers, plan, specs)
    engine = DaskEngine(cluster)
    got = land_statistics(layers, plan, specs, engine=engine)
    same_areas(got, ref, AREA_KEYS)
    assert {"区", "圈层", "两线三区", "全市"} == set(got["level"]) and {"construction_land", "land_use"} == set(got["layer"])
    # each layer shuffled once for its three zone layers, into 4 partitions per worker, each of them near one another
    assert len(engine.shuffled) == 2 and {parts.npartitions for parts in engine.shuffled.values()} == {8}
    districts = shapely.STRtree(np.asarray(demo["districts"].geometry.values, dtype=object))
    for parts in engine.shuffled.values():
        for i in range(parts.npartitions):
            piece = np.asarray(parts.partitions[i].compute().geometry.values, dtype=object)
            assert len(np.unique(districts.query(piece, predicate="intersects")[1])) < len(demo["districts"])
    # the workers ran several partitions each, and each cut each zone layer once
    builds = [counts for counts in cluster.run(builds_in_this_process).values() if counts]
    assert builds and all(set(counts.values()) == {1} for counts in builds)
    assert max(len(counts) for counts in builds) >= 3  # districts, 圈层, 两线三区


def test_straight_line_coverage_on_two_worker_processes_equals_the_default_engines(demo, cluster):
    engine = DaskEngine(cluster)
    for to, within in (("parks", 500), ("community_services", 1000)):
        ref = coverage(demo["residential"], demo[to], within, districts=demo["districts"], rings=demo["rings"])
        got = coverage(demo["residential"], demo[to], within, districts=demo["districts"], rings=demo["rings"], engine=engine)
        same_coverage(got, ref)
        assert 0 < got.share() < 100


def test_random_overlapping_shapes_and_weighted_points_give_the_same_answers_on_the_cluster(cluster):
    rng = np.random.default_rng(15)
    shapes = gpd.GeoDataFrame({"kind": rng.choice(["a", "b", "c"], 400)}, crs=CRS, geometry=[
        shapely.Point(x, y).buffer(r, quad_segs=6) for x, y, r in rng.uniform([0, 0, 20], [5000, 5000, 400], (400, 3))])
    blob = shapely.Point(2500, 2500).buffer(2000, quad_segs=200)  # hundreds of vertices: cut into pieces
    zones = gpd.GeoDataFrame({"zone": ["y", "x", "y"]}, crs=CRS,
                             geometry=[shapely.box(3000, 0, 5000, 2000), blob, shapely.box(0, 0, 1500, 5000)])
    engine = DaskEngine(cluster, npartitions=6)
    ref = overlay_areas(shapes, zones, "zone", by="kind")
    same_areas(engine.overlay_areas(shapes, zones, "zone", by="kind"), ref, ["zone", "kind"])
    assert list(dict.fromkeys(ref["zone"])) == ["y", "x"]  # rows in the order of the zones in their layer
    homes = gpd.GeoDataFrame({"pop": rng.integers(0, 500, 3000)}, crs=CRS, geometry=shapely.points(rng.uniform(0, 5000, (3000, 2))))
    stops = gpd.GeoDataFrame(crs=CRS, geometry=shapely.points(rng.uniform(0, 5000, (40, 2))))
    ref = coverage(homes, stops, 300, weight="pop")
    same_coverage(coverage(homes, stops, 300, weight="pop", engine=engine), ref)


# ------------------------------------------------------------------ on Dask's threads


def test_a_process_prepares_a_zone_layer_once_and_each_thread_its_own_prepared_pieces():
    geoms = np.array([shapely.Point(0, 0).buffer(1000, quad_segs=100), shapely.box(0, 0, 10, 10)], dtype=object)
    labels = np.array(["a", "b"], dtype=object)
    zones = Zones(content_token("zones", geoms, labels), geoms, labels)
    assert content_token("zones", geoms, labels[::-1]) != zones.token  # the labels are part of the content
    z = prepared(zones)
    assert prepared(Zones(zones.token, geoms.copy(), labels)) is z and builds_in_this_process()[zones.token] == 1
    assert len(z.pieces) > 2 and set(z.labels) == {"a", "b"}  # cut into pieces, each with its zone's label
    theirs = []
    t = threading.Thread(target=lambda: theirs.append(z.prepared_pieces()))
    t.start()
    t.join()
    mine = z.prepared_pieces()
    assert mine is z.prepared_pieces() and theirs[0] is not mine
    assert shapely.is_prepared(mine).all() and not shapely.is_prepared(z.pieces).any()
    for k in range(KEEP_PREPARED):  # a long-lived worker keeps the last KEEP_PREPARED zone layers only
        prepared(Zones(f"other-{k}", geoms[1:], labels[1:]))
    prepared(zones)
    assert builds_in_this_process()[zones.token] == 2



def test_every_indicator_on_dask_threads_equals_the_default_engines(demo, plan, specs):
    ref = compute_indicators(demo, plan, specs=specs).results
    got = compute_indicators(demo, plan, specs=specs, engine=DaskEngine()).results
    assert len(ref) > 50 and {"T21", "T34", "T14", "T10", "T09", "T11"} <= set(ref["indicator"])
    text = ["indicator", "name", "level", "geo", "unit", "basis", "method", "layers", "synthetic"]
    pd.testing.assert_frame_equal(got[text], ref[text])
    for col in ("value", "numerator", "denominator"):
        assert got[col].to_numpy() == pytest.approx(ref[col].to_numpy(), rel=1e-6, nan_ok=True)
    euclid = (ref["basis"] == "euclidean").to_numpy()
    assert euclid.any() and (got["value"].to_numpy()[euclid] == ref["value"].to_numpy()[euclid]).all()  # shares equal


def test_one_origin_or_origins_at_one_place_give_the_default_engines_coverage():
    stops = gpd.GeoDataFrame(crs=CRS, geometry=[shapely.Point(0, 0), shapely.box(100, 100, 200, 200)])
    engine = DaskEngine()
    for xy in ([(50, 60)], [(150, 150)] * 5, [(0, 10), (0, 500), (0, 90)]):  # a point, one place, a straight line
        homes = gpd.GeoDataFrame({"pop": [1] * len(xy)}, crs=CRS, geometry=shapely.points(xy))
        same_coverage(coverage(homes, stops, 80, weight="pop", engine=engine), coverage(homes, stops, 80, weight="pop"))


def test_the_walking_network_is_refused_on_the_dask_engine(tmp_path):
    engine = DaskEngine()
    box = gpd.GeoDataFrame(crs=CRS, geometry=[shapely.box(0, 0, 10, 10)])
    with pytest.raises(CoverageInputError, match="network method runs in one process only"):
        coverage(box, box, 100, method="network", engine=engine)
    with pytest.raises(IndicatorInputError, match="drop --engine dask"):
        compute_indicators({}, None, method="network", engine=engine)
    db = tmp_path / "none.gpkg"
    res = runner.invoke(app, ["access", "coverage", "--from", "residential", "--to", "parks", "--within", "500m",
                              "--method", "network", "--engine", "dask", "--db", str(db)])
    assert res.exit_code == 2 and "network method runs in one process only" in " ".join(said(res).split())
    res = runner.invoke(app, ["indicators", "compute", "--year", "2023", "--method", "network", "--engine", "dask", "--db", str(db)])
    assert res.exit_code == 2 and "use --method euclidean" in " ".join(said(res).split())
    assert not db.exists()


# ------------------------------------------------------------------ the verbs


def run_json(*args):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, said(res)
    return json.loads(res.stdout)


def test_cli_compute_and_access_coverage_on_local_2_equal_the_default_engine_and_leave_no_process(demo_db):
    before = children()
    base = ["indicators", "compute", "--year", "2023", "--db", demo_db, "--format", "json"]
    ref, got = run_json(*base), run_json(*base, "--engine", "dask", "--scheduler", "local:2")
    ref_r, got_r = pd.DataFrame(ref["results"]), pd.DataFrame(got["results"])
    text = ["indicator", "level", "geo", "unit", "basis", "method", "layers", "synthetic"]
    pd.testing.assert_frame_equal(got_r[text], ref_r[text])
    assert got_r["value"].to_numpy(float) == pytest.approx(ref_r["value"].to_numpy(float), rel=1e-6)
    assert got["skipped"] == ref["skipped"] == {} and got["notes"] == ref["notes"]

    base = ["access", "coverage", "--from", "residential", "--to", "parks", "--within", "500m", "--db", demo_db, "--format", "json"]
    ref, got = run_json(*base), run_json(*base, "--engine", "dask", "--scheduler", "local:2")
    assert got == ref  # shares, method, warnings: the same records
    res = runner.invoke(app, [*map(str, base[:-2]), "--engine", "dask", "--scheduler", "local:2"])
    assert res.exit_code == 0 and "engine: dask (scheduler local:2)" in " ".join(said(res).split())
    assert children() <= before  # the LocalCluster of each run closed with it


def test_cli_land_statistics_on_dask_threads_equal_the_default_engine(demo_db):
    ref = pd.DataFrame(run_json("indicators", "land", "--db", demo_db, "--format", "json"))
    got = pd.DataFrame(run_json("indicators", "land", "--db", demo_db, "--format", "json", "--engine", "dask"))
    same_areas(got, ref, AREA_KEYS)
    res = runner.invoke(app, ["indicators", "land", "--db", str(demo_db), "--engine", "dask"])
    assert res.exit_code == 0 and "engine: dask (threads in this process)" in said(res)


@pytest.mark.parametrize("args, env, words", [
    (["--engine", "dask", "--scheduler", "local:two"], {}, "give local:N"),
    (["--engine", "dask", "--scheduler", "local:0"], {}, "1 to 256"),
    (["--engine", "dask"], {"PLANWATCH_DASK_SCHEDULER": "spark://x"}, "give local:N"),
    (["--scheduler", "local:2"], {}, "add --engine dask"),
    (["--engine", "spark"], {}, "--engine must be geopandas or dask"),
])
def test_a_bad_engine_or_scheduler_is_refused_with_exit_2_before_any_work(tmp_path, args, env, words):
    db, out = tmp_path / "never.gpkg", tmp_path / "never-out.gpkg"
    before = children()
    for verb in (["indicators", "compute", "--year", "2023"], ["indicators", "land"],
                 ["access", "coverage", "--from", "residential", "--to", "parks", "--within", "500m", "--out", str(out)]):
        res = runner.invoke(app, [*verb, *args, "--db", str(db)], env=env)
        assert res.exit_code == 2, said(res)
        assert words in " ".join(said(res).split()) and "Traceback" not in said(res)
    assert not db.exists() and not out.exists() and children() <= before


def test_on_a_postgis_store_the_dask_engine_gives_the_default_engines_land_statistics_and_coverage(postgis_dsn, demo, plan):
    from planwatch.onemap.layers import import_frame

    store = open_store(postgis_dsn)
    for layer, gdf in (("districts", demo["districts"]), ("rings", demo["rings"]), ("construction_land", demo["construction_land"].iloc[::4]),
                       ("residential", demo["residential"].iloc[::2]), ("parks", demo["parks"])):
        import_frame(gdf, layer, store, plan, source="test", sha256=f"{layer}-sha", synthetic=True)
    base = ["indicators", "land", "--db", postgis_dsn, "--format", "json"]
    ref = pd.DataFrame(run_json(*base))
    same_areas(pd.DataFrame(run_json(*base, "--engine", "dask", "--scheduler", "local:2")), ref, AREA_KEYS)
    assert {"区", "圈层", "全市"} == set(ref["level"])
    base = ["access", "coverage", "--from", "residential", "--to", "parks", "--within", "500m", "--db", postgis_dsn, "--format", "json"]
    assert run_json(*base, "--engine", "dask") == run_json(*base)
