"""What the report prints, in print order, as plain dicts and strings: one view for HTML/PDF and DOCX.

:func:`build_view` turns a :class:`ReportContext` into sections (cover, board, 问题清单 and 对策建议,
map, districts, rules, the quota ledger (:mod:`planwatch.report.ledger_section`), one section per
category, forecasts and back-test, data coverage, sources and methods). It formats numbers and words; it decides nothing — every level and reason comes from
the context, so the HTML, the PDF and the DOCX say the same thing.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd

import planwatch
from planwatch.evaluate.forecast import NO_BAND_ZH
from planwatch.report.charts import band_words, format_number, indicator_chart
from planwatch.report.context import LEVELS, ReportContext
from planwatch.report.ledger_section import ledger_view
from planwatch.store.base import SYNTHETIC_MARK

CHINESE_NUMERALS = "一二三四五六七八九十"

# Every method a verdict or a forecast can rest on, defined (printed under 评估方法).
METHOD_NOTES = [
    ("时间进度", "任务进度＝（现状值−基期值）÷（目标值−基期值），即基期至今已完成的目标增量占全部增量的比例；"
                "时间进度＝（数据年份−基期年份）÷（目标年份−基期年份）。二者之比不低于0.95为绿灯，不低于0.6为黄灯，"
                "否则为红灯。用于有基期值的全市数据。"),
    ("Open SDG 进度测度", "无法计算时间进度时采用：以实际年均复合增速与实现目标所需年均复合增速之比评价，"
                         "阈值为0.95、0.6、0（联合国可持续发展目标开放数据平台 Open SDG 的方法）；已达到目标的单独判定。"),
    ("上下限检查", "约束性上限（“<”“以内”“不超过”）与下限（“>”“以上”“不低于”）：基期已满足的，每年都须满足；"
                 "基期未满足的，自目标年份起须满足。越限即为红灯，不论趋势如何；未越限为绿灯。"),
    ("目标区间", "“稳定在X左右”的目标：与X相差不超过±5%为绿灯，±5%至±10%为黄灯，超过±10%为红灯；"
               "指标有明确有利方向的（越高越好或越低越好），超出区间而位于有利方向一侧的评为绿灯。"),
    ("目标达成", "现状值已达到或超过（按指标方向）目标值的，评为绿灯。"),
    ("较基准年比较", "“较某年下降”的目标：低于参照年份数值为绿灯；未低于的，目标年份前为黄灯，目标年份起为红灯。"),
    ("人工评估", "定性目标（如“达到国家要求”“增加”“基本实现全覆盖”）没有可比数值，列为灰灯，需人工评估。"),
    ("无法评估", "规划未给出基期值且尚未达到目标、或数据不足以判断进度的，列为灰灯。"),
    ("公布精度", "评级不依赖小于数据公布精度的差距：数值按其公布的位数有±半个末位单位的精度（如整数88为±0.5），"
               "若在精度范围内取有利一端即可评为较好等级，则评为较好等级，并在说明中注明。"),
    ("数据时效", "评估采用评估年度及以前的最新数据；最新数据早于评估年度的，说明中注明“最新数据为某年”。"),
    ("口径不可比", "每项指标声明其地域范围（全市、中心城区、建成区等）与计量方式（水平值、变化量、比值、数量、累计降幅）。"
               "口径或计量方式不同的数据照录为相关统计，保留其原单位，不参与评级；只有口径一致的数据参与评级。"),
    ("官方数据优先", "同一指标、年份与地域既有官方发布数据又有依据图层计算的数值时，评级采用官方数据，计算值列为相关统计；"
                   "由示意数据（非官方）图层计算的数值从不参与评级。"),
    ("同一指标", "条文目标重述表格指标的（如第113条细颗粒物浓度与表第12行），二者共用数据与评级，看板上合并计为一项。"),
    ("线性趋势预测", "对基期值与历年口径一致的数据做普通最小二乘直线拟合并外推到2025年、2035年。"
                   "不少于4个数据点时给出90%预测区间（t分布，单次观测的预测区间）；2至3个数据点只给趋势线，不给区间。"),
    ("年均复合增速外推", "以首末两个数据点计算年均复合增速并自最后一个数据点外推；首末值须为正。"),
    ("物理界限", "预测值不得超出指标的物理界限：水平值、比值与数量不小于0，百分比不大于100。超出的按界限取值，并注明“已截断”。"),
    ("回测", "对每项有足够数据的指标，仅用Y−2年及以前的数据预测Y年，与Y年实际值比较，检验以往预测的准确程度。"),
]


def _clean(value):
    """pandas scalars to plain Python, NaN/NA to None (Jinja tests ``is none``)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    if frame is None or frame.empty:
        return []
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def with_unit(value, unit) -> str:
    if value is None:
        return "—"
    return f"{format_number(value)}{unit or ''}"


