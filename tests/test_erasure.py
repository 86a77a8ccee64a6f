"""What the local stack hid, on moto with the real models: an erasure stays erased when SQS
brings the person's frames back; admin operations check before they write, and either complete
or refuse; one face is one person's even when its record fails and comes back; a request_id is
its device's own."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from facepipe.embedding import load_cropper
from facepipe.events import FrameRequest
from facepipe.exceptions import VectorIndexError
from facepipe.frames import FrameAcceptor, FrameProcessor
from facepipe.index.embedded import EmbeddedIndex
from facepipe.messages import encode as encode_message
from facepipe.names import IDEMPOTENCY_PARTITION, TTL_ATTRIBUTE
from facepipe.operations import OperationError
from facepipe.people import PeopleStore, keys
from facepipe.people.registry import StrangerRegistry
from facepipe.recognition import Recognizer
from facepipe.recognition.consumer import RecognitionConsumer
from facepipe.runtime import idempotency_store
from facepipe.storage import claim_check_key, face_crop_key
from facepipe_tools.admin import Admin, MergeRefused
from facepipe_tools.local.context import LambdaContext
from helpers import drain, drained, encode, queue_and_receive

pytestmark = [pytest.mark.fixtures]


@pytest.fixture
def pipeline(aws, settings, detector, dlib_embedder):
    """(frames, recognizer, consumer) on moto with MTCNN and dlib; ``clock`` moves the registry's time."""

    def build(index: EmbeddedIndex | None = None, clock: Any = time.time):
        sqs, s3 = aws.client("sqs"), aws.client("s3")
        people = PeopleStore(settings.ddb_table_name, dynamodb=aws.resource("dynamodb"))
        registry = StrangerRegistry(people, settings.namespace, clock=clock)
        recognizer = Recognizer(
            settings, dlib_embedder, index or EmbeddedIndex(128), people, sqs=sqs, s3=s3, detector=detector, registry=registry
        )
        frames = FrameProcessor(settings, detector, load_cropper("dlib-resnet"), sqs=sqs, s3=s3)
        return frames, recognizer, RecognitionConsumer(recognizer, idempotency_store(settings))

    return build


def message(frames: FrameProcessor, request_id: str, image: Image.Image, source: str = "door") -> str:
    request = FrameRequest(request_id, f"{request_id}.jpg", source, image, 0)
    return encode_message(frames.build_message(request, frames.detector.detect(image)))


def deliver(consumer: RecognitionConsumer, sqs: Any, settings: Any, bodies: list[str]) -> dict[str, Any]:
    """The bodies as one SQS batch; the batch response."""
    return consumer.handle(queue_and_receive(sqs, settings.request_queue_url, bodies), LambdaContext())


def answers(sqs: Any, settings: Any) -> dict[str, dict[str, Any]]:
    return {a["request_id"]: a for a in drained(sqs, settings.response_queue_url)}


def everything(recognizer: Recognizer, settings: Any) -> tuple[list[dict[str, Any]], list[Any], list[str]]:
    """The whole table, every vector of the namespace, every object version of the bucket."""
    table = recognizer.people.table
    items = table.scan()["Items"]
    vectors = recognizer.index.query(np.ones(128, np.float32), 10_000, settings.namespace)
    versions = recognizer.s3.list_object_versions(Bucket=settings.s3_bucket_name)
    keys_ = [v["Key"] for v in versions.get("Versions", [])]
    return items, vectors, keys_


# --------------------------------------------------------------------------- erasure stays erased


