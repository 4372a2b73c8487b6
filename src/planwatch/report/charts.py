"""One small SVG chart per indicator: observations, the plan's target path and the forecast.

Charts are drawn with matplotlib (Agg) in Noto Sans CJK SC and saved as SVG with real ``<text>``
(``svg.fonttype: none``): the labels stay searchable, the PDF embeds the same CJK font as the body
text, and the SVG is half the size and twice as fast to print as glyph paths. Browsers without
Noto fall back along :data:`FONT_STACK`. ``svg.hashsalt`` and ``metadata={'Date': None}`` make the
SVG text a pure function of the data.
"""

from __future__ import annotations

import io
import math
import re
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from planwatch.evaluate.engine import finite_or_none  # noqa: E402
from planwatch.report.context import LEVELS  # noqa: E402

CJK_FONT_FILE = "NotoSansCJK-Regular.ttc"
CJK_FAMILY = "Noto Sans CJK SC"
# CSS font stack of the report (HTML body and chart text): Noto first, then common system CJK fonts.
FONT_STACK = (
    "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif"
)
CHART_SIZE_IN = (4.0, 2.4)
CHART_DPI = 150  # PNG charts (the DOCX)
LABEL_BOX = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}
PATH_COLOUR = "#546e7a"  # the plan's target path and target markers
BOUND_COLOUR = "#6d4c41"  # ceilings and floors
BOUND_KINDS = {"ceiling": "上限", "floor": "下限"}
NUMERIC_KINDS = {"approx", "stable", "exact", "range", "ratio", "ceiling", "floor"}


class MissingCJKFont(RuntimeError):
    """Raised when Noto Sans CJK is not installed: every Chinese glyph would be a box."""


@lru_cache(maxsize=1)
def cjk_font_family() -> str:
    """Register Noto Sans CJK (Debian ``fonts-noto-cjk``) with matplotlib and return its SC family name."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    if CJK_FAMILY in names:
        return CJK_FAMILY
    candidates = sorted(p for p in font_manager.findSystemFonts() if Path(p).name == CJK_FONT_FILE) or sorted(
        str(p) for p in Path("/usr/share/fonts").rglob(CJK_FONT_FILE)
    )
    if not candidates:
        raise MissingCJKFont(
            f"{CJK_FONT_FILE} not found under the system font folders: install the Debian package "
            "fonts-noto-cjk (without it every Chinese glyph in the charts is a box)"
        )
    font_manager.fontManager.addfont(candidates[0])  # registers every face of the .ttc (JP, SC, TC, …)
    if CJK_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        raise MissingCJKFont(f"{candidates[0]} holds no {CJK_FAMILY!r} face")
    return CJK_FAMILY


def _rc() -> dict:
    return {
        "svg.hashsalt": "planwatch-report",  # fixed ids: the same data gives the same SVG text
        "svg.fonttype": "none",  # <text>, drawn by the browser / WeasyPrint in FONT_STACK
        "font.family": [cjk_font_family()],
        "font.size": 7.5,
        "axes.unicode_minus": False,  # the CJK font has no U+2212 minus in every face
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": "#888888",
        "axes.linewidth": 0.6,
        "xtick.color": "#555555",
        "ytick.color": "#555555",
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "path.simplify": True,
    }


def format_number(value) -> str:
    """A number as a Chinese report prints it: no thousands separator, no trailing zeros."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    if abs(v) >= 1e6:
        return f"{v:.0f}"
    text = f"{v:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _to_svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "planwatch"})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # drop the XML declaration and doctype: inlined in HTML
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)  # RDF boilerplate
    text = text.replace(f"font-family: '{CJK_FAMILY}'", f"font-family: {FONT_STACK}")
    # Size comes from CSS (width: 100%); keep the viewBox for the aspect ratio.
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", text, count=1)
    return text.strip() + "\n"


