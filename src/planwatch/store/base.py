"""The store interface: where observations, the one map's layers, curators' judgements (and, later,
ledgers) persist, and what every backend shares.

One interface, one file per backend: ``gpkg.py`` (the embedded GeoPackage/SQLite file) and
``postgis.py`` (a PostGIS server) beside it. Domain code receives a :class:`Store` and never branches
on the backend. What both backends must agree on lives here: the schema history, the record tables a
whole-store copy carries (:data:`RECORD_TABLES`), the column lists of what the store returns, and the
small pure rules both apply (revisions, judgements, layer names and labels), so a result never depends
on the backend that produced it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # geopandas is imported lazily: the observation verbs do not need it
    from datetime import date

    import geopandas as gpd

    from planwatch.ledger.rules import LedgerRules
    from planwatch.store.features import LayerPage
    from planwatch.store.findings import MergeResult


class StoreError(ValueError):
    """The store cannot be opened or written as asked; the message names the store (its path, or its
    DSN with any password masked) and what to do."""


DSN_PREFIXES = ("postgresql://", "postgres://")


def is_dsn(target) -> bool:
    """``target`` names a PostGIS store (a ``postgresql://`` / ``postgres://`` DSN), not a file."""
    return isinstance(target, str) and target.strip().lower().startswith(DSN_PREFIXES)


def mask_dsn(dsn: str) -> str:
    """``dsn`` as messages show it: any password replaced by ``***``."""
    masked = re.sub(r"^([a-z]+://[^:@/?#]*):[^@/?#]*@", r"\1:***@", dsn.strip(), flags=re.IGNORECASE)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", masked)


# ------------------------------------------------------------------ schema versions (both backends)

SCHEMA_VERSION = 8
# Every schema version and what it brought, oldest first: both backends keep this history in
# pw_schema_history (a new store records every version at its creation, an upgraded one each version
# as it is applied) and the current version in pw_meta (key schema_version).
SCHEMA_HISTORY: list[tuple[int, str]] = [
    (1, "observations keyed by (indicator, year, geo)"),
    (2, "+ scope, origin, synthetic, measure: a series is (indicator, year, geo, scope, origin)"),
    (3, "+ judgements and their evidence files (append-only)"),
    (4, "+ schema history, stable layer names ly_<type>, QGIS default styles in layer_styles"),
    (5, "+ the findings register: findings, their events, evidence files (append-only)"),
    (6, "+ the quota ledger: accounts, batches, entries, reservations, resolutions (append-only)"),
    (7, "+ accounts, API tokens and the audit log of writes (append-only)"),
    (8, "+ row-level security (PostGIS): a district editor's or a department's writes run as a role confined "
        "to its district or unit (the GeoPackage: no change)"),
]
PREDATES_HISTORY = "(applied before the schema history was kept; recorded at the upgrade)"
SCHEMA_HISTORY_COLUMNS = ["version", "description", "applied_at", "planwatch_version"]


def history_entries(before: int, recorded: set[int]) -> list[tuple[int, str]]:
    """The (version, description) rows an upgrade from schema ``before`` (0: a new store) adds to the
    history, which already holds ``recorded``: every version not yet recorded, those at or below
    ``before`` marked as predating the history."""
    return [
        (version, f"{description} {PREDATES_HISTORY}" if version <= before else description)
        for version, description in SCHEMA_HISTORY
        if version not in recorded
    ]


def versions_after(before: int) -> list[int]:
    """The schema versions an upgrade from ``before`` applies (0: a new store gets all of them)."""
    return [version for version, _ in SCHEMA_HISTORY if version > before]


def utc_now() -> str:
    """Now, UTC, ISO 8601 to the second: how every record's time is written and returned."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The label every synthetic (demo) layer carries: in gpkg_contents, in pw_layers, in review output.
SYNTHETIC_LABEL = "示意数据（非官方）/ synthetic demo data"
# The Chinese half alone: what Chinese-only output (the report) prints.
SYNTHETIC_MARK = "示意数据（非官方）"

# Columns of the layer registry (one row per layer type: its current version).
LAYER_COLUMNS = [
    "layer_type",  # plan layer type id, e.g. farmland
    "table_name",  # the stable name QGIS opens whatever the version, ly_<type>: a GeoPackage view, a PostGIS table
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


# ------------------------------------------------------------------ record tables (a whole-store copy)


@dataclass(frozen=True)
class RecordTable:
    """One table of records the store keeps and a whole-store copy carries as it is (ids, times,
    hashes), in both backends under the same name and with the same columns in this order.

    ``columns`` maps each column to its kind, which fixes how a snapshot holds its values whatever
    the backend: ``id`` / ``int`` a Python int, ``float``, ``text`` a str, ``bool``, ``time`` the UTC
    ISO 8601 string :func:`utc_now` writes, ``bytes``. ``key`` is the id column (rows are copied in its
    order, and a restored store continues numbering after the copied ids)."""

    name: str
    key: str
    columns: dict[str, str]


@dataclass(frozen=True)
class Scope:
    """What an account's write is confined to: a district editor's ``district``, a department's
    ``unit``. The PostGIS store runs such a write as a role that row-level security holds to it (see
    :mod:`planwatch.store.row_security`), a second wall behind the service layer's check; the
    GeoPackage store has no roles and relies on that check alone."""

    district: str = ""
    unit: str = ""


# The record tables, parents before children (a restore inserts them in this order). A later feature
# (the findings register, the ledger) that keeps records adds its tables here, and both backends
# create them: snapshot / restore then carry them with no other change.
RECORD_TABLES: list[RecordTable] = [
    RecordTable("pw_imports", "import_id", {
        "import_id": "id", "file": "text", "sha256": "text", "plan_id": "text", "imported_at": "time",
        "planwatch_version": "text", "rows_read": "int", "added": "int", "revised": "int", "unchanged": "int",
    }),
    RecordTable("pw_observations", "obs_id", {
        "obs_id": "id", "indicator": "text", "year": "int", "geo": "text", "revision": "int", "value": "float",
        "unit": "text", "raw_value": "text", "raw_unit": "text", "conversion": "text", "scope": "text",
        "measure": "text", "comparable": "bool", "origin": "text", "synthetic": "bool", "note": "text",
        "source": "text", "published": "text", "method": "text", "file": "text", "file_row": "int",
        "import_id": "int",
    }),
    RecordTable("pw_judgements", "judgement_id", {
        "judgement_id": "id", "target": "text", "year": "int", "verdict": "text", "by": "text",
        "judged_at": "time", "note": "text", "plan_id": "text", "planwatch_version": "text",
    }),
    RecordTable("pw_evidence", "evidence_id", {
        "evidence_id": "id", "judgement_id": "int", "file_name": "text", "sha256": "text", "size": "int",
        "content": "bytes",
    }),
    # the findings register (schema 5, see planwatch.store.findings)
    RecordTable("pw_findings", "finding_id", {
        "finding_id": "id", "year": "int", "kind": "text", "source": "text", "geo": "text", "article": "text",
        "title": "text", "level": "text", "value": "float", "value_unit": "text", "reason": "text",
        "recommendation": "text", "evidence": "text", "severity": "text", "suggested_unit": "text", "synthetic": "bool",
        "created_at": "time", "created_by": "text", "plan_id": "text", "planwatch_version": "text", "state": "text",
        "responsible": "text", "due": "text", "observed": "bool", "last_seen_year": "int", "version": "int",
    }),
    RecordTable("pw_finding_events", "event_id", {
        "event_id": "id", "finding_id": "int", "version": "int", "action": "text", "from_state": "text",
        "to_state": "text", "actor": "text", "at": "time", "text": "text", "responsible": "text", "due": "text",
        "illustrative": "bool", "detail": "text",
    }),
    RecordTable("pw_files", "file_id", {
        "file_id": "id", "sha256": "text", "size": "int", "content": "bytes", "stored_at": "time",
    }),
    RecordTable("pw_finding_evidence", "evidence_id", {
        "evidence_id": "id", "finding_id": "int", "event_id": "int", "sha256": "text", "file_name": "text",
        "size": "int", "uploader": "text", "effective": "text", "uploaded_at": "time", "illustrative": "bool",
    }),
    # the quota ledger (schema 6, see planwatch.store.ledger)
    RecordTable("pw_ledger_accounts", "account_id", {
        "account_id": "id", "name": "text", "kind": "text", "quota": "text", "district": "text", "ring": "text",
        "year": "int", "project": "text", "balance": "int", "version": "int", "created_at": "time",
    }),
    RecordTable("pw_ledger_batches", "batch_id", {
        "batch_id": "id", "op": "text", "quota": "text", "idem_key": "text", "request": "text", "actor": "text",
        "at": "time", "effective": "text", "memo": "text", "ref": "text", "year": "int", "corrects": "int",
        "illustrative": "bool", "plan_id": "text", "planwatch_version": "text", "detail": "text",
    }),
    RecordTable("pw_ledger_entries", "entry_id", {
        "entry_id": "id", "batch_id": "int", "account_id": "int", "amount": "int", "balance_before": "int",
        "balance_after": "int", "account_version": "int",
    }),
    RecordTable("pw_ledger_reservations", "reservation_id", {
        "reservation_id": "id", "batch_id": "int", "project": "text", "quota": "text", "district": "text",
        "amount": "int", "expires": "text",
    }),
    RecordTable("pw_ledger_resolutions", "resolution_id", {
        "resolution_id": "id", "reservation_id": "int", "batch_id": "int", "action": "text", "committed": "int",
    }),
    # accounts, tokens and the audit log (schema 7, see planwatch.store.people)
    RecordTable("pw_users", "user_id", {
        "user_id": "id", "name": "text", "role": "text", "district": "text", "unit": "text", "password_hash": "text",
        "disabled": "bool", "created_at": "time", "created_by": "text",
    }),
    RecordTable("pw_tokens", "token_id", {
        "token_id": "id", "user_id": "int", "token_sha256": "text", "label": "text", "created_at": "time",
        "expires": "text", "revoked": "bool",
    }),
    RecordTable("pw_audit", "audit_id", {
        "audit_id": "id", "at": "time", "actor": "text", "action": "text", "target": "text", "detail": "text",
        "address": "text",
    }),
]
RECORDS = {t.name: t for t in RECORD_TABLES}

# A snapshot's layer registry: the registry row as returned, and the planwatch that wrote the layer.
REGISTRY_COLUMNS = [*LAYER_COLUMNS, "planwatch_version"]
# QGIS's layer_styles columns both backends share (PostGIS also has id, f_table_catalog, f_table_schema,
# r_raster_column; the GeoPackage one has id, f_table_catalog, f_table_schema). The style planwatch
# writes is the row of stylename STYLE_NAME, the layer's default (useasdefault).
STYLE_COLUMNS = ["f_table_name", "f_geometry_column", "stylename", "styleqml", "stylesld", "useasdefault",
                 "description", "owner", "ui", "update_time", "type"]
STYLE_NAME = "planwatch"


@dataclass
class StoreSnapshot:
    """A whole store, as :meth:`Store.snapshot` reads it and :meth:`Store.restore` writes it into an
    empty store of either backend: the same values whatever backend it came from.

    - ``records``: each of :data:`RECORD_TABLES` by name, its rows as stored (ids, times, hashes), in
      id order, columns in the table's order, values of the kinds the table declares;
    - ``layers``: the layer registry, columns :data:`REGISTRY_COLUMNS`, one row per layer type;
    - ``features``: each layer type's features, as :meth:`Store.read_layer` returns them;
    - ``styles``: the layer_styles rows of the store's layers, columns :data:`STYLE_COLUMNS`
      (``update_time`` a UTC ISO 8601 string)."""

    source: str
    schema_version: int
    records: dict[str, pd.DataFrame]
    layers: pd.DataFrame
    features: dict[str, gpd.GeoDataFrame]
    styles: pd.DataFrame

    def counts(self) -> dict[str, int]:
        """How many rows each record table holds, and how many layers: what a copy reports."""
        return {**{name: len(df) for name, df in self.records.items()}, "layers": len(self.layers)}


def record_frame(table: RecordTable, rows: Sequence[Sequence]) -> pd.DataFrame:
    """A snapshot's frame of ``table`` from its rows (values in the table's column order), each value
    brought to its column's kind (bools from 0/1, bytes from memoryview)."""
    df = result_frame(rows, list(table.columns))
    for col, kind in table.columns.items():
        if kind == "bool":
            df[col] = df[col].astype(bool)
        elif kind == "bytes":
            df[col] = pd.Series([None if v is None else bytes(v) for v in df[col]], index=df.index, dtype=object)
    return df


