"""The Dask engine: the parcels in spatial partitions, each reviewed by the default engine's overlay.

For batches larger than one process should hold. The zones are cut and indexed once
(``geopandas_engine.ZonePieces``). The parcels are sorted along a Hilbert curve (the midpoint of
each one's bounding box, as dask-geopandas' ``spatial_shuffle`` sorts them) and cut into partitions
of neighbouring parcels, so each partition meets few zone pieces.

Where it runs (``scheduler``, see :mod:`planwatch.cluster`):

* ``"threads"`` (the default): Dask's threads scheduler in this process. Shapely releases the GIL,
  so threads use every core without copying the zones; each thread prepares its own copy of the
  pieces.
* ``"local:N"``, ``"tcp://HOST:PORT"`` or a ``distributed.Client``: a ``dask.distributed`` cluster.
  The zone pieces go to the cluster once, as a task's result (:func:`_sent`); a worker fetches them
  for the tasks it runs, not with each task, and prepares them once per thread, not per task.
  :func:`review_file_on_cluster` reviews a whole file there: the workers read it partition by
  partition, so the input never sits whole in this process.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from planwatch.onemap.review.base import ReviewEngine, check_inputs, empty_overlaps, sum_by_pair
from planwatch.onemap.review.geopandas_engine import GeoPandasEngine, ZonePieces, piece_overlaps
from planwatch.onemap.review.subdivide import MAX_VERTICES

PARTITION_ROWS = 100_000  # parcels per partition (as the default engine's chunks)
HILBERT_LEVEL = 16  # 2^16 cells a side: ~3 m over the Beijing plan area (~185 km)
LOCAL_SCHEDULERS = ("threads", "processes", "synchronous", "sync", "single-threaded")


def partition_overlaps(part: gpd.GeoDataFrame, zp: ZonePieces) -> pd.DataFrame:
    """Piece-level overlaps of one partition, with the parcels' global positions (column ``_pos``)."""
    geoms = np.asarray(part.geometry.array, dtype=object)
    p, z, a = piece_overlaps(geoms, zp)
    return pd.DataFrame({"parcel": part["_pos"].to_numpy()[p], "zone": z, "overlap_m2": a})


def hilbert_order(geoms: np.ndarray) -> np.ndarray:
    """Positions of ``geoms`` sorted along a Hilbert curve over their total bounds."""
    if len(geoms) == 0:
        return np.empty(0, np.int64)
    h = gpd.GeoSeries(geoms).hilbert_distance(level=HILBERT_LEVEL).to_numpy()
    return np.argsort(h, kind="stable")


