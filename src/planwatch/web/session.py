"""Browser sessions, CSRF and the public switch, as one middleware in front of every route.

- A browser session is an API token (one day) in the HttpOnly, SameSite=Strict cookie
  ``pw_session``; the API sees it as ``Authorization: Bearer …``, so the API's own checks apply.
- CSRF (double submit): every response carries a random ``pw_csrf`` cookie; a write made with the
  session cookie must send the same value in the ``X-CSRF-Token`` header (the pages' scripts do), or,
  for the login and logout forms, in the form's ``csrf`` field. A request with an
  ``Authorization`` header of its own (an API client) carries no cookie authority and needs none.
- ``public=False`` (``planwatch serve --private`` or ``PLANWATCH_PUBLIC=0``): nothing but the login
  page, the static files and the OpenAPI document is served without an account."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from urllib.parse import quote

SESSION_COOKIE, CSRF_COOKIE, LANG_COOKIE = "pw_session", "pw_csrf", "pw_lang"
CSRF_HEADER = "x-csrf-token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
FORM_PATHS = {"/login", "/logout"}  # their form carries the token; the route checks it
OPEN_PATHS = ("/login", "/static/", "/api/login", "/api/openapi.json")


class CsrfError(Exception):
    """A write with the session cookie but without the matching CSRF token."""


def same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def require_form_csrf(request, value: str) -> None:
    """Refuse (403) a form whose ``csrf`` field is not this browser's CSRF cookie."""
    from fastapi import HTTPException

    if not same(value, request.cookies.get(CSRF_COOKIE, "")):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")


def install(app, open_store: Callable, *, public: bool = True) -> None:
    """Add the middleware to ``app``."""
    from fastapi import Request
    from fastapi.responses import JSONResponse, RedirectResponse

    from planwatch.services import users

    @app.middleware("http")
    async def sessions(request: Request, call_next):
        csrf = request.cookies.get(CSRF_COOKIE, "")
        fresh = not csrf or len(csrf) > 100
        if fresh:
            csrf = secrets.token_urlsafe(32)
        request.state.csrf = csrf
        path = request.url.path
        token = request.cookies.get(SESSION_COOKIE, "")
        has_header = "authorization" in request.headers
        if token and not has_header:
            if request.method in UNSAFE and path not in FORM_PATHS and \
                    not same(request.headers.get(CSRF_HEADER, ""), request.cookies.get(CSRF_COOKIE, "")):
                return JSONResponse({"detail": "CSRF token missing or wrong: send the X-CSRF-Token header "
                                               "(the pw_csrf cookie's value); nothing was written"}, status_code=403)
            request.scope["headers"] = [*request.scope["headers"], (b"authorization", f"Bearer {token}".encode())]
        if not public and not path.startswith(OPEN_PATHS):
            header = request.headers.get("authorization", "") if has_header else f"Bearer {token}"
            scheme, _, bearer = header.partition(" ")
            who = users.user_for_token(open_store, bearer.strip()) if scheme.lower() == "bearer" and bearer.strip() \
                else None
            if who is None:
                if path.startswith(("/api", "/ogc")):
                    return JSONResponse({"detail": "this server is not public: log in, or send an API token "
                                                   "(Authorization: Bearer …)"}, status_code=401)
                return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
        response = await call_next(request)
        if fresh:
            response.set_cookie(CSRF_COOKIE, csrf, samesite="strict", path="/", httponly=False)
        return response


__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "LANG_COOKIE", "SESSION_COOKIE", "install", "require_form_csrf", "same"]
