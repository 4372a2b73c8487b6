"""The report's map reads as a map a planning bureau would print: scale bar, north arrow, district
names, a legend that covers no part of the city, colours that can be told apart, Chinese text only,
synthetic layers marked, the same bytes for the same layers."""

from __future__ import annotations

import base64
import itertools
import re

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pytest
import shapely
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib_scalebar.scalebar import ScaleBar
from pyproj import CRS, Transformer

from planwatch.demo.onemap import read_base_layers
from planwatch.report.maps import (
    SYNTHETIC_NOTE,
    draw_one_map,
    map_layers_from_store,
    one_map_figure,
    one_map_png,
    projection_name,
)

from .conftest import SHARED

CONTROLS = ("farmland", "eco_redline", "urban_boundary")


@pytest.fixture(scope="module")
def base(plan):
    """The shipped real layers (districts, rail stations) and the 圈层 derived from them, in EPSG:4548."""
    return read_base_layers(plan)


@pytest.fixture(scope="module")
def one_map(base):
    """Base layers plus small synthetic control lines cut from the real geography."""
    districts = base["districts"].set_index("district").geometry
    rings = base["rings"].set_index("ring").geometry
    daxing = districts["大兴区"].centroid
    farms = [shapely.box(daxing.x + i * 4000, daxing.y + j * 4000, daxing.x + i * 4000 + 1500, daxing.y + j * 4000 + 1500)
             for i in range(-3, 4) for j in range(-3, 4)]
    huairou = districts["怀柔区"]
    redline = huairou.intersection(huairou.centroid.buffer(15_000))
    urban = rings["中心城区"].buffer(2_000)
    crs = base["districts"].crs
    return {
        **base,
        "farmland": gpd.GeoDataFrame(geometry=[f.intersection(districts["大兴区"]) for f in farms], crs=crs),
        "eco_redline": gpd.GeoDataFrame(geometry=[redline], crs=crs),
        "urban_boundary": gpd.GeoDataFrame(geometry=[urban], crs=crs),
    }


SYNTHETIC = {"rings": False, "districts": False, "rail_stations": False, **dict.fromkeys(CONTROLS, True)}


@pytest.fixture(scope="module")
def drawn(one_map):
    """One drawing of the map, read (never changed) by the tests below."""
    fig, caption = draw_one_map(one_map, SYNTHETIC)
    fig.canvas.draw()
    yield fig, caption
    plt.close(fig)


def real_district_names() -> set[str]:
    return set(gpd.read_file(SHARED / "data/beijing/districts.geojson")["district"])


def city_outline(layers) -> shapely.Geometry:
    return shapely.union_all(layers["districts"].geometry.values)


def data_box(ax, bbox) -> shapely.Geometry:
    (x0, y0), (x1, y1) = ax.transData.inverted().transform([(bbox.x0, bbox.y0), (bbox.x1, bbox.y1)])
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def scale_bar(ax) -> ScaleBar:
    bars = [a for a in ax.artists if isinstance(a, ScaleBar)]
    assert len(bars) == 1
    return bars[0]


def ground_length_m(crs, centre, length_units) -> float:
    """Geodesic length of a horizontal map segment centred on ``centre`` (pyproj Geod on the CRS's ellipsoid)."""
    crs = CRS.from_user_input(crs)
    to_lonlat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    (lon0, lon1), (lat0, lat1) = to_lonlat.transform(
        [centre[0] - length_units / 2, centre[0] + length_units / 2], [centre[1], centre[1]]
    )
    return crs.get_geod().inv(lon0, lat0, lon1, lat1)[2]


def all_texts(fig) -> list[str]:
    texts = [t.get_text() for t in fig.findobj(Text) if t.get_text().strip()]
    for ax in fig.axes:  # the scale bar builds its label when drawn
        texts += [a.info.scale_text for a in ax.artists if isinstance(a, ScaleBar)]
    return texts


