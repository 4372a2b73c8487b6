"""The bridge from the level reached to the next horizon: the pace a later target now demands.

For every target with a value in ``to_year`` (2035 for Beijing), from the level actually reached by
``from_year`` (or the latest comparable figure before it):

* **required pace** — the annual change ``(T − v) / (to_year − y)`` and, where growth rates make
  sense, the annual growth rate ``(T / v) ** (1 / (to_year − y)) − 1``;
* **achieved pace** — the same two measures from the plan's baseline to the level reached:
  ``(v − b) / (y − base_year)`` and ``(v / b) ** (1 / (y − base_year)) − 1``;
* **ratio** — required ÷ achieved annual change: above 1, the pace must speed up by that factor;
  negative, the target lies the other way from the trend so far;
* **suggested interim values** for ``interim_year`` (2030) on two paths — linear, ``v + Δ·(2030 − y)``,
  and constant growth, ``v·(1 + g)**(2030 − y)`` — each a *suggestion* for the next near-term plan,
  never a target.

Growth rates need positive values at both ends: with a zero or negative base, level or target (a
sign change), only the linear path is given and the row says so. Nothing divides by zero: a zero
achieved change gives no ratio, and says why. Pure; no I/O.
"""

from __future__ import annotations

import math

import pandas as pd

from planwatch.evaluate.engine import fmt_number, latest_per_indicator, target_text
from planwatch.evaluate.final import MET, _decide
from planwatch.evaluate.select import as_published, split_graded, with_defaults

BRIDGE_COLUMNS = [
    "id", "name", "unit", "category", "from_year", "level_year", "level", "level_text", "provisional",
    "target_year", "target_kind", "target_value", "target_raw", "baseline_year", "baseline_value",
    "required_change", "required_growth", "achieved_change", "achieved_growth", "pace_ratio",
    "interim_year", "interim_linear", "interim_growth", "growth_note", "reason",
]


def _growth(start: float, end: float, years: float) -> float:
    """Compound annual growth from ``start`` to ``end`` over ``years``; NaN unless both are positive."""
    if years <= 0 or not (start > 0 and end > 0):
        return math.nan
    return (end / start) ** (1.0 / years) - 1.0


def bridge_row(target, level: float, level_year: int, to_year: int, interim_year: int) -> dict:
    """The bridge of one target from ``level`` (in ``level_year``) to its target in ``to_year``."""
    tv = next((t for t in target.targets if t.year == to_year), None)
    out = dict.fromkeys(BRIDGE_COLUMNS)
    out.update(id=target.id, name=target.name, unit=target.unit, category=target.category, level=level,
               level_year=level_year, target_year=to_year, interim_year=interim_year, growth_note="")
    if tv is None or tv.value is None:
        return out
    goal = tv.value_high if tv.kind.value == "range" and target.direction.value == "decrease" else tv.value
    out.update(target_kind=tv.kind.value, target_value=goal, target_raw=tv.raw)
    kind = tv.kind.value
    # already there by the final account's own rule (a kept bound, a target passed or within its band)
    if _decide(level, tv, target)[0] == MET:
        out["growth_note"] = ("已满足" + {"ceiling": "上限", "floor": "下限"}.get(kind, "目标（按终期评估规则已达成）")
                              + "，保持即可，不需要追赶的速度")
        return out
    years_left = to_year - level_year
    if years_left <= 0:
        out["growth_note"] = f"数据年份{level_year}不早于目标年份{to_year}"
        return out
    need = (goal - level) / years_left
    need_g = _growth(level, goal, years_left)
    out.update(required_change=need, required_growth=need_g)
    base = target.baseline
    if base is not None and base.value is not None and level_year > base.year:
        done = (level - base.value) / (level_year - base.year)
        out.update(baseline_year=base.year, baseline_value=base.value, achieved_change=done,
                   achieved_growth=_growth(base.value, level, level_year - base.year))
        out["pace_ratio"] = need / done if done != 0 else math.nan
    if math.isnan(need_g):
        out["growth_note"] = "基数、现状值或目标值不为正（或符号改变），年均增长率无意义，只给线性路径"
    if interim_year > level_year:
        k = interim_year - level_year
        out["interim_linear"] = level + need * k
        out["interim_growth"] = level * (1 + need_g) ** k if not math.isnan(need_g) else math.nan
    return out


