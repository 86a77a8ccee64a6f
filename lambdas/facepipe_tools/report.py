"""What the tools print and write for people: aligned tables, seconds, percentiles, progress bars, the command line."""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

import numpy as np
from tqdm import tqdm

T = TypeVar("T")


def table(rows: Iterable[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain-text table, columns aligned, for a terminal."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *(line(r) for r in cells[1:])])


def markdown_table(rows: Iterable[Sequence[object]], headers: Sequence[str]) -> list[str]:
    """The lines of a Markdown table."""
    return [
        "| " + " | ".join(str(h) for h in headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows),
    ]


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def percentile(values: Sequence[float] | np.ndarray, p: float) -> float | None:
    """The ``p``-th percentile (nearest rank, as latency reports use); None without values."""
    if not len(values):
        return None
    return float(np.percentile(np.asarray(values, dtype=float), p, method="inverted_cdf"))


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "img") -> tqdm[NoReturn]:
    """A tqdm bar on stderr, silent when not ``enabled``: ``update()`` per step, ``close()`` at the end."""
    return tqdm(total=total, desc=desc, unit=unit, leave=False, disable=not enabled)


def with_progress(items: Sequence[T], desc: str, enabled: bool = True, unit: str = "img") -> Iterator[T]:
    """``items`` one by one, the bar moving as each one's work is done."""
    bar = progress_bar(len(items), desc, enabled, unit)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()


def shown_path(path: str | Path) -> str:
    """A path as a report shows it: relative to the working directory (``../shared/...`` too),
    so reports carry no machine paths."""
    if not Path(path).is_absolute():
        return str(path)
    return os.path.relpath(path)


def command_of(args: argparse.Namespace) -> str:
    """The command as typed (``args.argv``, else ``args.command``), for the first line of a report."""
    return command_line(getattr(args, "argv", None) or [args.command])


def command_line(argv: Sequence[str]) -> str:
    """``facepipe ARGS`` as typed, for the first line of a report, paths shown as ``shown_path`` does."""
    return "facepipe " + shlex.join(shown_path(a) if a.startswith("/") else a for a in argv)
