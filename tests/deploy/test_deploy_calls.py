"""IAM grants every AWS call the code really makes: each handler runs under moto while every
botocore call is recorded, and each recorded call must be an action its Terraform role grants,
under the statement's conditions: a DynamoDB item's partition key (every item of a transaction or
batch too) must satisfy the ``dynamodb:LeadingKeys`` condition of a statement granting it."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from deploy_support import Terraform, role_actions, role_statements
from moto import mock_aws
from PIL import Image

from facepipe.names import StackNames
from facepipe_tools.local.context import LambdaContext
from facepipe_tools.local.event_source import sqs_record
from facepipe_tools.local.handlers import load_handler
from facepipe_tools.local.resources import create_resources
from helpers import b64, encode, url_event

# API operations whose IAM authorisation is other actions (per item of a transaction)
AUTHORISED_AS = {
    "dynamodb:TransactWriteItems": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"},
    "dynamodb:TransactGetItems": {"dynamodb:GetItem"},
    "s3:HeadObject": {"s3:GetObject"},
    "s3:ListObjectVersions": {"s3:ListBucketVersions"},
}
#: a transaction item's kind -> the action IAM checks for it
TRANSACT_ITEM_ACTION = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


class Call(str):
    """``service:Operation``, with the request's parameters."""

    params: dict[str, Any]


@pytest.fixture
def calls(monkeypatch) -> Iterator[list[Call]]:
    recorded: list[Call] = []
    original = BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        call = Call(f"{self.meta.service_model.endpoint_prefix}:{operation_name}")
        call.params = api_params
        recorded.append(call)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return recorded


def actions(recorded: list[str]) -> set[str]:
    """The IAM actions the calls need; a transaction only those of the items it really holds."""
    needed: set[str] = set()
    for call, _key in authorisations(recorded):
        needed.add(call)
    return needed


def _partition(item_or_key: dict[str, Any] | None) -> str | None:
    """The PK of a key or item, in the client's typed form ({"S": ...}) or the resource's (str)."""
    if not item_or_key or "PK" not in item_or_key:
        return None
    value = item_or_key["PK"]
    return value.get("S") if isinstance(value, dict) else str(value)


def authorisations(recorded: list[str]) -> list[tuple[str, str | None]]:
    """(action, partition key or None) for every authorisation the calls need: one per item of a
    DynamoDB transaction or batch, one per call otherwise."""
    needed: list[tuple[str, str | None]] = []
    for call in recorded:
        params: dict[str, Any] = getattr(call, "params", {}) or {}
        if call in ("dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"):
            for item in params.get("TransactItems", []):
                ((kind, body),) = item.items()
                needed.append((TRANSACT_ITEM_ACTION[kind], _partition(body.get("Key") or body.get("Item"))))
        elif call == "dynamodb:BatchGetItem":
            for request in params.get("RequestItems", {}).values():
                needed += [(str(call), _partition(key)) for key in request.get("Keys", [])]
        elif call == "dynamodb:BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    body = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
                    needed.append((call, _partition(body)))
        elif call == "s3:DeleteObject" and params.get("VersionId"):
            needed.append(("s3:DeleteObjectVersion", None))
        elif call in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
            needed.append((str(call), _partition(params.get("Key") or params.get("Item"))))
        else:
            needed += [(action, None) for action in sorted(AUTHORISED_AS.get(call, {str(call)}))]
    return needed


def _leading_keys_allow(tf: Terraform, statement: dict, partition: str | None) -> bool:
    for condition in statement.get("condition", []):
        if condition["variable"] != "dynamodb:LeadingKeys":
            continue
        allowed = tf.strings(condition["values"])
        if partition is None:
            return False  # a call whose key we cannot see is not proven to be inside the condition
        if condition["test"] == "ForAllValues:StringEquals" and partition not in allowed:
            return False
        if condition["test"] == "ForAllValues:StringLike" and not any(fnmatch.fnmatchcase(partition, p) for p in allowed):
            return False
        if condition["test"] not in ("ForAllValues:StringEquals", "ForAllValues:StringLike"):
            raise AssertionError(f"this test does not evaluate {condition['test']}")
    return True


def refused(tf: Terraform, role: str, recorded: list[str]) -> list[tuple[str, str | None]]:
    """The authorisations no Allow statement of the role grants, partition-key conditions included."""
    grants = role_statements(tf, role)
    return [
        (action, partition)
        for action, partition in authorisations(recorded)
        if not any(action in s["actions"] and _leading_keys_allow(tf, s, partition) for s in grants)
    ]


