"""A batch's work bounded (moto, a fake embedder whose cost per face is known): crops embedded in
forward passes of at most ``EMBED_BATCH_SIZE``, fewest faces first, each record finished as soon as
its crops are embedded; under a Lambda context, a record whose estimate does not fit in the time
left is not started but left to SQS (a batch item failure), so one huge frame cannot time out the
small ones it came with."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from PIL import Image

from facepipe.embedding import EMBED_BATCH_SIZE, l2_normalise, load_cropper
from facepipe.index.embedded import EmbeddedIndex
from facepipe.messages import encode as encode_message
from facepipe.messages import response_message
from facepipe.observability import Metric, metrics
from facepipe.people import PeopleStore
from facepipe.recognition import Recognised, Recognizer, deadline
from facepipe.recognition.consumer import RecognitionConsumer
from facepipe_tools.local.context import LambdaContext
from helpers import b64, drain, encode, queue_and_receive

#: what the fake embedder takes per crop
SECONDS_PER_FACE = 0.02


class SlowEmbedder:
    """dlib-resnet's crops embedded at a known cost (``SECONDS_PER_FACE`` a crop) into random unit
    vectors; each forward pass's size is recorded, and ``before_pass`` called before it."""

    model = "dlib-resnet"
    dimension = 128

    def __init__(self) -> None:
        cropper = load_cropper(self.model)
        self.preprocessing = cropper.preprocessing
        self.crop_size = cropper.crop_size
        self.passes: list[int] = []
        self.before_pass: Any = None
        self._rng = np.random.default_rng(7)

    def embed(self, crops: Any) -> np.ndarray:
        if self.before_pass is not None:
            self.before_pass()
        self.passes.append(len(crops))
        time.sleep(SECONDS_PER_FACE * len(crops))  # the work's cost, which the deadline is measured against (not a wait)
        return l2_normalise(self._rng.normal(size=(len(crops), self.dimension)))


@dataclass
class StillContext(LambdaContext):
    """A Lambda context whose remaining time stands still at ``seconds`` (no clock in the test's way)."""

    seconds: float = 60.0

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def with_margin(seconds: float) -> float:
    """The remaining time that leaves ``seconds`` beyond the consumer's safety margin."""
    total = seconds / (1 - deadline.SAFETY_SHARE)
    return total if deadline.SAFETY_SHARE * total <= deadline.SAFETY_SECONDS else seconds + deadline.SAFETY_SECONDS