def result_frame(rows: Sequence[Sequence], columns: list[str]) -> pd.DataFrame:
    """The frame a query's rows make: one constructor for both backends, so the same rows give the
    same dtypes (int64, float64, str; every column object when there are no rows)."""
    return pd.DataFrame.from_records(list(rows), columns=columns, coerce_float=True)


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

    def counts(self) -> dict[str, int]:
        """The import's id and counts (what its audit row records)."""
        return {"import_id": int(self.import_id), "rows_read": self.rows_read, "added": self.added,
                "revised": self.revised, "unchanged": self.unchanged}


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


# ------------------------------------------------------------------ rules both backends apply


def new_revisions(rows: pd.DataFrame, newest: dict[tuple, tuple[int, float, bool]]) -> tuple[list[list], ImportSummary]:
    """Which of ``rows`` (columns :data:`OBSERVATION_COLUMNS`) an import appends, and at which revision.

    ``newest`` maps each stored series (:data:`SERIES_KEY` values) to its newest (revision, value,
    synthetic); it is updated as rows are taken, so a file that revises its own row gets two
    revisions. A row equal in value and synthetic flag to its series' newest revision is unchanged.
    Returns the records to append (the :data:`OBSERVATION_COLUMNS` values, then the revision) and the
    counts (``file`` and ``import_id`` left for the caller)."""
    summary = ImportSummary(file="", import_id=0, rows_read=len(rows))
    records = []
    cols = OBSERVATION_COLUMNS
    at = {c: i for i, c in enumerate(cols)}
    # one conversion per column, not per cell: iterating an Arrow-backed string column cell by cell
    # is most of an import's time
    for values in zip(*(rows[c].to_numpy(dtype=object) for c in cols), strict=True):
        values = list(values)
        values[at["year"]] = int(values[at["year"]])
        values[at["value"]] = float(values[at["value"]])
        values[at["comparable"]] = bool(values[at["comparable"]])
        values[at["synthetic"]] = bool(values[at["synthetic"]])
        values[at["file_row"]] = int(values[at["file_row"]])
        key = tuple(values[at[c]] for c in SERIES_KEY)
        prev = newest.get(key)
        if prev is not None and prev[1] == values[at["value"]] and prev[2] == values[at["synthetic"]]:
            summary.unchanged += 1
            continue
        revision = 1 if prev is None else prev[0] + 1
        if prev is None:
            summary.added += 1
        else:
            summary.revised += 1
        records.append([*values, revision])
        newest[key] = (revision, values[at["value"]], values[at["synthetic"]])
    return records, summary


