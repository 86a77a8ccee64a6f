"""How the console renders: its templates, the layout's navigation, message and confirmation pages.

A page route renders with ``page(request, "name.html", {...})``; every template extends
``base.html`` (the layout: navigation, stylesheet, the CSRF token in a ``<meta>`` for scripts)
and sees, besides its own context:

* ``csrf_field``: the hidden input a ``<form method="post">`` carries (one line: ``{{ csrf_field }}``),
  ``csrf_token``: the token itself (for the ``X-CSRF-Token`` header of a ``fetch``);
* ``csp_nonce``: the nonce an inline ``<script nonce="{{ csp_nonce }}">`` needs to run;
* ``navigation``: ``(label, path, current)`` for each section;
* ``flash``: the result of the change that led here, ``(kind, text)`` (kind ``"done"`` or
  ``"refused"``), or None.

After a change a route answers ``redirect(request, url, text)``: a 303 to the page to show next,
carrying its short result in a cookie (``FLASH_COOKIE``, sealed with this process's secret, read
once by the next page).

Autoescaping is on for every template: a value is text unless a template marks it safe.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.templating import Jinja2Templates

from facepipe_tools.console.csrf import CSRF_NONCE
from facepipe_tools.console.keys import CSRF_FIELD, Keys
from facepipe_tools.console.security import CSP_NONCE

if TYPE_CHECKING:
    from facepipe_tools.console.backend import ConsoleBackend

__all__ = [
    "FLASH_COOKIE",
    "NAVIGATION",
    "STATIC_DIR",
    "TEMPLATES_DIR",
    "backend_of",
    "confirm",
    "make_templates",
    "message",
    "page",
    "redirect",
    "when",
]

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
#: the layout's sections, (label, path); a page belongs to the section its path starts with
NAVIGATION = (("People", "/people"), ("Review", "/review"), ("Activity", "/activity"))
#: the cookie that carries a change's result to the page shown after it
FLASH_COOKIE = "facepipe_flash"
#: the longest result a flash carries
FLASH_LENGTH = 400
_FLASH_PURPOSE = "flash"
_FLASH_KINDS = ("done", "refused")


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

    env.filters["when"] = when
    return Jinja2Templates(env=env, context_processors=[shell_context])


def when(stamp: object) -> str:
    """An ISO time as stored (``2026-05-01T12:34:56Z``) as people read it: ``2026-05-01 12:34 UTC``; "" for none."""
    text = str(stamp or "")
    if len(text) >= 16 and text[10:11] == "T":
        return f"{text[:10]} {text[11:16]} UTC"
    return text


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """``template`` rendered in the layout for ``request`` (with the flash the request carries, which it clears)."""
    templates = cast(Jinja2Templates, request.app.state.templates)
    flash = _read_flash(request)
    values = {"flash": flash, **(context or {})}
    response = templates.TemplateResponse(request, template, values, status_code=status_code, headers=headers)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def redirect(request: Request, url: str, text: str = "", *, refused: bool = False) -> RedirectResponse:
    """A 303 to ``url`` (a path of this console) after a change, carrying ``text`` to show there."""
    response = RedirectResponse(url, status_code=303)
    if text:
        payload = json.dumps(["refused" if refused else "done", text[:FLASH_LENGTH]])
        encoded = base64.urlsafe_b64encode(payload.encode()).decode("ascii").rstrip("=")
        seal = cast(Keys, request.app.state.keys).sign(_FLASH_PURPOSE, encoded)
        response.set_cookie(FLASH_COOKIE, f"{encoded}.{seal}", max_age=120, path="/", httponly=True, samesite="strict")
    return response


def _read_flash(request: Request) -> tuple[str, str] | None:
    """The (kind, text) of the flash cookie when this process sealed it; None otherwise."""
    encoded, _, seal = request.cookies.get(FLASH_COOKIE, "").partition(".")
    keys = getattr(request.app.state, "keys", None)
    if not encoded or not isinstance(keys, Keys) or not keys.signed(_FLASH_PURPOSE, encoded, seal):
        return None
    try:
        kind, text = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, TypeError):
        return None
    return (kind, text) if kind in _FLASH_KINDS and isinstance(text, str) else None


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
    details: Sequence[str] = (),
) -> HTMLResponse:
    """A question before a change: one form that POSTs ``fields`` (and the CSRF token) to
    ``action``; ``details`` are listed under the question (what the change will do)."""
    context = {
        "title": title,
        "message": text,
        "details": list(details),
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
