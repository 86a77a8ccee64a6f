"""``facepipe console``: the web console for the people who teach the system, on 127.0.0.1."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from facepipe.exceptions import FacepipeError
from facepipe_tools.cli._common import admin, with_stack
from facepipe_tools.stacks import use_stack

if TYPE_CHECKING:
    from facepipe_tools.cli._common import Subparsers

#: where the access token comes from when --token is not given
TOKEN_ENV = "FACEPIPE_CONSOLE_TOKEN"


def cmd_console(args: argparse.Namespace) -> int:
    try:
        from facepipe_tools.console import check_bind, serve
    except ImportError as exc:
        raise FacepipeError(f"the console needs the console extra ({exc.name} is not installed): pip install -e '.[console]'") from None
    token: str | None = args.token or os.environ.get(TOKEN_ENV) or None
    check_bind(args.host, allow_remote=args.allow_remote, token=token)  # before the stack and its models load
    use_stack(args.stack)
    serve(args.host, args.port, admin(), allow_remote=args.allow_remote, token=token)
    return 0


def add_parsers(sub: Subparsers) -> None:
    console = with_stack(sub.add_parser("console", help="the web console: name unknown faces, merge people (127.0.0.1:8400)"))
    console.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need --allow-remote and --token)"
    )
    console.add_argument("--port", type=int, default=8400, help="port (default 8400; 0 picks a free one)")
    console.add_argument("--allow-remote", action="store_true", help="allow an address beyond loopback (with --token)")
    console.add_argument(
        "--token",
        help=f"access token every request must present, at least 16 characters (default ${TOKEN_ENV}; required with --allow-remote)",
    )
    console.set_defaults(func=cmd_console)
