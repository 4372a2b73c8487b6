"""The check-up's list of problems (问题清单) and the recommendations that answer them (对策建议).

Data in: the check-up rows (:func:`planwatch.evaluate.engine.checkup`) and the graded spatial rules.
Data out: one row per problem — a red or yellow target (city-wide, each measure once) or a failed
rule — with what is wrong in numbers, the plan's article or table row, and a recommendation whose
numbers are computed here (the pace the target now needs, against the pace so far). Pure; no I/O.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planwatch.evaluate.engine import fmt_value

PROBLEM_COLUMNS = ["no", "level", "key", "name", "category", "source", "problem", "recommendation", "source_hint"]
_ORDER = {"red": 0, "yellow": 1}


def _pace(r: dict) -> str:
    """The yearly change the target needs from the latest value, against the yearly change so far."""
    ty, tv, v, y = r.get("target_year"), r.get("target_value"), r.get("value"), r.get("year")
    if not all(isinstance(x, int | float) and math.isfinite(x) for x in (ty, tv, v, y)) or ty <= y:
        return ""
    unit = r.get("unit") or ""
    need = (tv - v) / (ty - y)
    text = f"实现{int(ty)}年目标需自{int(y)}年起年均{'提高' if need > 0 else '降低'}{fmt_value(abs(need), unit)}"
    by, bv = r.get("baseline_year"), r.get("baseline_value")
    if isinstance(by, int | float) and isinstance(bv, int | float) and math.isfinite(by) and math.isfinite(bv) and y > by:
        done = (v - bv) / (y - by)
        text += f"（{int(by)}—{int(y)}年年均{'提高' if done > 0 else '降低'}{fmt_value(abs(done), unit)}）"
    return text


def recommendation(r: dict) -> str:
    """The 对策建议 of a red or yellow check-up row (a dict of the engine's columns), its numbers computed."""
    name, method, level = r["name"], r.get("method"), r["level"]
    if method == "bound":
        kind = "上限" if r.get("target_kind") == "ceiling" else "下限"
        return f"{name}已越过规划{kind}，建议责任部门查明原因，采取措施使其回到{kind}以内，并在下年度体检中复核。"
    if method == "time_progress":
        pace = _pace(r)
        urgency = "明显滞后，建议列为重点督办事项" if level == "red" else "略有滞后，建议加强跟踪"
        return f"{name}{urgency}；{pace}。" if pace else f"{name}{urgency}。"
    if method == "stable":
        return f"{name}偏离规划目标区间，建议分析偏离原因，引导其回到目标区间。"
    if method == "decrease_from":
        return f"{name}尚未低于规划参照值，建议制定专项措施，确保按期实现下降目标。"
    if method == "open_sdg":
        return f"{name}增速不足以按期实现目标，建议加快推进；{_pace(r) or '需提高年均增速'}。"
    return f"{name}需要关注，建议责任部门提出改进措施。"


def problem_list(ev: pd.DataFrame, rules: pd.DataFrame | None = None, source_hints: dict[str, str] | None = None) -> pd.DataFrame:
    """Red and yellow city-wide targets (each measure once) and failed rules, red first."""
    hints = source_hints or {}
    rows = []
    linked = ev["linked_to"].fillna("") if "linked_to" in ev else pd.Series("", index=ev.index)
    city = ev[(ev["geo"] == "") & (linked == "") & ev["level"].isin(list(_ORDER))]
    for r in city.to_dict("records"):
        rows.append({
            "level": r["level"], "key": r["id"], "name": r["name"], "category": r["category"], "source": r["source"],
            "problem": r["reason"], "recommendation": recommendation(r), "source_hint": hints.get(r["id"], ""),
        })  # fmt: skip
    if rules is not None and len(rules):
        failed = rules[(rules["target"].fillna("") == "") & rules["level"].isin(list(_ORDER))]
        for r in failed.to_dict("records"):
            rows.append({
                "level": r["level"], "key": r["id"], "name": r["description"], "category": r["category"],
                "source": f"第{r['article']}条", "problem": r["reason"],
                "recommendation": f"{r['description']}的要求未满足，建议核查相关图斑，依法依规处置，并在下年度体检中复核。",
                "source_hint": "",
            })  # fmt: skip
    out = pd.DataFrame(rows, columns=[c for c in PROBLEM_COLUMNS if c != "no"])
    out = out.sort_values("level", key=lambda s: s.map(_ORDER), kind="stable").reset_index(drop=True)
    out.insert(0, "no", np.arange(1, len(out) + 1))
    return out
