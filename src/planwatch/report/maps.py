"""The report's map of the one map: 圈层, districts and rail stations (real), and the plan's control
lines when the store holds them (marked 示意数据（非官方） when synthetic).

A map a planning bureau can print: a scale bar in 公里 and a north arrow (both computed from the
layers' projected CRS), the district names inside their districts, and the legend below the map
frame so that it covers no part of the city. Every legend colour differs from every other by a CIE76
ΔE of 15 or more (tests/test_report_map.py checks it).

One PNG, deterministic (same layers → same bytes): thousands of polygons as vectors make
WeasyPrint's PDF huge and slow, and a map reads as well at 150 dpi.
"""

from __future__ import annotations

import base64
import io
import math
import re
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import shapely
import shapely.ops
import shapely.plotting

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.offsetbox import AnchoredOffsetbox, DrawingArea, TextArea, VPacker  # noqa: E402
from matplotlib.patches import Patch, Polygon  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib_scalebar.scalebar import ScaleBar  # noqa: E402
from pyproj import CRS, Transformer  # noqa: E402

from planwatch.onemap.colours import (  # noqa: E402
    CONTROL_LINES,
    DISTRICT_LABEL,
    DISTRICT_LINE,
    RING_COLOURS,
    RING_ORDER,
    STATION_COLOUR,
    STATION_LABEL,
)
from planwatch.report.charts import _rc, cjk_font_family  # noqa: E402

# The colours live in planwatch.onemap.colours: the QGIS default styles (planwatch.onemap.styles) read
# the same table, so the report map and QGIS never disagree.
LABEL_COLOUR = "#212121"
MAP_DPI = 150
MAP_WIDTH_IN = 7.0  # the map frame; the figure adds a margin and the legend band below
LEGEND_BAND_IN = 1.2
MARGIN_IN = 0.1
EXTENT_PAD = 0.03  # share of the city's extent left around it inside the frame
SYNTHETIC_NOTE = "示意数据（非官方）"
SYNTHETIC_MARK = "＊"
UNIT_NAMES = {"km": "公里", "m": "米"}  # matplotlib-scalebar's units as the map prints them
HALO = [patheffects.withStroke(linewidth=2.4, foreground="white")]
NAME_SIZES = (7.5, 6.5)  # district names: tried in turn inside the district
LEADER_RADII = (34, 46, 60, 76)  # points from the district to its name on a leader line
LEADER_SIZE = 6.5  # names that fit nowhere inside their district sit beside it on a leader line


PROJECTION_METHODS = {  # pyproj's method names, in the words Chinese maps use
    "Transverse Mercator": "横轴墨卡托",
    "Popular Visualisation Pseudo Mercator": "伪墨卡托",
    "Mercator (variant A)": "墨卡托",
    "Mercator (variant B)": "墨卡托",
    "Lambert Conic Conformal (1SP)": "兰伯特等角圆锥",
    "Lambert Conic Conformal (2SP)": "兰伯特等角圆锥",
    "Albers Equal Area": "阿尔伯斯等积圆锥",
}


def projection_name(crs) -> str:
    """The projection as the caption names it, built from the CRS itself (pyproj), e.g.
    ``CGCS2000 / 3度带高斯-克吕格 中央经线117°E（EPSG:4548）``. A projection this function has no
    Chinese words for keeps pyproj's own name."""
    crs = CRS.from_user_input(crs)
    name = crs.name
    datum = name.split(" / ")[0] if " / " in name else (crs.geodetic_crs.name if crs.geodetic_crs else name)
    op = crs.coordinate_operation
    params = {p.name: p.value for p in op.params} if op is not None else {}
    meridian = params.get("Longitude of natural origin")
    cm = "" if meridian is None else f" 中央经线{abs(meridian):g}°{'E' if meridian >= 0 else 'W'}"
    method = op.method_name if op is not None else ""
    band = re.search(r"(\d+)-degree Gauss-Kruger", name)
    utm = re.search(r"UTM zone (\d+)([NS])", name)
    if band:
        zone = re.search(r"zone (\d+)", name)
        text = f"{datum} / {band.group(1)}度带高斯-克吕格" + (f" 第{zone.group(1)}带" if zone else "") + cm
    elif utm:
        text = f"{datum} / UTM 第{utm.group(1)}带（{'北' if utm.group(2) == 'N' else '南'}半球）" + cm
    elif method in PROJECTION_METHODS:
        text = f"{datum} / {PROJECTION_METHODS[method]}" + (cm if method == "Transverse Mercator" else "")
    else:
        text = name
    authority = crs.to_authority()
    return text + (f"（{authority[0]}:{authority[1]}）" if authority else "")


