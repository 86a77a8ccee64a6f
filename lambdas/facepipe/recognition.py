"""Recognition side: face crops -> embeddings -> match, new person or unknown -> tags -> response.

``Recognizer`` offers the steps separately: ``crops_of`` (crops of a request message),
``embed``, ``resolve`` (one face: the gallery places it, then records and indexes it),
``finish`` (names, tags, the response). ``process_frame`` and ``process_photo`` chain them
for one record. A person merged away or erased between two of these steps raises
``PersonGoneError`` from the write that found out; the faces of that person are placed again
(the merge is followed, an erased person's leftovers are dropped), so no record fails for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from facepipe import aws
from facepipe.detection import FaceDetector
from facepipe.detection.quality import FaceQuality, assess, band_of, pose
from facepipe.detection.quality import sharpness as sharpness_of
from facepipe.embedding import Embedder
from facepipe.events import PhotoRef
from facepipe.exceptions import InvalidMessageError, InvalidRequestError
from facepipe.frames import face_crops, within_limit
from facepipe.gallery import PLACEMENT_TRIES, FaceToResolve, Gallery, Placement, PlacementError
from facepipe.images import decode_base64, open_crop, open_image
from facepipe.index import VectorIndex
from facepipe.index.recent import RecentVectors
from facepipe.matching import calibration_for
from facepipe.messages import FaceEntry, FaceResult, RequestMessage, ResponseMessage, carry_skipped, encode, response_message
from facepipe.names import IDEMPOTENCY_SECONDS
from facepipe.observability import Metric, MetricUnit, child_logger, metrics, traced_without_result
from facepipe.people import PeopleStore, Person, PersonGoneError, Tag, generated_name
from facepipe.people.registry import StrangerRegistry
from facepipe.people.store import FaceClaimedError, FaceErasedError, FaceInReviewError
from facepipe.publishing import Publisher
from facepipe.review import Review
from facepipe.settings import Settings
from facepipe.storage import read_crop, read_photo

logger = child_logger()
#: the "response sent" marker is written this many times before the record is let go without it
MARKER_TRIES = 3


def quality_of_entry(face: FaceEntry, crop: Image.Image) -> FaceQuality:
    """The quality detection measured; for a message without it, an estimate from the entry and
    the crop (sharpness of an aligned crop reads lower than on the frame: it errs to the strict side)."""
    if isinstance(face.get("quality"), dict):
        return FaceQuality.from_dict(face["quality"])
    x1, y1, x2, y2 = (float(v) for v in face["box"])
    size = max(0.0, min(x2 - x1, y2 - y1))
    sharp, brightness = sharpness_of(crop, (0, 0, crop.width, crop.height))
    try:
        yaw, pitch, roll = pose(tuple((float(x), float(y)) for x, y in face["landmarks"]))
    except (KeyError, TypeError, ValueError):
        yaw = pitch = roll = 0.0
    return FaceQuality(size, float(face.get("score", 0.0)), sharp, yaw, pitch, roll, brightness, band_of(size, sharp, yaw, pitch))


@dataclass(frozen=True)
class Recognised:
    """A record's response, the SHA-256 of its image and the source that sent it (with the
    request_id, what it answers)."""

    response: ResponseMessage
    digest: str
    source: str = "default"

    def as_dict(self) -> dict[str, Any]:
        return {"response": dict(self.response), "digest": self.digest, "source": self.source}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Recognised:
        return cls(stored["response"], stored["digest"], stored.get("source", "default"))


@dataclass(frozen=True)
class ImageRef:
    """The image a response is about: the request_id it came with, its SHA-256, file name and source."""

    request_id: str
    digest: str
    filename: str
    source: str


def image_digest(message: RequestMessage) -> str:
    """The SHA-256 of the frame detection saw; for a sender that did not state it, one of the
    faces it sent (a redelivery gives the same, another image with the same request_id does not)."""
    stated = message.get("image", {}).get("sha256")
    return stated or hashlib.sha256(encode(message["faces"]).encode()).hexdigest()


def _tag(result: FaceResult) -> Tag:
    return Tag(
        result["index"],
        result.get("face_id", ""),
        result["person_id"],
        result["name"],
        result["similarity"],
        result["new_person"],
        result["box"],
        result.get("quality", {}),
        result.get("review_group", ""),
    )


def _result(face: FaceToResolve, placement: Placement) -> FaceResult:
    """A placed face as the response lists it (name filled in by ``finish``), counted in the metrics."""
    _count(placement)
    result: FaceResult = {
        "index": face.index,
        "face_id": face.face_id,
        "box": [float(v) for v in face.box],
        "person_id": placement.person_id,
        "name": "",
        "similarity": round(placement.decision.similarity, 4),
        "new_person": placement.new_person,
        "quality": face.quality.as_dict(),
    }
    if placement.review_group:
        result["review_group"] = placement.review_group
    return result


def _count(placement: Placement) -> None:
    decision, indexed = placement.decision, placement.indexed
    if decision.reason == "erased":
        metrics.add_metric(name=Metric.ERASED_FACES, unit=MetricUnit.Count, value=1)
    kind = Metric.NEW_PEOPLE if placement.new_person else {"match": Metric.FACES_MATCHED}.get(decision.kind, Metric.UNKNOWN_FACES)
    metrics.add_metric(name=kind, unit=MetricUnit.Count, value=1)
    if decision.kind == "match" and not placement.new_person:
        metrics.add_metric(name=Metric.SIMILARITY, unit=MetricUnit.NoUnit, value=round(decision.similarity, 4))
        if indexed:
            metrics.add_metric(name=Metric.SIGHTINGS_INDEXED, unit=MetricUnit.Count, value=1)


class Recognizer:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        index: VectorIndex,
        people: PeopleStore,
        *,
        sqs: Any = None,
        s3: Any = None,
        detector: FaceDetector | None = None,
        recent: RecentVectors | None = None,
        registry: StrangerRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.people = people
        self.calibration = calibration_for(
            embedder.model,
            settings.good_threshold,
            settings.face_match_margin,
            settings.face_similarity_threshold_fair,
            settings.face_similarity_threshold_poor,
        )
        self.namespace = settings.namespace
        self.gallery = Gallery(
            index,
            people,
            self.namespace,
            embedder,
            self.calibration,
            bucket=settings.s3_bucket_name,
            s3=s3,
            recent=recent,
            registry=registry,
        )
        self.review = Review(
            index,
            people,
            self.namespace,
            self.calibration,
            retention_days=settings.review_retention_days,
            bucket=settings.s3_bucket_name,
            s3=s3,
        )
        self.publisher = Publisher(settings.event_bus_name, people, settings.arrival_cooldown_seconds)
        self._sqs = sqs
        self._s3 = s3
        self._detector = detector

    @property
    def sqs(self) -> Any:
        return self._sqs or aws.sqs()

    @property
    def s3(self) -> Any:
        return self._s3 or aws.s3()

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = FaceDetector.from_settings(self.settings)
        return self._detector

    # --- steps ----------------------------------------------------------------------------
    def crops_of(self, message: RequestMessage) -> list[Image.Image]:
        if message["preprocessing"] != self.embedder.preprocessing:
            raise InvalidMessageError(
                f"crops were made for {message['preprocessing']!r} but this function embeds with "
                f"{self.embedder.model} ({self.embedder.preprocessing!r}): set the same EMBEDDING_MODEL on both functions"
            )
        return [self._crop(face) for face in message["faces"]]

    def _crop(self, face: FaceEntry) -> Image.Image:
        """A face's crop, inline or claim-checked in S3, decoded only once its header shows the
        embedder's size (S3 faults propagate: they are transient)."""
        what = f"face {face['index']} crop"
        if "crop" in face:
            try:
                data = decode_base64(face["crop"], what)
            except InvalidRequestError:
                raise InvalidMessageError(f"{what} is not base64") from None
        else:
            data = read_crop(self.s3, self.settings.s3_bucket_name, face["crop_key"], what=what)
        return open_crop(data, self.embedder.crop_size, what)

    def embed(self, crops: Sequence[Image.Image]) -> np.ndarray:
        return self.embedder.embed(crops)

    def _placed(
        self,
        face: FaceToResolve,
        write: Callable[[FaceToResolve, Placement, float], object],
        first: Placement | None = None,
        exclude: frozenset[str] = frozenset(),
    ) -> Placement:
        """``face`` placed (``first``, when already placed; never as one of ``exclude``) and, when
        it names a person, written by ``write(face, placement, similarity)``; placed again while
        its person goes away (merged or erased) meanwhile. A face an earlier delivery recorded
        stays with who holds it (followed through a merge in progress, which moves it), one it
        kept for review stays there; an erased face is unknown, and nothing of it is kept."""
        for _ in range(PLACEMENT_TRIES):
            placement = first or self.gallery.place(face, exclude)
            first = None
            while placement.person_id is not None:
                try:
                    write(face, placement, round(placement.decision.similarity, 4))
                    return placement
                except PersonGoneError:
                    break
                except FaceErasedError:
                    return placement.erased()
                except FaceInReviewError as kept:
                    return placement.in_review(kept.group_id)
                except FaceClaimedError as claimed:
                    holder = self.people.current_person(claimed.holder)
                    if holder is None:
                        return placement.erased()  # its holder is being erased, and the face with them
                    held = replace(placement.decision, person_id=holder.person_id, reason="recorded earlier")
                    placement = Placement(held, holder.person_id, person=holder)
                    if holder.person_id != claimed.holder:
                        return placement  # a merge in progress moves the face to them
            else:
                return placement
        raise PlacementError(f"face {face.index} of {face.request_id}: its person kept going away; it will be placed again")

    def resolve(self, face: FaceToResolve) -> FaceResult:
        """Match ``face`` to a known person, create a new one, or leave it unknown (kept for
        review); record, index and settle it on its own. Repeat-safe: a redelivery finds what the
        first wrote."""
        return _result(face, self._kept(face, self._placed(face, self.gallery.write)))

    def place_jointly(self, faces: Sequence[FaceToResolve]) -> tuple[list[Placement], list[frozenset[str]]]:
        """Every face of one image placed, no two as one person: when two faces name the same
        person, the closer keeps them and the other is placed again without them (its next
        eligible person, or unknown). The placements, and the people each face may not be."""
        placements = [self.gallery.place(face) for face in faces]
        taken: list[set[str]] = [set() for _ in faces]
        for _ in range(len(faces)):
            named: dict[str, list[int]] = {}
            for i, placement in enumerate(placements):
                if placement.person_id:
                    named.setdefault(placement.person_id, []).append(i)
            clashes = {person: faces_ for person, faces_ in named.items() if len(faces_) > 1}
            if not clashes:
                break
            for person, clash in clashes.items():
                keeper = max(clash, key=lambda i: placements[i].decision.similarity)
                for i in clash:
                    if i != keeper:
                        taken[i].add(person)
                        placements[i] = self.gallery.place(faces[i], frozenset(taken[i]))
        return placements, [frozenset(t) for t in taken]

    def resolve_frame(self, faces: Sequence[FaceToResolve]) -> tuple[list[FaceResult], set[int], dict[str, Person]]:
        """``resolve`` for every face of one image, placed jointly (``place_jointly``), with one
        index upsert for all the faces that join their person; their settling is left to
        ``finish`` (its read of the people comes after the upsert). The results, the indices of
        the faces indexed, and the people as placing read them."""
        joining: list[tuple[FaceToResolve, str]] = []

        def record(face: FaceToResolve, placement: Placement, similarity: float) -> None:
            assert placement.person_id is not None  # ``_placed`` writes only placed faces
            if self.gallery.record(face, placement, similarity):
                joining.append((face, placement.person_id))

        first, taken = self.place_jointly(faces)
        placements = [
            (face, self._kept(face, self._placed(face, record, placement, exclude)))
            for face, placement, exclude in zip(faces, first, taken, strict=True)
        ]
        self.gallery.add_faces(joining)
        read = {p.person.person_id: p.person for _, p in placements if p.person is not None}
        return [_result(face, placement) for face, placement in placements], {face.index for face, _ in joining}, read

    def _kept(self, face: FaceToResolve, placement: Placement) -> Placement:
        """An unknown face kept for review (``KEEP_UNKNOWN_FACES``), with its group."""
        if placement.person_id is not None or placement.review_group or placement.decision.reason == "erased":
            return placement
        if not self.settings.keep_unknown_faces:
            return placement
        group = self.review.keep(face)
        return placement.in_review(group) if group else placement.erased()

    def finish(
        self,
        image: ImageRef,
        faces: Sequence[FaceToResolve],
        results: list[FaceResult],
        indexed: set[int] | None = None,
        read: dict[str, Person] | None = None,
    ) -> ResponseMessage:
        """Fill in names, write the tags, build the response (§1.3). The read of the people
        settles the faces ``indexed`` by ``resolve_frame``: a person merged away or erased since
        (or since their faces were placed) has those faces placed again (an erased person's
        vectors removed first). Tags are written only under people still present. When no face
        was indexed and placing ``read`` every person named, that read stands (one call less): a
        person gone since is caught by the tags' write, which is conditional on them."""
        unsettled = set(indexed or ())
        for _ in range(PLACEMENT_TRIES):
            placed = {r["person_id"] for r in results if r["person_id"]}
            known = read or {}
            reuse = not unsettled and all(pid in known and known[pid].present for pid in placed)
            people = {pid: known[pid] for pid in placed} if reuse else self.people.get_people(placed)
            read = None  # a second round (someone went away) reads again
            gone = {pid for pid in placed if pid not in people or not people[pid].present}
            erased = {pid for pid in gone if pid not in people or people[pid].deleting}
            if gone:
                for gone_id in gone:
                    own = [f for f, r in zip(faces, results, strict=True) if r["person_id"] == gone_id and f.index in unsettled]
                    with contextlib.suppress(PersonGoneError):
                        self.gallery.settle(gone_id, own, erased=gone_id in erased)
                unsettled.clear()  # what is placed again is settled by ``resolve``
                results = [self.resolve(f) if r["person_id"] in gone else r for f, r in zip(faces, results, strict=True)]
                continue
            unsettled.clear()
            for result in results:
                placed_as = result["person_id"]
                result["name"] = (people[placed_as].name or generated_name(placed_as)) if placed_as else ""
            response = response_message(image.request_id, image.filename, results)
            try:
                self.people.tag_media(
                    image.request_id, image.digest, image.filename, image.source, response["result"], [_tag(r) for r in results]
                )
                return response
            except PersonGoneError as went:
                results = [self.resolve(f) if r["person_id"] == went.person_id else r for f, r in zip(faces, results, strict=True)]
        raise PlacementError(f"{image.request_id}: the people in it kept going away; it will be answered again")

    # --- whole records --------------------------------------------------------------------
    @traced_without_result
    def process_frame(self, message: RequestMessage, vectors: np.ndarray, crops: Sequence[Image.Image]) -> Recognised:
        """One request message whose crops are already embedded: its response (``answer`` sends it)."""
        image = ImageRef(message["request_id"], image_digest(message), message["filename"], message["source"])
        faces = [
            FaceToResolve(
                image.request_id, face["index"], face["box"], vector, crop, image.source, quality_of_entry(face, crop), image.digest
            )
            for face, vector, crop in zip(message["faces"], vectors, crops, strict=True)
        ]
        return Recognised(carry_skipped(message, self.finish(image, faces, *self.resolve_frame(faces))), image.digest, image.source)

    @traced_without_result
    def process_photo(self, photo: PhotoRef) -> Recognised | None:
        """An uploaded photo: download, detect, keep at most MAX_FACES_PER_FRAME (the largest), embed,
        resolve, tag. None for an event outside PHOTO_PREFIX."""
        if photo.from_event and self.settings.photo_prefix and not photo.key.startswith(self.settings.photo_prefix):
            return None
        request_id = photo.request_id
        data = read_photo(self.s3, photo.bucket, photo.key, photo.version_id, self.settings.max_photo_bytes, what=request_id)
        try:
            frame = open_image(data, self.settings.max_image_pixels)
        except InvalidRequestError as exc:
            raise InvalidMessageError(f"{request_id}: {exc.message}") from None
        detected, skipped = within_limit(self.detector.detect(frame), self.settings.max_faces_per_frame, request_id)
        crops = face_crops(frame, detected, self.embedder)
        vectors = self.embed(crops)
        image = ImageRef(request_id, hashlib.sha256(data).hexdigest(), photo.key.rsplit("/", 1)[-1], f"s3://{photo.bucket}")
        faces = [
            FaceToResolve(request_id, i, [round(v, 1) for v in face.box], vector, crop, image.source, assess(frame, face), image.digest)
            for i, (face, vector, crop) in enumerate(zip(detected, vectors, crops, strict=True))
        ]
        response = self.finish(image, faces, *self.resolve_frame(faces))
        if skipped:
            response["skipped"] = skipped
        return Recognised(response, image.digest, image.source)

    def answer(self, recognised: Recognised, earlier: bool = True) -> bool:
        """Send the response once. It is sent after the unit of work is recorded done (so a
        retry after a crash returns the *stored* response, never a second, different one); a
        marker written after the send keeps a later redelivery from sending it again. False
        when an earlier delivery sent it. (A crash between the send and the marker can still
        send the same response twice: a standard queue has no exactly-once send.)
        ``earlier=False``: this delivery has just done the work (there was no stored result),
        so no earlier delivery sent it and the marker is not read (one call less per frame)."""
        request_id = recognised.response["request_id"]
        if earlier and self.people.was_sent(recognised.source, request_id, recognised.digest):
            return False
        self.sqs.send_message(QueueUrl=self.settings.response_queue_url, MessageBody=encode(recognised.response))
        for _ in range(MARKER_TRIES):  # sent is sent: failing the record now would only send it again
            try:
                self.people.mark_sent(recognised.source, request_id, recognised.digest, int(time.time()) + IDEMPOTENCY_SECONDS)
                break
            except Exception as exc:
                logger.warning("response sent, its marker not written yet", request_id=request_id, error=repr(exc))
        return True
