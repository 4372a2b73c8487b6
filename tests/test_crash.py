"""kill -9 at random moments of an observation import and of a layer import, on both backends: the
store is always either as it was before or fully written, never partly; it opens and takes the next
write. And two imports at once into one store both land (or one waits), never "database is locked"."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from planwatch.store import layer_content_hash, open_store

KILLS = 20  # per backend and per kind of import
ROWS = 4000  # observations per import: long enough that kills land inside the write
FEATURES = 20_000  # features per layer import

# The child: loads everything first, says "ready", then runs one import and says "done".
CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd, geopandas as gpd, shapely
    from planwatch.store import open_store
    from planwatch.store.base import OBSERVATION_COLUMNS
    target, kind, seed, rows, features = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    store = open_store(target)
    rng = np.random.default_rng(seed)
    if kind == "observations":
        i = np.arange(rows)
        frame = pd.DataFrame({c: "" for c in OBSERVATION_COLUMNS}, index=i)
        frame["indicator"] = [f"K{k % 200:03d}" for k in i]
        frame["year"] = 2021 + (i // 200) % 20
        frame["geo"] = [f"J{k // 4000}" for k in i]
        frame["value"] = seed * 10000 + i * 0.001  # distinct from every other import: each row a revision
        frame["unit"] = "%"
        frame["comparable"] = True
        frame["origin"] = "official"
        frame["synthetic"] = False
        frame["file_row"] = i + 2
        print("ready", flush=True)
        store.add_observations(frame, file=f"kill-{seed}.csv", sha256="0" * 64, plan_id="test")
    else:
        i = np.arange(features)
        x = 440000.0 + (i % 200) * 30.0
        y = 4420000.0 + (i // 200) * 30.0
        gdf = gpd.GeoDataFrame({"n": i.astype("int64"), "seed": np.full(features, seed, dtype="int64")},
                               geometry=shapely.box(x, y, x + 25.0, y + 25.0), crs="EPSG:4548")
        print("ready", flush=True)
        store.write_layer("parcels", gdf, source=f"kill-{seed}", sha256="0" * 64, synthetic=True, notes=[])
    print("done", flush=True)
    """
)


@pytest.fixture(params=["gpkg", "postgis"])
def target(request, tmp_path):
    if request.param == "gpkg":
        return str(tmp_path / "crash.gpkg")
    return request.getfixturevalue("postgis_dsn")


def _run(target: str, kind: str, seed: int, kill_after: float | None) -> tuple[bool, float]:
    """Run one import in a child process; with ``kill_after``, kill -9 it that many seconds after it
    is ready. Returns (whether it finished, seconds from ready to the end)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, target, kind, str(seed), str(ROWS), str(FEATURES)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    t0 = time.monotonic()
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    elapsed = time.monotonic() - t0
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"the import failed on its own: {err}")
    return proc.returncode == 0 and "done" in out, elapsed


def _observation_state(store):
    obs = store.observations(latest=False)
    return len(store.imports()), len(obs), round(float(obs["value"].sum()), 6) if len(obs) else 0.0


def _layer_state(store):
    layers = store.layers()
    if "parcels" not in set(layers["layer_type"]):
        return None
    gdf = store.read_layer("parcels")
    row = gdf.attrs["layer"]
    assert len(gdf) == row["features"] and layer_content_hash(gdf) == row["content_hash"], "a torn layer"
    return row["version"], row["source"], row["content_hash"]


@pytest.mark.parametrize("kind", ["observations", "layer"])
def test_kill_9_at_random_moments_leaves_the_store_before_or_after_never_between(target, kind):
    open_store(target)  # created before the first child
    state = _observation_state if kind == "observations" else _layer_state
    _done, duration = _run(target, kind, seed=0, kill_after=None)  # how long one import takes here
    rng = random.Random(20211)
    outcomes = {"killed before commit": 0, "finished": 0}
    for k in range(1, KILLS + 1):
        store = open_store(target)
        before = state(store)
        finished, _ = _run(target, kind, seed=k, kill_after=rng.uniform(0, duration * 1.1))
        after = state(open_store(target))
        if finished:
            outcomes["finished"] += 1
            assert after != before
        elif after == before:
            outcomes["killed before commit"] += 1
        else:  # killed after COMMIT but before the child printed "done": the whole import is there
            outcomes["finished"] += 1
            if kind == "observations":
                assert after[0] == before[0] + 1 and after[1] == before[1] + ROWS, (before, after)
            else:
                assert after[0] == (before[0] if before else 0) + 1 and after[1] == f"kill-{k}", (before, after)
    # the kills landed inside the imports, not only before or after them
    assert outcomes["killed before commit"] >= KILLS // 4, outcomes
    # and the store takes the next write
    assert _run(target, kind, seed=999, kill_after=None)[0]


@pytest.mark.parametrize("kind", ["observations", "layer"])
def test_two_imports_at_once_both_land(target, kind):
    open_store(target)
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, target, kind, str(seed), str(ROWS), str(FEATURES)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    results = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    for out, err, code in results:
        assert code == 0 and "done" in out, err
        assert "locked" not in err and "serializ" not in err, err
    store = open_store(target)
    if kind == "observations":
        obs = store.observations(latest=False)
        assert len(store.imports()) == 2 and len(obs) == 2 * ROWS
        # the second import revised every series of the first: revisions 1 and 2, none lost or doubled
        assert sorted(np.unique(obs["revision"]).tolist()) == [1, 2]
        assert (obs.groupby(["indicator", "year", "geo"])["revision"].count() == 2).all()
    else:
        row = store.layers().set_index("layer_type").loc["parcels"]
        assert row["version"] == 2 and row["source"] in {"kill-1", "kill-2"}
        assert len(store.read_layer("parcels")) == FEATURES