def target_text(target: dict) -> str:
    """The plan's own wording of its targets, e.g. "2025年 <2300；2035年 2300"."""
    parts = [f"{y}年 {target[f'target_{y}_raw']}" for y in (2025, 2035) if target.get(f"target_{y}_raw")]
    return "；".join(parts) or "—"


def _change_text(e: dict, unit: str) -> str:
    change = e.get("change")
    if change is None or e.get("prev_value") is None:
        return "—"
    digits = _decimals(e.get("value_text")), _decimals(e.get("prev_text"))
    d = max(digits)
    text = f"{change:+.{d}f}"
    return f"{text}{'个百分点' if unit == '%' else unit or ''}"


def _decimals(text) -> int:
    if not text or not isinstance(text, str):
        return 2
    return len(text.split(".", 1)[1]) if "." in text else 0


def _forecast_note(e: dict, unit: str) -> str:
    n = e.get("n_points")
    if n is None:
        return "—"
    parts = [f"线性趋势，{int(n)}个数据点"]
    bands = {y: band_words(e, y) for y in (2025, 2035) if e.get(f"forecast_{y}") is not None}
    if len(set(bands.values())) <= 1:
        parts += list(dict.fromkeys(bands.values()))
    else:
        parts += [f"{y}年{words}" for y, words in bands.items()]
    for y in (2025, 2035):
        if e.get(f"forecast_{y}_clipped"):
            parts.append(f"{y}年趋势外推为{format_number(e.get(f'forecast_{y}_raw'))}{unit}，按物理界限取值（已截断）")
    return "；".join(parts)


def _forecast_value(e: dict, year: int, unit: str) -> str:
    v = e.get(f"forecast_{year}")
    if v is None:
        return "—"
    text = f"{format_number(round(v, 2))}{unit}"
    lo, hi = e.get(f"forecast_{year}_low"), e.get(f"forecast_{year}_high")
    if lo is not None and hi is not None:
        text += f"（{format_number(round(lo, 2))}～{format_number(round(hi, 2))}）"
    if e.get(f"forecast_{year}_clipped"):
        text += "（已截断）"
    return text


# ---------------------------------------------------------------- the findings register's three sections

PROGRESS_DAYS = 365  # 整改进展 lists the findings closed in the 365 days up to the check date
SEVERITY_LEVEL = {"high": "red", "medium": "yellow", "low": "grey"}  # the badge colour of a severity
ILLUSTRATIVE_MARK = "示意"
# The sentence under the computed 问题清单 when the year has no findings register.
NO_REGISTER = "{year}年及以前的体检问题尚未生成问题台账，尚无交办、整改与销号记录。"
NOT_ASSIGNED = "尚未交办"
NO_COMMITMENT = "已交办，尚未报送整改承诺或进展"
PROGRESS_NOTE = ("关闭方式：已销号指整改完成、提交佐证并经申请人以外的人员核验；风险接受与已撤销均记录了理由，见问题台账。"
                 "整改佐证为提交的文件名，括号内为文件内容摘要的前8位，可据以核对文件未被更改。")
NO_REGISTER_HINT = "生成问题台账：planwatch findings generate --year {year}"


def _marks(f: dict) -> list[str]:
    """示意 (a demo wrote its events or evidence), 示意数据（非官方） (found on synthetic layers)."""
    return ([ILLUSTRATIVE_MARK] if f.get("illustrative") else []) + ([SYNTHETIC_MARK] if f.get("synthetic") else [])


def _counts(values: list[str], order: list[str], labels: dict[str, str]) -> str:
    seen = {v: values.count(v) for v in dict.fromkeys(values)}
    ordered = [v for v in order if v in seen] + [v for v in seen if v not in order]
    return "、".join(f"{labels.get(v, v)}{seen[v]}项" for v in ordered)


