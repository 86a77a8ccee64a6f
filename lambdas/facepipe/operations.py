"""What people do to the people list: rename, merge, unassign, erase, and teach it from the review.

Every operation is idempotent and resumable, and the CLI and the console only call these.

**Merge, unassign, erase** start with one transaction that recognition honours at once (a
tombstone that redirects, an erasure mark) and that checks what it relies on (the target is
present), then work face by face. A face's move is checked before anything of it is rewritten:
its item moves to the target first (refused, nothing changed, when the target went away), noted
``pending`` until its vector, tag and the image's result follow. The faces still under the
source, and the target's faces still pending from it, are the work left, so a re-run after a
crash finishes it.

**Teaching** (docs/people.md, "Teaching"): ``assign`` a review face or group to a person (or
``new_person`` from a group), ``dismiss`` it, ``confirm`` a recognised face, and ``not_this_person``.
The review faces still in a group are the work left of an assignment or a dismissal. A face that
joins a person becomes one of their indexed faces while they have room (``MAX_FACES_PER_PERSON``);
a person at the cap keeps their most useful faces: a newcomer replaces the indexed face that
adds least (the closest to another of theirs; enrolled faces last). ``not_this_person`` stores a
negative link — the face's vector, under the person, in the index namespace
``<namespace>-negatives`` filtered by person, and as ``PERSON#<id>`` / ``NOT#<face_id>`` — that
``Gallery.place`` consults only for people who have one (their profile counts them), so its cost
grows with the feedback given, not with the gallery.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from facepipe.embedding.models import MODELS
from facepipe.exceptions import FacepipeError
from facepipe.gallery import negatives_namespace
from facepipe.index import Vector
from facepipe.matching import MAX_FACES_PER_PERSON
from facepipe.messages import result_string
from facepipe.names import DETECTION_UNIT, FRAME_UNIT, PHOTO_UNIT
from facepipe.people import FaceRecord, Person, PersonGoneError, PersonNotFoundError, generated_name, keys, person_id_for
from facepipe.publishing import EventType, arrival_key
from facepipe.review import ReviewFace, group_id_for
from facepipe.storage import claim_check_key, copy_object, delete_every_version, face_crop_key, review_crop_key, sighting_crop_key
from facepipe.vectors import decode_vector, encode_vector

if TYPE_CHECKING:
    from facepipe.messages import FaceResult
    from facepipe.recognition import Recognizer

T = TypeVar("T")


class OperationError(FacepipeError):
    """An operation a person asked for that cannot be done as asked (nothing was changed)."""


class MergeRefused(OperationError):
    """A merge stopped because its target's erasure began: the source is listed again."""


def _each(items: Iterable[T], label: str, progress: Callable[[Iterable[T], str], Iterable[T]] | None) -> Iterable[T]:
    return progress(items, label) if progress else items


@dataclass
class Erasure:
    """What ``PeopleOperations.delete`` removed (counts of this run: a re-run counts what was left)."""

    person_id: str
    name: str
    faces: list[str] = field(default_factory=list)
    vectors: int = 0
    object_versions: int = 0
    tags: int = 0
    stored_responses: int = 0
    registry_entries: int = 0

    def lines(self) -> list[str]:
        return [
            f"erased {self.name} ({self.person_id})",
            f"  face records      {len(self.faces)}",
            f"  vectors           {self.vectors}",
            f"  S3 object versions {self.object_versions} (face crops, claim checks)",
            f"  tags anonymised   {self.tags} (stored results rewritten)",
            f"  stored responses  {self.stored_responses} (idempotency records)",
            f"  registry entries  {self.registry_entries}",
        ]


