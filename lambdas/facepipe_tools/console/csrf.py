"""The console's CSRF wall (``CsrfGuard``): a signed double submit.

The ``facepipe_csrf`` cookie (HttpOnly, SameSite=Strict) holds a random nonce; the token is
HMAC(this process's secret, nonce) (``Keys.csrf_token``). Every request other than GET, HEAD
and OPTIONS must send the token as the form field ``csrf_token`` or the header
``X-CSRF-Token``, and it must match its own cookie's (``hmac.compare_digest``), or it is refused
with 403 before any route runs. Templates put it in a form with ``{{ csrf_field }}``.
"""

from __future__ import annotations

import logging
import re
import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facepipe_tools.console.keys import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, Keys, cookie
from facepipe_tools.console.security import Refuse

__all__ = ["CSRF_NONCE", "SAFE_METHODS", "CsrfGuard"]

logger = logging.getLogger("facepipe_tools.console")

#: methods that change nothing; every other method needs the CSRF token
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: the key of ``request.state`` (the ASGI scope's ``state``) that holds the nonce for templates
CSRF_NONCE = "csrf_nonce"

_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


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
                MutableHeaders(scope=message).append("set-cookie", cookie(CSRF_COOKIE, nonce))
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
