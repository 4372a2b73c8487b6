"""Observations: import a file of them, list them, one indicator's history."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planwatch.services import ServiceError, StoreSource, frame_records, opened, store_label

if TYPE_CHECKING:
    import pandas as pd

    from planwatch.plan import Plan
    from planwatch.store import ImportSummary, Store

LIST_COLUMNS = ["indicator", "year", "geo", "value", "unit", "scope", "origin", "synthetic", "comparable", "revision"]
HISTORY_COLUMNS = ["indicator", "year", "geo", "revision", "value", "unit", "source", "file", "imported_at"]


@dataclass(frozen=True)
class ObservationImport:
    """What importing a file did: rows read, added, revised, unchanged, the unit conversions made and
    the rows of another scope than the indicator's (kept, not comparable)."""

    file: Path
    summary: ImportSummary

    def to_records(self) -> dict:
        return asdict(self.summary)


def import_file(store: StoreSource, plan: Plan, file: Path, *, sheet: str | None = None,
                extra_columns: tuple[str, ...] = (), normalise_width: bool = False) -> ObservationImport:
    """Import a CSV or XLSX of observations into ``store``, all or nothing (``observe import``).
    ``store`` may be an opener: it is called once the file is known to exist."""
    from planwatch.observe import ObservationImportError, import_observations

    file = Path(file)
    if not file.is_file():
        raise ServiceError(f"{file}: no such file")
    store = opened(store)
    try:
        s = import_observations(file, store, plan, sheet=sheet, extra_columns=tuple(extra_columns),
                                normalise_width=normalise_width)
    except ObservationImportError as e:
        raise ServiceError(f"{file}: {e}") from None
    return ObservationImport(file, s)


@dataclass(frozen=True)
class ObservationTable:
    """Stored observations, one row per revision shown (the store's columns)."""

    frame: pd.DataFrame

    def to_records(self) -> list[dict]:
        return frame_records(self.frame)


def list_observations(store: Store, *, all_revisions: bool = False) -> ObservationTable:
    """The stored observations: the newest revision of each (indicator, year, geo), or every revision."""
    return ObservationTable(store.observations(latest=not all_revisions))


def history(store: Store, indicator: str, year: int | None = None, geo: str | None = None) -> ObservationTable:
    """Every revision of one indicator (optionally of one year / geo), oldest first."""
    return ObservationTable(store.history(indicator, year, geo))


def require_observations(store: Store) -> pd.DataFrame:
    """The store's observations (newest revisions), or a refusal when it holds none."""
    obs = store.observations()
    if obs.empty:
        raise ServiceError(f"the store {store_label(store)} holds no observations: import some first "
                           "(planwatch observe import FILE)")
    return obs


__all__ = ["HISTORY_COLUMNS", "LIST_COLUMNS", "ObservationImport", "ObservationTable", "history", "import_file",
           "list_observations", "require_observations"]
