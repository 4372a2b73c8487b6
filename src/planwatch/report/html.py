"""Render a :class:`ReportContext` to one self-contained HTML page (inline CSS, inline SVG charts).

The same HTML is what the browser shows and what WeasyPrint prints, so the two never diverge.
No wall-clock time goes into it: the same context renders to the same bytes.
"""

from __future__ import annotations

import math
from importlib import resources

import jinja2
import pandas as pd

import planwatch
from planwatch.report.charts import FONT_STACK, format_number, indicator_chart, legend_svg
from planwatch.report.context import LEVELS, ReportContext

CHINESE_NUMERALS = "一二三四五六七八九十"
LEVEL_ORDER = {"red": 0, "yellow": 1, "grey": 2, "green": 3}

# What each method means, printed under 评估方法; the engine names the method on every row.
METHOD_NOTES = {
    "时间进度": "任务进度（基期至今已完成的目标增量占全部增量的比例）与时间进度（已过年数占规划期年数的比例）相比较。",
    "Open SDG": "Open SDG 进度度量：实际年均增长率与实现目标所需年均增长率之比，阈值 0.95 / 0.6 / 0；已达到目标的单独判定。",
    "上下限检查": "约束性上限、下限：一旦突破即为红灯，不论趋势如何。",
    "人工评估": "定性目标（如“达到国家要求”“增加”）没有可比数值，需人工评估，标为灰灯。",
    "口径不可比": "观测值的统计口径与规划指标口径不一致：数据照录，但不作比较，标为灰灯，从不判为红灯。",
}


def _env() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(resources.files("planwatch.report") / "templates"))
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = format_number
    return env


def _clean(value):
    """pandas scalars to plain Python, NaN/NA to None (Jinja tests ``is none``)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _geo_label(geo) -> str:
    return geo if geo else "全市"


def _with_unit(value, unit) -> str:
    if value is None:
        return "—"
    return f"{format_number(value)}{unit or ''}"


def _target_text(target: dict) -> str:
    """The plan's own wording of its targets, e.g. "2025年 <2300；2035年 2300"."""
    parts = [f"{y}年 {target[f'target_{y}_raw']}" for y in (2025, 2035) if target.get(f"target_{y}_raw")]
    return "；".join(parts) or "—"


def build_view(ctx: ReportContext) -> dict:
    """Everything the template prints, in print order: board, warnings, sections, sources."""
    targets = _records(ctx.targets)
    target_by_id = {t["id"]: t for t in targets}
    evaluation = _records(ctx.evaluation)
    obs_by_key: dict[tuple[str, str], list[dict]] = {}
    for o in _records(ctx.observations.sort_values(["id", "geo", "year"], kind="stable")):
        obs_by_key.setdefault((o["id"], o["geo"] or ""), []).append(o)
    evals_by_id: dict[str, list[dict]] = {}
    for e in sorted(evaluation, key=lambda e: (e["id"], e["geo"] or "")):
        evals_by_id.setdefault(e["id"], []).append(e)

    def item(e: dict) -> dict:
        t = target_by_id.get(e["id"], {})
        unit = e.get("unit") or t.get("unit") or ""
        return {
            "id": e["id"], "name": e.get("name") or t.get("name", e["id"]), "unit": unit,
            "geo": _geo_label(e.get("geo")), "level": e["level"], "reason": e.get("reason") or "",
            "method": e.get("method") or "", "source": e.get("source") or t.get("source", ""),
            "value": f"{_with_unit(e.get('value'), unit)}（{e['year']}年）" if e.get("year") else "—",
            "baseline": (f"{_with_unit(e['baseline_value'], unit)}（{e['baseline_year']}年）"
                         if e.get("baseline_value") is not None else "—"),
            "target": _target_text(t) if t else f"{e.get('target_year')}年 {e.get('target_raw') or ''}",
            "quote": t.get("quote", ""),
        }  # fmt: skip

    sections = []
    order = {code: i for i, code in enumerate(ctx.categories)}
    for i, (code, label) in enumerate(ctx.categories.items()):
        rows, nodata, charts = [], [], []
        for t in targets:
            if t["category"] != code:
                continue
            evals = evals_by_id.get(t["id"], [])
            if not evals:
                nodata.append({
                    "id": t["id"], "name": t["name"], "unit": t["unit"] or "", "geo": t["geo_scope"] or "全市",
                    "source": t["source"], "target": _target_text(t),
                })  # fmt: skip
            for e in evals:
                rows.append(item(e))
                obs = obs_by_key.get((e["id"], e.get("geo") or ""), [])
                charts.append(item(e) | {"svg": indicator_chart(t, obs, e)})
        # Evaluated rows whose target is not in ctx.targets still belong to their category.
        for e in evaluation:
            if e["id"] not in target_by_id and e.get("category") == code:
                rows.append(item(e))
        rollup = next((r for r in _records(ctx.rollup) if r["category"] == code), None)
        sections.append({
            "anchor": f"cat-{i + 1}", "numeral": CHINESE_NUMERALS[i] if i < 10 else str(i + 1),
            "code": code, "label": label, "rows": rows, "nodata": nodata, "charts": charts, "rollup": rollup,
        })  # fmt: skip

    warnings = [item(e) for e in evaluation if e["level"] in ("red", "yellow")]
    warnings.sort(
        key=lambda w: (
            LEVEL_ORDER[w["level"]],
            order.get(target_by_id.get(w["id"], {}).get("category"), 99),
            w["id"],
            w["geo"],
        )
    )
    counts = {lv: sum(1 for e in evaluation if e["level"] == lv) for lv in LEVELS}
    nodata = sum(1 for t in targets if t["id"] not in evals_by_id)
    methods_used = sorted({e.get("method") or "" for e in evaluation} - {""})
    return {
        "plan_title": ctx.plan_title,
        "plan_id": ctx.plan_id,
        "year": ctx.year,
        "version": planwatch.__version__,
        "font_stack": FONT_STACK,
        "levels": LEVELS,
        "rollup": _records(ctx.rollup),
        "counts": counts,
        "n_evaluated": len(evaluation),
        "n_targets": len(targets),
        "nodata": nodata,
        "warnings": warnings,
        "sections": sections,
        "legend_svg": legend_svg(),
        "sources": list(ctx.sources),
        "notes": list(ctx.notes),
        "maps": list(ctx.maps),
        "rules": list(ctx.rules),
        "methods": [(m, METHOD_NOTES.get(m, "")) for m in dict.fromkeys([*METHOD_NOTES, *methods_used])],
    }


def render_html(ctx: ReportContext) -> str:
    """The whole report as one HTML string (UTF-8, self-contained)."""
    ctx.check()
    return _env().get_template("report.html.j2").render(**build_view(ctx))
