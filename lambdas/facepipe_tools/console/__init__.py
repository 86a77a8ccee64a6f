"""``facepipe console``: the web console for the people who teach the system.

Server-rendered pages (Starlette + Jinja2, no JavaScript build) on 127.0.0.1 by default.
``app`` is the shell (layout, ``/health``, error pages), ``security`` its walls (CSRF on every
state change, the access token of remote mode, security headers, loopback hosts), ``pages``
how pages render, ``backend`` the data operations pages call, ``server`` the ``serve`` that
runs it under uvicorn. Needs the ``console`` extra.
"""

from __future__ import annotations

from facepipe_tools.console.app import HOME, create_app
from facepipe_tools.console.backend import ConsoleBackend
from facepipe_tools.console.exceptions import ConsoleRefused
from facepipe_tools.console.pages import backend_of, confirm, message, page
from facepipe_tools.console.server import check_bind, listen, serve, url_of

__all__ = [
    "HOME",
    "ConsoleBackend",
    "ConsoleRefused",
    "backend_of",
    "check_bind",
    "confirm",
    "create_app",
    "listen",
    "message",
    "page",
    "serve",
    "url_of",
]
