"""Contention as AWS has it: the local stack's strict emulator (DynamoDB refuses overlapping
transactions, as it does) under two recognition environments of ten record threads each.

The embeddings are stand-ins (a crop's colour names its identity; its shade is the frame's own
noise), so that 20 strangers exist; everything else is the real code: SQS batches through the
event source mapping, Powertools idempotency, placement, the stranger registry, tags, answers,
and an index that shows upserts late, as Pinecone does.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import numpy as np
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from PIL import Image

from facepipe.messages import MESSAGE_VERSION
from facepipe.names import StackNames
from facepipe.people import PeopleStore
from facepipe.people.conflicts import conflicts_retried
from facepipe.recognition import Recognizer
from facepipe.recognition.consumer import RecognitionConsumer
from facepipe_tools.local.context import LambdaContext
from facepipe_tools.local.delayed_index import DelayedIndex
from facepipe_tools.local.emulator import EmulatorProcess, conflict_counts
from facepipe_tools.local.event_source import SqsEventSource
from facepipe_tools.local.resources import create_resources
from helpers import stack_settings

pytestmark = pytest.mark.slow

CROP = 150
GOOD = {"size": 120.0, "score": 0.999, "sharpness": 300.0, "yaw": 0.0, "pitch": 0.0, "roll": 0.0, "brightness": 120.0, "band": "good"}


class ColourEmbedder:
    """Crops -> unit vectors: the red channel names the identity, the green one the frame's noise."""

    model, preprocessing, dimension, crop_size = "dlib-resnet", "colour-test-v1", 128, CROP

    def embed(self, crops: Sequence[Image.Image]) -> np.ndarray:
        vectors = []
        for crop in crops:
            red, green, _ = (round(float(v)) for v in np.asarray(crop, np.float32).mean(axis=(0, 1)))
            identity = np.random.default_rng(red // 8).normal(size=self.dimension)
            noise = np.random.default_rng(10_000 + green).normal(scale=0.015, size=self.dimension)
            vector = identity / np.linalg.norm(identity) + noise
            vectors.append(vector / np.linalg.norm(vector))
        return np.asarray(vectors, np.float32)


def frame(request_id: str, identity: int, shade: int) -> str:
    """A request message with one face of ``identity`` (its crop's colour)."""
    buffer = io.BytesIO()
    Image.new("RGB", (CROP, CROP), (8 * identity + 4, shade, 90)).save(buffer, "JPEG", quality=95)
    face = {
        "index": 0,
        "box": [10.0, 10.0, 130.0, 130.0],
        "score": 0.999,
        "quality": GOOD,
        "crop": base64.b64encode(buffer.getvalue()).decode(),
    }
    message = {
        "v": MESSAGE_VERSION,
        "request_id": request_id,
        "filename": f"{request_id}.jpg",
        "source": f"cam{identity % 3}",
        "received_at": "2026-12-04T00:00:00Z",
        "image": {"width": 640, "height": 480, "sha256": f"{identity:04d}{shade:04d}" + "0" * 56},
        "preprocessing": ColourEmbedder.preprocessing,
        "faces": [face],
    }
    return json.dumps(message)


@pytest.fixture(scope="module")
def strict() -> Iterator[str]:
    emulator = EmulatorProcess()  # DynamoDB's refusals on: 25 ms transactions, 5 ms writes
    endpoint = emulator.start()
    yield endpoint
    emulator.stop()


def environment(session: Any, endpoint: str, settings: Any, index: DelayedIndex) -> RecognitionConsumer:
    """One recognition environment (a Lambda container): its own clients, caches and threads."""
    clients = {service: session.client(service, endpoint_url=endpoint) for service in ("sqs", "s3")}
    people = PeopleStore(settings.ddb_table_name, dynamodb=session.resource("dynamodb", endpoint_url=endpoint))
    recognizer = Recognizer(settings, ColourEmbedder(), index, people, sqs=clients["sqs"], s3=clients["s3"])  # type: ignore[arg-type]
    persistence = DynamoDBPersistenceLayer(
        settings.ddb_table_name,
        key_attr="PK",
        sort_key_attr="SK",
        boto3_client=session.client("dynamodb", endpoint_url=endpoint),
    )
    return RecognitionConsumer(recognizer, persistence)


def test_one_person_in_front_of_the_camera_then_twenty_strangers_at_once(strict, monkeypatch, capsys):
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", strict)
    session = boto3.session.Session(region_name="us-east-1")
    resources = create_resources(session, StackNames(prefix="contention"), endpoint_url=strict, request_visibility=5, max_receive_count=5)
    settings = stack_settings(resources, record_threads=10)
    index = DelayedIndex(128, delay=2.0)  # upserts show after 2 s, as Pinecone's do (later)
    sqs = session.client("sqs", endpoint_url=strict)
    # GIVEN two recognition environments, each taking batches of 10 from the request queue
    batches: Counter[str] = Counter()

    def invoker(name: str, consumer: RecognitionConsumer) -> Any:
        def invoke(event: Any) -> Any:
            batches[name] += 1
            return consumer.handle(event, LambdaContext(timeout_seconds=60))

        return invoke

    sources = [
        SqsEventSource(sqs, resources.request_queue_url, invoker(name, environment(session, strict, settings, index)), batching_window=0.2)
        for name in ("env-1", "env-2")
    ]
    refused_before, retried_before = conflict_counts(strict), conflicts_retried()
    for source in sources:
        source.start()
    try:
        # WHEN 100 frames of one person arrive at once, then one frame each of 20 strangers, at once
        person = [frame(f"p-{i:03d}", 1, i) for i in range(100)]
        strangers = [frame(f"s-{i:02d}", 2 + i, 7) for i in range(20)]
        answers = send_and_collect(sqs, resources, person) | send_and_collect(sqs, resources, strangers)
    finally:
        for source in sources:
            source.stop()
    refused = {k: v - refused_before.get(k, 0) for k, v in conflict_counts(strict).items() if k.endswith(("cancelled", "refused"))}
    retried = conflicts_retried() - retried_before
    # THEN every frame is answered once, nothing is dead-lettered, and the people are right
    dead = sqs.receive_message(QueueUrl=resources.request_dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    named = {rid: a["faces"][0]["person_id"] for rid, a in answers.items()}
    people = PeopleStore(settings.ddb_table_name, dynamodb=session.resource("dynamodb", endpoint_url=strict)).list_people()
    with capsys.disabled():
        print(
            f"\ncontention: 120 frames over {dict(batches)} batches; DynamoDB refused {refused}; requests sent again {retried}; "
            f"people {len(people)}"
        )
    assert sorted(answers) == sorted([f"p-{i:03d}" for i in range(100)] + [f"s-{i:02d}" for i in range(20)])
    assert dead == []
    assert len({named[f"p-{i:03d}"] for i in range(100)}) == 1
    assert len({named[f"s-{i:02d}"] for i in range(20)}) == 20
    assert len(people) == 21
    assert batches["env-1"]
    assert batches["env-2"]
    assert sum(refused.values()) > 0, "the emulator never refused anything: this run proved nothing about contention"


def send_and_collect(sqs: Any, resources: Any, bodies: list[str], timeout: float = 240) -> dict[str, dict[str, Any]]:
    """Send ``bodies`` at once; every answer on the response queue (exactly one per request_id)."""
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])]
        sqs.send_message_batch(QueueUrl=resources.request_queue_url, Entries=entries)
    wanted = {json.loads(b)["request_id"] for b in bodies}
    answers: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while set(answers) != wanted and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=resources.response_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            answer = json.loads(message["Body"])
            assert answer["request_id"] not in answers, f"a second answer to {answer['request_id']}"
            answers[answer["request_id"]] = answer
            sqs.delete_message(QueueUrl=resources.response_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return answers
