"""glibc's malloc told to keep freed memory for the next frame instead of handing it back.

By default glibc serves every block above a moving threshold (128 KiB, rising to at most
32 MiB) with fresh ``mmap`` pages and unmaps it when freed, and trims the heap's free top.
A frame's large tensors (a P-Net level's activations are tens of MB, InceptionResnetV1's
several) then fault their pages in again on every frame. Fixing both thresholds, as
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` would, keeps freed blocks in the
heap; RSS stays at its peak instead of falling between frames (``facepipe bench`` measures
both the time and the peak). A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import platform

#: glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: blocks up to this size come from the heap, and up to this much free heap is kept
KEEP_BYTES = 1 << 30


def keep_freed_memory(limit: int = KEEP_BYTES) -> bool:
    """Set glibc's mmap and trim thresholds to ``limit`` for this process; False where that is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # this process's own symbols, glibc's among them (find_library would run ldconfig)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, limit)) and bool(libc.mallopt(M_TRIM_THRESHOLD, limit))
