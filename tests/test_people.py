"""People you can trust: enroll, rename, merge, unassign and erase keep the table, the vector
index and the bucket in step; each admin operation can be re-run after a crash at any write;
recognition follows merges and drops an erased person's leftovers; one stranger seen by two
containers is one person."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from boto3.dynamodb.conditions import Attr
from PIL import Image, ImageOps

from facepipe import names
from facepipe.detection import largest_face
from facepipe.detection.quality import assess
from facepipe.gallery import FaceToResolve
from facepipe.index.embedded import EmbeddedIndex
from facepipe.index.recent import RecentVectors
from facepipe.people import PeopleStore, PersonNotFoundError, keys
from facepipe.people.items import profile_item
from facepipe.people.registry import StrangerRegistry
from facepipe.recognition import ImageRef, Recognizer
from facepipe.recognition.consumer import RecognitionConsumer
from facepipe.runtime import idempotency_store
from facepipe.storage import claim_check_key, face_crop_key, put_jpeg
from facepipe_tools.admin import Admin, EnrollError
from helpers import encode

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


class Crash(RuntimeError):
    """The process died here (an injected fault)."""


def make_admin(aws: Any, settings: Any, detector: Any, embedder: Any, index: EmbeddedIndex | None = None) -> Admin:
    """One container: its own recent-vectors buffer, the shared table and bucket."""
    people = PeopleStore(settings.ddb_table_name, dynamodb=aws.resource("dynamodb"))
    recognizer = Recognizer(
        settings,
        embedder,
        index or EmbeddedIndex(128),
        people,
        sqs=aws.client("sqs"),
        s3=aws.client("s3"),
        detector=detector,
        recent=RecentVectors(),
    )
    return Admin(recognizer)


@pytest.fixture
def admin(aws, settings, detector, dlib_embedder) -> Admin:
    return make_admin(aws, settings, detector, dlib_embedder)


def sighting(admin: Admin, image: Image.Image, request_id: str, index: int = 0) -> FaceToResolve:
    """The largest face of ``image`` as a frame of ``request_id`` would bring it."""
    face = largest_face(admin.recognizer.detector.detect(image))
    assert face is not None
    crop = admin.recognizer.embedder.crop(image, face)
    vector = admin.recognizer.embed([crop])[0]
    digest = hashlib.sha256(encode(image)).hexdigest()
    return FaceToResolve(request_id, index, [round(v, 1) for v in face.box], vector, crop, "cam", assess(image, face), digest)


def recognise(admin: Admin, *faces: FaceToResolve) -> dict[str, Any]:
    """Resolve and finish one frame the way ``process_frame`` does (no queue)."""
    image = ImageRef(faces[0].request_id, faces[0].image_digest, "f.jpg", "cam")
    return dict(admin.recognizer.finish(image, faces, [admin.recognizer.resolve(f) for f in faces]))


def crash_after(admin: Admin, writes: int) -> Any:
    """Make the process 'die' right after its ``writes``-th DynamoDB write; returns the undo."""
    client = admin.people.table.meta.client
    done = {"writes": 0}

    def count(**kwargs: Any) -> None:
        done["writes"] += 1
        if done["writes"] > writes:
            raise Crash(f"crashed after write {writes}")

    handlers = [(f"before-call.dynamodb.{op}", count) for op in WRITES]
    for event, handler in handlers:
        client.meta.events.register(event, handler)
    return lambda: [client.meta.events.unregister(event, handler) for event, handler in handlers]


def traces(admin: Admin, person_id: str, name: str, face_ids: list[str]) -> dict[str, list[Any]]:
    """Everything of a person left in the table (outside a merge tombstone), the index and the bucket."""
    table = admin.people.table
    found = [
        i for i in table.scan()["Items"] if (person_id in {str(v) for v in i.values()} or name in str(i)) and i.get("merged_into") is None
    ]
    probe = np.ones(admin.recognizer.embedder.dimension, np.float32)
    vectors = admin.index.query(probe, 1000, admin.namespace, filter={"person_id": person_id})
    s3 = admin.recognizer.s3
    bucket = admin.recognizer.settings.s3_bucket_name
    objects = [v for fid in face_ids for v in s3.list_object_versions(Bucket=bucket, Prefix=face_crop_key(fid)).get("Versions", [])]
    return {"table": found, "index": vectors, "bucket": objects}


# --------------------------------------------------------------------------- enroll, rename


def test_enroll_creates_person_indexes_face_and_keeps_crop(admin, grace_hopper_bytes, aws, settings):
    report = admin.enroll("grace", [("g.jpg", grace_hopper_bytes)])
    assert report.new_person
    assert report.person.name == "grace"
    assert report.person.face_count == 1
    assert admin.index.count(admin.namespace) == 1
    (face,) = admin.people.faces_of(report.person.person_id)
    assert face["enrolled"] is True
    assert face["model"] == "dlib-resnet"
    crop = aws.client("s3").get_object(Bucket=settings.s3_bucket_name, Key=face["crop_key"])["Body"].read()
    assert crop[:2] == b"\xff\xd8"


def test_enroll_same_photo_twice_adds_nothing(admin, grace_hopper_bytes):
    admin.enroll("grace", [("g.jpg", grace_hopper_bytes)])
    report = admin.enroll("grace", [("g.jpg", grace_hopper_bytes)])
    assert not report.new_person
    assert report.person.face_count == 1
    assert admin.index.count(admin.namespace) == 1


def test_enroll_more_photos_add_faces_to_the_same_person(admin, grace_hopper, grace_hopper_bytes):
    admin.enroll("grace", [("g.jpg", grace_hopper_bytes)])
    report = admin.enroll("grace", [("m.jpg", encode(ImageOps.mirror(grace_hopper)))])
    assert report.person.face_count == 2
    assert len(admin.list_people()) == 1


def test_enroll_photo_without_face_is_an_error_and_changes_nothing(admin):
    with pytest.raises(EnrollError, match="no face"):
        admin.enroll("nobody", [("sky.jpg", encode(Image.new("RGB", (300, 200), (90, 140, 220))))])
    assert admin.list_people() == []
    assert admin.index.count(admin.namespace) == 0


def test_enroll_photo_with_two_faces_enrolls_the_largest_and_warns(admin, grace_hopper):
    canvas = Image.new("RGB", (grace_hopper.width * 2, grace_hopper.height))
    canvas.paste(grace_hopper, (0, 0))
    canvas.paste(grace_hopper.resize((grace_hopper.width // 2, grace_hopper.height // 2)), (grace_hopper.width + 50, 100))
    report = admin.enroll("grace", [("two.jpg", encode(canvas))])
    assert len(report.faces) == 1
    assert report.warnings
    assert "2 faces" in report.warnings[0]


def test_rename_changes_the_name_used_in_results(admin, grace_hopper_bytes, grace_hopper):
    person = admin.enroll("grace", [("g.jpg", grace_hopper_bytes)]).person
    admin.rename("grace", "Grace Hopper")
    response = recognise(admin, sighting(admin, grace_hopper, "r-1"))
    assert response["result"] == "Grace Hopper"
    assert response["faces"][0]["person_id"] == person.person_id


def test_people_refer_by_id_or_unique_name(admin, grace_hopper_bytes):
    first = admin.enroll("grace", [("g.jpg", grace_hopper_bytes)]).person
    assert admin.person(first.person_id) == admin.person("grace")
    with pytest.raises(PersonNotFoundError):
        admin.person("nobody")


# --------------------------------------------------------------------------- ids from the work


def test_redelivered_face_is_the_same_face_and_still_a_new_person(admin, photo):
    # GIVEN a stranger's frame resolved once
    face = sighting(admin, photo("train/obama/obama.jpg"), "cam1-0001")
    first = recognise(admin, face)
    # WHEN the same message is delivered again (the idempotency record was never saved)
    again = recognise(admin, face)
    # THEN it is the same face of the same new person, counted once, never matched to itself
    assert first["faces"][0]["new_person"]
    assert again["faces"][0]["new_person"]
    assert again["faces"][0]["face_id"] == first["faces"][0]["face_id"]
    assert again["faces"][0]["person_id"] == first["faces"][0]["person_id"]
    assert admin.people.get_person(first["faces"][0]["person_id"]).face_count == 1
    assert len(admin.list_people()) == 1


def test_people_are_read_only_when_a_candidate_could_name_the_face(admin, photo, monkeypatch):
    from facepipe.people import PeopleStore

    reads: list[set[str]] = []
    get_people = PeopleStore.get_people
    monkeypatch.setattr(PeopleStore, "get_people", lambda store, ids: reads.append(set(ids)) or get_people(store, ids))
    # GIVEN Obama enrolled
    admin.enroll("Barack Obama", [("obama.jpg", encode(photo("train/obama/obama.jpg")))])
    # WHEN a stranger's face comes (far from everyone indexed)
    stranger = recognise(admin, sighting(admin, photo("train/biden/biden.jpg"), "cam1-0002"))
    # THEN it becomes a new person without reading anyone it was compared with (only itself, to name it)
    new_person = stranger["faces"][0]["person_id"]
    assert stranger["faces"][0]["new_person"]
    assert reads
    assert all(ids <= {new_person} for ids in reads)
    # WHEN Obama's face comes THEN his person is read while placing it (merges, erasures) and named
    reads.clear()
    named = recognise(admin, sighting(admin, photo("test/obama1.jpg"), "cam1-0003"))
    assert named["faces"][0]["name"] == "Barack Obama"
    assert named["faces"][0]["person_id"] in reads[0]


def test_reused_request_id_with_another_image_overwrites_nothing(admin, photo, aws, settings):
    # GIVEN a camera's frame cam1-0001 of one person, tagged, its crop kept
    first = recognise(admin, sighting(admin, photo("train/obama/obama.jpg"), "cam1-0001"))
    obama = first["faces"][0]
    s3 = aws.client("s3")
    crop_before = s3.get_object(Bucket=settings.s3_bucket_name, Key=face_crop_key(obama["face_id"]))["Body"].read()
    tags_before = admin.people.media("cam1-0001")
    # WHEN the camera's counter resets and cam1-0001 arrives again with someone else
    second = recognise(admin, sighting(admin, photo("train/biden/biden.jpg"), "cam1-0001"))
    biden = second["faces"][0]
    # THEN it is another face of another new person, and the first one is untouched
    assert biden["face_id"] != obama["face_id"]
    assert biden["person_id"] != obama["person_id"]
    assert biden["new_person"]
    after = s3.get_object(Bucket=settings.s3_bucket_name, Key=face_crop_key(obama["face_id"]))["Body"].read()
    assert after == crop_before
    [vector] = admin.index.fetch([obama["face_id"]], admin.namespace)
    assert vector.metadata["person_id"] == obama["person_id"]
    tags_after = admin.people.media("cam1-0001")
    assert all(t in tags_after for t in tags_before)
    assert len(tags_after) == 2 * len(tags_before)  # META and tag of each image


def test_idempotency_record_key_is_the_one_erasure_deletes(settings, aws):
    # GIVEN Powertools' persistence as the functions configure it
    store = idempotency_store(settings)
    config = IdempotencyConfig(event_key_jmespath=RecognitionConsumer.WORK_KEY)

    @idempotent_function(data_keyword_argument="work", persistence_store=store, config=config, key_prefix=names.FRAME_UNIT)
    def answer(work: dict[str, str]) -> dict[str, str]:
        return {"result": "grace"}

    # WHEN a unit of work runs
    answer(work={"source": "door", "request_id": "cam1-0042", "digest": "ab" * 32})
    # THEN its record sits where keys.idempotency_key says (so erasure can find stored names)
    table = aws.resource("dynamodb").Table(settings.ddb_table_name)
    item = table.get_item(Key=keys.idempotency_key(names.FRAME_UNIT, keys.image_work("door", "cam1-0042", "ab" * 32))).get("Item")
    assert item is not None
    assert "grace" in str(item["data"])


# --------------------------------------------------------------------------- merge


def test_merge_moves_faces_vectors_tags_and_results(admin, photo):
    keep = admin.enroll("obama", [("o.jpg", encode(photo("train/obama/obama.jpg")))]).person
    other = admin.enroll("barack", [("o2.jpg", encode(photo("train/obama/obama2.jpg")))]).person
    frame = recognise(admin, sighting(admin, photo("train/biden/biden.jpg"), "r-2"))
    stranger = frame["faces"][0]["person_id"]

    merged = admin.merge("barack", "obama")
    admin.merge(stranger, "obama")

    assert merged.person_id == keep.person_id
    assert [p.person_id for p in admin.list_people()] == [keep.person_id]
    assert admin.people.get_person(keep.person_id).face_count == 3
    assert {m.metadata["person_id"] for m in admin.index.query(frame_vector(admin, "r-2"), 10, admin.namespace)} == {keep.person_id}
    tags = admin.people.media("r-2")
    tag = next(t for t in tags if t["type"] == "tag")
    assert (tag["person_id"], tag["name"]) == (keep.person_id, "obama")
    assert next(t for t in tags if t["type"] == "media")["result"] == "obama"
    # merged-away ids redirect (a tombstone), so recognition and old references follow them
    assert admin.people.current_person(other.person_id).person_id == keep.person_id
    assert admin.people.faces_of(other.person_id) == []


def frame_vector(admin: Admin, request_id: str) -> Any:
    (tag,) = [t for t in admin.people.media(request_id) if t["type"] == "tag"]
    return admin.index.fetch([tag["face_id"]], admin.namespace)[0].values


@pytest.mark.parametrize("writes", [1, 2, 4])
def test_merge_interrupted_after_a_write_completes_when_run_again(admin, photo, aws, writes):
    # GIVEN two people, each with a tagged frame
    keep = recognise(admin, sighting(admin, photo("train/obama/obama.jpg"), "r-a"))["faces"][0]
    gone = recognise(admin, sighting(admin, photo("train/biden/biden.jpg"), "r-b"))["faces"][0]
    # WHEN the merge dies after its n-th store write, and is run again
    undo = crash_after(admin, writes)
    with pytest.raises(Crash):
        admin.merge(gone["person_id"], keep["person_id"])
    undo()
    admin.merge(gone["person_id"], keep["person_id"])
    # THEN it is complete: faces, vector, tag and result all on the target; nothing left on the source
    target = admin.people.get_person(keep["person_id"])
    assert target.face_count == 2
    assert traces(admin, gone["person_id"], gone["name"], [gone["face_id"]])["table"] == []
    [vector] = admin.index.fetch([gone["face_id"]], admin.namespace)
    assert vector.metadata["person_id"] == keep["person_id"]
    assert {t["person_id"] for t in admin.people.media("r-b") if t["type"] == "tag"} == {keep["person_id"]}
    assert [p.person_id for p in admin.list_people()] == [keep["person_id"]]


def test_frames_of_a_person_merged_away_mid_merge_are_answered_with_the_target(admin, photo, aws):
    # GIVEN a merge that died right after turning the source into a redirect (its faces not moved yet)
    keep = recognise(admin, sighting(admin, photo("train/obama/obama.jpg"), "r-a"))["faces"][0]
    gone = recognise(admin, sighting(admin, photo("train/biden/biden.jpg"), "r-b"))["faces"][0]
    admin.rename(keep["person_id"], "Obama")
    undo = crash_after(admin, 1)
    with pytest.raises(Crash):
        admin.merge(gone["person_id"], keep["person_id"])
    undo()
    # WHEN a new frame of the merged-away person arrives (its vectors still name the source)
    response = recognise(admin, sighting(admin, photo("train/biden/biden2.jpg"), "r-c"))
    # THEN it is answered with the target's name, and nothing is written under the source
    assert response["faces"][0]["person_id"] == keep["person_id"]
    assert response["result"] == "Obama"
    assert len(admin.people.faces_of(gone["person_id"])) == 1  # only the one the merge will move


def test_merge_racing_a_frame_leaves_no_face_or_tag_on_the_source(admin, photo):
    # GIVEN a frame whose face was placed on a person (recorded, indexed) but not yet tagged
    keep = recognise(admin, sighting(admin, photo("train/obama/obama.jpg"), "r-a"))["faces"][0]
    gone = recognise(admin, sighting(admin, photo("train/biden/biden.jpg"), "r-b"))["faces"][0]
    face = sighting(admin, photo("train/biden/biden2.jpg"), "r-c")
    result = admin.recognizer.resolve(face)
    assert result["person_id"] == gone["person_id"]
    # WHEN the operator merges that person away before the frame is finished
    admin.merge(gone["person_id"], keep["person_id"])
    response = admin.recognizer.finish(ImageRef("r-c", face.image_digest, "f.jpg", "cam"), [face], [result])
    # THEN the frame is answered with the target, and its face and tag are on the target only
    assert response["faces"][0]["person_id"] == keep["person_id"]
    assert admin.people.faces_of(gone["person_id"]) == []
    assert {t["person_id"] for t in admin.people.media("r-c") if t["type"] == "tag"} == {keep["person_id"]}
    assert admin.people.face(face.face_id, keep["person_id"]) is not None


def test_merge_racing_a_frame_placed_without_indexing_leaves_no_tag_on_the_source(admin, photo):
    # GIVEN a frame placed on a person as a near-duplicate (recorded, not indexed), not yet tagged:
    # finish reuses the people placing read instead of reading them again
    keep = recognise(admin, sighting(admin, photo("train/obama/obama.jpg"), "r-a"))["faces"][0]
    gone = recognise(admin, sighting(admin, photo("train/biden/biden.jpg"), "r-b"))["faces"][0]
    face = sighting(admin, photo("train/biden/biden.jpg"), "r-c")
    results, indexed, read = admin.recognizer.resolve_frame([face])
    assert results[0]["person_id"] == gone["person_id"]
    assert indexed == set()
    assert read[gone["person_id"]].present
    # WHEN the operator merges that person away before the frame is finished
    admin.merge(gone["person_id"], keep["person_id"])
    response = admin.recognizer.finish(ImageRef("r-c", face.image_digest, "f.jpg", "cam"), [face], results, indexed, read)
    # THEN the tags' conditional write catches it: answered with the target, tagged on the target only
    assert response["faces"][0]["person_id"] == keep["person_id"]
    assert {t["person_id"] for t in admin.people.media("r-c") if t["type"] == "tag"} == {keep["person_id"]}
    assert admin.people.faces_of(gone["person_id"]) == []


def test_unassign_moves_one_face_into_a_new_person(admin, photo):
    keep = recognise(admin, sighting(admin, photo("train/obama/obama.jpg"), "r-a"))["faces"][0]
    again = recognise(admin, sighting(admin, photo("train/obama/obama2.jpg"), "r-b"))["faces"][0]
    assert again["person_id"] == keep["person_id"]
    person = admin.unassign(again["face_id"])
    assert person.person_id != keep["person_id"]
    assert person.face_count == 1
    assert admin.people.get_person(keep["person_id"]).face_count == 1
    assert {t["person_id"] for t in admin.people.media("r-b") if t["type"] == "tag"} == {person.person_id}
    assert admin.unassign(again["face_id"]).person_id == person.person_id  # a repeat changes nothing


# --------------------------------------------------------------------------- erasure


def erasable_frame(admin: Admin, image: Image.Image, request_id: str, settings: Any) -> dict[str, Any]:
    """A recognised frame with everything a deployment keeps of it: tags, result, kept crop, the
    claim-checked crop, and the stored responses of both functions."""
    face = sighting(admin, image, request_id)
    response = recognise(admin, face)
    put_jpeg(admin.recognizer.s3, settings.s3_bucket_name, claim_check_key("cam", request_id, face.image_digest, 0), image.resize((64, 64)))
    works = [
        (names.DETECTION_UNIT, keys.detection_work("cam", request_id)),
        (names.FRAME_UNIT, keys.image_work("cam", request_id, face.image_digest)),
    ]
    for unit, work in works:
        admin.people.table.put_item(Item={**keys.idempotency_key(unit, work), "data": str(response)})
    return {**response, "digest": face.image_digest}


def test_delete_erases_everything_of_the_person(admin, photo, settings, aws):
    # GIVEN an enrolled person with a recognised frame, and someone else in the table
    admin.enroll("biden", [("b.jpg", encode(photo("train/biden/biden.jpg")))])
    frame = erasable_frame(admin, photo("train/biden/biden2.jpg"), "r-1", settings)
    person = frame["faces"][0]
    assert frame["result"] == "biden"
    bystander = admin.enroll("obama", [("o.jpg", encode(photo("train/obama/obama.jpg")))]).person
    face_ids = [f["face_id"] for f in admin.people.faces_of(person["person_id"])]
    # WHEN the person is erased
    erasure = admin.delete("biden")
    # THEN it says what it removed, and a scan of table, index and bucket finds nothing of them
    assert len(erasure.faces) == 2
    assert erasure.vectors >= 1
    assert erasure.tags == 1
    assert erasure.stored_responses == 2
    assert traces(admin, person["person_id"], "biden", face_ids) == {"table": [], "index": [], "bucket": []}
    claim_checked = claim_check_key("cam", "r-1", frame["digest"], 0)
    assert aws.client("s3").list_object_versions(Bucket=settings.s3_bucket_name, Prefix=claim_checked).get("Versions") is None
    tag = next(t for t in admin.people.media("r-1") if t["type"] == "tag")
    assert tag["unknown"]
    assert not tag["name"]
    assert "person_id" not in tag
    assert next(t for t in admin.people.media("r-1") if t["type"] == "media")["result"] == "unknown"
    assert [p.person_id for p in admin.list_people()] == [bystander.person_id]
    # and their next frame is a new person
    again = recognise(admin, sighting(admin, photo("train/biden/biden.jpg"), "r-2"))
    assert again["faces"][0]["new_person"]
    assert again["faces"][0]["person_id"] != person["person_id"]


@pytest.mark.parametrize("writes", [1, 2, 4])
def test_delete_interrupted_after_a_write_completes_when_run_again(admin, photo, settings, aws, writes):
    frame = erasable_frame(admin, photo("train/biden/biden.jpg"), "r-1", settings)
    person = frame["faces"][0]
    undo = crash_after(admin, writes)
    with pytest.raises(Crash):
        admin.delete(person["person_id"])
    undo()
    # a frame arriving between the crash and the re-run is a new person, not a failure
    between = recognise(admin, sighting(admin, photo("train/biden/biden2.jpg"), "r-2"))["faces"][0]
    assert between["person_id"] != person["person_id"]
    admin.delete(person["person_id"])
    assert traces(admin, person["person_id"], person["name"], [person["face_id"]]) == {"table": [], "index": [], "bucket": []}


# --------------------------------------------------------------------------- strangers across containers


def test_registry_two_containers_interleaved_step_by_step_make_one_person(aws, settings, detector, dlib_embedder, photo):
    # GIVEN two containers whose indexes do not show each other's upserts (Pinecone's delay, at its worst)
    a = make_admin(aws, settings, detector, dlib_embedder)
    b = make_admin(aws, settings, detector, dlib_embedder)
    face_a = sighting(a, photo("train/obama/obama.jpg"), "cam1-1")
    face_b = sighting(b, photo("train/obama/obama2.jpg"), "cam1-2")
    registry_a, registry_b = a.recognizer.gallery.registry, b.recognizer.gallery.registry
    # WHEN both read the registry before either writes (step 1 twice), then both try to register (step 3)
    seen_a, seen_b = registry_a.read(), registry_b.read()
    person_a = profile_item("p-a", "a", "cam1-1")
    person_b = profile_item("p-b", "b", "cam1-2")
    assert registry_a.register(seen_a, person_a, face_a.face_id, face_a.vector, "good")
    # THEN the second write is refused (HEAD moved), and nothing of it was created
    assert not registry_b.register(seen_b, person_b, face_b.face_id, face_b.vector, "good")
    assert admin_people(b).profile("p-b") is None
    # and on reading again (step 4 -> 1, 2) the second container sees the first one's stranger
    again = registry_b.read()
    assert [s.person_id for s in again.strangers] == ["p-a"]


def admin_people(admin: Admin) -> PeopleStore:
    return admin.people


def test_one_stranger_in_two_containers_is_one_person(aws, settings, detector, dlib_embedder, photo):
    # GIVEN two containers with separate indexes (neither sees the other's upserts)
    a = make_admin(aws, settings, detector, dlib_embedder)
    b = make_admin(aws, settings, detector, dlib_embedder)
    # WHEN frames of one stranger reach both, alternately
    answers = [
        recognise(container, sighting(container, photo(path), f"cam1-{i}"))["faces"][0]
        for i, (container, path) in enumerate(
            [(a, "train/obama/obama.jpg"), (b, "train/obama/obama2.jpg"), (b, "train/obama/obama.jpg"), (a, "train/obama/obama2.jpg")]
        )
    ]
    # THEN they make one person, created once
    assert len({f["person_id"] for f in answers}) == 1
    assert [f["new_person"] for f in answers] == [True, False, False, False]
    assert len(a.list_people()) == 1


def test_registry_entries_expire_after_the_window(aws, settings):
    people = PeopleStore(settings.ddb_table_name, dynamodb=aws.resource("dynamodb"))
    now = [1000.0]
    registry = StrangerRegistry(people, "ns", window=60, clock=lambda: now[0])
    registry.register(registry.read(), profile_item("p-1", "p", "r"), "f-1", np.ones(4, np.float32), "good")
    assert [s.person_id for s in registry.read().strangers] == ["p-1"]
    now[0] += 61
    assert registry.read().strangers == ()
    assert people.table.scan(FilterExpression=Attr("type").eq("stranger"))["Items"][0]["expiration"] > now[0]


def test_sheet_shows_the_stored_crops(admin, photo, tmp_path):
    person = admin.enroll(
        "obama", [("o.jpg", encode(photo("train/obama/obama.jpg"))), ("o2.jpg", encode(photo("train/obama/obama2.jpg")))]
    ).person
    sheet = admin.sheet([person])
    assert sheet.size == (6 * 128, 128 + 30)
    tile = np.asarray(sheet.crop((0, 0, 128, 128)).convert("L"), dtype=float)
    assert tile.std() > 20  # a face, not the grey tile of a missing crop