def _mark_notes(rows: list[dict]) -> list[str]:
    """What the marks in ``rows`` mean, one sentence per mark that occurs."""
    notes = []
    if any(ILLUSTRATIVE_MARK in r["marks"] for r in rows):
        notes.append(f"标注“{ILLUSTRATIVE_MARK}”的问题，其交办、整改或佐证记录为演示程序写入的示意条目，不是真实的整改记录。")
    if any(SYNTHETIC_MARK in r["marks"] for r in rows):
        notes.append(f"标注“{SYNTHETIC_MARK}”的问题由示意数据图层计算得出，不是官方数据。")
    return notes


def findings_view(ctx: ReportContext) -> dict | None:
    """What the report's 问题清单, 整改进展 and 对策建议 print from ``ctx.findings``: None when the
    register is empty (the report then prints the computed 问题清单与对策建议)."""
    from planwatch.findings.machine import STATES
    from planwatch.findings.view import SEVERITIES, open_findings
    from planwatch.findings.xlsx import closed_how_text, unit_text

    if ctx.findings is None or ctx.findings.empty:
        return None
    as_of = date.fromisoformat(ctx.as_of[:10])
    start = as_of - timedelta(days=PROGRESS_DAYS - 1)
    open_rows = records(open_findings(ctx.findings))

    def base(f: dict) -> dict:
        marks = _marks(f)
        return {
            "code": f["code"], "title": f["title"] or "", "article": f["article"] or "", "geo": f["geo"] or "全市",
            "kind": f["kind_zh"] or "", "reason": f["reason"] or "", "severity": f["severity_zh"] or "",
            "severity_level": SEVERITY_LEVEL.get(f["severity"], "grey"), "state": f["state_zh"] or "",
            "unit": unit_text(f), "assigned": bool(f["responsible"]), "due": (f["due"] or "")[:10] or "—",
            "overdue": bool(f["overdue"]), "days_overdue": int(f["days_overdue"] or 0), "marks": marks,
            "recommendation": f["recommendation"] or "", "commitment": f["commitment"] or "",
            "commitment_text": (f["commitment"] or NO_COMMITMENT) if f["responsible"] else NOT_ASSIGNED,
        }  # fmt: skip

    items = [base(f) for f in open_rows]
    n_overdue = sum(i["overdue"] for i in items)
    if items:
        summary = (
            f"{ctx.year}年及以前体检发现、尚未关闭的问题共{len(items)}项。按严重程度：" +
            _counts([f["severity"] for f in open_rows], list(SEVERITIES), SEVERITIES) + "；按状态：" +
            _counts([f["state"] for f in open_rows], list(STATES), STATES) +
            f"。按{ctx.as_of}计，逾期{n_overdue}项（已交办、整改时限早于该日且尚未申请销号）。"
        )
    else:
        summary = f"{ctx.year}年及以前体检发现的问题均已关闭（已销号、风险接受或已撤销），没有尚未关闭的问题。"
    closed = [f for f in records(ctx.findings) if f["closed_at"]
              and start <= date.fromisoformat(f["closed_at"][:10]) <= as_of]
    closed.sort(key=lambda f: (f["closed_at"], f["finding_id"]))
    window = f"{start.isoformat()}至{ctx.as_of}（含首尾，共{PROGRESS_DAYS}天）"
    progress = [base(f) | {"closed_at": f["closed_at"][:10], "how": closed_how_text(f), "by": f["closed_by"] or "—",
                           "evidence": f["evidence_files"] or "—", "unit": f["responsible"] or "—"}
                for f in closed]  # fmt: skip
    if progress:
        how = [p["how"] for p in progress]
        progress_summary = (f"{window}关闭的问题共{len(progress)}项：" +
                            _counts(how, ["已销号", "风险接受", "已撤销"], {}) + "。")
    else:
        progress_summary = f"{window}没有销号、风险接受或撤销的问题。"
    notes = _mark_notes(items)
    seen = ctx.findings["year"].astype(int).eq(ctx.year) | ctx.findings["last_seen_year"].astype(int).ge(ctx.year)
    if not seen.any():
        notes.append(f"问题台账中没有{ctx.year}年体检发现或再次发现的问题记录，本节及以下两节所列均为以前年度发现的问题。")
    return {
        "as_of": ctx.as_of, "start": start.isoformat(), "window": window, "summary": summary, "open": items,
        "progress": progress, "progress_summary": progress_summary, "notes": notes, "progress_note": PROGRESS_NOTE,
        "progress_notes": _mark_notes(progress),
        "measures_lead": f"尚未关闭的{len(items)}项问题的对策建议，及责任单位的整改时限与最新整改承诺或进展（未交办的注明尚未交办）。",
        "no_measures": "没有尚未关闭的问题，无逐项对策建议。",
        "basis": (f"依据问题台账生成本报告时的状态；逾期天数按{ctx.as_of}计算。问题编号为“发现年度-台账号”，"
                  "完整台账（含建议责任单位、整改佐证）见同目录下的 report.xlsx。"),
    }  # fmt: skip


