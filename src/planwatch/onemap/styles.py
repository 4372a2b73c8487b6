"""Default QGIS styles (QML) for the one map's layers, styled like the report map.

The stores put :func:`default_style`'s QML in QGIS's ``layer_styles`` table (``useasdefault``), so
that QGIS opening ``ly_<type>`` from the GeoPackage or PostGIS store shows the layer in the report
map's colours (planwatch.onemap.colours, the table both read). Synthetic (demo) layers say so in
the style's description and in the QML's layer name / abstract.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import lru_cache

from planwatch.onemap.colours import (
    CONTROL_LINES,
    DISTRICT_LABEL,
    DISTRICT_LINE,
    NEUTRAL_GREY,
    RING_ATTRIBUTE,
    RING_COLOURS,
    RING_LABEL,
    STATION_COLOUR,
    STATION_LABEL,
    hex_to_rgb,
)
from planwatch.store.base import SYNTHETIC_LABEL

QGIS_VERSION = "3.28"
DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
LINE_WIDTH_MM = {"line": "0.46", "outline": "0.26", "district": "0.36"}

_SYMBOL_TYPES = {  # shapely / OGR geometry type name -> QGIS symbol type
    "polygon": "fill", "multipolygon": "fill", "curvepolygon": "fill", "multisurface": "fill",
    "linestring": "line", "multilinestring": "line", "linearring": "line", "compoundcurve": "line",
    "multicurve": "line", "circularstring": "line",
    "point": "marker", "multipoint": "marker",
}


def symbol_type(geometry_type: str) -> str:
    """QGIS's symbol type (``fill`` / ``line`` / ``marker``) for a shapely / OGR geometry type name.
    Mixed or empty layers (``Geometry``, ``Unknown``, ``GeometryCollection``) get ``fill``: the one
    map's layers are polygons unless they say otherwise. Z/M suffixes (``PolygonZ``, ``Point25D``)
    are ignored."""
    name = geometry_type.strip().lower().replace(" ", "")
    for suffix in ("25d", "zm", "z", "m"):
        if name.endswith(suffix) and name[: -len(suffix)] in _SYMBOL_TYPES:
            name = name[: -len(suffix)]
            break
    return _SYMBOL_TYPES.get(name, "fill")


def _rgba(colour: str | None, alpha: int = 255) -> str:
    if colour is None:
        return "0,0,0,0"
    r, g, b = hex_to_rgb(colour)
    return f"{r},{g},{b},{alpha}"


def _options(parent: ET.Element, values: dict[str, str]) -> None:
    opt = ET.SubElement(parent, "Option", type="Map")
    for k, v in values.items():
        ET.SubElement(opt, "Option", name=k, value=v, type="QString")


def _symbol(parent: ET.Element, kind: str, name: str, colour: str, *, outline_only: bool = False,
            stroke: str | None = None, width: str | None = None) -> ET.Element:
    """One QGIS symbol: a SimpleFill, SimpleLine or SimpleMarker layer in ``colour``."""
    sym = ET.SubElement(parent, "symbol", type=kind, name=name, alpha="1", clip_to_extent="1", force_rhr="0")
    if kind == "fill":
        layer = ET.SubElement(sym, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"})
        _options(layer, {
            "color": _rgba(None if outline_only else colour),
            "style": "no" if outline_only else "solid",
            "outline_color": _rgba(colour if outline_only else (stroke or colour)),
            "outline_style": "no" if not outline_only and stroke is None else "solid",
            "outline_width": width or LINE_WIDTH_MM["outline"],
            "outline_width_unit": "MM",
            "joinstyle": "bevel",
        })
    elif kind == "line":
        layer = ET.SubElement(sym, "layer", {"class": "SimpleLine", "enabled": "1", "locked": "0", "pass": "0"})
        _options(layer, {
            "line_color": _rgba(colour),
            "line_style": "solid",
            "line_width": width or LINE_WIDTH_MM["line"],
            "line_width_unit": "MM",
            "capstyle": "square",
            "joinstyle": "bevel",
        })
    else:
        layer = ET.SubElement(sym, "layer", {"class": "SimpleMarker", "enabled": "1", "locked": "0", "pass": "0"})
        _options(layer, {
            "color": _rgba(colour),
            "name": "circle",
            "size": "1.6",
            "size_unit": "MM",
            "outline_style": "no",
            "outline_color": _rgba(colour),
            "outline_width": "0",
            "outline_width_unit": "MM",
        })
    return sym


@lru_cache(maxsize=1)
def _plan_layer_names() -> dict[str, str]:
    """The default plan's layer type names (layers.yaml), e.g. ``production_guide`` → 生产空间引导区."""
    try:
        from planwatch.plan.load import load_plan

        spatial = load_plan().spatial
        return {lt.id: lt.name for lt in spatial.layer_types} if spatial else {}
    except Exception:  # noqa: BLE001 - a name is a nicety: the id will do
        return {}