VERDICTS = ("met", "nearly", "missed")  # as stored; the CLI also takes 达成 / 基本达成 / 未达成


def judgement_input(verdict: str, by: str, note: str, evidence: Sequence[tuple[str, bytes]]) -> tuple[str, str, str, list[dict]]:
    """A judgement's verdict, author and note as stored, and its evidence files as {name, sha256, size,
    content}; ``ValueError`` for a verdict other than :data:`VERDICTS`, an empty author or an unnamed
    file."""
    verdict, by, note = str(verdict).strip(), str(by).strip(), str(note or "").strip()
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r}: expected one of {', '.join(VERDICTS)}")
    if not by:
        raise ValueError("by is empty: a judgement names the person (or department) who made it")
    files = []
    for name, content in evidence:
        if not str(name).strip():
            raise ValueError("an evidence file without a name")
        content = bytes(content)
        files.append({"name": str(name).strip(), "sha256": hashlib.sha256(content).hexdigest(),
                      "size": len(content), "content": content})
    return verdict, by, note, files


def judgement_record(judgement_id: int, target: str, year: int, verdict: str, by: str, judged_at: str, note: str,
                     plan_id: str, files: list[dict]) -> dict:
    """What :meth:`Store.add_judgement` returns."""
    return {
        "judgement_id": int(judgement_id), "target": str(target), "year": int(year), "verdict": verdict, "by": by,
        "judged_at": judged_at, "date": judged_at[:10], "note": note, "plan_id": str(plan_id),
        "evidence": [{k: f[k] for k in ("name", "sha256", "size")} for f in files],
    }


