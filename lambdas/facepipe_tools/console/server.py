"""``serve``: the console on an address, loopback unless asked otherwise with a token."""

from __future__ import annotations

import socket

import uvicorn

from facepipe_tools.console.backend import ConsoleBackend
from facepipe_tools.console.exceptions import ConsoleRefused
from facepipe_tools.console.keys import MIN_TOKEN_LENGTH
from facepipe_tools.console.routes import console_app
from facepipe_tools.console.security import is_loopback

__all__ = ["check_bind", "listen", "serve", "url_of"]


def check_bind(host: str, *, allow_remote: bool = False, token: str | None = None) -> None:
    """Refuse (``ConsoleRefused``) to serve on ``host`` as asked.

    Loopback (127.0.0.0/8, ::1, localhost) is always allowed; any other address needs both
    ``allow_remote`` and an access token of at least ``MIN_TOKEN_LENGTH`` characters. A token,
    where given, is that long on loopback too.
    """
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConsoleRefused(f"the console's access token must have at least {MIN_TOKEN_LENGTH} characters; it has {len(token)}")
    if is_loopback(host):
        return
    if not allow_remote or token is None:
        raise ConsoleRefused(
            f"refusing to serve the console on {host}: it is not a loopback address (127.0.0.1, ::1, localhost). "
            "The console changes who people are; to open it to other machines pass --allow-remote and "
            f"--token with at least {MIN_TOKEN_LENGTH} characters (or FACEPIPE_CONSOLE_TOKEN)"
        )


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one)."""
    address = "127.0.0.1" if host.strip().lower() in ("localhost", "localhost.") else host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConsoleRefused(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(host: str, port: int, backend: ConsoleBackend, *, allow_remote: bool = False, token: str | None = None) -> None:
    """Serve the console over ``backend`` on ``host:port`` until Ctrl-C; prints its address first."""
    check_bind(host, allow_remote=allow_remote, token=token)
    app = console_app(backend, token=token)
    sock = listen(host, port)
    where = url_of(sock)
    note = " (open it once with ?token=<your token>)" if token else ""
    print(f"facepipe console on {where}{note}; Ctrl-C stops it", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, lifespan="off"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down gracefully on Ctrl-C, then raises the signal again
        print("facepipe console stopped", flush=True)
    finally:
        sock.close()
