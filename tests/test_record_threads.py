"""Records of one SQS batch finished concurrently (``RECORD_THREADS``), on the local stack's AWS
emulator (moto's server with DynamoDB requests one at a time; moto in process is not
thread-safe): the outcome is the sequential one, and a record that fails, fails alone."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from PIL import Image, ImageOps

from facepipe.embedding import load_cropper
from facepipe.events import FrameRequest
from facepipe.exceptions import VectorIndexError
from facepipe.frames import FrameProcessor
from facepipe.index.embedded import EmbeddedIndex
from facepipe.messages import encode as encode_message
from facepipe.names import StackNames
from facepipe.people import PeopleStore
from facepipe.recognition import Recognizer
from facepipe.recognition.consumer import RecognitionConsumer
from facepipe.settings import Settings
from facepipe_tools.local.context import LambdaContext
from facepipe_tools.local.emulator import AwsEmulator
from facepipe_tools.local.resources import create_resources
from helpers import drained, queue_and_receive, stack_settings

pytestmark = pytest.mark.fixtures

PEOPLE = ["alex_lacamoire/img1.jpg", "biden/biden.jpg", "kit_harington/john1.jpeg", "obama/obama.jpg", "rose_leslie/img1.jpg"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    """The emulator's endpoint (moto's backends are per process: one emulator, a stack per test)."""
    emulator = AwsEmulator(ip_address="127.0.0.1", port=0, verbose=False)
    emulator.start()
    yield f"http://127.0.0.1:{emulator.get_host_and_port()[1]}"
    emulator.stop()


@pytest.fixture
def emulated(emulator, monkeypatch, request) -> tuple[Any, Settings]:
    """The stack's resources on the emulator, named for this test: (session, the functions' settings)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator)
    session = boto3.session.Session(region_name="us-east-1")
    names = StackNames(prefix=f"threads-{abs(hash(request.node.name)) % 10**8}")
    resources = create_resources(session, names, request_visibility=30, max_receive_count=3)
    return session, stack_settings(resources)


class InFlight:
    """Wraps ``index.query``: how many queries ran at once, at most (each takes a few ms, as Pinecone's do)."""

    def __init__(self, index: EmbeddedIndex, fail_for: str = "") -> None:
        self.most = self._now = 0
        self._lock = threading.Lock()
        self._query = index.query
        self.fail_for = fail_for  # a request_id whose queries fail as Pinecone's do when it is down
        index.query = self  # type: ignore[method-assign]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        try:
            time.sleep(0.02)  # a query's latency, as Pinecone's (not a wait)
            if self.fail_for and self.fail_for in getattr(_current_request, "value", ""):
                raise VectorIndexError("Pinecone query failed: injected")
            return self._query(*args, **kwargs)
        finally:
            with self._lock:
                self._now -= 1


_current_request = threading.local()  # .value: the request_id this thread is finishing


def consumer_on(session: Any, settings: Any, detector: Any, embedder: Any, threads: int) -> tuple[RecognitionConsumer, FrameProcessor]:
    sqs, s3 = session.client("sqs"), session.client("s3")
    people = PeopleStore(settings.ddb_table_name, dynamodb=session.resource("dynamodb"))
    recognizer = Recognizer(settings, embedder, EmbeddedIndex(embedder.dimension), people, sqs=sqs, s3=s3, detector=detector)
    persistence = DynamoDBPersistenceLayer(settings.ddb_table_name, key_attr="PK", sort_key_attr="SK", boto3_session=session)
    original = recognizer.process_frame

    def process_frame(message: Any, *args: Any) -> Any:
        _current_request.value = message["request_id"]
        return original(message, *args)

    recognizer.process_frame = process_frame  # type: ignore[method-assign]
    frames = FrameProcessor(settings, detector, load_cropper(embedder.model), sqs=sqs, s3=s3)
    return RecognitionConsumer(recognizer, persistence, threads=threads), frames


