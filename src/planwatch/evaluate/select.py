"""Which observations are graded, and which are only shown: official over computed, comparable only.

Data in: the newest revision of every series (the store's ``observations()``: one row per
indicator, year, geo, scope and origin). For each (indicator, geo, year) at most one figure is
**graded**: a comparable one (it measures what the indicator measures), not computed from synthetic
layers, and the official (published) one when both an official and a computed figure exist. Every
other row is a **related statistic**: shown, with its own unit and scope, never graded.

Pure functions on DataFrames; no I/O.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

# Columns a caller may leave out (tests, notebooks): their defaults.
DEFAULTS = {
    "geo": "", "scope": "", "comparable": True, "origin": "official", "synthetic": False, "raw_value": "",
    "unit": "", "raw_unit": "", "conversion": "", "measure": "", "note": "", "source": "", "published": "",
    "method": "",
}  # fmt: skip
ORIGIN_RANK = {"official": 0, "computed": 1}


def with_defaults(obs: pd.DataFrame) -> pd.DataFrame:
    """``obs`` with every column of :data:`DEFAULTS` present (missing ones filled with the default)."""
    if obs.empty and "indicator" not in obs.columns:  # no observations at all
        obs = pd.DataFrame({"indicator": pd.Series(dtype=str), "year": pd.Series(dtype=int), "value": pd.Series(dtype=float)})
    missing = {c: v for c, v in DEFAULTS.items() if c not in obs.columns}
    out = obs.assign(**missing) if missing else obs.copy()
    out["comparable"] = out["comparable"].astype(bool)
    out["synthetic"] = out["synthetic"].astype(bool)
    return out


def split_graded(obs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(graded, related)``: one graded row per (indicator, geo, year) and everything else."""
    o = with_defaults(obs)
    eligible = o["comparable"] & ~o["synthetic"]
    cand = o[eligible].assign(_rank=o.loc[eligible, "origin"].map(ORIGIN_RANK).fillna(9))
    cand = cand.sort_values(["indicator", "geo", "year", "_rank"], kind="stable")
    graded = cand.drop_duplicates(["indicator", "geo", "year"], keep="first").drop(columns="_rank")
    related = o.drop(index=graded.index)
    return graded.reset_index(drop=True), related.reset_index(drop=True)


# ---------------------------------------------------------------- published precision

_NUM = re.compile(r"^[+-]?[\d,]*\.?(\d*)(?:[eE]([+-]?\d+))?$")


def published_precision(raw: str) -> float:
    """Half a unit of the last digit a figure was published with: "88" → 0.5, "16.63" → 0.005,
    "2,184.3" → 0.05. NaN when ``raw`` is not a plain number."""
    m = _NUM.match((raw or "").strip())
    if not m or not re.search(r"\d", raw):
        return math.nan
    decimals = len(m.group(1)) - (int(m.group(2)) if m.group(2) else 0)
    return 0.5 * 10.0 ** (-decimals)


def precision_in_unit(raw_values, values) -> np.ndarray:
    """Each figure's published precision converted to the indicator's unit (a 万人 figure published
    in 人 keeps its own last digit). NaN where unknown."""
    raw = pd.Series(raw_values, dtype=object).fillna("").astype(str)
    prec = raw.map(published_precision).to_numpy(float)
    as_number = pd.to_numeric(raw.str.replace(",", "", regex=False), errors="coerce").to_numpy(float)
    v = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where((as_number != 0) & np.isfinite(as_number), np.abs(v / as_number), 1.0)
    return prec * scale


def as_published(raw: str, value: float, conversion: str = "") -> str:
    """The figure as its source wrote it when it was not converted ("159.81" stays "159.81", "88"
    stays "88"); otherwise the converted value with the digits the source gave."""
    text = (raw or "").strip()
    if text and not conversion and _NUM.match(text):
        return text.replace(",", "")
    if not math.isfinite(value):
        return "—"
    return f"{value:.6g}"