def test_erased_people_do_not_come_back_when_their_frames_are_delivered_again(pipeline, sqs, settings, photo):
    frames, recognizer, consumer = pipeline()
    admin = Admin(recognizer)
    # GIVEN biden and obama enrolled, frames naming biden (alone and beside obama), and a stranger made a person
    admin.enroll("biden", [("b.jpg", encode(photo("train/biden/biden.jpg")))])
    admin.enroll("obama", [("o.jpg", encode(photo("train/obama/obama.jpg")))])
    bodies = [
        message(frames, "r-1", photo("train/biden/biden2.jpg")),
        message(frames, "r-2", photo("test/obama_and_biden.jpg")),
        message(frames, "r-3", photo("train/alex_lacamoire/img1.jpg")),
    ]
    assert deliver(consumer, sqs, settings, bodies) == {"batchItemFailures": []}
    first = answers(sqs, settings)
    assert first["r-1"]["result"] == "biden"
    assert "biden" in first["r-2"]["result"].split(", ")
    stranger = first["r-3"]["faces"][0]
    assert stranger["new_person"]
    # WHEN biden and the stranger are erased
    admin.delete("biden")
    admin.delete(stranger["person_id"])
    erased_faces = {f["face_id"] for a in first.values() for f in a["faces"] if f["name"] in ("biden", stranger["name"])}
    # AND every message that named them comes back: an SQS duplicate, then a DLQ redrive of all three
    assert deliver(consumer, sqs, settings, bodies[:1]) == {"batchItemFailures": []}
    again = answers(sqs, settings)
    assert deliver(consumer, sqs, settings, bodies) == {"batchItemFailures": []}
    again |= answers(sqs, settings)  # (r-1's duplicate was answered once: the redrive of it finds that answer)
    # THEN the answers carry no name of theirs
    assert again["r-1"]["result"] == "unknown"
    assert again["r-3"]["result"] == "unknown"
    assert "biden" not in again["r-2"]["result"]
    assert "obama" in again["r-2"]["result"].split(", ")
    for answer in again.values():
        for face in answer["faces"]:
            if face["face_id"] in erased_faces:
                assert face["person_id"] is None
                assert face["name"] == ""
    # AND nothing of them came back: no person, face, tag naming them, vector or crop, nobody new made of their faces
    items, vectors, objects = everything(recognizer, settings)
    names = {p.name for p in admin.list_people()}
    assert names == {"obama"}
    assert not [i for i in items if "biden" in json.dumps(i, default=str) or stranger["name"] in json.dumps(i, default=str)]
    assert not [i for i in items if i.get("type") == "face" and i["face_id"] in erased_faces]
    assert not [v for v in vectors if v.id in erased_faces]
    assert not [k for k in objects if any(face_id in k for face_id in erased_faces)]
    obama = admin.person("obama").person_id
    assert {v.metadata["person_id"] for v in vectors} == {obama}
    # (what is left of them is the erasure's marks: an anonymous claim per face, presence shards saying "erased")
    claims = [i for i in items if i.get("type") == "claim" and i["face_id"] in erased_faces]
    assert claims
    assert all(c.get("erased") and "person_id" not in c and c[TTL_ATTRIBUTE] for c in claims)


# --------------------------------------------------------------------------- admin: check before write


def test_merge_into_a_person_whose_erasure_begins_meanwhile_is_refused_and_undone(pipeline, photo):
    _, recognizer, _ = pipeline()
    admin = Admin(recognizer)
    source = admin.enroll(
        "biden-a", [("b1.jpg", encode(photo("train/biden/biden.jpg"))), ("b2.jpg", encode(photo("train/biden/biden2.jpg")))]
    )
    target = admin.enroll("biden-b", [("b3.jpg", encode(ImageOps.mirror(photo("train/biden/biden.jpg"))))]).person
    source_faces = {f["face_id"] for f in recognizer.people.faces_of(source.person.person_id)}
    # WHEN the target's erasure begins after the merge moved its first face
    moves = []
    original = recognizer.people.move_face

    def move_then_erase(face: dict[str, Any], target_id: str) -> None:
        original(face, target_id)
        moves.append(face["face_id"])
        if len(moves) == 1:
            recognizer.people.mark_deleting(target_id)

    recognizer.people.move_face = move_then_erase  # type: ignore[method-assign]
    with pytest.raises(MergeRefused, match="being erased"):
        admin.merge("biden-a", "biden-b")
    recognizer.people.move_face = original  # type: ignore[method-assign]
    # THEN the source is listed again with the face the merge had not moved, and it is whole
    restored = recognizer.people.get_person(source.person.person_id)
    assert restored.present
    assert "biden-a" in {p.name for p in admin.list_people()}
    left = {f["face_id"] for f in recognizer.people.faces_of(restored.person_id)}
    assert left == source_faces - set(moves)
    assert restored.face_count == len(left)
    for face_id in left:
        assert recognizer.people.holder(face_id) == restored.person_id
        (vector,) = recognizer.index.fetch([face_id], recognizer.namespace)
        assert vector.metadata["person_id"] == restored.person_id
    # AND the target's erasure completes, taking the face that had moved
    admin.delete(target.person_id)
    assert {p.name for p in admin.list_people()} == {"biden-a"}
    for face_id in moves:
        assert recognizer.people.holder(face_id) is None
        assert recognizer.index.fetch([face_id], recognizer.namespace) == []


