"""What every bench measures with: ``Stats`` of a series, a timed call, a process's peak RSS, a
fresh interpreter that prints its numbers, and writing a report."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from facepipe_tools.report import percentile

#: what a child process prints before its numbers (JSON), so that nothing else it prints is read
CHILD_MARK = "BENCH "


@dataclass(frozen=True)
class Stats:
    """min / median / p95 / mean of a series (ms or s, as measured) and how many; ``n`` 0: nothing measured."""

    n: int = 0
    min: float = 0.0
    median: float = 0.0
    p95: float = 0.0
    mean: float = 0.0

    def cell(self, key: str) -> str:
        """One of them as a report's cell ("-" when nothing was measured)."""
        return str(getattr(self, key)) if self.n else "-"

    def triple(self) -> str:
        """``min / median / p95``, as the report's tables show them."""
        return f"{self.cell('min')} / {self.cell('median')} / {self.cell('p95')}" if self.n else "-"

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self) if self.n else {"n": 0}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stats:
        return cls(**{f.name: data[f.name] for f in fields(cls)}) if data.get("n") else cls()


def summary(values: Sequence[float], digits: int = 2) -> Stats:
    """min / median / p95 / mean of ``values`` (ms or s, as given, to ``digits`` decimals), and how many."""
    if not values:
        return Stats()
    return Stats(
        n=len(values),
        min=round(min(values), digits),
        median=round(statistics.median(values), digits),
        p95=round(percentile(values, 95) or 0.0, digits),
        mean=round(statistics.fmean(values), digits),
    )


def timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """(``function(*args)``, milliseconds)."""
    started = time.perf_counter()
    result = function(*args)
    return result, (time.perf_counter() - started) * 1000


def peak_rss_mb(pid: int) -> float:
    """VmHWM of process ``pid`` in MB (0 when unreadable). Not ``ru_maxrss``: Linux carries that across
    fork and exec, so a child of a big process would report its parent's peak."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def print_numbers(numbers: Mapping[str, Any]) -> None:
    """In a child (``fresh_process``): hand ``numbers`` to the parent."""
    print(CHILD_MARK + json.dumps(numbers), flush=True)


def fresh_process(code: str, what: str, environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter (this one's path; ``environment``, else this process's) and
    return what it printed with ``print_numbers``; ``what`` names the work when it fails."""
    environment = {**(environment or os.environ), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(CHILD_MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{what} failed: {done.stderr[-2000:]}")
    numbers: dict[str, Any] = json.loads(lines[-1][len(CHILD_MARK) :])
    return numbers


def write_report(out: str | Path, text: str) -> None:
    """Write a report to ``out`` (its folder made) and print it."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)
