"""``planwatch serve``: the REST API and the one map as OGC API – Features, over a store."""

from __future__ import annotations

from typing import Annotated

import typer

from planwatch.cli.common import DbOpt, PlanOpt, app, db_target, err, fail
from planwatch.services.plans import DEFAULT_PLAN


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="the address to listen on (default: this machine only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="the port to listen on", min=1, max=65535)] = 8000,
    db: DbOpt = None,
    plan: PlanOpt = DEFAULT_PLAN,
    private: Annotated[bool, typer.Option("--private", help="serve nothing without an account: no public read-only "
                                                           "pages or API (also PLANWATCH_PUBLIC=0)")] = False,
    tiles: Annotated[str | None, typer.Option("--tiles", help="an XYZ raster tile URL for the map's basemap, e.g. an "
                                                              "intranet tile server (also PLANWATCH_TILES); default: none")] = None,
) -> None:
    """Serve the store: the dashboard at / (Chinese; ?lang=en for English), the REST API under /api (documented at /api/openapi.json) and the one map's
    layers as OGC API – Features under /ogc (QGIS: Layer → Add WFS / OGC API – Features layer). The
    store must exist; the server loads nothing from outside itself."""
    from planwatch.extras import MissingExtraError, require
    from planwatch.store import StoreError

    try:
        uvicorn = require("web", "planwatch serve")[1]
    except MissingExtraError as e:
        fail(str(e))
    from planwatch.web import create_app

    try:
        web = create_app(db_target(db), plan, public=False if private else None, tiles=tiles)
    except (StoreError, ValueError, OSError) as e:
        fail(str(e))
    err.print(f"planwatch: serving on http://{host}:{port}/ (dashboard /, API /api, OGC API – Features /ogc"
              f"{'; accounts only' if private else ''}); Ctrl-C stops", highlight=False)
    uvicorn.run(web, host=host, port=port, log_level="warning")
