"""Fixtures for tests in a real browser: the console served on a free 127.0.0.1 port, and Debian's
Chromium (``make chromium``) driven by Playwright, headless.

A test module loads the fixtures with ``pytest_plugins = ["browser"]`` (a plugin, so no imports for ruff
to call redefined) and imports helpers such as ``running`` with ``from browser import running``:

* ``serve_console(app)``: serves an ASGI app (``create_app(backend, ...)``) with uvicorn in a
  background thread for the test and returns its base URL (no trailing slash); stopped at teardown.
  ``running(app)`` is the same as a context manager, for module-scoped servers and scripts.
* ``chromium``: one browser per session, on ``/usr/bin/chromium``, in a fresh temporary profile
  (Playwright's ``launch`` gives each browser a new user-data dir); the tests skip, saying why,
  when it or Playwright is missing.
* ``context`` and ``page``: a new browser context (cookies, storage) and a page in it per test,
  10 s default timeout.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page
    from starlette.types import ASGIApp

CHROMIUM = Path("/usr/bin/chromium")
#: no sandbox (root in CI, containers), nothing the browser would fetch or sync on its own
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


@contextlib.contextmanager
def running(app: ASGIApp, *, start_timeout: float = 10.0) -> Iterator[str]:
    """``app`` served by uvicorn on a free 127.0.0.1 port in a background thread; yields its base URL."""
    import uvicorn

    from facepipe_tools.console import listen, url_of

    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="console-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the console server stopped before it started")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the console server did not start in {start_timeout} s")
            time.sleep(0.01)
        yield url_of(sock).rstrip("/")
    finally:
        server.should_exit = True
        thread.join(start_timeout)
        sock.close()


@pytest.fixture
def serve_console() -> Iterator[Callable[[ASGIApp], str]]:
    """Serve an app for this test: ``base_url = serve_console(app)``."""
    with contextlib.ExitStack() as servers:
        yield lambda app: servers.enter_context(running(app))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: `make chromium` installs Debian's chromium (needs root), which the browser tests drive")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    fresh = chromium.new_context()
    fresh.set_default_timeout(TIMEOUT_MS)
    try:
        yield fresh
    finally:
        fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
