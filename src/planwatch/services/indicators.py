"""Spatial indicators computed from the one map: the package's indicators, land statistics,
accessibility coverage (straight line or over a walking network), rail-station coverage, and
storing an OpenStreetMap extract's walkable ways as the road network.

Functions that read ``indicators.yaml`` take ``package``: the package (id or folder) the plan was
loaded from; by default the plan's own id.

The land statistics, the area indicators and straight-line coverage take ``engine``: ``geopandas``
(the default: this process) or ``dask`` (:class:`~planwatch.indicators.scale.DaskEngine`:
partitioned by space, on Dask's threads or on the cluster of ``scheduler``, see
:mod:`planwatch.cluster`); the results are the same."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planwatch.services import Progress, ServiceError, frame_records, jsonable, scheduler_for

if TYPE_CHECKING:
    import pandas as pd

    from planwatch.indicators.compute import IndicatorRun
    from planwatch.indicators.coverage import CoverageResult
    from planwatch.indicators.network import Network
    from planwatch.onemap.layers import ImportReport
    from planwatch.plan import Plan
    from planwatch.plan.indicators import IndicatorSpecs
    from planwatch.store import ImportSummary, Store

METHODS = ("euclidean", "network")
SNAPS = ("edge", "node")
ENGINES = ("geopandas", "dask")


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


# ------------------------------------------------------------------ engines


def check_engine_options(engine: str, scheduler: str | None = None, method: str = "euclidean") -> str | None:
    """Refuse, as a usage mistake, an engine planwatch does not have, ``--scheduler`` without
    ``--engine dask``, ``--engine dask`` with ``--method network`` (it runs in one process only), and a
    scheduler that is neither ``local:N`` nor a scheduler's address (also from
    ``$PLANWATCH_DASK_SCHEDULER``). Returns the scheduler to run on (None: Dask's threads, or the
    default engine)."""
    if engine not in ENGINES:
        raise ServiceError(f"--engine must be {' or '.join(ENGINES)}, not {engine!r}", usage=True)
    if engine == "dask" and method == "network":
        from planwatch.indicators.coverage import network_in_one_process

        raise ServiceError(network_in_one_process(engine), usage=True)
    scheduler = scheduler_for(engine, scheduler)
    if engine == "dask":
        from planwatch.extras import require

        require("scale", "--engine dask")
    return scheduler


def engine_label(engine: str, scheduler: str | None = None) -> str:
    """How the output names the engine that ran: ``geopandas``, ``dask (threads in this process)``,
    ``dask (scheduler local:2)``."""
    if engine != "dask":
        return engine
    return f"dask ({'threads in this process' if scheduler is None else f'scheduler {scheduler}'})"


@contextmanager
def _running(engine: str, scheduler: str | None, progress: Progress | None) -> Iterator[object | None]:
    """The engine object the domain functions take: None for the default engine; for dask, a
    :class:`~planwatch.indicators.scale.DaskEngine` on the scheduler's client, closed afterwards."""
    if engine != "dask":
        yield None
        return
    from planwatch.cluster import SchedulerError, client
    from planwatch.indicators.scale import DaskEngine

    _say(progress, f"starting {engine_label(engine, scheduler)}…")
    try:
        with client(scheduler) as c:
            yield DaskEngine(c)
    except SchedulerError as e:  # a scheduler's address nothing answers at
        raise ServiceError(str(e)) from None


def indicator_specs(plan: Plan, package: str | None = None) -> IndicatorSpecs:
    """The package's ``indicators.yaml``, checked; a refusal naming the file otherwise."""
    from planwatch.plan.indicators import load_indicator_specs
    from planwatch.plan.load import PlanPackageError

    try:
        return load_indicator_specs(package or plan.meta.id)
    except PlanPackageError as e:
        raise ServiceError(str(e)) from None


def road_layer(plan: Plan, package: str | None = None) -> str:
    """The layer type of the walking network, as the package's indicators.yaml names it."""
    return indicator_specs(plan, package).walking.roads


# ------------------------------------------------------------------ the package's indicators


