"""The five-year evaluation report (五年评估报告) of a plan period: HTML, PDF, DOCX and XLSX.

At the end of the plan period the bureau gives its final account (Art. 173). Every verdict comes from
the evaluation modules; this module only gathers and lays them out:

* the final verdict of each target — :func:`planwatch.evaluate.final.final_account` (达成, 基本达成,
  未达成, 无法评估; provisional when the figure is from before the evaluation year; a curator's
  recorded judgement on a qualitative target);
* the spatial rules for every year of the period — :func:`planwatch.onemap.rules.evaluate_rules` and
  :func:`planwatch.evaluate.engine.rules_checkup`, the annual check-up's own verdicts;
* the bridge to the next horizon — :func:`planwatch.evaluate.bridge.bridge` (the pace needed from the
  level reached, the pace achieved, suggested interim values that are never targets).

:func:`build_five_year_context` gathers them into a :class:`FiveYearContext` (plain DataFrames, no
I/O); :func:`build_five_year_view` turns that into what the report prints, in print order, for the
HTML (``templates/five_year.html.j2``, printed to PDF) and the DOCX alike; :func:`write_five_year_report`
writes the four files; :func:`build_five_year_report` does all of it from a store. The DOCX and XLSX
writers reuse the annual report's (:mod:`planwatch.report.docx`, :mod:`planwatch.report.xlsx`). The
same inputs give byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from docx.shared import Pt

import planwatch
from planwatch.evaluate.bridge import bridge as bridge_frame
from planwatch.evaluate.engine import COMPARATOR_ZH, fmt_number, rules_checkup
from planwatch.evaluate.final import BAND, MET, MISSED, NEARLY, UNKNOWN, VERDICT_ZH, final_account
from planwatch.evaluate.select import as_published, split_graded, with_defaults
from planwatch.plan.model import Plan
from planwatch.report.build import _source_text, _sources, layers_present
from planwatch.report.charts import FONT_STACK, five_year_legend, format_number, indicator_chart
from planwatch.report.context import LEVELS, targets_frame
from planwatch.report.docx import (
    SMALL_PT,
    Badge,
    Count,
    Lines,
    _ReportDocument,
    cover_page,
)
from planwatch.report.html import _env
from planwatch.report.view import CHINESE_NUMERALS, records, with_unit
from planwatch.report.xlsx import (
    KIND_ZH,
    LEVEL_FILLS,
    LEVEL_FONTS,
    ORIGIN_ZH,
    SOURCES,
    TARGETS,
    Column,
    Table,
    _city,
    save_workbook,
)
from planwatch.store.base import SYNTHETIC_MARK

VERDICTS = (MET, NEARLY, MISSED, UNKNOWN)  # the board's column order
VERDICT_LEVEL = {MET: "green", NEARLY: "yellow", MISSED: "red", UNKNOWN: "grey"}  # a verdict's badge colour
REPORT_NAME = "五年评估报告"

# Why a target has no figure for its final verdict (the data-gap page): code -> status.
GAP_STATUS = {
    "qualitative": "定性目标，需人工评估（尚无人工评估记录）",
    "district": "仅有分区数据，最终评估只用与指标范围一致的数据",
    "other_scope": "仅有口径不同的相关统计，不参与评估",
    "synthetic": "仅有由示意数据图层计算的数值，不参与评估",
    "none": "没有任何数据",
}
GAP_COLUMNS = ["id", "name", "category", "linked_to", "code", "status", "source_hint"]
RULE_COLUMNS = ["id", "article", "category", "description", "target", "year", "value", "unit", "threshold",
                "comparator", "tolerance", "synthetic", "level", "status_text", "reason", "records"]
OBSERVATION_COLUMNS = ["id", "name", "geo", "year", "value", "value_text", "unit", "graded", "comparable", "synthetic",
                       "origin", "scope", "source", "published", "note"]


@dataclass(frozen=True)
class FiveYearContext:
    """Everything the five-year report shows.

    - ``final``: :func:`~planwatch.evaluate.final.final_account` of ``year`` (one row per target);
    - ``bridge``: :func:`~planwatch.evaluate.bridge.bridge` from ``year`` to ``horizon`` (empty when the
      plan has no later target year);
    - ``rules``: the spatial rules' verdicts for each year of the period up to ``year``
      (:data:`RULE_COLUMNS`; empty when no layers were read);
    - ``observations``: the newest revision of every figure up to ``year``, ``graded`` marking those a
      verdict may rest on; ``gaps``: every target with no figure for its verdict, and why.
    """

    plan_title: str
    plan_id: str
    year: int
    period: tuple[int, int]
    horizon: int | None
    categories: dict[str, str]
    targets: pd.DataFrame
    final: pd.DataFrame
    bridge: pd.DataFrame
    observations: pd.DataFrame
    gaps: pd.DataFrame
    rules: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RULE_COLUMNS))
    sources: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def period_text(self) -> str:
        return f"{self.period[0]}—{self.period[1]}年"


# ---------------------------------------------------------------- the context


def _observations(plan: Plan, obs: pd.DataFrame) -> pd.DataFrame:
    """Every figure up to the evaluation year, as published, with ``graded`` (what a verdict may rest on)."""
    graded, related = split_graded(obs)
    both = pd.concat([graded.assign(graded=True), related.assign(graded=False)], ignore_index=True)
    names = {t.id: t.name for t in plan.targets}
    both = both.rename(columns={"indicator": "id"})
    both["name"] = both["id"].map(names).fillna("")
    both["value_text"] = [as_published(r, v, c) for r, v, c in zip(both["raw_value"], both["value"], both["conversion"], strict=True)]
    both["source"] = both["source"].map(_source_text)
    return both[OBSERVATION_COLUMNS].sort_values(["id", "geo", "year", "graded"], kind="stable").reset_index(drop=True)


def _gaps(plan: Plan, final: pd.DataFrame, observations: pd.DataFrame) -> pd.DataFrame:
    """Every target whose final verdict rests on no figure (and no recorded judgement), with why and
    who would supply one (the package's ``source_hint``)."""
    by_id = final.set_index("id")
    rows = []
    for t in plan.targets:
        r = by_id.loc[t.id]
        if pd.notna(r["value"]) or bool(r["judged"]):
            continue
        mine = observations[observations["id"] == (t.same_as or t.id)]
        if r["target_kind"] == "qualitative":
            code, n = "qualitative", 0
        elif (n := int((mine["graded"] & (mine["geo"] != "")).sum())):
            code = "district"
        elif (n := int((~mine["comparable"]).sum())):
            code = "other_scope"
        elif (n := int((mine["comparable"] & mine["synthetic"]).sum())):
            code = "synthetic"
        else:
            code = "none"
        status = GAP_STATUS[code] if not n else GAP_STATUS[code].replace("，", f"（{n}条），", 1)
        rows.append({"id": t.id, "name": t.name, "category": t.category, "linked_to": t.same_as or "", "code": code,
                     "status": status, "source_hint": t.source_hint or "规划包未注明"})
    return pd.DataFrame(rows, columns=GAP_COLUMNS)


def _rule_verdicts(plan: Plan, obs: pd.DataFrame, rule_results: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """The spatial rules' verdicts year by year, as the annual check-up gives them, with each year's
    record count."""
    frames = []
    for year, results in sorted(rule_results.items()):
        if results is None or not len(results):
            continue
        _ev, verdicts = rules_checkup(plan, obs, results, year)
        frames.append(verdicts.assign(records=results["records"].to_numpy()))  # rule_verdicts keeps the order
    if not frames:
        return pd.DataFrame(columns=RULE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[RULE_COLUMNS]


def _notes(plan: Plan, year: int, final: pd.DataFrame, rules: pd.DataFrame) -> list[str]:
    first, last = plan.meta.period
    notes = []
    if year < last:
        notes.append(f"评估年度{year}年早于规划期末{last}年：本报告以{year}年及以前的数据对照规划目标评判，"
                     f"不是规划期末的最终结论。")
    if final["value"].notna().any() and not (final["year"] == year).any():
        notes.append(f"本报告所用数据中尚无任何指标口径一致的{year}年数据：有数据的指标均按{year}年以前的最新数据评判，"
                     f"结论为暂定，待{year}年数据取得后重新评估。")
    if len(rules) and rules["synthetic"].astype(bool).any():
        notes.append(f"空间规则所用的规划控制线、功能分区及供地、减量等图层为按真实地理生成的{SYNTHETIC_MARK}，"
                     "由其计算的数值仅作展示，标注为“示意数据，不评级”，不参与评估。")
    return notes


def build_five_year_context(
    plan: Plan,
    observations: pd.DataFrame,
    year: int,
    *,
    rule_results: dict[int, pd.DataFrame] | None = None,
    judgements: pd.DataFrame | None = None,
) -> FiveYearContext:
    """The five-year evaluation of ``plan`` as of ``year`` (normally the period's last year) from the
    newest revision of each observation. ``rule_results``: year -> :func:`planwatch.onemap.rules.
    evaluate_rules` for the years of the period to show; ``judgements``: a curator's recorded verdicts
    on qualitative targets (:data:`planwatch.store.base.JUDGEMENT_COLUMNS`).

    Raises ``ValueError`` when ``year`` lies outside the plan period."""
    first, last = plan.meta.period
    if not first <= year <= last:
        raise ValueError(f"year {year} is outside the plan period {first}–{last}")
    obs = with_defaults(observations)
    obs = obs[obs["year"] <= year]
    final = final_account(plan, obs, year, judgements)
    later = [tv.year for t in plan.targets for tv in t.targets if tv.year > year]
    horizon = max(later) if later else None
    bridge = bridge_frame(plan, obs, year, horizon) if horizon else pd.DataFrame()
    if len(bridge):  # the plan's own wording of every horizon target (bridge leaves it out where no pace is computed)
        wording = {t.id: tv.raw for t in plan.targets for tv in t.targets if tv.year == horizon}
        bridge["target_raw"] = bridge["target_raw"].where(bridge["target_raw"].notna(), bridge["id"].map(wording))
    shown = _observations(plan, obs)
    rules = _rule_verdicts(plan, obs, rule_results or {})
    return FiveYearContext(
        plan_title=plan.meta.title, plan_id=plan.meta.id, year=year, period=(first, last), horizon=horizon,
        categories=dict(plan.meta.categories), targets=targets_frame(plan), final=final, bridge=bridge,
        observations=shown, gaps=_gaps(plan, final, shown), rules=rules, sources=_sources(obs, plan),
        notes=_notes(plan, year, final, rules),
    )  # fmt: skip


# ---------------------------------------------------------------- the view (what is printed, in order)


def _per(unit: str) -> str:
    """The unit of a difference: a change of a percentage is in percentage points."""
    return "个百分点" if unit == "%" else unit


def _signed(v: float) -> str:
    """A computed difference for a table: its sign, at most four significant digits (as the reasons)."""
    return ("+" if v > 0 else "-" if v < 0 else "") + fmt_number(abs(v))


def method_notes(year: int, horizon: int | None, interim: int | None) -> list[tuple[str, str]]:
    """How every verdict, gap and pace in the report was reached (the rules of :mod:`planwatch.evaluate.
    final` and :mod:`planwatch.evaluate.bridge`, in Chinese)."""
    band, wide = f"±{BAND * 100:g}%", f"±{BAND * 200:g}%"
    notes = [
        ("最终评估结论", f"按目标类型评判{year}年的数值（尚无{year}年数据的，见“暂定结论”）："
                   f"上限（“<”“以内”“不超过”）不超过目标值为达成；下限（“>”“以上”“不低于”）不低于目标值为达成；"
                   f"“X左右”与“稳定在X”与X相差{band}以内为达成（指标有明确有利方向的，超出而位于有利方向一侧也为达成），"
                   f"{wide}以内为基本达成；“达到X”“提高到X”按指标方向达到或超过X为达成（保持稳定类指标为相差{band}以内）；"
                   "“1:X”比例目标写明“左右”的按“左右”评判，否则按“达到”评判；区间目标在区间内为达成；"
                   "“较某年下降”低于参照年份数值为达成。其余为未达成。"),
        ("基本达成", "约束性目标（上限、下限、达到、区间）只有规划包逐项约定了容差的，差距不超过该容差为基本达成"
                 "（区间目标以较近一端计）；未约定容差的，只分达成与未达成。"),
        ("定性目标", "定性目标（如“达到国家要求”“增加”“基本实现全覆盖”）没有可比数值，列为无法评估，需人工评估；"
                 "有人工评估记录的，采用最新一次记录的结论，并注明评估人、日期与依据。"),
        ("公布精度", "评判不依赖小于数据公布精度的差距：数值按其公布的位数有±半个末位单位的精度（如整数88为±0.5），"
                 "在精度范围内取有利一端即可得到较好结论的，采用较好结论，并在说明中注明。"),
        ("暂定结论", f"最终评估采用{year}年的数据；尚无{year}年数据的，采用{year}年以前口径一致的最新数据，"
                 f"说明中注明“基于某年数据”，结论为暂定，待{year}年数据取得后重新评估。没有口径一致数据的，列为无法评估。"),
        ("差距", "差距＝实际值−目标值（区间目标取较近一端，“较某年下降”取参照年份数值），单位为指标的单位，"
               "百分比指标为百分点；相对差距＝差距÷目标值的绝对值。"),
        ("口径与数据来源", "只有地域范围与计量方式与指标一致的数据参与评估；同一指标、年份既有官方数据又有图层计算值的，"
                    "采用官方数据；由示意数据（非官方）图层计算的数值从不参与评估。"),
        ("同一指标", "条文目标重述表格指标的，二者共用数据与结论，看板上合并计为一项（计入表格指标的分类）。"),
        ("空间规则", "按规划包中的空间规则逐年计算：面积比例与图斑数按当年的供地、减量记录计算；面积合计取当年及以前"
                 "最新一期图层，图层不分年份的各年相同。对应指标目标的规则与该指标目标使用同一评级；"
                 "由示意数据图层计算的数值只作展示，不评级。"),
    ]
    if horizon:
        notes += [
            (f"衔接{horizon}年：所需速度", f"所需年均变化＝（{horizon}年目标值−已达到水平）÷（{horizon}−数据年份）；"
                                    f"所需年均增长率＝（目标值÷已达到水平）^（1÷（{horizon}−数据年份））−1。"
                                    "已满足上限、下限或已位于目标有利方向一侧的，保持即可，不计算所需速度。"),
            (f"衔接{horizon}年：实际速度", "实际年均变化＝（已达到水平−基期值）÷（数据年份−基期年份）；"
                                    "实际年均增长率＝（已达到水平÷基期值）^（1÷（数据年份−基期年份））−1。"),
            (f"衔接{horizon}年：速度比", "所需年均变化÷实际年均变化：大于1表示须加快，不大于1表示按以往速度即可，"
                                   "为负表示目标方向与以往趋势相反；实际年均变化为零时不计算。"),
            (f"{interim}年建议值", f"线性路径＝已达到水平＋所需年均变化×（{interim}−数据年份）；"
                               f"等比路径＝已达到水平×（1＋所需年均增长率）^（{interim}−数据年份）。"
                               "建议值供编制下一期近期规划参考，非目标。"),
            ("增长率的适用条件", "年均增长率只在基期值、已达到水平与目标值均为正数时计算：数值为零、为负或正负号改变时，"
                          "增长率没有意义，只给线性路径，并在说明中注明。"),
        ]  # fmt: skip
    return notes


def _badge(code: str, provisional: bool = False, note: str = "") -> dict:
    return {"code": code, "label": VERDICT_ZH[code], "level": VERDICT_LEVEL[code],
            "note": note or ("暂定" if provisional else "")}


def _target_wording(r: dict) -> str:
    raw = r.get("target_raw") or (format_number(r["target_value"]) if r.get("target_value") is not None else "—")
    return f"{int(r['target_year'])}年 {raw}"


def _quantitative(r: dict, gap_status: dict[str, str]) -> dict:
    unit = r["unit"] or ""
    has = r["value"] is not None
    year = int(r["year"]) if has else None
    gap = "—" if r["gap"] is None else f"{_signed(r['gap'])}{_per(unit)}"
    return {
        "id": r["id"], "name": r["name"], "unit": unit, "source": r["source"], "linked_to": r["linked_to"],
        "baseline": with_unit(r["baseline_value"], unit) if r["baseline_value"] is not None else "—",
        "baseline_year": int(r["baseline_year"]) if r["baseline_value"] is not None else None,
        "target": _target_wording(r),
        "actual": f"{r['value_text']}{unit}" if has else "—",
        "actual_note": (f"{year}年" + ("，暂定" if r["provisional"] else "")) if has else gap_status.get(r["id"], ""),
        "verdict": _badge(r["verdict"], r["provisional"]),
        "gap": gap, "gap_pct": "" if r["gap_pct"] is None else f"{r['gap_pct']:+.1f}%",
        "reason": r["reason"],
    }  # fmt: skip


def _qualitative(r: dict) -> dict:
    judged = bool(r["judged"])
    return {
        "id": r["id"], "name": r["name"], "unit": r["unit"] or "", "source": r["source"], "linked_to": r["linked_to"],
        "target": _target_wording(r), "verdict": _badge(r["verdict"], note="人工评估" if judged else "需人工评估"),
        "judged_by": r["judged_by"] if judged else "—", "judged_on": r["judged_on"] if judged else "—",
        "evidence": (r["evidence"] or "未附证据") if judged else "—", "reason": r["reason"],
    }  # fmt: skip


def _counts(rows: list[dict]) -> dict:
    return {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS} | {
        "total": len(rows), "provisional": sum(bool(r["provisional"]) for r in rows)}


def _summary(ctx: FiveYearContext, final: list[dict], items: list[dict], gaps: list[dict]) -> str:
    c = _counts(items)
    year = ctx.year
    current = sum(r["value"] is not None and int(r["year"]) == year for r in items)
    judged = sum(bool(r["judged"]) for r in items)
    ids = {r["id"] for r in items}
    gap_codes = [g["code"] for g in gaps if g["id"] in ids]
    with_figure_unknown = sum(r["verdict"] == UNKNOWN and r["value"] is not None for r in items)
    n_other = len(gap_codes) - gap_codes.count("qualitative") - gap_codes.count("none")
    parts = [  # (text, always said)
        (f"定性目标需人工评估{gap_codes.count('qualitative')}项", gap_codes.count("qualitative") > 0),
        (f"没有任何数据{gap_codes.count('none')}项", True),
        (f"仅有不参与评估的数值（分区数据、口径不同的相关统计或示意数据计算值）{n_other}项", n_other > 0),
        (f"有数据但无法评判{with_figure_unknown}项", with_figure_unknown > 0),
    ]
    text = (
        f"规划共{len(final)}项指标目标，条文目标与其重述的表格指标为同一指标的合并计一项，共{len(items)}项。"
        f"对照规划目标，截至{year}年：达成{c[MET]}项、基本达成{c[NEARLY]}项、未达成{c[MISSED]}项、"
        f"无法评估{c[UNKNOWN]}项。其中{c['provisional']}项基于{year}年以前的数据，为暂定结论；"
        f"{current}项基于{year}年数据。"
    )
    if judged:
        text += f"{judged}项定性目标采用人工评估结论。"
    # "没有任何数据" is always said, even when zero; the other parts only when they occur
    return text + f"无法评估的{c[UNKNOWN]}项中，" + "，".join(p for p, said in parts if said) + "。"


def _rules_view(ctx: FiveYearContext) -> dict:
    """One row per rule (in the package's order), one cell per year of the period up to the evaluation year."""
    years = list(range(ctx.period[0], ctx.year + 1))
    rules: dict[str, dict] = {}
    for r in records(ctx.rules):  # the frame is year by year
        if r["id"] not in rules:
            need = f"{COMPARATOR_ZH.get(r['comparator'], r['comparator'])}{fmt_number(r['threshold'])}{r['unit']}"
            if r["comparator"] == "≈":
                need += f"（±{fmt_number(r['tolerance'])}{r['unit']}）"
            rules[r["id"]] = {"id": r["id"], "article": r["article"], "description": r["description"],
                              "target": r["target"] or "", "need": need, "cells": {}}
        rules[r["id"]]["cells"][int(r["year"])] = {
            "value": with_unit(None if r["value"] is None else round(r["value"], 2), r["unit"]),
            "level": r["level"], "status_text": r["status_text"], "records": int(r["records"] or 0),
        }  # fmt: skip
    rows = [r | {"cells": [r["cells"].get(y) for y in years]} for r in rules.values()]
    return {"years": years, "rows": rows}


def _change(v, per: str) -> str:
    return "—" if v is None else f"{_signed(v)}{per}"


def _growth(g) -> str:
    return "" if g is None else f"年均增长{g:+.2%}"


def _suggestion(v, unit: str) -> str:
    return "—" if v is None else f"{format_number(round(v, 2))}{unit}"


def _bridge_view(ctx: FiveYearContext) -> list[dict]:
    rows = []
    for b in records(ctx.bridge):
        unit, per = b["unit"] or "", _per(b["unit"] or "")
        has = b["level"] is not None
        rows.append({
            "id": b["id"], "name": b["name"], "unit": unit,
            "level": f"{b['level_text']}{unit}" if has else "—",
            "level_note": (f"{int(b['level_year'])}年" + ("，暂定" if b["provisional"] else "")) if has else "暂无数据",
            "target": f"{int(b['target_year'])}年 {b['target_raw'] or format_number(b['target_value'])}",
            "required": _change(b["required_change"], per), "required_growth": _growth(b["required_growth"]),
            "achieved": _change(b["achieved_change"], per), "achieved_growth": _growth(b["achieved_growth"]),
            "achieved_span": (f"{int(b['baseline_year'])}—{int(b['level_year'])}年"
                              if b["achieved_change"] is not None else ""),
            "ratio": "—" if b["pace_ratio"] is None else fmt_number(round(b["pace_ratio"], 2)),
            "linear": _suggestion(b["interim_linear"], unit), "growth": _suggestion(b["interim_growth"], unit),
            "suggested": b["interim_linear"] is not None, "growth_suggested": b["interim_growth"] is not None,
            "reason": b["reason"], "has_level": has,
        })  # fmt: skip
    return rows


def build_five_year_view(ctx: FiveYearContext, *, charts: str | None = "svg") -> dict:
    """Everything the five-year report prints, in print order. ``charts``: "svg" (HTML), "png" (DOCX)
    or None (no charts drawn: the XLSX).
    It formats numbers and words; every verdict and reason comes from the context."""
    final = records(ctx.final)
    items = [r for r in final if not r["linked_to"]]  # a target restating another is counted once
    gaps = records(ctx.gaps)
    gap_status = {g["id"]: g["status"] for g in gaps}
    targets = {t["id"]: t for t in records(ctx.targets)}
    obs_by_id: dict[str, list[dict]] = {}
    for o in records(ctx.observations[ctx.observations["geo"] == ""]):
        obs_by_id.setdefault(o["id"], []).append(o)

    board = []
    for code, label in ctx.categories.items():
        board.append({"code": code, "label": label} | _counts([r for r in items if r["category"] == code]))
    total = {"code": "", "label": "合计"} | _counts(items)

    sections = []
    for i, (code, label) in enumerate(ctx.categories.items()):
        mine = [r for r in final if r["category"] == code]
        quantitative = [_quantitative(r, gap_status) for r in mine if r["target_kind"] != "qualitative"]
        qualitative = [_qualitative(r) for r in mine if r["target_kind"] == "qualitative"]
        charts_ = []
        for r in mine:
            if not charts or r["linked_to"] or r["value"] is None or r["id"] not in targets:
                continue
            verdict = _badge(r["verdict"], r["provisional"])
            chart = indicator_chart(targets[r["id"]], obs_by_id.get(r["id"], []), {"level": verdict["level"]}, fmt=charts)
            note = f"基于{int(r['year'])}年数据，暂定" if r["provisional"] else f"{int(r['year'])}年数据"
            charts_.append({"id": r["id"], "name": r["name"], "source": r["source"], "level": verdict["level"],
                            "badge": verdict["label"], "note": note, "chart": chart})
        linked = sum(bool(r["linked_to"]) for r in mine)
        sections.append({
            "linked_note": (f"本分类列出{len(mine)}项目标，其中{linked}项与其他指标为同一指标，计入该指标的分类，不重复计数。"
                            if linked else ""),
            "anchor": f"cat-{i + 1}", "numeral": CHINESE_NUMERALS[i] if i < len(CHINESE_NUMERALS) else str(i + 1),
            "code": code, "label": label, "board": board[i], "quantitative": quantitative,
            "qualitative": qualitative, "charts": charts_,
        })  # fmt: skip

    first, last = ctx.period
    rules = _rules_view(ctx) if len(ctx.rules) else None
    bridge = _bridge_view(ctx) if ctx.horizon else []
    interim = int(ctx.bridge["interim_year"].iloc[0]) if len(ctx.bridge) else None
    toc = [("board", "总览：最终评估看板")] + [(s["anchor"], f"{s['numeral']}、{s['label']}") for s in sections]
    if rules:
        toc.append(("rules", f"空间规则（{first}—{ctx.year}年）"))
    if ctx.horizon:
        toc.append(("bridge", f"衔接{ctx.horizon}年：所需速度与{interim}年建议值"))
    toc += [("gaps", "数据缺口"), ("methods", "评估方法与数据来源")]
    return {
        "plan_title": ctx.plan_title, "plan_id": ctx.plan_id, "year": ctx.year, "period": ctx.period_text,
        "title": REPORT_NAME, "running_title": f"{ctx.period_text}{REPORT_NAME}", "version": planwatch.__version__,
        "levels": LEVELS, "verdicts": [_badge(v) for v in VERDICTS],
        "summary": _summary(ctx, final, items, gaps), "notices": list(ctx.notes), "toc": toc,
        "board": board, "board_total": total,
        "board_rule": ("看板按分类计数：每项指标目标计一项；条文目标与其所重述的表格指标为同一指标的，合并计为一项，"
                       f"计入表格指标的分类。“其中暂定”为基于{ctx.year}年以前数据的结论。空间规则不计入看板，另列一节。"),
        "board_legend": BOARD_LEGEND,
        "sections": sections, "rules": rules, "horizon": ctx.horizon, "interim": interim,
        "bridge": [b for b in bridge if b["has_level"]], "bridge_missing": [b for b in bridge if not b["has_level"]],
        "gaps": gaps, "gaps_intro": GAPS_INTRO.format(n=len(gaps), linked=sum(bool(g["linked_to"]) for g in gaps), year=ctx.year),
        "rules_caption": RULES_CAPTION,
        "bridge_intro": BRIDGE_INTRO.format(year=ctx.year, horizon=ctx.horizon, interim=interim) if ctx.horizon else "",
        "methods": method_notes(ctx.year, ctx.horizon, interim), "sources": list(ctx.sources),
    }  # fmt: skip


# ---------------------------------------------------------------- HTML (and the PDF printed from it)


def render_five_year_html(ctx: FiveYearContext) -> str:
    """The whole five-year report as one self-contained HTML string (inline CSS and SVG charts)."""
    view = build_five_year_view(ctx, charts="svg")
    return _env().get_template("five_year.html.j2").render(**view, font_stack=FONT_STACK, legend_svg=five_year_legend())


# ---------------------------------------------------------------- DOCX (the annual report's writer)


def _verdict_cell(v: dict) -> Badge:
    return Badge(v["level"], v["note"], v["label"])


def _docx_cover(w: _ReportDocument, v: dict):
    return cover_page(
        w, plan_title=v["plan_title"], title=v["title"],
        meta=f"规划期：{v['period']}　·　评估年度：{v['year']}年　·　规划包：{v['plan_id']}", summary=v["summary"],
        notices=v["notices"], center_summary=False,
        footer=f"本报告由 planwatch {v['version']} 依据规划包与截至{v['year']}年的数据生成；相同输入生成相同报告。",
    )

def _docx_board(w: _ReportDocument, v: dict) -> None:
    w.heading("总览：最终评估看板", 1, anchor="board", new_page=True)
    rows = [[r["label"], *[Count(VERDICT_LEVEL[c], r[c]) for c in VERDICTS], str(r["total"]), str(r["provisional"])]
            for r in [*v["board"], v["board_total"]]]
    w.table(["分类", *[x["label"] for x in v["verdicts"]], "合计", "其中暂定"], rows,
            widths=[0.3, *[None] * 6], size=10, center=(1, 2, 3, 4, 5, 6))
    w.para(v["board_rule"], size=8)
    w.para(v["board_legend"], small=True)


def _docx_category(w: _ReportDocument, v: dict, s: dict, legend: bytes) -> None:
    w.heading(f"{s['numeral']}、{s['label']}", 1, anchor=s["anchor"], new_page=True)
    b = s["board"]
    w.para("，".join(f"{x['label']}{b[x['code']]}项" for x in v["verdicts"]) + f"（其中暂定{b['provisional']}项）。"
           + s["linked_note"])
    if s["quantitative"]:
        w.heading(f"定量目标（{len(s['quantitative'])} 项）", 2)
        rows = [[Lines(f"{r['name']}（{r['unit']}）" if r["unit"] else r["name"],
                       "　".join([r["id"], r["source"]] + ([f"同{r['linked_to']}"] if r["linked_to"] else []))),
                 Lines(r["baseline"], f"{r['baseline_year']}年" if r["baseline_year"] else ""), r["target"],
                 Lines(r["actual"], r["actual_note"]), _verdict_cell(r["verdict"]), Lines(r["gap"], r["gap_pct"]),
                 r["reason"]] for r in s["quantitative"]]  # fmt: skip
        w.table(["指标", "基期值", "规划目标", "实际值", "评估结论", "差距", "评估说明"], rows,
                widths=[0.16, 0.08, 0.1, 0.12, 0.09, 0.08, None], size=SMALL_PT)
    if s["qualitative"]:
        w.heading(f"定性目标（{len(s['qualitative'])} 项）", 2)
        rows = [[Lines(r["name"], "　".join([r["id"], r["source"]] + ([f"同{r['linked_to']}"] if r["linked_to"] else []))),
                 r["target"], _verdict_cell(r["verdict"]), r["judged_by"], r["judged_on"], r["evidence"], r["reason"]]
                for r in s["qualitative"]]  # fmt: skip
        w.table(["指标", "规划目标", "评估结论", "评估人", "评估日期", "依据", "评估说明"], rows,
                widths=[0.17, 0.15, 0.1, 0.08, 0.09, 0.14, None], size=SMALL_PT)
    if s["charts"]:
        w.heading("指标图表", 2)
        w.picture(legend, "图例")
        w.chart_grid([c | {"source": f"{c['source']}　{c['note']}"} for c in s["charts"]])


def _docx_rules(w: _ReportDocument, v: dict) -> None:
    r = v["rules"]
    w.heading(f"空间规则（{r['years'][0]}—{r['years'][-1]}年）", 1, anchor="rules", new_page=True)
    rows = []
    for rule in r["rows"]:
        cells = [Badge(c["level"], f"{c['value']}\n记录{c['records']}条", c["status_text"]) if c else "—"
                 for c in rule["cells"]]
        rows.append([Lines(rule["id"], f"第{rule['article']}条"),
                     Lines(rule["description"], f"对应指标目标 {rule['target']}" if rule["target"] else ""),
                     rule["need"], *cells])
    w.table(["规则", "内容", "要求", *[f"{y}年" for y in r["years"]]], rows,
            widths=[0.07, 0.25, 0.1, *[None] * len(r["years"])], size=SMALL_PT, center=(2,))
    w.para(v["rules_caption"], small=True)


def _docx_bridge(w: _ReportDocument, v: dict) -> None:
    w.heading(f"衔接{v['horizon']}年：所需速度与{v['interim']}年建议值", 1, anchor="bridge", new_page=True)
    w.para(v["bridge_intro"])
    rows = [[Lines(r["name"], r["id"]), Lines(r["level"], r["level_note"]), r["target"],
             Lines(r["required"], r["required_growth"]), Lines(r["achieved"], " ".join(x for x in (r["achieved_span"], r["achieved_growth"]) if x)),
             r["ratio"], Lines(r["linear"], "建议值，非目标" if r["suggested"] else ""),
             Lines(r["growth"], "建议值，非目标" if r["growth_suggested"] else ""), r["reason"]]
            for r in v["bridge"]]  # fmt: skip
    w.table(["指标", "已达到水平", "规划目标", "所需年均变化", "实际年均变化", "所需÷实际",
             f"{v['interim']}年建议值：线性路径", f"{v['interim']}年建议值：等比路径", "说明"], rows,
            widths=[0.12, 0.08, 0.1, 0.09, 0.09, 0.06, 0.09, 0.09, None], size=SMALL_PT)
    if v["bridge_missing"]:
        w.heading(f"无法测算的指标（{len(v['bridge_missing'])} 项）", 2)
        w.table(["指标", "规划目标", "说明"], [[Lines(r["name"], r["id"]), r["target"], r["reason"]] for r in v["bridge_missing"]],
                widths=[0.25, 0.2, None], size=SMALL_PT)


def _docx_gaps(w: _ReportDocument, v: dict) -> None:
    w.heading("数据缺口", 1, anchor="gaps", new_page=True)
    w.para(v["gaps_intro"])
    rows = [[g["id"], Lines(g["name"], f"与{g['linked_to']}为同一指标" if g["linked_to"] else ""), g["category"],
             g["status"], g["source_hint"]] for g in v["gaps"]]
    w.table(["编号", "指标", "分类", "状态", "建议数据来源"], rows, widths=[0.07, 0.24, 0.06, 0.2, None], size=SMALL_PT)


def _docx_methods(w: _ReportDocument, v: dict) -> None:
    w.heading("评估方法与数据来源", 1, anchor="methods", new_page=True)
    for name, text in v["methods"]:
        w.para(name, bold=True).paragraph_format.keep_with_next = True
        w.para(text).paragraph_format.left_indent = Pt(15)
    w.heading("数据来源", 2)
    rows = [[str(s["source"]), str(s["published"]), str(s["ids"]), str(s["years"])] for s in v["sources"]]
    w.table(["来源", "发布日期", "指标", "年份"], rows, widths=[None, 0.12, 0.22, 0.14], size=SMALL_PT)
    w.para("完整的最终评估、空间规则、衔接测算、数据缺口与观测数据见同目录下的 report.xlsx；本文件为可编辑的文字版，"
           "版式固定的打印版见 report.pdf。", small=True)


def write_five_year_docx(ctx: FiveYearContext, path: Path) -> Path:
    """The five-year report as an editable Word document (A4), in the order of the HTML."""
    view = build_five_year_view(ctx, charts="png")
    w = _ReportDocument(view, title=view["running_title"], subject=REPORT_NAME)
    contents = _docx_cover(w, view)
    _docx_board(w, view)
    legend = five_year_legend(fmt="png")
    for section in view["sections"]:
        _docx_category(w, view, section, legend)
    if view["rules"]:
        _docx_rules(w, view)
    if view["horizon"]:
        _docx_bridge(w, view)
    _docx_gaps(w, view)
    _docx_methods(w, view)
    w.table_of_contents(contents)
    return w.save(path)


# ---------------------------------------------------------------- XLSX (the annual report's sheet writer)

BOARD = [Column("code", "分类"), Column("label", "分类名称"),
         *[Column(v, f"{VERDICT_ZH[v]}（项）", "int") for v in VERDICTS],
         Column("total", "合计（项）", "int"), Column("provisional", "其中暂定（项）", "int")]
FINAL = [
    Column("id"), Column("name"), Column("category"), Column("unit"), Column("source"), Column("linked_to"),
    Column("baseline_year", kind="int"), Column("baseline_value", kind="number"), Column("target_year", kind="int"),
    Column("target_kind", "目标类型", codes=KIND_ZH), Column("target_raw"), Column("target_value", kind="number"),
    Column("year", "数据年份", "int"), Column("value_text", kind="published"),
    Column("provisional", "暂定（基于评估年度以前的数据）", "bool"), Column("verdict_zh", "评估结论"),
    Column("gap", "差距（实际−目标）", "number"), Column("gap_pct", "相对差距（%）", "number", digits=1),
    Column("rule", "评判规则"), Column("precision_benefit", kind="bool"), Column("reason"),
    Column("judged", "人工评估", "bool"), Column("judged_by", "评估人"), Column("judged_on", "评估日期"),
    Column("evidence", "依据"), Column("obs_source", "数据来源"), Column("obs_published"),
    Column("value", "数值（未修约）", "raw"),
]  # fmt: skip
RULES = [
    Column("id", "规则编号"), Column("article", kind="article"), Column("category"), Column("description"),
    Column("target"), Column("year", kind="int"), Column("value", kind="number", digits="unit"), Column("unit"),
    Column("comparator", codes=COMPARATOR_ZH), Column("threshold", kind="number"), Column("tolerance", kind="number"),
    Column("records", "记录数", "int"), Column("level", kind="level"), Column("status_text"), Column("reason"),
    Column("synthetic", kind="bool"),
]  # fmt: skip
BRIDGE = [
    Column("id"), Column("name"), Column("category"), Column("unit"), Column("level_year", "数据年份", "int"),
    Column("level_text", "已达到水平", "published"), Column("provisional", "暂定（基于评估年度以前的数据）", "bool"),
    Column("target_year", kind="int"), Column("target_kind", "目标类型", codes=KIND_ZH), Column("target_raw"),
    Column("target_value", kind="number"), Column("baseline_year", kind="int"), Column("baseline_value", kind="number"),
    Column("required_change", "所需年均变化", "number"), Column("required_growth", "所需年均增长率", "percent", digits=2),
    Column("achieved_change", "实际年均变化", "number"), Column("achieved_growth", "实际年均增长率", "percent", digits=2),
    Column("pace_ratio", "所需÷实际", "number", digits=2), Column("interim_year", "建议值年份", "int"),
    Column("interim_linear", "建议值：线性路径（非目标）", "number", digits=2),
    Column("interim_growth", "建议值：等比路径（非目标）", "number", digits=2), Column("reason", "衔接说明"),
]  # fmt: skip
GAPS = [Column("id"), Column("name"), Column("category"), Column("linked_to"), Column("status"),
        Column("source_hint")]
OBSERVATIONS = [
    Column("id"), Column("name"), Column("geo"), Column("year", kind="int"), Column("value_text", kind="published"),
    Column("unit"), Column("graded", "参与评估", "bool"), Column("comparable", kind="bool"),
    Column("synthetic", kind="bool"), Column("origin", codes=ORIGIN_ZH), Column("scope"), Column("source", "来源"),
    Column("published"), Column("note"),
]  # fmt: skip
METHODS = [Column("name", "方法"), Column("text", "说明")]


def five_year_sheets(ctx: FiveYearContext) -> dict[str, list[Table]]:
    """Sheet name -> its tables, in workbook order."""
    view = build_five_year_view(ctx, charts=None)
    scopes = dict(zip(ctx.targets["id"], ctx.targets["geo_scope"], strict=True))
    sheets = {
        "看板": [Table(BOARD, [*view["board"], view["board_total"]],
                     captions=[view["summary"], view["board_rule"], *view["notices"]])],
        "最终评估": [Table(FINAL, records(ctx.final))],
    }
    if len(ctx.rules):
        sheets["空间规则"] = [Table(RULES, records(ctx.rules), captions=[view["rules_caption"]])]
    if ctx.horizon:
        sheets[f"衔接{ctx.horizon}年"] = [Table(BRIDGE, records(ctx.bridge), captions=[view["bridge_intro"]])]
    sheets |= {
        "数据缺口": [Table(GAPS, records(ctx.gaps), captions=[view["gaps_intro"]])],
        "观测数据": [Table(OBSERVATIONS, _city(records(ctx.observations), scopes))],
        "指标目标": [Table(TARGETS, records(ctx.targets))],
        "数据来源": [Table(SOURCES, list(ctx.sources))],
        "评估方法": [Table(METHODS, [{"name": n, "text": t} for n, t in view["methods"]])],
    }
    return sheets


def _colour_verdicts(ws) -> None:
    """A verdict cell on its badge's colour, as the level cells of the annual workbook."""
    colours = {VERDICT_ZH[v]: VERDICT_LEVEL[v] for v in VERDICTS}
    for row in ws.iter_rows():
        for cell in row:
            level = colours.get(cell.value) if isinstance(cell.value, str) else None
            if level:
                cell.fill, cell.font = LEVEL_FILLS[level], LEVEL_FONTS[level]


def write_five_year_xlsx(ctx: FiveYearContext, path: Path) -> Path:
    """Write :func:`five_year_sheets` to ``path`` (byte-identical for the same context)."""
    return save_workbook(five_year_sheets(ctx), f"{ctx.plan_title} {ctx.period_text}{REPORT_NAME}", path,
                         after_sheet=_colour_verdicts)


# ---------------------------------------------------------------- the texts shared by every format

BOARD_LEGEND = ("达成：按目标类型的规则达到规划目标；基本达成：在规则约定的范围内接近目标；未达成：未达到目标；无法评估：定性目标尚无人工"
                "评估、没有口径一致的数据，或数据不足以评判（原因见各项评估说明）。评判规则见“评估方法与数据来源”。")
RULES_CAPTION = ("按规划包中的空间规则逐年计算：面积比例与图斑数按当年的供地、减量记录计算（“记录”为当年计入的记录条数）；"
                 "面积合计取当年及以前最新一期图层，图层不分年份的各年相同。对应指标目标的规则与该指标目标使用同一评级；"
                 "由示意数据图层计算的数值只作展示，不评级。")
BRIDGE_INTRO = ("自{year}年已达到的水平（尚无{year}年数据的，为此前最新的数据）起，实现{horizon}年目标所需的年均变化，"
                "与基期以来实际的年均变化相比；{interim}年数值为按所需速度推算的建议值（建议值，非目标），"
                "供编制下一期近期规划参考。")
GAPS_INTRO = ("以下{n}项指标目标（含与其他指标为同一指标的{linked}项）截至{year}年没有可用于最终评估的数据，"
              "也没有人工评估记录。“建议数据来源”为可提供该数据的统计或部门，供补充数据时参考。")


# ---------------------------------------------------------------- the four files


def write_five_year_report(ctx: FiveYearContext, out_dir: Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.pdf``, ``report.docx`` and ``report.xlsx`` into ``out_dir``
    (created if missing). Returns ``{"html": path, "pdf": path, "docx": path, "xlsx": path}``."""
    from planwatch.report import write_files

    return write_files(out_dir, render_five_year_html(ctx), lambda path: write_five_year_docx(ctx, path),
                       lambda path: write_five_year_xlsx(ctx, path))


def rule_results_by_year(store, plan: Plan, years) -> dict[int, pd.DataFrame]:
    """The plan's spatial rules on the store's layers for each of ``years`` (nothing is stored), or
    ``{}`` when the plan has no rules or the store no land-supply layer (as the annual report)."""
    from planwatch.onemap.rules import evaluate_rules, rule_layers

    registry = layers_present(store)
    if not (plan.spatial and plan.spatial.rules and {r.records for r in plan.spatial.rules} & set(registry["layer_type"])):
        return {}
    layers = rule_layers(store, plan)  # read once for every year
    return {y: evaluate_rules(plan.spatial.rules, layers, y, metric_crs=plan.spatial.metric_crs) for y in years}


def build_five_year_report(plan: Plan, store, year: int, out_dir: Path, *, judgements: pd.DataFrame | None = None) -> dict[str, Path]:
    """Evaluate the plan period as of ``year`` from ``store`` (observations, and the layers for the
    spatial rules of every year of the period up to ``year``) and write the four files into ``out_dir``.
    The curators' recorded judgements (``planwatch judge``) are read from the store unless given."""
    if judgements is None:
        judgements = store.judgements()
    rules = rule_results_by_year(store, plan, range(plan.meta.period[0], year + 1))
    ctx = build_five_year_context(plan, store.observations(), year, rule_results=rules, judgements=judgements)
    return write_five_year_report(ctx, out_dir)

