"""What the console's pages call: the data operations, behind one protocol.

The shell (layout, security, errors, ``/health``) calls nothing on the backend, so the
protocol has no members yet; each page adds the operations it calls here, as methods the
real backend (today ``facepipe_tools.admin.Admin``) and the tests' fakes both provide.
Routes reach the backend with ``facepipe_tools.console.backend_of(request)``.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["ConsoleBackend"]


class ConsoleBackend(Protocol):
    """The data operations behind the console's pages (none yet: the shell needs none)."""