def lab(colour) -> np.ndarray:
    """sRGB (D65) → CIE L*a*b*."""
    rgb = np.array(to_rgb(colour))
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
    xyz = m @ linear / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def swatch_colour(handle) -> tuple[float, float, float]:
    """The colour a legend entry shows: a patch's fill, a line's stroke, a marker's face."""
    if isinstance(handle, Patch):
        assert handle.get_alpha() in (None, 1), "a translucent swatch differs from what the map shows over a fill"
        return to_rgb(handle.get_facecolor())
    assert isinstance(handle, Line2D)
    if handle.get_linestyle() in ("None", "none", ""):
        return to_rgb(handle.get_markerfacecolor())
    return to_rgb(handle.get_color())


def test_the_lab_conversion_matches_the_published_values_for_srgb_primaries():
    np.testing.assert_allclose(lab("#ff0000"), [53.24, 80.09, 67.20], atol=0.05)
    np.testing.assert_allclose(lab("#0000ff"), [32.30, 79.19, -107.86], atol=0.05)
    np.testing.assert_allclose(lab("#ffffff"), [100, 0, 0], atol=0.01)


def test_the_scale_bar_reads_in_公里_and_measures_the_ground(drawn, one_map):
    fig, _ = drawn
    ax = fig.axes[0]
    info = scale_bar(ax).info
    assert re.fullmatch(r"\d+(\.\d+)? 公里", info.scale_text), info.scale_text
    assert info.units == "km"
    centre = np.mean(ax.get_xlim()), np.mean(ax.get_ylim())
    ground = ground_length_m(one_map["districts"].crs, centre, info.length_px)  # length_px is in map units
    assert ground == pytest.approx(info.value * 1000, rel=2e-4)
    assert not data_box(ax, info.window_extent).intersects(city_outline(one_map))


def test_in_web_mercator_the_scale_bar_still_measures_the_ground(base):
    """Pseudo-Mercator stretches Beijing by 1/cos(40°) ≈ 1.3: a bar of map metres would be 30 % long."""
    fig, caption = draw_one_map(base, {}, crs="EPSG:3857")
    try:
        fig.canvas.draw()
        ax = fig.axes[0]
        info = scale_bar(ax).info
        centre = np.mean(ax.get_xlim()), np.mean(ax.get_ylim())
        assert ground_length_m("EPSG:3857", centre, info.length_px) == pytest.approx(info.value * 1000, rel=2e-4)
        assert "EPSG:3857" in caption and "EPSG:4548" not in caption
    finally:
        plt.close(fig)


def north_arrow(ax):
    arrows = [a for a in ax.artists if a.get_gid() == "north-arrow"]
    assert len(arrows) == 1
    return arrows[0]


def test_the_north_arrow_says_北_and_stands_clear_of_the_city(drawn, one_map):
    fig, _ = drawn
    ax = fig.axes[0]
    arrow = north_arrow(ax)
    assert [t.get_text() for t in arrow.findobj(Text)] == ["北"]
    extent = arrow.get_window_extent(fig.canvas.get_renderer())
    assert not data_box(ax, extent).intersects(city_outline(one_map))


def test_the_north_arrow_leans_to_true_north_where_the_grid_does_not_point_there(base):
    """In a transverse Mercator whose central meridian lies 5° east of Beijing, meridians lean east
    going north; the arrowhead's tip must lean the same way."""
    crs = "+proj=tmerc +lat_0=0 +lon_0=121.4 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m +no_defs"
    fig, _ = draw_one_map(base, {}, crs=crs)
    try:
        halves = [p for p in north_arrow(fig.axes[0]).findobj(plt.Polygon)]
        tip = halves[0].get_xy()[0]
        base_mid = (halves[0].get_xy()[1] + halves[1].get_xy()[2]) / 2
        lean = np.degrees(np.arctan2(tip[0] - base_mid[0], tip[1] - base_mid[1]))
        assert 2.0 < lean < 5.0  # convergence ≈ 5° × sin(40°) ≈ 3.2°
    finally:
        plt.close(fig)


