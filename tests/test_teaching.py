"""Teaching, on moto with the real models: unknown camera faces are kept for review and grouped,
a person names each group once and the next frames are named; "not this person" is obeyed; two
faces of one frame are never one person; confirmations and dismissals."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from facepipe_tools.admin import Admin
from facepipe_tools.feedback import calibrate_from_review, edges, labelled_pairs
from facepipe_tools.local.in_process import InProcessPipeline
from facepipe_tools.scenes import camera_frame
from helpers import camera_face, camera_replay, encode, moto_recognition

pytestmark = [pytest.mark.fixtures, pytest.mark.slow]

UNKNOWN = {"kit": "train/kit_harington/john1.jpeg", "rose": "train/rose_leslie/img1.jpg", "alex": "train/alex_lacamoire/img1.jpg"}
KNOWN = {"obama": "train/obama/obama.jpg", "biden": "train/biden/biden.jpg"}
LOOKALIKES = {"lin": "misc/lin-manuel-miranda.png", "obama-2": "train/obama/obama2.jpg"}
REPLAYS = 6


@pytest.fixture
def pipeline(aws, settings, detector, dlib_embedder):
    """Detection and recognition on moto in process, MTCNN and dlib."""
    return moto_recognition(aws, settings, detector, dlib_embedder)


def run(pipeline: Any, frames_in: list[tuple[str, str, bytes]]) -> dict[str, dict[str, Any]]:
    """Send (request_id, who, JPEG) frames through detection's message builder and recognition."""
    return pipeline.recognise([(request_id, data) for request_id, _, data in frames_in])


def test_name_each_unknown_group_once_and_the_next_frames_are_named(pipeline, settings, fixtures_root, detector, capsys):
    recognizer = pipeline.recognizer
    operations = Admin(recognizer)
    rng = random.Random(20261204)
    # GIVEN two enrolled people (one camera frame each), three unknown people each in six replayed
    # frames, and two look-alikes (obama's other photo, and a stranger) once each
    for name, path in KNOWN.items():
        operations.enroll(name, [(f"{name}.jpg", camera_replay(*camera_face(fixtures_root / path, detector), rng))])
    bases = {who: camera_face(fixtures_root / path, detector) for who, path in {**UNKNOWN, **LOOKALIKES}.items()}
    pass1 = [(f"u-{who}-{i}", who, camera_replay(*bases[who], rng)) for who in UNKNOWN for i in range(REPLAYS)]
    pass1 += [(f"l-{who}", who, camera_replay(*bases[who], rng)) for who in LOOKALIKES]
    rng.shuffle(pass1)
    who_of = {rid: who for rid, who, _ in pass1}

    # WHEN the frames arrive (pass 1)
    first = run(pipeline, pass1)
    # THEN nobody is named wrongly, and the review holds one pure group per unknown person
    assert all(a["result"] in ("unknown", "") or a["result"].startswith("person-") for a in first.values()), first
    groups = list(recognizer.review.all_groups())
    members: dict[str, Counter[str]] = defaultdict(Counter)
    for group in groups:
        for face in recognizer.review.faces(group.group_id):
            members[group.group_id][who_of[face.request_id]] += 1
    impure = {g: dict(c) for g, c in members.items() if len(c) > 1}
    by_person = {who: [g for g, c in members.items() if who in c] for who in UNKNOWN}
    with capsys.disabled():
        print(f"\nteaching pass 1: {len(first)} frames, {len(groups)} review groups: {[dict(c) for c in members.values()]}")
    assert impure == {}
    assert all(len(found) == 1 for found in by_person.values()), by_person
    assert sum(members[by_person[who][0]][who] for who in UNKNOWN) >= len(UNKNOWN) * (REPLAYS - 1)

    # WHEN a person names each group once
    for who, (group,) in by_person.items():
        operations.new_person(group, who)
    # THEN the review of those people is empty, the earlier frames' tags name them
    assert {g.group_id for g in recognizer.review.all_groups()}.isdisjoint(g for (g,) in by_person.values())
    tagged = next(rid for rid, who, _ in pass1 if who == "kit" and rid in first and first[rid]["faces"])
    (meta,) = [i for i in recognizer.people.media(tagged) if i["type"] == "media"]
    assert meta["result"] == "kit"

    # AND the same frames again (pass 2) are named, every one of them, and no look-alike is
    second = run(pipeline, [(f"2-{rid}", who, data) for rid, who, data in pass1])
    named = {rid[2:]: a["result"] for rid, a in second.items()}
    wrong = {
        rid: result for rid, result in named.items() if result not in ("", "unknown", who_of[rid]) and not result.startswith("person-")
    }
    missed = {rid: result for rid, result in named.items() if who_of[rid] in UNKNOWN and result != who_of[rid]}
    with capsys.disabled():
        print(
            f"teaching pass 2: {len(second)} frames, named {sum(1 for r in named.values() if r in UNKNOWN)}, missed {missed}, wrong {wrong}"
        )
    assert wrong == {}
    assert missed == {}
    # AND the assignments are labelled pairs: `calibrate --from-review` reads them
    report = calibrate_from_review(operations)
    with capsys.disabled():
        print(report)
    assert sum(1 for p in labelled_pairs(operations) if p.same and p.band == "poor") >= 10
    assert "FACE_SIMILARITY_THRESHOLD_POOR=" in report


