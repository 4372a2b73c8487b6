"""Read an observation file (CSV or XLSX) into a table of strings, strictly: nothing guessed.

- CSV in UTF-8 (with or without BOM) or GB18030, comma-separated (``.tsv``: tab). A row with more
  fields than the header is refused (a comma inside an unquoted value would shift every column
  after it, and the errors would blame the wrong ones).
- XLSX: the one non-empty sheet, or the one named by ``sheet``. A cell holding a formula with no
  saved value (a workbook written by a program that does not compute formulas) is refused: its value
  is unknown. A formula with a saved value is read as that value.
- The header is the first row. Names are folded (case, spaces) and Chinese names are accepted
  (:data:`HEADER_ALIASES`: 指标, 年份, 数值, 单位, 口径, 备注, 来源, 发布日期 …). A column the caller does
  not know is refused unless listed in ``extra_columns``; a column named twice is refused.

Every problem is a :class:`RowError` naming the file, the row (as a spreadsheet shows it: the header
is row 1), the column and what to do; values quoted back are shortened.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd

MAX_ERRORS_SHOWN = 50
MAX_ECHO = 60  # characters of a user's value quoted back in a message

HEADER_ALIASES = {
    "指标": "indicator", "指标名称": "indicator", "指标编号": "indicator",
    "年份": "year", "年度": "year",
    "数值": "value", "值": "value",
    "单位": "unit",
    "地域": "geo", "地区": "geo", "区": "geo",
    "口径": "scope", "统计口径": "scope",
    "计量方式": "measure",
    "备注": "note", "说明": "note",
    "来源": "source", "数据来源": "source",
    "发布日期": "published",
    "方法": "method",
}  # fmt: skip


def echo(value: object, limit: int = MAX_ECHO) -> str:
    """A user's value as a message quotes it: repr, cut to ``limit`` characters with its length."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"…（共{len(text)}个字符）"


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


def _fail(file: str, message: str, row: int | None = None, column: str | None = None):
    raise ObservationImportError([RowError(file, row, column, message)])


def fold_header(name: object) -> str:
    text = "" if name is None else str(name).strip()
    return HEADER_ALIASES.get(text, text.lower())


def _csv_rows(path: Path, name: str) -> list[list[str]]:
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        _fail(name, "binary file, expected CSV text (or save it as .xlsx)")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes almost anything
        _fail(name, "not UTF-8 or GB18030 text")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)]
    except csv.Error as e:
        _fail(name, f"not valid CSV ({e}); check the quotes")


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


TEMPLATE_SHEET = "observations"  # the sheet read from a workbook of several (observe template writes it)


def _xlsx_rows(path: Path, name: str, sheet: str | None) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        values = load_workbook(path, data_only=True, read_only=False)
        formulas = load_workbook(path, data_only=False, read_only=False)
    except Exception as e:  # noqa: BLE001 - any openpyxl/zip failure means "not a workbook we can read"
        _fail(name, f"cannot be read as an Excel workbook ({type(e).__name__}: {echo(e, 120)})")
    filled = [ws.title for ws in values.worksheets if any(c.value is not None for row in ws.iter_rows() for c in row)]
    if sheet is not None:
        if sheet not in values.sheetnames:
            _fail(name, f"no sheet {echo(sheet)}; the sheets are {', '.join(values.sheetnames)}")
        chosen = sheet
    elif len(filled) > 1 and TEMPLATE_SHEET in filled:  # planwatch's own template: its other sheets are guides
        chosen = TEMPLATE_SHEET
    elif len(filled) > 1:
        _fail(name, f"the workbook has {len(filled)} sheets with data ({', '.join(filled)}): say which to import "
                    "with --sheet NAME")
    elif not filled:
        _fail(name, "the workbook has no data")
    else:
        chosen = filled[0]
    ws_v, ws_f = values[chosen], formulas[chosen]
    problems = []
    rows = []
    for row_v, row_f in zip(ws_v.iter_rows(), ws_f.iter_rows(), strict=True):
        cells = []
        for cv, cf in zip(row_v, row_f, strict=True):
            if cf.data_type == "f" and cv.value is None:
                problems.append(RowError(name, cv.row, None, f"cell {cv.coordinate} holds a formula "
                                         f"({echo(cf.value)}) with no saved value: open and save the workbook in "
                                         "Excel or LibreOffice so the value is computed, or type the value"))
            cells.append(_cell_text(cv.value))
        rows.append(cells)
    if problems:
        raise ObservationImportError(problems)
    return rows


def read_table(path: str | Path, *, sheet: str | None = None, columns: list[str] | None = None,
               extra_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """The file as a DataFrame of strings with folded column names (see the module docstring).
    ``columns``: the names the caller knows (None: any); ``extra_columns``: more to accept."""
    path = Path(path)
    name = path.name
    if not path.exists():
        _fail(str(path), "file not found")
    if path.is_dir():
        _fail(str(path), "is a folder, expected a .csv or .xlsx file")
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        rows = _xlsx_rows(path, name, sheet)
    elif suffix in {".csv", ".txt", ".tsv"}:
        if sheet is not None:
            _fail(name, "--sheet is for Excel workbooks; this is a CSV file")
        rows = _csv_rows(path, name)
    else:
        _fail(name, f"unsupported file type {suffix or '(none)'}: expected .csv or .xlsx")
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()  # trailing blank lines
    if not rows:
        _fail(name, "the file is empty")
    header = [fold_header(h) for h in rows[0]]
    while header and header[-1] == "" and not any(len(r) >= len(header) and r[len(header) - 1].strip() for r in rows[1:]):
        header.pop()  # trailing empty header cells with no data under them (a spreadsheet's ragged edge)
    errors = []
    seen: dict[str, int] = {}
    for i, h in enumerate(header, start=1):
        if h == "":
            errors.append(RowError(name, 1, None, f"column {i} has no name in the header"))
        elif h in seen:
            errors.append(RowError(name, 1, h, f"the column appears twice (columns {seen[h]} and {i}): keep one"))
        else:
            seen[h] = i
    if columns is not None:
        allowed = set(columns) | {fold_header(c) for c in extra_columns}
        for h in header:
            if h and h not in allowed:
                errors.append(RowError(name, 1, h, f"unknown column (a misspelling?); the columns are {', '.join(columns)}"
                                                   " — or list it with --extra-column to keep it"))
    body = []
    for n, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue  # a blank line between rows
        if len(r) > len(header) and any(c.strip() for c in r[len(header):]):
            errors.append(RowError(name, n, None, f"the row has {len(r)} fields but the header has {len(header)}: "
                                                  "a value with a comma must be in double quotes"))
            continue
        body.append([n, *(r + [""] * (len(header) - len(r)))[: len(header)]])
    if errors:
        raise ObservationImportError(errors)
    df = pd.DataFrame(body, columns=["_row", *header]).astype({c: str for c in header})
    return df
