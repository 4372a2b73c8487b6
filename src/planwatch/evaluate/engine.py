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
from planwatch.evaluate.select import as_published, precision_in_unit, split_graded, with_defaults
from planwatch.plan.model import Kind, Plan

LEVELS = ("green", "yellow", "red", "grey")
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


def physical_bounds(plan: Plan) -> pd.DataFrame:
    """Per target, the bounds its values cannot leave: ≥ 0 for levels, ratios and counts (a
    concentration, an area, a population); ≤ 100 for shares and cumulative declines in %. A change
    has none. Columns ``id, lower, upper`` (NaN = unbounded)."""
    rows = []
    for t in plan.targets:
        m = t.scope.measure.value
        lower = 0.0 if m in ("level", "ratio", "count") else np.nan
        upper = 100.0 if t.unit == "%" and m in ("level", "cumulative_decline") else np.nan
        rows.append({"id": t.id, "lower": lower, "upper": upper})
    return pd.DataFrame(rows)


FORECAST_FIELDS = ("linear", "linear_low", "linear_high", "linear_raw", "linear_clipped", "band_clipped", "cagr",
                   "cagr_clipped", "interval_level", "no_band_reason")


def forecasts(plan: Plan, obs: pd.DataFrame, up_to_year: int | None = None) -> pd.DataFrame:
    """Linear (with a band from 4 points on) and CAGR forecasts to 2025 and 2035 per (indicator, geo),
    from the city baseline and the comparable observations (up to ``up_to_year``), within each
    target's physical bounds (:func:`physical_bounds`). Wide: one row per (id, geo), with
    ``n_points``, ``forecast_method``, ``forecast_level`` (the 2025 band's coverage, NaN without a band) and
    per year ``forecast_Y``, ``_low``, ``_high``, ``_raw`` (before clipping), ``_clipped``, ``_cagr``,
    ``_interval_level`` and ``_no_band_reason`` (why that year has no band: :data:`forecast.NO_BAND_ZH`)."""
    o = obs[obs["comparable"].astype(bool)]
    if "synthetic" in o:
        o = o[~o["synthetic"].astype(bool)]
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
    bounds = physical_bounds(plan).set_index("id")
    key = pts["id"] + "\x1f" + pts["geo"]
    fc = forecast.forecast_groups(
        key.to_numpy(), pts["year"].to_numpy(), pts["value"].to_numpy(), FORECAST_YEARS,
        lower=pts["id"].map(bounds["lower"]).to_numpy(float), upper=pts["id"].map(bounds["upper"]).to_numpy(float),
    )
    fc[["id", "geo"]] = fc["group"].str.split("\x1f", n=1, expand=True)
    first = fc.drop_duplicates("group")
    wide = first[["id", "geo", "n_points", "method", "interval_level"]].rename(
        columns={"method": "forecast_method", "interval_level": "forecast_level"})
    for y in FORECAST_YEARS:
        part = fc[fc["to_year"] == y].set_index("group")
        for f in FORECAST_FIELDS:
            name = f"forecast_{y}" + ("" if f == "linear" else "_" + f.replace("linear_", ""))
            wide[name] = first["group"].map(part[f]).to_numpy()
    wide["n_points"] = wide["n_points"].astype(int)
    return wide.reset_index(drop=True)


def latest_per_indicator(obs: pd.DataFrame, year: int) -> pd.DataFrame:
    """For each (indicator, geo), the newest observation in or before ``year``."""
    o = obs[obs["year"] <= year]
    idx = o.groupby(["indicator", "geo"])["year"].idxmax()
    return o.loc[idx].sort_values(["indicator", "geo"]).reset_index(drop=True)


# Levels from best to worst; grey is "not graded" and never compared.
_RANK = {"green": 0, "yellow": 1, "red": 2}
CHECKUP_COLUMNS = ["id", "geo", "year", "value", "level", "reason"]


