"""planwatch's optional parts and the extra that installs each: a verb that needs one says which
``pip install 'planwatch[EXTRA]'`` to run, instead of failing on an import.

- ``server``: the PostGIS store and review engine (psycopg 3);
- ``scale``: the Dask engines and a cluster to run them on (dask-geopandas, distributed);
- ``duckdb``: the DuckDB review engine (duckdb and its spatial extension, shipped as a wheel);
- ``web``: ``planwatch serve``, the REST API and OGC API – Features (FastAPI, uvicorn).
"""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {
    "server": ("psycopg",),
    "scale": ("dask", "dask_geopandas", "distributed"),
    "duckdb": ("duckdb", "duckdb_extension_spatial"),
    "web": ("fastapi", "uvicorn", "argon2", "multipart", "jinja2"),
}


class MissingExtraError(ImportError):
    """An optional part is not installed; the message names the extra that installs it."""


def require(extra: str, what: str) -> list[ModuleType]:
    """Import the modules of ``extra`` (one of :data:`EXTRAS`), or raise :class:`MissingExtraError`
    saying that ``what`` needs it and how to install it."""
    modules = []
    for name in EXTRAS[extra]:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as e:
            raise MissingExtraError(
                f"{what} needs the optional part '{extra}' ({name} is not installed): "
                f"pip install 'planwatch[{extra}]'"
            ) from e
    return modules