def judgements_frame(rows: Sequence[Sequence], evidence: Sequence[Sequence]) -> pd.DataFrame:
    """What :meth:`Store.judgements` returns, from the judgements (judgement_id, target, year, verdict,
    by, judged_at, note; oldest first) and their evidence (judgement_id, file_name, sha256; in order)."""
    files: dict[int, list[str]] = {}
    for judgement_id, name, sha in evidence:
        files.setdefault(int(judgement_id), []).append(f"{name}（sha256 {sha[:8]}）")
    records = [
        {"target": target, "year": int(year), "verdict": verdict, "by": by, "date": judged_at[:10],
         "evidence": "、".join(files.get(int(judgement_id), [])), "note": note, "judgement_id": int(judgement_id)}
        for judgement_id, target, year, verdict, by, judged_at, note in rows
    ]
    return pd.DataFrame(records, columns=[*JUDGEMENT_COLUMNS, "judgement_id"])


def checked_evidence(store: str, judgement_id: int, rows: Sequence[tuple[str, str, bytes]]) -> list[tuple[str, bytes]]:
    """The evidence files (file_name, sha256, content) of a judgement as (name, content), each checked
    against its sha256: :class:`StoreError` naming ``store`` if one was altered outside planwatch."""
    for name, sha, content in rows:
        if hashlib.sha256(bytes(content)).hexdigest() != sha:
            raise StoreError(f"{store}: evidence {name!r} of judgement #{judgement_id} no longer matches its "
                             f"sha256 {sha}: the store was altered outside planwatch")
    return [(name, bytes(content)) for name, _sha, content in rows]


