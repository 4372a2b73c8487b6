"""The plan package model: targets, their kinds and sources, as validated pure data.

A plan package is a folder of YAML files (see ``planwatch/plans/<plan-id>/``). This module only
describes and validates its shape; :mod:`planwatch.plan.load` reads it from disk.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from planwatch.ledger.rules import LedgerRules
from planwatch.plan.spatial import Spatial


class Kind(StrEnum):
    """How a target value is to be read (the plan's own wording in brackets)."""

    CEILING = "ceiling"  # <X, 不超过X, X以内, 控制在X以内: must stay at or below
    FLOOR = "floor"  # >X, X以上, 不低于X: must reach and stay at or above
    APPROX = "approx"  # X左右: reach about X
    STABLE = "stable"  # 稳定在X(左右): keep at about X
    EXACT = "exact"  # a plain number to reach (达到X, 提高到X)
    RANGE = "range"  # X—Y (value is the low end, value_high the high end)
    RATIO = "ratio"  # 1:X, value holds X (the second term of the ratio)
    DECREASE_FROM = "decrease_from"  # 较2019年下降: below a reference value
    QUALITATIVE = "qualitative"  # 达到国家要求, 增加, 基本实现全覆盖: no number to test


NUMERIC_KINDS = {Kind.CEILING, Kind.FLOOR, Kind.APPROX, Kind.STABLE, Kind.EXACT, Kind.RANGE, Kind.RATIO}


class Direction(StrEnum):
    INCREASE = "increase"  # higher is better
    DECREASE = "decrease"  # lower is better
    MAINTAIN = "maintain"  # stay close to the target
    NONE = "none"  # no direction (context indicator)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OcrCorrection(Strict):
    """A number the OCR garbled, and why the corrected value is what it is."""

    raw: str  # what the seed says, verbatim, e.g. "$123 \\%$"
    note: str  # why the value was corrected


class TargetValue(Strict):
    year: int = Field(ge=1949, le=2100)
    kind: Kind
    value: float | None = None
    value_high: float | None = None  # only for kind=range
    raw: str = ""  # the cell or phrase as the plan writes it, e.g. "<2300", "稳定在6左右"
    ocr: OcrCorrection | None = None
    reference: Baseline | None = None  # only for kind=decrease_from: the value to go below
    # The final account's "nearly met" (基本达成) for a hard target (a bound, an exact level, a range):
    # the largest shortfall, in the target's unit, still called nearly met. None: met or missed.
    nearly: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _value_matches_kind(self) -> TargetValue:
        if self.kind == Kind.QUALITATIVE:
            if self.value is not None:
                raise ValueError("a qualitative target carries no value")
        elif self.kind == Kind.DECREASE_FROM:
            if self.reference is None:
                raise ValueError("kind decrease_from needs a reference {year, value}")
        elif self.value is None:
            raise ValueError(f"kind {self.kind.value} needs a value")
        if self.kind == Kind.RANGE:
            if self.value_high is None or self.value_high < (self.value or 0):
                raise ValueError("kind range needs value <= value_high")
        elif self.value_high is not None:
            raise ValueError("value_high is only for kind range")
        return self


class Baseline(Strict):
    year: int = Field(ge=1949, le=2100)
    value: float | None = None  # None: the plan gives no baseline ("-")
    raw: str = ""
    ocr: OcrCorrection | None = None


TargetValue.model_rebuild()


class Source(Strict):
    table_row: int | None = Field(default=None, ge=1)
    article: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> Source:
        if (self.table_row is None) == (self.article is None):
            raise ValueError("a source is either {table_row} or {article}")
        return self


class Measure(StrEnum):
    """What kind of number an indicator (or an observation) is."""

    LEVEL = "level"  # a stock or rate in a year: population, area, a concentration, a coverage share
    CHANGE = "change"  # a change over a period: a year's reduction, a year-on-year growth
    RATIO = "ratio"  # one quantity per another: volunteers per resident, 1:X
    COUNT = "count"  # a number of things: conferences, institutions
    CUMULATIVE_DECLINE = "cumulative_decline"  # a decline since a base year, in % (比2015年降低)


MEASURE_ZH = {
    Measure.LEVEL: "水平值",
    Measure.CHANGE: "变化量",
    Measure.RATIO: "比值",
    Measure.COUNT: "数量",
    Measure.CUMULATIVE_DECLINE: "累计降幅",
}


class Scope(Strict):
    """Where and what the indicator measures.

    ``geo`` is the area the target applies to (全市, 中心城区, 核心区, 平原地区, 建成区, …).
    ``measure`` is the kind of number (a level, a change, a ratio, a count, a cumulative decline
    since ``base_year``). ``definition`` is set where the plan's definition matters for comparing
    observations, e.g. rail mileage that includes suburban railways. An observation that declares
    another geo, measure or definition is stored and shown, but never graded.
    """

    geo: str = "全市"
    measure: Measure = Measure.LEVEL
    base_year: int | None = Field(default=None, ge=1949, le=2100)  # only for cumulative_decline
    definition: str | None = None

    @model_validator(mode="after")
    def _base_year_for_declines(self) -> Scope:
        if (self.measure == Measure.CUMULATIVE_DECLINE) != (self.base_year is not None):
            raise ValueError("scope.base_year is given exactly when measure is cumulative_decline")
        return self


CATEGORIES = ("创新", "协调", "绿色", "开放", "共享", "安全")


class Target(Strict):
    id: str = Field(pattern=r"^(T\d{2}|A\d{1,3}\.\d{1,2})$")
    name: str
    unit: str  # the plan's unit, e.g. 万人, 平方公里, %, "" for a pure ratio
    category: Literal["创新", "协调", "绿色", "开放", "共享", "安全"]
    scope: Scope = Scope()
    direction: Direction
    baseline: Baseline | None = None
    targets: list[TargetValue] = Field(min_length=1)
    source: Source
    quote: str  # verbatim from the seed; the test normalises whitespace only
    aliases: list[str] = []  # other names an observation file may use
    notes: list[str] = []  # reconstruction notes, ambiguities
    # The target (usually a table row) that measures the same thing: this one shares its data and
    # its verdict (e.g. Art. 113's PM2.5 target restates table row 12).
    same_as: str | None = None
    # Who publishes the figure: the statistic and the department that would supply it (Chinese).
    source_hint: str = ""

    @model_validator(mode="after")
    def _id_matches_source(self) -> Target:
        if self.id.startswith("T"):
            if self.source.table_row != int(self.id[1:]):
                raise ValueError(f"{self.id}: id and source.table_row disagree")
        elif self.source.article != int(self.id[1:].split(".")[0]):
            raise ValueError(f"{self.id}: id and source.article disagree")
        years = [t.year for t in self.targets]
        if len(years) != len(set(years)):
            raise ValueError(f"{self.id}: two target values for the same year")
        return self

    def target_for(self, year: int) -> TargetValue | None:
        """The first target value whose year is on or after ``year`` (the one in force)."""
        later = sorted((t for t in self.targets if t.year >= year), key=lambda t: t.year)
        return later[0] if later else None


class PlanMeta(Strict):
    id: str
    title: str
    title_en: str = ""
    period: tuple[int, int]
    base_year: int
    source_file: str  # the plan text, shipped in the package folder
    source_note: str = ""
    whole_area: str = "全市"
    districts: list[str] = []  # the geos an observation may name (besides the whole area)
    categories: dict[str, str]  # short code -> the plan's wording, e.g. 创新 -> 坚持创新发展


REVIEWS_BY_DISTRICT = "district"


class Units(Strict):
    """The table of responsible units (``units.yaml``): who a finding is suggested to be assigned to (交办).

    Not plan text: a suggestion the bureau running the findings register edits. ``indicators`` maps a
    target id to a department; ``default`` is the unit of anything unmapped; ``rules`` the unit of a
    failed spatial rule; ``reviews`` the unit of a review conflict, or ``district`` for the district
    the parcel lies in. Every unit named must be one of ``departments``.
    """

    departments: list[str] = Field(min_length=1)
    default: str
    rules: str
    reviews: str = REVIEWS_BY_DISTRICT  # "district" or a department
    indicators: dict[str, str] = {}

    @model_validator(mode="after")
    def _units_are_departments(self) -> Units:
        seen: set[str] = set()
        for d in self.departments:
            if not d.strip() or d != d.strip():
                raise ValueError(f"department {d!r} is blank or has surrounding spaces")
            if d in seen:
                raise ValueError(f"department {d} is listed twice")
            seen.add(d)
        known = ", ".join(self.departments)
        for field_name in ("default", "rules"):
            value = getattr(self, field_name)
            if value not in seen:
                raise ValueError(f"{field_name} {value!r} is not one of the departments ({known})")
        if self.reviews != REVIEWS_BY_DISTRICT and self.reviews not in seen:
            raise ValueError(f"reviews {self.reviews!r} is neither {REVIEWS_BY_DISTRICT!r} nor one of the "
                             f"departments ({known})")
        for target_id, unit in self.indicators.items():
            if unit not in seen:
                raise ValueError(f"indicator {target_id}: unit {unit!r} is not one of the departments ({known})")
        return self


class Plan(Strict):
    meta: PlanMeta
    targets: list[Target]
    notes: list[str] = []  # package-level notes: reconstructions and ambiguities
    spatial: Spatial | None = None  # the one map's layer types and the spatial rules
    units: Units | None = None  # the table of responsible units for the findings register (units.yaml)
    ledger: LedgerRules | None = None  # the quota ledger's rules (ledger.yaml)

    @model_validator(mode="after")
    def _unique_ids(self) -> Plan:
        seen: set[str] = set()
        for t in self.targets:
            if t.id in seen:
                raise ValueError(f"duplicate target id {t.id}")
            seen.add(t.id)
        by_id = {t.id: t for t in self.targets}
        for t in self.targets:
            if t.same_as is None:
                continue
            other = by_id.get(t.same_as)
            if other is None:
                raise ValueError(f"{t.id}: same_as {t.same_as} is not a target of this plan")
            if other.same_as is not None:
                raise ValueError(f"{t.id}: same_as {t.same_as}, which is itself same_as {other.same_as}: link to that one")
            if other.unit != t.unit:
                raise ValueError(f"{t.id}: same_as {other.id}, but the units differ ({t.unit!r} vs {other.unit!r})")
            if other.scope.geo != t.scope.geo or other.scope.measure != t.scope.measure:
                raise ValueError(f"{t.id}: same_as {other.id}, but the scopes differ")
            for tv in t.targets:
                ov = other.target_for(tv.year)
                if tv.value is not None and (ov is None or ov.year != tv.year or ov.value != tv.value):
                    raise ValueError(f"{t.id}: same_as {other.id}, but its {tv.year} target differs")
        for r in self.spatial.rules if self.spatial else []:
            if r.target is not None and r.target not in seen:
                raise ValueError(f"rule {r.id}: unknown target {r.target}")
            if r.target is not None and by_id[r.target].same_as is not None:
                raise ValueError(f"rule {r.id}: target {r.target} is same_as {by_id[r.target].same_as}: name that one")
            if r.target is None and r.category is None:
                raise ValueError(f"rule {r.id}: a rule without a target needs a category (one of {', '.join(CATEGORIES)})")
        for target_id in self.units.indicators if self.units else {}:
            if target_id not in seen:
                raise ValueError(f"units.yaml: indicator {target_id} is not a target of this plan")
        if self.ledger is not None:
            if sorted(self.ledger.district_ring) != sorted(self.meta.districts):
                raise ValueError("ledger.yaml: district_ring must list exactly the plan's districts")
            for name, ref in self.ledger.references.items():
                if ref.target not in seen:
                    raise ValueError(f"ledger.yaml: reference {name}: {ref.target} is not a target of this plan")
        return self

    def primary(self, target_id: str) -> str:
        """The id whose data and verdict ``target_id`` shares (itself unless it is ``same_as`` another)."""
        t = self.target(target_id)
        return t.same_as or t.id

    def linked(self, target_id: str) -> list[str]:
        """The targets that are ``same_as`` ``target_id``."""
        return [t.id for t in self.targets if t.same_as == target_id]

    def target(self, target_id: str) -> Target:
        for t in self.targets:
            if t.id == target_id:
                return t
        raise KeyError(target_id)
