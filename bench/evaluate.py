"""Benchmark: evaluate a synthetic national-scale load, vectorised engine vs a per-row Python loop.

Load: 3,000 jurisdictions × 100 indicators × 10 years = 3,000,000 observations (synthetic,
deterministic: numpy seed 20211). The indicators are the first 100 targets of the Beijing plan
package (table rows then article targets, qualitative ones included); each jurisdiction gets its
own baseline near the plan's, and a random-walk series of values.

Two engines, same methods, same process:
* ``evaluate_frame`` — the engine: every method applied to whole NumPy arrays;
* a plain Python loop — for each observation, call the same method functions on scalars and
  combine them with the same rules (``_loop_row``). It is run on a sample and extrapolated
  (said so in the output); its levels are checked against the engine's on that sample.

Run: ``.venv/bin/python bench/evaluate.py [--jurisdictions N] [--sample N]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from planwatch.evaluate import bounds, engine, opensdg, progress
from planwatch.plan import load_plan


def synthetic_load(plan, n_geo: int, n_ind: int, n_years: int, seed: int = 20211):
    rng = np.random.default_rng(seed)
    targets = plan.targets[:n_ind]
    tf = engine.targets_frame(plan).set_index("id").loc[[t.id for t in targets]]
    base = tf["baseline_value"].fillna(50.0).to_numpy()
    base = np.where(base == 0, 1.0, base)
    geos = np.array([f"J{g:04d}" for g in range(n_geo)], dtype=object)
    years = np.arange(2021, 2021 + n_years)
    # baseline per (indicator, geo): the plan's ±20 %
    gb_val = base[:, None] * rng.uniform(0.8, 1.2, size=(len(targets), n_geo))
    steps = rng.normal(0.01, 0.02, size=(len(targets), n_geo, n_years))
    values = gb_val[:, :, None] * np.cumprod(1 + steps, axis=2)
    ind = np.repeat(tf.index.to_numpy(dtype=object), n_geo * n_years)
    geo = np.tile(np.repeat(geos, n_years), len(targets))
    yr = np.tile(years, len(targets) * n_geo)
    obs = pd.DataFrame({"indicator": ind, "year": yr, "geo": geo, "value": values.ravel(), "comparable": True, "scope": ""})
    gbl = pd.DataFrame(
        {
            "indicator": np.repeat(tf.index.to_numpy(dtype=object), n_geo),
            "geo": np.tile(geos, len(targets)),
            "baseline_year": 2020,
            "baseline_value": gb_val.ravel(),
        }
    )
    return obs, gbl


def _loop_row(t: dict, tv: dict | None, by, bv, year, value, comparable) -> str:
    """The engine's rules for one observation, calling the same method functions on scalars."""
    if tv is None:
        return "grey"
    kind, tval, ty, direction = tv["target_kind"], tv["target_value"], tv["target_year"], t["direction"]
    if not comparable:
        return "grey"
    if kind == "qualitative":
        return "grey"
    bd = bounds.bound_check(kind, tval, value, year, ty, bv)
    if bd.crossed[0]:
        return "red"
    if kind == "decrease_from":
        return "green" if value < tv["ref_value"] else ("yellow" if year < ty else "red")
    band = progress.approx_band_level(value, tval, direction, engine.STABLE_TOLERANCE)[0]
    if kind == "stable" and band != "":
        return str(band)
    if bd.level[0] == "green":
        return "green"
    goal = tv["target_high"] if kind == "range" and direction == "decrease" else tval
    tp = progress.time_progress(by, bv, ty, goal, year, value, direction)
    if np.isfinite(tval) and np.isfinite(value) and tp.reached[0]:
        return "green"
    if tp.level[0] != "":
        return str(tp.level[0])
    sdg = opensdg.progress_measure(by, bv, year, value, ty, goal, direction)
    if sdg.level[0] not in ("grey", ""):
        return str(sdg.level[0])
    return "grey"


def loop_evaluate(plan, obs: pd.DataFrame, gbl: pd.DataFrame) -> list[str]:
    tf = engine.targets_frame(plan).set_index("id").to_dict("index")
    tvals: dict[str, list[dict]] = {}
    for r in engine.target_values_frame(plan).to_dict("records"):
        tvals.setdefault(r["id"], []).append(r)
    baselines = {(r["indicator"], r["geo"]): (r["baseline_year"], r["baseline_value"]) for r in gbl.to_dict("records")}
    levels = []
    for r in obs.to_dict("records"):  # a plain per-observation loop
        t = tf[r["indicator"]]
        cands = sorted(tvals[r["indicator"]], key=lambda v: (v["target_year"] < r["year"], abs(v["target_year"] - r["year"])))
        by, bv = baselines.get((r["indicator"], r["geo"]), (np.nan, np.nan))
        levels.append(_loop_row(t, cands[0] if cands else None, by, bv, r["year"], r["value"], r["comparable"]))
    return levels


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jurisdictions", type=int, default=3000)
    ap.add_argument("--indicators", type=int, default=100)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--sample", type=int, default=20_000, help="rows evaluated by the Python loop")
    a = ap.parse_args()
    plan = load_plan()
    t0 = time.perf_counter()
    obs, gbl = synthetic_load(plan, a.jurisdictions, a.indicators, a.years)
    n = len(obs)
    print(f"synthetic load: {a.jurisdictions} jurisdictions × {a.indicators} indicators × {a.years} years = {n:,} observations "
          f"(built in {time.perf_counter() - t0:.1f} s)")

    t0 = time.perf_counter()
    ev = engine.evaluate_frame(plan, obs, gbl)
    t_vec = time.perf_counter() - t0
    print(f"engine (vectorised, levels):        {t_vec:8.2f} s  {n / t_vec:12,.0f} obs/s")
    counts = ev["level"].value_counts().to_dict()
    print(f"  levels: {counts}")

    t0 = time.perf_counter()
    reasons = engine.explain(ev.iloc[: a.sample * 10])
    t_reason = (time.perf_counter() - t0) / len(reasons) * n
    print(f"reasons (row-wise strings), extrapolated from {len(reasons):,} rows: {t_reason:8.2f} s")

    rng = np.random.default_rng(1)
    idx = np.sort(rng.choice(n, size=min(a.sample, n), replace=False))
    sample = obs.iloc[idx]
    t0 = time.perf_counter()
    loop_levels = loop_evaluate(plan, sample, gbl)
    t_loop_sample = time.perf_counter() - t0
    t_loop = t_loop_sample / len(sample) * n
    agree = (np.asarray(loop_levels) == ev["level"].to_numpy()[idx]).mean()
    print(f"python loop (same methods, per row): {t_loop:8.2f} s  {n / t_loop:12,.0f} obs/s "
          f"(extrapolated from a sample of {len(sample):,} rows: {t_loop_sample:.1f} s)")
    print(f"  levels agree with the engine on the sample: {agree:.2%}")
    print(f"ratio: engine is {t_loop / t_vec:,.0f}× faster than the per-row loop")


if __name__ == "__main__":
    main()
