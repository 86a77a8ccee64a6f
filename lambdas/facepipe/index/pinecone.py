"""The Pinecone vector index (docs/matching.md) over the official ``pinecone`` SDK's sync data
plane: each data-plane call with the hint its failure needs, and the index's dimension and
metric checked against the embedder's once per host. Where the index is and the client that
reaches it (key, host, one client per container): ``pinecone_connection``. Pinecone does not
guarantee read-after-write: an upsert becomes queryable after a delay (``index.recent``).
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from pinecone import (
    ForbiddenError,
    Index,
    NotFoundError,
    PineconeConnectionError,
    PineconeError,
    UnauthorizedError,
)

from facepipe.embedding import l2_normalise
from facepipe.exceptions import ConfigurationError, VectorIndexError
from facepipe.index._base import Filter, Match, Metadata, Vector, check_dimension
from facepipe.index.pinecone_connection import checked, client, fingerprint, lock, read_api_key, resolve_host
from facepipe.observability import traced_without_result

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

    from facepipe.settings import Settings

__all__ = ["PineconeIndex"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHUNK_SIZE = 100  # vectors (or ids) per request
COSINE_METRICS = ("cosine", "dotproduct")  # vectors are unit length, so both score cosine similarity
_DEFAULT_NAMESPACE = "__default__"  # how describe_index_stats names the "" namespace


def _chunks(items: Sequence[T], size: int = CHUNK_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _clean_metadata(metadata: Metadata) -> dict[str, Any]:
    """Metadata Pinecone accepts: no nulls (an absent key filters the same), plain JSON types."""
    clean: dict[str, Any] = {}
    for key, value in metadata.items():
        if value is None:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, tuple | set | frozenset):
            value = list(value)
        clean[key] = value
    return clean


class PineconeIndex:
    """The VectorIndex protocol over a Pinecone serverless index (cosine).

    Key rotation (``scripts/set-pinecone-key.sh``): with ``api_key`` (a reader of the key, True
    = bypass its cache), every call first re-reads the key (cached KEY_MAX_AGE seconds, so a
    rotated key is used within that time), and a call Pinecone refuses (401/403) reads SSM at
    once and is sent again once with the new key."""

    def __init__(self, index: Index, dimension: int, *, name: str = "", api_key: Callable[[bool], str] | None = None) -> None:
        self.dimension = dimension
        self._index = index
        self._name = name or index.host
        self._api_key = api_key
        self._key = fingerprint(api_key(False)) if api_key else ""

    @classmethod
    def from_settings(cls, settings: Settings, dimension: int, ssm_client: SSMClient | None = None) -> PineconeIndex:
        """Key from SSM, host from PINECONE_INDEX_HOST (else one describe call); checks the dimension."""
        api_key = read_api_key(settings.pinecone_ssm_parameter_name, ssm_client)
        host = settings.pinecone_index_host or resolve_host(api_key, settings.pinecone_index_name)
        name = settings.pinecone_index_name if not settings.pinecone_index_host else host
        reader = functools.partial(read_api_key, settings.pinecone_ssm_parameter_name, ssm_client)
        index = cls(client(api_key, host), dimension, name=name, api_key=lambda force: reader(force_fetch=force))
        index.check()
        return index

    def check(self) -> None:
        """Fail with ConfigurationError when the index cannot hold this embedder's vectors (once per host)."""
        key = (self._index.host, self.dimension)
        if key in checked:
            return
        try:
            stats = self._send("describe index stats", None, lambda ix: ix.describe_index_stats(), check=False)
        except VectorIndexError as exc:
            if isinstance(exc.__cause__, UnauthorizedError | ForbiddenError):
                raise ConfigurationError(
                    f"Pinecone rejected the API key for index {self._name!r}; put a valid key "
                    "in the SSM parameter PINECONE_SSM_PARAMETER_NAME names"
                ) from exc.__cause__
            raise
        if stats.dimension is not None and stats.dimension != self.dimension:
            raise ConfigurationError(
                f"Pinecone index {self._name!r} holds {stats.dimension}-d vectors but the embedder "
                f"makes {self.dimension}-d ones; set EMBEDDING_MODEL to the model the index was built "
                f"for, or PINECONE_INDEX_HOST to an index of dimension {self.dimension}"
            )
        if stats.metric is not None and stats.metric not in COSINE_METRICS:
            raise ConfigurationError(
                f"Pinecone index {self._name!r} uses metric {stats.metric!r}; facepipe's scores are cosine "
                "similarities, so point PINECONE_INDEX_HOST at an index created with metric='cosine'"
            )
        with lock:
            checked.add(key)

    @traced_without_result
    def upsert(self, vectors: Sequence[Vector], namespace: str) -> None:
        if not vectors:
            return
        values = l2_normalise(np.stack([check_dimension(v.values, self.dimension) for v in vectors]))
        records: list[dict[str, Any]] = []
        for vector, row in zip(vectors, values, strict=True):
            record: dict[str, Any] = {"id": vector.id, "values": row.tolist()}
            if metadata := _clean_metadata(vector.metadata):
                record["metadata"] = metadata
            records.append(record)
        for chunk in _chunks(records):
            self._send("upsert", namespace, operator.methodcaller("upsert", vectors=chunk, namespace=namespace))

    @traced_without_result
    def query(self, vector: np.ndarray, top_k: int, namespace: str, filter: Filter | None = None) -> list[Match]:
        values = l2_normalise(check_dimension(vector, self.dimension)[None, :])[0].tolist()
        if top_k <= 0:
            return []
        response = self._send(
            "query",
            namespace,
            lambda ix: ix.query(
                vector=values,
                top_k=top_k,
                namespace=namespace,
                filter=dict(filter) if filter else None,
                include_metadata=True,
            ),
        )
        return [Match(m.id, float(m.score), dict(m.metadata or {})) for m in response.matches]

    @traced_without_result
    def fetch(self, ids: Sequence[str], namespace: str) -> list[Vector]:
        """Stored vectors (unit length) of ``ids`` in their order; unknown ids are left out."""
        found: dict[str, Vector] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            response = self._send("fetch", namespace, operator.methodcaller("fetch", ids=list(chunk), namespace=namespace))
            for vector_id, v in response.vectors.items():
                found[vector_id] = Vector(vector_id, np.asarray(v.values, dtype=np.float32), dict(v.metadata or {}))
        return [found[i] for i in ids if i in found]

    @traced_without_result
    def delete(self, ids: Sequence[str], namespace: str) -> None:
        """Delete ``ids``; a namespace Pinecone does not have (404) holds none of them."""

        def delete(chunk: list[str], index: Index) -> None:
            try:
                index.delete(ids=chunk, namespace=namespace)
            except NotFoundError:
                logger.debug("delete: namespace %s not found; nothing to delete", namespace)

        for chunk in _chunks(list(ids)):
            self._send("delete", namespace, functools.partial(delete, list(chunk)))

    @traced_without_result
    def update_metadata(self, ids: Sequence[str], metadata: Metadata, namespace: str) -> None:
        fields = _clean_metadata(metadata)
        if not fields:
            return

        def update(vector_id: str, index: Index) -> None:
            try:
                index.update(id=vector_id, set_metadata=fields, namespace=namespace)
            except NotFoundError:
                logger.debug("update_metadata: vector %s not in namespace %s; ignored", vector_id, namespace)

        for vector_id in ids:
            self._send("update metadata", namespace, functools.partial(update, vector_id))

    @traced_without_result
    def count(self, namespace: str) -> int:
        stats = self._send("describe index stats", namespace, lambda ix: ix.describe_index_stats())
        summary = stats.namespaces.get(namespace or _DEFAULT_NAMESPACE)
        return 0 if summary is None else int(summary.vector_count)

    def _use_current_key(self, force: bool) -> bool:
        """Switch to the key SSM holds now, if it changed; True when it did."""
        if self._api_key is None:
            return False
        key = self._api_key(force)
        if fingerprint(key) == self._key:
            return False
        self._index, self._key = client(key, self._index.host), fingerprint(key)
        logger.info("Pinecone API key rotated: using the new key from SSM for index %s", self._name)
        return True

    def _send(self, action: str, namespace: str | None, call: Callable[[Index], T], *, check: bool = True) -> T:
        """One SDK call on the data-plane client, its failures wrapped in VectorIndexError with a
        hint. The SDK retries dropped connections and 408/429/5xx itself (backoff with jitter, a
        per-host retry budget); a refused key is read again from SSM and the call sent once more."""
        self._use_current_key(force=False)
        if check:
            self.check()
        where = f"index {self._name!r}" + (f" namespace {namespace!r}" if namespace is not None else "")
        try:
            try:
                return call(self._index)
            except (UnauthorizedError, ForbiddenError):
                if not self._use_current_key(force=True):
                    raise
                return call(self._index)
        except PineconeConnectionError as exc:
            raise VectorIndexError(
                f"Pinecone {action} on {where} failed: no connection after the SDK's retries ({exc}); "
                "check PINECONE_INDEX_HOST and that the function reaches the internet (NAT, egress)"
            ) from exc
        except PineconeError as exc:
            raise VectorIndexError(f"Pinecone {action} on {where} failed: {exc}; {_hint(exc)}") from exc


def _hint(exc: PineconeError) -> str:
    if isinstance(exc, UnauthorizedError | ForbiddenError):
        return "put a valid API key in the SSM parameter PINECONE_SSM_PARAMETER_NAME names"
    if isinstance(exc, NotFoundError):
        return "check PINECONE_INDEX_HOST / PINECONE_INDEX_NAME"
    return "retry later; if it persists, check the request and Pinecone's status page"