@dataclass(frozen=True)
class IndicatorComputation:
    """The package's computable indicators for ``year`` (``run``: results by city, district and 圈层,
    skipped indicators with the reason, warnings, notes), ``stored``, the import summary when
    they were stored as computed observations, and ``engine``, the engine that ran (printed with the
    table; the JSON is the same whichever engine ran)."""

    year: int
    method: str
    run: IndicatorRun
    stored: ImportSummary | None
    engine: str = "geopandas"

    def to_records(self) -> dict:
        s = self.stored
        return jsonable({
            "year": self.year, "method": self.method, "results": self.run.results.to_dict("records"),
            "skipped": self.run.skipped, "warnings": self.run.warnings, "notes": self.run.notes,
            "stored": None if s is None else {"added": s.added, "revised": s.revised, "unchanged": s.unchanged,
                                              "import_id": s.import_id},
        })


def compute(store: Store, plan: Plan, year: int, *, method: str = "euclidean", only: list[str] | None = None,
            store_results: bool = False, engine: str = "geopandas", scheduler: str | None = None,
            package: str | None = None, progress: Progress | None = None) -> IndicatorComputation:
    """Compute every spatial indicator the package marks computable from the store's current layers
    (``indicators compute``); ``only``: these target ids. ``store_results``: also store them as
    computed observations of ``year`` (kept beside any official figure, which the evaluation
    prefers; values from synthetic layers are stored but never graded). ``engine`` and
    ``scheduler``: see :func:`check_engine_options`."""
    from planwatch.indicators.compute import IndicatorInputError, compute_indicators, store_indicators

    scheduler = check_engine_options(engine, scheduler, method)
    specs = indicator_specs(plan, package)
    try:
        with _running(engine, scheduler, progress) as runner:
            _say(progress, "computing spatial indicators…")
            run = compute_indicators(store, plan, method=method, targets=only, specs=specs, progress=progress, engine=runner)
    except IndicatorInputError as e:
        raise ServiceError(str(e)) from None
    stored = store_indicators(store, plan, run, year) if store_results and len(run.results) else None
    return IndicatorComputation(year, method, run, stored, engine_label(engine, scheduler))


@dataclass(frozen=True)
class LandStatistics:
    """Construction land and land use by class, km², for the city, by district, by 圈层 and by 两线三区
    zone: ``frame`` columns layer, level, geo, class, area_km2 (empty: neither layer is loaded);
    ``engine``: the engine that computed them (printed with the tables)."""

    frame: pd.DataFrame
    engine: str = "geopandas"

    def to_records(self) -> list[dict]:
        return frame_records(self.frame)


def land(store: Store, plan: Plan, *, engine: str = "geopandas", scheduler: str | None = None,
         progress: Progress | None = None) -> LandStatistics:
    """Land statistics from the store's layers (``indicators land``); ``engine`` and ``scheduler``:
    see :func:`check_engine_options`."""
    from planwatch.indicators.compute import IndicatorInputError, land_statistics

    scheduler = check_engine_options(engine, scheduler)
    try:
        with _running(engine, scheduler, progress) as runner:
            _say(progress, "overlaying land with districts, 圈层 and zones…")
            return LandStatistics(land_statistics(store, plan, engine=runner), engine_label(engine, scheduler))
    except IndicatorInputError as e:
        raise ServiceError(str(e)) from None


# ------------------------------------------------------------------ accessibility


def check_coverage_options(method: str, snap: str = "edge") -> None:
    """Refuse a coverage method or snap planwatch does not have."""
    if method not in METHODS:
        raise ServiceError(f"--method must be euclidean or network, not {method!r}")
    if snap not in SNAPS:
        raise ServiceError(f"--snap must be edge or node, not {snap!r}")


def _read_layer(spec: str, store, plan: Plan, what: str):
    from planwatch.indicators.compute import IndicatorInputError, layer_or_file

    try:
        return layer_or_file(spec, store, plan)
    except IndicatorInputError as e:
        raise ServiceError(f"{what}: {e}") from None


def _optional_layer(store: Store | None, type_id: str):
    if store is None:
        return None
    try:
        return store.read_layer(type_id)
    except KeyError:
        return None


