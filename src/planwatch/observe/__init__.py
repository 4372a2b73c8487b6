"""Observations: read CSV/XLSX, validate and convert units, append to the store with provenance."""

from planwatch.observe.importer import ObservationImportError, RowError, import_observations

__all__ = ["ObservationImportError", "RowError", "import_observations"]
