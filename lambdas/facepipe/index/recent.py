"""Vectors this container upserted lately: Pinecone's read-after-write gap, bridged in memory.

Pinecone does not guarantee that an upsert is queryable at once (its writes are eventually consistent). Recognition merges
these into every query's candidates, so a stranger seen twice within the delay becomes
one person, not two, within one container.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from facepipe.index._base import Match

#: vectors we wrote stay visible here this long (Pinecone's users report 10-30 s of delay)
RECENT_SECONDS = 120.0


class RecentVectors:
    def __init__(self, ttl: float = RECENT_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._items: deque[tuple[float, str, np.ndarray, dict[str, Any]]] = deque()
        self._lock = threading.Lock()

    def add(self, vector_id: str, vector: np.ndarray, metadata: Mapping[str, Any]) -> None:
        with self._lock:
            self._items.append((self._clock(), vector_id, np.asarray(vector, dtype=np.float32), dict(metadata)))

    def matches(self, vector: np.ndarray) -> list[Match]:
        with self._lock:
            horizon = self._clock() - self._ttl
            while self._items and self._items[0][0] < horizon:
                self._items.popleft()
            return [Match(i, float(np.dot(v, vector)), m) for _, i, v, m in self._items]

    def forget_person(self, person_id: str) -> None:
        with self._lock:
            self._items = deque(item for item in self._items if item[3].get("person_id") != person_id)
