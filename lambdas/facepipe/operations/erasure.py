"""Erasing a person, resumably: an erasure mark recognition honours at once, then face by face
(vectors in every model's namespace, crops, tags, stored responses), the negative links, the
registry entries, the profile last."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from facepipe.embedding.models import MODELS
from facepipe.gallery import negatives_namespace
from facepipe.names import DETECTION_UNIT, FRAME_UNIT, PHOTO_UNIT
from facepipe.operations.base import OperationError, OperationsBase, each, negative_id
from facepipe.people import keys
from facepipe.publishing import EventType, arrival_key
from facepipe.storage import claim_check_key, delete_every_version, face_crop_key, sighting_crop_key


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


class Erasing(OperationsBase):
    """Erase a person, or preview what that erases."""

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
        for face in each(faces, f"erasing {person.person_id}", self.progress):
            self._erase_face(face, erasure)
        for source in {str(f.get("source") or "default") for f in faces}:  # where they were last seen, and when
            self.people.delete(arrival_key(source, person.person_id))
        for negative in self.people.negatives(person.person_id):
            self.index.delete([negative_id(str(negative["face_id"]), person.person_id)], negatives_namespace(self.namespace))
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
