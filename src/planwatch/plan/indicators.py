"""The plan package's computable indicators: which targets are computed from the one map, and how.

Read from ``indicators.yaml`` in the plan folder (:func:`load_indicator_specs`). Pure models and
checks against the plan (targets, units, layer types); the computation is in
:mod:`planwatch.indicators.compute`. The units an indicator is stored in are the target's own —
the YAML never repeats them — but each kind only makes sense in some units, and that is checked.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from planwatch.plan.load import DEFAULT_PLAN, PlanPackageError, load_plan, plan_dir
from planwatch.plan.model import Plan

Kind = Literal["coverage", "zone_share", "development_intensity", "area_total", "land_use_ratio", "land_use_share"]

# The unit each kind yields; the target's unit must be one of them.
KIND_UNITS: dict[str, set[str]] = {
    "coverage": {"%"},
    "zone_share": {"%"},
    "development_intensity": {"%"},
    "area_total": {"平方公里"},
    "land_use_ratio": {""},
    "land_use_share": {"%"},
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Walking(Strict):
    """How walking is measured for network coverage."""

    speed_kmh: float = Field(4.0, gt=0)  # a minute of walking = speed_kmh × 1000 / 60 m
    entrance_spacing_m: float = Field(100.0, gt=0)  # polygon destinations are entered along their edge this far apart
    snap: Literal["edge", "node"] = "edge"
    roads: str = "road_network"  # the layer type of the road network

    def metres(self, minutes: float) -> float:
        return minutes * self.speed_kmh * 1000.0 / 60.0


class PlainArea(Strict):
    """平原地区: a layer of that type if the store holds one, else the union of these 圈层."""

    layer: str = "plain_area"
    rings: list[str] = ["中心城区", "城市副中心", "平原新城"]


class LandUseClass(Strict):
    name: str  # the class as the land-use layer writes it, e.g. 居住用地
    code: str = ""  # e.g. "07" (国土空间调查、规划、用途管制用地用海分类指南)
    groups: list[str] = []  # the plan categories it counts in, e.g. [住, 城乡建设用地]


class LandUse(Strict):
    """The land-use layer and the table that maps its classes to the plan's categories."""

    layer: str = "land_use"
    attribute: str = "use"
    groups: dict[str, str] = {}  # group key → its meaning, e.g. 住: 居住用地
    classes: list[LandUseClass]
    notes: list[str] = []

    @model_validator(mode="after")
    def _groups_known(self) -> LandUse:
        names = [c.name for c in self.classes]
        if len(names) != len(set(names)):
            raise ValueError("land_use: a class is listed twice")
        for c in self.classes:
            unknown = set(c.groups) - set(self.groups)
            if unknown:
                raise ValueError(f"land_use class {c.name}: unknown group(s) {sorted(unknown)}; groups are {sorted(self.groups)}")
        return self

    def classes_in(self, group: str) -> list[str]:
        return [c.name for c in self.classes if group in c.groups]


class IndicatorSpec(Strict):
    """One computable indicator. Which fields a kind needs:

    - coverage: origins, destinations, within_m or within_minutes, weight (share of origins, %)
    - zone_share: layer, where (area of the selected zones / the plan area, %)
    - development_intensity: layer (its area inside 平原地区 / 平原地区, %)
    - area_total: layer, optionally within_rings (area, km²)
    - land_use_ratio: numerator, denominator (land-use groups; ratio 1:X stored as X)
    - land_use_share: group, of (land-use groups, %)
    """

    target: str
    kind: Kind
    layer: str | None = None
    where: dict[str, list[str]] = {}
    within_rings: list[str] = []
    origins: str | None = None
    destinations: str | None = None
    within_m: float | None = Field(None, gt=0)
    within_minutes: float | None = Field(None, gt=0)
    weight: str = "area"
    numerator: str | None = None
    denominator: str | None = None
    group: str | None = None
    of: str | None = None
    store_districts: bool = False  # also store district values as observations (rates only)
    definition: str = ""  # how the value is defined, Chinese, shown in the observation's note
    notes: list[str] = []

    @model_validator(mode="after")
    def _fields_for_kind(self) -> IndicatorSpec:
        need = {
            "coverage": ["origins", "destinations"],
            "zone_share": ["layer"],
            "development_intensity": ["layer"],
            "area_total": ["layer"],
            "land_use_ratio": ["numerator", "denominator"],
            "land_use_share": ["group", "of"],
        }[self.kind]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{self.target}: kind {self.kind} needs {', '.join(missing)}")
        if self.kind == "coverage" and (self.within_m is None) == (self.within_minutes is None):
            raise ValueError(f"{self.target}: a coverage gives exactly one of within_m, within_minutes")
        if self.kind == "zone_share" and not self.where:
            raise ValueError(f"{self.target}: zone_share needs where, e.g. {{zone: [生态控制区]}}")
        return self

    def layers(self, specs: IndicatorSpecs) -> list[str]:
        """The layer types this indicator reads (besides districts and rings)."""
        if self.kind == "coverage":
            return [self.origins, self.destinations]
        if self.kind in ("land_use_ratio", "land_use_share"):
            return [specs.land_use.layer] if specs.land_use else []
        return [self.layer]

    def distance_m(self, walking: Walking) -> float:
        return self.within_m if self.within_m is not None else walking.metres(self.within_minutes)


