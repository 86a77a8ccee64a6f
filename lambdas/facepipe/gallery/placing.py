"""Who a face is, acted on: a match as the person it names now (merges followed), a new face
created and registered (through the stranger registry), unknown as it is; an erased person's
leftovers dropped and cleaned. ``evidence`` reads what a decision needs, ``matching.decide``
decides, this acts; ``recognition.placing`` runs the three, once per round."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from typing import TYPE_CHECKING

from facepipe.detection.quality import FaceQuality
from facepipe.gallery.evidence import Evidence
from facepipe.gallery.faces import FaceToResolve, Placement
from facepipe.gallery.parts import GalleryParts
from facepipe.matching import MAX_FACES_PER_PERSON, Calibration, Candidate, Decision
from facepipe.people import Person, PersonGoneError, person_id_for
from facepipe.people.errors import FaceErasedError

if TYPE_CHECKING:
    from collections.abc import Sequence


class Ask(Enum):
    """What ``Placing.placement`` answers instead of a placement."""

    REGISTRY = "decide the face again with the stranger registry read (again)"


def joins_person(decision: Decision, probe: FaceQuality, calibration: Calibration, person_faces: int) -> bool:
    """Whether a matched sighting joins its person's indexed faces: a good face, a good pair,
    not a near-duplicate of one of the person's faces, and room left under the cap."""
    return (
        decision.kind == "match"
        and probe.band == "good"
        and decision.band == "good"
        and decision.similarity < calibration.near_duplicate
        and person_faces < MAX_FACES_PER_PERSON
    )


class Placing(GalleryParts):
    """Who a face is, acted on."""

    def placement(
        self, face: FaceToResolve, decision: Decision, evidence: Evidence, exclude: frozenset[str] = frozenset()
    ) -> Placement | Ask | None:
        """``decision`` (made on ``evidence``) acted on; ``Ask.REGISTRY`` when the face is new and is
        to be decided again with the stranger registry read (again: a registration was refused);
        None when the gallery changed under it (an erased person's leftovers were dropped: place
        again). A face is never placed as one of ``exclude`` (another face of its frame is them)
        or a person feedback refused: unknown."""
        for person_id in {c.person_id for c in evidence.leftovers}:
            self._drop_leftovers(person_id, evidence.leftovers)
        placement = self._acted_on(face, decision, evidence)
        if isinstance(placement, Placement) and placement.person_id in exclude | decision.refused:
            return Placement(replace(decision, kind="unknown", person_id=None, reason="taken by another face of its frame"), None)
        return placement

    def _acted_on(self, face: FaceToResolve, decision: Decision, evidence: Evidence) -> Placement | Ask | None:
        if evidence.registered_before:  # an earlier delivery of this face registered it
            return self._created(face, person_id_for(face.face_id), decision, evidence.indexed)
        if decision.kind == "match" and decision.person_id:
            present = evidence.present if evidence.seen is None else {}
            return self._matched(face, decision, evidence.candidates, present)
        if decision.kind != "new":
            return Placement(decision, None)
        if evidence.seen is None:
            return Ask.REGISTRY
        try:
            if self.registry.register_person(evidence.seen, face.face_id, face.vector, face.quality.band, face.request_id):
                return self._created(face, person_id_for(face.face_id), decision, evidence.indexed)
        except (FaceErasedError, PersonGoneError):
            return Placement(decision, None).erased()
        return Ask.REGISTRY  # someone registered in between: read again

    def _matched(
        self, face: FaceToResolve, decision: Decision, candidates: Sequence[Candidate], present: dict[str, Person] | None = None
    ) -> Placement | None:
        """The person a match names, now (merges followed; ``present``: people just read); None
        when the person was erased."""
        assert decision.person_id is not None
        person = (present or {}).get(decision.person_id) or self.people.current_person(decision.person_id)
        if person is None:
            self._drop_leftovers(decision.person_id, candidates)
            return None
        indexed = joins_person(decision, face.quality, self.calibration, person.indexed_faces)
        return Placement(decision, person.person_id, indexed=indexed, person=person)

    def _created(self, face: FaceToResolve, person_id: str, decision: Decision, candidates: Sequence[Candidate]) -> Placement | None:
        """``face`` made ``person_id``: a new person, or (merged since) who they are now; unknown
        when that person is being erased (the face goes with them)."""
        person = self.people.current_person(person_id)
        if person is None:
            self._drop_leftovers(person_id, candidates)
            return Placement(decision, None).erased()
        if person.person_id != person_id:
            return Placement(decision, person.person_id, indexed=True, person=person)
        return Placement(decision, person_id, new_person=True, indexed=True, person=person)

    def _drop_leftovers(self, person_id: str, candidates: Sequence[Candidate]) -> None:
        """An erased person's vectors still returned (Pinecone's delay, this container's buffer,
        the stranger registry): forget and delete them, so later faces never see them again."""
        self.recent.forget_person(person_id)
        self.registry.forget(person_id)
        self.index.delete([c.face_id for c in candidates if c.person_id == person_id], self.namespace)
