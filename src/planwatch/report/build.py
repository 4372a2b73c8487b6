"""Assemble a :class:`ReportContext` from the plan, the store and the evaluation engine, then write it.

This is the one place where the report meets the rest of planwatch; the layout modules only see
the context. Every verdict comes from :func:`planwatch.evaluate.engine.checkup` (and, for the
spatial rules, :func:`~planwatch.evaluate.engine.rule_verdicts`, which reuses it), so every page
shows the same one.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from planwatch.evaluate.backtest import backtest
from planwatch.evaluate.engine import (
    METHOD_ZH,
    ROLLUP_RULE,
    board_items,
    checkup,
    physical_bounds,
    rollup,
    rule_verdicts,
    with_rule_observations,
)
from planwatch.evaluate.problems import problem_list
from planwatch.evaluate.select import as_published, split_graded
from planwatch.findings.view import REGISTER_COLUMNS, register_view
from planwatch.ledger.summary import LedgerSummary, summarize
from planwatch.plan.model import MEASURE_ZH, Plan
from planwatch.report import write_report
from planwatch.report.context import (
    COVERAGE_COLUMNS,
    EVALUATION_COLUMNS,
    OBSERVATION_COLUMNS,
    ReportContext,
    targets_frame,
)
from planwatch.report.ledger_section import cover_note
from planwatch.store.base import SERIES_KEY, SYNTHETIC_MARK, Store

# How the sources of computed figures read in Chinese.
COMPUTED_SOURCES = {
    "planwatch rules check": "planwatch 依据规划一张图图层计算（空间规则）",
    "planwatch indicators compute": "planwatch 依据规划一张图图层计算（空间指标）",
}


def _related_frame(related: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """Figures kept but not graded, with why, in the figure's own unit. A scope is quoted by the clauses
    that make it differ (remarks about the source, e.g. an English repost, are in the XLSX)."""
    from planwatch.observe.scope import read_scope

    names = {t.id: t.name for t in plan.targets}
    targets = {t.id: t for t in plan.targets}
    rows = []
    for r in related.sort_values(["indicator", "year", "geo"]).to_dict("records"):
        if not r["comparable"]:
            t = targets.get(r["indicator"])
            reading = read_scope(r["scope"], r["measure"], t) if t is not None else None
            differs = "；".join(d for d in (reading.differs if reading else (r["scope"],)) if not d.startswith("measure="))
            measure = MEASURE_ZH.get(reading.measure) if reading and reading.measure else ""
            why = "；".join(x for x in (f"统计口径不同：{differs}" if differs else "",
                                        f"计量方式为{measure}" if measure else "") if x)
        elif r["synthetic"]:
            why = f"由{SYNTHETIC_MARK}图层计算，不参与评级"
        elif r["origin"] == "computed":
            why = "计算值；同年已有官方数据，评级采用官方数据"
        else:  # a second comparable official figure of the same year (from another file or scope note)
            why = "同年另有一条口径一致的数据，评级采用那一条"
        rows.append({
            "id": r["indicator"], "name": names.get(r["indicator"], r["indicator"]), "geo": r["geo"] or "全市",
            "year": int(r["year"]), "value_text": as_published(r["raw_value"], r["value"], r["conversion"]),
            "unit": r["unit"], "why": why, "source": _source_text(r["source"]), "published": r["published"],
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["id", "name", "geo", "year", "value_text", "unit", "why", "source", "published"])


def _source_text(source: str) -> str:
    """A source as the report cites it: planwatch's own computations in Chinese (with what followed
    the command's name, e.g. （直线距离）)."""
    for command, words in COMPUTED_SOURCES.items():
        if source.startswith(command):
            rest = source[len(command):].strip()
            return words + rest
    return source or "未注明来源"


def _coverage(plan: Plan, ev: pd.DataFrame, related: pd.DataFrame) -> pd.DataFrame:
    """Every target without a graded figure: related statistics only, or nothing; with its source hint."""
    graded = set(ev.loc[ev["geo"] == "", "id"]) if len(ev) else set()
    rel = related.groupby("id")["why"].apply(list).to_dict() if len(related) else {}
    rows = []
    for t in plan.targets:
        if t.id in graded:
            continue
        primary = t.same_as or t.id
        whys = rel.get(primary, [])
        n_rel = len(whys)
        if any(w.startswith(("统计口径", "计量方式")) for w in whys):
            status = "仅有口径不同的相关统计"
        elif any(SYNTHETIC_MARK in w for w in whys):
            status = "仅有由示意数据计算的数值"
        elif whys:
            status = "仅有未采用的数据"
        else:
            status = "暂无数据"
        if t.same_as:
            status += f"（与{t.same_as}为同一指标）"
        rows.append({"id": t.id, "name": t.name, "category": t.category, "status": status, "related": n_rel,
                     "source_hint": t.source_hint or "—"})
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


