"""Import observations from CSV or XLSX: validate every row, convert units, then append in one transaction.

Validation happens entirely before anything is written, and the write is one transaction, so a
file with a single bad row changes nothing. Every error names the file, the row (as a
spreadsheet shows it: the header is row 1) and the column.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from pathlib import Path

import pandas as pd

from planwatch.observe.plausible import implausible
from planwatch.observe.scope import ScopeError, read_scope
from planwatch.observe.table import ObservationImportError, RowError, echo, read_table
from planwatch.observe.units import UnitError, canonical, convert
from planwatch.plan.model import Plan, Target
from planwatch.store.base import OBSERVATION_COLUMNS, ImportSummary, Store

REQUIRED = ["indicator", "year", "value", "unit"]
OPTIONAL = ["geo", "scope", "measure", "note", "source", "published", "method"]
YEAR_RANGE = (2000, 2100)
MAX_MAGNITUDE = 1e15  # no published statistic of a city plan comes near this; 1e308 is a typo or a test
FULL_WIDTH = re.compile("[\uff10-\uff19\uff0e\uff0c\uff0d\uff0b]")  # ０-９ ． ， － ＋


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


# A number as statisticians write it: an optional sign, ASCII digits with optional thousands separators
# in groups of three (2,184.3), an optional decimal part, an optional exponent. "44,8" (a decimal comma),
# "2_184" and full-width digits are refused rather than guessed.
_NUMBER = re.compile(r"^[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$")


def _parse_number(text: str) -> float | None:
    s = text.strip()
    if not _NUMBER.match(s):
        return None
    v = float(s.replace(",", ""))
    return v if math.isfinite(v) else None


def _number_problem(text: str) -> str:
    """Why ``text`` is not read as a number, with what to do."""
    t = text.strip()
    if FULL_WIDTH.search(t):
        return f"{echo(t)} has full-width characters (０-９, ．): retype it in ASCII, or import with --normalise-width"
    if re.fullmatch(r"[+-]?[0-9]+,[0-9]{1,2}", t):
        return f"{echo(t)} looks like a decimal comma: write {t.replace(',', '.')} (or use thousands separators in groups of three)"
    if "_" in t:
        return f"{echo(t)} has an underscore: write the number without it"
    if t.lower() in {"inf", "-inf", "+inf", "nan", "infinity", "-infinity"}:
        return f"{echo(t)} is not a finite number"
    if t == "":
        return "empty: give a number"
    return f"{echo(t)} is not a number (write 2184.3 or 2,184.3)"


def validate_rows(df: pd.DataFrame, plan: Plan, file: str, *, normalise_width: bool = False) -> tuple[pd.DataFrame, list[RowError]]:
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
    if df.empty:
        return pd.DataFrame(), [RowError(file, None, None, "no data rows: the table is empty below its header")]
    for c in OPTIONAL:
        if c not in df.columns:
            df[c] = ""
    if "_row" not in df.columns:  # a frame built in code: rows as a spreadsheet counts them
        df = df.assign(_row=range(2, len(df) + 2))
    extras = [c for c in df.columns if c not in REQUIRED + OPTIONAL + ["_row"]]
    index = indicator_index(plan)
    geos = set(plan.meta.districts)
    whole = {"", plan.meta.whole_area, "北京市", "全市"}
    out = []
    seen: dict[tuple, int] = {}
    for r in df.to_dict("records"):
        row = int(r["_row"])
        n_err = len(errors)
        if normalise_width:
            r = {k: unicodedata.normalize("NFKC", v) if isinstance(v, str) else v for k, v in r.items()}
        ind = str(r["indicator"]).strip()
        target = index.get(ind)
        if target is None:
            m = _NAME_UNIT.match(ind)
            target = index.get(m.group(1).strip()) if m else None
        if target is None:
            errors.append(RowError(file, row, "indicator", f"unknown indicator {echo(ind)} (give an id like T05 or the plan's name)"))
        elif target.same_as:
            target = plan.target(target.same_as)  # an article restating a table row: the row holds the data
        year_s = str(r["year"]).strip()
        year = None
        if not re.fullmatch(r"[0-9]{4}(\.0)?", year_s):
            errors.append(RowError(file, row, "year", f"{echo(year_s)} is not a year (four ASCII digits, e.g. 2023)"))
        else:
            year = int(float(year_s))
            if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
                errors.append(RowError(file, row, "year", f"{year} is outside {YEAR_RANGE[0]}–{YEAR_RANGE[1]}"))
        raw_value = str(r["value"]).strip()
        value = _parse_number(raw_value)
        if value is None:
            errors.append(RowError(file, row, "value", _number_problem(raw_value)))
        elif abs(value) >= MAX_MAGNITUDE:
            errors.append(RowError(file, row, "value", f"{echo(raw_value)} is not a plausible statistic (|value| ≥ 1e15): "
                                                       "check the number"))
            value = None
        geo = str(r["geo"]).strip()
        if geo in whole:
            geo = ""
        elif geo not in geos:
            errors.append(RowError(file, row, "geo", f"unknown geo {echo(geo)}: expected empty (全市) or one of {', '.join(sorted(geos))}"))
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
                "note": _note_with_extras(r, extras),
                "source": str(r["source"]).strip(),
                "published": str(r["published"]).strip(), "method": str(r["method"]).strip() or "statistics",
                "file": file, "file_row": row,
            }
        )
    return pd.DataFrame(out, columns=OBSERVATION_COLUMNS), errors


def _note_with_extras(row: dict, extras: list[str]) -> str:
    """The row's note, followed by each extra column the user asked to keep, as "name：value"."""
    note = str(row["note"]).strip()
    kept = [f"{c}：{str(row[c]).strip()}" for c in extras if str(row[c]).strip()]
    return "；".join(([note] if note else []) + kept)


