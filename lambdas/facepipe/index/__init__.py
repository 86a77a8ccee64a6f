"""Vector index (§6): one interface, a Pinecone and an embedded (faiss) implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from facepipe.index._base import Filter, Match, Metadata, Vector, VectorIndex
from facepipe.index.embedded import EmbeddedIndex

if TYPE_CHECKING:
    from facepipe.settings import Settings

__all__ = ["EmbeddedIndex", "Filter", "Match", "Metadata", "Vector", "VectorIndex", "make_index"]


def make_index(settings: Settings, dimension: int, ssm_client=None) -> VectorIndex:
    """The index ``VECTOR_BACKEND`` names. ``local`` gives a fresh embedded index."""
    if settings.vector_backend == "local":
        return EmbeddedIndex(dimension)
    from facepipe.index.pinecone import PineconeIndex

    return PineconeIndex.from_settings(settings, dimension, ssm_client=ssm_client)
