"""The store itself: create its schema, upgrade it, list its schema history, copy a whole store into
another (GeoPackage ↔ PostGIS) and compare two stores (``planwatch db …``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from planwatch.services import Progress, ServiceError, frame_records

if TYPE_CHECKING:
    import pandas as pd


def _open(target, *, create: bool, upgrade: bool = False, on_wait=None):
    from planwatch.store import StoreError, open_store

    try:
        return open_store(target, create=create, upgrade=upgrade, on_wait=on_wait)
    except StoreError as e:
        raise ServiceError(str(e)) from None


def _label(target) -> str:
    from planwatch.store import is_dsn, mask_dsn

    return mask_dsn(str(target)) if is_dsn(target) else str(target)


@dataclass(frozen=True)
class SchemaState:
    """A store's schema: its version, the versions applied now (by init or upgrade), and its history."""

    store: str
    version: int
    applied: list[int]
    history: pd.DataFrame

    def to_records(self) -> dict:
        return {"store": self.store, "schema_version": self.version, "applied": list(self.applied),
                "history": frame_records(self.history)}


def init(target, *, on_wait=None) -> SchemaState:
    """Create the store's schema at ``target`` (a .gpkg path or a PostGIS DSN); an existing store of
    the current schema is left as it is (``applied`` empty)."""
    store = _open(target, create=True, on_wait=on_wait)
    return SchemaState(_label(target), store.schema_version(), list(store.upgraded), store.schema_history())


def upgrade(target, *, on_wait=None) -> SchemaState:
    """Apply the schema migrations the store at ``target`` lacks, in one transaction; idempotent."""
    store = _open(target, create=False, upgrade=True, on_wait=on_wait)
    applied = list(store.upgraded) + store.upgrade()
    return SchemaState(_label(target), store.schema_version(), applied, store.schema_history())


def version(target) -> SchemaState:
    """The store's schema version and history (nothing written)."""
    store = _open(target, create=False)
    return SchemaState(_label(target), store.schema_version(), [], store.schema_history())


@dataclass(frozen=True)
class Copy:
    """A whole store copied: rows per record table, and layers."""

    source: str
    destination: str
    counts: dict[str, int]

    def to_records(self) -> dict:
        return {"source": self.source, "destination": self.destination, "copied": dict(self.counts)}


def copy(source, destination, *, progress: Progress | None = None, on_wait=None) -> Copy:
    """Copy everything the store at ``source`` holds into ``destination`` (created if missing; it must
    be empty), GeoPackage → PostGIS or back, all or nothing."""
    from planwatch.store import StoreError
    from planwatch.store.copy import copy_store

    if _label(source) == _label(destination):
        raise ServiceError(f"{_label(source)}: the source and the destination are the same store")
    src = _open(source, create=False, on_wait=on_wait)
    dst = _open(destination, create=True, on_wait=on_wait)
    try:
        counts = copy_store(src, dst, progress=progress)
    except StoreError as e:
        raise ServiceError(str(e)) from None
    return Copy(_label(source), _label(destination), counts)


@dataclass(frozen=True)
class Diff:
    """Every difference between two stores' data, one line each (none: the same data)."""

    first: str
    second: str
    differences: list[str]

    def to_records(self) -> dict:
        return {"first": self.first, "second": self.second, "differences": list(self.differences)}


def diff(first, second, *, progress: Progress | None = None) -> Diff:
    """Compare the data of two stores (either backend): record tables row by row, the layer
    registries, the features and the QGIS styles."""
    from planwatch.store.copy import diff_stores

    a, b = _open(first, create=False), _open(second, create=False)
    if progress:
        progress("reading and comparing both stores…")
    return Diff(_label(first), _label(second), diff_stores(a, b))