LAYER_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
_VERSION_SUFFIX_RE = re.compile(r"_v[0-9]+$")
RESERVED_LAYER_COLUMNS = ("fid", "geom")  # the feature id and the geometry column, in both backends


def layer_table(layer_type: str) -> str:
    """The stable name of a layer type's current version, ``ly_<type>``, in both backends."""
    return f"ly_{layer_type}"


def check_layer(layer_type: str, gdf: gpd.GeoDataFrame) -> None:
    """``ValueError`` unless ``layer_type`` is a layer type id and ``gdf`` can be stored as it is
    (a CRS, no column named like the stores' own)."""
    if not LAYER_TYPE_RE.match(layer_type) or _VERSION_SUFFIX_RE.search(layer_type):
        raise ValueError(f"layer type {layer_type!r}: expected a plan layer type id like 'farmland' "
                         "(ending in _v<number> is reserved for the stored versions)")
    if gdf.crs is None:
        raise ValueError(f"layer {layer_type}: the features have no CRS; transform them to the storage CRS first")
    geometry = gdf.geometry.name
    reserved = [c for c in gdf.columns if c != geometry and str(c).lower() in RESERVED_LAYER_COLUMNS]
    if reserved:
        raise ValueError(f"layer {layer_type}: column {reserved[0]!r} is reserved by the store; rename it")


def layer_identifier(layer_type: str, synthetic: bool) -> str:
    """The name QGIS shows for a layer (the GeoPackage identifier), labelled when synthetic."""
    return f"{layer_type} ({SYNTHETIC_LABEL})" if synthetic else layer_type


def layer_description(layer_type: str, description: str, synthetic: bool) -> str:
    """A layer's description as stored: the given one (or a default), labelled when synthetic."""
    text = description or f"planwatch layer {layer_type}"
    if synthetic and SYNTHETIC_LABEL not in text:
        text = f"{SYNTHETIC_LABEL}: {text}"
    return text


def layer_row(layer_type: str, gdf: gpd.GeoDataFrame, *, source: str, sha256: str, synthetic: bool, notes: list[str],
              description: str) -> dict:
    """The registry row of a layer about to be written, but for its version and imported_at."""
    return {
        "layer_type": layer_type, "table_name": layer_table(layer_type), "features": len(gdf),
        "crs": gdf.crs.to_string(), "sha256": sha256, "content_hash": layer_content_hash(gdf), "source": str(source),
        "synthetic": bool(synthetic), "notes": [str(n) for n in notes],
        "description": layer_description(layer_type, description, synthetic),
    }


def layer_geometry_type(geometry: gpd.GeoSeries) -> str:
    """The one geometry type of a layer's features (shapely's name: Polygon, MultiPolygon, …), or
    ``Geometry`` when they are of several types or there are none (missing geometries aside)."""
    types = set(geometry.geom_type.dropna())
    return types.pop() if len(types) == 1 else "Geometry"


