"""What recognition decided, as EventBridge events (moto in process, the real models): one event
per face with a stable id, one arrival per arrival however many frames and containers, and an
arrival whose publishing died is published by the next sighting."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
from PIL import Image

from facepipe.embedding import load_cropper
from facepipe.events import FrameRequest
from facepipe.frames import FrameProcessor
from facepipe.index.embedded import EmbeddedIndex
from facepipe.messages import encode as encode_message
from facepipe.people import PeopleStore
from facepipe.publishing import EventType, Publisher
from facepipe.recognition import Recognizer
from facepipe.recognition.consumer import RecognitionConsumer
from facepipe.runtime import idempotency_store
from facepipe_tools.admin import Admin
from facepipe_tools.local.context import LambdaContext
from helpers import drained, encode, queue_and_receive

pytestmark = [pytest.mark.fixtures]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bus(aws, resources, settings, detector, dlib_embedder):
    """(frames, two recognition containers' consumers, the clock) publishing on the stack's bus."""
    sqs, s3 = aws.client("sqs"), aws.client("s3")
    settings = dataclasses.replace(settings, event_bus_name=resources.event_bus, arrival_cooldown_seconds=600)
    index, clock = EmbeddedIndex(128), Clock()
    consumers = []
    for _ in range(2):
        people = PeopleStore(settings.ddb_table_name, dynamodb=aws.resource("dynamodb"))
        recognizer = Recognizer(settings, dlib_embedder, index, people, sqs=sqs, s3=s3, detector=detector)
        recognizer.publisher = Publisher(resources.event_bus, people, 600, client=aws.client("events"), clock=clock)
        consumers.append(RecognitionConsumer(recognizer, idempotency_store(settings)))
    frames = FrameProcessor(settings, detector, load_cropper("dlib-resnet"), sqs=sqs, s3=s3)
    return frames, consumers, clock


def send(bus: Any, sqs: Any, settings: Any, shots: list[tuple[str, str, Image.Image]], consumer: int = 0) -> None:
    frames, consumers, _ = bus
    bodies = [
        encode_message(frames.build_message(FrameRequest(rid, f"{rid}.jpg", source, image, 0), frames.detector.detect(image)))
        for rid, source, image in shots
    ]
    assert consumers[consumer].handle(queue_and_receive(sqs, settings.request_queue_url, bodies), LambdaContext()) == {
        "batchItemFailures": []
    }


def events(sqs: Any, resources: Any) -> list[dict[str, Any]]:
    """The events published since the last call, one per id (delivery is at least once: a record
    that took longer than its visibility timeout on a busy machine is finished twice, and
    publishes the same ids again; each id is one event whatever its copies)."""
    by_id: dict[str, dict[str, Any]] = {}
    for event in drained(sqs, resources.events_queue_url):
        seen = by_id.setdefault(event["detail"]["id"], event)
        assert seen["detail-type"] == event["detail-type"], "one id, one event"
    return list(by_id.values())


def test_events_per_face_and_one_arrival_per_arrival(bus, aws, resources, settings, fixtures_root):
    sqs = aws.client("sqs")
    _, consumers, clock = bus
    admin = Admin(consumers[0].recognizer)
    photo = {
        name: Image.open(fixtures_root / path).convert("RGB")
        for name, path in {
            "obama": "train/obama/obama.jpg",
            "biden": "train/biden/biden.jpg",
            "obama2": "train/obama/obama2.jpg",
            "biden2": "train/biden/biden2.jpg",
            "alex": "train/alex_lacamoire/img1.jpg",
            "kit": "train/kit_harington/john1.jpeg",
        }.items()
    }
    admin.enroll("obama", [("o.jpg", encode(photo["obama"]))])
    admin.enroll("biden", [("b.jpg", encode(photo["biden"]))])
    events(sqs, resources)  # (nothing is published by enrolling)
    # GIVEN frames of two named people and two strangers, from two cameras, interleaved
    shots = [
        ("f1", "door", photo["obama2"]),
        ("f2", "garage", photo["biden2"]),
        ("f3", "door", photo["alex"]),
        ("f4", "garage", photo["kit"]),
        ("f5", "garage", photo["obama2"]),
        ("f6", "door", photo["biden2"]),
    ]
    send(bus, sqs, settings, shots)
    got = events(sqs, resources)
    kinds = Counter((e["detail-type"], e["detail"]["source"], e["detail"]["name"] or "?") for e in got)
    strangers = {e["detail"]["name"] for e in got if e["detail-type"] == EventType.NEW_PERSON}
    assert len(strangers) == 2
    expected: Counter[tuple[str, str, str]] = Counter()
    for kind, source, name in [
        ("Face Recognized", "door", "obama"),
        ("Face Recognized", "garage", "biden"),
        ("Face Recognized", "garage", "obama"),
        ("Face Recognized", "door", "biden"),
    ]:
        expected[(kind, source, name)] += 1
        expected[("Person Arrived", source, name)] += 1
    for e in got:
        if e["detail-type"] == EventType.NEW_PERSON:
            expected[("New Person", e["detail"]["source"], e["detail"]["name"])] += 1
            expected[("Person Arrived", e["detail"]["source"], e["detail"]["name"])] += 1
    assert kinds == expected
    assert all(e["source"] == "facepipe" and e["detail"]["v"] == 1 and e["detail"]["id"] for e in got)
    assert len({e["detail"]["id"] for e in got}) == len(got)
    # WHEN ten more frames of obama at the door come within a minute, to both containers
    for i in range(10):
        clock.now += 5
        send(bus, sqs, settings, [(f"o-{i}", "door", photo["obama2"].rotate(i % 3))], consumer=i % 2)
    more = events(sqs, resources)
    # THEN each is recognised, and none is an arrival
    assert Counter(e["detail-type"] for e in more) == {EventType.FACE_RECOGNIZED: 10}
    # AND after the cooldown away, the next is an arrival again
    clock.now += 601
    send(bus, sqs, settings, [("o-late", "door", photo["obama2"])], consumer=1)
    late = events(sqs, resources)
    assert Counter(e["detail-type"] for e in late) == {EventType.FACE_RECOGNIZED: 1, EventType.PERSON_ARRIVED: 1}


def test_an_arrival_whose_publishing_died_is_published_by_the_next_sighting(bus, aws, resources, settings, fixtures_root, monkeypatch):
    sqs = aws.client("sqs")
    _, consumers, clock = bus
    image = Image.open(fixtures_root / "train/obama/obama.jpg").convert("RGB")
    Admin(consumers[0].recognizer).enroll("obama", [("o.jpg", encode(image))])
    publisher = consumers[0].recognizer.publisher
    put = publisher.put

    def dies(entries: Any) -> None:
        raise RuntimeError("the container died before PutEvents")

    # GIVEN the first frame's record decides the arrival, then dies before publishing (SQS keeps it)
    monkeypatch.setattr(publisher, "put", dies)
    frames, _, _ = bus
    body = encode_message(frames.build_message(FrameRequest("a-1", "a.jpg", "door", image, 0), frames.detector.detect(image)))
    event = queue_and_receive(sqs, settings.request_queue_url, [body])
    assert consumers[0].handle(event, LambdaContext())["batchItemFailures"]
    monkeypatch.setattr(publisher, "put", put)
    # WHEN another frame of him arrives in the other container before that record comes back
    clock.now += 3
    send(bus, sqs, settings, [("a-2", "door", image.rotate(2))], consumer=1)
    # THEN that sighting publishes the arrival, with the id the first one decided
    first = [e for e in events(sqs, resources) if e["detail-type"] == EventType.PERSON_ARRIVED]
    assert len(first) == 1
    # AND the first record, delivered again, publishes the same arrival again (at least once: one id)
    consumers[0].handle(queue_and_receive(sqs, settings.request_queue_url, [body]), LambdaContext())
    again = [e for e in events(sqs, resources) if e["detail-type"] == EventType.PERSON_ARRIVED]
    assert {e["detail"]["id"] for e in again} <= {first[0]["detail"]["id"]}


def test_operations_publish_their_events(bus, aws, resources, fixtures_root):
    sqs = aws.client("sqs")
    _, consumers, _ = bus
    admin = Admin(consumers[0].recognizer)
    image = Image.open(fixtures_root / "train/biden/biden.jpg").convert("RGB")
    person = admin.enroll("joe", [("b.jpg", encode(image))]).person
    admin.rename("joe", "biden")
    admin.delete("biden")
    got = events(sqs, resources)
    assert [e["detail-type"] for e in got] == [EventType.PERSON_RENAMED, EventType.PERSON_ERASED]
    assert got[0]["detail"] == {**got[0]["detail"], "person_id": person.person_id, "name": "biden", "previous_name": "joe"}
    assert "name" not in got[1]["detail"]  # an erasure names nobody