class PeopleOperations:
    def __init__(self, recognizer: Recognizer, progress: Callable[[Iterable[Any], str], Iterable[Any]] | None = None) -> None:
        self.recognizer = recognizer
        self.people = recognizer.people
        self.index = recognizer.index
        self.namespace = recognizer.namespace
        self.review = recognizer.review
        self.publisher = recognizer.publisher
        self.progress = progress

    @property
    def bucket(self) -> str:
        return self.recognizer.settings.s3_bucket_name

    # --- finding ---------------------------------------------------------------------------
    def person(self, ref: str) -> Person:
        """A person by id, or by name when exactly one person has it (with their counts)."""
        try:
            return self.people.get_person(ref)
        except PersonNotFoundError:
            pass
        named = self.people.find_by_name(ref)
        if len(named) == 1:
            return self.people.get_person(named[0].person_id)
        if not named:
            raise PersonNotFoundError(f"no person with id or name {ref!r}")
        raise OperationError(f"{len(named)} people are named {ref!r}; use an id: {', '.join(p.person_id for p in named)}")

    def present(self, ref: str) -> Person:
        """A person faces may join: followed through a merge; refused while being erased."""
        person = self.people.current_person(self.person(ref).person_id)
        if person is None:
            raise PersonNotFoundError(f"{ref} is being erased")
        return self.people.get_person(person.person_id)

    def find_face(self, face_id: str) -> dict[str, Any]:
        """A recorded face by id alone: its claim names who holds it (an erased face is not found)."""
        holder = self.people.holder(face_id)
        found = self.people.face(face_id, holder) if holder else None
        if found is None:
            raise PersonNotFoundError(f"no recorded face with id {face_id}")
        return found

    def rename(self, ref: str, name: str) -> Person:
        if not name.strip():
            raise OperationError("a name is required")
        person = self.person(ref)
        self.people.rename(person.person_id, name.strip())
        renamed = self.people.get_person(person.person_id)
        self.publisher.operation(
            EventType.PERSON_RENAMED,
            {"person_id": person.person_id, "name": renamed.name, "previous_name": person.name},
            person.person_id,
            renamed.name,
        )
        return renamed

    # --- merge, unassign ----------------------------------------------------------------------
    def merge(self, source_ref: str, target_ref: str) -> Person:
        """Fold ``source`` into ``target``: its faces, vectors and tags move, its profile becomes a
        tombstone that redirects recognition (kept ``TOMBSTONE_SECONDS`` from when the merge
        completes). Re-runnable. When the target's erasure begins meanwhile, the merge stops:
        the faces already moved are the target's (erased with them), the source is listed again
        with the rest (``MergeRefused``)."""
        source, target = self.person(source_ref), self.person(target_ref)
        current = self.people.current_person(target.person_id)
        if current is None:
            raise PersonNotFoundError(f"{target.person_id} is being erased: finish `people delete` first")
        target = current
        if source.person_id == target.person_id:
            raise OperationError("cannot merge a person into themselves")
        if source.deleting:
            raise PersonNotFoundError(f"{source.person_id} is being erased: finish `people delete` first")
        self.people.mark_merged(source.person_id, target.person_id)
        faces = [*self.people.faces_of(source.person_id), *self._pending(target.person_id, source.person_id)]
        try:
            for face in _each(faces, f"merging {source.person_id}", self.progress):
                self._move(face, target)
        except PersonGoneError as gone:
            if gone.person_id != target.person_id:
                raise
            self.people.restore_merged(source.person_id, target.person_id, source.name)
            left = len(self.people.faces_of(source.person_id))
            raise MergeRefused(
                f"{target.person_id} is being erased: the merge stopped; faces it had moved are erased with them, "
                f"{source.name} ({source.person_id}) keeps the other {left}"
            ) from None
        self.people.finish_merge(source.person_id, target.person_id)
        self.recognizer.gallery.registry.forget(source.person_id)  # its faces are the target's now
        self.recognizer.gallery.recent.forget_person(source.person_id)
        detail = {"person_id": source.person_id, "into": target.person_id, "name": target.name}
        self.publisher.operation(EventType.PERSON_MERGED, detail, source.person_id, target.person_id)
        return self.people.get_person(target.person_id)

    def unassign(self, face_id: str) -> Person:
        """Move one wrongly matched face out into a person of its own (a new, generated name).
        A face whose person is being merged is refused until the merge is finished."""
        face = self.find_face(face_id)
        person_id = person_id_for(face_id)
        if face["person_id"] == person_id:
            if face.get("pending"):
                self._move(face, self.people.get_person(person_id))  # finish an interrupted unassign
            return self.people.get_person(person_id)
        holder = self.people.profile(str(face["person_id"]))
        if holder is not None and holder.merged_into:
            raise OperationError(
                f"face {face_id} belongs to {holder.person_id}, being merged into {holder.merged_into}: "
                f"finish the merge first (`facepipe people merge {holder.person_id} {holder.merged_into}`), then unassign"
            )
        self.people.create_person(person_id, generated_name(person_id), str(face["request_id"]))
        self._move(face, self.people.get_person(person_id))
        return self.people.get_person(person_id)

    def _pending(self, person_id: str, moved_from: str) -> list[dict[str, Any]]:
        """``person_id``'s faces whose move from ``moved_from`` is not finished (an interrupted merge)."""
        return [f for f in self.people.faces_of(person_id) if f.get("pending") == moved_from]

    def _move(self, face: dict[str, Any], target: Person) -> None:
        """One face to ``target``: the face item (checked against the target being present), then
        its vector, its tag and the image's result, then the note that it is done."""
        if face["person_id"] != target.person_id:
            self.people.move_face(face, target.person_id)
        if face.get("indexed"):
            self.index.update_metadata([face["face_id"]], {"person_id": target.person_id}, self.namespace)
        self._retag(face, target.person_id, target.name)
        self.people.moved(target.person_id, str(face["face_id"]))

    def _retag(self, face: dict[str, Any] | ReviewFace, person_id: str, name: str, review_group: str = "") -> None:
        request_id, digest, index = _where(face)
        self.people.retag(request_id, digest, index, person_id, name, review_group=review_group)
        self.refresh_result(request_id, digest)

    def refresh_result(self, request_id: str, digest: str, *, forget_filename: bool = False) -> str:
        """Rewrite one image's stored ``result`` from its tags (after they changed)."""
        tags = [t for t in self.people.media(request_id) if t.get("type") == "tag" and t.get("image_digest") == digest]
        result = result_string([cast("FaceResult", {**t, "index": t["face_index"], "person_id": t.get("person_id")}) for t in tags])
        self.people.set_result(request_id, digest, result, forget_filename=forget_filename)
        return result

    # --- erasure ------------------------------------------------------------------------------
    def delete(self, ref: str) -> Erasure:
        """Erase a person: profile, faces, vectors (in every model's namespace), stored crops
        (every S3 version), tags (anonymised, the images' file names dropped), negative links,
        the stored results and responses naming them. Each face's claim stays as an erasure
        mark, and so do the person's presence shards, for ``ERASURE_MARK_SECONDS``: a frame
        delivered again (a retry, a DLQ redrive) finds them and neither names nor recreates the
        person. Re-runnable."""
        person = self.person(ref)
        if person.merged_into:
            raise OperationError(f"{person.person_id} was merged into {person.merged_into}: delete that person instead")
        erasure = Erasure(person.person_id, person.name)
        self.people.mark_deleting(person.person_id)
        faces = self.people.faces_of(person.person_id)
        for face in _each(faces, f"erasing {person.person_id}", self.progress):
            self._erase_face(face, erasure)
        for source in {str(f.get("source") or "default") for f in faces}:  # where they were last seen, and when
            self.people.delete(arrival_key(source, person.person_id))
        for negative in self.people.negatives(person.person_id):
            self.index.delete([_negative_id(str(negative["face_id"]), person.person_id)], negatives_namespace(self.namespace))
            self.people.delete(keys.negative_key(person.person_id, str(negative["face_id"])))
        erasure.registry_entries = self.recognizer.gallery.registry.forget(person.person_id)
        self.recognizer.gallery.recent.forget_person(person.person_id)
        self.people.delete_profile(person.person_id)
        self.publisher.operation(EventType.PERSON_ERASED, {"person_id": person.person_id, "faces": len(erasure.faces)}, person.person_id)
        return erasure

    def preview_delete(self, ref: str) -> dict[str, int | str]:
        """What ``delete`` would erase, for a confirmation (nothing is changed)."""
        person = self.person(ref)
        faces = self.people.faces_of(person.person_id)
        images = {(str(f["request_id"]), str(f.get("image_digest", ""))) for f in faces}
        return {
            "name": person.name,
            "faces": len(faces),
            "indexed faces": sum(1 for f in faces if f.get("indexed")),
            "images tagged": len(images),
            "negative links": len(self.people.negatives(person.person_id)),
        }

    def namespaces(self) -> list[str]:
        """Every namespace a face may have a vector in: the functions' and each model's ``reindex`` one
        (``faces-<model>``, for every model of ``facepipe.embedding.models``)."""
        return list(dict.fromkeys([self.namespace, *(f"faces-{model}" for model in MODELS)]))

    def _erase_face(self, face: dict[str, Any], erasure: Erasure) -> None:
        face_id, request_id = str(face["face_id"]), str(face["request_id"])
        digest, index, source = str(face.get("image_digest") or ""), int(face["face_index"]), str(face.get("source") or "default")
        for namespace in self.namespaces():
            self.index.delete([face_id], namespace)
        erasure.vectors += 1 if face.get("indexed") else 0
        if self.bucket:
            for key in (face_crop_key(face_id), sighting_crop_key(face_id), claim_check_key(source, request_id, digest, index)):
                erasure.object_versions += delete_every_version(self.recognizer.s3, self.bucket, key)
        if self.people.anonymise_tag(request_id, digest, index):
            erasure.tags += 1
            self.refresh_result(request_id, digest, forget_filename=True)
        erasure.stored_responses += self.people.delete_stored_responses(
            [
                (DETECTION_UNIT, keys.detection_work(source, request_id)),
                (FRAME_UNIT, keys.image_work(source, request_id, digest)),
                (PHOTO_UNIT, request_id),
            ]
        )
        self.people.erase_face(erasure.person_id, face_id)
        erasure.faces.append(face_id)

    # --- teaching ---------------------------------------------------------------------------
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
        for face in _each(faces, f"assigning to {person.name}", self.progress):
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
        for face in _each(faces, "dismissing", self.progress):
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
        negative = Vector(_negative_id(face_id, person_id), vector, {"person_id": person_id, "face_id": face_id})
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

    # --- a person's indexed faces -------------------------------------------------------------
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
        metadata = {
            "person_id": record.person_id,
            "source": record.source,
            "request_id": record.request_id,
            "model": record.model,
            "preprocessing": record.preprocessing,
            "enrolled": record.enrolled,
            "band": str(record.quality.get("band", "good")),
            "size": round(float(record.quality.get("size", 0.0)), 1),
        }
        self.index.upsert([Vector(record.face_id, vector, metadata)], self.namespace)


def _negative_id(face_id: str, person_id: str) -> str:
    return f"{face_id}-not-{person_id}"


def _where(face: dict[str, Any] | ReviewFace) -> tuple[str, str, int]:
    """(request_id, image digest, face index): where a face's tag is."""
    if isinstance(face, ReviewFace):
        return face.request_id, face.image_digest, face.face_index
    return str(face["request_id"]), str(face.get("image_digest") or ""), int(face["face_index"])