def _to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=CHART_DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def indicator_chart(target: dict, observations: list[dict], evaluation: dict, fmt: str = "svg") -> str | bytes:
    """One indicator's chart: SVG text (``fmt="svg"``) or PNG bytes (``"png"``, for the DOCX).

    ``target`` is a row of ``ReportContext.targets`` (baseline, 2025/2035 kinds and values),
    ``observations`` the rows of ``ReportContext.observations`` for this indicator and geo, and
    ``evaluation`` its row of ``ReportContext.evaluation`` (level, forecasts). The figures each
    verdict rests on (``graded``) are drawn solid; other figures in the same unit (another scope, a
    computed figure beside an official one) hollow and grey; figures in another unit are not drawn.
    The forecast states its point count, method and interval, and says when it was clipped.
    """
    level_colour = LEVELS.get(evaluation.get("level"), LEVELS["grey"])[1]
    base_year, base_value = finite_or_none(target.get("baseline_year")), finite_or_none(target.get("baseline_value"))
    t25 = (target.get("target_2025_kind") or "", finite_or_none(target.get("target_2025_value")))
    t35 = (target.get("target_2035_kind") or "", finite_or_none(target.get("target_2035_value")))
    show_2035 = t35[0] in NUMERIC_KINDS and t35[1] is not None

    unit = target.get("unit") or ""
    obs = sorted(
        (
            (int(o["year"]), float(o["value"]), bool(o.get("graded", o.get("comparable", True))))
            for o in observations
            if finite_or_none(o.get("value")) is not None and (o.get("unit") or "") == unit
        ),
        key=lambda r: r[0],
    )
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=CHART_SIZE_IN)
        fig.subplots_adjust(left=0.14, right=0.97, top=0.93, bottom=0.12)

        # The plan's target path: baseline -> 2025 -> 2035; ceilings and floors as a bound line.
        has_base = base_year is not None and base_value is not None
        points = [
            (year, kind, value)
            for year, (kind, value) in ((2025, t25), (2035, t35))
            if value is not None and kind in NUMERIC_KINDS and (year == 2025 or show_2035)
        ]
        line = [(base_year, base_value)] if has_base else []
        for year, kind, value in points:
            if kind in BOUND_KINDS:
                start = line[-1][0] if line else year - 5
                ax.hlines(value, start, year, colors=BOUND_COLOUR, linestyles=(0, (4, 2)), linewidth=0.9)
                ax.annotate(
                    f"{year}年{BOUND_KINDS[kind]} {format_number(value)}",
                    (year, value),
                    xytext=(-2, 3),
                    textcoords="offset points",
                    ha="right",
                    fontsize=6.5,
                    color=BOUND_COLOUR,
                    bbox=LABEL_BOX,
                )
                continue
            line.append((year, value))
            ax.plot([year], [value], marker="D", markersize=4.5, color=PATH_COLOUR, linestyle="none")
            ax.annotate(
                f"{year}年目标 {format_number(value)}",
                (year, value),
                xytext=(-4, 4),
                textcoords="offset points",
                ha="right",
                fontsize=6.5,
                color=PATH_COLOUR,
                bbox=LABEL_BOX,
            )
        if len(line) >= 2:
            ax.plot(
                [p[0] for p in line],
                [p[1] for p in line],
                color=PATH_COLOUR,
                linestyle=(0, (3, 2)),
                linewidth=0.9,
            )
        if has_base:
            ax.plot(
                [base_year],
                [base_value],
                marker="o",
                markersize=4.5,
                markerfacecolor="white",
                markeredgecolor="#333333",
                markeredgewidth=0.9,
                linestyle="none",
            )

        # Forecast from the last comparable observation, with its band where there is one.
        last = next((o for o in reversed(obs) if o[2]), None)
        if last is not None:
            fx, fy, lo, hi = [last[0]], [last[1]], [last[1]], [last[1]]
            for year in (2025, 2035) if show_2035 else (2025,):
                f = finite_or_none(evaluation.get(f"forecast_{year}"))
                if f is None or year <= last[0]:
                    continue
                low, high = (
                    finite_or_none(evaluation.get(f"forecast_{year}_low")),
                    finite_or_none(evaluation.get(f"forecast_{year}_high")),
                )
                fx.append(year)
                fy.append(f)
                lo.append(low if low is not None else f)
                hi.append(high if high is not None else f)
            if len(fx) > 1:
                ax.plot(fx, fy, color=level_colour, linestyle=(0, (1, 1.5)), linewidth=1.2)
                ax.plot(fx[1:], fy[1:], marker="o", markersize=3, color=level_colour, linestyle="none")
                if any(h != low for h, low in zip(hi[1:], lo[1:], strict=True)):
                    ax.fill_between(fx, lo, hi, color=level_colour, alpha=0.15, linewidth=0)

        # Observations: solid in the level colour, hollow grey when not comparable.
        comparable = [o for o in obs if o[2]]
        other = [o for o in obs if not o[2]]
        if comparable:
            ax.plot(
                [o[0] for o in comparable],
                [o[1] for o in comparable],
                marker="o",
                markersize=4,
                color=level_colour,
                linewidth=1.3,
            )
        if other:
            ax.plot(
                [o[0] for o in other],
                [o[1] for o in other],
                marker="o",
                markersize=4,
                markerfacecolor="white",
                markeredgecolor=LEVELS["grey"][1],
                color=LEVELS["grey"][1],
                linewidth=0.9,
                linestyle=(0, (2, 1)),
            )

        years = (
            [p[0] for p in points]
            + [p[0] for p in line]
            + [o[0] for o in obs]
            + [2025]
            + ([2035] if show_2035 else [])
        )
        first, end = int(min(years)), int(max(years))
        ax.set_xlim(first - 0.5, end + 0.6)
        step = 1 if end - first <= 6 else (2 if end - first <= 12 else 5)
        ax.set_xticks([y for y in range(first, end + 1) if (y - first) % step == 0 or y == end])
        ax.xaxis.set_major_formatter(lambda y, _pos: f"{int(y)}")
        ax.yaxis.set_major_formatter(lambda v, _pos: format_number(v))
        ax.margins(y=0.2)
        ax.grid(axis="y", color="#e0e0e0", linewidth=0.5)
        ax.set_axisbelow(True)
        if target.get("unit"):
            ax.set_title(str(target["unit"]), loc="left", fontsize=7, color="#555555", pad=2)
        note = forecast_caption(evaluation, unit)
        if note:
            ax.set_title(note, loc="right", fontsize=6, color="#555555", pad=2)
        return _to_png(fig) if fmt == "png" else _to_svg(fig)


