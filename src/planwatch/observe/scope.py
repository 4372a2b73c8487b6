"""Whether an observation measures what its indicator measures: scope as data, not as a string.

An indicator declares its geographic scope (全市, 中心城区, 建成区, …) and its measure (a level, a
change, a ratio, a count, a cumulative decline since a base year); see :class:`planwatch.plan.model.Scope`.
An observation row may declare its own, in two columns:

- ``scope``: free text, in clauses separated by ``；;，,``. Empty means "what the indicator measures".
  A clause that names the indicator's own geographic scope (T37's ``中心城区``) or repeats its
  ``definition`` restates it; a clause that only describes the source (``英文转述``, ``二手来源``) does
  not change what the figure measures. Any other clause (``不含市郊铁路``, ``当年减量``, ``编制床位口径``)
  says the figure measures something else.
- ``measure``: one of the measures (English or Chinese name); empty means the indicator's.

The figure is **comparable** (graded) only when nothing differs. Otherwise it is kept and shown as a
related statistic, never graded. Pure functions; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from planwatch.plan.model import Measure, Target

# Clauses that describe where a figure was read, not what it measures.
SOURCE_REMARKS = (
    "英文转述", "英文原文", "英文报道", "英文页面", "二手来源", "转载", "转述", "繁体转码页", "译文", "原文为英文",
)  # fmt: skip

MEASURE_WORDS: dict[str, Measure] = {
    "level": Measure.LEVEL, "水平值": Measure.LEVEL, "水平": Measure.LEVEL, "存量": Measure.LEVEL,
    "change": Measure.CHANGE, "变化量": Measure.CHANGE, "增量": Measure.CHANGE, "减量": Measure.CHANGE,
    "ratio": Measure.RATIO, "比值": Measure.RATIO,
    "count": Measure.COUNT, "数量": Measure.COUNT, "个数": Measure.COUNT, "人数": Measure.COUNT,
    "cumulative_decline": Measure.CUMULATIVE_DECLINE, "累计降幅": Measure.CUMULATIVE_DECLINE,
}  # fmt: skip

_CLAUSES = re.compile(r"[；;，,]")


class ScopeError(ValueError):
    """A ``measure`` value that is not a measure."""


@dataclass(frozen=True)
class ScopeReading:
    comparable: bool
    measure: Measure | None  # as declared by the row (None: not declared)
    differs: tuple[str, ...]  # the clauses (or the measure) that make it not comparable, as written
    remarks: tuple[str, ...]  # clauses about the source only


def parse_measure(text: str) -> Measure | None:
    """The measure a row declares ("" → None). Raises :class:`ScopeError` for an unknown word."""
    t = (text or "").strip()
    if not t:
        return None
    m = MEASURE_WORDS.get(t) or MEASURE_WORDS.get(t.lower())
    if m is None:
        known = "、".join(dict.fromkeys(MEASURE_WORDS))
        raise ScopeError(f"{t!r} is not a measure; use one of {known}")
    return m


def _is_remark(clause: str) -> bool:
    return any(r in clause for r in SOURCE_REMARKS)


def read_scope(scope: str, measure: str, target: Target) -> ScopeReading:
    """Read a row's ``scope`` and ``measure`` against ``target``'s own scope (see the module docstring)."""
    declared = parse_measure(measure)
    text = (scope or "").strip()
    differs: list[str] = []
    remarks: list[str] = []
    own_definition = (target.scope.definition or "").strip()
    if text and text != own_definition:
        for clause in (c.strip() for c in _CLAUSES.split(text)):
            if not clause or clause in (target.scope.geo, own_definition):
                continue
            (remarks if _is_remark(clause) else differs).append(clause)
    if declared is not None and declared != target.scope.measure:
        differs.append(f"measure={declared.value}")
    return ScopeReading(comparable=not differs, measure=declared, differs=tuple(differs), remarks=tuple(remarks))
