"""What the report's 指标流量池与用地台账 section prints, from a
:class:`~planwatch.ledger.summary.LedgerSummary`: one view (strings, rows, the chart) for the HTML,
the PDF and the DOCX, and the numeric tables of the XLSX sheet 指标台账.

It words the figures and decides nothing: every amount, cap and comparison comes from the summary.
Amounts are square metres with two decimals (as the ledger keeps them and ``planwatch ledger
accounts`` prints them); the chart is in 万平方米, the comparison with the land targets in 平方公里.
When any batch the year's figures rest on is illustrative, every title says 示意.
"""

from __future__ import annotations

from decimal import Decimal

from planwatch.ledger.summary import LedgerSummary, PoolRow, Reference
from planwatch.report.charts import format_number, ledger_chart

TITLE = "指标流量池与用地台账"
MARK = "示意"
OP_ZH = {"release": "释放", "reserve": "预留", "commit": "确认使用", "cancel": "撤销预留", "expire": "预留到期释放",
         "credit_reduction": "减量挂钩入池", "transfer": "调剂", "correct": "调剂更正"}
MEASURE_ZH = {"allocated": "流量池余额＋预留＋已使用", "net_growth": "流量池余额＋预留＋已使用－已拆除（净增量）"}
POOL_HEADERS = ["累计释放", "减量挂钩入池", "调剂净额", "预留", "已使用", "余额（可用）", "已拆除（减量）"]
POOL_KEYS = ["released", "credited", "transferred", "reserved", "committed", "available", "demolished"]
EMPTY = "截至{as_of}，指标流量池与用地台账中没有记录任何操作（释放、预留、使用、减量挂钩或调剂），本节无数据。"
EMPTY_HINT = "记录台账操作：planwatch ledger release / reserve / commit / credit-reduction / transfer"
OVER = "超出上限"
HOLDS = "未超出"


def amount(value: float) -> str:
    """An amount in m² as the ledger keeps it: thousands separators, two decimals."""
    return f"{value:,.2f}"


def signed(value: float) -> str:
    return f"{value:+,.2f}" if value else "0.00"


def exact(value: Decimal, places: int = 4) -> str:
    """A Decimal to at most ``places`` decimals, trailing zeros dropped; 约 when it was rounded."""
    shown = value.quantize(Decimal(1).scaleb(-places))
    text = format_number(float(shown)) if shown else "0"
    return ("约" if shown != value else "") + text


def _titled(text: str, mark: str) -> str:
    return f"{text}（{mark}）" if mark else text


def _pool_cells(r: PoolRow) -> list[str]:
    return [amount(getattr(r, k)) for k in POOL_KEYS]


def _ring_note(rings: dict[str, tuple[str, ...]]) -> str:
    """Which 圈层 lie inside which (核心区 ⊂ 中心城区): their totals overlap."""
    inside = [f"{outer}含{inner}（{'、'.join(ds)}）" for inner, ds in rings.items() for outer, big in rings.items()
              if inner != outer and set(ds) < set(big)]
    return ("；".join(inside) + "，" if inside else "") + "各圈层合计不可相加，全市合计见上表。"


def _ops_text(s: LedgerSummary) -> str:
    if not s.operations_in_year:
        return f"其中{s.year}年没有操作"
    parts = "、".join(f"{OP_ZH.get(op, op)}{n}笔" for op, n in s.ops_in_year)
    return f"其中{s.year}年{s.operations_in_year}笔（{parts}）"


def illustrative_notes(s: LedgerSummary) -> list[str]:
    """Why the section says 示意, one sentence per reason that holds."""
    notes = []
    if s.illustrative_operations and s.illustrative_operations == s.operations:
        notes.append(f"本节的{s.operations}笔台账操作均标注为示意（演示或培训用），不是真实的指标审批与流转记录，"
                     "据此得出的余额、合计与对照均为示意。")
    elif s.illustrative_operations:
        notes.append(f"本节的{s.operations}笔台账操作中有{s.illustrative_operations}笔标注为示意，不是真实的指标审批与流转"
                     "记录；含有示意操作的余额、合计与对照均为示意。")
    if s.schedule_illustrative:
        notes.append("年度释放计划的数额为示意：规划要求建筑规模指标分时序逐步释放，未给出年度释放量。")
    if s.ratio_illustrative:
        cite = f"第{s.ratio_article}条" if s.ratio_article else "规划"
        share = "" if s.ratio_min == 1 else f"的1/{s.ratio_min:g}"
        notes.append(f"拆占比下限{s.ratio_min:g}:1（计入流量池的指标不超过拆除面积{share}）为示意：{cite}要求严格控制拆占比，"
                     "未给出数值。")
    if any(c.illustrative for c in s.caps):
        notes.append(f"标注“{MARK}”的约束上限为示意：规划未给出分区数额。")
    return notes


