"""What the gallery knows about a face, read before it is decided: the indexed faces near it as
the people they belong to now, which of those people feedback says it is not, and, once the
index calls it new, the strangers registered lately. Reads only; ``placing`` acts on them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from facepipe.gallery.faces import FaceToResolve
from facepipe.gallery.parts import GalleryParts
from facepipe.matching import TOP_K, Candidate
from facepipe.people import Person
from facepipe.people.registry import Snapshot


@dataclass(frozen=True)
class Evidence:
    """What one decision of a face reads: ``indexed`` (the index's candidates, as people now),
    ``present`` (those people, read), ``closest_negatives`` (per person with negative links, the
    closest of them to the face: ``matching.decide`` applies the rule),
    ``leftovers`` (erased people whose vectors still came back: to drop), and ``seen`` (the
    stranger registry's snapshot, with ``strangers`` as candidates; None before it is read)."""

    indexed: list[Candidate]
    present: dict[str, Person] = field(default_factory=dict)
    closest_negatives: dict[str, float] = field(default_factory=dict)
    leftovers: tuple[Candidate, ...] = ()
    seen: Snapshot | None = None
    strangers: list[Candidate] = field(default_factory=list)
    registered_before: bool = False  # an earlier delivery of this face registered it
    rounds: Iterator[Snapshot] | None = None

    @property
    def candidates(self) -> list[Candidate]:
        return [*self.indexed, *self.strangers]


def candidate_of(face_id: str, similarity: float, metadata: Mapping[str, Any]) -> Candidate | None:
    """An index match as a candidate (its metadata as ``gallery.faces.indexed_metadata`` wrote
    it; a vector indexed before bands existed is ``good``); None without a person."""
    person_id = metadata.get("person_id")
    if not person_id:
        return None
    band = metadata.get("band")
    return Candidate(face_id, str(person_id), float(similarity), band if band in ("good", "fair", "poor") else "good")


class Knowing(GalleryParts):
    """What the gallery knows about a face."""

    def candidates(self, vector: np.ndarray, exclude: str = "") -> list[Candidate]:
        """Indexed faces near ``vector`` (the index, plus what this container upserted lately),
        but not face ``exclude`` (a redelivered face is never its own match)."""
        found = {m.id: m for m in self.index.query(vector, TOP_K + 1, self.namespace)}
        for match in self.recent.matches(vector):
            found.setdefault(match.id, match)
        found.pop(exclude, None)
        candidates = (candidate_of(m.id, m.score, m.metadata) for m in found.values())
        return sorted((c for c in candidates if c is not None), key=lambda c: -c.similarity)[:TOP_K]

    def evidence(self, face: FaceToResolve, earlier: Evidence | None = None) -> Evidence | None:
        """What deciding ``face`` reads: first the index's candidates as people now (their people
        read only when one of them could name the face) and the negative links of those people;
        after ``earlier`` (the index called the face new, or a registration was refused), the
        same with a fresh read of the stranger registry. None when the registry's rounds are
        spent (strangers kept arriving together: place again)."""
        if earlier is not None:
            return self._with_registry(face, earlier)
        candidates = self.candidates(face.vector, exclude=face.face_id)
        if all(c.similarity < self.calibration.lowest for c in candidates):
            return Evidence(candidates)  # nobody could name it: whoever they belong to now, one read saved
        return self._as_people_now(face, candidates)

    def _as_people_now(self, face: FaceToResolve, candidates: list[Candidate]) -> Evidence:
        """``candidates`` under the people they belong to now: a merged-away person's faces count
        as the target's (else the two would look like two people, and the face ambiguous); an
        erased person's leftovers are left out (and dropped by ``placing``; a merge that ends in
        an erased person only leaves them out of this decision: the merge may yet be refused and
        undone). One read of the people, and one negative-link query per person who has some."""
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
        erased = {p for p, current in now.items() if current is None and (found.get(p) is None or found[p].deleting)}
        indexed = [replace(c, person_id=current) for c in candidates if (current := now[c.person_id])]
        leftovers = tuple(c for c in candidates if c.person_id in erased)
        return Evidence(indexed, present, self._closest_negatives(face, indexed, present), leftovers)

    def _closest_negatives(self, face: FaceToResolve, candidates: list[Candidate], present: dict[str, Person]) -> dict[str, float]:
        """Per candidate person who has negative links (their profile counts them) and a face
        close enough to name this one, how close the nearest of their negatives is to it."""
        closest_negatives = {}
        for person_id in {c.person_id for c in candidates if c.similarity >= self.calibration.lowest}:
            person = present.get(person_id)
            if person is None or person.negatives <= 0:
                continue
            closest = self.index.query(face.vector, 1, self.negatives, filter={"person_id": person_id})
            if closest:
                closest_negatives[person_id] = closest[0].score
        return closest_negatives

    def _with_registry(self, face: FaceToResolve, earlier: Evidence) -> Evidence | None:
        """``earlier`` with the stranger registry read again (``people.registry``: the protocol;
        a round that comes back pauses first, jittered, so strangers arriving together take turns)."""
        rounds = earlier.rounds or self.registry.rounds()
        seen = next(rounds, None)
        if seen is None:
            return None
        others = [s for s in seen.strangers if s.face_id != face.face_id]
        strangers = [Candidate(s.face_id, s.person_id, float(s.vector @ face.vector), s.band) for s in others]  # type: ignore[arg-type]
        registered_before = len(others) < len(seen.strangers)
        return replace(earlier, leftovers=(), seen=seen, strangers=strangers, registered_before=registered_before, rounds=rounds)
