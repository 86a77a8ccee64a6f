"""What the command groups share: the ``--stack`` option, the people admin."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from facepipe.settings import Settings

if TYPE_CHECKING:
    from facepipe_tools.admin import Admin

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def with_stack(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--stack", help="local stack file (default .facepipe/local.json when present)")
    return p


def admin() -> Admin:
    """People administration on the stack the environment names (``use_stack`` first)."""
    from facepipe_tools.admin import Admin, build_recognizer

    return Admin(build_recognizer(Settings.from_env()))
