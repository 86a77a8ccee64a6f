"""Teaching (docs/people.md, "Teaching"): ``assign`` a review face or group to a person (or
``new_person`` from a group), ``dismiss`` it, ``confirm`` a recognised face, and
``not_this_person``. The review faces still in a group are the work left of an assignment or a
dismissal.

A face that joins a person becomes one of their indexed faces while they have room
(``MAX_FACES_PER_PERSON``); a person at the cap keeps their most useful faces: a newcomer
replaces the indexed face that adds least (the closest to another of theirs; enrolled faces
last). ``not_this_person`` stores a negative link (the face's vector, under the person, in the
index namespace ``<namespace>-negatives`` filtered by person, and as ``PERSON#<id>`` /
``NOT#<face_id>``) that the gallery's ``evidence`` reads only for people who have one (their
profile counts them), so its cost grows with the feedback given, not with the gallery.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from facepipe.gallery import indexed_metadata, negatives_namespace
from facepipe.index import Vector
from facepipe.matching import MAX_FACES_PER_PERSON
from facepipe.operations.base import OperationError, OperationsBase, each, negative_id
from facepipe.people import FaceRecord, Person, PersonNotFoundError
from facepipe.publishing import EventType, arrival_key
from facepipe.review import ReviewFace, group_id_for
from facepipe.storage import copy_object, face_crop_key, review_crop_key, sighting_crop_key
from facepipe.vectors import decode_vector, encode_vector


class Teaching(OperationsBase):
    """The review's faces named, dismissed; recognised faces confirmed or refused."""

    def review_faces(self, target: str) -> list[ReviewFace]:
        """A review group's faces, or the one review face ``target`` names."""
        faces = self.review.faces(target)
        if faces:
            return faces
        face = self.review.face(target)
        if face is None:
            raise PersonNotFoundError(f"no review group or review face {target!r}")
        return [face]

    def assign(self, target: str, to: str) -> Person:
        """Every face of review group (or face) ``target`` joins person ``to`` (id or name): it is
        recorded as theirs, becomes one of their indexed faces while it adds something, and its
        frame's tag names them. Re-runnable (the faces still in review are the work left)."""
        person = self.present(to)
        faces = self.review_faces(target)
        for face in each(faces, f"assigning to {person.name}", self.progress):
            self._adopt(face, person)
        detail = {"target": target, "person_id": person.person_id, "name": person.name, "faces": len(faces)}
        self.publisher.operation(EventType.REVIEW_ASSIGNED, detail, target, person.person_id)
        return self.people.get_person(person.person_id)

    def new_person(self, target: str, name: str) -> Person:
        """A new person named ``name`` from review group (or face) ``target``."""
        if not name.strip():
            raise OperationError("a name is required")
        faces = self.review_faces(target)
        person_id = uuid.uuid5(uuid.NAMESPACE_OID, f"facepipe-review:{faces[-1].face_id}").hex  # a re-run names the same person
        self.people.create_person(person_id, name.strip(), f"review:{faces[-1].group_id}")
        return self.assign(target, person_id)

    def dismiss(self, target: str) -> int:
        """Erase review group (or face) ``target``: its faces' vectors, crops and items; their
        claims stay as erasure marks (a redelivered frame does not bring them back). How many."""
        faces = self.review_faces(target)
        for face in each(faces, "dismissing", self.progress):
            self.people.erase_claim(face.face_id)
            self.review.release(face)
        for group in {face.group_id for face in faces if self.review.group(face.group_id) is None}:  # the group is gone
            for source in {face.source for face in faces if face.group_id == group}:
                self.people.delete(arrival_key(source, f"review:{group}"))
        self.publisher.operation(EventType.REVIEW_DISMISSED, {"target": target, "faces": len(faces)}, target)
        return len(faces)

    def _adopt(self, face: ReviewFace, person: Person) -> None:
        person = self.people.get_person(person.person_id)  # its indexed count, as of now
        indexed = self._makes_room(person, face.vector)
        record = FaceRecord(
            face_id=face.face_id,
            person_id=person.person_id,
            request_id=face.request_id,
            face_index=face.face_index,
            source=face.source,
            box=list(face.box),
            similarity=1.0,
            model=self.recognizer.embedder.model,
            preprocessing=self.recognizer.embedder.preprocessing,
            indexed=indexed,
            crop_key=face_crop_key(face.face_id) if self.bucket else "",
            quality=dict(face.quality),
            image_digest=face.image_digest,
            vector=encode_vector(face.vector),
            taught="assigned",
        )
        self.people.adopt_face(record, face.group_id)
        if self.bucket:
            copy_object(self.recognizer.s3, self.bucket, review_crop_key(face.face_id), record.crop_key)
        if indexed:
            self._index(record, face.vector)
        self._retag(face, person.person_id, person.name)
        self.review.release(face)

    def confirm(self, face_id: str) -> Person:
        """A recognised face is right: it is marked confirmed (a labelled pair for ``calibrate
        --from-review``) and joins its person's indexed faces (replacing the one that adds least
        when they are at the cap)."""
        face = self.find_face(face_id)
        person = self.present(str(face["person_id"]))
        if person.person_id != face["person_id"]:
            raise OperationError(f"face {face_id} is being merged into {person.person_id}: finish the merge first")
        vector = self._vector_of(face)
        if not face.get("indexed") and self._makes_room(person, vector, exclude=face_id):
            record = FaceRecord.from_item(face)
            self.people.index_face(record, taught="confirmed")
            if self.bucket:
                copy_object(self.recognizer.s3, self.bucket, sighting_crop_key(face_id), face_crop_key(face_id))
            self._index(record, vector)
        else:
            self.people.index_face(FaceRecord.from_item(face), taught="confirmed", indexed=bool(face.get("indexed")))
        return self.people.get_person(person.person_id)

    def not_this_person(self, face_id: str) -> str:
        """A recognised face is not its person: a negative link is stored (the matcher never names
        that person for this face or its near-duplicates again), and the face leaves them for the
        review, in a group of its own. Returns the group."""
        face = self.find_face(face_id)
        person_id = str(face["person_id"])
        vector = self._vector_of(face)
        self.people.add_negative(person_id, face_id, encode_vector(vector), str((face.get("quality") or {}).get("band", "good")))
        negative = Vector(negative_id(face_id, person_id), vector, {"person_id": person_id, "face_id": face_id})
        self.index.upsert([negative], negatives_namespace(self.namespace))
        group = group_id_for(face_id)
        if self.bucket:
            for key in (face_crop_key(face_id), sighting_crop_key(face_id)):
                if copy_object(self.recognizer.s3, self.bucket, key, review_crop_key(face_id)):
                    break
        review_face = self.review.take_from_person(face, vector, group)
        if face.get("indexed"):
            self.index.delete([face_id], self.namespace)
        self._retag(review_face, "", "", review_group=group)
        return group

    def _vector_of(self, face: dict[str, Any]) -> np.ndarray:
        if face.get("vector"):
            return decode_vector(str(face["vector"]))
        fetched = self.index.fetch([str(face["face_id"])], self.namespace)
        if not fetched:
            raise OperationError(f"face {face['face_id']} has no vector kept (it was recorded before vectors were kept)")
        return np.asarray(fetched[0].values, dtype=np.float32)

    def _makes_room(self, person: Person, vector: np.ndarray, exclude: str = "") -> bool:
        """Whether a face with ``vector`` joins ``person``'s indexed faces: while they have room if
        it is not a near-duplicate of one of them; at the cap, if it adds more than the face that
        adds least, which it then replaces (un-indexed, still recorded)."""
        indexed = [f for f in self.people.faces_of(person.person_id) if f.get("indexed") and f["face_id"] != exclude]
        vectors = {str(f["face_id"]): self._vector_of(f) for f in indexed}
        near = self.recognizer.calibration.near_duplicate
        closest = max((float(v @ vector) for v in vectors.values()), default=0.0)
        if closest >= near:
            return False
        if len(indexed) < MAX_FACES_PER_PERSON:
            return True
        redundancy = {
            face_id: max((float(v @ w) for other, w in vectors.items() if other != face_id), default=0.0) for face_id, v in vectors.items()
        }
        enrolled = {str(f["face_id"]) for f in indexed if f.get("enrolled")}
        weakest = max(redundancy, key=lambda face_id: (face_id not in enrolled, redundancy[face_id]))
        if redundancy[weakest] <= closest:
            return False  # every indexed face adds more than this one would
        self.people.unindex_face(person.person_id, weakest)
        self.index.delete([weakest], self.namespace)
        return True

    def _index(self, record: FaceRecord, vector: np.ndarray) -> None:
        metadata = indexed_metadata(
            record.person_id,
            record.source,
            record.request_id,
            record.model,
            record.preprocessing,
            enrolled=record.enrolled,
            band=str(record.quality.get("band", "good")),
            size=float(record.quality.get("size", 0.0)),
        )
        self.index.upsert([Vector(record.face_id, vector, metadata)], self.namespace)
