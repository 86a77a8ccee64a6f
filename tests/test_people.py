"""People administration (enroll, rename, merge, delete) keeps DynamoDB and the vector index in step."""

from __future__ import annotations

import pytest
from PIL import Image, ImageOps

from facepipe.gallery import FaceToResolve
from facepipe.index.embedded import EmbeddedIndex
from facepipe.matching import calibration_for
from facepipe.people import PeopleStore, PersonNotFoundError
from facepipe.quality import assess
from facepipe.recognition import Recognizer
from facepipe_tools.admin import Admin, EnrollError
from helpers import encode


@pytest.fixture
def admin(aws, settings, detector, dlib_embedder):
    people = PeopleStore(settings.ddb_table_name, dynamodb=aws.resource("dynamodb"))
    recognizer = Recognizer(
        settings, dlib_embedder, EmbeddedIndex(128), people, sqs=aws.client("sqs"), s3=aws.client("s3"), detector=detector
    )
    return Admin(recognizer)


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
    face = admin.recognizer.detector.detect(grace_hopper)[0]
    crop = admin.recognizer.embedder.crop(grace_hopper, face)
    vector = admin.recognizer.embed([crop])[0]
    result = admin.recognizer.resolve(FaceToResolve("r-1", 0, [0, 0, 1, 1], vector, crop, "cam", assess(grace_hopper, face)))
    response = admin.recognizer.finish("r-1", "f.jpg", "cam", [result])
    assert response["result"] == "Grace Hopper"
    assert result["person_id"] == person.person_id


def test_merge_moves_faces_vectors_and_tags(admin, grace_hopper_bytes, grace_hopper):
    keep = admin.enroll("grace", [("g.jpg", grace_hopper_bytes)]).person
    other = admin.enroll("admiral", [("m.jpg", encode(ImageOps.mirror(grace_hopper)))]).person
    face = admin.recognizer.detector.detect(grace_hopper)[0]
    crop = admin.recognizer.embedder.crop(grace_hopper, face)
    vector = admin.recognizer.embed([crop])[0]
    admin.recognizer.calibration = calibration_for("dlib-resnet", 1.01)  # force a new person for this sighting, then merge it away too
    stranger = admin.recognizer.resolve(FaceToResolve("r-2", 0, [0, 0, 1, 1], vector, crop, "cam", assess(grace_hopper, face)))
    admin.recognizer.finish("r-2", "f.jpg", "cam", [stranger])

    merged = admin.merge("admiral", "grace")
    admin.merge(stranger["person_id"], "grace")

    assert merged.person_id == keep.person_id
    assert [p.person_id for p in admin.list_people()] == [keep.person_id]
    assert admin.people.get_person(keep.person_id).face_count == 3
    assert {m.metadata["person_id"] for m in admin.index.query(vector, 10, admin.namespace)} == {keep.person_id}
    tag = next(t for t in admin.people.media("r-2") if t["SK"] == "FACE#0000")
    assert tag["person_id"] == keep.person_id
    assert tag["name"] == "grace"
    with pytest.raises(PersonNotFoundError):
        admin.people.get_person(other.person_id)


def test_delete_removes_person_faces_and_vectors(admin, grace_hopper_bytes):
    report = admin.enroll("grace", [("g.jpg", grace_hopper_bytes)])
    person, (person_face_id,) = report.person, report.faces
    (face_id,) = admin.delete("grace")
    assert face_id == person_face_id
    assert admin.list_people() == []
    assert admin.index.count(admin.namespace) == 0
    assert admin.people.faces_of(person.person_id) == []


def test_people_refer_by_id_or_unique_name(admin, grace_hopper_bytes, grace_hopper):
    first = admin.enroll("grace", [("g.jpg", grace_hopper_bytes)]).person
    assert admin.person(first.person_id) == admin.person("grace")
    with pytest.raises(PersonNotFoundError):
        admin.person("nobody")
