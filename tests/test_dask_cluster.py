"""The batch review on a real Dask cluster: a ``LocalCluster`` of two worker processes gives what the
default engine gives, a worker killed mid-run changes nothing in the result, and a refused batch
leaves the old result file as it was."""

from __future__ import annotations

import logging
import os
import pickle
import signal

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.onemap.review import get_engine
from planwatch.onemap.review.geopandas_engine import prepare_zones
from planwatch.onemap.review.review import ReviewInputError, review_file, review_frame

from .test_review_engines import X0, Y0, assert_matches, frame, random_parcels, random_zones
from .test_review_features import _store_with_map, layer, one_map

distributed = pytest.importorskip("distributed")


def local_cluster():
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                    silence_logs=logging.ERROR)


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each, for the whole module (closed after it)."""
    with local_cluster() as lc, distributed.Client(lc) as c:
        yield c


@pytest.fixture(scope="module")
def parcels():
    """3,000 parcels over the hand-made one map of test_review_features, some outside every zone."""
    geoms = random_parcels(3000, seed=21, extent=6000.0)
    return layer(geoms, id=[f"P{i:04d}" for i in range(len(geoms))])


@pytest.fixture(scope="module")
def expected(tmp_path_factory, parcels, plan):
    """The default engine's result file, in this process."""
    d = tmp_path_factory.mktemp("default")
    parcels.to_file(d / "parcels.gpkg")
    review_file(d / "parcels.gpkg", d / "result.gpkg", one_map(), plan, progress=False)
    return d / "result.gpkg"


def assert_same_file(got, expected) -> None:
    """Both layers equal row by row: text and counts exactly, areas and shares to the engines'
    tolerance (relative 1e-9, 1 mm²)."""
    for name in ("parcels", "conflicts"):
        a, b = gpd.read_file(got, layer=name), gpd.read_file(expected, layer=name)
        assert len(a) == len(b) > 0
        floats = [c for c in a.columns if c in ("area_m2", "overlap_m2", "overlap_share")]
        pd.testing.assert_frame_equal(a.drop(columns=floats), b.drop(columns=floats))
        for c in floats:
            assert np.allclose(a[c], b[c], rtol=1e-9, atol=1e-6), c


def on_cluster(client, **options):
    return get_engine("dask", scheduler=client, **options)


def test_zone_pieces_pickle_without_their_lock_tree_or_prepared_copies():
    zp = prepare_zones(random_zones(4, seed=3))
    zp.prepared()  # this thread's prepared copy: it must not travel
    state = zp.__getstate__()
    assert set(state) == {"pieces", "zone", "n_zones", "token"}
    back = pickle.loads(pickle.dumps(zp))
    assert back._prepared == {} and back._lock is not zp._lock and back.__dask_tokenize__() == zp.__dask_tokenize__()
    assert shapely.equals(back.pieces, zp.pieces).all() and (back.zone == zp.zone).all()
    p = random_parcels(500, seed=4)
    from planwatch.onemap.review.geopandas_engine import piece_overlaps

    for a, b in zip(piece_overlaps(p, zp), piece_overlaps(p, back), strict=True):
        assert np.array_equal(a, b)


def test_partitions_along_the_hilbert_curve_meet_few_zone_pieces():
    """The same parcels cut into 8 partitions: in Hilbert order each partition's bounding boxes meet
    a fraction of the zone pieces that partitions in the file's (random) order meet."""
    from planwatch.onemap.review.dask_engine import hilbert_order

    parcels = random_parcels(8000, seed=10, extent=40_000.0)
    zp = prepare_zones(random_zones(30, seed=11, extent=40_000.0))

    def pieces_met(order):
        return sum(len(np.unique(zp.tree.query(parcels[part])[1])) for part in np.array_split(order, 8))

    spatial, by_row = pieces_met(hilbert_order(parcels)), pieces_met(np.arange(len(parcels)))
    assert spatial < 0.3 * by_row


def test_copies_unpickled_in_one_process_share_their_prepared_pieces():
    zp = prepare_zones(random_zones(3, seed=9))
    blob = pickle.dumps(zp)
    a, b = pickle.loads(blob), pickle.loads(blob)
    assert a.prepared() is b.prepared()  # a worker fetching the pieces again does not prepare them again
    assert zp.prepared() is not a.prepared()  # the original, in the process that made it, has its own


