"""``facepipe``: the command line for people. Run ``facepipe --help``.

Commands other than ``local up``, ``demo``, ``bench`` and ``calibrate`` act on the stack in
``.facepipe/local.json`` when present (or ``--stack FILE``), otherwise on the deployed settings
in the environment; ``eval`` with neither starts an ephemeral local stack, as ``demo`` does.

One module per group of commands, each command beside its arguments: ``local`` (local up),
``people`` (enroll, people), ``review``, ``send``, ``watch`` (events), ``measure`` (eval, calibrate, demo, bench),
``console``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from facepipe.exceptions import FacepipeError
from facepipe_tools.cli import console, local, measure, people, review, send, watch

__all__ = ["main", "parser"]

#: what a command's ``func`` default is: parsed arguments in, exit status out
Command = Callable[[argparse.Namespace], int]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="facepipe", description="Face recognition and tagging pipeline: local stack and operator tools.")
    root.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = root.add_subparsers(dest="command", required=True)
    for group in (local, people, review, send, watch, measure, console):
        group.add_parsers(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG" if args.verbose else "WARNING")
    command: Command = args.func
    try:
        return command(args)
    except (FacepipeError, LookupError) as exc:
        print(f"facepipe: {exc}", file=sys.stderr)
        return 2