def one_map_png(
    layers: dict[str, gpd.GeoDataFrame], synthetic: dict[str, bool], *, crs=None
) -> tuple[str, str]:
    """The map as ``(html, caption)``: an ``<img>`` with the PNG inline (a data: URI) and the caption
    of :func:`one_map_figure`."""
    png, caption = one_map_figure(layers, synthetic, crs=crs)
    return f'<img alt="规划一张图" src="data:image/png;base64,{base64.b64encode(png).decode()}">', caption


def one_map_figure(
    layers: dict[str, gpd.GeoDataFrame], synthetic: dict[str, bool], *, crs=None
) -> tuple[bytes, str]:
    """The map as ``(png_bytes, caption)``, for documents that embed the image themselves (DOCX).

    The same layers give the same bytes. See :func:`draw_one_map` for what the layers may be."""
    with plt.rc_context(_rc()):
        fig, caption = draw_one_map(layers, synthetic, crs=crs)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=MAP_DPI, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.08)
        plt.close(fig)
    return buf.getvalue(), caption


def draw_one_map(
    layers: dict[str, gpd.GeoDataFrame], synthetic: dict[str, bool], *, crs=None
) -> tuple[Figure, str]:
    """Draw the layers present among ``rings`` (attribute ``ring``), ``districts`` (attribute
    ``district``), ``rail_stations`` and the control lines of :data:`CONTROL_LINES`.

    ``synthetic`` says which layer types are synthetic: they are marked 示意数据（非官方） in the
    legend and in the caption. The map is drawn in ``crs`` (a projected CRS), by default in the first
    projected CRS among the layers (the plan's metric CRS, as the store holds them); a geographic
    layer is transformed to it, and a layer without a CRS is refused. Returns the open figure (the
    caller closes it) and the caption: sources, the projection, and which layers are synthetic.
    """
    layers, crs = _in_map_crs(layers, crs)
    city = layers.get("districts")
    frame_geoms = city if city is not None and len(city) else gpd.GeoDataFrame(
        geometry=[g for gdf in layers.values() for g in gdf.geometry], crs=crs
    )
    xmin, ymin, xmax, ymax = frame_geoms.total_bounds
    pad = EXTENT_PAD * max(xmax - xmin, ymax - ymin)
    xmin, ymin, xmax, ymax = xmin - pad, ymin - pad, xmax + pad, ymax + pad
    map_h = MAP_WIDTH_IN * (ymax - ymin) / (xmax - xmin)
    fig_w, fig_h = MAP_WIDTH_IN + 2 * MARGIN_IN, map_h + LEGEND_BAND_IN + 2 * MARGIN_IN

    with plt.rc_context(_rc()):
        fig = plt.figure(figsize=(fig_w, fig_h))
        ax = fig.add_axes((MARGIN_IN / fig_w, (MARGIN_IN + LEGEND_BAND_IN) / fig_h, MAP_WIDTH_IN / fig_w, map_h / fig_h))
        ax.set_xlim(xmin, xmax)
        ax.set_ylim(ymin, ymax)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():  # the map frame (图廓)
            spine.set_visible(True)
            spine.set_color("#333333")
            spine.set_linewidth(0.8)

        def mark(layer_type: str, label: str) -> str:
            return label + SYNTHETIC_MARK if synthetic.get(layer_type) else label

        handles = []
        rings = layers.get("rings")
        if rings is not None and "ring" in rings:
            for name in RING_ORDER:
                part = rings[rings["ring"] == name]
                if len(part):
                    _add_polygons(ax, part, facecolor=RING_COLOURS[name], zorder=1)
            handles += [
                Patch(facecolor=RING_COLOURS[n], edgecolor="none", label=mark("rings", n))
                for n in RING_COLOURS  # the plan's order, core outwards
                if (rings["ring"] == n).any()
            ]
        for lt, (label, colour, style) in CONTROL_LINES.items():
            g = layers.get(lt)
            if g is None or g.empty:
                continue
            if style == "fill":
                _add_polygons(ax, g, facecolor=colour, zorder=2)
                handles.append(Patch(facecolor=colour, edgecolor="none", label=mark(lt, label)))
            else:
                _add_polygons(ax, g, edgecolor=colour, linewidth=1.0, zorder=3)
                handles.append(Line2D([], [], color=colour, linewidth=1.4, label=mark(lt, label)))
        if city is not None and len(city):
            _add_polygons(ax, city, edgecolor=DISTRICT_LINE, linewidth=0.6, zorder=4)
            handles.append(Line2D([], [], color=DISTRICT_LINE, linewidth=1.0, label=mark("districts", DISTRICT_LABEL)))
        stations = layers.get("rail_stations")
        if stations is not None and len(stations):
            ax.scatter(stations.geometry.x, stations.geometry.y, s=2.5, color=STATION_COLOUR, linewidths=0, zorder=5)
            handles.append(
                Line2D([], [], linestyle="none", marker="o", markersize=3.5, markerfacecolor=STATION_COLOUR,
                       markeredgecolor="none", label=mark("rail_stations", STATION_LABEL))
            )

        outline = shapely.union_all(city.geometry.values) if city is not None and len(city) else None
        upper, lower = _free_corners(outline, (xmin, ymin, xmax, ymax))
        north_deg, metres_per_unit = _north_and_scale(crs, ((xmin + xmax) / 2, (ymin + ymax) / 2))
        _north_arrow(ax, upper, north_deg)
        ax.add_artist(
            ScaleBar(
                metres_per_unit, units="m", dimension="si-length", location=lower, length_fraction=0.22,
                width_fraction=0.007, scale_loc="top", frameon=False, color=LABEL_COLOUR,
                font_properties={"family": cjk_font_family(), "size": 7.5},
                scale_formatter=lambda value, unit: f"{value:g} {UNIT_NAMES.get(unit, unit)}",
            )
        )
        if city is not None and "district" in city:
            _district_names(fig, ax, city)

        legend = fig.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(MARGIN_IN / fig_w, LEGEND_BAND_IN / fig_h), ncol=4,
            fontsize=7.5, title="图例", title_fontsize=8, alignment="left", frameon=False,
            handlelength=1.6, columnspacing=1.6, borderaxespad=0.2,
        )
        notes = []
        synthetic_labels = _synthetic_labels(layers, synthetic)
        if synthetic_labels:
            notes.append(f"{SYNTHETIC_MARK} {SYNTHETIC_NOTE}：{'、'.join(synthetic_labels)}为演示图层，非规划正式成果")
        notes.append(f"投影：{projection_name(crs)}；比例尺按图幅中心计")
        below = legend.get_window_extent(fig.canvas.get_renderer())
        fig.text(MARGIN_IN / fig_w + 0.005, (below.y0 - 4) / (fig_h * fig.dpi), "\n".join(notes), fontsize=7,
                 va="top", ha="left", color=LABEL_COLOUR, linespacing=1.5)

    return fig, _caption(layers, synthetic, crs)


