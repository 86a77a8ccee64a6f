"""How the pages' routes take input and answer a change.

A page reads in a worker thread (its route is a plain ``def``: Starlette runs it in one); a
change is a POST form (its CSRF token checked before any route runs) whose route reads the form,
runs the operation in a worker thread (``act``) and answers 303 to the page to show next with a
one-line result, or back to where it came from with the reason the operation refused it. Ids in
paths are checked before they reach a key (``path_id``), and a form's ``back`` is a path of
this console only (``local_path``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from facepipe.exceptions import FacepipeError
from facepipe.people.errors import FaceClaimedError, FaceErasedError, FaceInReviewError
from facepipe_tools.console.directory import Directory
from facepipe_tools.console.pages import backend_of, redirect

__all__ = ["IDENTIFIER", "REFUSALS", "act", "directory_of", "form_of", "local_path", "path_id"]

#: what an id in a path may be (person, face and group ids are hex; nothing that could reach beyond a key)
IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: what an operation raises when it will not do what was asked: shown to the person, nothing else
REFUSALS: tuple[type[Exception], ...] = (FacepipeError, LookupError, FaceErasedError, FaceClaimedError, FaceInReviewError)


def path_id(request: Request, name: str) -> str:
    """The id in the path parameter ``name``; 404 when it is not one."""
    value = str(request.path_params.get(name, ""))
    if not IDENTIFIER.fullmatch(value):
        raise HTTPException(404)
    return value


def local_path(value: str | None, default: str) -> str:
    """``value`` when it is a path of this console (``/…``, not ``//host``), else ``default``."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and "\n" not in value:
        return value
    return default


async def form_of(request: Request) -> dict[str, str]:
    """A POSTed form's text fields."""
    async with request.form() as form:
        return {name: value for name, value in form.items() if isinstance(value, str)}


def directory_of(request: Request) -> Directory:
    """The listings over the console's backend (made once per app)."""
    state = request.app.state
    if getattr(state, "directory", None) is None:
        state.directory = Directory(backend_of(request).people)
    return cast(Directory, state.directory)


def reason(exc: BaseException) -> str:
    """An operation's refusal as one sentence (a LookupError's message is its first argument)."""
    text = str(exc.args[0]) if isinstance(exc, LookupError) and exc.args else str(exc)
    return text[:1].upper() + text[1:] if text else type(exc).__name__


async def act(request: Request, work: Callable[[], tuple[str, str]], *, back: str) -> Response:
    """Run ``work`` (a change: it returns the page to show next and its result) in a worker
    thread; 303 there with the result, or to ``back`` with the reason it was refused."""
    try:
        url, text = await run_in_threadpool(work)
    except REFUSALS as exc:
        return redirect(request, back, reason(exc), refused=True)
    return redirect(request, url, text)