class DaskEngine(ReviewEngine):
    """Spatial partitions of parcels, the default engine's overlay on each, summed back.

    ``scheduler``: ``"threads"`` (default; or another of Dask's local schedulers), a cluster as
    ``"local:N"`` / ``"tcp://HOST:PORT"`` (checked by :func:`planwatch.cluster.scheduler_from`), or
    an open ``distributed.Client`` (used, left open). ``$PLANWATCH_DASK_SCHEDULER`` is read by the
    service layer, not here. ``partition_rows``: parcels per partition (``npartitions`` overrides it
    for :meth:`overlaps`)."""

    name = "dask"

    def __init__(self, npartitions: int | None = None, scheduler=None, workers: int | None = None,
                 max_vertices: int = MAX_VERTICES, partition_rows: int = PARTITION_ROWS):
        from planwatch.cluster import scheduler_from

        if scheduler is None or scheduler in LOCAL_SCHEDULERS:
            scheduler = scheduler or "threads"
        elif isinstance(scheduler, str):
            scheduler = scheduler_from(scheduler)
        self.npartitions = npartitions
        self.scheduler = scheduler
        self.workers = workers or os.cpu_count() or 1
        self.partition_rows = max(1, int(partition_rows))
        self.local = GeoPandasEngine(max_vertices=max_vertices)

    @property
    def on_cluster(self) -> bool:
        """True when the engine runs on a ``dask.distributed`` cluster, not in this process."""
        return not (isinstance(self.scheduler, str) and self.scheduler in LOCAL_SCHEDULERS)

    def overlaps(self, parcels: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> pd.DataFrame:
        pg, zg = check_inputs(parcels, zones)
        if len(pg) == 0 or len(zg) == 0:
            return empty_overlaps()
        zp = self.local.prepare(zg)
        order = hilbert_order(pg)
        if self.on_cluster:
            result = self._on_cluster(pg, order, zp, getattr(parcels, "crs", None))
        else:
            result = self._in_process(pg, order, zp, getattr(parcels, "crs", None))
        return sum_by_pair(
            result["parcel"].to_numpy(), result["zone"].to_numpy(), result["overlap_m2"].to_numpy(), zp.n_zones
        )

    def _count(self, n: int, workers: int) -> int:
        return min(self.npartitions or max(workers, -(-n // self.partition_rows)), n)

    def _in_process(self, pg, order, zp, crs) -> pd.DataFrame:
        import dask
        import dask_geopandas

        frame = gpd.GeoDataFrame({"_pos": order.astype(np.int64)}, geometry=pg[order], crs=crs)
        # sort=False keeps the Hilbert order: partitions of neighbouring parcels
        dframe = dask_geopandas.from_geopandas(frame, npartitions=self._count(len(pg), self.workers), sort=False)
        pieces = dframe.map_partitions(partition_overlaps, zp, meta=empty_overlaps())
        with dask.config.set(num_workers=self.workers):
            return pieces.compute(scheduler=self.scheduler)

    def _on_cluster(self, pg, order, zp, crs) -> pd.DataFrame:
        from distributed import as_completed

        from planwatch.cluster import client

        with client(self.scheduler) as c, _cluster_errors():
            k = self._count(len(pg), max(1, sum(c.nthreads().values())))
            cuts = np.array_split(order, k)
            frames = [gpd.GeoDataFrame({"_pos": ix.astype(np.int64)}, geometry=pg[ix], crs=crs) for ix in cuts]
            zp_on_workers = _sent(c, zp)
            futures = [c.submit(partition_overlaps, part, zp_on_workers) for part in c.scatter(frames)]
            parts = [f.result() for f in as_completed(futures)]
            del zp_on_workers, futures
        return pd.concat(parts, ignore_index=True) if parts else empty_overlaps()


# ------------------------------------------------------------------ a whole file, on a cluster


def review_file_on_cluster(
    path: str | Path,
    out_gpkg: str | Path,
    store_or_layers,
    plan,
    engine: DaskEngine,
    *,
    crs: str | None = None,
    fields=None,
    encoding: str | None = None,
    progress: bool = True,
    on_step: Callable[[str, int, int], None] | None = None,
):
    """Review a file of parcels on ``engine``'s cluster and write ``out_gpkg`` (layers ``parcels``
    and ``conflicts``, as :func:`planwatch.onemap.review.review.review_file` writes them, in the
    file's order), all or nothing. Returns a
    :class:`~planwatch.onemap.review.review.BatchReview` (counts, not rows).

    1. **read and check**: a GeoPackage (``dask_geopandas.read_file``, ``partition_rows`` rows a
       partition) or a GeoParquet file (``dask_geopandas.read_parquet``, a row group a partition) is
       read by the workers, so the file needs to be at the same path on them (it is, for
       ``local:N``). Any other format is read here and sent in partitions. Each partition is checked
       and brought to the metric CRS as :func:`~planwatch.onemap.review.review.prepare_features` does,
       and given its Hilbert distance over the plan area's extent.
    2. **review**: the parcels are shuffled by Hilbert distance into spatial partitions (Dask's
       task-based shuffle, so a lost worker's part is recomputed from its lineage), and each
       partition's conflict overlaps are measured against the zone pieces, sent once to each worker.
    3. **write**: the overlaps are shuffled back to the file's partitions; each partition is read
       and checked again (the workers do not keep the whole file through the shuffle) and its rows
       are made on the workers (at most two partitions per worker thread ahead of this process) and
       appended here, in order, to the parts of a :class:`~planwatch.onemap.review.review.ReviewGpkg`,
       whose GeoPackage replaces ``out_gpkg`` once whole.

    ``progress``: Rich bars on stderr fed by the cluster's finished tasks. ``on_step(stage, n,
    total)`` is called as each task of a stage finishes: ``reading`` and ``writing`` count parcels,
    ``reviewing`` spatial partitions, ``saving`` the two layers written to the GeoPackage.
    A bad feature raises :class:`~planwatch.onemap.review.review.ReviewInputError` naming it; a
    cluster that loses a task's workers too often raises :class:`planwatch.cluster.ClusterError`.
    Either way ``out_gpkg`` is left as it was.
    """
    from planwatch.cluster import client
    from planwatch.onemap.review.review import (
        BatchReview,
        ReviewGpkg,
        nonempty_zone_rows,
        progress_bars,
        review_file,
        review_zones,
    )

    rz = review_zones(store_or_layers, plan)
    zone_rows = nonempty_zone_rows(rz.zones)
    zp = engine.local.prepare(rz.zones.iloc[zone_rows].reset_index(drop=True))
    zones_meta = pd.DataFrame(rz.zones.drop(columns=rz.zones.geometry.name))
    conflict = (zones_meta["purpose"] == "conflict").to_numpy()
    source = str(path)

    bars = {"reading": f"reading and checking {Path(path).name}", "reviewing": "reviewing spatial partitions",
            "writing": "making the rows", "saving": f"writing {Path(out_gpkg).name} (layers)"}
    with client(engine.scheduler) as c, _cluster_errors(), (progress_bars(bars) if progress else _no_bars()) as bar:

        def step(name: str, n: int, total: int) -> None:
            bar(name, n, total)
            if on_step:
                on_step(name, n, total)

        parts = _partitions(c, path, engine.partition_rows, fields, encoding)
        if parts.total == 0:  # nothing to spread: the in-process review writes the empty layers
            review_file(path, out_gpkg, store_or_layers, plan, engine.local, crs=crs, progress=False)
            return BatchReview(Path(out_gpkg), 0, 0, 0, list(rz.missing_layers), [])
        # held until the end: a part lost with a worker is computed again from them
        plan_on_workers, zp_on_workers = _sent(c, plan), _sent(c, zp)
        extent = _metric_extent(plan)
        checking = [_delayed(_checked_partition)(part, start, plan_on_workers, crs, parts.mapping, source, extent)
                    for part, start in zip(parts.partitions, parts.starts, strict=True)]
        checked = c.compute(checking)
        _finish("reading", checked, step, parts.sizes)
        overlaps = _spatial_overlaps(c, checked, zp_on_workers, zone_rows, conflict)
        _finish("reviewing", overlaps, step)
        # the checked parcels are let go: each file partition is read and checked again when its rows
        # are made, so the workers never hold the whole file twice (here and shuffled)
        del checked
        routed = _routed(c, overlaps, parts.starts, parts.total)
        del overlaps

        repaired: list[str] = []
        counts = np.zeros(3, np.int64)  # features, features with conflicts, conflicts
        window = 2 * max(1, sum(c.nthreads().values()))  # partitions made on the workers ahead of the writer
        waiting: deque = deque()
        with ReviewGpkg(out_gpkg) as gpkg:

            def write_next() -> None:
                nonlocal repaired
                part_parcels, part_conflicts, part_repaired = waiting.popleft().result()
                gpkg.append(part_parcels, part_conflicts)
                repaired += part_repaired
                counts[:] += (len(part_parcels), int((part_parcels["n_conflicts"] > 0).sum()), len(part_conflicts))
                step("writing", len(part_parcels), parts.total)

            for j, start in enumerate(parts.starts):
                waiting.append(c.compute(_delayed(_assembled)(checking[j], routed[j], start, zones_meta,
                                                              rz.missing_layers)))
                routed[j] = None  # held by that task only: the workers drop it once it has run
                if len(waiting) >= window:
                    write_next()
            while waiting:
                write_next()
            gpkg.commit(on_layer=lambda layer: step("saving", 1, len(ReviewGpkg.LAYERS)))
        del plan_on_workers, zp_on_workers
    return BatchReview(Path(out_gpkg), int(counts[0]), int(counts[1]), int(counts[2]), list(rz.missing_layers),
                       repaired)


def _finish(stage: str, futures: list, step: Callable[[str, int, int], None], sizes: list[int] | None = None) -> None:
    """Wait for a stage's tasks, calling ``step`` as each finishes (the cluster's own task stream);
    a task's error is raised as it is (a bad feature: ReviewInputError)."""
    from distributed import as_completed, wait

    index = {f.key: i for i, f in enumerate(futures)}
    total = sum(sizes) if sizes else len(futures)
    for f in as_completed(futures):
        if f.status == "error":
            f.result()
        step(stage, sizes[index[f.key]] if sizes else 1, total)
    # a task that finished early may have been lost with its worker since, and be running again:
    # what the next stage lets go of must not be in use by it
    wait(futures)
    for f in futures:
        if f.status == "error":
            f.result()


class _Partitions:
    """The file in partitions: for each, a lazy partition (or a future) and its first row."""

    def __init__(self, partitions: list, sizes: list[int], mapping: dict[str, str]):
        keep = [i for i, n in enumerate(sizes) if n > 0]  # an empty row group has nothing to review
        self.partitions = [partitions[i] for i in keep]
        self.sizes = [sizes[i] for i in keep]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes else np.empty(0, np.int64)
        self.starts = [int(starts[i]) for i in keep]
        self.total = int(sum(sizes))
        self.mapping = mapping


def _partitions(c, path, rows: int, fields, encoding) -> _Partitions:
    """Read a GeoPackage or GeoParquet file on the workers, in partitions; any other file (or one
    these readers refuse) is read here with planwatch's reader, its checks and messages, and sent."""
    import pyogrio

    from planwatch.onemap.geometry import rename_fields
    from planwatch.onemap.layers import LayerImportError, parse_field_map, read_options, split_layer_spec
    from planwatch.onemap.review.review import ReviewInputError, read_features

    file, member = split_layer_spec(path)
    suffix = file.suffix.lower()
    ddf = sizes = None
    try:
        mapping = parse_field_map(fields, str(file))
        if file.exists() and suffix == ".gpkg":
            import dask_geopandas

            layers = [str(n) for n, g in pyogrio.list_layers(file) if g is not None]
            layer = member or (layers[0] if len(layers) == 1 else None)
            if layer is not None:
                ddf = dask_geopandas.read_file(str(file.resolve()), layer=layer, chunksize=rows)
                total = pyogrio.read_info(file, layer=layer)["features"]
                sizes = [min(rows, total - s) for s in range(0, total, rows)]  # as read_file cuts them
        elif file.exists() and suffix in (".parquet", ".geoparquet") and member is None:
            import dask_geopandas
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(file).metadata
            ddf = dask_geopandas.read_parquet(str(file.resolve()), split_row_groups=True)
            sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    except LayerImportError as e:
        raise ReviewInputError(str(e).replace("layer refused, nothing was written", "features refused")) from e
    except Exception:  # noqa: BLE001 - read here instead: planwatch's reader says what is wrong with the file
        ddf = None
    if ddf is not None and ddf.npartitions == len(sizes):
        _, _, problems = rename_fields(ddf._meta, mapping, str(file))  # an unknown --field is refused before any work
        if problems:
            raise ReviewInputError(str(LayerImportError(problems)).replace("layer refused, nothing was written",
                                                                           "features refused"))
        return _Partitions(list(ddf.to_delayed()), sizes, mapping)
    with read_options(encoding=encoding, fields=fields or ()):
        gdf = read_features(path).reset_index(drop=True)
    cuts = list(range(0, len(gdf), rows))
    return _Partitions(c.scatter([gdf.iloc[s : s + rows] for s in cuts]), [len(gdf.iloc[s : s + rows]) for s in cuts], {})


def _metric_extent(plan) -> tuple[float, float, float, float]:
    """The plan area's bounds in the metric CRS: the extent of the Hilbert curve (every reviewed
    feature lies inside it, so no pass over the data is needed to find one)."""
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", plan.spatial.metric_crs, always_xy=True)
    return tuple(t.transform_bounds(*plan.spatial.plan_area_bounds_wgs84))


def _checked_partition(part, start: int, plan, crs, mapping, source: str, extent) -> gpd.GeoDataFrame:
    """One partition read, checked and brought to the metric CRS (``prepare_features``), with the
    parcels' positions in the file (``_pos``), their Hilbert distances and (``attrs["repaired"]``) the
    repairs made, features numbered as in the file."""
    from planwatch.onemap.geometry import rename_fields
    from planwatch.onemap.review.review import numbered_from, prepare_features, renumbered

    part = part.reset_index(drop=True)
    if mapping:
        part, _notes, _problems = rename_fields(part, mapping, source)  # checked on the client
    pos = np.arange(start, start + len(part), dtype=np.int64)
    if "id" not in part.columns:
        part = part.assign(id=pos + 1)  # the 1-based row number, as review_file names them
    with numbered_from(start):
        feats, repaired = prepare_features(part, plan, source=source, crs=crs)
    feats["_pos"] = pos
    feats["_hilbert"] = feats.geometry.hilbert_distance(total_bounds=extent, level=HILBERT_LEVEL).to_numpy(np.int64)
    feats.attrs["repaired"] = [renumbered(r, start) for r in repaired]
    return feats


def _spatial_overlaps(c, checked: list, zp_on_workers, zone_rows: np.ndarray, conflict: np.ndarray) -> list:
    """Futures of the conflict overlaps (parcel position, zone row, m²) of the Hilbert partitions."""
    import dask.dataframe as dd

    meta = gpd.GeoDataFrame({"_pos": np.empty(0, np.int64), "_hilbert": np.empty(0, np.int64)},
                            geometry=gpd.GeoSeries([], crs=None))
    parcels = dd.from_delayed([_delayed(_spatial_columns)(f) for f in checked], meta=meta, verify_meta=False)
    cuts = c.compute(parcels["_hilbert"].quantile(np.linspace(0, 1, len(checked) + 1))).result()
    divisions = sorted({int(x) for x in np.asarray(cuts)})
    if len(divisions) < 2:
        divisions = [divisions[0], divisions[0] + 1]
    spatial = parcels.set_index("_hilbert", divisions=divisions, sorted=False, shuffle_method="tasks")
    pieces = spatial.map_partitions(_conflict_overlaps, zp_on_workers, zone_rows, conflict, meta=empty_overlaps())
    return c.compute(list(pieces.to_delayed()))


def _spatial_columns(feats: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(feats[["_pos", "_hilbert"]], geometry=feats.geometry.array, crs=None)


def _conflict_overlaps(part, zp: ZonePieces, zone_rows: np.ndarray, conflict: np.ndarray) -> pd.DataFrame:
    """A spatial partition's overlaps with the conflict zones (the GeoPackage keeps no zone rows)."""
    ov = partition_overlaps(part, zp)
    ov = sum_by_pair(ov["parcel"].to_numpy(), ov["zone"].to_numpy(), ov["overlap_m2"].to_numpy(), zp.n_zones)
    rows = zone_rows[ov["zone"].to_numpy()]
    keep = conflict[rows]
    return pd.DataFrame({"parcel": ov["parcel"].to_numpy()[keep], "zone": rows[keep],
                         "overlap_m2": ov["overlap_m2"].to_numpy()[keep]})


def _routed(c, overlaps: list, starts: list[int], total: int) -> list:
    """The overlaps shuffled back to the file's partitions: futures, one per partition, in order."""
    import dask.dataframe as dd

    frame = dd.from_delayed(overlaps, meta=empty_overlaps(), verify_meta=False)
    back = frame.set_index("parcel", divisions=[*starts, total], sorted=False, shuffle_method="tasks")
    routed = c.compute(list(back.to_delayed()))
    from distributed import wait

    wait(routed)
    return routed


def _assembled(feats: gpd.GeoDataFrame, ov: pd.DataFrame, start: int, zones_meta: pd.DataFrame,
               missing_layers: list[str]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, list[str]]:
    """A file partition's two GeoPackage layers (``gpkg_layers``) and its repairs."""
    from planwatch.onemap.review.review import gpkg_layers, review_overlaps

    ov = ov.reset_index().sort_values(["parcel", "zone"], kind="stable")  # as the default engine orders them
    result = review_overlaps(
        feats[["id", "area_m2", "geometry"]].reset_index(drop=True), zones_meta,
        ov["parcel"].to_numpy(np.int64) - start, ov["zone"].to_numpy(np.int64), ov["overlap_m2"].to_numpy(),
        missing_layers=missing_layers, repaired=feats.attrs.get("repaired", []), zones=False,
    )
    parcels, conflicts = gpkg_layers(result)
    return parcels, conflicts, result.repaired


def _sent(c, obj):
    """``obj`` on the cluster as a task's result, not as scattered data: Dask's active memory
    manager drops extra copies of a result, so a scattered object may be lost with the one worker
    left holding it, and tasks needing it are cancelled; a task's result is made again from its
    lineage. A worker fetches it for the tasks it runs, not with each task."""
    return c.submit(_itself, obj, pure=False)


def _itself(obj):
    return obj


def _delayed(fn):
    import dask

    return dask.delayed(fn, pure=True)


class _no_bars:
    def __enter__(self):
        return lambda stage, n, total: None

    def __exit__(self, *exc) -> None:
        return None


class _cluster_errors:
    """Turn a cluster's own failures (a task whose workers died too often, a scheduler gone) into
    :class:`planwatch.cluster.ClusterError`; a bad feature's error passes as it is."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb) -> None:
        from concurrent.futures import CancelledError

        from distributed import KilledWorker
        from distributed.comm.core import CommClosedError

        from planwatch.cluster import ClusterError

        if isinstance(value, KilledWorker | CancelledError | CommClosedError):
            raise ClusterError(f"the Dask cluster failed during the review ({type(value).__name__}: {value}); "
                               "nothing was written") from value
