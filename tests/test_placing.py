"""Placing the faces of one image: no two as one person, placed again while people go away, and
the one retry loop's bound. A gallery in memory (people and their similarity to each face);
``matching.decide`` and the loop are the real ones."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from PIL import Image

from facepipe.detection.quality import FaceQuality
from facepipe.embedding.models import MODELS
from facepipe.gallery import PLACEMENT_TRIES, Evidence, FaceToResolve, Placement, PlacementError
from facepipe.gallery.writing import Writing
from facepipe.matching import Candidate, Decision
from facepipe.people import PersonGoneError
from facepipe.recognition.placing import Placing
from facepipe.settings import Settings

CAL = MODELS["dlib-resnet"].calibration
GOOD = FaceQuality(120.0, 0.99, 900.0, 0.0, 0.0, 0.0, 120.0, "good")


def face(index: int) -> FaceToResolve:
    return FaceToResolve("r-1", index, [0, 0, 10, 10], np.zeros(128, np.float32), Image.new("RGB", (8, 8)), "cam-1", GOOD, "d" * 64)


@dataclass
class MemoryGallery:
    """Each face's similarity to each person; people who go away on their next write."""

    similarity: dict[int, dict[str, float]]
    going: dict[str, int] = field(default_factory=dict)  # person -> writes refused before they are gone for good
    comes_next: list[str] = field(default_factory=list)  # who the index returns next when someone has gone
    calibration: object = CAL
    recorded: list[tuple[int, str]] = field(default_factory=list)

    def evidence(self, face: FaceToResolve, earlier: Evidence | None = None) -> Evidence:
        return Evidence([Candidate(f"{p}-{face.index}", p, s) for p, s in self.similarity[face.index].items()])

    def placement(self, face: FaceToResolve, decision: Decision, evidence: Evidence, exclude: frozenset[str]) -> Placement:
        return Placement(decision, decision.person_id if decision.kind == "match" else None)

    written = Writing.written  # the gallery's own write outcomes (PersonGoneError: place again)

    def write(self, face: FaceToResolve, placement: Placement, similarity: float) -> None:
        assert placement.person_id is not None
        if self.going.get(placement.person_id, 0) > 0:
            self.going[placement.person_id] -= 1
            self.similarity[face.index].pop(placement.person_id, None)  # gone: the index stops returning them
            if self.comes_next:
                self.similarity[face.index][self.comes_next.pop(0)] = 0.99
            raise PersonGoneError(placement.person_id)
        self.recorded.append((face.index, placement.person_id))


def placing(gallery: MemoryGallery) -> Placing:
    return Placing(Settings(), gallery, review=None)  # type: ignore[arg-type]


def test_two_faces_naming_one_person_the_closer_keeps_them_the_other_takes_its_next_person():
    # GIVEN two faces close to ann; face 1 also close enough to bob
    gallery = MemoryGallery({0: {"ann": 0.9995}, 1: {"ann": 0.999, "bob": CAL.good + 0.005}})
    # WHEN the frame is placed
    placements = placing(gallery).place([face(0), face(1)], gallery.write)
    # THEN face 0 is ann, face 1 (ann's look-alike here) is bob, each written once
    assert [p.person_id for p in placements] == ["ann", "bob"]
    assert sorted(gallery.recorded) == [(0, "ann"), (1, "bob")]


def test_a_face_placed_again_never_takes_the_person_another_face_of_its_frame_holds():
    # GIVEN face 0 is ann (written); face 1 is bob, who goes away on its write, and ann comes next
    gallery = MemoryGallery({0: {"ann": 0.999}, 1: {"bob": 0.999, "ann": CAL.good + 0.005}}, going={"bob": 1})
    # WHEN the frame is placed
    placements = placing(gallery).place([face(0), face(1)], gallery.write)
    # THEN face 1 is placed again, without bob and without ann (face 0 holds her): unknown
    assert [p.person_id for p in placements] == ["ann", None]
    assert gallery.recorded == [(0, "ann")]


def test_a_face_whose_people_keep_going_away_fails_after_the_tries_and_its_record_is_retried():
    # GIVEN a face whose person goes away on every write, another coming back each time
    people = [f"p{i}" for i in range(PLACEMENT_TRIES + 2)]
    gallery = MemoryGallery({0: {people[0]: 0.99}}, going=dict.fromkeys(people, 1), comes_next=people[1:])
    # THEN placing it gives up after PLACEMENT_TRIES: the record fails and SQS delivers it again
    with pytest.raises(PlacementError, match="kept changing"):
        placing(gallery).place([face(0)], gallery.write)
    assert gallery.recorded == []
