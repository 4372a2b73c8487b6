"""The store interface: where observations (and, later, layers and ledgers) persist.

One interface, one file per backend (``gpkg.py`` for the embedded GeoPackage/SQLite file; a
PostGIS backend can sit beside it). Domain code receives a :class:`Store` and never branches on
the backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import pandas as pd

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
    "scope",  # the observation's measurement scope ("" = as the indicator defines it)
    "comparable",  # False when scope differs from the indicator's declared scope
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


class Store(ABC):
    """Append-only observation store. Implementations must make :meth:`add_observations` atomic."""

    @abstractmethod
    def add_observations(self, rows: pd.DataFrame, *, file: str, sha256: str, plan_id: str) -> ImportSummary:
        """Append validated rows (columns :data:`OBSERVATION_COLUMNS`) in one transaction.

        A row identical (value and scope) to the newest revision of its (indicator, year, geo) is
        skipped; a different one becomes a new revision. All or nothing.
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