def _in_map_crs(layers: dict[str, gpd.GeoDataFrame], crs) -> tuple[dict[str, gpd.GeoDataFrame], CRS]:
    """The layers in one projected CRS (``crs``, or the first projected one among them)."""
    for name, g in layers.items():
        if g.crs is None:
            raise ValueError(f"map layer {name!r} has no CRS: set it (e.g. the file's .prj) before drawing the map")
    if not layers:
        raise ValueError("no map layers to draw")
    if crs is None:
        crs = next((g.crs for g in layers.values() if CRS.from_user_input(g.crs).is_projected), None)
        if crs is None:
            raise ValueError(
                f"map layers {sorted(layers)} are all geographic (degrees): pass crs= the plan's metric CRS"
            )
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise ValueError(f"the map must be drawn in a projected CRS, not {crs.name}")
    out = {}
    for name, g in layers.items():
        g = g[~shapely.is_missing(g.geometry.values) & ~g.geometry.is_empty]
        moved = g if CRS.from_user_input(g.crs) == crs else g.to_crs(crs)
        moved.attrs = dict(g.attrs)  # provenance (see map_layers_from_store) travels with the layer
        out[name] = moved
    return out, crs


def _add_polygons(ax, gdf: gpd.GeoDataFrame, *, facecolor="none", edgecolor="none", linewidth=0.0, zorder=1):
    """The (multi)polygons of ``gdf`` as one collection: filled, or stroked along their rings.

    (Not ``GeoDataFrame.plot``: it redraws the whole figure after every layer.)"""
    polygons = [g for g in gdf.geometry if g.geom_type in ("Polygon", "MultiPolygon")]
    paths = [shapely.plotting.patch_from_polygon(g).get_path() for g in polygons]
    ax.add_collection(
        PathCollection(paths, facecolors=facecolor, edgecolors=edgecolor, linewidths=linewidth, zorder=zorder),
        autolim=False,
    )