def _sources(obs: pd.DataFrame, plan: Plan) -> list[dict]:
    """One entry per (source, published): the citation, its date, which indicators and years it gave."""
    out = [{"source": f"规划：{plan.meta.title}（{plan.meta.id}）", "published": "", "ids": "指标目标与原文摘录见附表",
            "years": ""}]
    for (source, published), g in obs.groupby(["source", "published"], sort=True):
        out.append({
            "source": _source_text(source), "published": published or "发布日期不详",
            "ids": "、".join(sorted(g["indicator"].unique())), "years": "、".join(str(y) for y in sorted(g["year"].unique())),
        })  # fmt: skip
    return out


def _backtest(graded: pd.DataFrame, plan: Plan, year: int) -> pd.DataFrame:
    """Forecasts from the data up to Y−2 against the actual value of Y, city-wide, for every
    indicator with enough data (the baseline counts as a point)."""
    city = graded[graded["geo"] == ""][["indicator", "year", "value"]]
    base = [(t.id, t.baseline.year, t.baseline.value) for t in plan.targets
            if t.baseline and t.baseline.value is not None and t.id in set(city["indicator"])]
    pts = pd.concat([pd.DataFrame(base, columns=["indicator", "year", "value"]), city], ignore_index=True)
    pts = pts[pts["year"] <= year].drop_duplicates(["indicator", "year"], keep="last")
    if pts.empty:
        return pd.DataFrame()
    bounds = physical_bounds(plan).set_index("id")
    bt = backtest(pts["indicator"].to_numpy(), pts["year"].to_numpy(), pts["value"].to_numpy(), lag=2,
                  lower=pts["indicator"].map(bounds["lower"]).to_numpy(float),
                  upper=pts["indicator"].map(bounds["upper"]).to_numpy(float))
    if bt.empty:
        return bt
    names = {t.id: t.name for t in plan.targets}
    units = {t.id: t.unit for t in plan.targets}
    return bt.rename(columns={"group": "id"}).assign(name=lambda d: d["id"].map(names), unit=lambda d: d["id"].map(units))


def _notes(plan: Plan, ev: pd.DataFrame, related: pd.DataFrame, synthetic_layers: bool, year: int) -> list[str]:
    notes = []
    if synthetic_layers:
        notes.append(f"本报告中规划控制线、功能分区及供地、减量等图层为按真实地理生成的{SYNTHETIC_MARK}，由其计算的数值"
                     "仅作展示、标注为示意数据，不参与评级。")
    stale = ev[(ev["geo"] == "") & (ev["linked_to"] == "") & ev["stale"].astype(bool)] if len(ev) else ev
    if len(stale):
        notes.append(f"{len(stale)}项指标的最新数据早于{year}年，评估说明中已注明数据年份。")
    n_rel = len(related[related["why"].str.startswith("统计口径") | related["why"].str.startswith("计量")]) if len(related) else 0
    if n_rel:
        notes.append(f"另有{n_rel}条数据的统计口径或计量方式与规划指标不同，作为相关统计列出，不参与评级。")
    return notes


