"""Compliance review of a project's (or a city's parcels') polygons against the one map, and the
plan's spatial rules over the land-supply and reduction records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planwatch.services import ServiceError, StoreSource, jsonable, opened, store_label

if TYPE_CHECKING:
    import pandas as pd

    from planwatch.onemap.review.review import ReviewResult
    from planwatch.plan import Plan
    from planwatch.store import Store


def check_engine(engine: str) -> None:
    """Refuse a review engine planwatch does not have."""
    from planwatch.onemap.review.base import ENGINES

    if engine not in ENGINES:
        raise ServiceError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")


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
    ``out``: the GeoPackage written (a batch review), else None."""

    source: Path
    result: ReviewResult
    out: Path | None

    @property
    def features_with_conflicts(self) -> int:
        return int((self.result.features["n_conflicts"] > 0).sum())

    def to_records(self) -> list[dict]:
        """One record per feature: id, area_m2, its conflicts (layer, severity, article, overlap,
        share, rule, …) and the zones it falls in."""
        return jsonable(self.result.records())


def review_features(store: StoreSource, plan: Plan, project_file: Path, *, engine: str = "geopandas",
                    out_gpkg: Path | None = None, crs: str | None = None, fields: Sequence[str] | None = None,
                    encoding: str | None = None, progress_bar: bool = True) -> Review:
    """Review the polygons of ``project_file`` against the control lines and zones of the one map
    (``review``): each conflict with its area, share and article, and the zones each feature falls
    in. With ``out_gpkg``, a batch review written to that GeoPackage (layers parcels and conflicts;
    ``progress_bar``: a Rich bar on stderr meanwhile). The file is read as ``layers import`` reads
    it (``encoding``, ``fields`` such as ``id=DKBH``)."""
    from planwatch.onemap.layers import read_options
    from planwatch.onemap.review.review import ReviewInputError, read_features, review_file, review_frame

    check_engine(engine)
    store = opened(store)
    require_layers(store)
    try:
        with read_options(encoding=encoding, fields=fields or ()):
            if out_gpkg is not None:
                result = review_file(project_file, out_gpkg, store, plan, engine, crs=crs, progress=progress_bar)
            else:
                result = review_frame(read_features(project_file), store, plan, engine, source=str(project_file), crs=crs)
    except (ReviewInputError, ConnectionError) as e:
        raise ServiceError(str(e)) from None
    return Review(Path(project_file), result, out_gpkg)


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


__all__ = ["Review", "RulesCheck", "check_engine", "check_rules", "require_layers", "review_features"]