def layer_style(layer_type: str, geometry_type: str, synthetic: bool) -> tuple[str, str]:
    """The default QGIS style (QML, description) a layer's layer_styles row holds (the one map's
    colours, imported only when a layer is written)."""
    from planwatch.onemap.styles import default_style

    return default_style(layer_type, geometry_type, synthetic)


def restore_refusal(store: str, counts: dict[str, int]) -> str | None:
    """Why a store holding ``counts`` (rows per record table, and ``layers``) cannot take a restore,
    or None when it is empty."""
    held = {k: v for k, v in counts.items() if v}
    if not held:
        return None
    said = ", ".join(f"{v} {k.removeprefix('pw_')}" for k, v in held.items())
    return (f"{store}: a restore needs an empty store and this one holds records ({said}); nothing was written: "
            "restore into a new store")


def check_snapshot(snapshot: StoreSnapshot, store: str) -> None:
    """A snapshot this planwatch can restore: of its own schema, and whole."""
    if snapshot.schema_version != SCHEMA_VERSION:
        raise StoreError(f"{store}: the snapshot of {snapshot.source} is of store schema {snapshot.schema_version}; "
                         f"this planwatch restores schema {SCHEMA_VERSION}: upgrade the source store first")
    missing = [t.name for t in RECORD_TABLES if t.name not in snapshot.records]
    missing += [t for t in snapshot.layers["layer_type"] if t not in snapshot.features]
    if missing:
        raise StoreError(f"{store}: the snapshot of {snapshot.source} lacks {', '.join(missing)}; nothing was written")



