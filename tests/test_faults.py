"""Fault injection: 200+ frames through both unmodified handlers (moto, in process) while every
AWS call and every vector-index call may fail — an error, throttling, a timeout — or the
process may die right after a write took effect (a crash between two writes, or after the
response was sent). A client retries its POST as clients do; the request queue behaves as SQS
does (partial batch failures, redelivery, redrive to the DLQ after maxReceiveCount).

DynamoDB also refuses writes and transactions as it does when a transaction is in flight on
their items (``TransactionConflict``), which moto in process never does.

Counted, and printed: accepted = answered + dead-lettered with a reason; 0 duplicate
responses, 0 duplicate tags, 0 duplicate people; conflicts injected and retried.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws
from PIL import Image, ImageEnhance, ImageOps

from facepipe.exceptions import VectorIndexError
from facepipe.names import IDEMPOTENCY_PARTITION, StackNames
from facepipe.people.conflicts import conflicts_retried
from facepipe.queues import REASON
from facepipe_tools.local.context import LambdaContext
from facepipe_tools.local.event_source import sqs_record
from facepipe_tools.local.handlers import load_handler
from facepipe_tools.local.resources import create_resources
from helpers import b64, encode, function_environment, url_event

pytestmark = [pytest.mark.slow, pytest.mark.fixtures]

FRAMES = 210
FAULT_RATE = 0.03  # per call
#: DynamoDB refuses a write or a transaction for overlapping work (a transaction in flight on its
#: items): on AWS this is frequent under load, and moto in process never does it
CONFLICT_RATE = 0.1
CONFLICTED = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "TransactGetItems")
MAX_RECEIVES = 5
PEOPLE = ["alex_lacamoire/img1.jpg", "biden/biden.jpg", "kit_harington/john1.jpeg", "obama/obama.jpg", "rose_leslie/img1.jpg"]
KINDS = ("error", "throttle", "timeout", "crash")


class ProcessDied(BaseException):
    """The Lambda process died here (killed at its timeout, out of memory): nothing catches it."""


class Faults:
    """Draws a fault for each call while ``active``; counts what it injected."""

    def __init__(self, seed: int, rate: float) -> None:
        self.rng = random.Random(seed)
        self.rate = rate
        self.on = False
        self.injected: Counter[str] = Counter()

    @contextmanager
    def active(self) -> Iterator[None]:
        self.on = True
        try:
            yield
        finally:
            self.on = False

    def conflict(self, where: str) -> bool:
        """Whether DynamoDB refuses this call for a transaction in flight (drawn apart from the faults)."""
        if not self.on or self.rng.random() >= CONFLICT_RATE:
            return False
        self.injected["conflict"] += 1
        self.injected[f"conflict {where}"] += 1
        return True

    def draw(self, where: str) -> str | None:
        if not self.on or self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(KINDS)
        self.injected[kind] += 1
        self.injected[f"{kind} {where}"] += 1
        return kind


def idempotency_record(params: dict[str, Any]) -> bool:
    """A call on a Powertools idempotency record: never in a transaction, so never refused for one."""
    key = params.get("Key") or params.get("Item") or {}
    partition = key.get("PK")
    return (partition.get("S") if isinstance(partition, dict) else partition) == IDEMPOTENCY_PARTITION


@pytest.fixture
def faults(monkeypatch) -> Faults:
    faults = Faults(seed=20261121, rate=FAULT_RATE)
    original = BaseClient._make_api_call

    def faulty(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        where = f"{self.meta.service_model.endpoint_prefix}:{operation}"
        if operation == "SendMessage":
            where += ":" + params["QueueUrl"].rsplit("/", 1)[-1]
        if operation in CONFLICTED and where.startswith("dynamodb:") and not idempotency_record(params) and faults.conflict(where):
            if operation.startswith("Transact"):
                reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(params["TransactItems"]) - 1)
                raise ClientError({"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons}, operation)
            raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "injected"}}, operation)
        kind = faults.draw(where)
        if kind == "error":
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, operation)
        if kind == "throttle":
            code = {"dynamodb": "ProvisionedThroughputExceededException", "s3": "SlowDown"}.get(where.split(":")[0], "ThrottlingException")
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)
        if kind == "timeout":
            raise ReadTimeoutError(endpoint_url=f"https://{where}")
        result = original(self, operation, params)
        if kind == "crash":
            raise ProcessDied(f"after {where}")
        return result

    monkeypatch.setattr(BaseClient, "_make_api_call", faulty)
    return faults


@pytest.fixture
def moto_stack(monkeypatch) -> Iterator[tuple[Any, Any]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        resources = create_resources(session, StackNames(), request_visibility=30, max_receive_count=MAX_RECEIVES)
        environment = function_environment(
            resources, VECTOR_BACKEND="local", POWERTOOLS_METRICS_DISABLED="true", EVENT_BUS_NAME=resources.event_bus
        )
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        from facepipe.runtime import detection_runtime, recognition_runtime

        detection_runtime.cache_clear()
        recognition_runtime.cache_clear()
        yield session, resources
        detection_runtime.cache_clear()
        recognition_runtime.cache_clear()


def faulty_index(index: Any, faults: Faults, monkeypatch: pytest.MonkeyPatch) -> None:
    """The vector index fails like Pinecone does (errors, 429s, timeouts), or the process dies after an upsert."""
    for name in ("query", "upsert", "delete", "update_metadata"):
        original = getattr(index, name)

        def call(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            kind = faults.draw(f"index:{_name}")
            if kind in ("error", "throttle", "timeout"):
                raise VectorIndexError(f"Pinecone {_name} failed: injected {kind}")
            result = _original(*args, **kwargs)
            if kind == "crash":
                raise ProcessDied(f"after index:{_name}")
            return result

        monkeypatch.setattr(index, name, call)


def frames_of_people(fixtures_root: Any) -> list[tuple[str, str, bytes]]:
    """(request_id, person, JPEG): the people's photos at camera-to-phone sizes, varied."""
    rng = random.Random(7)
    frames = []
    for i in range(FRAMES):
        person = PEOPLE[i % len(PEOPLE)]
        image = Image.open(fixtures_root / "train" / person).convert("RGB")
        scale = rng.choice([0.35, 0.5, 0.7])
        image = image.resize((int(image.width * scale), int(image.height * scale)))
        if rng.random() < 0.5:
            image = ImageOps.mirror(image)
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.85, 1.15))
        frames.append((f"cam{i % 7}-{i:04d}", person, encode(image)))
    return frames


