"""The console's walls: ASGI middleware around every route, and the secret they derive from.

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
* ``AccessGate`` (remote mode, an access token): every request presents the token, once as
  ``?token=`` (answered with a redirect that sets an HttpOnly cookie and drops it from the
  address), as ``Authorization: Bearer``, or as that cookie; otherwise 401.
* ``CsrfGuard``: a signed double submit. The ``facepipe_csrf`` cookie (HttpOnly, SameSite=Strict)
  holds a random nonce; the token is HMAC(this process's secret, nonce). Every request other
  than GET, HEAD and OPTIONS must send the token as the form field ``csrf_token`` or the header
  ``X-CSRF-Token``, and it must match its own cookie's (``hmac.compare_digest``), or it is
  refused with 403 before any route runs. Templates put it in a form with ``{{ csrf_field }}``.

Tokens and cookies derive from a secret drawn when the app is built, so a restart ends every
session and invalidates every form served before it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.cookies
import ipaddress
import logging
import re
import secrets
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ACCESS_COOKIE",
    "ACCESS_QUERY",
    "CSP_NONCE",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CSRF_NONCE",
    "MAX_BODY_BYTES",
    "MIN_TOKEN_LENGTH",
    "SAFE_METHODS",
    "AccessGate",
    "CsrfGuard",
    "Keys",
    "LoopbackHosts",
    "Refuse",
    "SecurityHeaders",
    "is_loopback",
]

logger = logging.getLogger("facepipe_tools.console")

CSRF_COOKIE = "facepipe_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
ACCESS_COOKIE = "facepipe_access"
ACCESS_QUERY = "token"
#: the shortest access token remote mode accepts
MIN_TOKEN_LENGTH = 16
#: methods that change nothing; every other method needs the CSRF token
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: the largest request body the console reads (a few photos in one upload)
MAX_BODY_BYTES = 32 * 1024 * 1024
#: keys of ``request.state`` (the ASGI scope's ``state``) the middleware fills for templates
CSP_NONCE = "csp_nonce"
CSRF_NONCE = "csrf_nonce"

_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class Refuse(Protocol):
    """How the walls answer: a page with ``status`` and a sentence for the person reading it."""

    def __call__(self, request: Request, status: int, text: str, /, *, headers: Mapping[str, str] | None = None) -> Response: ...


class Keys:
    """This process's secret and what derives from it: CSRF tokens, the access cookie."""

    def __init__(self, access_token: str | None = None) -> None:
        self._secret = secrets.token_bytes(32)
        self.access_token = access_token

    def _derive(self, purpose: str, value: str) -> str:
        return hmac.new(self._secret, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()

    def csrf_token(self, nonce: str) -> str:
        """The token forms carry for the browser whose cookie holds ``nonce``."""
        return self._derive("csrf", nonce)

    def csrf_matches(self, nonce: str, submitted: str) -> bool:
        return hmac.compare_digest(self.csrf_token(nonce).encode(), submitted.encode())

    def access_matches(self, presented: str) -> bool:
        """``presented`` is the access token (constant time; False without one)."""
        return self.access_token is not None and hmac.compare_digest(presented.encode(), self.access_token.encode())

    def sign(self, purpose: str, value: str) -> str:
        """An HMAC of ``value`` for ``purpose`` under this process's secret (the flash message's seal)."""
        return self._derive(purpose, value)

    def signed(self, purpose: str, value: str, signature: str) -> bool:
        """``signature`` is ``sign(purpose, value)`` (constant time)."""
        return hmac.compare_digest(self.sign(purpose, value).encode(), signature.encode())

    def access_cookie(self) -> str:
        """The cookie value that stands for the access token in this process (not the token itself)."""
        return self._derive("access", self.access_token or "")

    def access_cookie_matches(self, value: str) -> bool:
        return self.access_token is not None and hmac.compare_digest(value.encode(), self.access_cookie().encode())


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


def _cookie(name: str, value: str) -> str:
    """A ``Set-Cookie`` value: the whole site, script cannot read it, never sent by another site."""
    jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    jar[name] = value
    jar[name]["path"] = "/"
    jar[name]["httponly"] = True
    jar[name]["samesite"] = "Strict"
    return jar[name].OutputString()


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


class AccessGate:
    """Remote mode: every request presents the access token (query once, bearer header, or the cookie)."""

    def __init__(self, app: ASGIApp, keys: Keys, refuse: Refuse) -> None:
        if keys.access_token is None:
            raise ValueError("AccessGate needs an access token")
        self.app = app
        self.keys = keys
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        in_query = request.query_params.get(ACCESS_QUERY)
        if in_query is not None and self.keys.access_matches(in_query):
            if request.method in ("GET", "HEAD"):  # keep the token out of the address bar and history
                clean = request.url.remove_query_params(ACCESS_QUERY)
                location = quote("/" + clean.path.lstrip("/")) + (f"?{clean.query}" if clean.query else "")  # never //elsewhere
                response: Response = RedirectResponse(location, status_code=303)
                response.headers.append("set-cookie", _cookie(ACCESS_COOKIE, self.keys.access_cookie()))
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if (scheme.lower() == "bearer" and self.keys.access_matches(credentials.strip())) or self.keys.access_cookie_matches(
            request.cookies.get(ACCESS_COOKIE, "")
        ):
            await self.app(scope, receive, send)
            return
        text = "This console needs its access token: enter it below (or open the console with ?token=… once)."
        await self.refuse(request, 401, text, headers={"WWW-Authenticate": 'Bearer realm="facepipe console"'})(scope, receive, send)


class CsrfGuard:
    """Every state-changing request carries the CSRF token of its own cookie, or no route runs."""

    def __init__(self, app: ASGIApp, keys: Keys, refuse: Refuse) -> None:
        self.app = app
        self.keys = keys
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        nonce = request.cookies.get(CSRF_COOKIE, "")
        fresh = not _NONCE.fullmatch(nonce)
        if fresh:
            nonce = secrets.token_urlsafe(32)
        scope.setdefault("state", {})[CSRF_NONCE] = nonce

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                MutableHeaders(scope=message).append("set-cookie", _cookie(CSRF_COOKIE, nonce))
            await send(message)

        reply = send_with_cookie if fresh else send
        if request.method in SAFE_METHODS:
            await self.app(scope, receive, reply)
            return
        try:
            submitted, receive = await _submitted_token(request, receive)
        except ClientDisconnect:
            return
        if fresh or submitted is None or not self.keys.csrf_matches(nonce, submitted):
            logger.warning("refused %s %s: missing or wrong CSRF token", request.method, request.url.path)
            text = (
                "This request was refused: it did not carry this console's security token. "
                "Reload the page and send the form again (a restarted console makes old pages stale)."
            )
            await self.refuse(request, 403, text)(scope, receive, reply)
            return
        await self.app(scope, receive, reply)


async def _submitted_token(request: Request, receive: Receive) -> tuple[str | None, Receive]:
    """The CSRF token a request sent (header, else form field), and a ``receive`` that replays its body."""
    in_header = request.headers.get(CSRF_HEADER)
    if in_header is not None:
        return in_header, receive
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in _FORMS:
        return None, receive
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    try:
        form = await Request(request.scope, _replay(body, receive)).form()
    except Exception:  # a malformed body carries no token
        return None, _replay(body, receive)
    try:
        value = form.get(CSRF_FIELD)
    finally:
        await form.close()
    return (value if isinstance(value, str) else None), _replay(body, receive)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out ``body`` once, then whatever the client sends next (its disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
