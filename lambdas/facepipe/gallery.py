"""The gallery: the people facepipe knows, and every face it holds of them.

A person's faces live in three places kept in step here: the vector index (plus the vectors
this container upserted lately, which Pinecone may not return yet: ``index.recent``), the
people table (profile, face records with their quality; ``people.registry`` for people created
lately), and the photo bucket (the crop of each indexed face, so it can be re-embedded later).

``place`` decides who a face is (``matching.decide``), following merges (a merged-away person
redirects to the one it was merged into) and treating an erased person's leftovers (vectors
Pinecone still returns, this container's recent buffer) as absent while cleaning them. The
candidates' people are read only when one of them could name the face: below every threshold
the answer is ``new`` or ``unknown`` whoever they belong to (one TransactGetItems of up to 25
people, 2 RCU each, saved per unknown face; an erased person's leftovers are then cleaned the
next time they come close enough to matter, and until Pinecone drops them they may still set
an unknown face's reported best similarity, never a name). A face
the index calls new goes through the stranger registry, so that frames of one new face in
several containers make one person. ``write`` records the face under its person (conditional
on the person being present) and then indexes it; ``record``, ``add_faces`` and ``settle`` are
the same steps for a whole frame (one upsert; the read after it is the one that names the people).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from facepipe.detection.quality import FaceQuality
from facepipe.index import Vector, VectorIndex
from facepipe.index.recent import RecentVectors
from facepipe.matching import TOP_K, Calibration, Candidate, Decision, adds_to_person, decide, names_nobody
from facepipe.people import FaceRecord, PeopleStore, Person, PersonGoneError, face_id_for, generated_name, person_id_for
from facepipe.people.errors import FaceErasedError
from facepipe.people.items import profile_item
from facepipe.people.registry import StrangerRegistry
from facepipe.storage import delete_every_version, face_crop_key, put_jpeg, sighting_crop_key
from facepipe.vectors import encode_vector

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_s3 import S3Client

    from facepipe.embedding import Embedder

#: how often a face is placed before its record fails (an erased person's leftovers were dropped, or
#: its person went away before its write): the one retry loop, ``recognition.placing.Placing.place``
PLACEMENT_TRIES = 5
#: registry rounds for one new face: each round of strangers arriving together registers one of them
REGISTER_ROUNDS = 40


def negatives_namespace(namespace: str) -> str:
    """Where the faces people said are not a person are (``facepipe.operations.not_this_person``)."""
    return f"{namespace}-negatives"


class PlacementError(RuntimeError):
    """A face could not be placed after ``PLACEMENT_TRIES`` (the gallery kept changing under it):
    transient, SQS delivers the record again."""


@dataclass(frozen=True)
class FaceToResolve:
    """A face to place: where it was seen (request, the image's SHA-256, its index), its
    embedding, crop and quality."""

    request_id: str
    index: int
    box: Sequence[float]
    vector: np.ndarray
    crop: Image.Image
    source: str
    quality: FaceQuality
    image_digest: str = ""

    @property
    def face_id(self) -> str:
        return face_id_for(self.request_id, self.image_digest, self.index)


@dataclass(frozen=True)
class Placement:
    """Who a face is: ``person_id`` (None: unknown), whether it makes a new person, whether it
    joins its person's indexed faces."""

    decision: Decision
    person_id: str | None
    new_person: bool = False
    indexed: bool = False
    person: Person | None = None  # the profile read while placing (present then), when one was
    review_group: str = ""  # an unknown face kept for review: its group

    def erased(self) -> Placement:
        """This face belongs to an erased person: unknown, nothing of it kept or named."""
        return Placement(replace(self.decision, kind="unknown", person_id=None, reason="erased"), None)

    def in_review(self, group: str) -> Placement:
        """This face is unknown and kept for review, in ``group``."""
        return Placement(replace(self.decision, kind="unknown", person_id=None), None, review_group=group)


class Gallery:
    def __init__(
        self,
        index: VectorIndex,
        people: PeopleStore,
        namespace: str,
        embedder: Embedder,
        calibration: Calibration,
        *,
        bucket: str = "",
        s3: S3Client | None = None,
        recent: RecentVectors | None = None,
        registry: StrangerRegistry | None = None,
    ) -> None:
        self.index = index
        self.people = people
        self.namespace = namespace
        self.negatives = negatives_namespace(namespace)
        self.model = embedder.model
        self.preprocessing = embedder.preprocessing
        self.calibration = calibration
        self.bucket = bucket  # empty: crops are not kept (tests without a bucket)
        self.recent = recent or RecentVectors()
        self.registry = registry or StrangerRegistry(people, namespace)
        self._s3 = s3

    @property
    def s3(self) -> S3Client:
        from facepipe import aws

        return self._s3 or aws.s3()

    # --- who a face is --------------------------------------------------------------------
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
        for round_ in range(REGISTER_ROUNDS):
            seen = self.registry.read()
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
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2**round_)))
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

    # --- writing a face -------------------------------------------------------------------
    def record(self, face: FaceToResolve, placement: Placement, similarity: float, enrolled: bool = False) -> bool:
        """Record the face under its person (``PersonGoneError`` when the person was merged away
        or erased meanwhile: place it again; ``FaceClaimedError`` when an earlier delivery
        recorded it under someone else; ``FaceErasedError``); whether it joins the person's
        indexed faces. A repeat answers what the first delivery recorded."""
        assert placement.person_id is not None
        record = FaceRecord(
            face_id=face.face_id,
            person_id=placement.person_id,
            request_id=face.request_id,
            face_index=face.index,
            source=face.source,
            box=list(face.box),
            similarity=similarity,
            model=self.model,
            preprocessing=self.preprocessing,
            indexed=placement.indexed,
            crop_key=(face_crop_key(face.face_id) if placement.indexed else sighting_crop_key(face.face_id)) if self.bucket else "",
            enrolled=enrolled,
            quality=face.quality.as_dict(),
            image_digest=face.image_digest,
            vector=encode_vector(face.vector),
        )
        if self.people.record_face(record):
            if self.bucket and not placement.indexed:  # an indexed face's crop goes with its vector (add_faces)
                put_jpeg(self.s3, self.bucket, record.crop_key, face.crop)
            return placement.indexed
        earlier = self.people.face(face.face_id, placement.person_id)
        return bool(earlier and earlier.get("indexed"))

    def write(self, face: FaceToResolve, placement: Placement, similarity: float, enrolled: bool = False) -> None:
        """One face: ``record``, index it if it joins its person's faces, then ``settle`` it."""
        assert placement.person_id is not None
        if self.record(face, placement, similarity, enrolled):
            self.add_faces([(face, placement.person_id)], enrolled)
            person = self.people.current_person(placement.person_id)
            if person is None or person.person_id != placement.person_id:
                self.settle(placement.person_id, [face], erased=person is None)

    def settle(self, person_id: str, faces: Sequence[FaceToResolve], *, erased: bool) -> None:
        """``faces`` were indexed under ``person_id``, and a read made *after* indexing found the
        person merged away or erased: the admin tool may have passed these vectors before they
        existed. Erased: remove them (vectors, this container's buffer, crops). Either way
        ``PersonGoneError``: place the faces again (a merge is followed then)."""
        if erased:
            self.recent.forget_person(person_id)
            self.index.delete([f.face_id for f in faces], self.namespace)
            for face in faces if self.bucket else ():
                delete_every_version(self.s3, self.bucket, face_crop_key(face.face_id))
        raise PersonGoneError(person_id)

    def add_faces(self, faces: Sequence[tuple[FaceToResolve, str]], enrolled: bool = False) -> None:
        """Index each ``(face, person_id)`` as one of that person's faces: its crop kept, all
        vectors in one upsert (a crowd frame is one index call, not one per face)."""
        if not faces:
            return
        vectors = []
        for face, person_id in faces:
            metadata = {
                "person_id": person_id,
                "source": face.source,
                "request_id": face.request_id,
                "model": self.model,
                "preprocessing": self.preprocessing,
                "enrolled": enrolled,
                "band": face.quality.band,
                "size": round(face.quality.size, 1),
            }
            if self.bucket:  # keep the crop so the face can be re-embedded later (§9)
                put_jpeg(self.s3, self.bucket, face_crop_key(face.face_id), face.crop)
            vectors.append(Vector(face.face_id, face.vector, metadata))
        self.index.upsert(vectors, self.namespace)
        for vector in vectors:
            self.recent.add(vector.id, vector.values, vector.metadata)

    def enroll(self, person_id: str, name: str, face: FaceToResolve) -> str:
        """Add ``face`` to person ``person_id`` (created with ``name`` if new); returns the face id."""
        self.people.create_person(person_id, name, face.request_id)
        placement = Placement(Decision("match", person_id, 1.0, None, 0.0, face.quality.band, "enrolled"), person_id, indexed=True)
        self.write(face, placement, 1.0, enrolled=True)
        return face.face_id