def build_context(
    plan: Plan,
    observations: pd.DataFrame,
    year: int,
    *,
    maps: tuple[dict, ...] = (),
    rule_results: pd.DataFrame | None = None,
    districts: tuple[dict, ...] = (),
    synthetic_layers: bool = False,
    findings: pd.DataFrame | None = None,
    as_of: str = "",
    ledger: LedgerSummary | None = None,
) -> ReportContext:
    """The check-up report of ``year`` for ``plan`` from the newest revision of each observation.

    ``rule_results`` (from :func:`planwatch.onemap.rules.evaluate_rules`) adds the spatial rules:
    their values join the observations as computed figures of their targets (not stored), so the
    rules page and the indicator pages show one verdict. ``findings`` (the register view, see
    :func:`findings_register`) with its check date ``as_of`` (YYYY-MM-DD) replaces the computed
    问题清单与对策建议 by the register's 问题清单, 整改进展 and 对策建议. ``ledger`` (see
    :func:`ledger_summary`) adds the section 指标流量池与用地台账."""
    obs = with_rule_observations(plan, observations, rule_results, year)
    ev = checkup(plan, obs, year)
    has_rules = rule_results is not None and len(rule_results)
    rules = rule_verdicts(rule_results, ev, plan) if has_rules else pd.DataFrame()
    for col in EVALUATION_COLUMNS:
        if col not in ev.columns:
            ev[col] = pd.NA
    ev = ev.assign(method=ev["method"].map(METHOD_ZH).fillna(ev["method"]), method_code=ev["method"])
    graded, related = split_graded(obs)
    key = SERIES_KEY  # one row per series: the row itself
    graded_keys = set(graded[key].itertuples(index=False, name=None))
    board = board_items(ev, rules if len(rules) else None)
    roll = rollup(board, plan)
    related_view = _related_frame(related, plan)
    coverage = _coverage(plan, ev, related_view)
    hints = {t.id: t.source_hint for t in plan.targets}
    problems = problem_list(ev.assign(method=ev["method_code"]), rules if len(rules) else None, hints)
    obs_view = obs.rename(columns={"indicator": "id"})
    obs_view["graded"] = [k in graded_keys for k in obs[key].itertuples(index=False, name=None)]
    if "revision" not in obs_view:
        obs_view["revision"] = 1
    counts = {lv: int((board["level"] == lv).sum()) for lv in ("green", "yellow", "red", "grey")}
    counts.update(
        items=len(board), targets=len(plan.targets),
        related_only=int(coverage["status"].str.startswith("仅有").sum()),
        nodata=int(coverage["status"].str.startswith("暂无").sum()),
    )
    return ReportContext(
        plan_title=plan.meta.title,
        plan_id=plan.meta.id,
        year=year,
        categories=dict(plan.meta.categories),
        targets=targets_frame(plan),
        observations=obs_view[OBSERVATION_COLUMNS].sort_values(["id", "geo", "year"]).reset_index(drop=True),
        evaluation=ev,
        rollup=roll,
        sources=_sources(obs, plan),
        notes=_notes(plan, ev, related_view, synthetic_layers, year) + [n for n in (cover_note(ledger),) if n],
        related=related_view,
        coverage=coverage,
        problems=problems,
        backtest=_backtest(graded, plan, year),
        rules=rules,
        districts=districts,
        maps=maps,
        rollup_rule=ROLLUP_RULE,
        counts=counts,
        findings=findings if findings is not None else pd.DataFrame(columns=REGISTER_COLUMNS),
        as_of=as_of,
        ledger=ledger,
    )


# ---------------------------------------------------------------- the parts that read layers


def _ranked(values: pd.Series, higher_first: bool = True) -> list[int]:
    return values.rank(ascending=not higher_first, method="min").fillna(0).astype(int).tolist()


def station_coverage(store: Store | None, plan: Plan, radius_m: float = 800) -> dict | None:
    """Share of each district's area within ``radius_m`` of a rail station (real data), ranked."""
    from planwatch.indicators.compute import MissingLayer, station_coverage_table

    try:
        t = station_coverage_table(store, plan, radius_m=radius_m)
    except MissingLayer:
        return None
    d = t[t["district"] != "全市"].copy()
    d["rank"] = _ranked(d["share"])
    d = d.sort_values("rank", kind="stable")
    whole = t[t["district"] == "全市"].iloc[0]
    synthetic = bool(t.attrs.get("synthetic"))
    rows = [[int(r.rank), r.district, f"{r.area_km2:.1f}", f"{r.covered_km2:.1f}", f"{r.share:.1f}%", int(r.stations)]
            for r in d.itertuples()]  # fmt: skip
    rows.append(["", "全市", f"{whole.area_km2:.1f}", f"{whole.covered_km2:.1f}", f"{whole.share:.1f}%", int(whole.stations)])
    return {
        "title": f"轨道站点{radius_m:g}米覆盖（直线距离）：各区排名",
        "columns": ["排名", "区", "面积（平方公里）", f"站点{radius_m:g}米内面积（平方公里）", "覆盖比例", "站点数"],
        "rows": rows,
        "caption": (
            f"各区面积中距最近轨道站点直线距离不超过{radius_m:g}米的部分，在{plan.spatial.metric_crs}中计算。"
            + ("行政区与站点为真实数据（站点 © OpenStreetMap contributors，仅含地铁、有轨电车与磁浮，不含市郊铁路）；"
               if not synthetic else f"含{SYNTHETIC_MARK}；")
            + "直线距离覆盖高于步行网络距离覆盖，二者不可混用。"
        ),
        "synthetic": synthetic,
    }


