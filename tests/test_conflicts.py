"""What DynamoDB does that moto in process does not: it refuses work that overlaps a transaction
in flight. Those refusals are retried in one place (``facepipe.people.conflicts``), and the
per-sighting path does not make the frames of one person contend for one item."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from facepipe.detection.quality import FaceQuality
from facepipe.gallery import FaceToResolve
from facepipe.index.embedded import EmbeddedIndex
from facepipe.people import FaceRecord, PeopleStore, Tag, keys
from facepipe.people.conflicts import conflicts_retried, is_conflict, retrying
from facepipe.recognition import ImageRef, Recognizer


def cancelled(*codes: str) -> ClientError:
    reasons = [{"Code": code} for code in codes]
    return ClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": f"cancelled {codes}"}, "CancellationReasons": reasons},
        "TransactWriteItems",
    )


def refused_write() -> ClientError:
    return ClientError({"Error": {"Code": "TransactionConflictException", "Message": "ongoing"}}, "UpdateItem")


def test_conflicts_are_retried_and_counted_conditions_are_not():
    attempts = Counter[str]()

    def flaky(kind: str, failures: int, error: ClientError) -> Any:
        def call() -> str:
            attempts[kind] += 1
            if attempts[kind] <= failures:
                raise error
            return kind

        return call

    before = conflicts_retried()
    assert retrying(flaky("transaction", 3, cancelled("None", "TransactionConflict")), sleep=lambda _: None) == "transaction"
    assert retrying(flaky("write", 2, refused_write()), sleep=lambda _: None) == "write"
    assert retrying(flaky("throttled", 1, cancelled("ThrottlingError")), sleep=lambda _: None) == "throttled"
    assert conflicts_retried() - before == 6
    # a failed condition is a fact, even beside a conflict: the caller judges it, once
    with pytest.raises(ClientError):
        retrying(flaky("condition", 1, cancelled("ConditionalCheckFailed", "TransactionConflict")), sleep=lambda _: None)
    assert attempts["condition"] == 1
    # and a conflict that outlasts the tries is raised (the record fails, SQS redelivers it)
    with pytest.raises(ClientError):
        retrying(flaky("lasting", 99, cancelled("TransactionConflict")), tries=3, sleep=lambda _: None)
    assert attempts["lasting"] == 3
    assert not is_conflict(ClientError({"Error": {"Code": "ValidationException"}}, "PutItem"))


class Conflicts:
    """Makes DynamoDB refuse chosen operations, as it does when a transaction is in flight on
    their items, ``times`` times each; records every item key each write names."""

    def __init__(self, client: Any, operations: dict[str, int]) -> None:
        self.left = dict(operations)
        self.injected = Counter[str]()
        self.named: list[tuple[str, str, str]] = []  # (operation, PK, SK)
        client.meta.events.register("before-parameter-build.dynamodb.*", self.before_call)

    def before_call(self, model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        operation = model.name

        def named(kind: str, key: dict[str, Any]) -> None:
            pk, sk = (v["S"] if isinstance(v, dict) else v for v in (key["PK"], key["SK"]))
            self.named.append((kind, str(pk), str(sk)))

        for item in params.get("TransactItems", []):
            for kind, body in item.items():
                named(f"{operation}:{kind}", body.get("Key") or body.get("Item"))
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            named(operation, params.get("Key") or params.get("Item"))
        if self.left.get(operation, 0) > 0:
            self.left[operation] -= 1
            self.injected[operation] += 1
            items = params.get("TransactItems", [{}])
            if operation.startswith("Transact"):
                raise cancelled(*(["TransactionConflict"] + ["None"] * (len(items) - 1)))
            raise refused_write()


@pytest.fixture
def recognizer(aws, settings):
    from facepipe.embedding._base import Embedder  # noqa: F401  (the protocol the fake meets)

    class Fake:
        model, preprocessing, dimension, crop_size = "dlib-resnet", "fake", 128, 150

    people = PeopleStore(settings.ddb_table_name, dynamodb=aws.resource("dynamodb"))
    return Recognizer(settings, Fake(), EmbeddedIndex(128), people, sqs=aws.client("sqs"), s3=aws.client("s3"))  # type: ignore[arg-type]


GOOD = FaceQuality(120.0, 0.999, 300.0, 0.0, 0.0, 0.0, 120.0, "good")


def face_of(vector: np.ndarray, request_id: str, index: int = 0) -> FaceToResolve:
    from PIL import Image

    digest = hashlib.sha256(request_id.encode()).hexdigest()
    unit = (vector / np.linalg.norm(vector)).astype(np.float32)
    return FaceToResolve(request_id, index, [0.0, 0.0, 100.0, 100.0], unit, Image.new("RGB", (150, 150)), "door", GOOD, digest)


def answer_frame(recognizer: Recognizer, *faces: FaceToResolve) -> dict[str, Any]:
    image = ImageRef(faces[0].request_id, faces[0].image_digest, "f.jpg", "door")
    return dict(recognizer.finish(image, faces, *recognizer.resolve_frame(faces)))


def test_one_injected_conflict_on_every_kind_of_write_is_retried_not_failed(recognizer):
    # GIVEN a person the index knows
    rng = np.random.default_rng(7)
    base = rng.normal(size=128)
    first = answer_frame(recognizer, face_of(base, "f-0"))
    assert first["faces"][0]["new_person"]
    # WHEN DynamoDB refuses the next transaction write, transaction read and single write once each
    conflicts = Conflicts(recognizer.people.table.meta.client, {"TransactWriteItems": 2, "UpdateItem": 1, "PutItem": 1})
    again = answer_frame(recognizer, face_of(base + rng.normal(scale=0.05, size=128), "f-1"))
    # THEN the frame is answered as if nothing happened, and the refusals were retried
    assert again["faces"][0]["person_id"] == first["faces"][0]["person_id"]
    assert conflicts.injected["TransactWriteItems"] == 2


def test_sightings_of_one_person_do_not_write_one_item(recognizer):
    # GIVEN a person, and 30 more frames of them that do not join their indexed faces
    rng = np.random.default_rng(11)
    base = rng.normal(size=128)
    person = answer_frame(recognizer, face_of(base, "p-0"))["faces"][0]["person_id"]
    recognizer.gallery.calibration = type(recognizer.gallery.calibration)(0.5, 0.5, 0.5, 0.05, 0.5)  # every match a near-duplicate
    conflicts = Conflicts(recognizer.people.table.meta.client, {})
    for i in range(1, 31):
        assert answer_frame(recognizer, face_of(base + rng.normal(scale=0.02, size=128), f"p-{i}"))["faces"][0]["person_id"] == person
    # THEN no sighting wrote or checked the person's profile, and their writes were spread over the shards
    person_items = Counter(sk for _, pk, sk in conflicts.named if pk == keys.person_pk(person) and not sk.startswith("FACE#"))
    assert keys.PROFILE not in person_items
    assert len(person_items) >= keys.PRESENCE_SHARDS // 2
    assert max(person_items.values()) <= 12  # 60 writes (a face and a tag per frame) over 16 shards
    # AND the counts still add up
    counted = recognizer.people.get_person(person)
    assert counted.face_count == 31
    assert counted.last_seen


def test_reads_of_people_are_never_transactional(recognizer):
    # a TransactGetItems is cancelled by any write in flight on its items: people are read with BatchGetItem
    rng = np.random.default_rng(3)
    people = [answer_frame(recognizer, face_of(rng.normal(size=128), f"r-{i}"))["faces"][0]["person_id"] for i in range(3)]
    calls = Conflicts(recognizer.people.table.meta.client, {})
    found = recognizer.people.get_people(people)
    assert set(found) == set(people)
    assert not [op for op, _, _ in calls.named if "TransactGet" in op]


def test_a_frame_naming_100_people_is_tagged_in_several_transactions(recognizer):
    # GIVEN 100 people (more than one transaction can check at once)
    store = recognizer.people
    for i in range(100):
        store.create_person(f"p{i:03d}", f"name {i}", "test")
    tags = [Tag(i, f"face{i}", f"p{i:03d}", f"name {i}", 0.99, False, [0, 0, 10, 10]) for i in range(100)]
    sizes: list[int] = []
    store.table.meta.client.meta.events.register(
        "before-parameter-build.dynamodb.TransactWriteItems", lambda params, **_: sizes.append(len(params["TransactItems"]))
    )
    # WHEN the frame's tags are written
    store.tag_media("crowd-1", "ab" * 32, "crowd.jpg", "door", "many", tags)
    # THEN every tag is there, and each transaction stayed within DynamoDB's 100 items
    items = store.media("crowd-1")
    assert sum(1 for i in items if i["type"] == "tag") == 100
    assert sum(1 for i in items if i["type"] == "media") == 1
    assert max(sizes) <= 100
    assert len(sizes) >= 2


def test_record_face_refuses_a_face_held_by_another_person(recognizer):
    from facepipe.people.errors import FaceClaimedError, FaceErasedError

    store = recognizer.people
    store.create_person("alice", "alice", "t")
    store.create_person("bob", "bob", "t")

    def record(person: str) -> bool:
        return store.record_face(FaceRecord("f1", person, "r1", 0, "door", [0, 0, 1, 1], 0.9, "m", "p", indexed=False))

    assert record("alice")
    assert not record("alice")  # a repeat
    with pytest.raises(FaceClaimedError) as held:
        record("bob")
    assert held.value.holder == "alice"
    assert store.faces_of("bob") == []
    store.erase_face("alice", "f1")
    with pytest.raises(FaceErasedError):
        record("bob")
