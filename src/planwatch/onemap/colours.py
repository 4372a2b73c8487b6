"""The one map's colours: one table shared by the report map (planwatch.report.maps) and the QGIS
default styles the stores write (planwatch.onemap.styles), so that the two can never disagree.

Opaque fills, so that a legend swatch is the colour the map shows. 圈层 are light (the ground),
control lines saturated (drawn over them).
"""

from __future__ import annotations

RING_LABEL = "圈层"
RING_ATTRIBUTE = "ring"  # the 圈层 layer's attribute holding the ring's name (planwatch.onemap.rings)
RING_COLOURS = {  # the plan's order, core outwards
    "核心区": "#d9534f",
    "中心城区": "#f5b49c",
    "城市副中心": "#c3a6dc",
    "平原新城": "#fbefb4",
    "生态涵养区": "#bcdca4",
}
RING_ORDER = ("生态涵养区", "平原新城", "中心城区", "城市副中心", "核心区")  # 核心区 lies inside 中心城区: larger first
CONTROL_LINES = {  # layer type -> (label, colour, drawn as "fill" or "line")
    "farmland": ("永久基本农田", "#d9a521", "fill"),
    "eco_redline": ("生态保护红线", "#5fa052", "fill"),
    "urban_boundary": ("城镇开发边界", "#8e24aa", "line"),
}
DISTRICT_LINE = "#4d4d4d"
DISTRICT_LABEL = "区界"
STATION_COLOUR = "#1565c0"
STATION_LABEL = "轨道站点"
NEUTRAL_GREY = "#9e9e9e"  # layer types the report map does not draw


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """``"#d9a521"`` → ``(217, 165, 33)``."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
