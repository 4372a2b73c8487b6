"""The store interface: where observations, the one map's layers, curators' judgements (and, later,
ledgers) persist.

One interface, one file per backend (``gpkg.py`` for the embedded GeoPackage/SQLite file; a
PostGIS backend can sit beside it). Domain code receives a :class:`Store` and never branches on
the backend.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # geopandas is imported lazily: the observation verbs do not need it
    import geopandas as gpd

# The label every synthetic (demo) layer carries: in gpkg_contents, in pw_layers, in review output.
SYNTHETIC_LABEL = "示意数据（非官方）/ synthetic demo data"
# The Chinese half alone: what Chinese-only output (the report) prints.
SYNTHETIC_MARK = "示意数据（非官方）"

# Columns of the layer registry (one row per layer type: its current version).
LAYER_COLUMNS = [
    "layer_type",  # plan layer type id, e.g. farmland
    "table_name",  # the GeoPackage table / PostGIS table holding the current version, e.g. ly_farmland_v2
    "version",  # 1, 2, … : each write_layer of the type adds one
    "features",
    "crs",  # storage CRS, e.g. EPSG:4548
    "sha256",  # of the source file (or of the generator's inputs)
    "content_hash",  # sha256 of the features themselves (WKB + attributes), see layer_content_hash
    "source",  # file path or generator
    "synthetic",  # True for demo data: always shown with SYNTHETIC_LABEL
    "notes",  # list[str]: repairs, approximations, provenance
    "description",
    "imported_at",  # UTC, ISO 8601
]

# A curator's recorded verdict, as the store returns it (one row per judgement, oldest first); what
# planwatch.evaluate.final.final_account takes as ``judgements``.
JUDGEMENT_COLUMNS = ["target", "year", "verdict", "by", "date", "evidence", "note"]

# What identifies one series of revisions: a new row of the same key is a revision of it.
SERIES_KEY = ["indicator", "year", "geo", "scope", "origin"]
ORIGINS = ("official", "computed")

# Columns of an observation as stored (one row per revision).
OBSERVATION_COLUMNS = [
    "indicator",  # target id, e.g. T05
    "year",
    "geo",  # "" = the whole plan area (全市), else a district's Chinese name
    "value",  # in the indicator's unit
    "unit",  # the indicator's unit
    "raw_value",  # as written in the file
    "raw_unit",
    "conversion",  # how raw_value/raw_unit became value/unit ("" = none)
    "scope",  # the observation's measurement scope as written ("" = as the indicator defines it)
    "measure",  # the measure the row declares (level, change, ratio, count, cumulative_decline; "" = the indicator's)
    "comparable",  # False when the scope or measure differs from the indicator's: stored and shown, never graded
    "origin",  # "official" (published statistics, imported) or "computed" (planwatch, from the one map's layers)
    "synthetic",  # True when computed from synthetic (demo) layers: shown with SYNTHETIC_LABEL, never graded
    "note",
    "source",
    "published",
    "method",  # how it was obtained (e.g. "statistics", or a computation's description)
    "file",
    "file_row",
]


@dataclass
class ImportSummary:
    file: str
    import_id: int
    rows_read: int
    added: int = 0  # first revision of an (indicator, year, geo)
    revised: int = 0  # a new revision with a different value or scope
    unchanged: int = 0  # identical to the newest revision: nothing written
    conversions: list[str] = field(default_factory=list)
    not_comparable: list[str] = field(default_factory=list)


def layer_content_hash(gdf: gpd.GeoDataFrame) -> str:
    """A deterministic sha256 of a layer's features: column names, then per feature its 2-D WKB
    (little-endian) and its attribute values as JSON. Same features in the same order → same hash,
    whatever file or CRS object they came through; for provenance, not for security."""
    import shapely

    geom_col = gdf.geometry.name
    cols = sorted(str(c) for c in gdf.columns if c != geom_col)
    h = hashlib.sha256()
    h.update(json.dumps(cols, ensure_ascii=False).encode())
    wkbs = shapely.to_wkb(gdf.geometry.values, output_dimension=2, byte_order=1, include_srid=False)
    attrs = gdf[cols].astype(object).values.tolist() if cols else [[] for _ in range(len(gdf))]
    for wkb, row in zip(wkbs, attrs, strict=True):
        blob = b"" if wkb is None else bytes(wkb)
        h.update(len(blob).to_bytes(8, "little"))
        h.update(blob)
        h.update(json.dumps([_jsonable(v) for v in row], ensure_ascii=False, default=str).encode())
    return h.hexdigest()


def _jsonable(v):
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


class Store(ABC):
    """Append-only observations and judgements, and versioned layers. Implementations make every
    write atomic."""

    @abstractmethod
    def add_observations(self, rows: pd.DataFrame, *, file: str, sha256: str, plan_id: str) -> ImportSummary:
        """Append validated rows (columns :data:`OBSERVATION_COLUMNS`) in one transaction.

        A series is one (indicator, year, geo, scope, origin): the same indicator and year may hold a
        figure of the indicator's own scope beside figures of other scopes, and an official figure
        beside a computed one; none replaces another. A row identical (value and synthetic flag) to the
        newest revision of its series is skipped; a different one becomes a new revision. All or nothing.
        """

    @abstractmethod
    def observations(self, *, latest: bool = True) -> pd.DataFrame:
        """Every observation (newest revision only when ``latest``), with ``revision`` and
        ``import_id`` columns added."""

    @abstractmethod
    def history(self, indicator: str, year: int | None = None, geo: str | None = None) -> pd.DataFrame:
        """All revisions of an indicator (optionally one year / geo), oldest first."""

    @abstractmethod
    def imports(self) -> pd.DataFrame:
        """The import log: one row per import."""

    # ------------------------------------------------------------------ judgements (五年评估)

    @abstractmethod
    def add_judgement(
        self, target: str, year: int, verdict: str, by: str, note: str, evidence: Sequence[tuple[str, bytes]], plan_id: str
    ) -> dict:
        """Record a curator's verdict on a qualitative target (its target value for ``year``): ``verdict``
        met / nearly / missed, ``by`` who judged (not empty), ``evidence`` the files it rests on as
        (file name, content), kept whole in the store with their sha256. One transaction; append-only:
        a later judgement of the same target and year stands, the earlier stays on record. The caller
        checks the target against the plan. Returns the record: ``judgement_id``, ``target``, ``year``,
        ``verdict``, ``by``, ``judged_at`` (UTC, ISO 8601), ``date``, ``note``, ``plan_id``, ``evidence``
        (a list of {name, sha256, size})."""

    @abstractmethod
    def judgements(self) -> pd.DataFrame:
        """Every recorded judgement, oldest first: columns
        :data:`JUDGEMENT_COLUMNS` (``date`` the UTC day of the judgement,
        ``evidence`` "name（sha256 first 8 hex）" joined with 、) and ``judgement_id``; what
        :func:`planwatch.evaluate.final.final_account` takes as ``judgements``."""

    @abstractmethod
    def evidence(self, judgement_id: int) -> list[tuple[str, bytes]]:
        """The evidence files of one judgement as (file name, content), in the order recorded; the
        content is checked against its stored sha256. ``KeyError`` for an unknown judgement."""

    # ------------------------------------------------------------------ layers (the one map)

    @abstractmethod
    def write_layer(
        self,
        layer_type: str,
        gdf: gpd.GeoDataFrame,
        *,
        source: str,
        sha256: str,
        synthetic: bool,
        notes: list[str],
        description: str = "",
    ) -> dict:
        """Atomically replace the current layer of ``layer_type`` with ``gdf`` (already validated and
        in the storage CRS). The features go to a new versioned table; the registry then switches to
        it in one transaction, so a failure (or kill -9) before the switch leaves the previous layer
        current. Returns the new registry row (keys :data:`LAYER_COLUMNS`)."""

    @abstractmethod
    def read_layer(self, layer_type: str) -> gpd.GeoDataFrame:
        """The current version of a layer, CRS set, its registry row in ``gdf.attrs["layer"]``.
        Raises ``KeyError`` naming the stored layer types if there is none of ``layer_type``."""

    @abstractmethod
    def layers(self) -> pd.DataFrame:
        """The layer registry: one row per stored layer type (its current version), columns
        :data:`LAYER_COLUMNS` (``synthetic`` bool, ``notes`` a list of str)."""
