"""facepipe.allocator: a function process keeps freed tensor memory for the next frame.

Each case runs in a fresh interpreter: glibc's thresholds are process-wide and, once set, stay set.
The speed it buys is measured by ``facepipe bench`` (docs/performance.md), not here.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from helpers import CLI_ENV

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")

#: frees a 64 MiB block (above glibc's 32 MiB ceiling for its moving mmap threshold) and reports
#: how much of it left the process's resident memory
FREE_A_BIG_BLOCK = """
import json, sys
import numpy as np

def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20

{setup}
block = np.ones(64 * 2**20, dtype=np.uint8)  # touched: resident
before = resident_mib()
del block
print(json.dumps({{"tuned": tuned, "returned_mib": before - resident_mib()}}))
"""


def _free_a_big_block(setup: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", FREE_A_BIG_BLOCK.format(setup=setup)], env=CLI_ENV, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(result.stdout)


def test_default_allocator_hands_a_freed_big_block_back():
    # GIVEN the C library's default malloc (the control: what the functions would do untuned)
    # WHEN a 64 MiB block is freed
    freed = _free_a_big_block("tuned = None")
    # THEN its pages leave the process, to be faulted in again by the next frame
    assert freed["returned_mib"] > 48


def test_function_processes_keep_freed_memory():
    # GIVEN a process tuned as both functions tune theirs at INIT (facepipe.runtime)
    setup = "from facepipe.runtime import _tune_process\nfrom facepipe.settings import Settings\n_tune_process(Settings())\ntuned = True"
    # WHEN a 64 MiB block is freed
    freed = _free_a_big_block(setup)
    # THEN its pages stay with the process for the next allocation
    assert freed["tuned"] is True
    assert freed["returned_mib"] < 8


def test_keep_freed_memory_reports_it_was_set():
    setup = "from facepipe.allocator import keep_freed_memory\ntuned = keep_freed_memory()"
    assert _free_a_big_block(setup) == {"tuned": True, "returned_mib": pytest.approx(0, abs=8)}
