"""``facepipe console``: the web console for the people who teach the system.

Server-rendered pages (Starlette + Jinja2, no JavaScript build) on 127.0.0.1 by default.
``app`` is the shell (layout, ``/health``, error pages) with its walls around every route:
``security`` (security headers, loopback hosts), ``access`` (the access token of remote mode),
``csrf`` (CSRF on every state change), over ``keys`` (the secret they derive from). ``pages``
is how pages render, ``backend`` the data operations pages call, ``server`` the ``serve`` that
runs it under uvicorn. The pages: ``people_views`` (People, a person), ``review_views`` (the
review, a group), ``activity_views`` (frames drawn from their crops, the crops), over
``directory`` (listings a page at a time, read with ``paging``) and ``imagery`` (crops, drawn
frames); ``actions`` is how a change is answered, ``routes`` puts them together
(``console_app``). Needs the ``console`` extra.
"""

from __future__ import annotations

from facepipe_tools.console.app import HOME, create_app
from facepipe_tools.console.backend import ConsoleBackend
from facepipe_tools.console.exceptions import ConsoleRefused
from facepipe_tools.console.pages import backend_of, confirm, message, page, redirect
from facepipe_tools.console.routes import PAGES, console_app
from facepipe_tools.console.server import check_bind, listen, serve, url_of

__all__ = [
    "HOME",
    "PAGES",
    "ConsoleBackend",
    "ConsoleRefused",
    "backend_of",
    "check_bind",
    "confirm",
    "console_app",
    "create_app",
    "listen",
    "message",
    "page",
    "redirect",
    "serve",
    "url_of",
]
