"""Import observations from CSV or XLSX: validate every row, convert units, then append in one transaction.

Validation happens entirely before anything is written, and the write is one transaction, so a
file with a single bad row changes nothing. Every error names the file, the row (as a
spreadsheet shows it: the header is row 1) and the column.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from planwatch.observe.plausible import implausible
from planwatch.observe.scope import ScopeError, read_scope
from planwatch.observe.units import UnitError, canonical, convert
from planwatch.plan.model import Plan, Target
from planwatch.store.base import OBSERVATION_COLUMNS, ImportSummary, Store

REQUIRED = ["indicator", "year", "value", "unit"]
OPTIONAL = ["geo", "scope", "measure", "note", "source", "published", "method"]
YEAR_RANGE = (2000, 2100)
MAX_ERRORS_SHOWN = 50


@dataclass(frozen=True)
class RowError:
    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f": row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


class ObservationImportError(ValueError):
    """The file was refused; nothing was written. ``errors`` lists every problem found."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        shown = "\n".join(f"  {e}" for e in errors[:MAX_ERRORS_SHOWN])
        more = f"\n  … and {len(errors) - MAX_ERRORS_SHOWN} more" if len(errors) > MAX_ERRORS_SHOWN else ""
        super().__init__(f"import refused, nothing was written ({len(errors)} problem(s)):\n{shown}{more}")


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV (UTF-8, UTF-8 with BOM, or GB18030) or XLSX file as strings."""
    name = str(path)
    if not path.exists():
        raise ObservationImportError([RowError(name, None, None, "file not found")])
    suffix = path.suffix.lower()
    try:
        if suffix in {".xlsx", ".xlsm"}:
            df = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
        elif suffix in {".csv", ".txt", ".tsv"}:
            raw = path.read_bytes()
            if b"\x00" in raw[:4096]:
                raise ObservationImportError([RowError(name, None, None, "binary file, expected CSV text")])
            for enc in ("utf-8-sig", "gb18030"):
                try:
                    text = raw.decode(enc)
                    break
                except UnicodeDecodeError:
                    continue
            else:  # pragma: no cover - gb18030 decodes almost anything
                raise ObservationImportError([RowError(name, None, None, "not UTF-8 or GB18030 text")])
            from io import StringIO

            sep = "\t" if suffix == ".tsv" else ","
            df = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False, sep=sep)
        else:
            raise ObservationImportError(
                [RowError(name, None, None, f"unsupported file type {suffix or '(none)'}: expected .csv or .xlsx")]
            )
    except ObservationImportError:
        raise
    except Exception as e:  # pandas/openpyxl parse errors
        raise ObservationImportError([RowError(name, None, None, f"cannot be read as a table: {e}")]) from e
    df.columns = [str(c).strip().lower() for c in df.columns]
    return df


_NAME_UNIT = re.compile(r"^(.*?)[(（]([^()（）]*)[)）]$")


def indicator_index(plan: Plan) -> dict[str, Target]:
    """Every way a file may name an indicator: its id, its name, its name with unit, its aliases."""
    index: dict[str, Target] = {}
    for t in plan.targets:
        keys = [t.id, t.name, *t.aliases]
        if t.unit:
            keys.append(f"{t.name}({t.unit})")
            keys.append(f"{t.name}（{t.unit}）")
        for k in keys:
            index.setdefault(k.strip(), t)
    return index


# A number as statisticians write it: an optional sign, digits with optional thousands separators in
# groups of three (2,184.3), an optional decimal part, an optional exponent. "44,8" (a decimal comma)
# and "2_184" are refused rather than guessed.
_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?$")


def _parse_number(text: str) -> float | None:
    s = text.strip().replace("，", ",")
    if not _NUMBER.match(s):
        return None
    v = float(s.replace(",", ""))
    return v if math.isfinite(v) else None


def validate_rows(df: pd.DataFrame, plan: Plan, file: str) -> tuple[pd.DataFrame, list[RowError]]:
    """Check and convert every row. Returns the rows ready for the store and the errors found.

    A row that measures the indicator itself (see :mod:`planwatch.observe.scope`) is converted to the
    indicator's unit and must be plausible (:mod:`planwatch.observe.plausible`); a row that declares
    another scope or measure keeps its own unit when it cannot be converted, and is stored as a
    related statistic, never graded."""
    errors: list[RowError] = []
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        cols = ", ".join(df.columns) or "(none)"
        return pd.DataFrame(), [RowError(file, 1, c, f"required column is missing (the header has: {cols})") for c in missing]
    unknown = [c for c in df.columns if c not in REQUIRED + OPTIONAL]
    if unknown:
        known = ", ".join(REQUIRED + OPTIONAL)
        return pd.DataFrame(), [RowError(file, 1, c, f"unknown column (a misspelling or a second copy?); the columns are: {known}")
                                for c in unknown]
    if df.empty:
        return pd.DataFrame(), [RowError(file, None, None, "no data rows")]
    for c in OPTIONAL:
        if c not in df.columns:
            df[c] = ""
    index = indicator_index(plan)
    geos = set(plan.meta.districts)
    whole = {"", plan.meta.whole_area, "北京市", "全市"}
    out = []
    seen: dict[tuple, int] = {}
    for i, r in enumerate(df.to_dict("records")):
        row = i + 2  # the header is row 1
        n_err = len(errors)
        ind = str(r["indicator"]).strip()
        target = index.get(ind)
        if target is None:
            m = _NAME_UNIT.match(ind)
            target = index.get(m.group(1).strip()) if m else None
        if target is None:
            errors.append(RowError(file, row, "indicator", f"unknown indicator {ind!r} (give an id like T05 or the plan's name)"))
        elif target.same_as:
            target = plan.target(target.same_as)  # an article restating a table row: the row holds the data
        year_s = str(r["year"]).strip()
        year = None
        if not re.fullmatch(r"\d{4}(\.0)?", year_s):
            errors.append(RowError(file, row, "year", f"{year_s!r} is not a year"))
        else:
            year = int(float(year_s))
            if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
                errors.append(RowError(file, row, "year", f"{year} is outside {YEAR_RANGE[0]}–{YEAR_RANGE[1]}"))
        raw_value = str(r["value"]).strip()
        value = _parse_number(raw_value)
        if value is None:
            errors.append(RowError(file, row, "value", f"{raw_value!r} is not a number (write 2184.3 or 2,184.3)"))
        geo = str(r["geo"]).strip()
        if geo in whole:
            geo = ""
        elif geo not in geos:
            errors.append(RowError(file, row, "geo", f"unknown geo {geo!r}: expected empty (全市) or one of {', '.join(sorted(geos))}"))
        scope = str(r["scope"]).strip()
        reading = None
        if target is not None:
            try:
                reading = read_scope(scope, str(r["measure"]), target)
            except ScopeError as e:
                errors.append(RowError(file, row, "measure", str(e)))
        raw_unit = str(r["unit"]).strip()
        conversion, unit = "", target.unit if target is not None else raw_unit
        if target is not None and value is not None and reading is not None:
            try:
                value, conversion = convert(value, raw_unit, target.unit)
            except UnitError as e:
                if reading.comparable:
                    errors.append(RowError(file, row, "unit", f"{e} ({target.id} {target.name}); if the figure measures "
                                                              "something else (a count where a ratio is expected), say so in the scope column"))
                else:  # a related statistic keeps its own unit
                    unit = canonical(raw_unit)
            if reading.comparable and len(errors) == n_err:
                why = implausible(value, target, part=geo != "")
                if why:
                    errors.append(RowError(file, row, "value", why))
        if len(errors) > n_err:
            continue
        key = (target.id, year, geo, scope)
        if key in seen:
            errors.append(RowError(file, row, "indicator", f"duplicate of row {seen[key]} ({target.id}, {year}, {geo or '全市'}"
                                                           + (f", scope {scope!r}" if scope else "") + ")"))
            continue
        seen[key] = row
        if reading.comparable:
            own = (target.id, year, geo, "<comparable>")
            if own in seen:
                errors.append(RowError(file, row, "scope", f"row {seen[own]} already gives {target.id} {year} "
                                                           f"{geo or '全市'} as the indicator measures it; a second such figure "
                                                           "needs its own scope"))
                continue
            seen[own] = row
        out.append(
            {
                "indicator": target.id, "year": year, "geo": geo, "value": value, "unit": unit,
                "raw_value": raw_value, "raw_unit": raw_unit, "conversion": conversion,
                "scope": scope, "measure": reading.measure.value if reading.measure else "",
                "comparable": reading.comparable, "origin": "official", "synthetic": False,
                "note": str(r["note"]).strip(), "source": str(r["source"]).strip(),
                "published": str(r["published"]).strip(), "method": str(r["method"]).strip() or "statistics",
                "file": file, "file_row": row,
            }
        )
    return pd.DataFrame(out, columns=OBSERVATION_COLUMNS), errors


def import_observations(path: str | Path, store: Store, plan: Plan) -> ImportSummary:
    """Validate ``path`` against ``plan`` and append it to ``store``, all or nothing."""
    path = Path(path)
    df = read_table(path)
    rows, errors = validate_rows(df, plan, path.name)
    if errors:
        raise ObservationImportError(errors)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    summary = store.add_observations(rows, file=str(path), sha256=sha, plan_id=plan.meta.id)
    summary.conversions = [f"row {r.file_row} {r.indicator}: {r.conversion}" for r in rows.itertuples() if r.conversion]
    summary.not_comparable = [
        f"row {r.file_row} {r.indicator} {r.year}: scope {r.scope!r}" for r in rows.itertuples() if not r.comparable
    ]
    return summary
