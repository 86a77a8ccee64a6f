"""The console's walls: ASGI middleware around every route.

From the outside in (``create_app`` stacks them in this order):

* ``SecurityHeaders``: every response carries a Content-Security-Policy of this origin only
  (an inline script runs only with the response's nonce, ``csp_nonce`` in templates),
  ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``, ``X-Content-Type-Options: nosniff``
  and ``Cache-Control: no-store`` (pages show faces); a request body is limited to
  ``MAX_BODY_BYTES``; an unhandled error is logged and answered with the error page, never a
  stack trace.
* ``LoopbackHosts`` (loopback mode, no access token): the ``Host`` header must name a loopback
  address, so a web page whose name an attacker re-points at 127.0.0.1 (DNS rebinding) reads
  nothing from the console.
* ``AccessGate`` (``access``; remote mode, an access token): every request presents the token,
  once as ``?token=`` (answered with a redirect that sets an HttpOnly cookie and drops it from
  the address), as ``Authorization: Bearer``, or as that cookie; otherwise 401.
* ``CsrfGuard`` (``csrf``): a signed double submit; every request other than GET, HEAD and
  OPTIONS carries the token of its own cookie, or it is refused with 403 before any route runs.

Tokens and cookies derive from a secret drawn when the app is built (``keys.Keys``), so a
restart ends every session and invalidates every form served before it. This module holds the
outer two walls and what every wall shares (``Refuse``).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Mapping
from typing import Protocol

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSP_NONCE",
    "MAX_BODY_BYTES",
    "LoopbackHosts",
    "Refuse",
    "SecurityHeaders",
    "content_security_policy",
    "is_loopback",
]

logger = logging.getLogger("facepipe_tools.console")

#: the largest request body the console reads (a few photos in one upload)
MAX_BODY_BYTES = 32 * 1024 * 1024
#: the key of ``request.state`` (the ASGI scope's ``state``) that holds the CSP nonce for templates
CSP_NONCE = "csp_nonce"


class Refuse(Protocol):
    """How the walls answer: a page with ``status`` and a sentence for the person reading it."""

    def __call__(self, request: Request, status: int, text: str, /, *, headers: Mapping[str, str] | None = None) -> Response: ...


def is_loopback(host: str) -> bool:
    """``host`` (a name or address, IPv6 with or without brackets) is this machine's loopback."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port: ``127.0.0.1:8400``, ``[::1]:8400``, ``localhost``."""
    if header.startswith("["):
        end = header.find("]")
        return header[: end + 1] if end > 0 else ""
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


_FIXED_HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
}


class _BodyTooLarge(Exception):
    pass


class SecurityHeaders:
    """The headers on every response, the body limit, and the error page for what nothing else caught."""

    def __init__(self, app: ASGIApp, refuse: Refuse) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})[CSP_NONCE] = nonce
        policy = content_security_policy(nonce)
        started = False

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in _FIXED_HEADERS.items():
                    headers[name] = value
                headers["content-security-policy"] = policy
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise _BodyTooLarge
            return message

        try:
            declared = int(Headers(scope=scope).get("content-length") or 0)
        except ValueError:
            declared = 0
        try:
            if declared > MAX_BODY_BYTES:
                raise _BodyTooLarge
            await self.app(scope, receive_limited, send_secured)
        except _BodyTooLarge:
            if started:
                raise
            text = f"The request is larger than the console accepts ({MAX_BODY_BYTES // (1024 * 1024)} MB)."
            await self.refuse(Request(scope), 413, text)(scope, receive, send_secured)
        except Exception:
            logger.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise
            text = "Something went wrong on the console's side. Nothing is shown here; the console's log has the details."
            await self.refuse(Request(scope), 500, text)(scope, receive, send_secured)


class LoopbackHosts:
    """Loopback mode: refuse a request whose ``Host`` is not a loopback name (DNS rebinding)."""

    def __init__(self, app: ASGIApp, refuse: Refuse) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_loopback(_host_name(Headers(scope=scope).get("host", ""))):
            text = "This console answers only to loopback names (127.0.0.1, localhost, [::1]): open it on one of those."
            await self.refuse(Request(scope), 400, text)(scope, receive, send)
            return
        await self.app(scope, receive, send)
