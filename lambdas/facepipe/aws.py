"""boto3 clients, created lazily and shared per container.

boto3 honours ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) by itself, which
is how the local stack and tests point unmodified code at moto.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, max_pool_connections=32, connect_timeout=3, read_timeout=20)


@functools.cache
def _session_client(service: str, endpoint: str | None, region: str | None) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG, region_name=region)


def client(service: str) -> Any:
    """A shared client for ``service``; cache keyed by the endpoint so tests can switch stacks."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return _session_client(service, os.environ.get("AWS_ENDPOINT_URL"), region)


def resource(service: str) -> Any:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.session.Session().resource(service, config=_CONFIG, region_name=region)