def _north_and_scale(crs: CRS, centre_xy: tuple[float, float]) -> tuple[float, float]:
    """At the map centre: the angle of true north from the frame's up (degrees, counter-clockwise),
    and the ground metres one map unit spans east–west, measured as a geodesic on the CRS's ellipsoid
    (so the scale bar is true in any projection, Web Mercator included)."""
    to_lonlat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    to_xy = Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
    cx, cy = centre_xy
    lon, lat = to_lonlat.transform(cx, cy)
    (x0, x1), (y0, y1) = to_xy.transform([lon, lon], [lat, lat + 0.01])
    north_deg = math.degrees(math.atan2(-(x1 - x0), y1 - y0))
    step = math.hypot(x1 - x0, y1 - y0)  # ≈ 1 km in map units: short enough to be straight
    (lon0, lon1), (lat0, lat1) = to_lonlat.transform([cx - step / 2, cx + step / 2], [cy, cy])
    ground_m = crs.get_geod().inv(lon0, lat0, lon1, lat1)[2]
    return north_deg, ground_m / step


def _free_corners(outline, extent) -> tuple[str, str]:
    """The upper and the lower corner of the frame where the city leaves the most room (for the
    north arrow and the scale bar)."""
    xmin, ymin, xmax, ymax = extent
    w, h = 0.25 * (xmax - xmin), 0.2 * (ymax - ymin)
    boxes = {
        "upper left": shapely.box(xmin, ymax - h, xmin + w, ymax),
        "upper right": shapely.box(xmax - w, ymax - h, xmax, ymax),
        "lower left": shapely.box(xmin, ymin, xmin + w, ymin + h),
        "lower right": shapely.box(xmax - w, ymin, xmax, ymin + h),
    }
    if outline is None:
        return "upper left", "lower right"
    cover = {k: b.intersection(outline).area for k, b in boxes.items()}
    upper = min(("upper left", "upper right"), key=lambda k: cover[k])
    lower = min(("lower right", "lower left"), key=lambda k: cover[k])
    return upper, lower


