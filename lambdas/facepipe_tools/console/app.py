"""The console's ASGI app: the shell that pages are added to.

``create_app(backend)`` builds it: the layout and its templates (``pages``), the stylesheet
under ``/static``, ``/`` (to People), ``/health``, the error pages, and the walls of
``security`` around every route, pages added later included. A page is a Starlette route
that renders with ``pages.page`` and reaches the data operations with ``pages.backend_of``;
pass them as ``routes``.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from facepipe_tools.console.access import AccessGate
from facepipe_tools.console.backend import ConsoleBackend
from facepipe_tools.console.csrf import CsrfGuard
from facepipe_tools.console.exceptions import ConsoleRefused
from facepipe_tools.console.keys import MIN_TOKEN_LENGTH, Keys
from facepipe_tools.console.pages import STATIC_DIR, make_templates, message
from facepipe_tools.console.security import LoopbackHosts, SecurityHeaders

__all__ = ["HOME", "create_app"]

#: where ``/`` leads
HOME = "/people"


async def home(request: Request) -> Response:
    return RedirectResponse(HOME, status_code=303)


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def http_error(request: Request, exc: Exception) -> Response:
    """404, 405 and every other ``HTTPException`` as a page of the layout."""
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException only
        raise exc
    text = {
        404: f"There is no page at {request.url.path}.",
        405: f"{request.url.path} does not take {request.method} requests.",
    }.get(exc.status_code, str(exc.detail))
    return message(request, exc.status_code, text, headers=exc.headers)


def create_app(backend: ConsoleBackend, *, token: str | None = None, routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The console over ``backend``.

    Without ``token`` it is a loopback console: requests must name a loopback host. With
    ``token`` (at least ``MIN_TOKEN_LENGTH`` characters) every request must present it.
    ``routes`` are the pages, inside the same walls as the shell's own routes.
    """
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConsoleRefused(f"the console's access token must have at least {MIN_TOKEN_LENGTH} characters; it has {len(token)}")
    keys = Keys(token)
    middleware = [
        Middleware(SecurityHeaders, refuse=message),
        Middleware(LoopbackHosts, refuse=message) if token is None else Middleware(AccessGate, keys=keys, refuse=message),
        Middleware(CsrfGuard, keys=keys, refuse=message),
    ]
    shell: list[BaseRoute] = [
        Route("/", home, name="home"),
        Route("/health", health, name="health"),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(debug=False, routes=[*shell, *routes], middleware=middleware, exception_handlers={HTTPException: http_error})
    app.state.backend = backend
    app.state.keys = keys
    app.state.templates = make_templates(keys)
    return app
