"""Serve a WSGI app with werkzeug in a daemon thread: the local stack's HTTP endpoints.

werkzeug closes every connection after its reply (no keep-alive); clients open a new one.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Self

from werkzeug.serving import WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["LocalServer"]

logger = logging.getLogger("facepipe_tools.local")

#: how long ``stop()`` may wait for the serving loop to notice (seconds)
POLL_INTERVAL = 0.1


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler, its access log at DEBUG on our logger instead of INFO on stderr."""

    def log(self, type: str, message: str, *args: Any) -> None:
        level = logging.WARNING if type == "error" else logging.DEBUG
        logger.log(level, "%s %s", self.address_string(), message % args if args else message)


class LocalServer:
    """``app`` on ``host:port`` (port 0 = any free port), one thread per request."""

    def __init__(self, app: WSGIApplication, host: str = "127.0.0.1", port: int = 0, *, name: str = "http") -> None:
        self._server = make_server(host, port, app, threaded=True, request_handler=_RequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_INTERVAL,), name=name, daemon=True)
        self._stopped = False

    @property
    def url(self) -> str:
        """``http://host:port``, no trailing slash."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (requests in flight finish in their threads)."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
