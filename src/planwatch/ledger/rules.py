"""The quota ledger's rules as data (``ledger.yaml`` of a plan package): the quota types, the account
chart (the districts and their 圈层), the caps, the 拆占比, the release schedule, each with the
article it comes from. Pure validated data: :mod:`planwatch.plan.load` reads it, ``plan check``
checks its quotes against the plan text, and the ledger applies it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cited(_Strict):
    """Where a rule comes from: the article, a verbatim quote of it, and whether the number is the
    plan's own or illustrative (示意: written for the software where the plan gives no figure)."""

    article: int | None = None  # 第N条; None for a rule of the software, not the plan (then illustrative)
    quote: str = ""
    illustrative: bool = False
    note: str = ""

    @model_validator(mode="after")
    def _cited(self) -> Cited:
        if self.article is None and not self.illustrative:
            raise ValueError("a rule without an article must be marked illustrative: true")
        if self.article is not None and not self.quote.strip():
            raise ValueError(f"第{self.article}条 is cited without a quote")
        return self


class Quota(Cited):
    """One kind of quota the ledger keeps: its name, unit and the decimals an amount may have."""

    name: str
    unit: str = "m²"
    decimals: int = Field(ge=0, le=4)


Measure = Literal["allocated", "net_growth", "released"]


class Cap(Cited):
    """A limit on a scope's quota, checked after every operation and by ``ledger check``.

    The scope is a ``ring`` (its districts), one ``district``, or ``each_district`` (one cap per
    district). The measure:

    - ``allocated``: what the scope's pools hold plus what its projects have reserved and committed;
    - ``net_growth``: ``allocated`` less the floor area or land the scope demolished (credited by
      ``credit-reduction``); 0 is the plan's dynamic zero growth (动态零增长);
    - ``released``: what the release plan released into the scope in ``year`` (every year when no
      year is given, each year on its own).
    """

    id: str
    quota: str
    ring: str | None = None
    district: str | None = None
    each_district: bool = False
    measure: Measure
    limit: float = Field(ge=0)
    year: int | None = None

    @model_validator(mode="after")
    def _one_scope(self) -> Cap:
        if sum([self.ring is not None, self.district is not None, self.each_district]) > 1:
            raise ValueError(f"cap {self.id}: give one of ring, district or each_district")
        return self


class Ratio(Cited):
    """The 拆占比 (demolished : newly occupied) a reduction credit may use: at least ``min``."""

    min: float = Field(gt=0)
    max: float | None = None


class Schedule(Cited):
    """The annual release plan (释放计划): per quota, per year, the amount the plan issues for release."""

    amounts: dict[str, dict[int, float]]


class Reference(_Strict):
    """A plan target the report sets the ledger against (its number comes from the target itself)."""

    target: str
    quota: str
    ring: str | None = None  # None: the whole plan area


class LedgerRules(_Strict):
    """``ledger.yaml``: what the quota ledger of a plan keeps and the rules it applies."""

    note: str = ""
    quotas: dict[str, Quota] = Field(min_length=1)
    rings: dict[str, list[str]]  # 圈层 → its districts (a district may lie in several, e.g. 核心区 ⊂ 中心城区)
    district_ring: dict[str, str]  # each district's ring for the account chart (the one it is listed under)
    reservation_days: int = Field(gt=0)
    ratio: Ratio
    schedule: Schedule
    caps: list[Cap] = []
    references: dict[str, Reference] = {}

    @model_validator(mode="after")
    def _consistent(self) -> LedgerRules:
        for ring, districts in self.rings.items():
            for d in districts:
                if d not in self.district_ring:
                    raise ValueError(f"ring {ring}: district {d} is not in district_ring")
        for d, ring in self.district_ring.items():
            if ring not in self.rings:
                raise ValueError(f"district_ring: {d}'s ring {ring} is not one of the rings")
        for quota, years in self.schedule.amounts.items():
            if quota not in self.quotas:
                raise ValueError(f"schedule: unknown quota {quota} (one of {', '.join(self.quotas)})")
            for year, amount in years.items():
                if amount < 0:
                    raise ValueError(f"schedule: {quota} {year} is negative")
        ids: set[str] = set()
        for cap in self.caps:
            if cap.id in ids:
                raise ValueError(f"cap {cap.id} is listed twice")
            ids.add(cap.id)
            if cap.quota not in self.quotas:
                raise ValueError(f"cap {cap.id}: unknown quota {cap.quota}")
            if cap.ring is not None and cap.ring not in self.rings:
                raise ValueError(f"cap {cap.id}: unknown ring {cap.ring}")
            if cap.district is not None and cap.district not in self.district_ring:
                raise ValueError(f"cap {cap.id}: unknown district {cap.district}")
        for name, ref in self.references.items():
            if ref.quota not in self.quotas:
                raise ValueError(f"reference {name}: unknown quota {ref.quota}")
            if ref.ring is not None and ref.ring not in self.rings:
                raise ValueError(f"reference {name}: unknown ring {ref.ring}")
        return self

    @property
    def districts(self) -> list[str]:
        return list(self.district_ring)

    def scope_districts(self, cap: Cap) -> list[list[str]]:
        """The district sets ``cap`` applies to (one per district with ``each_district``)."""
        if cap.each_district:
            return [[d] for d in self.districts]
        if cap.district is not None:
            return [[cap.district]]
        if cap.ring is not None:
            return [list(self.rings[cap.ring])]
        return [self.districts]

    def cited(self) -> list[tuple[str, Cited]]:
        """Every rule that cites the plan, named: what ``plan check`` checks against the text."""
        return [*((f"quota {k}", q) for k, q in self.quotas.items()), ("ratio", self.ratio),
                ("schedule", self.schedule), *((f"cap {c.id}", c) for c in self.caps)]


__all__ = ["Cap", "Cited", "LedgerRules", "Quota", "Ratio", "Reference", "Schedule"]