def test_merge_into_a_person_being_erased_changes_nothing(pipeline, photo):
    _, recognizer, _ = pipeline()
    admin = Admin(recognizer)
    source = admin.enroll("a", [("b1.jpg", encode(photo("train/biden/biden.jpg")))]).person
    target = admin.enroll("b", [("o.jpg", encode(photo("train/obama/obama.jpg")))]).person
    before = recognizer.people.table.scan()["Items"]
    recognizer.people.mark_deleting(target.person_id)
    marked = recognizer.people.table.scan()["Items"]
    with pytest.raises(LookupError, match="being erased"):
        admin.merge(source.person_id, target.person_id)
    assert recognizer.people.table.scan()["Items"] == marked
    assert len(marked) > len(before)  # (the erasure's own marks)


def test_unassign_during_and_after_a_merge(pipeline, photo):
    _, recognizer, _ = pipeline()
    admin = Admin(recognizer)
    source = admin.enroll("a", [("b1.jpg", encode(photo("train/biden/biden.jpg"))), ("b2.jpg", encode(photo("train/biden/biden2.jpg")))])
    target = admin.enroll("b", [("b3.jpg", encode(ImageOps.mirror(photo("train/biden/biden.jpg"))))]).person
    face_ids = source.faces
    # a merge in progress (its tombstone written, no face moved): unassign refuses and changes nothing
    recognizer.people.mark_merged(source.person.person_id, target.person_id)
    table = recognizer.people.table.scan()["Items"]
    with pytest.raises(OperationError, match="finish the merge first"):
        admin.unassign(face_ids[0])
    assert recognizer.people.table.scan()["Items"] == table
    # the merge completes; unassign then takes the face out of the target, wherever it went
    admin.merge(source.person.person_id, target.person_id)
    alone = admin.unassign(face_ids[0])
    assert alone.person_id not in (source.person.person_id, target.person_id)
    assert recognizer.people.holder(face_ids[0]) == alone.person_id
    assert [f["face_id"] for f in recognizer.people.faces_of(alone.person_id)] == [face_ids[0]]
    assert face_ids[0] not in {f["face_id"] for f in recognizer.people.faces_of(target.person_id)}
    assert admin.unassign(face_ids[0]).person_id == alone.person_id  # a repeat changes nothing


def test_merge_interrupted_and_resumed_after_the_tombstones_lifetime_completes(pipeline, photo, monkeypatch):
    _, recognizer, _ = pipeline()
    admin = Admin(recognizer)
    source = admin.enroll("a", [("b1.jpg", encode(photo("train/biden/biden.jpg"))), ("b2.jpg", encode(photo("train/biden/biden2.jpg")))])
    target = admin.enroll("b", [("b3.jpg", encode(ImageOps.mirror(photo("train/biden/biden.jpg"))))]).person
    # WHEN the merge dies after moving one face
    original = recognizer.people.move_face
    calls = []

    def dies_on_second(face: dict[str, Any], target_id: str) -> None:
        calls.append(face["face_id"])
        if len(calls) == 2:
            raise RuntimeError("the operator's laptop went to sleep")
        original(face, target_id)

    recognizer.people.move_face = dies_on_second  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        admin.merge("a", "b")
    recognizer.people.move_face = original  # type: ignore[method-assign]
    # AND eight days pass (longer than a tombstone lives): DynamoDB's TTL deletes what has expired
    later = time.time() + 8 * 24 * 3600
    table = recognizer.people.table
    for item in table.scan()["Items"]:
        if TTL_ATTRIBUTE in item and float(item[TTL_ATTRIBUTE]) < later:
            table.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})
    # THEN the tombstone is still there, and the merge resumed completes with every face
    assert recognizer.people.profile(source.person.person_id).merged_into == target.person_id
    merged = admin.merge(source.person.person_id, target.person_id)
    assert merged.face_count == 3
    assert recognizer.people.faces_of(source.person.person_id) == []
    assert not [f for f in recognizer.people.faces_of(target.person_id) if f.get("pending")]
    assert all(recognizer.people.holder(f) == target.person_id for f in source.faces)
    # and only now does the tombstone have a lifetime
    assert float(table.get_item(Key=keys.profile_key(source.person.person_id))["Item"][TTL_ATTRIBUTE]) > time.time()