def band_words(evaluation: dict, year: int) -> str:
    """What the forecast of ``year`` says about its band: its coverage, or why it has none."""
    from planwatch.evaluate.forecast import NO_BAND_ZH

    level = finite_or_none(evaluation.get(f"forecast_{year}_interval_level", evaluation.get("forecast_level")))
    if level:
        return f"{level * 100:.0f}%预测区间"
    return NO_BAND_ZH.get(evaluation.get(f"forecast_{year}_no_band_reason") or "", "不给预测区间")


def forecast_caption(evaluation: dict, unit: str) -> str:
    """The forecast's own words on the chart: points, method, interval, clipping."""
    n = finite_or_none(evaluation.get("n_points"))
    if n is None or finite_or_none(evaluation.get("forecast_2025")) is None:
        return ""
    level = finite_or_none(evaluation.get("forecast_2025_interval_level", evaluation.get("forecast_level")))
    text = f"预测：线性趋势，{int(n)}个点，" + (f"{level * 100:.0f}%区间" if level else "无区间")
    if any(evaluation.get(f"forecast_{y}_clipped") for y in (2025, 2035)):
        text += "，已按物理界限截断"
    return text


def legend_svg(fmt: str = "svg") -> str | bytes:
    """The legend shared by every chart, drawn once (SVG text, or PNG bytes with ``fmt="png"``)."""
    with plt.rc_context(_rc()):
        fig = plt.figure(figsize=(7.0, 0.32))
        handles = [
            Line2D(
                [],
                [],
                color=LEVELS["green"][1],
                marker="o",
                markersize=4,
                linewidth=1.3,
                label="参与评级的数据（颜色＝等级）",
            ),
            Line2D(
                [],
                [],
                color=LEVELS["grey"][1],
                marker="o",
                markersize=4,
                markerfacecolor="white",
                linestyle=(0, (2, 1)),
                linewidth=0.9,
                label="未参与评级的数据",
            ),
            Line2D(
                [],
                [],
                color="#333333",
                marker="o",
                markersize=4.5,
                markerfacecolor="white",
                linestyle="none",
                label="基期值",
            ),
            Line2D(
                [],
                [],
                color=PATH_COLOUR,
                marker="D",
                markersize=4,
                linestyle=(0, (3, 2)),
                linewidth=0.9,
                label="目标路径与目标值",
            ),
            Line2D([], [], color=BOUND_COLOUR, linestyle=(0, (4, 2)), linewidth=0.9, label="上限/下限"),
            Line2D([], [], color="#555555", linestyle=(0, (1, 1.5)), linewidth=1.2, label="预测"),
            Patch(color="#555555", alpha=0.15, linewidth=0, label="预测区间"),
        ]
        fig.legend(
            handles=handles,
            loc="center",
            ncol=7,
            frameon=False,
            fontsize=6.5,
            handlelength=2.2,
            columnspacing=1.0,
            handletextpad=0.4,
        )
        return _to_png(fig) if fmt == "png" else _to_svg(fig)