def frame_message(request_id: str, faces: int, crop_size: int, preprocessing: str) -> str:
    """A request message of ``faces`` faces (a plain grey crop each: 100 of them fit in one SQS message)."""
    crop = b64(encode(Image.new("RGB", (crop_size, crop_size), (128, 128, 128))))
    entries = [
        {
            "index": i,
            "box": [40.0 * (i % 40), 40.0 * (i // 40), 40.0 * (i % 40) + 36, 40.0 * (i // 40) + 36],
            "score": 0.99,
            "landmarks": [[10.0, 12.0], [26.0, 12.0], [18.0, 20.0], [12.0, 28.0], [24.0, 28.0]],
            "crop": crop,
        }
        for i in range(faces)
    ]
    return encode_message(
        {
            "v": 1,
            "request_id": request_id,
            "filename": f"{request_id}.jpg",
            "source": "cam-1",
            "received_at": "2026-01-01T00:00:00Z",
            "image": {"width": 1600, "height": 120},
            "preprocessing": preprocessing,
            "faces": entries,
        }
    )


@pytest.fixture
def build(aws, settings):
    """``build(threads=None, idempotent=True)`` -> (consumer, embedder) on moto, with the slow fake embedder."""

    def make(threads: int | None = None, idempotent: bool = True) -> tuple[RecognitionConsumer, SlowEmbedder]:
        embedder = SlowEmbedder()
        people = PeopleStore(settings.ddb_table_name, dynamodb=aws.resource("dynamodb"))
        index = EmbeddedIndex(embedder.dimension)
        recognizer = Recognizer(settings, embedder, index, people, sqs=aws.client("sqs"), s3=aws.client("s3"))  # type: ignore[arg-type]
        persistence = (
            DynamoDBPersistenceLayer(settings.ddb_table_name, key_attr="PK", sort_key_attr="SK", boto3_session=aws) if idempotent else None
        )
        return RecognitionConsumer(recognizer, persistence, threads=threads), embedder

    return make


def bodies(embedder: SlowEmbedder, *frames: tuple[str, int]) -> list[str]:
    return [frame_message(request_id, faces, embedder.crop_size, embedder.preprocessing) for request_id, faces in frames]


def answered(sqs, settings) -> list[str]:
    return [json.loads(m["Body"])["request_id"] for m in drain(sqs, settings.response_queue_url)]


def message_id(event: dict, request_id: str) -> str:
    return next(r["messageId"] for r in event["Records"] if json.loads(r["body"])["request_id"] == request_id)


SMALL = [(f"small-{i}", 1) for i in range(9)]


def test_a_frame_too_large_for_the_time_left_is_deferred_and_the_small_ones_are_answered(build, sqs, settings, resources, aws):
    consumer, embedder = build()
    # GIVEN a container that has measured what a face costs (a 10-face frame, no deadline)
    warm_up = consumer.handle(queue_and_receive(sqs, settings.request_queue_url, bodies(embedder, ("warm-up", 10))))
    assert warm_up == {"batchItemFailures": []}
    assert answered(sqs, settings) == ["warm-up"]
    assert consumer.costs.embed >= SECONDS_PER_FACE  # measured: the fake embedder's cost at least
    # AND a batch of one 100-face frame and nine 1-face frames, with 2 s left beyond the safety margin:
    # time for the nine (9 x 20 ms of embedding and their finishing), not for the 100 faces (2 s of embedding alone)
    event = queue_and_receive(sqs, settings.request_queue_url, bodies(embedder, ("big", 100), *SMALL))
    embedder.passes.clear()
    metrics.clear_metrics()

    result = consumer.handle(event, StillContext(seconds=with_margin(2.0)))

    # THEN the nine are answered, and the big one is left to SQS, unread and unembedded
    big = message_id(event, "big")
    assert result == {"batchItemFailures": [{"itemIdentifier": big}]}
    assert sorted(answered(sqs, settings)) == sorted(rid for rid, _ in SMALL)
    assert embedder.passes == [9]
    assert metrics.provider.metric_set[Metric.RECORDS_DEFERRED]["Value"] == [1.0]
    metrics.clear_metrics()
    # AND it is not lost: nothing of it was written (no idempotency record, no dead letter) ...
    idempotency = [i for i in aws.resource("dynamodb").Table(settings.ddb_table_name).scan()["Items"] if i["PK"].startswith("idempotency#")]
    assert len(idempotency) == 1 + len(SMALL)
    assert drain(sqs, resources.request_dlq_url) == []
    # ... and SQS's next delivery of it, in a batch with time enough, answers it
    (record,) = [r for r in event["Records"] if r["messageId"] == big]
    record["attributes"]["ApproximateReceiveCount"] = "2"
    assert consumer.handle({"Records": [record]}, StillContext(seconds=60)) == {"batchItemFailures": []}
    assert answered(sqs, settings) == ["big"]


def test_without_a_context_every_record_is_finished_in_bounded_passes_as_soon_as_it_is_embedded(build, sqs, settings):
    consumer, embedder = build()
    sent: list[int] = []
    original = consumer.recognizer.answer

    def answer(*args: Any, **kwargs: Any) -> bool:
        sent.append(1)
        return original(*args, **kwargs)

    consumer.recognizer.answer = answer  # type: ignore[method-assign]
    answered_before_pass: list[int] = []
    embedder.before_pass = lambda: answered_before_pass.append(len(sent))
    event = queue_and_receive(sqs, settings.request_queue_url, bodies(embedder, ("big", 100), *SMALL))

    result = consumer.handle(event)  # seed 000's hand-made event: no deadline

    assert result == {"batchItemFailures": []}
    assert sorted(answered(sqs, settings)) == sorted(["big"] + [rid for rid, _ in SMALL])
    # the passes never exceed the bound: the nine small crops first, then the 100 in the room left and after
    assert all(size <= EMBED_BATCH_SIZE for size in embedder.passes)
    assert embedder.passes == [32, 32, 32, 13]
    # the nine are answered after the first pass, while the big one is still being embedded
    assert answered_before_pass == [0, 9, 9, 9]


def test_with_no_time_left_only_the_first_record_and_one_on_its_last_attempt_are_started(build, sqs, settings, resources):
    consumer, embedder = build()
    event = queue_and_receive(sqs, settings.request_queue_url, bodies(embedder, ("r-1", 1), ("r-2", 2), ("r-3", 3)))
    deferred, last = message_id(event, "r-2"), message_id(event, "r-3")
    next(r for r in event["Records"] if r["messageId"] == last)["attributes"]["ApproximateReceiveCount"] = "2"  # maxReceiveCount 3

    result = consumer.handle(event, StillContext(seconds=0))

    # the first record started is always attempted (else a record larger than any deadline would never
    # be); one on its last attempt too (deferred, its next receive would dead-letter it unattempted)
    assert result == {"batchItemFailures": [{"itemIdentifier": deferred}]}
    assert sorted(answered(sqs, settings)) == ["r-1", "r-3"]
    assert drain(sqs, resources.request_dlq_url) == []


def test_records_of_one_request_id_are_finished_in_batch_order_on_one_thread(build, sqs, settings):
    """Fewest faces first, but a request_id's records keep their batch order (the later finds the
    earlier's stored answer), on one thread; other records are finished alongside."""
    consumer, embedder = build(threads=4, idempotent=False)
    calls: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most

    def process_frame(message: Any, vectors: Any, crops: Any) -> Recognised:  # no AWS: moto in process is not thread-safe
        with lock:
            calls.append((message["request_id"], len(message["faces"]), threading.current_thread().name))
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        time.sleep(0.05)  # a record's work takes a while, so the others run alongside it (not a wait)
        with lock:
            in_flight[0] -= 1
        return Recognised(response_message(message["request_id"], message["filename"], []), "digest")

    consumer.recognizer.process_frame = process_frame  # type: ignore[method-assign]
    consumer.recognizer.answer = lambda recognised, earlier=True: True  # type: ignore[method-assign]
    event = queue_and_receive(
        sqs, settings.request_queue_url, bodies(embedder, ("dup", 3), ("a", 2), ("dup", 1), ("b", 1), ("dup", 2), ("c", 1))
    )
    in_batch_order = [len(json.loads(r["body"])["faces"]) for r in event["Records"] if json.loads(r["body"])["request_id"] == "dup"]

    assert consumer.handle(event) == {"batchItemFailures": []}

    of_dup = [(faces, thread) for rid, faces, thread in calls if rid == "dup"]
    assert [faces for faces, _ in of_dup] == in_batch_order
    assert len({thread for _, thread in of_dup}) == 1
    assert sorted(rid for rid, _, _ in calls) == ["a", "b", "c", "dup", "dup", "dup"]
    assert in_flight[1] > 1  # the other request_ids were finished alongside