def _favourable(value, precision, direction, target_value) -> np.ndarray:
    """The published figure read at the favourable end of its precision: up for higher-is-better,
    down for lower-is-better, towards the target for "keep at"."""
    v, p, tv = (np.asarray(a, dtype=float) for a in (value, precision, target_value))
    p = np.where(np.isfinite(p), p, 0.0)
    d = np.asarray(direction, dtype=str)
    toward = np.where(np.isfinite(tv), np.clip(tv - v, -p, p), 0.0)
    return np.select([d == "increase", d == "decrease"], [v + p, v - p], v + toward)


def _previous(graded: pd.DataFrame, current: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """The graded figure of the year before each current one (or the plan's baseline when that is
    the year before), for the 上年值 and the change."""
    prev = graded[["indicator", "geo", "year", "value", "raw_value", "conversion"]].assign(year=graded["year"] + 1)
    out = current[["indicator", "geo", "year"]].merge(prev, on=["indicator", "geo", "year"], how="left")
    base = targets_frame(plan).set_index("id")
    by = current["indicator"].map(base["baseline_year"]).to_numpy(float)
    bv = current["indicator"].map(base["baseline_value"]).to_numpy(float)
    use_base = out["value"].isna().to_numpy() & (current["geo"].to_numpy(str) == "") & (by == current["year"].to_numpy() - 1)
    out.loc[use_base, "value"] = bv[use_base]
    out.loc[use_base, "raw_value"] = current.loc[use_base, "indicator"].map(base["baseline_raw"]).to_numpy()
    return out


def checkup(plan: Plan, obs: pd.DataFrame, year: int) -> pd.DataFrame:
    """The check-up of ``year``: one row per (target, geo) with a graded figure in or before ``year``
    (:func:`planwatch.evaluate.select.split_graded`: comparable, not synthetic, official before
    computed), with level, method, reason, forecasts, the previous year's value and the change.

    A level never rests on a gap smaller than the figure's published precision: the figure is read
    at the favourable end of its precision too, and when that reading gives a better level, the
    better level is given and the reason says why (``precision_benefit``). A figure older than
    ``year`` says so (``stale``). Targets ``same_as`` another get a copy of its row (their own id,
    name and source; ``linked_to`` names the other).
    """
    if obs.empty:
        return pd.DataFrame(columns=CHECKUP_COLUMNS)
    o = with_defaults(obs)
    o = o[o["year"] <= year]
    graded, _related = split_graded(o)
    graded = graded[graded["indicator"].isin([t.id for t in plan.targets])]
    if graded.empty:
        return pd.DataFrame(columns=CHECKUP_COLUMNS)
    current = latest_per_indicator(graded, year)
    ev = evaluate_frame(plan, current)
    labels = ev.select_dtypes("category").columns
    ev[labels] = ev[labels].astype(str)  # a check-up is small: plain strings are easier downstream

    precision = precision_in_unit(current["raw_value"], current["value"])
    best = current.assign(value=_favourable(current["value"], precision, ev["direction"], ev["target_value"]))
    ev_best = evaluate_frame(plan, best)
    lv, lv_best = ev["level"].to_numpy(str), ev_best["level"].astype(str).to_numpy()
    rank = pd.Series(lv).map(_RANK).to_numpy(float)
    rank_best = pd.Series(lv_best).map(_RANK).to_numpy(float)
    benefit = np.isfinite(rank) & np.isfinite(rank_best) & (rank_best < rank)
    ev["level"] = np.where(benefit, lv_best, lv)
    # the rule that gave the better level decides, so no word of the weaker reading (a crossed bound) is kept
    ev["method"] = np.where(benefit, ev_best["method"].astype(str).to_numpy(), ev["method"].to_numpy(str))
    ev["precision"] = precision
    ev["precision_benefit"] = benefit

    for col in ("raw_value", "conversion", "origin", "synthetic"):
        ev[col] = current[col].to_numpy()
    for col in ("source", "published"):  # the figure's own; "source" is the plan's row or article
        ev[f"obs_{col}"] = current[col].to_numpy()
    ev["value_text"] = [as_published(r, v, c) for r, v, c in zip(ev["raw_value"], ev["value"], ev["conversion"], strict=True)]
    ev["stale"] = ev["year"].astype(int) < year
    prev = _previous(graded, current, plan)
    ev["prev_year"] = (ev["year"] - 1).where(prev["value"].notna().to_numpy())
    ev["prev_value"] = prev["value"].to_numpy(float)
    ev["prev_text"] = [as_published(r, v, c or "") if np.isfinite(v) else "" for r, v, c in
                       zip(prev["raw_value"].fillna(""), prev["value"].to_numpy(float), prev["conversion"].fillna(""), strict=True)]
    ev["change"] = ev["value"] - ev["prev_value"]

    fc = forecasts(plan, graded, up_to_year=year)
    ev = ev.merge(fc, on=["id", "geo"], how="left")
    ev["reason"] = explain(ev)
    ev = _with_linked(ev, plan)
    order = {t.id: i for i, t in enumerate(plan.targets)}
    ev = ev.sort_values(["geo", "id"], key=lambda s: s.map(order) if s.name == "id" else s).reset_index(drop=True)
    return ev


def _with_linked(ev: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """Copy each row to the targets that are ``same_as`` its target: one verdict for one measure."""
    ev = ev.assign(linked_to="")
    tf = targets_frame(plan).set_index("id")
    copies = []
    for t in plan.targets:
        if not t.same_as:
            continue
        rows = ev[ev["id"] == t.same_as]
        if rows.empty:
            continue
        own = tf.loc[t.id]
        c = rows.assign(id=t.id, name=t.name, category=t.category, source=own["source"], quote=own["quote"],
                        linked_to=t.same_as)
        c["reason"] = c["reason"] + f"；{own['source']}与{rows['source'].iloc[0]}为同一指标，数据与评级相同"
        copies.append(c)
    return pd.concat([ev, *copies], ignore_index=True) if copies else ev


def board_items(ev: pd.DataFrame, rules: pd.DataFrame | None = None) -> pd.DataFrame:
    """What the board counts: each measured target once (city-wide rows; a target ``same_as``
    another is that one's row, counted once) and each spatial rule without a target. Columns
    ``key, category, level``."""
    items = ev[(ev["geo"] == "") & (ev.get("linked_to", pd.Series("", index=ev.index)).fillna("") == "")]
    out = items[["id", "category", "level"]].rename(columns={"id": "key"})
    if rules is not None and len(rules):
        own = rules[rules["target"].fillna("") == ""]
        out = pd.concat([out, own[["id", "category", "level"]].rename(columns={"id": "key"})], ignore_index=True)
    return out.reset_index(drop=True)


def rollup(ev: pd.DataFrame, plan: Plan, by: str = "category") -> pd.DataFrame:
    """Count levels per category (or per geo). The group's level is its worst graded level
    (red > yellow > green), grey only when no member is graded."""
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


ROLLUP_RULE = (
    "看板按分类计数：每项指标目标计一项（只计全市数据）；条文目标与其所重述的表格指标为同一指标的，合并计为一项；"
    "未对应指标目标的空间规则单独计一项。分类等级取该分类中最差的已评等级（红灯＞黄灯＞绿灯），"
    "该分类无已评等级时为灰灯。"
)


# ---------------------------------------------------------------- reasons (Chinese, row by row)


def fmt_number(v: float) -> str:
    """A computed number for a sentence: up to 4 significant digits after the point, no trailing zeros."""
    if v is None or not np.isfinite(v):
        return "—"
    if float(v).is_integer():
        return f"{v:.0f}"
    if abs(v) >= 100:
        return f"{v:.2f}".rstrip("0").rstrip(".")
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
    return f"“{raw}”" + (f"（单位：{unit}）" if unit and unit not in raw else "")


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _signed_pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def _precision_text(p: float, unit: str) -> str:
    return f"±{fmt_number(p)}{'个百分点' if unit == '%' else unit}"


def _reason(r: dict) -> str:
    unit = r["unit"]
    scope_geo = r.get("geo_scope") or ""
    where = r["geo"] or (scope_geo if scope_geo not in ("", "全市") and scope_geo not in r["name"] else "")
    shown = r.get("value_text") or fmt_number(r["value"])
    head = f"{int(r['year'])}年{where}{r['name']}{shown}{unit}"
    if r.get("stale"):
        head = f"最新数据为{int(r['year'])}年：" + head
    src = f"（{r['source']}）"
    ty = "" if not np.isfinite(r["target_year"]) else f"{int(r['target_year'])}年"
    target_txt = target_text(r["target_raw"], r["target_value"], unit)
    m, level = r["method"], r["level"]
    benefit = bool(r.get("precision_benefit"))
    prec = _precision_text(r.get("precision", np.nan), unit) if benefit else ""
    if m == "scope":
        return (
            f"{head}，其统计口径为“{r['scope']}”，与指标口径“{r['definition'] or '规划定义'}”不一致，"
            f"不能直接与{ty}目标{target_txt}比较，未予评级{src}"
        )
    if m == "qualitative":
        return f"{head}；{ty}目标为{target_txt}，无量化目标值，需人工评估{src}"
    if benefit and m != "time_progress":
        return (f"{head}；与{ty}目标{target_txt}的评级界限之差小于该数据的公布精度（{prec}），"
                f"按公布精度不能判定为较差等级，评为{LEVEL_ZH[level]}{src}")
    if m == "bound":
        tv = fmt_value(r["target_value"], unit)
        if r["target_kind"] == "ceiling":
            if r["bound_crossed"]:
                return f"{head}，超过{ty}上限{tv}，已越过上限{src}"
            return f"{head}，未超过{ty}上限{tv}{src}"
        if r["bound_crossed"]:
            return f"{head}，低于{ty}下限{tv}，已越过下限{src}"
        return f"{head}，不低于{ty}下限{tv}{src}"
    if m == "decrease_from":
        ref = f"{int(r['ref_year'])}年的{fmt_value(r['ref_value'], unit)}"
        if level == "green":
            return f"{head}，低于{ref}，符合{ty}目标{target_txt}{src}"
        return f"{head}，未低于{ref}，尚未实现{ty}目标{target_txt}{src}"
    if m == "stable":
        tv = r["target_value"]
        rel = (r["value"] - tv) / abs(tv) if tv else np.nan
        tol = f"±{STABLE_TOLERANCE:.0%}"
        if abs(rel) <= STABLE_TOLERANCE:
            return f"{head}，与{ty}目标{target_txt}相差{_signed_pct(rel)}，在{tol}范围内{src}"
        good = {"increase": "越高越好", "decrease": "越低越好"}.get(r["direction"], "")
        if level == "green" and good:
            side = "高于" if rel > 0 else "低于"
            return (f"{head}，{side}{ty}目标{target_txt}（相差{_signed_pct(rel)}），超出{tol}的部分在指标的有利方向"
                    f"（{good}），评为绿灯{src}")
        span = f"在{tol}至±{2 * STABLE_TOLERANCE:.0%}之间" if level == "yellow" else f"超过±{2 * STABLE_TOLERANCE:.0%}"
        return f"{head}，偏离{ty}目标{target_txt}{_signed_pct(rel)}，{span}{src}"
    if m == "reached":
        return f"{head}，已达到{ty}目标{target_txt}{src}"
    if m == "time_progress":
        path = f"{int(r['baseline_year'])}年{fmt_value(r['baseline_value'], unit)}→{ty}{fmt_value(r['target_value'], unit)}"
        verdict = {"green": "进度符合要求", "yellow": "进度滞后于时间，需加快", "red": "进度明显滞后"}[level]
        text = f"{head}，任务进度{_pct(r['tp_task'])}，时间进度{_pct(r['tp_elapsed'])}（{path}）"
        if benefit:
            # the value at which the better level starts: ratio GREEN_RATIO (or YELLOW_RATIO) of the path
            share = progress.GREEN_RATIO if level == "green" else progress.YELLOW_RATIO
            edge = r["baseline_value"] + share * r["tp_elapsed"] * (r["target_value"] - r["baseline_value"])
            gap = abs(edge - r["value"])
            digits = len(shown.split(".", 1)[1]) + 2 if "." in shown else 2  # finer than the published figure
            text += (f"；{LEVEL_ZH[level]}界限为{edge:.{digits}f}{unit}（任务进度达到时间进度的{share:.0%}），与现状值之差"
                     f"{gap:.{digits}f}小于该数据的公布精度（{prec}），按有利一端评级")
        return f"{text}，{verdict}{src}"
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


def finite_or_none(x) -> float | None:
    """``x`` as a float, or None when it is missing, not a number, NaN or infinite."""
    if x is None or x is pd.NA:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def checkup_records(plan: Plan, obs: pd.DataFrame, year: int, ev: pd.DataFrame | None = None) -> list[dict]:
    """The check-up as JSON-ready records (what ``planwatch evaluate --format json`` prints): one per
    (target, geo) with a graded figure — level, reason, each method's result, the target, the
    forecast with its point count, method, interval level and clipping, the previous value and the
    figure's provenance — and, under ``related``, the figures of the target that are shown but not
    graded (their own value, unit and scope, and why; no method fields, because nothing graded them).
    ``ev``: the :func:`checkup` of the same arguments, when the caller has it already."""
    ev = checkup(plan, obs, year) if ev is None else ev
    o = with_defaults(obs)
    _graded, related = split_graded(o[o["year"] <= year])
    rel_by = {k: g for k, g in related.groupby("indicator")} if len(related) else {}
    targets = {t.id: t for t in plan.targets}
    out = []
    for r in ev.to_dict("records"):
        primary = targets[r["id"]].same_as or r["id"]
        rel = rel_by.get(primary)
        out.append({
            "id": r["id"], "name": r["name"], "geo": r["geo"] or plan.meta.whole_area, "year": int(r["year"]),
            "checkup_year": year, "stale": bool(r["stale"]), "value": finite_or_none(r["value"]), "value_as_published": r["value_text"],
            "unit": r["unit"], "precision": finite_or_none(r["precision"]), "level": r["level"], "reason": r["reason"],
            "methods": methods_record(r) | {"precision_benefit": bool(r["precision_benefit"])},
            "target": {"year": finite_or_none(r["target_year"]), "value": finite_or_none(r["target_value"]), "kind": r["target_kind"],
                       "raw": r["target_raw"]},
            "previous": {"year": finite_or_none(r["prev_year"]), "value": finite_or_none(r["prev_value"]), "change": finite_or_none(r["change"])},
            "forecast": {
                "n_points": finite_or_none(r.get("n_points")), "method": r.get("forecast_method") if isinstance(r.get("forecast_method"), str) else None,
                "interval_level": finite_or_none(r.get("forecast_level")),
                **{str(y): {"linear": finite_or_none(r.get(f"forecast_{y}")), "low": finite_or_none(r.get(f"forecast_{y}_low")),
                            "high": finite_or_none(r.get(f"forecast_{y}_high")), "unclipped": finite_or_none(r.get(f"forecast_{y}_raw")),
                            "clipped": bool(r.get(f"forecast_{y}_clipped")) if finite_or_none(r.get(f"forecast_{y}")) is not None else None,
                            "interval_level": finite_or_none(r.get(f"forecast_{y}_interval_level")),
                            "no_band_reason": r.get(f"forecast_{y}_no_band_reason") if isinstance(r.get(f"forecast_{y}_no_band_reason"), str) else None,
                            "cagr": finite_or_none(r.get(f"forecast_{y}_cagr"))} for y in FORECAST_YEARS},
            },
            "source": r["source"], "linked_to": r["linked_to"] or None,
            "figure": {"origin": r["origin"], "source": r["obs_source"], "published": r["obs_published"]},
            "related": [] if rel is None else [
                {"year": int(x["year"]), "geo": x["geo"] or plan.meta.whole_area, "value": finite_or_none(x["value"]),
                 "value_as_published": as_published(x["raw_value"], x["value"], x["conversion"]), "unit": x["unit"],
                 "scope": x["scope"], "measure": x["measure"] or None, "comparable": bool(x["comparable"]),
                 "origin": x["origin"], "synthetic": bool(x["synthetic"]), "source": x["source"]}
                for x in rel[(rel["geo"] == r["geo"])].sort_values(["year", "scope"]).to_dict("records")
            ],
        })  # fmt: skip
    return out


# ---------------------------------------------------------------- spatial rules: the same verdicts


RULE_VERDICT_COLUMNS = ["id", "article", "category", "description", "target", "year", "value", "unit", "threshold",
                        "comparator", "tolerance", "synthetic", "level", "status_text", "reason"]
COMPARATOR_ZH = {">=": "≥", "<=": "≤", "==": "=", "≈": "≈"}


def with_rule_observations(plan: Plan, obs: pd.DataFrame, results: pd.DataFrame | None, year: int) -> pd.DataFrame:
    """The observations up to ``year`` with the spatial rule values of ``results`` joined as computed
    figures of their targets (not stored; a stored copy of the same series is replaced by it)."""
    from planwatch.onemap.rules import rule_observations  # the rule values as observation rows
    from planwatch.store.base import SERIES_KEY

    o = with_defaults(obs)
    o = o[o["year"] <= year]
    if results is None or not len(results):
        return o
    extra = with_defaults(rule_observations(results, plan, year))
    return pd.concat([o, extra], ignore_index=True).drop_duplicates(SERIES_KEY, keep="last")


def rules_checkup(plan: Plan, obs: pd.DataFrame, results: pd.DataFrame, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The check-up of ``year`` with the spatial rule values of ``results`` joined to the
    observations (:func:`with_rule_observations`), and the rules' verdicts from it:
    ``(checkup rows, rule verdicts)``. What the report and ``planwatch rules check`` both show."""
    ev = checkup(plan, with_rule_observations(plan, obs, results, year), year)
    verdicts = rule_verdicts(results, ev, plan) if results is not None and len(results) else pd.DataFrame()
    return ev, verdicts


def rule_verdicts(results: pd.DataFrame, ev: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """The level of each spatial rule result (:func:`planwatch.onemap.rules.evaluate_rules`), the
    same as everywhere else: a rule that measures a target shows that target's verdict (its
    value is an observation of the target); a rule of its own passes green and fails red; a value
    computed from synthetic layers, a rule with no data or outside its years is grey."""
    cat = {t.id: t.category for t in plan.targets}
    city = ev[(ev["geo"] == "")].set_index("id") if len(ev) else pd.DataFrame()
    rows = []
    for r in results.to_dict("records"):
        target = r.get("target") or ""
        category = cat.get(target) if target else next(x.category for x in plan.spatial.rules if x.id == r["id"])
        unit = r["unit"]
        value = r["value"]
        has_value = value is not None and np.isfinite(value)
        shown = f"{fmt_number(value)}{unit}" if has_value else "—"
        need = f"{COMPARATOR_ZH.get(r['comparator'], r['comparator'])}{fmt_number(r['threshold'])}{unit}"
        if r["comparator"] == "≈":
            need += f"（±{fmt_number(r['tolerance'])}{unit}）"
        head = f"规则要求{r['description']}；{r['year']}年数值为{shown}，要求{need}"
        src = f"（第{r['article']}条）"
        if r["status"] not in ("pass", "fail"):
            level, text = "grey", ("不适用" if r["status"].startswith("not applicable") else "无数据")
            why = f"规则要求{r['description']}；{r['year']}年{'不在规则适用年份内' if text == '不适用' else '缺少所需图层或当年记录'}{src}"
        elif r["synthetic"]:
            level, text = "grey", "示意数据，不评级"
            why = f"{head}；该值由示意数据（非官方）图层计算，仅作展示，不参与评级{src}"
        elif target:
            row = city.loc[target] if target in city.index else None
            if row is not None and int(row["year"]) == int(r["year"]):
                level, text = row["level"], LEVEL_ZH[row["level"]]
                why = f"{head}；评级同{target}：{row['reason']}"
            else:
                level, text = "grey", "未评级"
                why = f"{head}；{target}本年度无可评级的数据{src}"
        else:
            ok = bool(r["passed"])
            level, text = ("green", "符合") if ok else ("red", "不符合")
            why = f"{head}，{text}要求{src}"
        rows.append({
            "id": r["id"], "article": r["article"], "category": category, "description": r["description"],
            "target": target, "year": r["year"], "value": value if has_value else np.nan, "unit": unit,
            "threshold": r["threshold"], "comparator": r["comparator"], "tolerance": r["tolerance"],
            "synthetic": bool(r["synthetic"]), "level": level, "status_text": text, "reason": why,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=RULE_VERDICT_COLUMNS)
