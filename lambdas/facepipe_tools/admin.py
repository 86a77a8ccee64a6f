"""People administration for operators: enroll, list, show, sheet, tags, reindex; and, from the
core (``facepipe.operations``), rename, merge, unassign, delete and the review's teaching actions.

Runs where the CLI runs, against the stack the settings name (local stack or AWS):
the same detector, embedder, index and table code as the functions.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from facepipe.detection import FaceDetector, largest_face
from facepipe.detection.quality import assess
from facepipe.embedding import dimension_of, load_embedder
from facepipe.events import PhotoRef
from facepipe.exceptions import FacepipeError, InvalidRequestError
from facepipe.gallery import FaceToResolve
from facepipe.images import open_image
from facepipe.index import Vector, VectorIndex, make_index
from facepipe.operations import Erasure, MergeRefused, OperationError, PeopleOperations
from facepipe.people import PeopleStore, Person, face_id_for
from facepipe.recognition import Recognizer
from facepipe.settings import Settings
from facepipe.storage import read_object
from facepipe_tools.report import with_progress

if TYPE_CHECKING:
    from facepipe.detection import DetectedFace
    from facepipe.detection.quality import FaceQuality


class EnrollError(OperationError):
    """A photo that cannot be enrolled as asked (nothing was written)."""


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
    detector = FaceDetector.from_settings(settings)
    return Recognizer(settings, embedder, index, PeopleStore(settings.ddb_table_name), detector=detector)


class Admin(PeopleOperations):
    """The people operations (``facepipe.operations``), with a progress bar, and what only people
    at a terminal do: enroll, list, show, sheet, tags, reindex."""

    def __init__(self, recognizer: Recognizer) -> None:
        super().__init__(recognizer, progress=lambda items, label: with_progress(list(items), label, unit="face"))

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
        photos = []
        for filename, data, _, face, quality in prepared:
            digest = hashlib.sha256(data).hexdigest()
            photos.append((filename, face, quality, f"enroll:{digest[:24]}", digest))  # same photo again = same face
        for filename, _, _, request_id, digest in photos:  # before anything is written
            holder = self.people.holder(face_id_for(request_id, digest, 0))
            if holder is not None and holder != person_id:
                who = self.people.profile(holder)
                raise EnrollError(
                    f"{filename}: this photo's face is already enrolled as {who.name if who else holder} ({holder}); "
                    "enroll another photo, or move the face with `facepipe people unassign` first"
                )
        crops = [self.recognizer.embedder.crop(frame, face) for _, _, frame, face, _ in prepared]
        vectors = self.recognizer.embed(crops)
        face_ids = []
        for (filename, face, quality, request_id, digest), crop, vector in zip(photos, crops, vectors, strict=True):
            face_ids.append(
                self.recognizer.gallery.enroll(
                    person_id, name, FaceToResolve(request_id, 0, face.box, vector, crop, f"enroll:{filename}", quality, digest)
                )
            )
        return EnrollReport(self.people.get_person(person_id), not existing, face_ids, warnings)

    def list_people(self) -> list[Person]:
        """Everyone, by name, with their counts."""
        return self.people.with_counts(self.people.list_people())

    # --- looking: show, sheet, tags ---------------------------------------------------------
    def show(self, ref: str) -> tuple[Person, list[dict[str, Any]]]:
        """A person and their faces, newest first."""
        person = self.person(ref)
        faces = sorted(self.people.faces_of(person.person_id), key=lambda f: str(f.get("created_at", "")), reverse=True)
        return person, faces

    def sheet(self, people: Sequence[Person], per_person: int = 0) -> Image.Image:
        """A contact sheet of the people's stored face crops (``per_person`` = 0: every one),
        captioned, so a stranger can be recognised by eye before naming."""
        tiles: list[tuple[Image.Image | None, str]] = []
        bucket = self.recognizer.settings.s3_bucket_name
        for person in people:
            faces = [f for f in self.show(person.person_id)[1] if f.get("crop_key")]
            for face in faces[: per_person or None]:
                try:
                    crop: Image.Image | None = open_image(read_object(self.recognizer.s3, bucket, str(face["crop_key"])), 1 << 20)
                except FacepipeError:
                    crop = None  # erased or expired: a grey tile says so
                similarity = float(face.get("similarity") or 0)
                tiles.append((crop, f"{person.name[:18]}\n{str(face['face_id'])[:8]} {similarity:.2f}"))
        return contact_sheet(tiles)

    def tags(self, media: str) -> list[dict[str, Any]]:
        """The stored tags of a frame (its request_id) or a photo (``s3://bucket/key``, its
        latest version), META first."""
        request_ids = [media]
        if media.startswith("s3://"):
            bucket, _, key = media[5:].partition("/")
            head = self.recognizer.s3.head_object(Bucket=bucket, Key=key)
            # S3 names the version in the event when the bucket is versioned, else the ETag
            request_ids = [
                PhotoRef(bucket, key, head.get("VersionId") or "").request_id,
                PhotoRef(bucket, key, etag=head.get("ETag") or "").request_id,
            ]
        items = next((found for rid in request_ids if (found := self.people.media(rid))), [])
        return sorted(items, key=lambda i: (i.get("type") != "media", str(i.get("image_digest")), int(i.get("face_index", -1))))

    # --- reindex ----------------------------------------------------------------------------
    def reindex(self, model: str, namespace: str = "", index: VectorIndex | None = None) -> Reindex:
        """Re-embed every stored crop with ``model`` into its namespace (``faces-<model>``
        unless given; another model's dimension needs its own Pinecone index: ``index``).
        A crop made for another model's alignment is detected and cropped again."""
        embedder = load_embedder(model, self.recognizer.settings.facenet_weights_path)
        target = index or self.index
        report = Reindex(model, namespace or f"faces-{model}")
        bucket = self.recognizer.settings.s3_bucket_name
        faces = [f for p in self.people.list_people() if p.present for f in self.people.faces_of(p.person_id) if f.get("crop_key")]
        for face in with_progress(faces, f"re-embedding with {model}", unit="face"):
            try:
                crop = open_image(read_object(self.recognizer.s3, bucket, str(face["crop_key"])), 1 << 20)
            except FacepipeError:
                report.missing += 1
                continue
            if face.get("preprocessing") != embedder.preprocessing:
                found = largest_face(self.recognizer.detector.detect(crop))
                if found is None:
                    report.no_face += 1
                    continue
                crop = embedder.crop(crop, found)
            metadata: dict[str, Any] = {**{k: face[k] for k in ("person_id", "source", "request_id") if k in face}, "model": model}
            metadata |= {"preprocessing": embedder.preprocessing, "enrolled": bool(face.get("enrolled"))}
            metadata |= {"band": str((face.get("quality") or {}).get("band", "good"))}
            target.upsert([Vector(str(face["face_id"]), embedder.embed([crop])[0], metadata)], report.namespace)
            report.vectors += 1
        return report


@dataclass
class Reindex:
    model: str
    namespace: str
    vectors: int = 0
    missing: int = 0
    no_face: int = 0

    def lines(self) -> list[str]:
        return [
            f"re-embedded {self.vectors} face(s) with {self.model} into namespace {self.namespace}"
            + (f"; {self.missing} crop(s) missing, {self.no_face} without a detectable face" if self.missing or self.no_face else ""),
            f"switch: set EMBEDDING_MODEL={self.model} PINECONE_NAMESPACE={self.namespace} on both functions "
            "(terraform: embedding_model / pinecone_namespace; local: facepipe local up --model)",
        ]


def contact_sheet(tiles: Sequence[tuple[Image.Image | None, str]], columns: int = 6, side: int = 128) -> Image.Image:
    """Tiles of ``side`` px with a two-line caption under each; a grey tile for a missing crop."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    caption = 30
    rows = max(1, -(-len(tiles) // columns))
    sheet = PILImage.new("RGB", (columns * side, rows * (side + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (crop, text) in enumerate(tiles):
        x, y = (i % columns) * side, (i // columns) * (side + caption)
        if crop is None:
            draw.rectangle((x, y, x + side - 1, y + side - 1), fill=(160, 160, 160))
        else:
            sheet.paste(crop.convert("RGB").resize((side, side)), (x, y))
        draw.multiline_text((x + 3, y + side + 2), text, fill="black", spacing=1)
    return sheet


__all__ = ["Admin", "EnrollError", "EnrollReport", "Erasure", "MergeRefused", "Reindex", "build_recognizer", "contact_sheet"]
