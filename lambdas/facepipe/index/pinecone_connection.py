"""Where the Pinecone index is and what may use it, once per container: the API key from SSM
(cached ``KEY_MAX_AGE`` seconds, so a rotated key is picked up), the index's data-plane host (one
describe call per index name, none with ``PINECONE_INDEX_HOST``), one SDK client per key and
host (its transport retries connection resets after idle and throttling), and the hosts whose
dimension and metric were checked. Keys are hashed so no cache holds them.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities import parameters
from pinecone import ForbiddenError, Index, NotFoundError, Pinecone, PineconeError, UnauthorizedError

from facepipe.exceptions import ConfigurationError, VectorIndexError

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

KEY_MAX_AGE = 300  # seconds the API key read from SSM is cached

_clients: dict[tuple[str, str], Index] = {}
_hosts: dict[str, str] = {}
checked: set[tuple[str, int]] = set()  # (host, dimension) pairs whose index was checked
_providers: dict[int, parameters.SSMProvider] = {}  # per injected SSM client: its cache lasts KEY_MAX_AGE
lock = threading.Lock()


def fingerprint(api_key: str) -> str:
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


def resolve_host(api_key: str, index_name: str) -> str:
    """The data-plane host of ``index_name``: one describe call per container and name."""
    with lock:
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
    with lock:
        _hosts[index_name] = host
    return host


def client(api_key: str, host: str) -> Index:
    """The SDK's data-plane client for ``host``, created once per container."""
    cache_key = (fingerprint(api_key), host)
    with lock:
        client = _clients.get(cache_key)
        if client is None:
            client = _clients[cache_key] = Index(host=host, api_key=api_key)
        return client


def reset_caches() -> None:
    """Close and forget cached clients, hosts and checks (tests; a rotated key gets a new client anyway)."""
    with lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        _hosts.clear()
        checked.clear()
        _providers.clear()