class IndicatorSpecs(Strict):
    walking: Walking = Walking()
    plain_area: PlainArea = PlainArea()
    land_use: LandUse | None = None
    indicators: list[IndicatorSpec]

    def spec(self, target: str) -> IndicatorSpec:
        for s in self.indicators:
            if s.target == target:
                return s
        raise KeyError(f"no computable indicator {target!r}; computable: {', '.join(s.target for s in self.indicators)}")


def check_specs(specs: IndicatorSpecs, plan: Plan) -> list[str]:
    """Problems of the specs against the plan: unknown targets or layer types, units that do not
    fit the kind, land-use groups that are not defined."""
    problems = []
    targets = {t.id: t for t in plan.targets}
    layer_ids = {lt.id for lt in plan.spatial.layer_types} if plan.spatial else set()
    seen = set()
    for s in specs.indicators:
        if s.target in seen:
            problems.append(f"{s.target}: listed twice")
        seen.add(s.target)
        t = targets.get(s.target)
        if t is None:
            problems.append(f"{s.target}: no such target in plan {plan.meta.id}")
            continue
        if t.unit not in KIND_UNITS[s.kind]:
            want = " or ".join(repr(u) for u in sorted(KIND_UNITS[s.kind]))
            problems.append(f"{s.target} ({t.name}): kind {s.kind} gives {want}, but the target's unit is {t.unit!r}")
        if s.store_districts and s.kind in ("area_total",):
            problems.append(f"{s.target}: district values of a city-wide total cannot be compared with its target; "
                            "store_districts is for rates")
        for lt in [*s.layers(specs), specs.walking.roads if s.kind == "coverage" else None]:
            if lt is not None and lt not in layer_ids:
                problems.append(f"{s.target}: unknown layer type {lt!r} (layers.yaml)")
        if s.kind in ("land_use_ratio", "land_use_share"):
            if specs.land_use is None:
                problems.append(f"{s.target}: kind {s.kind} needs the land_use table")
            else:
                for g in (s.numerator, s.denominator, s.group, s.of):
                    if g is not None and g not in specs.land_use.groups:
                        problems.append(f"{s.target}: unknown land-use group {g!r}")
    if specs.plain_area.layer not in layer_ids:
        problems.append(f"plain_area: unknown layer type {specs.plain_area.layer!r}")
    return problems


@lru_cache(maxsize=8)
def load_indicator_specs(plan_id: str = DEFAULT_PLAN) -> IndicatorSpecs:
    """Read and check ``indicators.yaml`` of a plan package. A package without one computes
    nothing (an empty list). Raises :class:`~planwatch.plan.PlanPackageError` naming the file."""
    folder = plan_dir(plan_id)
    path = folder / "indicators.yaml"
    if not path.exists():
        return IndicatorSpecs(indicators=[])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise PlanPackageError(f"{path}: not valid YAML: {e}") from e
    try:
        specs = IndicatorSpecs.model_validate(data)
    except ValidationError as e:
        lines = [f"  {'/'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise PlanPackageError(f"{path} does not validate:\n" + "\n".join(lines)) from e
    problems = check_specs(specs, load_plan(plan_id))
    if problems:
        raise PlanPackageError(f"{path}:\n" + "\n".join(f"  {p}" for p in problems))
    return specs