def spatial_indicator_tables(store: Store, plan: Plan) -> tuple[dict, ...]:
    """The spatial indicators computed from the store's layers (not stored), by district and by 圈层,
    each district ranked; labelled synthetic when computed from synthetic layers."""
    from planwatch.indicators.compute import IndicatorInputError, compute_indicators

    try:
        run = compute_indicators(store, plan)
    except IndicatorInputError:
        return ()
    r = run.results
    if r.empty:
        return ()
    names = {t.id: t.name for t in plan.targets}
    ids = list(dict.fromkeys(r["indicator"]))
    synthetic = bool(r["synthetic"].any())
    caption = (f"由一张图图层计算（{plan.spatial.metric_crs}），不作为观测值存储。"
               + (f"所用图层含{SYNTHETIC_MARK}，数值仅示意，不参与评级。" if synthetic else ""))
    tables = []
    for level, title in (("区", "各区"), ("圈层", "各圈层")):
        part = r[r["level"] == level]
        if part.empty:
            continue
        geos = plan.meta.districts if level == "区" else list(dict.fromkeys(part["geo"]))
        kept = [i for i in ids if (part["indicator"] == i).any()]
        # a page holds about four indicator columns beside the names
        for n, chunk in enumerate([kept[k:k + 4] for k in range(0, len(kept), 4)], start=1):
            cols, cells = [], {}
            for i in chunk:
                s = part[part["indicator"] == i].set_index("geo")["value"]
                unit = r.loc[r["indicator"] == i, "unit"].iloc[0]
                cols.append(f"{i} {names[i]}（{unit or '1:X'}）")
                ranks = dict(zip(s.index, _ranked(s), strict=True)) if level == "区" else {}
                for g in geos:
                    v = s.get(g)
                    cells[(g, i)] = "—" if v is None or not np.isfinite(v) else (
                        f"{v:.1f}" + (f"（{ranks[g]}）" if g in ranks else ""))
            tables.append({
                "title": f"空间指标{title}数值（{n}）" + ("：括号内为各区排名，数值越大排名越前" if level == "区" else ""),
                "columns": ["区" if level == "区" else "圈层", *cols],
                "rows": [[g, *[cells.get((g, i), "—") for i in chunk]] for g in geos],
                "caption": caption, "synthetic": synthetic,
            })  # fmt: skip
    return tuple(tables)


def layers_present(store: Store) -> pd.DataFrame:
    try:
        return store.layers()
    except (AttributeError, KeyError):
        return pd.DataFrame(columns=["layer_type", "synthetic"])


def findings_register(store: Store, year: int, as_of: date) -> pd.DataFrame:
    """The findings register of ``store`` as the ``year`` report shows it: the findings of ``year`` and
    earlier (:func:`~planwatch.findings.view.register_view`, overdue computed on ``as_of``); empty when
    the store holds none (or cannot hold any)."""
    try:
        findings = store.findings()
    except (AttributeError, NotImplementedError):  # a store that predates the register
        return pd.DataFrame(columns=REGISTER_COLUMNS)
    if findings.empty:
        return pd.DataFrame(columns=REGISTER_COLUMNS)
    kept = findings[findings["year"].astype(int) <= int(year)]
    if kept.empty:
        return pd.DataFrame(columns=REGISTER_COLUMNS)
    ids = set(kept["finding_id"].astype(int))
    events = store.finding_events()
    evidence = store.finding_evidence()
    return register_view(kept, events[events["finding_id"].astype(int).isin(ids)],
                         evidence[evidence["finding_id"].astype(int).isin(ids)], as_of)


def ledger_summary(store: Store, plan: Plan, year: int) -> LedgerSummary | None:
    """The quota ledger of ``store`` as the ``year`` report shows it (as of 31 December); None when
    the plan has no ledger rules (``ledger.yaml``)."""
    if plan.ledger is None:
        return None
    return summarize(plan.ledger, store.ledger_tables(), plan, year)


def build_report(plan: Plan, store: Store, year: int, out_dir: Path, *, as_of: date | None = None) -> dict[str, Path]:
    """Evaluate ``year`` from ``store`` and write report.html / .pdf / .docx / .xlsx into ``out_dir``.

    The findings register of ``year`` and earlier, when the store holds one, gives the report's
    问题清单, 整改进展 and 对策建议, overdue computed on ``as_of`` (default: today); the quota ledger, when
    the plan has ledger rules, the section 指标流量池与用地台账."""
    from planwatch.report.maps import map_layers_from_store, one_map_figure

    registry = layers_present(store)
    layer_types = set(registry["layer_type"])
    synthetic_layers = bool(registry["synthetic"].astype(bool).any()) if len(registry) else False
    layers, synthetic = map_layers_from_store(store)
    maps: tuple[dict, ...] = ()
    if layers:
        png, caption = one_map_figure(layers, synthetic, crs=plan.spatial.metric_crs)
        maps = ({"title": "圈层、行政区与轨道站点", "png": png, "caption": caption,
                 "table": station_coverage(store, plan) if {"districts", "rail_stations"} <= layer_types else None},)
    rule_results = None
    if plan.spatial and plan.spatial.rules and {r.records for r in plan.spatial.rules} & layer_types:
        from planwatch.onemap.rules import check_rules

        rule_results = check_rules(store, plan, year, record=False)
    districts = spatial_indicator_tables(store, plan) if layer_types else ()
    as_of = as_of or date.today()
    ctx = build_context(plan, store.observations(), year, maps=maps, rule_results=rule_results, districts=districts,
                        synthetic_layers=synthetic_layers, findings=findings_register(store, year, as_of),
                        as_of=as_of.isoformat(), ledger=ledger_summary(store, plan, year))
    return write_report(ctx, out_dir)
