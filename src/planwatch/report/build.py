"""Assemble a :class:`ReportContext` from the plan, the store and the evaluation engine, then write it.

This is the one place where the report meets the rest of planwatch; the layout modules only see
the context.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from planwatch.evaluate.engine import METHOD_ZH, checkup, fmt_number, rollup
from planwatch.plan.model import Plan
from planwatch.report import write_report
from planwatch.report.context import EVALUATION_COLUMNS, OBSERVATION_COLUMNS, ReportContext, targets_frame
from planwatch.report.maps import map_layers_from_store, one_map_png
from planwatch.store.base import Store


def rule_rows(results: pd.DataFrame) -> tuple[dict, ...]:
    """Spatial rule results (from :func:`planwatch.onemap.rules.check_rules`) as the report prints them."""
    status = {"pass": ("green", "符合"), "fail": ("red", "不符合")}
    rows = []
    for r in results.to_dict("records"):
        level, text = status.get(r["status"], ("grey", "不适用"))
        unit = r["unit"]
        rows.append({
            "id": r["id"], "article": r["article"], "description": r["description"], "comparator": {">=": "≥", "<=": "≤", "==": "="}.get(r["comparator"], r["comparator"]),
            "value_text": "—" if pd.isna(r["value"]) else f"{fmt_number(r['value'])}{unit}",
            "threshold_text": f"{fmt_number(r['threshold'])}{unit}", "level": level, "status_text": text,
            "label": r.get("label") or "",
        })  # fmt: skip
    return tuple(rows)


def build_context(
    plan: Plan, observations: pd.DataFrame, year: int, maps: tuple[dict, ...] = (), rules: tuple[dict, ...] = ()
) -> ReportContext:
    """The check-up report of ``year`` for ``plan`` from the newest revision of each observation;
    ``maps`` are ready-made map figures ({title, svg, caption})."""
    obs = observations[observations["year"] <= year]
    ev = checkup(plan, obs, year)
    for col in EVALUATION_COLUMNS:
        if col not in ev.columns:
            ev[col] = pd.NA
    ev = ev.astype({"baseline_year": "Int64"}) if len(ev) else ev
    extra = ["target_kind", "direction", "tp_ratio", "tp_level", "sdg_ratio", "sdg_cagr_observed", "sdg_cagr_required",
             "sdg_level", "bound_applies", "bound_crossed", "bound_level", "band_level", "comparable", "scope",
             "forecast_2025_cagr", "forecast_2035_cagr", "n_points"]  # fmt: skip
    ev = ev[EVALUATION_COLUMNS + [c for c in extra if c in ev.columns]]
    ev = ev.assign(method=ev["method"].map(METHOD_ZH).fillna(ev["method"]))  # the report speaks Chinese
    roll = rollup(ev, plan) if len(ev) else rollup(ev.assign(level=pd.Series(dtype=str)), plan)
    obs_view = obs.rename(columns={"indicator": "id"})
    sources = [f"规划：{plan.meta.title}（{plan.meta.id}），指标目标与原文摘录见 Excel 表“指标目标”。"]
    by_source = obs_view.groupby("source", sort=True)
    for source, group in by_source:
        ids = "、".join(sorted(group["id"].unique()))
        years = "、".join(str(y) for y in sorted(group["year"].unique()))
        sources.append(f"{source or '未注明来源'}：{ids}（{years}年）")
    notes = [
        "评估方法：时间进度（任务进度÷时间进度，≥0.95为绿灯，≥0.6为黄灯，否则红灯）；上下限指标一旦越限即为红灯；"
        "无法计算时间进度时采用 Open SDG 进度测度；定性目标与口径不可比的数据为灰灯，需人工评估。",
        "预测：线性趋势（含基期值与历年观测，3个及以上数据点时给出90%预测区间）与年均复合增速（CAGR）外推。",
    ]
    if "method" in obs_view:
        computed = obs_view[~obs_view["method"].fillna("").isin(["", "statistics"])]
        for r in computed.sort_values(["id", "geo", "year"]).itertuples():
            notes.append(f"{r.id} {r.geo or '全市'} {r.year}年观测值由图层计算，方法：{r.method}")
    not_comparable = obs_view[~obs_view["comparable"].astype(bool)]
    for r in not_comparable.itertuples():
        notes.append(f"{r.id} {r.year}年观测值的统计口径为“{r.scope}”，与指标口径不同，已存储但不参与评级。")
    return ReportContext(
        plan_title=plan.meta.title,
        plan_id=plan.meta.id,
        year=year,
        categories=dict(plan.meta.categories),
        targets=targets_frame(plan),
        observations=obs_view[[c for c in OBSERVATION_COLUMNS if c in obs_view.columns]].reset_index(drop=True),
        evaluation=ev,
        rollup=roll,
        sources=sources,
        notes=notes,
        maps=maps,
        rules=rules,
    )


def station_coverage(store: Store, plan: Plan, layers: dict, synthetic: dict, radius_m: float = 800) -> dict | None:
    """Share of each district's area within ``radius_m`` of a rail station, for the report."""
    if "districts" not in layers or "rail_stations" not in layers:
        return None
    from planwatch.onemap.indicators import station_coverage_table

    t = station_coverage_table(store, plan, radius_m=radius_m)
    real = not (synthetic.get("districts") or synthetic.get("rail_stations"))
    rows = [[r.district, f"{r.area_km2:,.1f}", f"{r.covered_km2:,.1f}", f"{r.share:.1f}%", int(r.stations)]
            for r in t.itertuples()]  # fmt: skip
    return {
        "title": f"轨道站点{radius_m:g}米覆盖（直线距离）",
        "columns": ["区", "面积（平方公里）", f"站点{radius_m:g}米内面积（平方公里）", "覆盖比例", "站点数"],
        "rows": rows,
        "caption": (
            f"各区面积中距最近轨道站点直线距离不超过{radius_m:g}米的部分（{plan.spatial.metric_crs} 计算）。"
            + ("行政区与站点为真实数据（站点 © OpenStreetMap contributors，仅含地铁、有轨电车与磁浮，不含市郊铁路）；"
               if real else "含示意数据（非官方）；")
            + "直线距离覆盖高于步行网络距离覆盖，二者不可混用。"
        ),
    }


def layers_present(store: Store) -> set[str]:
    try:
        return set(store.layers()["layer_type"])
    except (AttributeError, KeyError):
        return set()


def build_report(plan: Plan, store: Store, year: int, out_dir: Path) -> dict[str, Path]:
    """Evaluate ``year`` from ``store`` and write report.html / report.pdf / report.xlsx into ``out_dir``."""
    layers, synthetic = map_layers_from_store(store)
    maps: tuple[dict, ...] = ()
    if layers:
        svg, caption = one_map_png(layers, synthetic)
        maps = ({"title": "圈层、行政区与轨道站点", "svg": svg, "caption": caption,
                 "table": station_coverage(store, plan, layers, synthetic)},)
    rules: tuple[dict, ...] = ()
    if plan.spatial and plan.spatial.rules and "land_supply" in layers_present(store):
        from planwatch.onemap.rules import check_rules

        rules = rule_rows(check_rules(store, plan, year, record=False))
    ctx = build_context(plan, store.observations(), year, maps, rules)
    return write_report(ctx, out_dir)