def test_each_worker_prepares_the_zone_pieces_once_not_per_task(cluster):
    from planwatch.onemap.review import geopandas_engine
    from planwatch.onemap.review.dask_engine import _sent, partition_overlaps

    zp = prepare_zones(random_zones(6, seed=5))
    p = random_parcels(2000, seed=6)
    on_workers = _sent(cluster, zp)
    parts = [gpd.GeoDataFrame({"_pos": np.arange(s, s + 250)}, geometry=p[s : s + 250]) for s in range(0, 2000, 250)]
    futures = [cluster.submit(partition_overlaps, part, on_workers, workers=[w], pure=False)
               for part, w in zip(parts, sorted(cluster.nthreads()) * 4, strict=True)]  # 4 tasks on each worker
    got = pd.concat(cluster.gather(futures))
    token = zp.__dask_tokenize__()
    seen = cluster.run(lambda: len(geopandas_engine._SHARED[token][0]))
    assert len(seen) == 2 and set(seen.values()) == {1}  # one prepared copy on each worker (one thread each)
    want = partition_overlaps(gpd.GeoDataFrame({"_pos": np.arange(2000)}, geometry=p), zp)
    key = ["parcel", "zone", "overlap_m2"]
    pd.testing.assert_frame_equal(got.sort_values(key, ignore_index=True), want.sort_values(key, ignore_index=True))


def test_the_dask_engine_on_the_cluster_matches_the_default_engine(cluster):
    parcels, zones = random_parcels(3000, seed=7), random_zones(12, seed=8)
    default = get_engine("geopandas").overlaps(frame(parcels), frame(zones))
    got = on_cluster(cluster, npartitions=6).overlaps(frame(parcels), frame(zones))
    assert_matches(got, default.rename(columns={"overlap_m2": "ref"}))
    assert got.equals(got.sort_values(["parcel", "zone"], ignore_index=True))


def test_a_review_in_memory_on_the_cluster_is_the_default_review(cluster, parcels, plan):
    a = review_frame(parcels, one_map(), plan, "geopandas")
    b = review_frame(parcels, one_map(), plan, on_cluster(cluster, npartitions=5))
    assert a.conflicts.equals(b.conflicts) and a.zones.equals(b.zones) and a.features.equals(b.features)


@pytest.mark.parametrize("fmt", ["gpkg", "parquet", "geojson"])
def test_a_batch_read_by_the_workers_writes_the_default_engines_file(cluster, parcels, expected, plan, tmp_path, fmt):
    """GeoPackage and GeoParquet are read by the workers; GeoJSON is read here and sent in partitions."""
    from planwatch.onemap.review.dask_engine import review_file_on_cluster

    src = tmp_path / f"parcels.{fmt}"
    if fmt == "parquet":
        parcels.to_parquet(src, row_group_size=400)
    else:
        parcels.to_file(src)
    steps: dict[str, list] = {}
    batch = review_file_on_cluster(src, tmp_path / "result.gpkg", one_map(), plan,
                                   on_cluster(cluster, partition_rows=500), progress=False,
                                   on_step=lambda stage, n, total: steps.setdefault(stage, []).append((n, total)))
    assert_same_file(tmp_path / "result.gpkg", expected)
    parts = 8 if fmt == "parquet" else 6  # a row group (400 rows) a partition; else 500 rows a partition
    assert len(steps["reading"]) == len(steps["reviewing"]) == len(steps["writing"]) == parts
    assert sum(n for n, _ in steps["writing"]) == steps["writing"][0][1] == 3000
    written = gpd.read_file(expected, layer="parcels")
    assert (batch.features, batch.features_with_conflicts, batch.conflicts) == (
        3000, int((written["n_conflicts"] > 0).sum()), len(gpd.read_file(expected, layer="conflicts")))
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


@pytest.mark.parametrize("stage", ["reviewing", "writing"])
def test_a_worker_killed_mid_run_is_retried_by_dask_and_the_file_is_the_same(parcels, expected, plan, tmp_path, stage):
    """Killed as the spatial partitions are reviewed, or as the rows are made: what it held is
    computed again from its lineage (the file read again)."""
    from planwatch.onemap.review.dask_engine import review_file_on_cluster

    src = tmp_path / "parcels.gpkg"
    parcels.to_file(src)
    with local_cluster() as lc, distributed.Client(lc) as c:
        pids = c.run(os.getpid)
        victim = sorted(pids.values())[0]
        killed = []

        def kill_once(now, n, total):
            if now == stage and not killed:
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        review_file_on_cluster(src, tmp_path / "result.gpkg", one_map(), plan, on_cluster(c, partition_rows=250),
                               progress=False, on_step=kill_once)
        assert killed and victim not in c.run(os.getpid).values()
    assert_same_file(tmp_path / "result.gpkg", expected)


