"""Compliance review (合规审查): project and land-supply polygons against the one map.

``review_features`` / ``review_frame`` / ``review_file`` are the review; the overlay underneath is a
:class:`ReviewEngine` chosen by name (``get_engine``): ``geopandas`` (default), ``postgis``, ``dask``,
``duckdb``.
"""

from planwatch.onemap.review.base import DEFAULT_ENGINE, ENGINES, OVERLAP_COLUMNS, ReviewEngine, get_engine

__all__ = ["DEFAULT_ENGINE", "ENGINES", "OVERLAP_COLUMNS", "ReviewEngine", "get_engine"]