def cover_note(s: LedgerSummary | None) -> str:
    """The cover's 重要说明 about the ledger section, or "" when nothing in it is illustrative."""
    if s is None or s.empty or not s.illustrative:
        return ""
    if s.illustrative_operations:
        return f"“{TITLE}”一节的台账操作含示意记录（标注“{MARK}”），不是真实的指标审批与流转记录。"
    return f"“{TITLE}”一节所用的年度释放计划等数额为示意（标注“{MARK}”），规划未给出这些数值。"


# ---------------------------------------------------------------- the plan targets set against the ledger


def _requirement(r: Reference) -> str:
    """The plan's words: the article's quote, or a table row's figures."""
    if r.source.startswith("表") or r.quote.startswith("|"):
        parts = ([f"{r.baseline.year}年（基期）{r.baseline.raw}"] if r.baseline else []) + \
                [f"{t.year}年 {t.raw}" for t in r.targets]
        return "；".join(parts) + f"（{r.target_unit}）"
    return r.quote


def _reference_row(r: Reference, year: int) -> dict:
    unit = r.target_unit
    name = f"{r.target_name}" + ("" if r.scope in r.target_name or r.scope == "全市" else f"（{r.scope}）")
    base = {"name": name, "id": r.target_id, "source": r.source, "requirement": _requirement(r), "over": False}
    converted = f"（合{exact(r.net_in_target_unit)}{unit}）" if r.net_in_target_unit is not None else ""
    if r.kind == "net_growth":
        limit = format_number(r.cap_limit) if r.cap_limit is not None else "0"
        verdict = (f"净增量大于{limit}，超出“动态零增长”约束（{r.cap_id}）" if r.cap_over
                   else f"净增量不大于{limit}，未超出“动态零增长”约束（{r.cap_id}）")
        target = next((t for t in r.targets if t.raw), None)
        stock = f"是否“{target.raw}”" if target else "的总量控制情况"
        return base | {
            "ledger": [f"净增量 {signed(r.net_growth)} 平方米{converted}",
                       f"流量池余额 {amount(r.held)}、预留 {amount(r.reserved)}、已使用 {amount(r.committed)}，"
                       f"已拆除 {amount(r.demolished)}（平方米）"],
            "note": (f"净增量为{r.scope}各区（{'、'.join(r.districts)}）流量池余额、预留与已使用的{r.quota_name}之和，"
                     f"减去已拆除（减量）的建筑面积；{verdict}。台账只记录经流量池流转的指标，不记录{r.scope}现状总建筑规模，"
                     f"不能据此判断总建筑规模{stock}。"),
            "over": r.cap_over,
        }
    lines = [f"净变化 {signed(r.net_change)} 平方米{converted}",
             f"已使用（项目新增建设用地）{amount(r.committed)}，已减量（拆除还绿）{amount(r.demolished)}（平方米）"]
    scope = "全市" if r.scope == "全市" else f"{r.scope}各区（{'、'.join(r.districts)}）"
    note = f"净变化为{scope}已使用的{r.quota_name}减去已减量的面积，截至{year}年12月31日。"
    if r.implied is not None and r.baseline is not None:
        change = r.net_in_target_unit
        sign = "－" if change < 0 else "＋"
        lines.append(f"基期值加台账净变化（推算）：{format_number(r.baseline.value)} {sign} {exact(abs(change))} ＝ "
                     f"{exact(r.implied)}{unit}")
        gaps = []
        for t in r.targets:
            if t.value is None:
                continue
            gap = r.implied - Decimal(repr(float(t.value)))
            gaps.append(f"{t.year}年目标值{format_number(t.value)}{'高' if gap > 0 else '低'}{exact(abs(gap))}{unit}"
                        if gap else f"{t.year}年目标值{format_number(t.value)}相同")
        note += (f"推算值＝{r.baseline.year}年基期值{r.baseline.raw}{unit}加台账净变化，只是这一计算，不是国土变更调查的现状规模："
                 "未经台账记录的用地变化（包括台账启用之前的）不在其中。")
        if gaps:
            note += "推算值比" + "，比".join(gaps) + "。"
    else:
        note += (f"规划（{r.source}）未给出{r.target_name}的基期值，台账也不记录现状总量，因此不推算现状规模，"
                 "只列台账记录的净变化。")
    return base | {"ledger": lines, "note": note}


# ---------------------------------------------------------------- the view


