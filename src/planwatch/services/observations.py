"""Observations: import a file of them, list them, one indicator's history."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planwatch.services import ServiceError, StoreSource, frame_records, opened, store_label

if TYPE_CHECKING:
    import pandas as pd

    from planwatch.plan import Plan
    from planwatch.services.users import User
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


def import_scope(user: User | None) -> str | None:
    """The only district whose rows ``user`` may import (None: any): a district editor's own; an admin
    and the local operator (``user`` None) any; every other account none (:class:`Forbidden`)."""
    from planwatch.services import users

    if user is None:
        return None
    if user.role == "district_editor":
        users.require(user, "write_observations", district=user.district)
        return user.district
    users.require(user, "admin")
    return None


class _Acting:
    """The store as :func:`planwatch.observe.import_observations` sees it for an account's import: its
    one write carries the account's audit row and scope (:func:`planwatch.services.users.acting`)."""

    def __init__(self, store: Store, acting: dict):
        self._store, self._acting = store, acting

    def __getattr__(self, name):
        return getattr(self._store, name)

    def add_observations(self, rows, **kwargs) -> ImportSummary:
        return self._store.add_observations(rows, **kwargs, **self._acting)


def import_file(store: StoreSource, plan: Plan, file: Path, *, sheet: str | None = None,
                extra_columns: tuple[str, ...] = (), normalise_width: bool = False, name: str | None = None,
                only_district: str | None = None, user: User | None = None, address: str = "") -> ObservationImport:
    """Import a CSV or XLSX of observations into ``store``, all or nothing (``observe import``).
    ``store`` may be an opener: it is called once the file is known to exist. ``name``: how the
    file is named (an upload's own name; the path is then a temporary file). ``only_district``: refuse
    the file unless every row is of that district. ``user``: the account importing (from ``address``):
    a district editor only its own district's rows (``only_district`` then is its district), an admin
    any, any other account nothing (:class:`Forbidden`); the import is audited in its own transaction.
    None: the local operator, as before."""
    from planwatch.observe import ObservationImportError, import_observations
    from planwatch.services import users

    if user is not None:
        only_district = import_scope(user)
    file = Path(file)
    if not file.is_file():
        raise ServiceError(f"{name or file}: no such file")
    if only_district is not None:
        checked = preview(plan, file, sheet=sheet, name=name, only_district=only_district)
        if checked.errors:
            raise ServiceError(f"{name or file}: " + "; ".join(e["message"] for e in checked.errors[:5])
                               + ("…" if len(checked.errors) > 5 else "") + "; nothing was imported")
    store = opened(store)
    if user is not None:
        store = _Acting(store, users.acting(user, "observations.import", name or file.name,
                                            {"file": name or file.name}, address))
    try:
        s = import_observations(file, store, plan, sheet=sheet, extra_columns=tuple(extra_columns),
                                normalise_width=normalise_width, name=name)
    except ObservationImportError as e:
        raise ServiceError(f"{name or file}: {e}") from None
    return ObservationImport(Path(name) if name else file, s)


@dataclass(frozen=True)
class Preview:
    """An import checked, nothing written: how many rows it would import, and each row's errors."""

    file: str
    rows: int
    errors: list[dict]  # row, column, message
    frame: pd.DataFrame  # the rows as they would be stored (empty when any error)

    def to_records(self) -> dict:
        return {"file": self.file, "rows": self.rows, "ok": not self.errors, "errors": self.errors,
                "preview": frame_records(self.frame[LIST_COLUMNS[:6]].head(200)) if len(self.frame) else []}


def preview(plan: Plan, file: Path, *, sheet: str | None = None, name: str | None = None,
            only_district: str | None = None, user: User | None = None) -> Preview:
    """Check a file of observations as ``observe import`` would, writing nothing (the import preview):
    every row's errors; with ``only_district``, a row of another district (or of the whole city) is
    an error too. ``user``: as :func:`import_file` would check it for that account."""
    from planwatch.observe import ObservationImportError
    from planwatch.observe.importer import read_and_validate

    if user is not None:
        only_district = import_scope(user)
    label = name or Path(file).name
    try:
        rows, errors = read_and_validate(file, plan, sheet=sheet, name=label)
    except ObservationImportError as e:
        errors, rows = list(e.errors), None
    out = [{"row": e.row, "column": e.column, "message": str(e)} for e in errors]
    if only_district is not None and rows is not None and len(rows):
        for r in rows.itertuples(index=False):
            if r.geo != only_district:
                out.append({"row": int(r.file_row), "column": "geo",
                            "message": f"{label}: row {r.file_row}: geo {r.geo or plan.meta.whole_area!r} is not "
                                       f"{only_district}, the only district this account may write"})
    import pandas as pd

    frame = rows if rows is not None and not out else pd.DataFrame()
    return Preview(label, 0 if rows is None else len(rows), out, frame)


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


def template_xlsx(plan: Plan, district: str = "", *, year: int | None = None) -> bytes:
    """The XLSX a district (or, with ``district`` empty, the city) fills in: the sheet
    ``observations`` with the columns ``observe import`` reads and one row per target of the plan (its
    id, ``year``, its unit, the district), the values left empty; a sheet ``指标`` naming the
    targets, and a sheet ``说明`` saying how to fill it in and that the import is all or nothing."""
    from datetime import date
    from io import BytesIO

    from openpyxl import Workbook
    from openpyxl.styles import Font

    from planwatch.observe.importer import OPTIONAL, REQUIRED

    if district and district not in plan.meta.districts:
        raise ServiceError(f"--district {district!r} is not one of the plan's districts: {', '.join(plan.meta.districts)}",
                           usage=True)
    year = year or date.today().year - 1
    columns = [c for c in REQUIRED + OPTIONAL if c not in ("measure", "method")]
    wb = Workbook()
    ws = wb.active
    ws.title = "observations"
    ws.append(columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for tg in plan.targets:
        row = {"indicator": tg.id, "year": year, "unit": tg.unit, "geo": district}
        ws.append([row.get(c) for c in columns])
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    names = wb.create_sheet("指标")
    names.append(["indicator", "指标名称", "单位", "类别"])
    for tg in plan.targets:
        names.append([tg.id, tg.name, tg.unit, tg.category])
    names.column_dimensions["B"].width = 60
    guide = wb.create_sheet("说明")
    for line in (f"{plan.meta.title}：观测数据填报模板（{district or plan.meta.whole_area}）",
                 f"geo（地区）：{district or '空白表示全市，或填写区名'}；只能填写本账户所属区的数据。",
                 "observations 表每行一个指标（名称见“指标”表）：填写 year（年份）与 value（数值），unit 须为该指标的单位；"
                 "不填数值的行请删除。",
                 "scope：数值口径与指标不同时填写（如仅含地铁）；note：原文摘录；source：发布机构与标题；published：发布日期。",
                 "上传后先预检，每行错误都会列出；没有错误才可导入，导入为整体事务（全部导入或全部不导入）。"):
        guide.append([line])
    guide.column_dimensions["A"].width = 110
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


__all__ = ["HISTORY_COLUMNS", "LIST_COLUMNS", "ObservationImport", "ObservationTable", "history", "import_file",
           "import_scope", "list_observations", "preview", "require_observations", "template_xlsx"]
