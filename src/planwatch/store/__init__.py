"""Persistence behind one interface (:class:`Store`); ``open_store`` picks the backend from the target:
a GeoPackage file path, or a PostGIS DSN (``postgresql://…`` / ``postgres://…``)."""

from __future__ import annotations

import os
from pathlib import Path

from planwatch.store.base import (
    LAYER_COLUMNS,
    OBSERVATION_COLUMNS,
    RECORD_TABLES,
    SCHEMA_HISTORY,
    SCHEMA_VERSION,
    SYNTHETIC_LABEL,
    SYNTHETIC_MARK,
    ImportSummary,
    Scope,
    Store,
    StoreError,
    StoreSnapshot,
    is_dsn,
    layer_content_hash,
    mask_dsn,
)
from planwatch.store.gpkg import DEFAULT_DB, GeoPackageStore

SERVER_EXTRA = "the PostGIS store needs the server extra: pip install 'planwatch[server]'"


def default_db_path() -> str | Path:
    """``$PLANWATCH_DB`` as given (a file path, or a PostGIS DSN, returned as the string), else
    ``./planwatch.gpkg``."""
    target = os.environ.get("PLANWATCH_DB") or DEFAULT_DB
    return target.strip() if is_dsn(target) else Path(target)


def open_store(target: str | Path | None = None, *, create: bool = True, on_wait=None, upgrade: bool = False) -> Store:
    """Open the store at ``target`` (default: :func:`default_db_path`): a GeoPackage file, or a PostGIS
    DSN. ``create`` makes it when it does not exist (the verbs that only read pass False, so a
    mistyped path is an error, not a new empty store). ``on_wait(message)`` is told when the store is
    busy and planwatch waits for it. A GeoPackage of an older schema is upgraded on open; a PostGIS
    store only with ``upgrade`` (``planwatch db upgrade``), else it is refused saying so.
    Raises :class:`StoreError` naming the store."""
    target = target or default_db_path()
    if is_dsn(target):
        return _postgis().PostGISStore(str(target).strip(), create=create, on_wait=on_wait, upgrade=upgrade)
    p = Path(target)
    if p.suffix.lower() not in {".gpkg", ".sqlite", ".db"}:
        raise StoreError(f"{p}: the embedded store is a GeoPackage file; give a path ending in .gpkg "
                         "(or a PostGIS DSN postgresql://user@host:port/dbname)")
    return GeoPackageStore(p, create=create, on_wait=on_wait)


def store_exists(target: str | Path) -> bool:
    """Whether a store is there: a file that exists, or a database whose DSN schema holds the
    planwatch tables. :class:`StoreError` when the server cannot be reached (it cannot tell)."""
    if not is_dsn(target):
        return Path(target).is_file()
    return _postgis().store_in(str(target).strip())


def _postgis():
    """The PostGIS backend; :class:`StoreError` saying how to install it when psycopg is missing."""
    try:
        from planwatch.store import postgis
    except ImportError as e:
        if (e.name or "").split(".")[0] != "psycopg":
            raise
        raise StoreError(SERVER_EXTRA) from None
    return postgis


__all__ = [
    "LAYER_COLUMNS", "OBSERVATION_COLUMNS", "RECORD_TABLES", "SCHEMA_HISTORY", "SCHEMA_VERSION", "SYNTHETIC_LABEL",
    "SYNTHETIC_MARK", "ImportSummary", "Scope", "Store", "StoreError", "StoreSnapshot", "default_db_path", "is_dsn",
    "layer_content_hash", "mask_dsn", "open_store", "store_exists",
]