def _north_arrow(ax, loc: str, north_deg: float) -> None:
    """指北针: a half-filled arrowhead under 北, turned to true north at the map centre."""
    w, h = 12.0, 22.0
    area = DrawingArea(w, h, 0, 0)
    c = np.radians(north_deg)
    rot = np.array([[np.cos(c), -np.sin(c)], [np.sin(c), np.cos(c)]])

    def turned(points):
        p = np.asarray(points, float) - (w / 2, h / 2)
        return p @ rot.T + (w / 2, h / 2)

    tip, left, notch, right = (w / 2, h), (0, 0), (w / 2, h * 0.3), (w, 0)
    area.add_artist(Polygon(turned([tip, left, notch]), closed=True, facecolor=LABEL_COLOUR, edgecolor=LABEL_COLOUR, lw=0.6))
    area.add_artist(Polygon(turned([tip, notch, right]), closed=True, facecolor="white", edgecolor=LABEL_COLOUR, lw=0.6))
    label = TextArea("北", textprops={"fontsize": 9, "color": LABEL_COLOUR, "fontweight": "bold"})
    box = AnchoredOffsetbox(loc=loc, child=VPacker(children=[label, area], align="center", pad=0, sep=2),
                            frameon=False, pad=0.2, borderpad=0.8)
    box.set_gid("north-arrow")
    ax.add_artist(box)


def _label_point(geom) -> shapely.Point:
    """Inside the district's largest part, as far from its edges as possible."""
    parts = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    largest = max(parts, key=lambda p: p.area)
    return shapely.ops.polylabel(largest, tolerance=max(largest.length / 2000, 1.0))


def _data_box(ax, bbox, pad_px: float = 0.0):
    (x0, y0), (x1, y1) = ax.transData.inverted().transform(
        [(bbox.x0 - pad_px, bbox.y0 - pad_px), (bbox.x1 + pad_px, bbox.y1 + pad_px)]
    )
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _district_names(fig, ax, districts: gpd.GeoDataFrame) -> None:
    """Each district's name inside it, with a white halo; a name that fits nowhere inside its
    district (东城区, 西城区 at this scale) goes beside it in a white box on a leader line, placed
    where it overlaps no other name, the north arrow or the scale bar."""
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()  # the corner artists' extents
    taken = [a.get_window_extent(renderer).padded(2) for a in ax.artists]
    frame = ax.get_window_extent(renderer)
    order = sorted(districts.itertuples(), key=lambda r: (-r.geometry.area, r.district))
    beside = []
    for row in order:
        anchor = _label_point(row.geometry)
        for size in NAME_SIZES:
            t = ax.text(anchor.x, anchor.y, row.district, fontsize=size, ha="center", va="center",
                        color=LABEL_COLOUR, path_effects=HALO, zorder=6)
            bb = t.get_window_extent(renderer)
            if row.geometry.contains(_data_box(ax, bb, 1.5)) and not any(bb.overlaps(o) for o in taken):
                taken.append(bb.padded(2))
                break
            t.remove()
        else:
            beside.append((row.district, anchor))
    if not beside:
        return
    anchors = np.array([(p.x, p.y) for _, p in beside])
    for i, (name, anchor) in enumerate(beside):
        # Away from the nearest other name on a leader (东城区 east, 西城区 west), else from the map centre.
        others = np.delete(anchors, i, axis=0)
        if len(others):
            source = others[np.argmin(np.hypot(*(others - anchors[i]).T))]
        else:
            source = np.array([np.mean(ax.get_xlim()), np.mean(ax.get_ylim())])
        away = anchors[i] - source
        start = math.atan2(away[1], away[0]) if np.hypot(*away) > 0 else 0.0
        candidates = [
            (radius * math.cos(start + math.radians(turn)), radius * math.sin(start + math.radians(turn)))
            for radius in LEADER_RADII
            for turn in (0, 30, -30, 60, -60, 90, -90, 135, -135, 180)
        ]
        choice = None
        for offset in candidates:
            ann = _leader_label(ax, name, anchor, offset)
            bb = Text.get_window_extent(ann, renderer).padded(3)
            inside = frame.x0 < bb.x0 and bb.x1 < frame.x1 and frame.y0 < bb.y0 and bb.y1 < frame.y1
            if inside and not any(bb.overlaps(o) for o in taken):
                choice = bb
                break
            ann.remove()
        if choice is None:  # nowhere free: keep the first candidate rather than drop the name
            choice = Text.get_window_extent(_leader_label(ax, name, anchor, candidates[0]), renderer).padded(3)
        taken.append(choice)