def five_year_legend(fmt: str = "svg") -> str | bytes:
    """The legend of the five-year report's charts (:func:`indicator_chart` with the final verdict's
    colour and no forecast): SVG text, or PNG bytes with ``fmt="png"``."""
    with plt.rc_context(_rc()):
        fig = plt.figure(figsize=(7.0, 0.32))
        handles = [
            Line2D([], [], color=LEVELS["green"][1], marker="o", markersize=4, linewidth=1.3,
                   label="参与评估的数据（颜色＝评估结论）"),
            Line2D([], [], color=LEVELS["grey"][1], marker="o", markersize=4, markerfacecolor="white",
                   linestyle=(0, (2, 1)), linewidth=0.9, label="未参与评估的数据"),
            Line2D([], [], color="#333333", marker="o", markersize=4.5, markerfacecolor="white", linestyle="none",
                   label="基期值"),
            Line2D([], [], color=PATH_COLOUR, marker="D", markersize=4, linestyle=(0, (3, 2)), linewidth=0.9,
                   label="规划目标路径与目标值"),
            Line2D([], [], color=BOUND_COLOUR, linestyle=(0, (4, 2)), linewidth=0.9, label="上限/下限"),
        ]  # fmt: skip
        fig.legend(handles=handles, loc="center", ncol=5, frameon=False, fontsize=6.5, handlelength=2.2,
                   columnspacing=1.2, handletextpad=0.4)
        return _to_png(fig) if fmt == "png" else _to_svg(fig)


LEDGER_PANEL_IN = (7.0, 2.3)  # one panel per quota, full text width
LEDGER_SCALE = 10_000  # the chart's axis is in 万平方米 (the ledger keeps m²)
LEDGER_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037", "#ad1457", "#546e7a",
                  "#9e9d24", "#283593", "#00695c", "#8d6e63", "#d84315", "#4527a0", "#37474f")


def ledger_chart(series: list[dict], year: int, *, mark: str = "", fmt: str = "svg") -> str | bytes:
    """The quota pools' balances through ``year``: one panel per quota, one step line per pool (a
    district's 流量池) with entries in the year, in 万平方米; a district has one colour in every panel.

    ``series``: dicts of ``quota_name``, ``district`` and ``points`` ((YYYY-MM-DD, balance in m²),
    in date order, from 1 January to 31 December); ``mark`` ("示意" or "") goes into each panel's
    title. SVG text (``fmt="svg"``) or PNG bytes (``"png"``, for the DOCX)."""
    from datetime import date

    import matplotlib.dates as mdates

    quotas = list(dict.fromkeys(s["quota_name"] for s in series))
    districts = list(dict.fromkeys(s["district"] for s in series))  # one colour per district in every panel
    start, end = date(year, 1, 1), date(year, 12, 31)
    with plt.rc_context(_rc()):
        fig, axes = plt.subplots(len(quotas), 1, figsize=(LEDGER_PANEL_IN[0], LEDGER_PANEL_IN[1] * len(quotas)),
                                 squeeze=False)
        fig.subplots_adjust(left=0.09, right=0.80, top=1 - 0.22 / len(quotas), bottom=0.16 / len(quotas),
                            hspace=0.55)
        for ax, quota in zip(axes[:, 0], quotas, strict=True):
            mine = [s for s in series if s["quota_name"] == quota]
            for s in mine:
                days = [date.fromisoformat(d) for d, _ in s["points"]]
                values = [v / LEDGER_SCALE for _, v in s["points"]]
                colour = LEDGER_COLOURS[districts.index(s["district"]) % len(LEDGER_COLOURS)]
                ax.step(days, values, where="post", color=colour, linewidth=1.3, label=s["district"])
            ax.set_xlim(start, end)
            ax.xaxis.set_major_locator(mdates.MonthLocator())
            ax.xaxis.set_major_formatter(lambda x, _pos: f"{mdates.num2date(x).month}月")
            ax.yaxis.set_major_formatter(lambda v, _pos: format_number(v))
            shown = [v / LEDGER_SCALE for s in mine for _, v in s["points"]]
            low, high = min(0.0, *shown), max(0.0, *shown)
            pad = (high - low) * 0.1 or 1.0
            ax.set_ylim(low - (pad if low < 0 else 0), high + pad)
            ax.grid(axis="y", color="#e0e0e0", linewidth=0.5)
            ax.set_axisbelow(True)
            title = f"{quota}：各区流量池余额（万平方米）" + (f"（{mark}）" if mark else "")
            ax.set_title(title, loc="left", fontsize=7.5, color="#333333", pad=4)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=6.5, handlelength=1.8,
                      title=f"{year}年有变动的流量池", title_fontsize=6.5, alignment="left")
        return _to_png(fig) if fmt == "png" else _to_svg(fig)
