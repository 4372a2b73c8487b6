"""The plan package's spatial part: the one map's layer types and the plan's spatial rules, as data.

Read from ``layers.yaml`` and ``rules.yaml`` in the plan folder. Pure models; no geometry here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReviewRule(Strict):
    """What a project touching (or leaving) a layer's features means."""

    severity: Literal["forbidden", "restricted", "guidance"]
    when: Literal["inside", "outside"] = "inside"  # outside: conflict is the part outside the layer
    rule: str  # the rule in the plan's words, Chinese
    article: int
    where: dict[str, list[str]] = {}  # only features whose attribute is in the list, e.g. {zone: [生态控制区]}
    quote: str = ""  # verbatim from the article, checked like target quotes


class LayerType(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,30}$")  # table-safe name
    name: str  # the plan's Chinese name
    geometry: Literal["polygon", "point", "line"]
    role: Literal["control", "zone", "guide", "ring", "base", "records"]
    # control: control lines (reviewed, conflicts); zone/guide/ring: reported as zones with shares;
    # base: reference data (districts, stations, parks, residential); records: land supply, reduction
    attributes: dict[str, list[str] | None] = {}  # required attribute -> allowed values (None = any)
    review: ReviewRule | None = None
    articles: list[int] = []
    description: str = ""


class SpatialRule(Strict):
    """A rule on whole years of records (land supply, reduction), e.g. Art. 56's 70 %."""

    id: str = Field(pattern=r"^R[0-9]{2}$")
    article: int
    description: str  # Chinese
    kind: Literal["share_inside", "none_inside", "area_total"]
    records: str  # layer type id of the records (land_supply, reduction, construction_land)
    where: dict[str, list[str]] = {}  # filter on the records' attributes, e.g. {use: [工业]}
    within: list[str] | None = None  # 圈层 values the rule applies to, e.g. [中心城区]; None = whole plan area
    zone: str | None = None  # layer type id the share is measured against (share_inside / none_inside)
    comparator: Literal[">=", "<=", "≈", "=="]
    threshold: float  # %, or km² for area_total, or 0 for none_inside (count of parcels)
    tolerance: float = 0.0  # for ≈: |value − threshold| ≤ tolerance passes
    unit: Literal["%", "平方公里", "处"]
    year_from: int | None = None  # the rule applies to records of this year on …
    year_to: int | None = None  # … up to this year (Art. 26: before 2035)
    target: str | None = None  # target id whose observation this rule's value is (e.g. A56.1)
    # A rule without a target is graded on its own (pass green, fail red) and counted on the board
    # under this category.
    category: Literal["创新", "协调", "绿色", "开放", "共享", "安全"] | None = None
    quote: str = ""  # verbatim from the article
    notes: list[str] = []

    @model_validator(mode="after")
    def _zone_needed(self) -> SpatialRule:
        if self.kind in {"share_inside", "none_inside"} and not self.zone:
            raise ValueError(f"{self.id}: kind {self.kind} needs a zone layer type")
        return self


class Spatial(Strict):
    metric_crs: str  # areas and distances are computed here, never in degrees (a projected CRS in metres)
    storage_crs: str
    plan_area_bounds_wgs84: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max
    layer_types: list[LayerType]
    rules: list[SpatialRule] = []

    @model_validator(mode="after")
    def _references(self) -> Spatial:
        ids = [lt.id for lt in self.layer_types]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate layer type id")
        for r in self.rules:
            for ref in (r.records, r.zone):
                if ref is not None and ref not in ids:
                    raise ValueError(f"rule {r.id}: unknown layer type {ref!r}")
        return self

    def layer_type(self, type_id: str) -> LayerType:
        for lt in self.layer_types:
            if lt.id == type_id or lt.name == type_id:
                return lt
        known = ", ".join(f"{lt.id} ({lt.name})" for lt in self.layer_types)
        raise KeyError(f"unknown layer type {type_id!r}; known types: {known}")
