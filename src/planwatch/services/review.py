"""Compliance review of a project's (or a city's parcels') polygons against the one map, and the
plan's spatial rules over the land-supply and reduction records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planwatch.services import ServiceError, StoreSource, jsonable, opened, scheduler_for, store_label

if TYPE_CHECKING:
    import pandas as pd

    from planwatch.onemap.review.review import BatchReview, ReviewResult
    from planwatch.plan import Plan
    from planwatch.services.users import User
    from planwatch.store import Store


def check_engine(engine: str, scheduler: str | None = None) -> str | None:
    """Refuse a review engine planwatch does not have, and (as a usage mistake) ``--scheduler``
    without ``--engine dask`` or a scheduler that is neither ``local:N`` nor a scheduler's address
    (also from ``$PLANWATCH_DASK_SCHEDULER``, read for the dask engine only). Returns the cluster to
    run on (None: Dask's threads in this process, or another engine)."""
    from planwatch.onemap.review.base import ENGINES

    if engine not in ENGINES:
        raise ServiceError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    return scheduler_for(engine, scheduler)


def require_layers(store: Store) -> None:
    """Refuse a store that holds no layers: there is nothing to review against."""
    if len(store.layers()) == 0:
        raise ServiceError(f"the store {store_label(store)} holds no layers: load the one map first "
                           "(`planwatch layers import FILE --as TYPE`, or the demo one-map)")


@dataclass(frozen=True)
class Review:
    """A review (:class:`planwatch.onemap.review.review.ReviewResult`): ``result.features`` one row
    per feature (id, area_m2, n_conflicts, worst_severity), ``result.conflicts`` and
    ``result.zones``, the layer types not loaded (``result.missing_layers``) and the repairs made.
    ``out``: the GeoPackage written (a batch review), else None; ``batch``: what it holds (counts).
    A batch reviewed on a Dask cluster keeps its rows in ``out`` only: ``result`` is None."""

    source: Path
    result: ReviewResult | None
    out: Path | None
    batch: BatchReview | None = None

    @property
    def features_with_conflicts(self) -> int:
        if self.batch is not None:
            return self.batch.features_with_conflicts
        return int((self.result.features["n_conflicts"] > 0).sum())

    def to_records(self) -> list[dict]:
        """One record per feature: id, area_m2, its conflicts (layer, severity, article, overlap,
        share, rule, …) and the zones it falls in."""
        return jsonable(self.result.records())


def review_features(store: StoreSource, plan: Plan, project_file: Path, *, engine: str = "geopandas",
                    out_gpkg: Path | None = None, crs: str | None = None, fields: Sequence[str] | None = None,
                    encoding: str | None = None, progress_bar: bool = True, scheduler: str | None = None) -> Review:
    """Review the polygons of ``project_file`` against the control lines and zones of the one map
    (``review``): each conflict with its area, share and article, and the zones each feature falls
    in. With ``out_gpkg``, a batch review written to that GeoPackage, all or nothing (layers parcels
    and conflicts; ``progress_bar``: Rich bars on stderr meanwhile). The file is read as ``layers
    import`` reads it (``encoding``, ``fields`` such as ``id=DKBH``). ``scheduler`` (with the dask
    engine; default ``$PLANWATCH_DASK_SCHEDULER``): ``local:N`` or ``tcp://HOST:PORT``, the Dask
    cluster to run on; a batch then reads the file on the workers, partition by partition (see
    :func:`planwatch.onemap.review.dask_engine.review_file_on_cluster`)."""
    from planwatch.cluster import ClusterError, SchedulerError
    from planwatch.onemap.layers import read_options
    from planwatch.onemap.review.base import get_engine
    from planwatch.onemap.review.review import (
        BatchReview,
        ReviewInputError,
        read_features,
        review_file,
        review_frame,
    )

    cluster = check_engine(engine, scheduler)
    store = opened(store)
    require_layers(store)
    try:
        if cluster is not None and out_gpkg is not None:
            from planwatch.onemap.review.dask_engine import review_file_on_cluster

            batch = review_file_on_cluster(project_file, out_gpkg, store, plan, get_engine("dask", scheduler=cluster),
                                           crs=crs, fields=fields, encoding=encoding, progress=progress_bar)
            return Review(Path(project_file), None, out_gpkg, batch)
        runs_on = engine if cluster is None else get_engine("dask", scheduler=cluster)
        with read_options(encoding=encoding, fields=fields or ()):
            if out_gpkg is not None:
                result = review_file(project_file, out_gpkg, store, plan, runs_on, crs=crs, progress=progress_bar)
                return Review(Path(project_file), result, out_gpkg, BatchReview.of(result, out_gpkg))
            result = review_frame(read_features(project_file), store, plan, runs_on, source=str(project_file), crs=crs)
    except (ReviewInputError, ConnectionError, SchedulerError, ClusterError) as e:
        raise ServiceError(str(e)) from None
    return Review(Path(project_file), result, out_gpkg)


def review_geojson(store: StoreSource, plan: Plan, features, *, engine: str = "geopandas") -> Review:
    """Review polygons given as a GeoDataFrame (the web API's GeoJSON), as :func:`review_features`
    reviews a file's."""
    from planwatch.onemap.review.review import ReviewInputError, review_frame

    check_engine(engine)
    store = opened(store)
    require_layers(store)
    try:
        result = review_frame(features, store, plan, engine, source="the GeoJSON sent")
    except (ReviewInputError, ConnectionError) as e:
        raise ServiceError(str(e)) from None
    return Review(Path("request.geojson"), result, None)


@dataclass(frozen=True)
class RulesCheck:
    """The plan's spatial rules for ``year``: ``results`` one row per rule (value, threshold,
    comparator, passed, status, article, details, synthetic, target) and ``verdicts`` the verdict
    the check-up gives each (level, status_text, reason), indexed by rule id (None: no rules)."""

    year: int
    results: pd.DataFrame
    verdicts: pd.DataFrame | None

    def verdict(self, rule_id: str):
        """The check-up's verdict row of one rule (level, status_text, reason)."""
        return self.verdicts.loc[rule_id]

    def to_records(self) -> list[dict]:
        from planwatch.onemap.rules import results_json

        recs = results_json(self.results)
        for rec in recs:
            v = self.verdicts.loc[rec["id"]] if self.verdicts is not None else None
            rec["verdict"] = None if v is None else {"level": v["level"], "text": v["status_text"], "reason": v["reason"]}
        return jsonable(recs)


def check_rules(store: Store, plan: Plan, year: int, *, engine: str = "geopandas", record: bool = True) -> RulesCheck:
    """Evaluate the plan's spatial rules for ``year`` on the stored layers (``rules check``) and the
    verdict the check-up gives each; ``record``: store the values as computed observations of the
    rules' targets, so the evaluation and the report show them."""
    from planwatch.evaluate.engine import rules_checkup
    from planwatch.onemap.rules import RuleInputError
    from planwatch.onemap.rules import check_rules as run_rules

    try:
        results = run_rules(store, plan, year, engine=engine, record=record)
    except (RuleInputError, ConnectionError) as e:
        raise ServiceError(str(e)) from None
    _ev, verdicts = rules_checkup(plan, store.observations(), results, year)
    return RulesCheck(year, results, verdicts.set_index("id") if len(verdicts) else None)


# ------------------------------------------------------------------ review, then reserve (review --reserve)

# The project attributes ``review --reserve`` reads (map a file's own names with --field floor_area=JZMJ).
RESERVE_FIELDS = {"floor_area": "floor_area", "land": "new_land"}  # quota → attribute
DISTRICT_FIELD = "district"


@dataclass(frozen=True)
class ProjectReservation:
    """What ``review --reserve`` did for one project (one reviewed feature): ``reserved`` (the
    postings), ``refused`` (a forbidden conflict, or the ledger's refusal: ``reason``) or ``nothing``
    (no amount to reserve)."""

    project: str
    district: str
    outcome: str
    reason: str
    amounts: dict  # quota → m² asked
    posted: list  # planwatch.services.ledger.Posted

    def to_records(self) -> dict:
        return jsonable({"project": self.project, "district": self.district, "outcome": self.outcome,
                         "reason": self.reason, "amounts": self.amounts, "posted": [p.to_records() for p in self.posted]})


def review_and_reserve(store: StoreSource, plan: Plan, project_file: Path, *, engine: str = "geopandas",
                       crs: str | None = None, fields: Sequence[str] | None = None, encoding: str | None = None,
                       project: str | None = None, by: str | None = None, when=None,
                       illustrative: bool = False, user: User | None = None,
                       address: str = "") -> tuple[Review, list[ProjectReservation]]:
    """Review each project (feature) of ``project_file`` against the one map; one with no forbidden
    conflict also reserves its floor area (attribute ``floor_area``, m²) and, when it is new
    construction land, its land (``new_land``, m²; absent or 0: none) from its district's pools
    (attribute ``district``, else the district of the store's districts layer holding most of it). A
    forbidden conflict reserves nothing and says why. The keys are the project's and the amount's, so
    running the same review again reserves nothing twice. Both quotas of a project are reserved, or
    neither: when the second is refused, the first is cancelled (both recorded). ``user``: the account
    reserving (from ``address``): a project to reserve outside its scope (see
    :func:`planwatch.services.ledger.reserve`) refuses the whole review (:class:`Forbidden`) before
    anything is posted; None: the local operator."""
    from planwatch.onemap.layers import read_options
    from planwatch.onemap.review.review import ReviewInputError, read_features, review_frame
    from planwatch.services import ledger, users

    rules = ledger.rules_of(plan)
    check_engine(engine)
    store = opened(store)
    require_layers(store)
    try:
        with read_options(encoding=encoding, fields=fields or ()):
            frame = read_features(project_file)
        result = review_frame(frame, store, plan, engine, source=str(project_file), crs=crs)
    except (ReviewInputError, ConnectionError) as e:
        raise ServiceError(str(e)) from None
    if project is not None and len(frame) != 1:
        raise ServiceError(f"--project names one project, but {project_file} holds {len(frame)} features: give each "
                           "an id attribute instead (--field id=XMBH)", usage=True)
    if RESERVE_FIELDS["floor_area"] not in frame.columns:
        raise ServiceError(f"{project_file}: no {RESERVE_FIELDS['floor_area']} attribute (the floor area to reserve, "
                           f"m²); map the file's own with --field floor_area=NAME (it has: "
                           f"{', '.join(str(c) for c in frame.columns if c != frame.geometry.name)})")
    asked = _asked(rules, frame, project_file)  # every amount checked before anything is posted
    districts = _districts(store, plan, frame, result, project_file)
    forbidden_of = [result.conflicts[(result.conflicts["feature"] == i) & (result.conflicts["severity"] == "forbidden")]
                    for i in range(len(result.features))]
    if user is not None:  # every reservation in the account's scope, or none posted
        for district in sorted({districts[i] for i in range(len(result.features))
                                if not len(forbidden_of[i]) and any(asked[i].values())}):
            users.require(user, "reserve", district=district)
    out = []
    for i, fid in enumerate(result.features["id"]):
        name = project or str(fid)
        forbidden = forbidden_of[i]
        amounts = {q: ledger.to_m2(rules, q, a) for q, a in asked[i].items() if a}
        if len(forbidden):
            why = "; ".join(f"{r.layer_name} {r.overlap_m2:,.1f} m²（第{r.article}条：{r.rule}）"
                            for r in forbidden.itertuples(index=False))
            out.append(ProjectReservation(name, districts[i], "refused", f"forbidden conflict, nothing reserved: {why}",
                                          amounts, []))
            continue
        if not amounts:
            out.append(ProjectReservation(name, districts[i], "nothing", "no floor area or new land to reserve",
                                          amounts, []))
            continue
        posted = []
        try:
            for quota, steps in asked[i].items():
                if steps:
                    posted.append(ledger.reserve_steps(store, plan, project=name, quota=quota, district=districts[i],
                                                       steps=steps, by=by, when=when, illustrative=illustrative,
                                                       memo=f"review --reserve {Path(project_file).name}",
                                                       user=user, address=address))
        except ServiceError as e:
            for done in posted:  # both quotas or neither
                if not done.repeated:
                    ledger.cancel(store, plan, project=name, quota=done.batch["quota"], by=by, when=when,
                                  illustrative=illustrative, memo=f"review --reserve: the other quota was refused ({e})",
                                  user=user, address=address)
            out.append(ProjectReservation(name, districts[i], "refused", str(e), amounts, []))
            continue
        out.append(ProjectReservation(name, districts[i], "reserved", "", amounts, posted))
    return Review(Path(project_file), result, None), out


def _asked(rules, frame, source) -> list[dict]:
    """Per feature, quota → amount in steps (0 when the attribute is absent or 0), each value checked."""
    from planwatch.ledger.amounts import AmountError, parse_amount

    out = []
    for n, row in enumerate(frame.itertuples(index=False), start=1):
        asked = {}
        for quota, attr in RESERVE_FIELDS.items():
            value = getattr(row, attr, None) if attr in frame.columns else None
            if value is None or (isinstance(value, float) and value != value and quota != "floor_area"):
                asked[quota] = 0
                continue
            try:
                asked[quota] = parse_amount(value, rules.quotas[quota], attr, allow_zero=True)
            except AmountError as e:
                raise ServiceError(f"{source}: feature {n}: {e}") from None
        out.append(asked)
    return out


def _districts(store, plan, frame, result, source) -> list[str]:
    """Each feature's district: its ``district`` attribute, else the stored districts layer's district
    holding most of it."""
    known = plan.meta.districts
    if DISTRICT_FIELD in frame.columns:
        values = [str(v).strip() for v in frame[DISTRICT_FIELD]]
        for n, v in enumerate(values, start=1):
            if v not in known:
                raise ServiceError(f"{source}: feature {n}: district {v[:40]!r} is not one of the plan's districts "
                                   f"({', '.join(known)})")
        return values
    if "districts" not in set(store.layers()["layer_type"]):
        raise ServiceError(f"{source}: no district attribute and no districts layer in the store: give each project "
                           "its district (--field district=NAME) or load the districts layer")
    import geopandas as gpd

    d = store.read_layer("districts").to_crs(result.features.crs)[["district", "geometry"]]
    feats = gpd.GeoDataFrame({"i": range(len(result.features))}, geometry=result.features.geometry.values,
                             crs=result.features.crs)
    pieces = gpd.overlay(feats, d, how="intersection", keep_geom_type=True)
    pieces["a"] = pieces.area
    best = pieces.sort_values("a").groupby("i")["district"].last()
    missing = [int(i) + 1 for i in range(len(feats)) if i not in best.index]
    if missing:
        raise ServiceError(f"{source}: feature {missing[0]} lies in no district of the districts layer; give its "
                           "district attribute")
    return [str(best[i]) for i in range(len(feats))]


__all__ = [
    "ProjectReservation", "Review", "RulesCheck", "check_engine", "check_rules", "require_layers", "review_and_reserve",
    "review_features", "review_geojson",
]
