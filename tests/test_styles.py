"""QGIS default styles of the one map's layers (planwatch.onemap.styles): valid QML in the report map's colours."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from planwatch.onemap.colours import (
    CONTROL_LINES,
    DISTRICT_LINE,
    NEUTRAL_GREY,
    RING_COLOURS,
    STATION_COLOUR,
    hex_to_rgb,
)
from planwatch.onemap.styles import default_style, symbol_type
from planwatch.report import maps
from planwatch.store.base import SYNTHETIC_LABEL

LAYERS_YAML = Path(__file__).parents[1] / "src/planwatch/plans/beijing-2021-2025/layers.yaml"
LAYER_TYPES = yaml.safe_load(LAYERS_YAML.read_text(encoding="utf-8"))["layer_types"]
GEOMETRY = {"polygon": ("Polygon", "MultiPolygon", "fill"), "line": ("LineString", "MultiLineString", "line"),
            "point": ("Point", "MultiPoint", "marker")}


def _rgba(hex_colour: str) -> str:
    return "{},{},{},255".format(*hex_to_rgb(hex_colour))


def _parse(qml: str) -> ET.Element:
    assert qml.startswith("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>")
    root = ET.fromstring(qml.encode("utf-8"))
    assert root.tag == "qgis" and root.get("version") == "3.28" and root.get("styleCategories") == "Symbology"
    return root


def _options(layer: ET.Element) -> dict[str, str]:
    opt = layer.find("Option")
    assert opt is not None and opt.get("type") == "Map"
    return {o.get("name"): o.get("value") for o in opt.findall("Option")}


def _drawn_colour(symbol: ET.Element) -> str:
    """The colour the symbol shows: the fill, or the outline of an outline-only fill, or the line."""
    layer = symbol.find("layer")
    opts = _options(layer)
    if layer.get("class") == "SimpleFill":
        return opts["outline_color"] if opts["style"] == "no" else opts["color"]
    if layer.get("class") == "SimpleLine":
        return opts["line_color"]
    return opts["color"]


def test_report_map_reads_the_shared_colours():
    assert maps.CONTROL_LINES is CONTROL_LINES and maps.RING_COLOURS is RING_COLOURS
    assert maps.DISTRICT_LINE == DISTRICT_LINE and maps.STATION_COLOUR == STATION_COLOUR


@pytest.mark.parametrize("lt", LAYER_TYPES, ids=lambda lt: lt["id"])
def test_every_plan_layer_type_is_styled_like_the_report_map(lt):
    single, multi, kind = GEOMETRY[lt["geometry"]]
    for geometry_type in (single, multi):
        qml, description = default_style(lt["id"], geometry_type, False)
        root = _parse(qml)
        symbols = root.findall("./renderer-v2/symbols/symbol")
        assert symbols and all(s.get("type") == kind for s in symbols)
        assert SYNTHETIC_LABEL not in description and SYNTHETIC_LABEL not in qml
        renderer = root.find("renderer-v2")
        if lt["id"] == "rings":
            assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "ring"
            by_symbol = {s.get("name"): _drawn_colour(s) for s in symbols}
            cats = {c.get("value"): by_symbol[c.get("symbol")] for c in renderer.iter("category")}
            assert cats == {ring: _rgba(c) for ring, c in RING_COLOURS.items()}
            assert set(cats) == set(lt["attributes"]["ring"])
            continue
        assert renderer.get("type") == "singleSymbol" and len(symbols) == 1
        expected = {lt_: c for lt_, (_, c, _) in CONTROL_LINES.items()}
        expected |= {"districts": DISTRICT_LINE, "rail_stations": STATION_COLOUR}
        assert _drawn_colour(symbols[0]) == _rgba(expected.get(lt["id"], NEUTRAL_GREY))
        names = {"districts": maps.DISTRICT_LABEL, "rail_stations": maps.STATION_LABEL}
        names |= {lt_: label for lt_, (label, _, _) in CONTROL_LINES.items()}
        assert root.findtext("layerName") == names.get(lt["id"], lt["name"])  # the report's or layers.yaml's name


def test_line_drawn_control_line_is_an_unfilled_outline():
    root = _parse(default_style("urban_boundary", "MultiPolygon", False)[0])
    opts = _options(root.find("./renderer-v2/symbols/symbol/layer"))
    assert opts["style"] == "no" and opts["outline_style"] == "solid"
    assert opts["outline_color"] == _rgba(CONTROL_LINES["urban_boundary"][1])


@pytest.mark.parametrize("geometry_type, kind", [
    ("LineString", "line"), ("MultiLineString", "line"), ("Point", "marker"), ("MultiPoint", "marker"),
    ("Polygon", "fill"), ("PolygonZ", "fill"), ("Geometry", "fill"), ("Unknown", "fill"),
])
def test_geometry_type_picks_the_symbol(geometry_type, kind):
    assert symbol_type(geometry_type) == kind
    root = _parse(default_style("farmland", geometry_type, False)[0])
    symbol = root.find("./renderer-v2/symbols/symbol")
    assert symbol.get("type") == kind
    assert _drawn_colour(symbol) == _rgba(CONTROL_LINES["farmland"][1])


def test_synthetic_layer_says_so():
    qml, description = default_style("eco_redline", "MultiPolygon", True)
    assert SYNTHETIC_LABEL in description
    root = _parse(qml)
    assert SYNTHETIC_LABEL in root.findtext("layerName")
    assert root.findtext("./resourceMetadata/abstract") == SYNTHETIC_LABEL
    assert "生态保护红线" in root.findtext("layerName")  # Chinese survives the round trip
    qml, description = default_style("rings", "MultiPolygon", True)
    assert SYNTHETIC_LABEL in description
    assert all(SYNTHETIC_LABEL in c.get("label") for c in _parse(qml).iter("category"))


def test_unknown_layer_type_is_grey():
    qml, description = default_style("no_such_layer", "Polygon", False)
    root = _parse(qml)
    assert root.find("renderer-v2").get("type") == "singleSymbol"
    assert _drawn_colour(root.find("./renderer-v2/symbols/symbol")) == _rgba(NEUTRAL_GREY)
    assert "no_such_layer" in description
