"""Who a face is, in one attempt: matched (merges followed, negative links obeyed), a new person
(through the stranger registry), or unknown; an erased person's leftovers dropped and cleaned."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from facepipe.gallery.faces import FaceToResolve, Placement
from facepipe.gallery.parts import GalleryParts
from facepipe.matching import TOP_K, Candidate, Decision, adds_to_person, decide, names_nobody
from facepipe.people import Person, PersonGoneError, generated_name, person_id_for
from facepipe.people.errors import FaceErasedError
from facepipe.people.items import profile_item

if TYPE_CHECKING:
    from collections.abc import Sequence


class Placing(GalleryParts):
    """Who a face is."""

    def candidates(self, vector: np.ndarray, exclude: str = "") -> list[Candidate]:
        """Indexed faces near ``vector`` (the index, plus what this container upserted lately),
        but not face ``exclude`` (a redelivered face is never its own match)."""
        found = {m.id: m for m in self.index.query(vector, TOP_K + 1, self.namespace)}
        for match in self.recent.matches(vector):
            found.setdefault(match.id, match)
        found.pop(exclude, None)
        candidates = (Candidate.from_metadata(m.id, m.score, m.metadata) for m in found.values())
        return sorted((c for c in candidates if c is not None), key=lambda c: -c.similarity)[:TOP_K]

    def place(self, face: FaceToResolve, exclude: frozenset[str] = frozenset()) -> Placement | None:
        """Match, new person (registered) or unknown, in one attempt (see the module docstring);
        None when the gallery changed under it (an erased person's leftovers were dropped):
        place again. ``exclude``: people this face may not be (another face of its frame is
        them). A person the face is refused for — excluded, or a negative link says it is not
        them — is left out of the decision, and the face is then never made a new person (it is
        somebody's look-alike: ``unknown``)."""
        candidates = self.candidates(face.vector, exclude=face.face_id)
        present: dict[str, Person] = {}
        if not names_nobody(candidates, self.calibration):  # else no one's present state can change the answer
            candidates, present = self._as_people_now(candidates)
        refused = set(exclude)
        decision = decide([c for c in candidates if c.person_id not in refused], face.quality, self.calibration)
        while decision.kind == "match" and decision.person_id and self._refuses(face, decision, present):
            refused.add(decision.person_id)
            decision = decide([c for c in candidates if c.person_id not in refused], face.quality, self.calibration)
        if decision.kind == "new" and refused & {c.person_id for c in candidates}:
            decision = replace(decision, kind="unknown", reason="its closest person is not it (frame, or feedback)")
        if decision.kind == "new":
            placement = self._register(face, candidates)
        elif decision.kind == "match" and decision.person_id:
            placement = self._matched(face, decision, candidates, present)
        else:
            placement = Placement(decision, None)
        if placement is not None and placement.person_id in refused:
            placement = Placement(replace(decision, kind="unknown", person_id=None, reason="taken by another face of its frame"), None)
        return placement

    def _refuses(self, face: FaceToResolve, decision: Decision, present: dict[str, Person]) -> bool:
        """A negative link says ``face`` is not the person ``decision`` names: a face people marked
        "not this person" is at least as close to it as the person is (or a near-duplicate of it)."""
        person = present.get(decision.person_id or "")
        if person is None or person.negatives <= 0:
            return False
        closest = self.index.query(face.vector, 1, self.negatives, filter={"person_id": person.person_id})
        return bool(closest) and closest[0].score >= min(self.calibration.near_duplicate, decision.similarity)

    def _as_people_now(self, candidates: list[Candidate]) -> tuple[list[Candidate], dict[str, Person]]:
        """``candidates`` under the people they belong to now: a merged-away person's faces count
        as the target's (else the two would look like two people, and the face ambiguous); an
        erased person's leftovers are dropped (and cleaned; a merge that ends in an erased person
        only drops them from this decision: the merge may yet be refused and undone). One read."""
        ids = {c.person_id for c in candidates}
        found = self.people.get_people(ids)
        now: dict[str, str | None] = {}
        present: dict[str, Person] = {}
        for person_id in ids:
            person = found.get(person_id)
            if person is not None and person.merged_into:
                person = self.people.current_person(person_id)
            now[person_id] = None if person is None or person.deleting else person.person_id
            if person is not None and not person.deleting:
                present[person.person_id] = person
        for person_id in [p for p, current in now.items() if current is None]:
            own = found.get(person_id)
            if own is None or own.deleting:
                self._drop_leftovers(person_id, candidates)
        return [replace(c, person_id=current) for c in candidates if (current := now[c.person_id])], present

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
        indexed = adds_to_person(decision, face.quality, self.calibration, person.indexed_faces)
        return Placement(decision, person.person_id, indexed=indexed, person=person)

    def _register(self, face: FaceToResolve, candidates: Sequence[Candidate]) -> Placement | None:
        """A new face: read the stranger registry, decide again with its entries, create and
        register the person if it is still new (``people.registry``: the protocol and its proof).
        Strangers arriving together take turns: a refused round pauses (jittered) and reads again."""
        for seen in self.registry.rounds():
            others = [s for s in seen.strangers if s.face_id != face.face_id]
            registered = [Candidate(s.face_id, s.person_id, float(s.vector @ face.vector), s.band) for s in others]  # type: ignore[arg-type]
            decision = decide([*candidates, *registered], face.quality, self.calibration)
            if len(others) < len(seen.strangers):  # an earlier delivery of this face registered it
                return self._created(face, person_id_for(face.face_id), decision, candidates)
            if decision.kind == "match" and decision.person_id:
                return self._matched(face, decision, [*candidates, *registered])
            if decision.kind != "new":
                return Placement(decision, None)
            person_id = person_id_for(face.face_id)
            person = profile_item(person_id, generated_name(person_id), face.request_id)
            try:
                if self.registry.register(seen, person, face.face_id, face.vector, face.quality.band):
                    return self._created(face, person_id, decision, candidates)
            except (FaceErasedError, PersonGoneError):
                return Placement(decision, None).erased()
        return None

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
