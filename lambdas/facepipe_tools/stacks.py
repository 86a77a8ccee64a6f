"""Which stack a command acts on: a running local stack's endpoints (``.facepipe/local.json``), or the
deployed settings already in the environment (``LocalStack.ephemeral`` starts one of its own)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import boto3

from facepipe.exceptions import FacepipeError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

STATE_FILE = Path(".facepipe/local.json")
#: what local stacks accept as credentials (moto checks none)
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class StackInfo(TypedDict):
    """A running local stack's endpoints: what ``facepipe local up`` writes to ``.facepipe/local.json`` (docs/local.md)."""

    function_url: str
    endpoint_url: str
    request_queue_url: str
    response_queue_url: str
    photo_queue_url: str
    request_dlq_url: str
    photo_dlq_url: str
    photo_bucket: str
    table: str
    ssm_parameter: str
    event_bus: str
    events_queue_url: str
    vector_url: str
    embedding_model: str
    namespace: str
    detection_invoke_url: str
    recognition_invoke_url: str
    region: str
    pid: int


def stack_environment(info: StackInfo) -> dict[str, str]:
    """Environment that points a process (boto3, settings, the CLI) at a running local stack."""
    return {
        **LOCAL_CREDENTIALS,
        "AWS_ENDPOINT_URL": info["endpoint_url"],
        "AWS_DEFAULT_REGION": info["region"],
        "AWS_REGION": info["region"],
        "REQUEST_QUEUE_URL": info["request_queue_url"],
        "RESPONSE_QUEUE_URL": info["response_queue_url"],
        "DDB_TABLE_NAME": info["table"],
        "S3_BUCKET_NAME": info["photo_bucket"],
        "EMBEDDING_MODEL": info["embedding_model"],
        "VECTOR_BACKEND": "pinecone",  # the stack serves its embedded index on Pinecone's data-plane API
        "PINECONE_INDEX_HOST": info["vector_url"],
        "PINECONE_NAMESPACE": info["namespace"],
        "PINECONE_SSM_PARAMETER_NAME": info["ssm_parameter"],
        "FACEPIPE_FUNCTION_URL": info["function_url"],
        "EVENT_BUS_NAME": info.get("event_bus", ""),  # people's operations publish too
    }


def use_stack(path: str | None) -> StackInfo | None:
    """Point this process at the local stack in ``path`` (default .facepipe/local.json) if any."""
    state = Path(path) if path else STATE_FILE
    if not state.is_file():
        if path:
            raise FacepipeError(f"{state} not found: start a stack with `facepipe local up`")
        return None
    info: StackInfo = json.loads(state.read_text())
    os.environ.update(stack_environment(info))
    return info


def sqs_client() -> SQSClient:
    """An SQS client for the stack this process points at (boto3 reads ``AWS_ENDPOINT_URL`` itself)."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.session.Session().client("sqs", region_name=region)