class Store(ABC):
    """Append-only observations and judgements, and versioned layers. Implementations make every
    write atomic, and set ``upgraded``: the schema versions applied when the store was opened (all of
    them for a new store, [] for a current one)."""

    upgraded: list[int]

    @abstractmethod
    def add_observations(self, rows: pd.DataFrame, *, file: str, sha256: str, plan_id: str, audit: dict | None = None,
                         scope: Scope | None = None) -> ImportSummary:
        """Append validated rows (columns :data:`OBSERVATION_COLUMNS`) in one transaction, with the
        ``audit`` row of the account it is done for (see :meth:`people_write`; its detail gains the
        import's id and counts) and confined to its ``scope`` when given (see :class:`Scope`).

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

    # ------------------------------------------------------------------ the findings register (问题清单, see store/findings.py)

    @abstractmethod
    def generate_findings(self, candidates: Sequence[dict], *, year: int, covers: Sequence[tuple[str, str]],
                          plan_id: str) -> MergeResult:
        """Merge the problems of ``year`` (``candidates``, as :func:`planwatch.findings.generate.candidates`
        makes them) into the register in one transaction, without duplicates and without changing what a
        person decided (:func:`planwatch.store.findings.merge_findings`); ``covers`` the (kind, source
        prefix) pairs this generation looked at, so only their absent findings are marked no longer
        observed."""

    @abstractmethod
    def findings(self) -> pd.DataFrame:
        """Every finding, oldest first: columns :data:`planwatch.store.findings.FINDING_COLUMNS`."""

    @abstractmethod
    def finding_events(self, finding_id: int | None = None) -> pd.DataFrame:
        """The events (transitions and observations) of one finding, or of all, oldest first: columns
        :data:`planwatch.store.findings.EVENT_COLUMNS`."""

    @abstractmethod
    def finding_evidence(self, finding_id: int | None = None) -> pd.DataFrame:
        """The evidence files given for one finding, or for all, oldest first, without their content:
        columns :data:`planwatch.store.findings.EVIDENCE_COLUMNS`."""

    @abstractmethod
    def move_finding(self, finding_id: int, *, expected_version: int, action: str, from_state: str, to_state: str,
                     actor: str, text: str, responsible: str | None, due: str | None, illustrative: bool,
                     files: Sequence[dict], effective: str, detail: dict | None = None, audit: dict | None = None,
                     scope: Scope | None = None) -> dict:
        """Record one transition in one transaction, compare-and-set on ``expected_version``
        (:func:`planwatch.store.findings.record_move`): :class:`~planwatch.store.findings.StaleFinding`
        when another change came first, ``KeyError`` for an unknown finding; nothing written then. With
        ``audit`` (its detail gains the new version and the event's id) and ``scope``: as
        :meth:`add_observations`."""

    @abstractmethod
    def evidence_file(self, sha256: str) -> bytes:
        """The content of a finding's evidence file, by its sha256 (checked); ``KeyError`` if none."""

    # ------------------------------------------------------------------ layers (the one map)

    # ------------------------------------------------------------------ the quota ledger (流量池)

    @abstractmethod
    def ledger_post(self, rules: LedgerRules, op: str, params: dict, *, key: str, actor: str, effective: date,
                    memo: str, illustrative: bool, plan_id: str, audit: dict | None = None,
                    scope: Scope | None = None) -> dict:
        """Post one ledger operation in one transaction, writers one at a time (see
        :func:`planwatch.store.ledger.post`): balanced entries, balances before and after, caps kept, an
        idempotency ``key`` answered once. A refusal raises
        :class:`planwatch.ledger.post.LedgerRefusal` and writes nothing. With ``audit`` (its detail
        gains the batch's id and whether the key was answered before) and ``scope``: as
        :meth:`add_observations`."""

    @abstractmethod
    def ledger_tables(self) -> dict[str, pd.DataFrame]:
        """The five ledger tables (:data:`planwatch.store.ledger.LEDGER_TABLES`) read in one consistent
        view, each in id order."""

    # ------------------------------------------------------------------ accounts, tokens, audit (schema 7)

    @abstractmethod
    def people_write(self, op: str, args: dict, audit: dict) -> int | bool:
        """One write of :mod:`planwatch.store.people` (``op``: ``add_user``, ``set_user`` or
        ``add_token`` with its ``args``) and its audit row (actor, action, target, detail, address),
        in one transaction."""

    @abstractmethod
    def people(self, table: str) -> pd.DataFrame:
        """``pw_users``, ``pw_tokens`` or ``pw_audit``, in id order."""

    @abstractmethod
    def token_owner(self, sha256: str) -> tuple | None:
        """(user name, expiry, revoked) of the API token with this sha256, or None."""

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

    @abstractmethod
    def layer_page(self, layer_type: str, *, offset: int = 0, limit: int = 100,
                   bbox: tuple[float, float, float, float] | None = None, fid: int | None = None) -> LayerPage:
        """One page of the current version of a layer in WGS 84, read through the layer's spatial
        index; the whole layer is never read. The page holds the features from ``offset`` (0-based),
        at most ``limit`` of them, in id order. Only those intersecting ``bbox`` (WGS 84 degrees) are
        counted, and with ``fid`` only that feature. Ids, bbox semantics and the
        :class:`~planwatch.store.features.LayerPage` returned: :mod:`planwatch.store.features`.
        ``KeyError`` as :meth:`read_layer`."""

    @abstractmethod
    def layer_extent(self, layer_type: str) -> tuple[float, float, float, float] | None:
        """The WGS 84 box (minx, miny, maxx, maxy) around the current version of a layer, from the
        store's metadata or index, not its features; None when the layer holds no geometry.
        ``KeyError`` as :meth:`read_layer`."""

    # ------------------------------------------------------------------ schema and whole-store copies

    @abstractmethod
    def schema_version(self) -> int:
        """The store's schema version (:data:`SCHEMA_VERSION` once opened)."""

    @abstractmethod
    def schema_history(self) -> pd.DataFrame:
        """The schema versions applied to this store, oldest first: columns
        :data:`SCHEMA_HISTORY_COLUMNS` (``applied_at`` UTC ISO 8601)."""

    @abstractmethod
    def upgrade(self) -> list[int]:
        """Bring the store to :data:`SCHEMA_VERSION` in one transaction; returns the versions applied
        ([] when it is current already)."""

    @abstractmethod
    def snapshot(self) -> StoreSnapshot:
        """Everything the store holds, as a :class:`StoreSnapshot` (read in one consistent view)."""

    @abstractmethod
    def restore(self, snapshot: StoreSnapshot) -> None:
        """Write ``snapshot`` into this store, which must be empty (:class:`StoreError` naming it if
        it holds any record or layer), keeping ids, versions, times and hashes; later records are
        numbered after the copied ones. All or nothing."""
