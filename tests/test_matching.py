"""Quality-aware matching: thresholds per band, the margin over the second person, new person or unknown."""

from __future__ import annotations

import dataclasses

import pytest

from facepipe.detection.quality import FaceQuality
from facepipe.embedding.models import MODELS
from facepipe.gallery.evidence import candidate_of
from facepipe.gallery.placing import joins_person
from facepipe.matching import Candidate, decide, rank_people

CAL = MODELS["dlib-resnet"].calibration


def face(band: str) -> FaceQuality:
    size = {"good": 120.0, "fair": 30.0, "poor": 20.0}[band]
    return FaceQuality(size, 0.99, 900.0 if band == "good" else 100.0, 0.0, 0.0, 0.0, 120.0, band)  # type: ignore[arg-type]


def candidate(person: str, similarity: float, band: str = "good", face_id: str | None = None) -> Candidate:
    return Candidate(face_id or f"{person}-{similarity}", person, similarity, band)  # type: ignore[arg-type]


def test_matching_good_face_above_threshold_with_margin_is_named():
    decision = decide([candidate("ann", CAL.good + 0.01), candidate("bob", CAL.good - 0.10)], face("good"), CAL)
    assert decision.kind == "match"
    assert decision.person_id == "ann"
    assert decision.threshold == CAL.good
    assert decision.margin == pytest.approx(0.11)


def test_matching_look_alikes_too_close_together_are_unknown():
    decision = decide([candidate("ann", 0.97), candidate("bob", 0.97 - CAL.margin / 2)], face("good"), CAL)
    assert decision.kind == "unknown"
    assert decision.person_id is None
    assert "ambiguous" in decision.reason


@pytest.mark.parametrize("band", ["fair", "poor"])
def test_matching_smaller_or_worse_faces_need_more_similarity(band):
    similarity = CAL.good + 0.005  # enough for good faces, not for this band
    decision = decide([candidate("ann", similarity)], face(band), CAL)
    assert decision.kind == "unknown"
    assert decision.threshold == CAL.threshold(band) > similarity
    assert decide([candidate("ann", CAL.threshold(band) + 0.001)], face(band), CAL).kind == "match"


def test_matching_pair_band_is_the_worse_of_probe_and_indexed_face():
    similarity = CAL.good + 0.005
    assert decide([candidate("ann", similarity, band="good")], face("good"), CAL).kind == "match"
    decision = decide([candidate("ann", similarity, band="poor")], face("good"), CAL)  # enrolled from a camera frame
    assert decision.kind == "unknown"
    assert decision.band == "poor"


def test_matching_stranger_of_good_quality_becomes_a_new_person():
    assert decide([candidate("ann", CAL.good - 0.05)], face("good"), CAL).kind == "new"
    assert decide([], face("good"), CAL).kind == "new"


@pytest.mark.parametrize("band", ["fair", "poor"])
def test_matching_stranger_too_poor_to_recognise_again_is_unknown(band):
    assert decide([candidate("ann", 0.5)], face(band), CAL).kind == "unknown"
    assert decide([], face(band), CAL).kind == "unknown"


def test_matching_near_miss_is_neither_a_name_nor_a_new_person():
    """Similar enough to be someone, not enough for this quality: creating a person would split them."""
    decision = decide([candidate("ann", CAL.good + 0.005, band="fair")], face("good"), CAL)
    assert decision.kind == "unknown"


def test_matching_scores_a_person_by_their_closest_face():
    ranked = rank_people([candidate("ann", 0.90, face_id="a1"), candidate("ann", 0.96, face_id="a2"), candidate("bob", 0.93)], "good")
    assert [(c.person_id, c.face_id) for c, _ in ranked] == [("ann", "a2"), ("bob", "bob-0.93")]