# --------------------------------------------------------------------------- one face, one person


def test_stranger_whose_record_fails_before_its_upsert_is_one_person_past_the_old_window(pipeline, sqs, settings, photo):
    now = [1_000_000.0]
    index = EmbeddedIndex(128)
    frames, recognizer, consumer = pipeline(index, clock=lambda: now[0])
    upsert = index.upsert
    failing = [True]

    def upsert_fails_once(vectors: Any, namespace: str) -> None:
        if failing[0]:
            failing[0] = False
            raise VectorIndexError("Pinecone upsert failed: injected")
        upsert(vectors, namespace)

    index.upsert = upsert_fails_once  # type: ignore[method-assign]
    first = message(frames, "s-1", photo("train/alex_lacamoire/img1.jpg"))
    # WHEN a stranger's record registers them, then fails before its vector is upserted
    failed = deliver(consumer, sqs, settings, [first])
    assert len(failed["batchItemFailures"]) == 1
    assert answers(sqs, settings) == {}
    # AND ten minutes later (the old 180 s window long gone) another frame of them arrives, then the retry
    now[0] += 600
    brighter = ImageEnhance.Brightness(photo("train/alex_lacamoire/img1.jpg")).enhance(1.1)
    deliver(consumer, sqs, settings, [message(frames, "s-2", brighter)])
    now[0] += 360
    deliver(consumer, sqs, settings, [first])
    # THEN it is one person, and every face of theirs is recorded once
    got = answers(sqs, settings)
    assert got["s-1"]["faces"][0]["person_id"] == got["s-2"]["faces"][0]["person_id"]
    people = Admin(recognizer).list_people()
    assert len(people) == 1
    face_items = [i for i in recognizer.people.table.scan()["Items"] if i.get("type") == "face"]
    assert len(face_items) == len({i["face_id"] for i in face_items}) == 2


# --------------------------------------------------------------------------- request ids per device


def test_two_devices_with_one_request_id_are_both_answered(pipeline, sqs, settings, aws, photo):
    frames, _, consumer = pipeline()
    accept = FrameAcceptor(frames, idempotency_store(settings))
    biden, obama = photo("train/biden/biden.jpg"), photo("train/obama/obama.jpg")

    def request(source: str, image: Image.Image) -> FrameRequest:
        import hashlib

        return FrameRequest("0001", "0001.jpg", source, image, 0, content_sha256=hashlib.sha256(encode(image)).hexdigest())

    # WHEN two cameras use the same request_id for different frames
    assert accept(request("porch", biden))["status"] == "queued"
    assert accept(request("garage", obama))["status"] == "queued"
    queued = [m["Body"] for m in drain(sqs, settings.request_queue_url)]
    assert len(queued) == 2
    # THEN recognition answers both, each about its own image
    deliver(consumer, sqs, settings, queued)
    got = drained(sqs, settings.response_queue_url)
    assert sorted(a["request_id"] for a in got) == ["0001", "0001"]
    assert len({a["faces"][0]["person_id"] for a in got}) == 2
    # AND their claim checks could never overwrite each other
    porch, garage = (json.loads(b) for b in queued)
    assert claim_check_key("porch", "0001", porch["image"]["sha256"], 0) != claim_check_key("garage", "0001", garage["image"]["sha256"], 0)
    # AND once detection's record of one has expired, a new image under that id is answered too
    table = aws.resource("dynamodb").Table(settings.ddb_table_name)
    for item in table.query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": IDEMPOTENCY_PARTITION})["Items"]:
        if str(item["SK"]).startswith("detection#"):
            table.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})
    assert accept(request("porch", ImageOps.mirror(obama)))["status"] == "queued"
    deliver(consumer, sqs, settings, [m["Body"] for m in drain(sqs, settings.request_queue_url)])
    (late,) = drained(sqs, settings.response_queue_url)
    assert late["request_id"] == "0001"
    assert late["result"]


def test_crop_keys_of_a_frame_name_its_source_and_image():
    key = claim_check_key("garage/cam:2", "0001", "ab" * 32, 3)
    assert key == "crops/garage%2Fcam%3A2/0001/abababababababab/3.jpg"
    assert face_crop_key("f") == "faces/f.jpg"
