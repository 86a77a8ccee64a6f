"""boto3 clients, typed, created lazily and shared per container.

boto3 honours ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) by itself, which is how
the local stack and tests point unmodified code at moto; the cache is keyed by that endpoint so
tests can switch stacks. Every client retries with botocore's standard mode.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, max_pool_connections=32, connect_timeout=3, read_timeout=20)


def _where() -> tuple[str | None, str]:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return os.environ.get("AWS_ENDPOINT_URL"), region


@functools.cache
def _sqs(endpoint: str | None, region: str) -> SQSClient:
    return boto3.session.Session().client("sqs", config=_CONFIG, region_name=region)


@functools.cache
def _s3(endpoint: str | None, region: str) -> S3Client:
    return boto3.session.Session().client("s3", config=_CONFIG, region_name=region)


@functools.cache
def _ssm(endpoint: str | None, region: str) -> SSMClient:
    return boto3.session.Session().client("ssm", config=_CONFIG, region_name=region)


def sqs() -> SQSClient:
    return _sqs(*_where())


def s3() -> S3Client:
    return _s3(*_where())


def ssm() -> SSMClient:
    return _ssm(*_where())


@functools.cache
def _events(endpoint: str | None, region: str) -> Any:
    return boto3.session.Session().client("events", config=_CONFIG, region_name=region)


def events() -> Any:
    """EventBridge (facepipe.publishing)."""
    return _events(*_where())


def dynamodb() -> DynamoDBServiceResource:
    """A DynamoDB resource (its tables and the client behind them); the caller keeps it."""
    return boto3.session.Session().resource("dynamodb", config=_CONFIG, region_name=_where()[1])
