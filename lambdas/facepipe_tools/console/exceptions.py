"""The console's errors."""

from __future__ import annotations

from facepipe.exceptions import FacepipeError

__all__ = ["ConsoleRefused"]


class ConsoleRefused(FacepipeError):
    """The console will not start as asked (an address beyond loopback without a token, a short token, a busy port)."""
