"""The vector index interface: vector id = face id; metadata carries person_id, source, request_id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

Metadata = Mapping[str, Any]
Filter = Mapping[str, Any]


@dataclass(frozen=True)
class Vector:
    id: str
    values: np.ndarray
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    id: str
    score: float  # cosine similarity in [-1, 1]
    metadata: Metadata = field(default_factory=dict)


class VectorIndex(Protocol):
    dimension: int

    def upsert(self, vectors: Sequence[Vector], namespace: str) -> None: ...

    def query(self, vector: np.ndarray, top_k: int, namespace: str, filter: Filter | None = None) -> list[Match]:
        """Best ``top_k`` matches by cosine similarity, best first; ``filter`` uses Pinecone's syntax."""
        ...

    def delete(self, ids: Sequence[str], namespace: str) -> None: ...

    def update_metadata(self, ids: Sequence[str], metadata: Metadata, namespace: str) -> None:
        """Set (merge) metadata fields on existing vectors; unknown ids are ignored."""
        ...

    def fetch(self, ids: Sequence[str], namespace: str) -> list[Vector]:
        """The stored vectors of ``ids`` that exist."""
        ...

    def count(self, namespace: str) -> int: ...


def check_dimension(values: np.ndarray, dimension: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32).reshape(-1)
    if array.shape[0] != dimension:
        from facepipe.exceptions import VectorIndexError

        raise VectorIndexError(
            f"vector has dimension {array.shape[0]} but the index holds {dimension}-d vectors; "
            "vectors of different embedding models never share an index"
        )
    return array
