"""People administration for operators: enroll, list, rename, merge, delete.

Runs where the CLI runs, against the stack the settings name (local stack or AWS):
the same detector, embedder, index and table code as the functions.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from facepipe.detection import FaceDetector, largest_face
from facepipe.embedding import dimension_of, load_embedder
from facepipe.exceptions import FacepipeError, InvalidRequestError
from facepipe.gallery import FaceToResolve
from facepipe.images import open_image
from facepipe.index import make_index
from facepipe.people import FaceRecord, PeopleStore, Person, PersonNotFoundError
from facepipe.quality import assess
from facepipe.recognition import Recognizer
from facepipe.settings import Settings

if TYPE_CHECKING:
    from PIL import Image

    from facepipe.detection import DetectedFace
    from facepipe.quality import FaceQuality


class EnrollError(FacepipeError):
    pass


@dataclass
class EnrollReport:
    person: Person
    new_person: bool
    faces: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def build_recognizer(settings: Settings) -> Recognizer:
    settings.require("DDB_TABLE_NAME")
    embedder = load_embedder(settings.embedding_model, settings.facenet_weights_path)
    index = make_index(settings, dimension_of(settings.embedding_model))
    detector = FaceDetector(settings.min_face_size, settings.min_face_score, settings.detection_pixel_budget)
    return Recognizer(settings, embedder, index, PeopleStore(settings.ddb_table_name), detector=detector)


class Admin:
    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer
        self.people = recognizer.people
        self.index = recognizer.index
        self.namespace = recognizer.namespace

    def person(self, ref: str) -> Person:
        """A person by id, or by name when exactly one person has it."""
        try:
            return self.people.get_person(ref)
        except PersonNotFoundError:
            pass
        named = self.people.find_by_name(ref)
        if len(named) == 1:
            return named[0]
        if not named:
            raise PersonNotFoundError(f"no person with id or name {ref!r}")
        raise EnrollError(f"{len(named)} people are named {ref!r}; use an id: {', '.join(p.person_id for p in named)}")

    def enroll(self, name: str, images: Sequence[tuple[str, bytes]]) -> EnrollReport:
        """Add the largest face of each image to ``name`` (created if new).

        Any face the pipeline finds is accepted, camera-sized ones too; a face below good
        quality is enrolled with a warning (its matches need more similarity)."""
        if not name.strip():
            raise EnrollError("a name is required")
        prepared: list[tuple[str, bytes, Image.Image, DetectedFace, FaceQuality]] = []
        warnings: list[str] = []
        for filename, data in images:
            try:
                frame = open_image(data, self.recognizer.settings.max_image_pixels)
            except InvalidRequestError as exc:
                raise EnrollError(f"{filename}: {exc.message}") from None
            faces = self.recognizer.detector.detect(frame)
            face = largest_face(faces)
            if face is None:
                settings = self.recognizer.settings
                raise EnrollError(
                    f"{filename}: no face found in {frame.width}x{frame.height} (faces of "
                    f"{self.recognizer.detector.smallest_face(frame.width, frame.height):.0f} px and up, MIN_FACE_SCORE={settings.min_face_score})"
                )
            if len(faces) > 1:
                warnings.append(f"{filename}: {len(faces)} faces found; enrolled the largest")
            quality = assess(frame, face)
            if quality.band != "good":
                warnings.append(
                    f"{filename}: {quality.band} quality ({quality.size:.0f} px, sharpness {quality.sharpness:.0f}, "
                    f"yaw {quality.yaw:+.0f}); enrolled, but matches against it need more similarity: add a larger, sharper photo"
                )
            prepared.append((filename, data, frame, face, quality))
        existing = self.people.find_by_name(name)
        if len(existing) > 1:
            raise EnrollError(f"{len(existing)} people are named {name!r}; rename one first")
        person_id = existing[0].person_id if existing else uuid.uuid4().hex
        # every embedder is its model's cropper (DlibEmbedder(DlibCropper), FacenetEmbedder(FacenetCropper)), but
        # facepipe.embedding.Embedder does not say so yet: it should extend Cropper
        crops = [self.recognizer.embedder.crop(frame, face) for _, _, frame, face, _ in prepared]
        vectors = self.recognizer.embed(crops)
        face_ids = []
        for (filename, data, _, face, quality), crop, vector in zip(prepared, crops, vectors, strict=True):
            request_id = f"enroll:{hashlib.sha256(data).hexdigest()[:24]}"  # same photo again = same face
            face_ids.append(
                self.recognizer.gallery.enroll(
                    person_id, name, FaceToResolve(request_id, 0, face.box, vector, crop, f"enroll:{filename}", quality)
                )
            )
        return EnrollReport(self.people.get_person(person_id), not existing, face_ids, warnings)

    def list_people(self) -> list[Person]:
        return self.people.list_people()

    def rename(self, ref: str, name: str) -> Person:
        person = self.person(ref)
        self.people.rename(person.person_id, name)
        return self.people.get_person(person.person_id)

    def merge(self, source_ref: str, target_ref: str) -> Person:
        source, target = self.person(source_ref), self.person(target_ref)
        if source.person_id == target.person_id:
            raise EnrollError("cannot merge a person into themselves")
        faces = self.people.faces_of(source.person_id)
        for face in faces:
            self.people.record_face(FaceRecord.from_item(face, target.person_id))
            self.people.retag(face["request_id"], face["face_index"], target.person_id, target.name)
            self.people.delete_face(source.person_id, face["face_id"])
        self.people.delete_profile(source.person_id)
        self.index.update_metadata([f["face_id"] for f in faces], {"person_id": target.person_id}, self.namespace)
        self.recognizer.gallery.recent.forget_person(source.person_id)
        return self.people.get_person(target.person_id)

    def delete(self, ref: str) -> list[str]:
        person = self.person(ref)
        faces = [f["face_id"] for f in self.people.faces_of(person.person_id)]
        for face_id in faces:
            self.people.delete_face(person.person_id, face_id)
        self.people.delete_profile(person.person_id)
        self.index.delete(faces, self.namespace)
        self.recognizer.gallery.recent.forget_person(person.person_id)
        return faces