def test_all_16_district_names_are_drawn_inside_their_districts_without_overlapping(drawn, one_map):
    fig, _ = drawn
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    districts = one_map["districts"].set_index("district").geometry
    names = [t for t in ax.texts if t.get_text() in districts.index]
    assert sorted(t.get_text() for t in names) == sorted(real_district_names())
    assert len(real_district_names()) == 16
    boxes = []
    for t in names:
        anchor = shapely.Point(t.xy if hasattr(t, "xy") else t.get_position())
        assert districts[t.get_text()].contains(anchor), t.get_text()
        bb = Text.get_window_extent(t, renderer)
        if not hasattr(t, "xy"):  # a name without a leader line lies wholly inside its district
            assert districts[t.get_text()].contains(data_box(ax, bb)), t.get_text()
        boxes.append((t.get_text(), bb))
    overlapping = [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]
    assert overlapping == []
    for t in names:  # legible over the fills: a white halo, or a white box on a leader line
        if hasattr(t, "xy"):
            assert t.get_bbox_patch() is not None and to_rgb(t.get_bbox_patch().get_facecolor()) == (1, 1, 1)
        else:
            assert t.get_path_effects()
    leaders = {t.get_text() for t in names if hasattr(t, "xy")}
    assert {"东城区", "西城区"} <= leaders  # too small at this scale for their names


def test_the_legend_lies_outside_the_map_and_covers_no_district(drawn, one_map):
    fig, _ = drawn
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    assert ax.get_legend() is None and len(fig.legends) == 1
    legend = fig.legends[0].get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))
    for name, geom in one_map["districts"].set_index("district").geometry.items():
        x0, y0, x1, y1 = geom.bounds
        (dx0, dy0), (dx1, dy1) = ax.transData.transform([(x0, y0), (x1, y1)])
        assert not legend.overlaps(type(legend).from_extents(dx0, dy0, dx1, dy1)), name


def test_every_legend_colour_differs_clearly_from_every_other_and_is_the_colour_drawn(drawn):
    fig, _ = drawn
    legend = fig.legends[0]
    labels = [t.get_text().rstrip("＊") for t in legend.get_texts()]
    assert labels == ["核心区", "中心城区", "城市副中心", "平原新城", "生态涵养区",
                      "永久基本农田", "生态保护红线", "城镇开发边界", "区界", "轨道站点"]
    colours = {label: swatch_colour(h) for label, h in zip(labels, legend.legend_handles, strict=True)}
    distances = {(a, b): float(np.linalg.norm(lab(colours[a]) - lab(colours[b])))
                 for a, b in itertools.combinations(colours, 2)}
    too_close = {pair: round(d, 1) for pair, d in distances.items() if d < 15}
    assert too_close == {}
    drawn_colours = set()
    for coll in fig.axes[0].collections:
        for c in [*coll.get_facecolors(), *coll.get_edgecolors()]:
            drawn_colours.add(tuple(np.round(c[:3], 3)))
    missing = [label for label, c in colours.items() if tuple(np.round(c, 3)) not in drawn_colours]
    assert missing == []


def test_synthetic_control_lines_are_marked_in_chinese_on_the_map_and_in_the_caption(drawn):
    fig, caption = drawn
    texts = all_texts(fig)
    assert any(SYNTHETIC_NOTE in t and "永久基本农田" in t and "城镇开发边界" in t for t in texts)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"永久基本农田＊", "生态保护红线＊", "城镇开发边界＊", "核心区", "区界"} <= set(legend)
    assert f"永久基本农田、生态保护红线、城镇开发边界为{SYNTHETIC_NOTE}" in caption


