"""Persistence behind one interface (:class:`Store`); ``open_store`` picks the backend from the path."""

from __future__ import annotations

import os
from pathlib import Path

from planwatch.store.base import (
    LAYER_COLUMNS,
    OBSERVATION_COLUMNS,
    SYNTHETIC_LABEL,
    SYNTHETIC_MARK,
    ImportSummary,
    Store,
    layer_content_hash,
)
from planwatch.store.gpkg import DEFAULT_DB, GeoPackageStore, StoreError


def default_db_path() -> Path:
    """``$PLANWATCH_DB`` if set, else ``./planwatch.gpkg``."""
    return Path(os.environ.get("PLANWATCH_DB") or DEFAULT_DB)


def open_store(path: str | Path | None = None, *, create: bool = True, on_wait=None) -> Store:
    """Open the store at ``path`` (default: :func:`default_db_path`); ``create`` makes it when it
    does not exist (the verbs that only read pass False, so a mistyped path is an error, not a new
    empty store). ``on_wait(message)`` is told when the store is busy and planwatch waits for it.
    Raises :class:`StoreError` naming the path."""
    p = Path(path) if path else default_db_path()
    if p.suffix.lower() not in {".gpkg", ".sqlite", ".db"}:
        raise StoreError(f"{p}: the embedded store is a GeoPackage file; give a path ending in .gpkg")
    return GeoPackageStore(p, create=create, on_wait=on_wait)


__all__ = [
    "LAYER_COLUMNS", "OBSERVATION_COLUMNS", "SYNTHETIC_LABEL", "SYNTHETIC_MARK", "ImportSummary", "Store", "StoreError", "default_db_path",
    "layer_content_hash", "open_store",
]
