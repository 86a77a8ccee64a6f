"""People administration for operators: enroll, list, rename, merge, unassign, delete (erase).

Runs where the CLI runs, against the stack the settings name (local stack or AWS):
the same detector, embedder, index and table code as the functions.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from PIL import Image

from facepipe.detection import FaceDetector, largest_face
from facepipe.embedding import MODELS, dimension_of, load_embedder
from facepipe.events import PhotoRef
from facepipe.exceptions import FacepipeError, InvalidRequestError
from facepipe.gallery import FaceToResolve
from facepipe.images import open_image
from facepipe.index import Vector, VectorIndex, make_index
from facepipe.messages import result_string
from facepipe.names import DETECTION_UNIT, FRAME_UNIT, PHOTO_UNIT
from facepipe.people import PeopleStore, Person, PersonGoneError, PersonNotFoundError, face_id_for, generated_name, keys, person_id_for
from facepipe.quality import assess
from facepipe.recognition import Recognizer
from facepipe.settings import Settings
from facepipe.storage import claim_check_key, delete_every_version, face_crop_key, read_object
from facepipe_tools.report import with_progress

if TYPE_CHECKING:
    from facepipe.detection import DetectedFace
    from facepipe.messages import FaceResult
    from facepipe.quality import FaceQuality


class EnrollError(FacepipeError):
    pass


class MergeRefused(FacepipeError):
    """A merge stopped because its target's erasure began: the source is listed again."""


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
            return self.people.get_person(named[0].person_id)
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

    def rename(self, ref: str, name: str) -> Person:
        person = self.person(ref)
        self.people.rename(person.person_id, name)
        return self.people.get_person(person.person_id)

    # --- merge, unassign, erasure: idempotent and resumable -----------------------------
    # Each starts with one transaction that recognition honours at once (a tombstone that
    # redirects, an erasure mark) and that checks what it relies on (the target is present),
    # then works face by face. A face's move is checked before anything of it is rewritten: its
    # item moves to the target first (refused, nothing changed, when the target went away), noted
    # ``pending`` until its vector, tag and the image's result follow. The faces still under the
    # source, and the target's faces still pending from it, are the work left, so a re-run after
    # a crash finishes it.

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
            raise EnrollError("cannot merge a person into themselves")
        if source.deleting:
            raise PersonNotFoundError(f"{source.person_id} is being erased: finish `people delete` first")
        self.people.mark_merged(source.person_id, target.person_id)
        faces = [*self.people.faces_of(source.person_id), *self._pending(target.person_id, source.person_id)]
        try:
            for face in with_progress(faces, f"merging {source.person_id}", unit="face"):
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
        return self.people.get_person(target.person_id)

    def unassign(self, face_id: str) -> Person:
        """Move one wrongly matched face out into a person of its own (a new, generated name).
        A face whose person is being merged is followed to where the merge takes it."""
        face = self.find_face(face_id)
        person_id = person_id_for(face_id)
        if face["person_id"] == person_id:
            if face.get("pending"):
                self._move(face, self.people.get_person(person_id))  # finish an interrupted unassign
            return self.people.get_person(person_id)
        holder = self.people.profile(str(face["person_id"]))
        if holder is not None and holder.merged_into:
            raise EnrollError(
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
        digest = str(face.get("image_digest") or "")
        self.people.retag(face["request_id"], digest, int(face["face_index"]), target.person_id, target.name)
        self.refresh_result(face["request_id"], digest)
        self.people.moved(target.person_id, str(face["face_id"]))

    def refresh_result(self, request_id: str, digest: str, *, forget_filename: bool = False) -> str:
        """Rewrite one image's stored ``result`` from its tags (after they changed)."""
        tags = [t for t in self.people.media(request_id) if t.get("type") == "tag" and t.get("image_digest") == digest]
        result = result_string([cast("FaceResult", {**t, "index": t["face_index"], "person_id": t.get("person_id")}) for t in tags])
        self.people.set_result(request_id, digest, result, forget_filename=forget_filename)
        return result

    def find_face(self, face_id: str) -> dict[str, Any]:
        """A face item by id alone: its claim names who holds it (an erased face is not found)."""
        holder = self.people.holder(face_id)
        found = self.people.face(face_id, holder) if holder else None
        if found is None:
            raise PersonNotFoundError(f"no face with id {face_id}")
        return found

    def delete(self, ref: str) -> Erasure:
        """Erase a person: profile, faces, vectors (in every model's namespace), stored crops
        (every S3 version), tags (anonymised, the images' file names dropped), the stored results
        and responses naming them. Each face's claim stays as an erasure mark, and so do the
        person's presence shards, for ``ERASURE_MARK_SECONDS``: a frame delivered again (a retry,
        a DLQ redrive) finds them and neither names nor recreates the person. Re-runnable."""
        person = self.person(ref)
        if person.merged_into:
            raise EnrollError(f"{person.person_id} was merged into {person.merged_into}: delete that person instead")
        erasure = Erasure(person.person_id, person.name)
        self.people.mark_deleting(person.person_id)
        for face in with_progress(self.people.faces_of(person.person_id), f"erasing {person.person_id}", unit="face"):
            self._erase_face(face, erasure)
        erasure.registry_entries = self.recognizer.gallery.registry.forget(person.person_id)
        self.recognizer.gallery.recent.forget_person(person.person_id)
        self.people.delete_profile(person.person_id)
        return erasure

    def namespaces(self) -> list[str]:
        """Every namespace a face may have a vector in: the functions' and each model's ``reindex`` one."""
        return list(dict.fromkeys([self.namespace, *(f"faces-{model}" for model in MODELS)]))

    def _erase_face(self, face: dict[str, Any], erasure: Erasure) -> None:
        face_id, request_id = str(face["face_id"]), str(face["request_id"])
        digest, index, source = str(face.get("image_digest") or ""), int(face["face_index"]), str(face.get("source") or "default")
        for namespace in self.namespaces():
            self.index.delete([face_id], namespace)
        erasure.vectors += 1 if face.get("indexed") else 0
        bucket = self.recognizer.settings.s3_bucket_name
        if bucket:
            for key in (face_crop_key(face_id), claim_check_key(source, request_id, digest, index)):
                erasure.object_versions += delete_every_version(self.recognizer.s3, bucket, key)
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


@dataclass
class Erasure:
    """What ``Admin.delete`` removed (counts of this run: a re-run counts what was left)."""

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
