"""The report's map of the one map: 圈层, districts and rail stations (real), and the plan's control
lines when the store holds them (labelled 示意数据 when synthetic).

One inline PNG (a data: URI), deterministic: thousands of polygons as vectors make WeasyPrint's PDF
huge and slow, and a map reads as well at 150 dpi."""

from __future__ import annotations

import base64
import io

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from planwatch.report.charts import _rc  # noqa: E402

RING_COLOURS = {
    "核心区": "#b71c1c",
    "中心城区": "#ef9a9a",
    "城市副中心": "#ce93d8",
    "平原新城": "#fff59d",
    "生态涵养区": "#c5e1a5",
}
CONTROL_LINES = {  # layer type -> (label, colour, fill alpha)
    "farmland": ("永久基本农田", "#f57f17", 0.55),
    "eco_redline": ("生态保护红线", "#1b5e20", 0.35),
    "urban_boundary": ("城镇开发边界", "#e65100", 0.0),
}
MAP_DPI = 150
SYNTHETIC_NOTE = "示意数据（非官方）"


def one_map_png(layers: dict[str, gpd.GeoDataFrame], synthetic: dict[str, bool]) -> tuple[str, str]:
    """Draw the layers present among rings, districts, rail_stations and the control lines.

    Returns ``(html, caption)``: an ``<img>`` with the PNG inline, and a caption that names the
    sources and marks synthetic layers.
    """
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(7.2, 7.2))
        handles = []
        rings = layers.get("rings")
        if rings is not None and "ring" in rings:
            # 核心区 lies inside 中心城区: draw the larger rings first.
            for name in ("生态涵养区", "平原新城", "中心城区", "城市副中心", "核心区"):
                part = rings[rings["ring"] == name]
                if len(part):
                    part.plot(ax=ax, color=RING_COLOURS[name], edgecolor="none", zorder=1)
                    handles.append(Patch(facecolor=RING_COLOURS[name], label=name))
        drawn_controls = []
        for lt, (label, colour, alpha) in CONTROL_LINES.items():
            g = layers.get(lt)
            if g is None or g.empty:
                continue
            if alpha:
                g.plot(ax=ax, color=colour, alpha=alpha, edgecolor="none", zorder=2)
            g.boundary.plot(ax=ax, color=colour, linewidth=0.7 if not alpha else 0.2, zorder=2)
            tag = f"{label}（{SYNTHETIC_NOTE}）" if synthetic.get(lt) else label
            handles.append(Patch(facecolor=colour if alpha else "none", edgecolor=colour, alpha=alpha or 1, label=tag))
            drawn_controls.append(tag)
        districts = layers.get("districts")
        if districts is not None:
            districts.boundary.plot(ax=ax, color="#424242", linewidth=0.5, zorder=3)
            handles.append(Patch(facecolor="none", edgecolor="#424242", label="区界"))
        stations = layers.get("rail_stations")
        if stations is not None and len(stations):
            ax.scatter(stations.geometry.x, stations.geometry.y, s=2, color="#1565c0", zorder=4, label="轨道站点")
            handles.append(Patch(facecolor="#1565c0", label="轨道站点"))
        ax.set_axis_off()
        ax.set_aspect("equal")
        ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=True)
        if any(synthetic.get(lt) for lt in CONTROL_LINES):
            ax.text(0.01, 0.99, SYNTHETIC_NOTE + " / synthetic demo data：控制线为按真实地理生成的示意图层",
                    transform=ax.transAxes, va="top", fontsize=7, color="#c62828")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=MAP_DPI, metadata={"Software": None})
        plt.close(fig)
    img = f'<img alt="规划一张图" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'
    caption = "底图：行政区界（cnmaps，BSD-3/MIT）；轨道站点 © OpenStreetMap contributors（ODbL）；圈层由行政区推导（近似，方法见 layers/PROVENANCE.md）。"
    if drawn_controls:
        caption += "控制线：" + "、".join(drawn_controls) + "。"
    return img, caption


def map_layers_from_store(store) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, bool]]:
    """The map's layers from a store (those it holds), and which of them are synthetic."""
    wanted = ["rings", "districts", "rail_stations", *CONTROL_LINES]
    try:
        registry = store.layers().set_index("layer_type")
    except (AttributeError, KeyError):
        return {}, {}
    layers, synthetic = {}, {}
    for lt in wanted:
        if lt in registry.index:
            layers[lt] = store.read_layer(lt)
            synthetic[lt] = bool(registry.loc[lt, "synthetic"])
    return layers, synthetic
