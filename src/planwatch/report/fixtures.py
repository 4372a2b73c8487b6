"""A small, realistic :class:`ReportContext` for tests and demos, without the evaluation engine.

Targets are the real plan package. Observations are real published values (the rows of
``../shared/data/beijing/observations_2021_2022.csv`` for the listed indicators). The levels and
reasons below are written by hand in the engine's style: they illustrate the report, they are not
an evaluation, and the context says so in its notes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planwatch.plan import DEFAULT_PLAN, load_plan
from planwatch.report.context import (
    EVALUATION_COLUMNS,
    OBSERVATION_COLUMNS,
    ROLLUP_COLUMNS,
    ReportContext,
    targets_frame,
)

# (id, year, value, scope, note, source): published figures, verbatim from the shared CSV.
PUBLISHED = [
    ("T05", 2021, 2188.6, "", "year-end", "Xinhua on 2021 statistical communique"),
    ("T05", 2022, 2184.3, "", "year-end", "2022 statistical communique"),
    ("T12", 2021, 33.0, "", "", "2021 ecological environment bulletin"),
    ("T12", 2022, 30.0, "", "", "Beijing Daily 2023-01-04"),
    ("T22", 2022, 44.8, "", "", "Beijing landscaping bureau via China.com 2023-02-03"),
    ("T20", 2021, 16.6, "", "", "journal abstract citing landscaping bureau"),
    ("T20", 2022, 16.63, "", "", "Beijing landscaping bureau via China.com 2023-02-03"),
    ("T21", 2021, 87.0, "", "", "journal abstract"),
    ("T21", 2022, 88.0, "", "", "Guangming 5-year review"),
    ("T36", 2021, 783.1, "城市轨道交通(地铁), 不含市郊铁路", "", "railinks trade site"),
    ("T36", 2022, 797.0, "城市轨道交通(地铁), 不含市郊铁路", "", "2023 government work report"),
    ("T01", 2021, 6.53, "", "", "Beijing Daily 2022-09-13"),
    ("T18", 2022, 97.0, "", "", "2023 government work report"),
    ("T29", 2021, 82.47, "", "registered residents", "Beijing population blue book 2023"),
]

# id -> (level, method, tp_task, tp_elapsed, sdg_category, reason without the trailing source)
VERDICTS = {
    "T05": ("green", "上下限检查", None, None, "", "2022年常住人口规模2184.3万人，低于2025年上限2300万人"),
    "T12": ("green", "时间进度", 2.667, 0.4, "",
            "2022年细颗粒物年均浓度30微克/立方米，已优于2025年目标35左右；任务进度267%，时间进度40%"),
    "T22": ("green", "时间进度", 0.667, 0.4, "", "2022年森林覆盖率44.8%，任务进度67%，快于时间进度40%"),
    "T20": ("green", "时间进度", 0.65, 0.4, "", "2022年建成区人均公园绿地面积16.63平方米，任务进度65%，快于时间进度40%"),
    "T21": ("yellow", "时间进度", 0.375, 0.4, "",
            "2022年建成区公园绿地500米服务半径覆盖率88%，任务进度38%，略慢于时间进度40%"),
    "T36": ("grey", "口径不可比", None, None, "",
            "2022年轨道交通里程797公里的统计口径为“城市轨道交通(地铁), 不含市郊铁路”，"
            "与规划口径“轨道交通（含地铁与市郊铁路等区域快线）”不一致，不作比较"),
    "T01": ("green", "Open SDG", None, None, "target_achieved",
            "2021年全社会研究与试验发展经费支出占地区生产总值的比重6.53%，保持在2025年目标“稳定在6左右”"),
    "T18": ("green", "时间进度", 0.667, 0.4, "", "2022年城乡污水处理率97%，任务进度67%，快于时间进度40%"),
    "T29": ("red", "Open SDG", None, None, "limited_progress",
            "2021年人均期望寿命82.47岁，年均增速仅为实现2025年目标82.8岁所需增速的54%"
            "（Open SDG 进度比0.54，低于0.6，进展有限）"),
}


def _linear_forecast(years: list[float], values: list[float], at: int) -> tuple[float, float, float]:
    """Least-squares line through the points; a 95% prediction band when there are 3+ points."""
    x, y = np.asarray(years, float), np.asarray(values, float)
    slope, intercept = np.polyfit(x, y, 1)
    f = float(slope * at + intercept)
    n = len(x)
    if n < 3:
        return f, math.nan, math.nan
    resid = y - (slope * x + intercept)
    se = math.sqrt(float(resid @ resid) / (n - 2))
    sxx = float(((x - x.mean()) ** 2).sum())
    half = 1.96 * se * math.sqrt(1 + 1 / n + (at - x.mean()) ** 2 / sxx)
    return round(f, 4), round(f - half, 4), round(f + half, 4)


def example_context(year: int = 2022, plan_id: str = DEFAULT_PLAN) -> ReportContext:
    """A ReportContext for ``year`` built from the real plan and a handful of real observations."""
    plan = load_plan(plan_id)
    targets = targets_frame(plan)
    by_id = targets.set_index("id")

    obs_rows = [
        {
            "id": tid, "geo": "", "year": y, "value": v, "unit": by_id.at[tid, "unit"],
            "comparable": scope == "", "scope": scope, "source": src, "published": "", "note": note,
            "revision": 1, "conversion": "",
        }
        for tid, y, v, scope, note, src in PUBLISHED
        if y <= year
    ]  # fmt: skip
    observations = pd.DataFrame(obs_rows, columns=OBSERVATION_COLUMNS)

    eval_rows = []
    for tid, (level, method, task, elapsed, sdg, reason) in VERDICTS.items():
        obs = observations[observations["id"] == tid].sort_values("year")
        if obs.empty:
            continue
        t = by_id.loc[tid]
        last = obs.iloc[-1]
        target_year = 2025 if t["target_2025_kind"] else 2035
        row = {
            "id": tid, "name": t["name"], "category": t["category"], "unit": t["unit"], "geo": "",
            "year": int(last["year"]), "value": float(last["value"]), "level": level,
            "reason": f"{reason}（{t['source']}）", "method": method, "source": t["source"],
            "target_year": target_year, "target_value": t[f"target_{target_year}_value"],
            "target_raw": t[f"target_{target_year}_raw"],
            "baseline_year": t["baseline_year"], "baseline_value": t["baseline_value"],
            "tp_task": task, "tp_elapsed": elapsed, "sdg_category": sdg,
        }  # fmt: skip
        points = obs[obs["comparable"]]
        xs, ys = list(points["year"]), list(points["value"])
        if not pd.isna(t["baseline_value"]):
            xs, ys = [int(t["baseline_year"]), *xs], [float(t["baseline_value"]), *ys]
        for fy in (2025, 2035):
            f = lo = hi = math.nan
            if len(xs) >= 2:
                f, lo, hi = _linear_forecast(xs, ys, fy)
            row |= {f"forecast_{fy}": f, f"forecast_{fy}_low": lo, f"forecast_{fy}_high": hi}
        eval_rows.append(row)
    evaluation = pd.DataFrame(eval_rows, columns=EVALUATION_COLUMNS)
    for col in ("target_value", "baseline_value", "tp_task", "tp_elapsed"):
        evaluation[col] = evaluation[col].astype("float64")
    evaluation["baseline_year"] = evaluation["baseline_year"].astype("Int64")

    categories = dict(plan.meta.categories)
    rollup_rows = []
    for code, label in categories.items():
        counts = evaluation.loc[evaluation["category"] == code, "level"].value_counts()
        n = {lv: int(counts.get(lv, 0)) for lv in ("green", "yellow", "red", "grey")}
        level = next((lv for lv in ("red", "yellow", "green") if n[lv]), "grey")
        rollup_rows.append({"category": code, "label": label, **n, "level": level})
    rollup = pd.DataFrame(rollup_rows, columns=ROLLUP_COLUMNS)

    names = by_id["name"]
    sources = [f"规划：{plan.meta.title}，北京市人民政府门户网站（2022年）；指标目标与原文摘录见 Excel 表“指标目标”。"]
    for tid, group in observations.groupby("id", sort=True):
        years = "、".join(str(y) for y in sorted(group["year"]))
        srcs = "；".join(dict.fromkeys(group.sort_values("year")["source"]))
        sources.append(f"{names[tid]}（{tid}，{years}年）：{srcs}")
    notes = [
        "本报告为示例：各指标的评估等级与说明由 planwatch.report.fixtures 手工给出，不是评估引擎的计算结果。",
        "观测值为公开发布的真实数据（见“数据来源”）；人均期望寿命为户籍人口口径。",
    ]
    return ReportContext(
        plan_title=plan.meta.title,
        plan_id=plan.meta.id,
        year=year,
        categories=categories,
        targets=targets,
        observations=observations,
        evaluation=evaluation,
        rollup=rollup,
        sources=sources,
        notes=notes,
    )
