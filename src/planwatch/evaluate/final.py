"""The final verdict on a target at the end of the plan period (五年评估): met, nearly met, missed.

The annual check-up asks "is the target on its way?"; the final account asks "was it reached?". The
rules are the check-up's own where they apply (the ±5 % / ±10 % band of :func:`planwatch.evaluate.
progress.approx_band_level`, the bound of :func:`planwatch.evaluate.bounds.bound_check`, "reached"
of :func:`planwatch.evaluate.progress.time_progress`); they are defined here once, by target kind:

============== ====================================== =============================== ===============
kind           达成 (met)                              基本达成 (nearly met)              未达成 (missed)
============== ====================================== =============================== ===============
ceiling  <X    value ≤ X                              within the declared ``nearly``   otherwise
floor    >X    value ≥ X                              within the declared ``nearly``   otherwise
approx   X左右  within ±5 % of X, or beyond X on the    within ±10 % of X                otherwise
               good side of the indicator's direction
stable  稳定在X same as approx                           within ±10 % of X                otherwise
exact    达到X  reached on the direction's side         within the declared ``nearly``   otherwise
               (maintain: within ±5 %)
ratio    1:X   as approx when the plan says 左右, else as exact (X tracked as the second term)
range  X—Y     X ≤ value ≤ Y                          within the declared ``nearly``   otherwise
                                                      of the nearer end
decrease_from  value below the reference value        —                                otherwise
qualitative    — (无法评估: 需人工评估; a recorded human judgement stands instead)
============== ====================================== =============================== ===============

``nearly`` is an absolute tolerance in the target's unit that a plan package may declare on a
target value; without one, a hard target (a bound, an exact level, a range) is met or missed.

A level never rests on a gap smaller than the figure's published precision: the figure is also
read at the favourable end of its precision (as in the check-up), and the better verdict stands,
said in the reason. A figure from before the final year stands in for it only with its year shown:
the verdict is then **provisional** (基于YYYY年数据), never a confirmed final result. No comparable
figure: 无法评估.

Pure and row by row (a plan has a few hundred targets); no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planwatch.evaluate import bounds, progress
from planwatch.evaluate.engine import _favourable, latest_per_indicator, source_label, target_text
from planwatch.evaluate.select import as_published, precision_in_unit, split_graded, with_defaults
from planwatch.plan.model import Kind, Target, TargetValue
from planwatch.store.base import JUDGEMENT_COLUMNS  # noqa: F401  (the columns final_account reads)

MET, NEARLY, MISSED, UNKNOWN = "met", "nearly", "missed", "unknown"
VERDICT_ZH = {MET: "达成", NEARLY: "基本达成", MISSED: "未达成", UNKNOWN: "无法评估"}
_RANK = {MET: 0, NEARLY: 1, MISSED: 2}
BAND = 0.05  # the check-up's ±5 % (and ±10 % for nearly) around "about X"


@dataclass(frozen=True)
class FinalVerdict:
    verdict: str  # met / nearly / missed / unknown
    gap: float  # value − target in the target's unit (NaN when not computable); for a range, to the nearer end
    gap_pct: float  # gap / |target| × 100
    rule: str  # the rule that decided, in Chinese
    precision_benefit: bool = False  # the better verdict came from reading the figure at its precision

    @property
    def verdict_zh(self) -> str:
        return VERDICT_ZH[self.verdict]


def _approx(value: float, tv: TargetValue, direction: str) -> tuple[str, str]:
    level = progress.approx_band_level(value, tv.value, direction, BAND)[0]
    verdict = {"green": MET, "yellow": NEARLY, "red": MISSED}.get(level, UNKNOWN)
    rule = f"“{tv.raw or tv.value}”：与目标值相差±5%以内（或超出在指标的有利方向）为达成，±10%以内为基本达成"
    return verdict, rule


def _with_nearly(ok: bool, distance: float, tv: TargetValue, rule: str) -> tuple[str, str]:
    if ok:
        return MET, rule
    if tv.nearly is not None and distance <= tv.nearly:
        return NEARLY, rule + f"；规划包约定差距不超过{tv.nearly:g}为基本达成"
    return MISSED, rule


def _decide(value: float, tv: TargetValue, target: Target) -> tuple[str, str]:
    """The verdict and the rule for one value (in the target's unit) against the target value in force."""
    direction = target.direction.value
    kind = tv.kind
    if kind == Kind.QUALITATIVE:
        return UNKNOWN, "定性目标，需人工评估"
    if kind in (Kind.APPROX, Kind.STABLE) or (kind == Kind.RATIO and "左右" in (tv.raw or "")):
        return _approx(value, tv, direction)
    if kind in (Kind.CEILING, Kind.FLOOR):
        # a bound in its target year always binds (base_value NaN: the year rule alone)
        check = bounds.bound_check(kind.value, tv.value, value, tv.year, tv.year, math.nan)
        ok = not bool(check.crossed[0])
        word = "不超过上限" if kind == Kind.CEILING else "不低于下限"
        return _with_nearly(ok, abs(value - tv.value), tv, f"约束性{'上' if kind == Kind.CEILING else '下'}限：{word}{tv.value:g}为达成")
    if kind == Kind.RANGE:
        ok = tv.value <= value <= tv.value_high
        distance = 0.0 if ok else min(abs(value - tv.value), abs(value - tv.value_high))
        return _with_nearly(ok, distance, tv, f"区间目标：在{tv.value:g}至{tv.value_high:g}之间为达成")
    if kind == Kind.DECREASE_FROM:
        ref = tv.reference.value
        if ref is None:
            return UNKNOWN, "参照年份数值缺失，无法评估"
        return (MET if value < ref else MISSED), f"较{tv.reference.year}年下降：低于{ref:g}为达成"
    # exact (达到X, 提高到X) and ratio without 左右
    reached = bool(progress.time_progress(np.nan, np.nan, tv.year, tv.value, tv.year, value, direction).reached[0])
    side = {"increase": "不低于", "decrease": "不高于"}.get(direction, "接近（±5%）")
    return _with_nearly(reached, abs(value - tv.value), tv, f"达到目标：{side}目标值{tv.value:g}为达成")


def final_verdict(target: Target, value: float | None, precision: float = math.nan, year: int | None = None) -> FinalVerdict:
    """The final verdict of ``target`` at the end of its period (its target in force for ``year``,
    default the plan period's end) for ``value`` in the target's unit; ``precision`` (half a unit
    of the last published digit, in the target's unit) lets the favourable reading decide a tie."""
    tv = target.target_for(year if year is not None else max(t.year for t in target.targets)) or target.targets[-1]
    if tv.kind == Kind.QUALITATIVE:
        return FinalVerdict(UNKNOWN, math.nan, math.nan, "定性目标，需人工评估")
    if value is None or not math.isfinite(value):
        return FinalVerdict(UNKNOWN, math.nan, math.nan, "无可比数据")
    verdict, rule = _decide(value, tv, target)
    benefit = False
    if math.isfinite(precision) and precision > 0 and verdict in _RANK:
        # the check-up's own favourable reading of a published figure
        favourable = float(_favourable([value], [precision], [target.direction.value], [tv.value if tv.value is not None else value])[0])
        better, _ = _decide(favourable, tv, target)
        if better in _RANK and _RANK[better] < _RANK[verdict]:
            verdict, benefit = better, True
    goal = tv.value if tv.kind != Kind.DECREASE_FROM else (tv.reference.value if tv.reference else None)
    if tv.kind == Kind.RANGE and goal is not None:
        goal = tv.value if value < tv.value else tv.value_high if value > tv.value_high else value
    gap = value - goal if goal is not None else math.nan
    gap_pct = 100 * gap / abs(goal) if goal not in (None, 0) and math.isfinite(gap) else math.nan
    return FinalVerdict(verdict, gap, gap_pct, rule, benefit)


# ---------------------------------------------------------------- the final account of a plan


FINAL_COLUMNS = [
    "id", "name", "category", "unit", "source", "linked_to", "baseline_year", "baseline_value", "target_year",
    "target_kind", "target_value", "target_raw", "year", "value", "value_text", "provisional", "verdict",
    "verdict_zh", "gap", "gap_pct", "rule", "precision_benefit", "reason", "obs_source", "obs_published",
    "judged", "judged_by", "judged_on", "evidence",
]
VERDICT_WORDS = {"met": MET, "达成": MET, "nearly": NEARLY, "基本达成": NEARLY, "missed": MISSED, "未达成": MISSED}


def final_account(plan, obs, final_year: int, judgements=None):
    """One row per target of ``plan``: its final verdict for ``final_year`` from the graded figure of
    that year or, failing one, the latest before it (``provisional``), with the gap and a reason
    that quotes the target. Targets ``same_as`` another share its figure and verdict; targets with
    no comparable figure are 无法评估 and say so.

    ``judgements`` (columns :data:`JUDGEMENT_COLUMNS`; ``verdict`` met/nearly/missed or 达成/基本达成/
    未达成) are a curator's recorded verdicts on qualitative targets: the latest for the target and
    ``final_year`` stands, shown as a human judgement with its author, date and evidence. Returns a
    DataFrame with :data:`FINAL_COLUMNS`."""
    o = with_defaults(obs)
    graded, _related = split_graded(o[o["year"] <= final_year])
    current = latest_per_indicator(graded, final_year) if len(graded) else graded
    current = current[current["geo"] == ""].set_index("indicator") if len(current) else current
    precision = dict(zip(current.index, precision_in_unit(current["raw_value"], current["value"]), strict=True)) if len(current) else {}
    rows = []
    for t in plan.targets:
        primary = t.same_as or t.id
        tv = t.target_for(final_year) or t.targets[-1]
        have = len(current) and primary in current.index
        r = current.loc[primary] if have else None
        value = float(r["value"]) if have else None
        fv = final_verdict(t, value, precision.get(primary, math.nan), final_year)
        src = source_label(t.source.table_row, t.source.article)
        target_txt = target_text(tv.raw, tv.value if tv.value is not None else math.nan, t.unit)
        if have:
            year = int(r["year"])
            shown = as_published(r["raw_value"], value, r["conversion"])
            head = f"{year}年{t.name}{shown}{t.unit}"
            provisional = year < final_year
            gap = ""
            if math.isfinite(fv.gap):
                per = "个百分点" if t.unit == "%" else t.unit
                gap = f"，与目标相差{fv.gap:+.4g}{per}" + (f"（{fv.gap_pct:+.1f}%）" if math.isfinite(fv.gap_pct) else "")
            reason = f"{head}；{tv.year}年目标{target_txt}{gap}；{fv.rule}"
            if fv.precision_benefit:
                reason += "；与评判界限之差小于该数据的公布精度，按有利一端评判"
            reason += f"，{fv.verdict_zh}（{src}）"
            if provisional:
                reason = f"基于{year}年数据（{final_year}年数据尚未取得），非最终结果：" + reason
        else:
            year, shown, provisional = None, "", False
            why = fv.rule if tv.kind == Kind.QUALITATIVE else f"尚无{final_year}年及以前口径一致的数据"
            reason = f"{tv.year}年目标{target_txt}；{why}，{fv.verdict_zh}（{src}）"
        judged = None
        if tv.kind == Kind.QUALITATIVE and judgements is not None and len(judgements):
            same = {t.id, primary, *plan.linked(primary)}  # a judgement on any of one measure's targets
            mine = judgements[judgements["target"].isin(same) & (judgements["year"] == final_year)]
            if len(mine):
                judged = mine.sort_values("date", kind="stable").iloc[-1]
                fv = FinalVerdict(VERDICT_WORDS[str(judged["verdict"])], math.nan, math.nan, "人工评估")
                reason = (f"{tv.year}年目标{target_txt}；人工评估：{judged['by']}于{judged['date']}评定为{fv.verdict_zh}"
                          f"，依据：{judged['evidence'] or '未附证据'}" + (f"；{judged['note']}" if judged["note"] else "")
                          + f"（{src}）")
        if t.same_as:
            reason += f"；与{t.same_as}为同一指标，数据与评判相同"
        rows.append({
            "id": t.id, "name": t.name, "category": t.category, "unit": t.unit, "source": src, "linked_to": t.same_as or "",
            "baseline_year": t.baseline.year if t.baseline else None,
            "baseline_value": t.baseline.value if t.baseline else None,
            "target_year": tv.year, "target_kind": tv.kind.value, "target_value": tv.value, "target_raw": tv.raw,
            "year": year, "value": value, "value_text": shown, "provisional": provisional, "verdict": fv.verdict,
            "verdict_zh": fv.verdict_zh, "gap": fv.gap, "gap_pct": fv.gap_pct, "rule": fv.rule,
            "precision_benefit": fv.precision_benefit, "reason": reason,
            "obs_source": r["source"] if have else "", "obs_published": r["published"] if have else "",
            "judged": judged is not None, "judged_by": judged["by"] if judged is not None else "",
            "judged_on": judged["date"] if judged is not None else "",
            "evidence": judged["evidence"] if judged is not None else "",
        })  # fmt: skip
    return pd.DataFrame(rows, columns=FINAL_COLUMNS)