def roads_network(spec: str, store, plan: Plan, *, progress: Progress | None = None) -> Network:
    """The walking network of ``spec``: an OSM extract (.osm.pbf, .osm, .osm.bz2) cut to the plan
    area, or road lines (a stored layer type or a vector file), in the plan's metric CRS."""
    from planwatch.indicators.network import NetworkError, network_from_lines
    from planwatch.indicators.osm import is_osm_file, read_osm_network

    try:
        if is_osm_file(spec):
            _say(progress, f"reading walkable ways from {spec}…")
            return read_osm_network(spec, crs=plan.spatial.metric_crs, bounds_wgs84=plan.spatial.plan_area_bounds_wgs84)
        lines = _read_layer(spec, store, plan, "--roads")
        _say(progress, "building the walking network…")
        return network_from_lines(lines, name=f"--roads {spec}")
    except NetworkError as e:
        raise ServiceError(str(e)) from None


@dataclass(frozen=True)
class AccessCoverage:
    """The coverage of ``origins`` by ``destinations`` (their specs as given): ``result.origins`` each
    origin with its distance and whether it is covered, ``result.shares`` the covered share by
    city, district and 圈层; ``synthetic_layers`` the specs whose layer is synthetic; ``out`` the
    GeoPackage written, if any; ``engine`` the engine that ran (printed with the table)."""

    origins: str
    destinations: str
    result: CoverageResult
    synthetic_layers: list[str]
    out: Path | None
    engine: str = "geopandas"

    def to_records(self) -> dict:
        r = self.result
        return jsonable({
            "method": r.method, "within_m": r.within_m, "weight": r.weight, "shares": r.shares.to_dict("records"),
            "warnings": r.warnings, "synthetic_layers": self.synthetic_layers, "out": str(self.out) if self.out else None,
        })


def access_coverage(store: Store | None, plan: Plan, origins: str, destinations: str, within: str | float, *,
                    method: str = "euclidean", weight: str = "area", roads: str | None = None, snap: str = "edge",
                    out_file: Path | None = None, engine: str = "geopandas", scheduler: str | None = None,
                    package: str | None = None, progress: Progress | None = None) -> AccessCoverage:
    """For each origin, the distance to the nearest destination and whether it is within ``within``
    (``500m``, ``1km``, metres); the covered share (by area or a numeric column such as population)
    for the city, each district and each 圈层 (``access coverage``). ``origins``, ``destinations``
    and ``roads``: stored layer types or vector files; ``store`` None: files only (no districts,
    no 圈层). ``method`` network walks the road layer (default: the package's walking network).
    ``out_file``: also write a GeoPackage (layer coverage, table coverage_shares). ``engine`` and
    ``scheduler`` (euclidean only): see :func:`check_engine_options`."""
    from planwatch.indicators.coverage import CoverageInputError, coverage, parse_distance

    check_coverage_options(method, snap)
    scheduler = check_engine_options(engine, scheduler, method)
    try:
        within_m = parse_distance(within)
    except CoverageInputError as e:
        raise ServiceError(f"--within: {e}") from None
    source = store if store is not None else {}
    o = _read_layer(origins, source, plan, "--from")
    d = _read_layer(destinations, source, plan, "--to")
    network = None
    if method == "network":
        network = roads_network(roads or road_layer(plan, package), source, plan, progress=progress)
    try:
        with _running(engine, scheduler, progress) as runner:
            _say(progress, f"{method} coverage within {within_m:g} m…")
            result = coverage(
                o, d, within_m, method=method, weight=weight, network=network, snap=snap,
                districts=_optional_layer(store, "districts"), rings=_optional_layer(store, "rings"),
                names=(origins, destinations), engine=runner,
            )
    except CoverageInputError as e:
        raise ServiceError(str(e)) from None
    synthetic = [n for n, g in ((origins, o), (destinations, d)) if (g.attrs.get("layer") or {}).get("synthetic")]
    if out_file is not None:
        write_coverage(result, out_file)
    return AccessCoverage(origins, destinations, result, synthetic, out_file, engine_label(engine, scheduler))