def test_a_map_of_real_layers_only_claims_nothing_synthetic(base):
    fig, caption = draw_one_map(base, dict.fromkeys(base, False))
    try:
        assert not any("示意" in t or "＊" in t for t in all_texts(fig))
        assert "示意" not in caption
    finally:
        plt.close(fig)


def test_the_map_prints_no_latin_words_but_ids(drawn):
    fig, _ = drawn
    words = {w for t in all_texts(fig) for w in re.findall(r"[A-Za-z]+", t)}
    assert words <= {"OpenStreetMap", "EPSG", "CGCS", "E"}, words  # CGCS2000 and EPSG:4548 are ids, °E a unit


def test_the_caption_names_sources_and_the_projection_from_the_data(drawn):
    _, caption = drawn
    assert "行政区界 cnmaps" in caption and "© OpenStreetMap contributors" in caption and "圈层由行政区推导" in caption
    assert "投影：CGCS2000 / 3度带高斯-克吕格 中央经线117°E（EPSG:4548）" in caption


def test_projection_names_are_built_from_the_crs():
    assert projection_name("EPSG:4548") == "CGCS2000 / 3度带高斯-克吕格 中央经线117°E（EPSG:4548）"
    assert projection_name("EPSG:4526") == "CGCS2000 / 3度带高斯-克吕格 第38带 中央经线114°E（EPSG:4526）"
    assert projection_name("EPSG:3857") == "WGS 84 / 伪墨卡托（EPSG:3857）"
    assert projection_name("EPSG:32650") == "WGS 84 / UTM 第50带（北半球） 中央经线117°E（EPSG:32650）"


def test_geographic_layers_are_drawn_in_the_projected_crs_and_refused_without_one(base):
    wgs84 = {k: v.to_crs("EPSG:4326") for k, v in base.items()}
    with pytest.raises(ValueError, match="all geographic"):
        draw_one_map(wgs84, {})
    mixed = {**wgs84, "districts": base["districts"]}  # one projected layer gives the map its CRS
    fig, caption = draw_one_map(mixed, {})
    try:
        fig.canvas.draw()
        ax = fig.axes[0]
        assert "EPSG:4548" in caption
        assert ax.get_xlim()[0] > 1e5  # metres, not degrees
        info = scale_bar(ax).info
        centre = np.mean(ax.get_xlim()), np.mean(ax.get_ylim())
        assert ground_length_m("EPSG:4548", centre, info.length_px) == pytest.approx(info.value * 1000, rel=2e-4)
    finally:
        plt.close(fig)
    no_crs = {"districts": base["districts"].set_crs(None, allow_override=True)}
    with pytest.raises(ValueError, match="'districts' has no CRS"):
        draw_one_map(no_crs, {})


def test_the_same_layers_give_the_same_png_and_the_img_tag_carries_it(one_map):
    png, caption = one_map_figure(one_map, SYNTHETIC)
    assert png.startswith(b"\x89PNG")
    again, _ = one_map_figure(one_map, SYNTHETIC)
    assert again == png
    html, caption_html = one_map_png(one_map, SYNTHETIC)
    assert caption_html == caption
    assert base64.b64decode(re.search(r'base64,([^"]+)"', html).group(1)) == png


class _Registry:
    """A store holding the shipped districts under an official file's name."""

    def __init__(self, districts):
        self.districts = districts

    def layers(self):
        import pandas as pd

        return pd.DataFrame([{"layer_type": "districts", "source": "/data/official/行政区划2023.gpkg",
                              "notes": "区划 2023", "description": "行政区", "synthetic": False}])

    def read_layer(self, layer_type):
        return self.districts.copy()


def test_a_layer_from_another_source_is_not_credited_to_the_shipped_one(base):
    layers, synthetic = map_layers_from_store(_Registry(base["districts"]))
    fig, caption = draw_one_map(layers, synthetic)
    plt.close(fig)
    assert "行政区界（来源：行政区划2023.gpkg）" in caption and "cnmaps" not in caption
