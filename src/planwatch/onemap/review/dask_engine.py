"""The Dask engine: dask-geopandas partitions of the parcels, each reviewed by the default engine.

For batches larger than one call should hold (a national network of plans). The zones are cut
and indexed once and shared by every partition; each worker thread prepares its own copy of the
pieces (see ``geopandas_engine``). The threads scheduler is the default: Shapely releases the GIL,
so threads use every core without copying the zones to processes. The same function runs on a
``dask.distributed`` cluster by passing ``scheduler=`` (a client's address or ``"processes"``).
"""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import pandas as pd

from planwatch.onemap.review.base import ReviewEngine, check_inputs, empty_overlaps, sum_by_pair
from planwatch.onemap.review.geopandas_engine import GeoPandasEngine, ZonePieces, piece_overlaps
from planwatch.onemap.review.subdivide import MAX_VERTICES

PARTITION_ROWS = 100_000


def partition_overlaps(part: gpd.GeoDataFrame, zp: ZonePieces) -> pd.DataFrame:
    """Piece-level overlaps of one partition, with the parcels' global positions."""
    geoms = np.asarray(part.geometry.array, dtype=object)
    p, z, a = piece_overlaps(geoms, zp)
    return pd.DataFrame({"parcel": part["_pos"].to_numpy()[p], "zone": z, "overlap_m2": a})


class DaskEngine(ReviewEngine):
    """Partitions of parcels, the default engine on each, summed back."""

    name = "dask"

    def __init__(self, npartitions: int | None = None, scheduler: str = "threads", workers: int | None = None,
                 max_vertices: int = MAX_VERTICES):
        self.npartitions = npartitions
        self.scheduler = scheduler
        self.workers = workers or os.cpu_count() or 1
        self.local = GeoPandasEngine(max_vertices=max_vertices)

    def overlaps(self, parcels: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> pd.DataFrame:
        import dask
        import dask_geopandas

        pg, zg = check_inputs(parcels, zones)
        if len(pg) == 0 or len(zg) == 0:
            return empty_overlaps()
        zp = self.local.prepare(zg)
        frame = gpd.GeoDataFrame({"_pos": np.arange(len(pg), dtype=np.int64)}, geometry=pg, crs=getattr(parcels, "crs", None))
        nparts = self.npartitions or max(self.workers, -(-len(pg) // PARTITION_ROWS))
        dframe = dask_geopandas.from_geopandas(frame, npartitions=min(nparts, len(pg)))
        pieces = dframe.map_partitions(partition_overlaps, zp, meta=empty_overlaps())
        with dask.config.set(num_workers=self.workers):
            result = pieces.compute(scheduler=self.scheduler)
        return sum_by_pair(
            result["parcel"].to_numpy(), result["zone"].to_numpy(), result["overlap_m2"].to_numpy(), zp.n_zones
        )