def test_a_bad_feature_in_one_partition_refuses_the_batch_and_keeps_the_old_file(cluster, parcels, plan, tmp_path):
    from planwatch.onemap.review.dask_engine import review_file_on_cluster

    bad = parcels.copy()
    bad.loc[1733, "geometry"] = shapely.box(X0 - 3e6, Y0, X0 - 3e6 + 100, Y0 + 100)  # far outside Beijing
    src = tmp_path / "parcels.parquet"
    bad.to_parquet(src, row_group_size=500)
    out = tmp_path / "result.gpkg"
    out.write_bytes(b"the previous result")
    with pytest.raises(ReviewInputError, match=r"feature 1734 \(id=P1733\): lies outside the plan area"):
        review_file_on_cluster(src, out, one_map(), plan, on_cluster(cluster), progress=False)
    assert out.read_bytes() == b"the previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parcels.parquet", "result.gpkg"]


def test_cli_review_on_a_local_cluster_of_two_processes(tmp_path, parcels, expected):
    db = _store_with_map(tmp_path, synthetic=False)
    src = tmp_path / "parcels.gpkg"
    parcels.to_file(src)
    out = tmp_path / "result.gpkg"
    res = CliRunner().invoke(app, ["review", str(src), "--out", str(out), "--db", str(db), "--engine", "dask",
                                   "--scheduler", "local:2"])
    assert res.exit_code == 0, res.output
    n_hit = int((gpd.read_file(expected, layer="parcels")["n_conflicts"] > 0).sum())
    assert f"3000 features reviewed, {n_hit} with conflicts" in " ".join(res.stdout.split())
    assert_same_file(out, expected)


def test_cli_refuses_a_scheduler_it_cannot_use_before_any_work(tmp_path, monkeypatch):
    db = _store_with_map(tmp_path)
    src = tmp_path / "p.geojson"
    layer([shapely.box(X0, Y0, X0 + 10, Y0 + 10)]).to_file(src)
    run = CliRunner().invoke
    res = run(app, ["review", str(src), "--db", str(db), "--scheduler", "local:2"])
    assert res.exit_code == 2 and "a scheduler runs the dask engine; add --engine dask" in " ".join(res.output.split())
    res = run(app, ["review", str(src), "--db", str(db), "--engine", "dask", "--scheduler", "tcp:/nohost"])
    assert res.exit_code == 2 and "give local:N" in " ".join(res.output.split())
    monkeypatch.setenv("PLANWATCH_DASK_SCHEDULER", "lcoal:2")
    res = run(app, ["review", str(src), "--db", str(db), "--engine", "dask"])
    assert res.exit_code == 2 and "'lcoal:2'" in res.output
    res = run(app, ["review", str(src), "--db", str(db), "--engine", "dask", "--scheduler", "local:2", "--reserve"])
    assert res.exit_code == 2 and "does not go with --scheduler" in " ".join(res.output.split())


def test_a_cluster_that_loses_every_worker_says_so_and_writes_nothing(parcels, plan, tmp_path):
    """With no retry allowed (allowed-failures 0), both workers killed while they read: a
    ClusterError naming what Dask saw, and no file, whole or partial."""
    import dask

    from planwatch.cluster import ClusterError
    from planwatch.onemap.review.dask_engine import review_file_on_cluster

    src = tmp_path / "parcels.parquet"
    parcels.to_parquet(src, row_group_size=250)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), local_cluster() as lc, \
            distributed.Client(lc) as c:
        pids = list(c.run(os.getpid).values())

        def kill_all(stage, n, total):
            if stage == "reading" and pids:
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                pids.clear()

        with pytest.raises(ClusterError, match=r"the Dask cluster failed during the review \(KilledWorker: .*nothing "
                                               r"was written"):
            review_file_on_cluster(src, tmp_path / "result.gpkg", one_map(), plan, on_cluster(c), progress=False,
                                   on_step=kill_all)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parcels.parquet"]
