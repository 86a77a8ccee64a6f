"""How the console renders: its templates, the layout's navigation, message and confirmation pages.

A page route renders with ``page(request, "name.html", {...})``; every template extends
``base.html`` (the layout: navigation, stylesheet, the CSRF token in a ``<meta>`` for scripts)
and sees, besides its own context:

* ``csrf_field``: the hidden input a ``<form method="post">`` carries (one line: ``{{ csrf_field }}``),
  ``csrf_token``: the token itself (for the ``X-CSRF-Token`` header of a ``fetch``);
* ``csp_nonce``: the nonce an inline ``<script nonce="{{ csp_nonce }}">`` needs to run;
* ``navigation``: ``(label, path, current)`` for each section.

Autoescaping is on for every template: a value is text unless a template marks it safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from facepipe_tools.console.security import CSP_NONCE, CSRF_FIELD, CSRF_NONCE, Keys

if TYPE_CHECKING:
    from facepipe_tools.console.backend import ConsoleBackend

__all__ = ["NAVIGATION", "STATIC_DIR", "TEMPLATES_DIR", "backend_of", "confirm", "make_templates", "message", "page"]

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
#: the layout's sections, (label, path); a page belongs to the section its path starts with
NAVIGATION = (("People", "/people"), ("Review", "/review"), ("Activity", "/activity"))


def _in_section(path: str, section: str) -> bool:
    return path == section or path.startswith(section.rstrip("/") + "/")


def make_templates(keys: Keys) -> Jinja2Templates:
    """The package's templates, autoescaped, with what every page needs in its context."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True, trim_blocks=True, lstrip_blocks=True, auto_reload=False
    )

    def shell_context(request: Request) -> dict[str, Any]:
        state: dict[str, Any] = request.scope.get("state", {})
        token = keys.csrf_token(state[CSRF_NONCE]) if CSRF_NONCE in state else ""
        return {
            "csrf_token": token,
            "csrf_field": Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token),
            "csp_nonce": state.get(CSP_NONCE, ""),
            "navigation": [(label, path, _in_section(request.url.path, path)) for label, path in NAVIGATION],
        }

    return Jinja2Templates(env=env, context_processors=[shell_context])


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """``template`` rendered in the layout for ``request``."""
    templates = cast(Jinja2Templates, request.app.state.templates)
    return templates.TemplateResponse(request, template, dict(context or {}), status_code=status_code, headers=headers)


def message(
    request: Request, status: int, text: str, /, *, headers: Mapping[str, str] | None = None, title: str | None = None
) -> HTMLResponse:
    """A page that says one thing: errors, refusals, and results with nothing more to show."""
    heading = title or (HTTPStatus(status).phrase if status >= 400 else "Done")
    return page(request, "message.html", {"status": status, "title": heading, "message": text}, status_code=status, headers=headers)


def confirm(
    request: Request,
    *,
    title: str,
    text: str,
    action: str,
    fields: Mapping[str, str] | None = None,
    button: str = "Confirm",
    cancel: str = "/",
    danger: bool = False,
) -> HTMLResponse:
    """A question before a change: one form that POSTs ``fields`` (and the CSRF token) to ``action``."""
    context = {
        "title": title,
        "message": text,
        "action": action,
        "fields": dict(fields or {}),
        "button": button,
        "cancel": cancel,
        "danger": danger,
    }
    return page(request, "confirm.html", context)


def backend_of(request: Request) -> ConsoleBackend:
    """The data operations the console was built with (``create_app(backend)``)."""
    return cast("ConsoleBackend", request.app.state.backend)