def bridge(plan, obs: pd.DataFrame, from_year: int, to_year: int, interim_year: int | None = None) -> pd.DataFrame:
    """One row per target with a value in ``to_year`` (targets ``same_as`` another are left to that
    one): the pace from the level reached by ``from_year`` (:data:`BRIDGE_COLUMNS`)."""
    interim = interim_year if interim_year is not None else (from_year + to_year) // 2
    o = with_defaults(obs)
    graded, _ = split_graded(o[o["year"] <= from_year])
    current = latest_per_indicator(graded, from_year) if len(graded) else graded
    current = current[current["geo"] == ""].set_index("indicator") if len(current) else current
    rows = []
    for t in plan.targets:
        if t.same_as or not any(tv.year == to_year for tv in t.targets):
            continue
        tv = next(tv for tv in t.targets if tv.year == to_year)
        if len(current) and t.id in current.index:
            r = current.loc[t.id]
            row = bridge_row(t, float(r["value"]), int(r["year"]), to_year, interim)
            row["level_text"] = as_published(r["raw_value"], float(r["value"]), r["conversion"])
            row["provisional"] = int(r["year"]) < from_year
        else:
            row = dict.fromkeys(BRIDGE_COLUMNS) | {
                "id": t.id, "name": t.name, "unit": t.unit, "category": t.category, "target_year": to_year,
                "target_kind": tv.kind.value, "target_value": tv.value, "target_raw": tv.raw, "growth_note": "",
                "interim_year": interim}
        row["from_year"] = from_year
        row["reason"] = _reason(row, t, tv)
        rows.append(row)
    return pd.DataFrame(rows, columns=BRIDGE_COLUMNS)


def _reason(row: dict, target, tv) -> str:
    unit = target.unit
    per = "个百分点" if unit == "%" else unit
    goal = target_text(tv.raw, tv.value if tv.value is not None else math.nan, unit)
    if tv.kind.value == "qualitative" or tv.value is None:
        return f"{tv.year}年目标{goal}为定性目标，无数值路径"
    if row.get("level") is None:
        return f"尚无{row['from_year']}年及以前口径一致的数据，无法计算实现{tv.year}年目标{goal}所需的速度"
    if row.get("required_change") is None:
        prefix = f"基于{row['level_year']}年数据：" if row["provisional"] else ""
        return f"{prefix}{row['level_year']}年{row['level_text']}{unit}，对{tv.year}年目标{goal}{row['growth_note']}"
    text = f"自{row['level_year']}年{row['level_text']}{unit}起，实现{tv.year}年目标{goal}需年均变化{row['required_change']:+.4g}{per}"
    if row["provisional"]:
        text = f"基于{row['level_year']}年数据：" + text
    if row.get("required_growth") is not None and not math.isnan(row["required_growth"]):
        text += f"（年均增长{row['required_growth']:+.2%}）"
    if row.get("achieved_change") is not None and not math.isnan(row["achieved_change"]):
        text += (f"；{row['baseline_year']}—{row['level_year']}年实际年均变化{row['achieved_change']:+.4g}{per}")
        ratio = row.get("pace_ratio")
        if ratio is None or math.isnan(ratio):
            text += "，实际变化为零，无法计算所需速度与实际速度之比"
        elif ratio < 0:
            text += "，目标方向与以往趋势相反"
        else:
            text += f"，所需速度为实际速度的{fmt_number(round(ratio, 2))}倍"
    if row.get("growth_note"):
        text += f"；{row['growth_note']}"
    return text
