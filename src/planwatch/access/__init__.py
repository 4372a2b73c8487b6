"""Accessibility: walking networks, shortest distances and coverage (capability 9).

- :mod:`~planwatch.access.network`: a network from road lines (nodes, edges, a scipy CSR graph)
  and snapping points to it;
- :mod:`~planwatch.access.routing`: multi-source Dijkstra to the nearest destination;
- :mod:`~planwatch.access.coverage`: per-origin distance, covered flag and weighted shares by city,
  district and 圈层, straight-line or over the network; the area of a region within a distance;
- :mod:`~planwatch.access.osm`: walkable ways from an OSM extract (optional pyosmium);
- :mod:`~planwatch.access.synthetic`: the deterministic synthetic street grid of the demo, the
  tests and the benchmark.
"""

from planwatch.access.coverage import (
    CoverageInputError,
    CoverageResult,
    area_within_distance,
    coverage,
    parse_distance,
)
from planwatch.access.network import (
    Network,
    NetworkError,
    network_from_edges,
    network_from_lines,
    snap_points,
)
from planwatch.access.routing import nearest_destination_distance, node_distances

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