def test_matching_sightings_join_their_person_only_when_good_new_and_under_the_cap():
    match = decide([candidate("ann", 0.96)], face("good"), CAL)
    assert joins_person(match, face("good"), CAL, person_faces=3)
    assert not joins_person(match, face("good"), CAL, person_faces=16)  # the cap
    duplicate = dataclasses.replace(match, similarity=CAL.near_duplicate + 0.001)
    assert not joins_person(duplicate, face("good"), CAL, person_faces=3)
    poor = decide([candidate("ann", 0.99)], face("poor"), CAL)
    assert poor.kind == "match"
    assert not joins_person(poor, face("poor"), CAL, person_faces=3)


def test_matching_leaves_out_excluded_people_and_then_never_starts_a_person():
    # GIVEN ann (a clear match) and bob, far below her
    candidates = [candidate("ann", 0.97), candidate("bob", CAL.good + 0.01)]
    # WHEN ann is excluded (another face of the frame is her), bob is next
    assert decide(candidates, face("good"), CAL, excluded={"ann"}).person_id == "bob"
    # AND with both excluded the face is unknown, never a new person (it looks like somebody)
    nobody = decide(candidates, face("good"), CAL, excluded={"ann", "bob"})
    assert (nobody.kind, nobody.person_id) == ("unknown", None)


def test_matching_a_refused_person_still_counts_as_the_second_until_they_would_be_named():
    # GIVEN ann, and bob within the margin of her, whose "not this person" face is closer than he is
    close = [candidate("ann", 0.97), candidate("bob", 0.97 - CAL.margin / 2)]
    # THEN the face stays ambiguous: refusing bob does not make ann clearer
    assert decide(close, face("good"), CAL, negatives={"bob": 0.99}).kind == "unknown"
    # WHEN the refused person is the one who would be named, the next person is decided
    clear = [candidate("bob", 0.999), candidate("ann", CAL.good + 0.005)]
    decision = decide(clear, face("good"), CAL, negatives={"bob": 0.999})
    assert (decision.person_id, decision.refused) == ("ann", frozenset({"bob"}))
    # AND a near-duplicate of a negative refuses him even when he is closer still
    assert decide(clear, face("good"), CAL, negatives={"bob": CAL.near_duplicate}).person_id == "ann"
    # AND a negative farther from the face than he is refuses nobody
    assert decide(clear, face("good"), CAL, negatives={"bob": 0.95}).person_id == "bob"
    # AND a face whose only candidate is refused is unknown, not a new person
    assert decide([candidate("bob", 0.97)], face("good"), CAL, negatives={"bob": 0.99}).kind == "unknown"


def test_matching_candidates_from_index_metadata():
    assert candidate_of("f1", 0.9, {"person_id": "p1", "band": "fair"}) == Candidate("f1", "p1", 0.9, "fair")
    assert candidate_of("f1", 0.9, {"person_id": "p1"}).band == "good"  # vectors indexed before bands existed
    assert candidate_of("f1", 0.9, {}) is None


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("band", ["good", "fair", "poor"])
def test_matching_candidates_below_every_threshold_name_nobody_whoever_they_belong_to(model, band):
    # GIVEN candidates of three people, all just below the lowest threshold
    cal = MODELS[model].calibration
    near = [candidate(p, cal.good - d, b) for p, d, b in (("ann", 0.001, "good"), ("bob", 0.02, "fair"), ("cy", 0.05, "poor"))]
    assert all(c.similarity < cal.lowest for c in near)
    kinds = set()
    # WHEN their people are merged into one another or erased (what reading the people would show)
    for now in ({}, {"bob": "ann"}, {"ann": "cy", "bob": "cy"}, {"ann": None}, {"ann": None, "bob": None, "cy": None}):
        mapped = [dataclasses.replace(c, person_id=now.get(c.person_id, c.person_id)) for c in near]
        kinds.add(decide([c for c in mapped if c.person_id], face(band), cal).kind)
    # THEN the answer does not change: new for a good face, unknown otherwise
    assert kinds == {"new" if band == "good" else "unknown"}
    # AND one candidate at the threshold is enough for the people to matter
    assert candidate("dee", cal.good).similarity >= cal.lowest