def read_and_validate(path: str | Path, plan: Plan, *, sheet: str | None = None, extra_columns: tuple[str, ...] = (),
                      normalise_width: bool = False, name: str | None = None) -> tuple[pd.DataFrame, list[RowError]]:
    """Read ``path`` and check every row against ``plan`` without writing anything: (the rows as
    they would be stored, the errors). ``name``: how messages and the store name the file (default its
    path; an upload's own name, when the path is a temporary file)."""
    path = Path(path)
    df = read_table(path, sheet=sheet, columns=REQUIRED + OPTIONAL, extra_columns=extra_columns)
    return validate_rows(df, plan, name or path.name, normalise_width=normalise_width)


def import_observations(path: str | Path, store: Store, plan: Plan, *, sheet: str | None = None,
                        extra_columns: tuple[str, ...] = (), normalise_width: bool = False,
                        name: str | None = None) -> ImportSummary:
    """Validate ``path`` against ``plan`` and append it to ``store``, all or nothing.

    ``sheet``: the workbook sheet to read (needed when more than one has data); ``extra_columns``:
    columns besides the known ones to accept (kept in each row's note as "name：value");
    ``normalise_width``: read full-width digits and punctuation (０-９，．) as ASCII (NFKC) instead of
    refusing them."""
    path = Path(path)
    rows, errors = read_and_validate(path, plan, sheet=sheet, extra_columns=extra_columns,
                                     normalise_width=normalise_width, name=name)
    if errors:
        raise ObservationImportError(errors)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    summary = store.add_observations(rows, file=name or str(path), sha256=sha, plan_id=plan.meta.id)
    summary.conversions = [f"row {r.file_row} {r.indicator}: {r.conversion}" for r in rows.itertuples() if r.conversion]
    summary.not_comparable = [
        f"row {r.file_row} {r.indicator} {r.year}: scope {r.scope!r}" for r in rows.itertuples() if not r.comparable
    ]
    return summary