def build_view(ctx: ReportContext, *, charts: str = "svg") -> dict:
    """Everything the report prints, in print order. ``charts``: "svg" (HTML) or "png" (DOCX)."""
    targets = records(ctx.targets)
    target_by_id = {t["id"]: t for t in targets}
    evaluation = records(ctx.evaluation)
    obs_by_key: dict[tuple[str, str], list[dict]] = {}
    for o in records(ctx.observations.sort_values(["id", "geo", "year"], kind="stable")):
        obs_by_key.setdefault((o["id"], o["geo"] or ""), []).append(o)
    evals_by_id: dict[str, list[dict]] = {}
    for e in sorted(evaluation, key=lambda e: (e["id"], e["geo"] or "")):
        evals_by_id.setdefault(e["id"], []).append(e)
    related_by_id: dict[str, list[dict]] = {}
    for r in records(ctx.related):
        related_by_id.setdefault(r["id"], []).append(r)

    def item(e: dict) -> dict:
        t = target_by_id.get(e["id"], {})
        unit = e.get("unit") or t.get("unit") or ""
        return {
            "id": e["id"], "name": e.get("name") or t.get("name", e["id"]), "unit": unit,
            "geo": e.get("geo") or t.get("geo_scope") or "全市", "level": e["level"], "reason": e.get("reason") or "",
            "method": e.get("method") or "", "source": e.get("source") or t.get("source", ""),
            "value": f"{e.get('value_text')}{unit}", "value_year": int(e["year"]), "change": _change_text(e, unit),
            "prev": f"{e['prev_text']}{unit}" if e.get("prev_value") is not None else "—",
            "prev_year": int(e["prev_year"]) if e.get("prev_value") is not None else None,
            "baseline": (with_unit(e["baseline_value"], unit)
                         if e.get("baseline_value") is not None and not e.get("geo") else "—"),
            "baseline_year": (int(e["baseline_year"])
                              if e.get("baseline_value") is not None and not e.get("geo") else None),
            "target": target_text(t) if t else f"{e.get('target_year')}年 {e.get('target_raw') or ''}",
            "linked_to": e.get("linked_to") or "", "quote": t.get("quote", ""),
        }  # fmt: skip

    def linked_item(e: dict) -> dict:
        """A target that restates another: the same verdict, said once (the full reason is in the XLSX)."""
        other = target_by_id.get(e["linked_to"], {})
        return item(e) | {"reason": f"与{other.get('source', '')}（{e['linked_to']}）为同一指标，数据与评级相同，评估说明见"
                                    f"{e['linked_to']}。", "method": ""}

    sections = []
    for i, (code, label) in enumerate(ctx.categories.items()):
        rows, charts_, related, nodata = [], [], [], []
        for t in targets:
            if t["category"] != code:
                continue
            evals = evals_by_id.get(t["id"], [])
            rel = related_by_id.get(t["same_as"] or t["id"], [])
            if not evals:
                nodata.append({"id": t["id"], "name": t["name"], "unit": t["unit"] or "", "geo": t["geo_scope"] or "全市",
                               "source": t["source"], "target": target_text(t),
                               "status": "仅有相关统计" if rel else "暂无数据", "linked_to": t["same_as"] or ""})
            for e in evals:
                rows.append(linked_item(e) if e.get("linked_to") else item(e))
                if not e.get("linked_to") and not e.get("geo"):
                    obs = obs_by_key.get((e["id"], ""), [])
                    chart = indicator_chart(t, obs, e, fmt=charts)
                    charts_.append(item(e) | {"chart": chart, "forecast_note": _forecast_note(e, t["unit"] or "")})
            if not t["same_as"]:
                related += [r | {"target_name": t["name"]} for r in rel]
        roll = next((r for r in records(ctx.rollup) if r["category"] == code), None)
        sections.append({
            "anchor": f"cat-{i + 1}", "numeral": CHINESE_NUMERALS[i] if i < 10 else str(i + 1),
            "code": code, "label": label, "rows": rows, "charts": charts_, "related": related, "nodata": nodata,
            "rollup": roll,
        })  # fmt: skip

    forecasts = []
    for e in evaluation:
        if e.get("linked_to") or e.get("geo") or e.get("n_points") is None:
            continue
        unit = e.get("unit") or ""
        forecasts.append({
            "id": e["id"], "name": e["name"], "unit": unit, "n_points": int(e["n_points"]),
            "f2025": _forecast_value(e, 2025, unit), "f2035": _forecast_value(e, 2035, unit),
            "target": target_text(target_by_id.get(e["id"], {})), "note": _forecast_note(e, unit),
        })  # fmt: skip
    backtest = []
    for b in records(ctx.backtest):
        unit = b.get("unit") or ""
        band = (f"{format_number(round(b['low'], 2))}～{format_number(round(b['high'], 2))}"
                if b.get("low") is not None and b.get("high") is not None
                else f"无（{NO_BAND_ZH.get(b.get('no_band_reason') or '', '不给预测区间')}）")
        backtest.append({
            "id": b["id"], "name": b["name"], "year": b["year"], "origin_year": b["origin_year"],
            "n_points": b["n_points"], "forecast": with_unit(round(b["forecast"], 2), unit), "band": band,
            "actual": with_unit(b["actual"], unit), "error": f"{b['error']:+.2f}{unit}",
            "in_band": "—" if b.get("in_band") is None else ("是" if b["in_band"] else "否"),
        })  # fmt: skip

    rules = []
    for r in records(ctx.rules):
        unit = r["unit"]
        rules.append({
            "id": r["id"], "article": r["article"], "description": r["description"], "target": r["target"] or "—",
            "value": with_unit(None if r["value"] is None else round(r["value"], 2), unit),
            "need": f"{ {'>=': '≥', '<=': '≤', '==': '='}.get(r['comparator'], r['comparator'])}{format_number(r['threshold'])}{unit}",
            "level": r["level"], "status_text": r["status_text"], "reason": r["reason"],
        })  # fmt: skip

    c = ctx.counts
    summary = (
        f"规划共{c.get('targets', len(targets))}项指标目标。本年度参与评级{c.get('items', 0)}项（同一指标合并计，"
        f"含空间规则）：绿灯{c.get('green', 0)}项、黄灯{c.get('yellow', 0)}项、红灯{c.get('red', 0)}项、"
        f"灰灯{c.get('grey', 0)}项；另有{c.get('related_only', 0)}项仅有口径不同的相关统计，"
        f"{c.get('nodata', 0)}项暂无数据。"
    )
    register = findings_view(ctx)
    toc = [("board", "总览：分类评估看板")]
    if register is None:
        toc.append(("problems", "问题清单与对策建议"))
    else:
        toc += [("problems", "问题清单"), ("rectification", "整改进展"), ("measures", "对策建议")]
    if ctx.maps:
        toc.append(("map", "规划一张图"))
    if ctx.districts or any(m.get("table") for m in ctx.maps):
        toc.append(("districts", "分区评估"))
    if rules:
        toc.append(("rules", "空间规则检查"))
    ledger = ledger_view(ctx.ledger, charts=charts)
    if ledger is not None:
        toc.append(("ledger", ledger["title"]))
    toc += [(s["anchor"], s["label"]) for s in sections]
    toc += [("forecasts", "预测与回测"), ("coverage", "数据覆盖情况"), ("sources", "数据来源与评估方法")]
    station = next((m["table"] for m in ctx.maps if m.get("table")), None)
    return {
        "plan_title": ctx.plan_title, "plan_id": ctx.plan_id, "year": ctx.year, "version": planwatch.__version__,
        "levels": LEVELS, "summary": summary, "notices": list(ctx.notes), "toc": toc,
        "rollup": records(ctx.rollup), "rollup_rule": ctx.rollup_rule, "counts": c,
        "problems": records(ctx.problems), "maps": list(ctx.maps), "station": station, "register": register,
        "no_register": NO_REGISTER.format(year=ctx.year), "no_register_hint": NO_REGISTER_HINT.format(year=ctx.year),
        "districts": list(ctx.districts), "rules": rules, "ledger": ledger, "sections": sections,
        "forecasts": forecasts, "backtest": backtest, "coverage": records(ctx.coverage),
        "sources": list(ctx.sources), "methods": METHOD_NOTES,
    }  # fmt: skip
