"""Pinecone vector index (§6, §9) over the official ``pinecone`` SDK's sync data plane.

Lessons applied: the index is targeted by host (no describe call per cold start),
the SDK client is created once per container (its transport retries connection resets
after idle and throttling), and the index dimension is checked against the embedder's once. Pinecone
does not guarantee read-after-write: an upsert becomes queryable after a delay.
(One adapter in one module: key, host, client cache, dimension check, and each data-plane
call with the hint its failure needs; splitting it would scatter one SDK's handling.)
"""

from __future__ import annotations

import functools
import hashlib
import logging
import operator
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from aws_lambda_powertools.utilities import parameters
from pinecone import (
    ForbiddenError,
    Index,
    NotFoundError,
    Pinecone,
    PineconeConnectionError,
    PineconeError,
    UnauthorizedError,
)

from facepipe.embedding import l2_normalise
from facepipe.exceptions import ConfigurationError, VectorIndexError
from facepipe.index._base import Filter, Match, Metadata, Vector, check_dimension
from facepipe.observability import traced_without_result

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

    from facepipe.settings import Settings

__all__ = ["PineconeIndex"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHUNK_SIZE = 100  # vectors (or ids) per request
KEY_MAX_AGE = 300  # seconds the API key read from SSM is cached
COSINE_METRICS = ("cosine", "dotproduct")  # vectors are unit length, so both score cosine similarity
_DEFAULT_NAMESPACE = "__default__"  # how describe_index_stats names the "" namespace

# Per container: one data-plane client per (key, host), one host per index name, and
# the (host, dimension) pairs already checked. Keys are hashed so no cache holds them.
_clients: dict[tuple[str, str], Index] = {}
_hosts: dict[str, str] = {}
_checked: set[tuple[str, int]] = set()
_providers: dict[int, parameters.SSMProvider] = {}  # per injected SSM client: its cache lasts KEY_MAX_AGE
_lock = threading.Lock()


def _fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def read_api_key(parameter_name: str, ssm_client: SSMClient | None = None, force_fetch: bool = False) -> str:
    """The Pinecone API key from an SSM SecureString, decrypted and cached for KEY_MAX_AGE seconds
    (``force_fetch``: read SSM now, e.g. after Pinecone refused the cached key)."""
    try:
        if ssm_client is None:
            value: object = parameters.get_parameter(parameter_name, decrypt=True, max_age=KEY_MAX_AGE, force_fetch=force_fetch)
        else:
            provider = _providers.setdefault(id(ssm_client), parameters.SSMProvider(boto3_client=ssm_client))
            value = provider.get(parameter_name, decrypt=True, max_age=KEY_MAX_AGE, force_fetch=force_fetch)
    except parameters.exceptions.GetParameterError as exc:
        raise ConfigurationError(
            f"cannot read the Pinecone API key from SSM parameter {parameter_name!r} ({exc}); "
            "create it as a SecureString, allow ssm:GetParameter and kms:Decrypt on it, "
            "or point PINECONE_SSM_PARAMETER_NAME at the right parameter"
        ) from exc
    key = str(value).strip()
    if not key:
        raise ConfigurationError(f"SSM parameter {parameter_name!r} is empty; put the Pinecone API key in it")
    return key


def _resolve_host(api_key: str, index_name: str) -> str:
    """The data-plane host of ``index_name``: one describe call per container and name."""
    with _lock:
        host = _hosts.get(index_name)
    if host:
        return host
    try:
        host = Pinecone(api_key=api_key).describe_index(index_name).host
    except (UnauthorizedError, ForbiddenError) as exc:
        raise ConfigurationError(
            "Pinecone rejected the API key while describing index "
            f"{index_name!r}; put a valid key in the SSM parameter PINECONE_SSM_PARAMETER_NAME names"
        ) from exc
    except NotFoundError as exc:
        raise ConfigurationError(
            f"Pinecone index {index_name!r} does not exist; fix PINECONE_INDEX_NAME or set PINECONE_INDEX_HOST"
        ) from exc
    except PineconeError as exc:
        raise VectorIndexError(
            f"cannot describe Pinecone index {index_name!r} ({exc}); set PINECONE_INDEX_HOST to skip this lookup"
        ) from exc
    if not host:
        raise ConfigurationError(f"Pinecone index {index_name!r} has no host yet; wait until it is ready")
    with _lock:
        _hosts[index_name] = host
    return host


def _client(api_key: str, host: str) -> Index:
    """The SDK's data-plane client for ``host``, created once per container."""
    cache_key = (_fingerprint(api_key), host)
    with _lock:
        client = _clients.get(cache_key)
        if client is None:
            client = _clients[cache_key] = Index(host=host, api_key=api_key)
        return client


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
        self._key = _fingerprint(api_key(False)) if api_key else ""

    @classmethod
    def from_settings(cls, settings: Settings, dimension: int, ssm_client: SSMClient | None = None) -> PineconeIndex:
        """Key from SSM, host from PINECONE_INDEX_HOST (else one describe call); checks the dimension."""
        api_key = read_api_key(settings.pinecone_ssm_parameter_name, ssm_client)
        host = settings.pinecone_index_host or _resolve_host(api_key, settings.pinecone_index_name)
        name = settings.pinecone_index_name if not settings.pinecone_index_host else host
        reader = functools.partial(read_api_key, settings.pinecone_ssm_parameter_name, ssm_client)
        index = cls(_client(api_key, host), dimension, name=name, api_key=lambda force: reader(force_fetch=force))
        index.check()
        return index

    def check(self) -> None:
        """Fail with ConfigurationError when the index cannot hold this embedder's vectors (once per host)."""
        key = (self._index.host, self.dimension)
        if key in _checked:
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
        with _lock:
            _checked.add(key)

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
        if _fingerprint(key) == self._key:
            return False
        self._index, self._key = _client(key, self._index.host), _fingerprint(key)
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


def _reset_caches() -> None:
    """Close and forget cached clients, hosts and checks (tests; a rotated key gets a new client anyway)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        _hosts.clear()
        _checked.clear()
        _providers.clear()