def write_coverage(result: CoverageResult, path: Path) -> None:
    """Write a coverage to a GeoPackage (replaced if present): layer ``coverage`` (each origin, an
    unreachable one with a null distance) and table ``coverage_shares``."""
    import numpy as np
    import pyogrio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    gdf = result.origins.copy()
    gdf["distance_m"] = np.where(np.isfinite(gdf["distance_m"]), gdf["distance_m"], np.nan)  # unreachable: null
    for col in [c for c in gdf.columns if str(c).lower() == "fid"]:
        gdf = gdf.rename(columns={col: f"src_{col}"})
    pyogrio.write_dataframe(gdf, path, layer="coverage")
    shares = result.shares.assign(method=result.method, within_m=result.within_m, weight=result.weight)
    pyogrio.write_dataframe(shares, path, layer="coverage_shares")


@dataclass(frozen=True)
class StationCoverage:
    """The share of each district's area within ``within`` (straight line) of a rail station:
    ``table`` columns district, area_km2, covered_km2, share (%), stations; a last row 全市."""

    within: str
    table: pd.DataFrame

    @property
    def method(self) -> str | None:
        return self.table.attrs.get("method")

    def to_records(self) -> dict:
        return jsonable({"within": self.within, "method": self.method, "rows": self.table.to_dict("records")})


def station_coverage(store: Store | None, plan: Plan, within: str = "800m", *,
                     progress: Progress | None = None) -> StationCoverage:
    """Rail-station coverage of each district (``access stations``): an exact overlay of the
    districts with the stations' buffers. ``store`` None: the real districts and stations shipped
    in the plan package."""
    from planwatch.indicators.compute import MissingLayer, station_coverage_table
    from planwatch.indicators.coverage import CoverageInputError

    try:
        _say(progress, "overlaying the districts with the stations' buffers…")
        table = station_coverage_table(store, plan, radius_m=within)
    except (CoverageInputError, MissingLayer) as e:
        raise ServiceError(f"{e} (or use --shipped for the real layers in the plan package)") from None
    return StationCoverage(within, table)


@dataclass(frozen=True)
class OsmImport:
    """The walkable ways of an OSM extract stored as the road network layer (``report``), with the
    data's attribution."""

    file: Path
    report: ImportReport
    attribution: str

    def to_records(self) -> dict:
        return jsonable(self.report.to_dict())


def import_osm(store: Store, plan: Plan, file: Path, *, package: str | None = None,
               progress: Progress | None = None) -> OsmImport:
    """Store the walkable ways of an OpenStreetMap extract (cut to the plan area) as the package's
    road network layer, for network coverage (``access import-osm``; needs pyosmium)."""
    from planwatch.indicators.network import NetworkError
    from planwatch.indicators.osm import OSM_ATTRIBUTION, read_osm_ways
    from planwatch.onemap.layers import LayerImportError, file_sha256, import_frame

    try:
        _say(progress, f"reading walkable ways from {file}…")
        ways = read_osm_ways(file, crs=plan.spatial.storage_crs, bounds_wgs84=plan.spatial.plan_area_bounds_wgs84)
        layer = road_layer(plan, package)
        _say(progress, f"storing {len(ways):,} ways as the {layer} layer…")
        report = import_frame(
            ways, layer, store, plan, source=str(file), sha256=file_sha256(file), file=str(file),
            notes=[f"walkable OSM ways (highway=*) cut to the plan area; junctions at shared OSM nodes; {OSM_ATTRIBUTION}"],
        )
    except (NetworkError, LayerImportError) as e:
        raise ServiceError(str(e)) from None
    return OsmImport(Path(file), report, OSM_ATTRIBUTION)


__all__ = [
    "ENGINES", "METHODS", "SNAPS", "AccessCoverage", "IndicatorComputation", "LandStatistics", "OsmImport",
    "StationCoverage", "access_coverage", "check_coverage_options", "check_engine_options", "compute", "engine_label",
    "import_osm", "indicator_specs", "land", "road_layer", "roads_network", "station_coverage", "write_coverage",
]