@pytest.fixture
def moto_stack(monkeypatch):
    """moto resources, the functions' environment, and a Pinecone-compatible index server."""
    from facepipe.index.embedded import EmbeddedIndex
    from facepipe_tools.local.vector_server import serve_vector_index

    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        resources = create_resources(session, StackNames(), request_visibility=30, max_receive_count=2)
        vectors = serve_vector_index(EmbeddedIndex(128))
        for key, value in {
            "REQUEST_QUEUE_URL": resources.request_queue_url,
            "RESPONSE_QUEUE_URL": resources.response_queue_url,
            "DDB_TABLE_NAME": resources.table,
            "S3_BUCKET_NAME": resources.bucket,
            "EMBEDDING_MODEL": "dlib-resnet",
            "VECTOR_BACKEND": "pinecone",  # as deployed: the key comes from SSM
            "PINECONE_INDEX_HOST": vectors.url,
            "PINECONE_SSM_PARAMETER_NAME": resources.ssm_parameter,
            "EVENT_BUS_NAME": resources.event_bus,  # as deployed: what it decides is published
        }.items():
            monkeypatch.setenv(key, value)
        from aws_lambda_powertools.utilities import parameters

        from facepipe.index import pinecone_connection
        from facepipe.runtime import detection_runtime, recognition_runtime

        parameters.clear_caches()  # a fresh container: nothing cached from other tests
        pinecone_connection.reset_caches()
        detection_runtime.cache_clear()
        recognition_runtime.cache_clear()
        yield session, resources
        vectors.stop()
        detection_runtime.cache_clear()
        recognition_runtime.cache_clear()


def test_detection_calls_are_granted_to_its_role(tf, moto_stack, calls, grace_hopper, monkeypatch):
    detection = load_handler("face_detection")
    calls.clear()
    monkeypatch.setattr("facepipe.frames.MAX_MESSAGE_BYTES", 100)  # take the claim-check path too
    for request_id, image in (("with-face", grace_hopper), ("no-face", Image.new("RGB", (64, 64)))):
        reply = detection.handler(
            url_event({"request_id": request_id, "filename": "f.jpg", "content": b64(encode(image))}), LambdaContext()
        )
        assert reply["statusCode"] == 200
    assert {"sqs:SendMessage", "s3:PutObject", "dynamodb:PutItem"} <= actions(calls)
    assert actions(calls) - role_actions(tf, "detection") == set()
    assert refused(tf, "detection", calls) == []


def test_recognition_calls_are_granted_to_its_role(tf, moto_stack, calls, grace_hopper, grace_hopper_bytes, monkeypatch):
    session, resources = moto_stack
    sqs = session.client("sqs")
    detection = load_handler("face_detection")
    detection.handler(url_event({"request_id": "r1", "filename": "f.jpg", "content": b64(encode(grace_hopper))}), LambdaContext())
    frame = sqs.receive_message(QueueUrl=resources.request_queue_url)["Messages"][0]["Body"]
    session.client("s3").put_object(Bucket=resources.bucket, Key="photos/p.jpg", Body=grace_hopper_bytes)
    photo = next(
        m["Body"]
        for m in sqs.receive_message(QueueUrl=resources.photo_queue_url, MaxNumberOfMessages=10)["Messages"]
        if "Records" in json.loads(m["Body"])
    )

    recognition = load_handler("face_recognition")  # INIT: SSM key, index client
    arn = sqs.get_queue_attributes(QueueUrl=resources.request_queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    photo_arn = sqs.get_queue_attributes(QueueUrl=resources.photo_queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    calls.clear()
    recognition_runtime_calls = []
    for body, source in ((frame, arn), (frame, arn), ("poison", arn), (photo, photo_arn)):  # new person, redelivery, dead letter, photo
        sqs.send_message(QueueUrl=resources.request_queue_url if source == arn else resources.photo_queue_url, MessageBody=body)
        queue = resources.request_queue_url if source == arn else resources.photo_queue_url
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
        calls_before = len(calls)
        result = recognition.handler({"Records": [sqs_record(m, source, "us-east-1") for m in received]}, LambdaContext())
        assert result == {"batchItemFailures": []}
        recognition_runtime_calls += calls[calls_before:]
        for message in received:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    used = actions(recognition_runtime_calls)
    assert {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:ConditionCheckItem",
        "s3:GetObject",
        "s3:PutObject",
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "events:PutEvents",
    } <= used
    assert used - role_actions(tf, "recognition") == set()
    assert refused(tf, "recognition", recognition_runtime_calls) == []


def test_recognition_init_reads_the_pinecone_key_it_is_granted(tf, moto_stack, calls):
    calls.clear()
    load_handler("face_recognition")
    assert "ssm:GetParameter" in actions(calls)
    assert actions(calls) - role_actions(tf, "recognition") == set()
