"""Walkable ways from an OpenStreetMap extract (.osm.pbf, .osm, .osm.bz2) with pyosmium.

pyosmium (``pip install osmium``, or ``pip install planwatch[osm]``) is optional: only this module
needs it, and it says so when it is missing. The ways are read with their node locations, kept
when walkable (a ``highway`` tag not in :data:`NOT_WALKABLE`, and no ``foot=no``/``access=no``),
cut to a lon/lat box (the plan area) and transformed to the metric CRS. Junctions are OSM's shared
nodes, so bridges and tunnels stay apart: build the network with ``node_crossings=False``
(:func:`planwatch.indicators.network.network_from_lines`), as :func:`read_osm_network` does.

Data © OpenStreetMap contributors, ODbL 1.0: keep the attribution wherever it is shown.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from planwatch.indicators.network import Network, NetworkError, network_from_lines

NOT_WALKABLE = {
    "motorway", "motorway_link", "trunk_link", "construction", "proposed", "raceway", "bus_guideway",
    "abandoned", "disused", "razed", "escape", "bridleway", "planned", "no",
}
OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz", ".o5m")
OSM_ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0"


def is_osm_file(path: str | Path) -> bool:
    name = str(path).lower()
    return any(name.endswith(s) for s in OSM_SUFFIXES)


def _osmium():
    try:
        import osmium
    except ImportError as e:
        raise NetworkError(
            "reading an OSM extract needs pyosmium, which is not installed: pip install osmium "
            "(or pip install 'planwatch[osm]'); or convert the extract to a GeoPackage of lines first "
            "(ogr2ogr -f GPKG roads.gpkg extract.osm.pbf lines) and use that"
        ) from e
    return osmium


def read_osm_ways(
    path: str | Path, *, crs="EPSG:4548", bounds_wgs84: tuple[float, float, float, float] | None = None
) -> gpd.GeoDataFrame:
    """The walkable ways of an OSM file as lines in ``crs`` (columns ``osm_id``, ``highway``,
    ``name``), cut to ``bounds_wgs84`` (lon_min, lat_min, lon_max, lat_max) if given."""
    path = Path(path)
    if not path.exists():
        raise NetworkError(f"{path}: file not found")
    osmium = _osmium()
    ids, highway, names, lines = [], [], [], []
    try:
        fp = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
        for obj in fp:
            if not obj.is_way():
                continue
            tags = obj.tags
            hw = tags.get("highway")
            if hw is None or hw in NOT_WALKABLE or tags.get("foot") == "no" or tags.get("access") == "no":
                continue
            try:
                coords = [(n.lon, n.lat) for n in obj.nodes]
            except osmium.InvalidLocationError:  # a node outside the extract
                coords = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
            if len(coords) < 2:
                continue
            ids.append(obj.id)
            highway.append(hw)
            names.append(tags.get("name", ""))
            lines.append(coords)
    except RuntimeError as e:  # osmium's own reading errors
        raise NetworkError(f"{path}: cannot be read as an OSM file: {e}") from e
    if not lines:
        raise NetworkError(f"{path}: holds no walkable ways (highway=*)")
    counts = np.fromiter((len(c) for c in lines), dtype=np.int64, count=len(lines))
    flat = np.asarray([xy for c in lines for xy in c], dtype=float)
    geoms = shapely.linestrings(flat, indices=np.repeat(np.arange(len(lines)), counts))
    gdf = gpd.GeoDataFrame({"osm_id": ids, "highway": highway, "name": names}, geometry=list(geoms), crs="EPSG:4326")
    if bounds_wgs84 is not None:
        clipped = shapely.clip_by_rect(gdf.geometry.values, *bounds_wgs84)
        gdf = gdf.set_geometry(gpd.GeoSeries(clipped, index=gdf.index, crs="EPSG:4326"))
        gdf = gdf[~gdf.geometry.is_empty].explode(index_parts=False).reset_index(drop=True)
        gdf = gdf[gdf.geometry.geom_type == "LineString"].reset_index(drop=True)
        if gdf.empty:
            raise NetworkError(f"{path}: no walkable way lies inside lon {bounds_wgs84[0]}–{bounds_wgs84[2]}, "
                               f"lat {bounds_wgs84[1]}–{bounds_wgs84[3]}")
    return gdf.to_crs(crs)


def read_osm_network(path: str | Path, *, crs="EPSG:4548", bounds_wgs84=None) -> Network:
    """A walking network from an OSM file: junctions at shared OSM nodes only."""
    return network_from_lines(read_osm_ways(path, crs=crs, bounds_wgs84=bounds_wgs84), node_crossings=False, name=str(path))