def ledger_view(s: LedgerSummary | None, *, charts: str | None = "svg") -> dict | None:
    """The section as printed: None when the plan has no ledger (no section); ``empty`` with one
    sentence when nothing is recorded up to the end of the year; else its tables and chart (SVG
    text with ``charts="svg"``, PNG bytes with "png", none with None)."""
    if s is None:
        return None
    as_of = f"{s.year}年12月31日"
    if s.empty:
        return {"title": TITLE, "empty": True, "text": EMPTY.format(as_of=as_of), "hint": EMPTY_HINT}
    mark = MARK if s.illustrative else ""
    lead = (f"截至{as_of}（按业务日期计），台账共记录指标操作{s.operations}笔，{_ops_text(s)}。年度释放计划由台账按规划包的"
            f"释放计划自动下达，不计入操作笔数。以下数值均为截至{as_of}的累计数，单位为平方米（图为万平方米）。")
    quotas, quiet = [], []
    rings = {r.name: tuple(r.ring.split("、")) for r in s.quotas[0].rings} if s.quotas else {}
    for q in s.quotas:
        if not q.active:
            quiet.append(q.name)
            continue
        idle = f"其余{len(q.idle)}个区（{'、'.join(q.idle)}）没有记录。" if q.idle else ""
        quotas.append({
            "name": q.name,
            "district_title": _titled(f"{q.name}：各区流量池", mark),
            "district_columns": ["区", "圈层", *POOL_HEADERS],
            "district_rows": [[r.name, r.ring, *_pool_cells(r)] for r in q.districts],
            "total": ["全市合计", "", *_pool_cells(q.total)],
            "district_note": ("单位：平方米。累计释放＋减量挂钩入池＋调剂净额＝预留＋已使用＋余额（可用）。减量挂钩入池为已拆除"
                              "（减量）面积按拆占比折算计入流量池的指标；已拆除面积记入减量，不计入流量池。" + idle),
            "ring_title": _titled(f"{q.name}：各圈层合计", mark),
            "ring_columns": ["圈层", "所含区", *POOL_HEADERS],
            "ring_rows": [[r.name, r.ring, *_pool_cells(r)] for r in q.rings],
            "ring_note": "单位：平方米。各圈层为所含各区之和；" + _ring_note(rings),
        })  # fmt: skip
    plan_rows = [[q.name, amount(q.planned), amount(q.released_from_plan), amount(q.unreleased)]
                 for q in s.quotas if q.plan_year is not None]
    caps = []
    for c in s.caps:
        shown = [x for x in c.scopes if x.measured or x.over] if c.each_district else list(c.scopes)
        rows = [{"scope": x.scope, "measured": amount(x.measured), "limit": amount(x.limit), "over": x.over}
                for x in shown] or [{"scope": "各区", "measured": "各区均为0",
                                     "limit": amount(c.scopes[0].limit) if c.scopes else "—", "over": False}]
        caps.append({"id": c.id, "marks": [MARK] if c.illustrative else [], "quota": c.quota_name,
                     "basis": f"第{c.article}条：“{c.quote}”" if c.article else "planwatch 示意规则",
                     "measure": f"{s.year}年释放量" if c.measure == "released" else MEASURE_ZH[c.measure],
                     "rows": rows, "over": c.over})
    over = [c["id"] for c in caps if c["over"]]
    caps_lead = (f"{len(over)}项约束有超出上限的范围（{'、'.join(over)}），见表中红色标注。" if over
                 else f"截至{as_of}，各项约束均未超出上限。")
    series = [{"quota_name": p.quota_name, "district": p.district, "points": list(p.points)} for p in s.series]
    chart = ledger_chart(series, s.year, mark=mark, fmt=charts) if series and charts else None
    return {
        "title": TITLE, "empty": False, "mark": mark, "illustrative": s.illustrative, "lead": lead,
        "notes": illustrative_notes(s) if s.illustrative else [], "quotas": quotas,
        "quiet": f"{'、'.join(quiet)}：截至{as_of}没有记录。" if quiet else "",
        "plan_title": _titled(f"{s.year}年度释放计划", MARK if s.schedule_illustrative or s.illustrative else ""),
        "plan_columns": ["指标", "年度释放计划", "已释放", "尚未释放"], "plan_rows": plan_rows,
        "plan_note": f"单位：平方米。已释放为截至{as_of}从{s.year}年度释放计划释放到各区流量池的数额。",
        "caps_title": _titled("约束检查", mark), "caps_lead": caps_lead,
        "caps_columns": ["约束", "依据", "范围", "口径", "台账数值", "上限", "结果"], "caps": caps,
        "caps_note": "单位：平方米。按区设定的约束只列出有记录的区，其余各区为0；完整的各区数值见 report.xlsx。",
        "references_title": _titled("与规划指标对照", mark),
        "references_columns": ["规划指标", "规划要求", f"台账记录（截至{as_of}）", "说明"],
        "references": [_reference_row(r, s.year) for r in s.references],
        "chart_title": _titled(f"{s.year}年各流量池余额变化", mark), "chart": chart,
        "chart_caption": (f"按业务日期计的各区流量池余额（可用部分，不含预留与已使用），单位：万平方米；只画出{s.year}年有变动的"
                          f"{len(series)}个流量池。"),
    }  # fmt: skip


__all__ = ["MARK", "OVER", "TITLE", "cover_note", "illustrative_notes", "ledger_view"]
