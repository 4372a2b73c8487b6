"""The spatial indicators (capability 9): land statistics and accessibility, computed from the one map.

- :mod:`~planwatch.indicators.compute`: the plan's spatial indicators (indicators.yaml) by city,
  district and 圈层, and the land statistics;
- :mod:`~planwatch.indicators.network`: a network from road lines (nodes, edges, a scipy CSR graph)
  and snapping points to it;
- :mod:`~planwatch.indicators.routing`: multi-source Dijkstra to the nearest destination;
- :mod:`~planwatch.indicators.coverage`: per-origin distance, covered flag and weighted shares by city,
  district and 圈层, straight-line or over the network; the area of a region within a distance;
- :mod:`~planwatch.indicators.osm`: walkable ways from an OSM extract (optional pyosmium);
- :mod:`~planwatch.indicators.scale`: the Dask engine of the area overlays and the straight-line
  coverage (``--engine dask``, on threads or a cluster: ``--scheduler``);
(the synthetic street grid of the demo, the tests and the benchmark is :mod:`planwatch.demo.streets`).
"""

from planwatch.indicators.coverage import (
    CoverageInputError,
    CoverageResult,
    area_within_distance,
    coverage,
    parse_distance,
)
from planwatch.indicators.network import (
    Network,
    NetworkError,
    network_from_edges,
    network_from_lines,
    snap_points,
)
from planwatch.indicators.routing import nearest_destination_distance, node_distances

__all__ = [
    "CoverageInputError",
    "CoverageResult",
    "Network",
    "NetworkError",
    "area_within_distance",
    "coverage",
    "nearest_destination_distance",
    "network_from_edges",
    "network_from_lines",
    "node_distances",
    "parse_distance",
    "snap_points",
]
