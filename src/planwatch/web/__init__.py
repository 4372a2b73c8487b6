"""planwatch as a web service (``planwatch serve``): the dashboard (seven views, :mod:`.pages`), the
REST API under ``/api`` (documented at ``/api/openapi.json``) and the one map as OGC API – Features
under ``/ogc``. The routes call the service layer and hold no domain logic. Nothing is loaded from
outside the server: no CDN; ECharts and MapLibre are vendored in ``static/vendor``.

Needs the ``web`` extra (FastAPI, uvicorn)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
                               "worker-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
}


def public_default() -> bool:
    """Whether read-only pages are public: yes, unless ``$PLANWATCH_PUBLIC`` is 0/no/false/off."""
    import os

    return os.environ.get("PLANWATCH_PUBLIC", "1").strip().lower() not in ("0", "no", "false", "off")


def create_app(store: str | Path | None = None, plan_id: str | None = None, *, open_store: Callable | None = None,
               public: bool | None = None, tiles: str | None = None):
    """The web app over the store at ``store`` (a GeoPackage path or a PostGIS DSN; default
    ``$PLANWATCH_DB`` or ./planwatch.gpkg), for the plan ``plan_id``. The store must exist: the server
    never creates one. ``open_store`` replaces how the store is opened (tests). ``public``: whether
    the read-only pages and API are served without an account (default :func:`public_default`).
    ``tiles``: an XYZ raster tile URL for the map's basemap (default ``$PLANWATCH_TILES``; none)."""
    import html
    import os

    from fastapi import FastAPI, Request
    from fastapi.exceptions import HTTPException
    from fastapi.responses import HTMLResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles

    from planwatch import __version__
    from planwatch.services import plans
    from planwatch.services.plans import DEFAULT_PLAN
    from planwatch.store import open_store as open_at
    from planwatch.web import api, ogc, pages, session
    from planwatch.web.cache import Recent

    plan = plans.load(plan_id or DEFAULT_PLAN)
    if open_store is None:
        opened = open_at(store, create=False)  # refused now, naming the store, when there is none

        def open_store():
            return opened

    app = FastAPI(title="planwatch", version=__version__, openapi_url="/api/openapi.json", docs_url=None,
                  redoc_url=None,
                  description=f"The API of planwatch for {plan.meta.title} ({plan.meta.title_en}).")

    public = public_default() if public is None else public
    tiles = os.environ.get("PLANWATCH_TILES", "") if tiles is None else tiles
    session.install(app, open_store, public=public)  # inside the headers' middleware: its answers get them too

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith(("/api", "/ogc")):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        text = html.escape(str(exc.detail))
        return HTMLResponse(f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>planwatch</title>'
                            f'<body><h1>{exc.status_code}</h1><p>{text}</p><p><a href="/">总览 / Overview</a></p>',
                            status_code=exc.status_code)

    throttle, checkups = api.Throttle(), Recent(8)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(api.router(open_store, plan, throttle, checkups))
    app.include_router(ogc.router(open_store, plan))
    app.include_router(pages.router(open_store, plan, throttle=throttle, checkups=checkups, tiles=tiles, public=public))
    return app


__all__ = ["SECURITY_HEADERS", "create_app", "public_default"]
