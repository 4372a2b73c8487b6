"""The year's problems as candidate findings: what ``findings generate`` hands the store to merge.

Four sources, each a pure function of data the caller computed:

- :func:`target_candidates`: red and yellow targets of the check-up (city-wide and by district; a
  target ``same_as`` another is that one's finding);
- :func:`rule_candidates`: the plan's spatial rules of their own (not measuring a target) graded red
  or yellow;
- :func:`review_candidates`: the conflicts of a stored batch review at or above a severity;
- :func:`no_data_candidates`: targets with a number to reach but no graded figure for this check-up's
  year nor the one before.

Each candidate carries what the finding freezes: the source, the plan's article, the value, the
level, the reason, the 对策建议, a severity and the suggested responsible unit (from the plan
package's table of units, :mod:`planwatch.plan.units`).
"""

from __future__ import annotations

import math

import pandas as pd

from planwatch.evaluate.engine import source_label
from planwatch.evaluate.problems import recommendation
from planwatch.plan.model import NUMERIC_KINDS, Kind, Plan
from planwatch.plan.units import suggested_unit

LEVEL_SEVERITY = {"red": "high", "yellow": "medium"}
# A review conflict's severity (the plan's zoning rule) → the finding's.
REVIEW_SEVERITY = {"forbidden": "high", "restricted": "medium", "guidance": "low"}
REVIEW_SEVERITY_ZH = {"forbidden": "禁止", "restricted": "限制", "guidance": "引导"}
REVIEW_ORDER = ["forbidden", "restricted", "guidance"]  # worst first