def _layer_colour(layer_type: str) -> tuple[str, str, bool, str | None]:
    """(label, colour, outline only, stroke width) as the report map draws ``layer_type``."""
    if layer_type in CONTROL_LINES:
        label, colour, how = CONTROL_LINES[layer_type]
        return label, colour, how == "line", LINE_WIDTH_MM["line"] if how == "line" else None
    if layer_type == "districts":
        return DISTRICT_LABEL, DISTRICT_LINE, True, LINE_WIDTH_MM["district"]
    if layer_type == "rings":
        return RING_LABEL, NEUTRAL_GREY, False, None
    if layer_type == "rail_stations":
        return STATION_LABEL, STATION_COLOUR, False, None
    return _plan_layer_names().get(layer_type, layer_type), NEUTRAL_GREY, False, None


def default_style(layer_type: str, geometry_type: str, synthetic: bool) -> tuple[str, str]:
    """A default QGIS style for the one map's layer ``ly_<layer_type>``: ``(qml, description)``.

    Colours are the report map's (planwatch.onemap.colours); layer types it does not draw get a
    neutral grey. ``geometry_type`` (shapely / OGR name) picks the fill / line / marker symbol. The
    圈层 layer (``rings``) gets a categorized renderer on its ``ring`` attribute, one colour per
    ring. ``synthetic`` layers carry :data:`planwatch.store.base.SYNTHETIC_LABEL` in the
    description and in the QML's layer name and abstract."""
    kind = symbol_type(geometry_type)
    label, colour, outline_only, width = _layer_colour(layer_type)
    title = f"{label}（{SYNTHETIC_LABEL}）" if synthetic else label

    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="Symbology")
    if layer_type == "rings" and kind == "fill":
        renderer = ET.SubElement(root, "renderer-v2", type="categorizedSymbol", attr=RING_ATTRIBUTE,
                                 symbollevels="0", enableorderby="0", forceraster="0")
        cats = ET.SubElement(renderer, "categories")
        symbols = ET.SubElement(renderer, "symbols")
        for i, (ring, ring_colour) in enumerate(RING_COLOURS.items()):
            ring_label = f"{ring}（{SYNTHETIC_LABEL}）" if synthetic else ring
            ET.SubElement(cats, "category", symbol=str(i), value=ring, label=ring_label, render="true")
            _symbol(symbols, kind, str(i), ring_colour)
        source = ET.SubElement(renderer, "source-symbol")
        _symbol(source, kind, "0", NEUTRAL_GREY)
        description = f"{title}: 按圈层（{RING_ATTRIBUTE} 字段）分类着色，与报告地图一致"
    else:
        renderer = ET.SubElement(root, "renderer-v2", type="singleSymbol", symbollevels="0",
                                 enableorderby="0", forceraster="0")
        symbols = ET.SubElement(renderer, "symbols")
        _symbol(symbols, kind, "0", colour, outline_only=outline_only and kind == "fill", width=width)
        description = (f"{title}: 与报告地图一致的默认样式" if colour != NEUTRAL_GREY or layer_type == "rings"
                       else f"{title}: 默认样式（中性灰，报告地图不绘制此图层）")
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    ET.SubElement(root, "layerName").text = title  # ignored by QGIS when applying a style; informative
    if synthetic:
        meta = ET.SubElement(root, "resourceMetadata")
        ET.SubElement(meta, "title").text = title
        ET.SubElement(meta, "abstract").text = SYNTHETIC_LABEL
        description = f"{description}。{SYNTHETIC_LABEL}"
    ET.indent(root)
    qml = DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"
    return qml, description
