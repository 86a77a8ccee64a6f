"""An embedded index that shows fresh upserts only after a delay, as Pinecone does.

Pinecone is eventually consistent: an upserted vector is returned by queries some seconds
later (its users report 10-30 s). ``facepipe local up --index-delay SECONDS`` serves this
index to every recognition environment, so the local stack shows what that delay does to
concurrent containers. Deletes and metadata updates apply at once (to staged vectors too).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from facepipe.index._base import Filter, Match, Metadata, Vector
from facepipe.index.embedded import EmbeddedIndex


class DelayedIndex(EmbeddedIndex):
    def __init__(self, dimension: int, delay: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(dimension)
        self.delay = delay
        self.clock = clock
        self._staged: list[tuple[float, str, Vector]] = []  # (visible at, namespace, vector)

    def upsert(self, vectors: Sequence[Vector], namespace: str) -> None:
        if self.delay <= 0:
            super().upsert(vectors, namespace)
            return
        with self._lock:
            due = self.clock() + self.delay
            self._staged += [(due, namespace, v) for v in vectors]

    def _publish(self) -> None:
        """Move the staged vectors whose delay has passed into the searchable index."""
        with self._lock:
            now = self.clock()
            ready = [(ns, v) for due, ns, v in self._staged if due <= now]
            self._staged = [s for s in self._staged if s[0] > now]
            for namespace in {ns for ns, _ in ready}:
                super().upsert([v for ns, v in ready if ns == namespace], namespace)

    def query(self, vector: np.ndarray, top_k: int, namespace: str, filter: Filter | None = None) -> list[Match]:
        self._publish()
        return super().query(vector, top_k, namespace, filter)

    def fetch(self, ids: Sequence[str], namespace: str) -> list[Vector]:
        self._publish()
        return super().fetch(ids, namespace)

    def count(self, namespace: str) -> int:
        self._publish()
        return super().count(namespace)

    def namespaces(self) -> dict[str, int]:
        self._publish()
        return super().namespaces()

    def delete(self, ids: Sequence[str], namespace: str) -> None:
        with self._lock:
            gone = set(ids)
            self._staged = [s for s in self._staged if not (s[1] == namespace and s[2].id in gone)]
            super().delete(ids, namespace)

    def update_metadata(self, ids: Sequence[str], metadata: Metadata, namespace: str) -> None:
        with self._lock:
            chosen = set(ids)
            self._staged = [
                (due, ns, Vector(v.id, v.values, {**v.metadata, **metadata}) if ns == namespace and v.id in chosen else v)
                for due, ns, v in self._staged
            ]
            super().update_metadata(ids, metadata, namespace)
