"""The console's secret and what derives from it: CSRF tokens, the access cookie, the flash
message's seal; the names of the cookies and fields that carry them.

The secret is drawn when the app is built, so a restart ends every session and invalidates
every form served before it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.cookies
import secrets

__all__ = [
    "ACCESS_COOKIE",
    "ACCESS_QUERY",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "MIN_TOKEN_LENGTH",
    "Keys",
    "cookie",
]

CSRF_COOKIE = "facepipe_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
ACCESS_COOKIE = "facepipe_access"
ACCESS_QUERY = "token"
#: the shortest access token remote mode accepts
MIN_TOKEN_LENGTH = 16


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


def cookie(name: str, value: str) -> str:
    """A ``Set-Cookie`` value: the whole site, script cannot read it, never sent by another site."""
    jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    jar[name] = value
    jar[name]["path"] = "/"
    jar[name]["httponly"] = True
    jar[name]["samesite"] = "Strict"
    return jar[name].OutputString()
