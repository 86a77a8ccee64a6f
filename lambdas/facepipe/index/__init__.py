"""Vector index (docs/matching.md): one interface, a Pinecone and an embedded (faiss) implementation.

``make_index`` imports the one ``VECTOR_BACKEND`` names: a deployed function never loads faiss
(``facepipe.index.embedded``, the ``[local]`` extra), the local stack never needs Pinecone's cloud.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from facepipe.index._base import Filter, Match, Metadata, Vector, VectorIndex

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

    from facepipe.settings import Settings

__all__ = ["Filter", "Match", "Metadata", "Vector", "VectorIndex", "make_index"]


def make_index(settings: Settings, dimension: int, ssm_client: SSMClient | None = None) -> VectorIndex:
    """The index ``VECTOR_BACKEND`` names. ``local`` gives a fresh embedded index."""
    if settings.vector_backend == "local":
        from facepipe.index.embedded import EmbeddedIndex

        return EmbeddedIndex(dimension)
    from facepipe.index.pinecone import PineconeIndex

    return PineconeIndex.from_settings(settings, dimension, ssm_client=ssm_client)
