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
) -> None:
    """Serve the store: the REST API under /api (documented at /api/openapi.json) and the one map's
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
        web = create_app(db_target(db), plan)
    except (StoreError, ValueError, OSError) as e:
        fail(str(e))
    err.print(f"planwatch: serving on http://{host}:{port}/ (API /api, OGC API – Features /ogc); Ctrl-C stops",
              highlight=False)
    uvicorn.run(web, host=host, port=port, log_level="warning")