def _leader_label(ax, name: str, anchor: shapely.Point, offset: tuple[float, float]):
    return ax.annotate(
        name, xy=(anchor.x, anchor.y), xytext=offset, textcoords="offset points", ha="center", va="center",
        fontsize=LEADER_SIZE, color=LABEL_COLOUR, zorder=7,
        bbox={"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": DISTRICT_LINE, "lw": 0.4},
        arrowprops={"arrowstyle": "-", "lw": 0.5, "color": LABEL_COLOUR, "shrinkA": 0, "shrinkB": 0},
    )


LAYER_NAMES = {"rings": "圈层", "districts": "区界", "rail_stations": "轨道站点",
               **{lt: label for lt, (label, _, _) in CONTROL_LINES.items()}}


CAPTION_NAMES = {"districts": "行政区界", "rail_stations": "轨道站点", "rings": "圈层"}


def _synthetic_labels(layers, synthetic) -> list[str]:
    return [LAYER_NAMES[lt] for lt in LAYER_NAMES if lt in layers and synthetic.get(lt)]


def _provenance(gdf: gpd.GeoDataFrame) -> str | None:
    return gdf.attrs.get("provenance")


def _caption(layers, synthetic, crs: CRS) -> str:
    """Sources of the layers drawn, the projection, and the synthetic layers.

    The shipped base layers' attributions are used for a layer whose provenance (set by
    :func:`map_layers_from_store` from the layer registry) names that source, or that carries no
    provenance at all (layers passed in directly, e.g. ``read_base_layers``); any other layer is
    named by its source file."""
    shipped = {
        "districts": ("cnmaps", "行政区界 cnmaps（BSD-3/MIT）"),
        "rail_stations": ("OpenStreetMap", "轨道站点 © OpenStreetMap contributors（ODbL）"),
        "rings": ("planwatch.onemap.rings", "圈层由行政区推导（近似，推导方法见规划包的图层来源说明）"),
    }
    parts = []
    for lt, (marker, text) in shipped.items():
        if lt not in layers or synthetic.get(lt):
            continue
        prov = _provenance(layers[lt])
        if prov is None or marker in prov:
            parts.append(text)
        else:
            source = layers[lt].attrs.get("source") or "未注明"
            parts.append(f"{CAPTION_NAMES[lt]}（来源：{Path(str(source)).name}）")
    caption = ("底图：" + "；".join(parts) + "。") if parts else ""
    synthetic_labels = _synthetic_labels(layers, synthetic)
    if synthetic_labels:
        caption += f"{'、'.join(synthetic_labels)}为{SYNTHETIC_NOTE}，图中以{SYNTHETIC_MARK}标注。"
    drawn_real_controls = [CONTROL_LINES[lt][0] for lt in CONTROL_LINES if lt in layers and not synthetic.get(lt)]
    if drawn_real_controls:
        caption += f"控制线：{'、'.join(drawn_real_controls)}。"
    caption += f"投影：{projection_name(crs)}。"
    return caption


def map_layers_from_store(store) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, bool]]:
    """The map's layers from a store (those it holds), and which of them are synthetic. Each layer's
    registered source and notes ride along in ``attrs`` (``source``, ``provenance``) for the caption."""
    wanted = ["rings", "districts", "rail_stations", *CONTROL_LINES]
    try:
        registry = store.layers().set_index("layer_type")
    except (AttributeError, KeyError):
        return {}, {}
    layers, synthetic = {}, {}
    for lt in wanted:
        if lt in registry.index:
            gdf = store.read_layer(lt)
            entry = registry.loc[lt]
            gdf.attrs["source"] = str(entry.get("source", "") or "")
            gdf.attrs["provenance"] = " ".join(str(entry.get(k, "") or "") for k in ("source", "notes", "description"))
            layers[lt] = gdf
            synthetic[lt] = bool(entry["synthetic"])
    return layers, synthetic