def short_context() -> LambdaContext:
    """An invocation whose in-progress idempotency lock lapses at once when the process dies
    (in Lambda the queue's visibility timeout, 6x the function's, outlasts it)."""
    return LambdaContext(timeout_seconds=0.001)


def test_faults_every_accepted_frame_answered_once_or_dead_lettered_with_reason(moto_stack, faults, fixtures_root, monkeypatch, capsys):
    session, resources = moto_stack
    sqs = session.client("sqs")
    detection = load_handler("face_detection")
    recognition = load_handler("face_recognition")
    # the short context makes a dead process's idempotency lock lapse at once; its "remaining time"
    # of 0 would also defer every record but one (tests/test_batch_bounds.py holds the deadline)
    monkeypatch.setattr("facepipe.recognition.deadline.Deadline.fits", lambda *_: True)
    faulty_index(recognition.runtime.recognizer.index, faults, monkeypatch)
    frames = frames_of_people(fixtures_root)
    retried_before = conflicts_retried()

    # the camera: POST each frame, retrying on 5xx, 409 in_progress, or a connection the dying function dropped
    accepted: dict[str, str] = {}
    refused = 0
    for request_id, person, content in frames:
        body = {"request_id": request_id, "filename": f"{request_id}.jpg", "content": b64(content)}
        for _ in range(8):
            try:
                with faults.active():
                    reply = detection.handler(url_event(body), short_context())
            except ProcessDied:
                continue
            if reply["statusCode"] == 200:
                accepted[request_id] = person
                break
            assert reply["statusCode"] in (409, 500, 503), reply  # never a 4xx for a good frame
        else:
            refused += 1

    # the event source mapping: batches of 10, partial failures, redelivery, redrive
    arn = sqs.get_queue_attributes(QueueUrl=resources.request_queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    invocations = crashed = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=resources.request_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            break
        invocations += 1
        event = {"Records": [sqs_record(m, arn, "us-east-1") for m in messages]}
        try:
            with faults.active():
                result = recognition.handler(event, short_context())
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        except ProcessDied:
            crashed += 1
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=resources.request_queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=resources.request_queue_url, ReceiptHandle=message["ReceiptHandle"])

    responses = [json.loads(m["Body"]) for m in drain_all(sqs, resources.response_queue_url)]
    per_request = Counter(r["request_id"] for r in responses)
    dead = drain_all(sqs, resources.request_dlq_url, attributes=True)
    with_reason = {json.loads(m["Body"])["request_id"] for m in dead if REASON in m.get("MessageAttributes", {})}
    answered = set(per_request)
    # a copy SQS itself redrove (no reason) is a loss only when the request has no answer and no reasoned copy
    # (it happens when a batch dies after the handler dead-lettered one of its records)
    unreasoned = [json.loads(m["Body"])["request_id"] for m in dead if REASON not in m.get("MessageAttributes", {})]
    without_reason = [rid for rid in unreasoned if rid not in answered | with_reason]
    duplicates = sum(n - 1 for n in per_request.values())
    contents = {rid: {json.dumps(r, sort_keys=True) for r in responses if r["request_id"] == rid} for rid in per_request}
    # the one window a standard queue leaves: the process dies after SendMessage returned, before
    # the "sent" marker is written (no exactly-once send without FIFO)
    send_then_die = faults.injected["crash sqs:SendMessage:facepipe-response-queue"]

    table = session.resource("dynamodb").Table(resources.table)
    items = scan(table)
    metas = Counter((i["PK"], i["SK"].rsplit("#", 1)[0]) for i in items if i.get("type") == "media")
    tags = Counter((i["PK"], i["SK"]) for i in items if i.get("type") == "tag")
    faces_per_image = {(i["PK"], i["SK"].rsplit("#", 1)[0]): int(i["faces"]) for i in items if i.get("type") == "media"}
    tag_counts = Counter((i["PK"], i["SK"].rsplit("#", 2)[0]) for i in items if i.get("type") == "tag")
    people = [i for i in items if i.get("type") == "person" and not i.get("merged_into")]
    face_items = Counter(i["person_id"] for i in items if i.get("type") == "face")
    counted = Counter[str]()  # a person's faces are counted on their presence shards
    for item in items:
        if item["SK"].startswith("PROFILE#"):
            counted[item["PK"]] += int(item.get("faces", 0))
    miscounted = [p["person_id"] for p in people if counted[p["PK"]] != face_items[p["person_id"]]]
    named = {r["request_id"]: r["faces"][0]["person_id"] for r in responses if r["faces"] and r["faces"][0]["person_id"]}
    people_per_identity = {person: {named[rid] for rid, p in accepted.items() if p == person and rid in named} for person in PEOPLE}

    # the events: one id per face's decision (duplicates only with the same id), one arrival per person
    events = [json.loads(m["Body"]) for m in drain_all(sqs, resources.events_queue_url)]
    by_id: dict[str, set[str]] = {}
    for event in events:
        by_id.setdefault(event["detail"]["id"], set()).add(json.dumps([event["detail-type"], event["detail"].get("face_id")]))
    face_events = {e["detail"]["face_id"] for e in events if e["detail-type"] in ("Face Recognized", "Unknown Face", "New Person")}
    answered_faces = {f["face_id"] for r in responses for f in r["faces"]}
    arrivals = Counter((e["detail"]["source"], e["detail"]["person_id"]) for e in events if e["detail-type"] == "Person Arrived")
    arrival_ids = {e["detail"]["id"] for e in events if e["detail-type"] == "Person Arrived"}
    present = {("default", f["person_id"]) for r in responses for f in r["faces"] if f["person_id"]}
    with capsys.disabled():  # the counts show in `make test`'s output, pass or fail
        print(
            f"\nfault injection: {len(frames)} frames, {sum(v for k, v in faults.injected.items() if k in KINDS)} faults injected "
            f"({', '.join(f'{k} {faults.injected[k]}' for k in KINDS)}); {invocations} recognition invocations, {crashed} died\n"
            f"  accepted {len(accepted)} (refused after 8 POSTs: {refused}) = answered {len(answered & set(accepted))} "
            f"+ dead-lettered with a reason {len((with_reason - answered) & set(accepted))}; dead-lettered only without a reason {len(without_reason)} ({len(unreasoned)} copies redriven by SQS)\n"
            f"  duplicate responses {duplicates} (identical; deaths right after sending a response: {send_then_die}), duplicate tags {sum(n - 1 for n in tags.values())}, "
            f"people {len(people)} for {len(PEOPLE)} identities, face counts off {len(miscounted)}\n"
            f"  DynamoDB conflicts injected {faults.injected['conflict']}, requests sent again {conflicts_retried() - retried_before}\n"
            f"  events {len(events)} ({len(by_id)} ids; faults on PutEvents {faults.injected['error events:PutEvents'] + faults.injected['crash events:PutEvents']}), "
            f"arrivals {sum(arrivals.values())} for {len(present)} people present ({len(arrival_ids)} ids)"
        )
    assert sum(v for k, v in faults.injected.items() if k in KINDS) >= FRAMES // 3  # the run really was faulty
    assert len(accepted) >= FRAMES * 0.95
    assert set(accepted) == answered | with_reason, "every accepted frame is answered or dead-lettered with its reason"
    assert without_reason == []
    assert not answered - set(accepted)
    assert duplicates <= send_then_die
    assert all(len(c) == 1 for c in contents.values()), "a second answer never contradicts the first"
    assert all(n == 1 for n in tags.values())
    assert all(n == 1 for n in metas.values())
    assert all(tag_counts[image] == faces for image, faces in faces_per_image.items())
    assert miscounted == []
    assert all(len(ids) == 1 for ids in people_per_identity.values()), people_per_identity
    assert len(people) == len(PEOPLE)
    assert faults.injected["conflict"] >= 20  # and every one of them was retried or failed its record, never lost
    assert all(len(kinds) == 1 for kinds in by_id.values()), "an event id is one event, however often it is delivered"
    assert answered_faces <= face_events, "every answered face was published"
    assert set(arrivals) == present, "no arrival lost, none made up"
    assert len(arrival_ids) == len(present), "one arrival per person present (duplicates only with the same id)"


def drain_all(sqs: Any, queue_url: str, attributes: bool = False) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300, MessageAttributeNames=["All"] if attributes else []
    ).get("Messages", []):
        found += batch
    return found


def scan(table: Any) -> list[dict[str, Any]]:
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