def stranger_frames(fixtures_root: Any, frames: FrameProcessor) -> dict[str, tuple[str, str]]:
    """Two frames (as taken, and mirrored) of each of five people nobody enrolled: {request_id: (person, body)}."""
    bodies = {}
    for i, person in enumerate(PEOPLE):
        image = Image.open(fixtures_root / "train" / person).convert("RGB")
        for variant, frame in (("a", image), ("b", ImageOps.mirror(image))):
            request_id = f"r-{i}{variant}"
            request = FrameRequest(request_id, f"{request_id}.jpg", "cam-1", frame, 0)
            bodies[request_id] = (person, encode_message(frames.build_message(request, frames.detector.detect(frame))))
    return bodies


@pytest.mark.parametrize("threads", [1, 10])
def test_a_batch_finished_concurrently_makes_one_person_per_stranger_and_one_answer_per_request(
    emulated, detector, dlib_embedder, fixtures_root, threads
):
    session, settings = emulated
    consumer, frames = consumer_on(session, settings, detector, dlib_embedder, threads)
    in_flight = InFlight(consumer.recognizer.index)  # type: ignore[arg-type]
    sent = stranger_frames(fixtures_root, frames)
    repeat = sent["r-3a"][1]  # the same request delivered twice in the batch

    result = consumer.handle(
        queue_and_receive(session.client("sqs"), settings.request_queue_url, [body for _, body in sent.values()] + [repeat]),
        LambdaContext(),
    )

    assert result == {"batchItemFailures": []}
    answers = drained(session.client("sqs"), settings.response_queue_url)
    assert sorted(a["request_id"] for a in answers) == sorted(sent)  # one answer each, the repeat's included once
    named = {a["request_id"]: a["faces"][0]["person_id"] for a in answers}
    by_person = {person: {named[rid] for rid, (p, _) in sent.items() if p == person} for person in PEOPLE}
    assert all(len(ids) == 1 for ids in by_person.values()), by_person  # both frames of a stranger: one person
    assert len({next(iter(ids)) for ids in by_person.values()}) == len(PEOPLE)  # five strangers: five people
    assert len(consumer.recognizer.people.list_people()) == len(PEOPLE)
    assert (in_flight.most > 1) == (threads > 1)


def test_a_record_that_fails_fails_alone_while_the_others_finish(emulated, detector, dlib_embedder, fixtures_root):
    session, settings = emulated
    consumer, frames = consumer_on(session, settings, detector, dlib_embedder, threads=10)
    InFlight(consumer.recognizer.index, fail_for="r-2")  # type: ignore[arg-type]
    sent = stranger_frames(fixtures_root, frames)
    event = queue_and_receive(session.client("sqs"), settings.request_queue_url, [body for _, body in sent.values()])

    result = consumer.handle(event, LambdaContext())

    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    of_r2 = {r["messageId"] for r in event["Records"] if json.loads(r["body"])["request_id"].startswith("r-2")}
    assert len(of_r2) == 2  # r-2a and r-2b
    assert failed == of_r2  # SQS delivers them again; the others are answered
    answers = drained(session.client("sqs"), settings.response_queue_url)
    assert sorted(a["request_id"] for a in answers) == sorted(r for r in sent if not r.startswith("r-2"))


def test_metrics_added_from_many_threads_are_all_kept():
    """Powertools' add_metric reads, changes and stores the metric set: without the lock, values
    added at the same moment from two record threads are lost (seen here with the plain class)."""
    import sys

    from facepipe.observability import metrics

    metrics.clear_metrics()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        workers = [
            threading.Thread(target=lambda: [metrics.add_metric(name=f"M{i % 80}", unit="Count", value=1) for i in range(300)])
            for _ in range(8)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        kept = sum(len(metric["Value"]) for metric in metrics.provider.metric_set.values())
    finally:
        sys.setswitchinterval(interval)
        metrics.clear_metrics()
    assert kept == 8 * 300  # 80 names, 30 values each: below the 100 at which Powertools flushes
