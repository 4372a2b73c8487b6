"""Combine the methods into a level and a Chinese reason for every observation, all at once.

Data in: the plan (targets as data) and a table of observations (newest revisions).
Data out: pandas DataFrames — one row per observation with every method's result, the combined
level, the method that decided it and a reason naming the numbers and the article or table row.
No I/O. Every step is vectorised over all indicators, geos and years; only the reason strings
are formatted row by row (and only when asked for).

How the level is chosen, first rule that applies wins:

1. the observation's scope differs from the indicator's → grey (口径不可比), never red;
2. the target in force is qualitative → grey (需人工评估);
3. a ceiling or floor that binds is crossed → red (上下限检查), whatever the trend;
4. a 较N年下降 target: below the reference → green, else yellow before the target year, red after;
5. a 稳定在X target: within ±5 % of X (or beyond it on the good side) → green, ±10 % yellow, else red;
6. a binding bound that is kept (a cap such as population < 2300) → green;
7. the target is already reached → green;
8. time progress (任务进度/时间进度 ratio ≥ 0.95 green, ≥ 0.6 yellow, else red), for city-wide rows
   with a baseline;
9. the Open SDG progress measure, where time progress cannot be computed;
10. otherwise grey (no baseline or too little data to judge).

District rows are compared with the city-wide target and bounds only: the plan's baselines are
city-wide, so progress from a city baseline would be meaningless for a district.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planwatch.evaluate import bounds, forecast, opensdg, progress
from planwatch.plan.model import Kind, Plan

LEVELS = ("green", "yellow", "red", "grey")
SYNTHETIC_MARK = "示意数据（非官方）"  # the label every synthetic layer, and every value computed from one, carries
LEVEL_ZH = {"green": "绿灯", "yellow": "黄灯", "red": "红灯", "grey": "灰灯"}
STABLE_TOLERANCE = 0.05  # 稳定在X左右: ±5 % of X is "about X"
FORECAST_YEARS = (2025, 2035)

METHOD_ZH = {
    "scope": "口径不可比",
    "qualitative": "人工评估",
    "bound": "上下限检查",
    "decrease_from": "较基准年比较",
    "stable": "目标区间",
    "reached": "目标达成",
    "time_progress": "时间进度",
    "open_sdg": "Open SDG 进度测度",
    "none": "无法评估",
}
SDG_ZH = {
    "target_achieved": "已达成目标",
    "substantial_progress": "进展符合要求",
    "moderate_progress": "有进展但需加快",
    "limited_progress": "进展有限",
    "deterioration": "出现倒退",
    "not_available": "无法评估",
}


def source_label(table_row: int | None, article: int | None) -> str:
    return f"表第{table_row}行" if table_row is not None else f"第{article}条"


def targets_frame(plan: Plan) -> pd.DataFrame:
    """One row per target: what it measures and where it comes from (no target values)."""
    rows = []
    for t in plan.targets:
        rows.append(
            {
                "id": t.id,
                "name": t.name,
                "unit": t.unit,
                "category": t.category,
                "geo_scope": t.scope.geo,
                "definition": t.scope.definition or "",
                "direction": t.direction.value,
                "baseline_year": t.baseline.year if t.baseline else np.nan,
                "baseline_value": t.baseline.value if t.baseline and t.baseline.value is not None else np.nan,
                "baseline_raw": t.baseline.raw if t.baseline else "",
                "source": source_label(t.source.table_row, t.source.article),
                "quote": t.quote,
                "notes": "；".join(t.notes),
            }
        )
    return pd.DataFrame(rows)


def target_values_frame(plan: Plan) -> pd.DataFrame:
    """One row per (target, year): the value, its kind and how the plan writes it."""
    rows = []
    for t in plan.targets:
        for tv in t.targets:
            rows.append(
                {
                    "id": t.id,
                    "target_year": tv.year,
                    "target_kind": tv.kind.value,
                    "target_value": np.nan if tv.value is None else tv.value,
                    "target_high": np.nan if tv.value_high is None else tv.value_high,
                    "target_raw": tv.raw,
                    "ref_year": tv.reference.year if tv.reference else np.nan,
                    "ref_value": tv.reference.value if tv.reference and tv.reference.value is not None else np.nan,
                }
            )
    return pd.DataFrame(rows)


def _join_targets(plan: Plan, obs: pd.DataFrame) -> pd.DataFrame:
    """Each observation with its target's description and the target value in force: the nearest
    target year on or after the observation's year, else (after the last one) the last one.

    Positional lookups (``get_indexer`` + ``searchsorted``) instead of merges, so the cost stays
    linear in the number of observations. Observations of unknown indicators are dropped.
    """
    tgt = targets_frame(plan)
    ids = pd.Index(tgt["id"])
    tvals = target_values_frame(plan)
    tv_code = ids.get_indexer(tvals["id"])
    order = np.lexsort((tvals["target_year"].to_numpy(), tv_code))
    tvals, tv_code = tvals.iloc[order].reset_index(drop=True), tv_code[order]
    tv_key = tv_code * 10_000 + tvals["target_year"].to_numpy()

    code = ids.get_indexer(obs["indicator"])
    obs = obs[code >= 0]
    code = code[code >= 0]
    pos = np.searchsorted(tv_key, code * 10_000 + obs["year"].to_numpy(), side="left")
    past_last = (pos >= len(tv_key)) | (tv_code[np.minimum(pos, len(tv_key) - 1)] != code)
    pos = np.where(past_last, pos - 1, pos)  # after the last target year: keep the last target
    return pd.concat(
        [
            obs.reset_index(drop=True),
            tgt.iloc[code].drop(columns="id").reset_index(drop=True),
            tvals.iloc[pos].drop(columns="id").reset_index(drop=True),
        ],
        axis=1,
    )


def evaluate_frame(plan: Plan, obs: pd.DataFrame, geo_baselines: pd.DataFrame | None = None) -> pd.DataFrame:
    """Evaluate every observation row (columns: indicator, year, geo, value, comparable, scope).

    ``geo_baselines`` (columns indicator, geo, baseline_year, baseline_value) gives a geo its own
    baseline, e.g. a district's or another jurisdiction's; without one, only city-wide rows (geo
    "") use the plan's baseline.

    Returns the observations joined with their target and every method's output, plus ``level``
    and ``method``. Vectorised; reasons are added by :func:`explain`.
    """
    cols = ["indicator", "year", "geo", "value", "comparable", "scope"]
    df = _join_targets(plan, obs[cols])
    if geo_baselines is not None:
        gb = geo_baselines.rename(columns={"baseline_year": "_gby", "baseline_value": "_gbv"})
        df = df.merge(gb[["indicator", "geo", "_gby", "_gbv"]], on=["indicator", "geo"], how="left", sort=False)
        own = df["_gbv"].notna().to_numpy()
        df["baseline_year"] = np.where(own, df["_gby"], df["baseline_year"])
        df["baseline_value"] = np.where(own, df["_gbv"], df["baseline_value"])
        df = df.drop(columns=["_gby", "_gbv"])
    else:
        own = np.zeros(len(df), dtype=bool)

    year = df["year"].to_numpy(float)
    value = df["value"].to_numpy(float)
    kind = df["target_kind"].fillna("").to_numpy(str)
    direction = df["direction"].to_numpy(str)
    tv = df["target_value"].to_numpy(float)
    ty = df["target_year"].to_numpy(float)
    city = (df["geo"].to_numpy(str) == "") | own
    # The plan's baselines are city-wide: district rows get no baseline-based progress.
    by = np.where(city, df["baseline_year"].to_numpy(float), np.nan)
    bv = np.where(city, df["baseline_value"].to_numpy(float), np.nan)
    # A range's goal is its near end on the direction's side; a ratio 1:X is tracked by X.
    goal = np.where((kind == Kind.RANGE.value) & (direction == "decrease"), df["target_high"].to_numpy(float), tv)

    tp = progress.time_progress(by, bv, ty, goal, year, value, direction)
    sdg = opensdg.progress_measure(by, bv, year, value, ty, goal, direction)
    bd = bounds.bound_check(kind, tv, value, year, ty, df["baseline_value"].to_numpy(float))
    band = progress.approx_band_level(value, tv, direction, STABLE_TOLERANCE)

    ref = df["ref_value"].to_numpy(float)
    below_ref = value < ref
    is_dec_from = kind == Kind.DECREASE_FROM.value
    comparable = df["comparable"].to_numpy(bool)
    qualitative = kind == Kind.QUALITATIVE.value
    is_stable = kind == Kind.STABLE.value
    bound_kept = (bd.level == "green")
    numeric = np.isfinite(tv) & np.isfinite(value)

    conditions = [
        ~comparable,
        qualitative,
        bd.crossed,
        is_dec_from,
        is_stable & (band != ""),
        bound_kept,
        numeric & tp.reached,
        tp.level != "",
        (sdg.level != "grey") & (sdg.level != ""),
    ]
    methods = ["scope", "qualitative", "bound", "decrease_from", "stable", "bound", "reached", "time_progress", "open_sdg"]
    dec_level = np.where(below_ref, "green", np.where(year < ty, "yellow", "red"))
    levels = ["grey", "grey", "red", dec_level, band, "green", "green", tp.level, sdg.level]
    # Label columns are categoricals: a handful of values over millions of rows.
    df["method"] = _labels(np.select(conditions, methods, "none"))
    df["level"] = _labels(np.select(conditions, levels, "grey"))

    df["tp_task"], df["tp_elapsed"], df["tp_ratio"], df["tp_level"] = tp.task, tp.elapsed, tp.ratio, _labels(tp.level)
    df["sdg_category"], df["sdg_ratio"], df["sdg_level"] = _labels(sdg.category), sdg.ratio, _labels(sdg.level)
    df["sdg_cagr_observed"], df["sdg_cagr_required"] = sdg.cagr_observed, sdg.cagr_required
    df["bound_applies"], df["bound_crossed"], df["bound_level"] = bd.applies, bd.crossed, _labels(bd.level)
    df["band_level"] = _labels(np.where(is_stable, band, ""))
    return df.rename(columns={"indicator": "id"})


def _labels(values: np.ndarray) -> pd.Categorical:
    return pd.Categorical(values)


def forecasts(plan: Plan, obs: pd.DataFrame, up_to_year: int | None = None) -> pd.DataFrame:
    """Linear and CAGR forecasts to 2025 and 2035 per (indicator, geo), from the city baseline and
    the comparable observations (up to ``up_to_year``). Wide: one row per (id, geo)."""
    o = obs[obs["comparable"].astype(bool)]
    if up_to_year is not None:
        o = o[o["year"] <= up_to_year]
    pts = o[["indicator", "geo", "year", "value"]].rename(columns={"indicator": "id"})
    base = targets_frame(plan)[["id", "baseline_year", "baseline_value"]].dropna()
    base = base[base["id"].isin(pts.loc[pts["geo"] == "", "id"])]
    base = base.rename(columns={"baseline_year": "year", "baseline_value": "value"}).assign(geo="")
    pts = pd.concat([base[["id", "geo", "year", "value"]], pts], ignore_index=True)
    pts = pts.drop_duplicates(["id", "geo", "year"], keep="last")
    if pts.empty:
        return pd.DataFrame(columns=["id", "geo"])
    key = pts["id"] + "\x1f" + pts["geo"]
    fc = forecast.forecast_groups(key.to_numpy(), pts["year"].to_numpy(), pts["value"].to_numpy(), FORECAST_YEARS)
    fc[["id", "geo"]] = fc["group"].str.split("\x1f", n=1, expand=True)
    wide = fc.pivot_table(
        index=["id", "geo"], columns="to_year", values=["linear", "linear_low", "linear_high", "cagr", "n_points"],
        dropna=False,
    )
    wide.columns = [f"forecast_{y}" if k == "linear" else f"forecast_{y}_{k.replace('linear_', '')}" for k, y in wide.columns]
    wide = wide.reset_index()
    # pivot_table(dropna=False) crosses every id with every geo; keep the (id, geo) pairs that exist
    wide = wide[wide[f"forecast_{FORECAST_YEARS[0]}_n_points"].notna()].reset_index(drop=True)
    wide["n_points"] = wide.pop(f"forecast_{FORECAST_YEARS[0]}_n_points").astype(int)
    wide = wide.drop(columns=[c for c in wide.columns if c.endswith("_n_points")])
    # A share cannot leave 0–100 %: trends that would are clipped at the bound.
    pct = wide["id"].isin(targets_frame(plan).query("unit == '%'")["id"]).to_numpy()
    fc_cols = [c for c in wide.columns if c.startswith("forecast_")]
    wide.loc[pct, fc_cols] = wide.loc[pct, fc_cols].clip(0, 100)
    return wide


def latest_per_indicator(obs: pd.DataFrame, year: int) -> pd.DataFrame:
    """For each (indicator, geo), the newest observation in or before ``year``."""
    o = obs[obs["year"] <= year]
    idx = o.groupby(["indicator", "geo"])["year"].idxmax()
    return o.loc[idx].sort_values(["indicator", "geo"]).reset_index(drop=True)


def checkup(plan: Plan, obs: pd.DataFrame, year: int) -> pd.DataFrame:
    """The check-up of ``year``: one row per (target, geo) with data in or before ``year``, with
    level, method, reason and forecasts."""
    if obs.empty:
        return pd.DataFrame(columns=["id", "geo", "year", "value", "level", "reason"])
    current = latest_per_indicator(obs, year)
    ev = evaluate_frame(plan, current)
    labels = ev.select_dtypes("category").columns
    ev[labels] = ev[labels].astype(str)  # a check-up is small: plain strings are easier downstream
    fc = forecasts(plan, obs, up_to_year=year)
    ev = ev.merge(fc, on=["id", "geo"], how="left")
    ev["reason"] = explain(ev)
    # A value computed from synthetic (demo) layers says so wherever its verdict is shown.
    if "note" in current:
        marked = current.loc[current["note"].fillna("").str.contains(SYNTHETIC_MARK, regex=False), ["indicator", "geo"]]
        demo = ev.set_index(["id", "geo"]).index.isin(list(marked.itertuples(index=False, name=None)))
        ev.loc[demo, "reason"] = ev.loc[demo, "reason"] + f"［{SYNTHETIC_MARK}：由示意图层计算］"
        ev["synthetic"] = demo
    order = {t.id: i for i, t in enumerate(plan.targets)}
    ev = ev.sort_values(["geo", "id"], key=lambda s: s.map(order) if s.name == "id" else s).reset_index(drop=True)
    return ev


def rollup(ev: pd.DataFrame, plan: Plan, by: str = "category") -> pd.DataFrame:
    """Count levels per category (or per geo). The group's level is its worst non-grey level
    (red > yellow > green), grey only when every member is grey."""
    keys = list(plan.meta.categories) if by == "category" else sorted(ev[by].unique())
    counts = pd.crosstab(ev[by], ev["level"]).reindex(index=keys, columns=list(LEVELS), fill_value=0)
    counts = counts.reset_index().rename(columns={"index": by})
    counts.columns.name = None
    counts["level"] = np.select(
        [counts["red"] > 0, counts["yellow"] > 0, counts["green"] > 0], ["red", "yellow", "green"], "grey"
    )
    if by == "category":
        counts.insert(1, "label", counts["category"].map(plan.meta.categories))
    return counts


# ---------------------------------------------------------------- reasons (Chinese, row by row)


def fmt_number(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "—"
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:,.1f}".rstrip("0").rstrip(".").replace(",", "")
    return f"{v:.4g}"


def fmt_value(v: float, unit: str) -> str:
    if unit == "":
        return fmt_number(v)
    return f"{fmt_number(v)}{unit}"


def target_text(raw: str, value: float, unit: str) -> str:
    """How to cite a target: a plain number gets its unit, the plan's wording is quoted."""
    try:
        return fmt_value(float(raw), unit)
    except (TypeError, ValueError):
        pass
    if not raw:
        return fmt_value(value, unit)
    return f"“{raw}”" + (f"（{unit}）" if unit and unit not in raw else "")


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _reason(r: dict) -> str:
    unit = r["unit"]
    where = r["geo"] or ""
    head = f"{int(r['year'])}年{where}{r['name']}{fmt_value(r['value'], unit)}"
    src = f"（{r['source']}）"
    ty = "" if not np.isfinite(r["target_year"]) else f"{int(r['target_year'])}年"
    target_txt = target_text(r["target_raw"], r["target_value"], unit)
    m = r["method"]
    if m == "scope":
        return (
            f"{head}，其统计口径为“{r['scope']}”，与指标口径“{r['definition'] or '规划定义'}”不一致，"
            f"不能直接与{ty}目标{target_txt}比较，未予评级{src}"
        )
    if m == "qualitative":
        return f"{head}；{ty}目标为{target_txt}，无量化目标值，需人工评估{src}"
    if m == "bound":
        tv = fmt_value(r["target_value"], unit)
        if r["target_kind"] == "ceiling":
            if r["bound_crossed"]:
                return f"{head}，超过{ty}上限{tv}，已越过上限{src}"
            return f"{head}，低于{ty}上限{tv}{src}"
        if r["bound_crossed"]:
            return f"{head}，低于{ty}下限{tv}，已越过下限{src}"
        return f"{head}，不低于{ty}下限{tv}{src}"
    if m == "decrease_from":
        ref = f"{int(r['ref_year'])}年的{fmt_value(r['ref_value'], unit)}"
        if r["level"] == "green":
            return f"{head}，低于{ref}，符合{ty}目标{target_txt}{src}"
        return f"{head}，未低于{ref}，尚未实现{ty}目标{target_txt}{src}"
    if m == "stable":
        word = {"green": "处于", "yellow": "略偏离", "red": "明显偏离"}[r["level"]]
        return f"{head}，{word}{ty}目标{target_txt}的合理区间（±{STABLE_TOLERANCE:.0%}）{src}"
    if m == "reached":
        return f"{head}，已达到{ty}目标{target_txt}{src}"
    if m == "time_progress":
        path = f"{int(r['baseline_year'])}年{fmt_value(r['baseline_value'], unit)}→{ty}{fmt_value(r['target_value'], unit)}"
        verdict = {"green": "进度符合要求", "yellow": "进度滞后于时间，需加快", "red": "进度明显滞后"}[r["level"]]
        return f"{head}，任务进度{_pct(r['tp_task'])}，时间进度{_pct(r['tp_elapsed'])}（{path}），{verdict}{src}"
    if m == "open_sdg":
        return (
            f"{head}；按 Open SDG 进度测度，实际年均增速{r['sdg_cagr_observed']:.2%}，"
            f"达到{ty}目标{target_txt}所需{r['sdg_cagr_required']:.2%}，{SDG_ZH[r['sdg_category']]}{src}"
        )
    if not np.isfinite(r["baseline_value"]) and r["geo"] == "":
        return f"{head}；规划未给出基期值，且尚未达到{ty}目标{target_txt}，无法计算进度{src}"
    if r["geo"]:
        return f"{head}；区级数据仅对照全市目标的上下限，尚未达到{ty}目标{target_txt}，未评级{src}"
    return f"{head}；数据不足，无法判断{ty}目标{target_txt}的进度{src}"


def explain(ev: pd.DataFrame) -> pd.Series:
    """A Chinese reason per evaluated row: the numbers, the method and the article or table row."""
    return pd.Series([_reason(r) for r in ev.to_dict("records")], index=ev.index, dtype=object)


def methods_record(r: dict) -> dict:
    """Each method's result for one evaluated row, as plain JSON-able values."""

    def num(x):
        return None if x is None or (isinstance(x, float) and not np.isfinite(x)) else float(x)

    return {
        "time_progress": {"task": num(r["tp_task"]), "elapsed": num(r["tp_elapsed"]), "ratio": num(r["tp_ratio"]),
                          "level": r["tp_level"] or None},
        "open_sdg": {"category": r["sdg_category"], "ratio": num(r["sdg_ratio"]),
                     "cagr_observed": num(r["sdg_cagr_observed"]), "cagr_required": num(r["sdg_cagr_required"]),
                     "level": r["sdg_level"] or None},
        "bounds": {"applies": bool(r["bound_applies"]), "crossed": bool(r["bound_crossed"]), "level": r["bound_level"] or None},
        "band": {"level": r["band_level"] or None},
        "decided_by": r["method"],
    }