def _number(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else str(v)


def target_candidates(plan: Plan, ev: pd.DataFrame, year: int) -> list[dict]:
    """One candidate per red or yellow row of the check-up ``ev`` of ``year``
    (:func:`planwatch.evaluate.engine.checkup`): city-wide rows and district rows, not the rows copied
    to a target ``same_as`` another."""
    if ev is None or not len(ev):
        return []
    linked = ev["linked_to"].fillna("") if "linked_to" in ev else pd.Series("", index=ev.index)
    rows = ev[(linked == "") & ev["level"].isin(list(LEVEL_SEVERITY))]
    out = []
    for r in rows.to_dict("records"):
        geo = _text(r.get("geo"))
        evidence = {k: _number(r.get(k)) if k in ("value", "target_value", "baseline_value") else _text(r.get(k))
                    for k in ("value", "value_text", "level", "method", "reason", "target_year", "target_value",
                              "target_raw", "baseline_year", "baseline_value", "obs_source", "obs_published", "origin")}
        evidence["data_year"] = int(r["year"]) if _number(r.get("year")) is not None else None
        evidence["checkup_year"] = int(year)
        out.append({
            "kind": "target", "source": r["id"], "geo": geo, "article": _text(r.get("source")),
            "title": f"{r['name']}" + (f"（{geo}）" if geo else ""), "level": r["level"], "value": _number(r.get("value")),
            "value_unit": _text(r.get("unit")), "reason": _text(r.get("reason")), "recommendation": recommendation(r),
            "evidence": evidence, "severity": LEVEL_SEVERITY[r["level"]],
            "suggested_unit": suggested_unit(plan, kind="target", source=r["id"], geo=geo), "synthetic": False,
        })  # fmt: skip
    return out


def rule_candidates(plan: Plan, verdicts: pd.DataFrame | None, year: int) -> list[dict]:
    """One candidate per spatial rule of its own (``target`` empty: a rule that measures a target is that
    target's finding) graded red or yellow in ``verdicts`` (:func:`planwatch.evaluate.engine.rule_verdicts`).
    A rule computed from synthetic layers is graded grey, so it gives none."""
    if verdicts is None or not len(verdicts):
        return []
    rows = verdicts[(verdicts["target"].fillna("") == "") & verdicts["level"].isin(list(LEVEL_SEVERITY))]
    out = []
    for r in rows.to_dict("records"):
        out.append({
            "kind": "rule", "source": r["id"], "geo": "", "article": f"第{r['article']}条", "title": r["description"],
            "level": r["level"], "value": _number(r.get("value")), "value_unit": _text(r.get("unit")),
            "reason": _text(r.get("reason")),
            "recommendation": f"{r['description']}的要求未满足，建议核查相关图斑，依法依规处置，并在下年度体检中复核。",
            "evidence": {"value": _number(r.get("value")), "threshold": _number(r.get("threshold")),
                         "comparator": _text(r.get("comparator")), "level": r["level"], "checkup_year": int(year)},
            "severity": LEVEL_SEVERITY[r["level"]], "suggested_unit": suggested_unit(plan, kind="rule", source=r["id"]),
            "synthetic": bool(r.get("synthetic", False)),
        })  # fmt: skip
    return out


def review_candidates(plan: Plan, conflicts: pd.DataFrame, review: str, year: int, *,
                      min_severity: str = "restricted", districts: pd.Series | None = None) -> list[dict]:
    """One candidate per conflict of the batch review named ``review`` (its ``conflicts`` layer: id,
    layer, layer_name, rule, article, severity, overlap_m2, overlap_share, synthetic) whose severity is
    ``min_severity`` or worse. ``districts``: the district each conflict's parcel lies in (same index),
    when known. The source is ``review#parcel id#layer``."""
    if min_severity not in REVIEW_ORDER:
        raise ValueError(f"severity {min_severity!r}: expected one of {', '.join(REVIEW_ORDER)}")
    worst = REVIEW_ORDER[: REVIEW_ORDER.index(min_severity) + 1]
    rows = conflicts[conflicts["severity"].isin(worst)]
    out = []
    for i, r in zip(rows.index, rows.to_dict("records"), strict=True):
        geo = _text(districts.get(i)) if districts is not None else ""
        overlap, share = _number(r.get("overlap_m2")), _number(r.get("overlap_share"))
        sev = REVIEW_SEVERITY_ZH.get(r["severity"], r["severity"])
        article = _text(r.get("article"))
        reason = (f"地块{r['id']}与{r['layer_name']}（{sev}类）重叠{overlap:,.0f}平方米"
                  + (f"，占地块面积{share:.1%}" if share is not None else "") + (f"；{r['rule']}" if _text(r.get("rule")) else ""))
        out.append({
            "kind": "review", "source": f"{review}#{r['id']}#{r['layer']}", "geo": geo,
            "article": f"第{article}条" if article and not article.startswith("第") else article,
            "title": f"地块{r['id']}与{r['layer_name']}冲突" + (f"（{geo}）" if geo else ""), "level": "",
            "value": overlap, "value_unit": "平方米", "reason": reason,
            "recommendation": f"建议核查地块{r['id']}与{r['layer_name']}的冲突，调整用地方案或依法依规处置后复核。",
            "evidence": {"review": review, "parcel": str(r["id"]), "layer": r["layer"], "severity": r["severity"],
                         "overlap_m2": overlap, "overlap_share": share, "checkup_year": int(year)},
            "severity": REVIEW_SEVERITY.get(r["severity"], "low"),
            "suggested_unit": suggested_unit(plan, kind="review", source=str(r["id"]), geo=geo),
            "synthetic": bool(r.get("synthetic", False)),
        })  # fmt: skip
    return out


def graded_years(graded: pd.DataFrame) -> dict[str, set[int]]:
    """The years each target has a city-wide graded figure for (``graded``: the graded rows of
    :func:`planwatch.evaluate.select.split_graded`)."""
    city = graded[graded["geo"].fillna("") == ""]
    return {k: set(int(y) for y in g["year"]) for k, g in city.groupby("indicator")}


def no_data_candidates(plan: Plan, years_with_data: dict[str, set[int]], year: int) -> list[dict]:
    """One candidate per target with a number to reach (not qualitative, not ``same_as`` another) that
    has no graded city-wide figure for ``year`` nor for ``year - 1`` (two check-ups in a row)."""
    out = []
    for t in plan.targets:
        if t.same_as or not any(v.kind in NUMERIC_KINDS or v.kind == Kind.DECREASE_FROM for v in t.targets):
            continue
        have = years_with_data.get(t.id, set())
        if year in have or (year - 1) in have:
            continue
        before = sorted(y for y in have if y < year)
        latest = f"最新可评估数据为{before[-1]}年" if before else "规划期内尚无可评估数据"
        source = source_label(t.source.table_row, t.source.article)
        out.append({
            "kind": "no_data", "source": t.id, "geo": "", "article": source, "title": f"{t.name}：连续两年无数据",
            "level": "", "value": None, "value_unit": t.unit,
            "reason": f"{year - 1}年、{year}年均无可评估的{t.name}数据（{latest}），无法评估进展。",
            "recommendation": f"建议责任部门按规划指标口径报送{t.name}{year}年数据，或说明无法报送的原因及替代口径。",
            "evidence": {"years_with_data": sorted(have), "checkup_year": int(year)}, "severity": "low",
            "suggested_unit": suggested_unit(plan, kind="no_data", source=t.id), "synthetic": False,
        })  # fmt: skip
    return out


__all__ = ["REVIEW_ORDER", "graded_years", "no_data_candidates", "review_candidates", "rule_candidates",
           "target_candidates"]
