"""planwatch as a web service (``planwatch serve``): the REST API under ``/api`` (documented at
``/api/openapi.json``) and the one map as OGC API – Features under ``/ogc``. The routes call the
service layer and hold no domain logic. Nothing is loaded from outside the server: no CDN.

Needs the ``web`` extra (FastAPI, uvicorn)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}


def create_app(store: str | Path | None = None, plan_id: str | None = None, *, open_store: Callable | None = None):
    """The web app over the store at ``store`` (a GeoPackage path or a PostGIS DSN; default
    ``$PLANWATCH_DB`` or ./planwatch.gpkg), for the plan ``plan_id``. The store must exist: the server
    never creates one. ``open_store`` replaces how the store is opened (tests)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import HTTPException
    from fastapi.responses import JSONResponse

    from planwatch import __version__
    from planwatch.services import plans
    from planwatch.services.plans import DEFAULT_PLAN
    from planwatch.store import open_store as open_at
    from planwatch.web import api, ogc

    plan = plans.load(plan_id or DEFAULT_PLAN)
    if open_store is None:
        opened = open_at(store, create=False)  # refused now, naming the store, when there is none

        def open_store():
            return opened

    app = FastAPI(title="planwatch", version=__version__, openapi_url="/api/openapi.json", docs_url=None,
                  redoc_url=None,
                  description=f"The API of planwatch for {plan.meta.title} ({plan.meta.title_en}).")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    app.include_router(api.router(open_store, plan))
    app.include_router(ogc.router(open_store, plan))
    return app


__all__ = ["SECURITY_HEADERS", "create_app"]