def test_not_this_person_is_obeyed_and_one_frame_never_names_one_person_twice(pipeline, settings, fixtures_root, detector):
    recognizer = pipeline.recognizer
    operations = Admin(recognizer)
    image, box = camera_face(fixtures_root / "train/obama/obama.jpg", detector)
    portrait = camera_frame(image, box, 60, 160)
    operations.enroll("obama", [("obama.jpg", encode(portrait))])
    # GIVEN a frame recognised as obama
    named = run(pipeline, [("n-1", "obama", encode(portrait, quality=90))])["n-1"]
    assert named["result"] == "obama"
    # WHEN a person says the face is not obama
    group = operations.not_this_person(named["faces"][0]["face_id"])
    # THEN the same frame again is not named obama, and the face waits in review
    again = run(pipeline, [("n-2", "obama", encode(portrait, quality=90))])["n-2"]
    assert "obama" not in again["result"]
    assert recognizer.review.group(group) is not None
    (meta,) = [i for i in recognizer.people.media("n-1") if i["type"] == "media"]
    assert meta["result"] == "unknown"
    # AND a frame holding the face twice (mirrored beside itself) never names one person twice
    twice = Image.new("RGB", (320, 160))
    twice.paste(portrait, (0, 0))
    twice.paste(ImageOps.mirror(portrait), (160, 0))
    operations.enroll("obama", [("obama-mirror.jpg", encode(ImageOps.mirror(portrait).rotate(3)))])
    answer = run(pipeline, [("t-1", "obama", encode(twice, quality=90))])["t-1"]
    people = [f["person_id"] for f in answer["faces"] if f["person_id"]]
    assert len(answer["faces"]) == 2
    assert len(people) == len(set(people))
    # AND the denial is an impostor pair: the suggested threshold for its band names none of it
    found = edges(labelled_pairs(operations), recognizer.calibration)
    denied = [e for e in found if e.impostor]
    assert denied
    assert all(e.highest_impostor is not None and e.suggested > e.highest_impostor for e in denied)


def test_confirm_dismiss_and_keep_unknown_faces_off(pipeline, aws, settings, fixtures_root, detector):
    recognizer = pipeline.recognizer
    operations = Admin(recognizer)
    rng = random.Random(3)
    image, box = camera_face(fixtures_root / "train/biden/biden.jpg", detector)
    operations.enroll("biden", [("b.jpg", encode(camera_frame(image, box, 80, 200)))])
    # a sighting that is not indexed, confirmed: it joins the indexed faces, marked as taught
    sighting = run(pipeline, [("c-1", "biden", encode(camera_frame(image, box, 79, 200), quality=80))])["c-1"]["faces"][0]
    assert sighting["name"] == "biden"
    before = recognizer.people.get_person(sighting["person_id"]).indexed_faces
    person = operations.confirm(sighting["face_id"])
    face = recognizer.people.face(sighting["face_id"], person.person_id)
    assert face is not None
    assert face["taught"] == "confirmed"
    assert person.indexed_faces >= before
    # an unknown camera face is kept; dismissing it erases it, and a redelivery does not bring it back
    stranger, stranger_box = camera_face(fixtures_root / "train/rose_leslie/img1.jpg", detector)
    frame = camera_replay(stranger, stranger_box, rng)
    kept = run(pipeline, [("d-1", "rose", frame)])["d-1"]["faces"][0]
    assert kept["person_id"] is None
    assert kept["review_group"]
    assert operations.dismiss(kept["review_group"]) == 1
    assert recognizer.review.group(kept["review_group"]) is None
    assert recognizer.index.query(np.ones(128, np.float32), 100, recognizer.review.namespace) == []
    run(pipeline, [("d-1", "rose", frame)])  # the same request again (a new delivery of it)
    assert list(recognizer.review.all_groups()) == []
    # with KEEP_UNKNOWN_FACES off, nothing of an unknown face is kept
    quiet = dataclasses.replace(settings, keep_unknown_faces=False)
    quiet_pipeline = InProcessPipeline.create(aws, quiet, detector, recognizer.embedder, index=recognizer.index)
    off = run(quiet_pipeline, [("d-2", "rose", camera_replay(stranger, stranger_box, rng))])["d-2"]["faces"][0]
    assert off["person_id"] is None
    assert "review_group" not in off
    assert list(recognizer.review.all_groups()) == []
