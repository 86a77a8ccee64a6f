"""Recognition side: face crops -> embeddings -> match, new person or unknown -> tags -> response.

``Recognizer`` offers the steps separately: ``crops_of`` (crops of a request message),
``embed``, ``resolve`` (one face: ``matching.decide`` on the gallery's candidates, then the
gallery's writes), ``finish`` (names, tags, the response). ``process_frame`` and
``process_photo`` chain them for one record.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from facepipe import aws
from facepipe.detection import FaceDetector
from facepipe.embedding import Embedder
from facepipe.events import PhotoRef
from facepipe.exceptions import InvalidMessageError, InvalidRequestError
from facepipe.frames import face_crops
from facepipe.gallery import FaceToResolve, Gallery
from facepipe.images import decode_base64, open_image
from facepipe.index import VectorIndex
from facepipe.index.recent import RecentVectors
from facepipe.matching import Decision, adds_to_person, calibration_for, decide
from facepipe.messages import FaceEntry, FaceResult, RequestMessage, ResponseMessage, encode, response_message
from facepipe.observability import Metric, MetricUnit, metrics, tracer
from facepipe.people import PeopleStore, Tag, face_id_for, generated_name, person_id_for
from facepipe.quality import FaceQuality, assess, band_of, pose
from facepipe.quality import sharpness as sharpness_of
from facepipe.settings import Settings
from facepipe.storage import read_object


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


def _count(decision: Decision, indexed: bool) -> None:
    kind = {"match": Metric.FACES_MATCHED, "new": Metric.NEW_PEOPLE, "unknown": Metric.UNKNOWN_FACES}[decision.kind]
    metrics.add_metric(name=kind, unit=MetricUnit.Count, value=1)
    if decision.kind == "match":
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
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.people = people
        self.calibration = calibration_for(embedder.model, settings.good_threshold, settings.face_match_margin)
        self.namespace = settings.namespace
        self.gallery = Gallery(index, people, self.namespace, embedder, bucket=settings.s3_bucket_name, s3=s3, recent=recent)
        self._sqs = sqs
        self._s3 = s3
        self._detector = detector
        self._new_person_lock = threading.Lock()

    @property
    def sqs(self) -> Any:
        return self._sqs or aws.sqs()

    @property
    def s3(self) -> Any:
        return self._s3 or aws.s3()

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            s = self.settings
            self._detector = FaceDetector(s.min_face_size, s.min_face_score, s.detection_pixel_budget)
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
            data = read_object(self.s3, self.settings.s3_bucket_name, face["crop_key"], what=what)
        side = self.embedder.crop_size
        try:
            crop = open_image(data, side * side)
        except InvalidRequestError as exc:
            raise InvalidMessageError(f"{what}: {exc.message}; expected a {side} px square JPEG") from None
        if crop.size != (side, side):
            raise InvalidMessageError(f"{what} is {crop.size[0]}x{crop.size[1]}, expected {side} px square")
        return crop

    def embed(self, crops: Sequence[Image.Image]) -> np.ndarray:
        return self.embedder.embed(crops)

    def decide(self, face: FaceToResolve) -> Decision:
        return decide(self.gallery.candidates(face.vector), face.quality, self.calibration)

    def resolve(self, face: FaceToResolve) -> FaceResult:
        """Match ``face`` to a known person, create a new one, or leave it unknown; record it. Repeat-safe."""
        face_id = face_id_for(face.request_id, face.index)
        person_id: str | None = None
        indexed = False
        with self._new_person_lock:  # one container decides about one stranger at a time
            decision = self.decide(face)
            if decision.kind == "match":
                person_id = decision.person_id
                faces = self.people.get_person(person_id).indexed_faces if person_id else 0
                indexed = adds_to_person(decision, face.quality, self.calibration, faces)
            elif decision.kind == "new":
                person_id, indexed = person_id_for(face_id), True
                self.people.create_person(person_id, generated_name(person_id), face.request_id)
            if person_id and indexed:
                self.gallery.add_face(face, face_id, person_id)
        similarity = round(decision.similarity, 4)
        _count(decision, indexed)
        if person_id:
            self.gallery.record_face(face, face_id, person_id, similarity, indexed=indexed)
        return {
            "index": face.index,
            "box": [float(v) for v in face.box],
            "person_id": person_id,
            "name": "",
            "similarity": similarity,
            "new_person": decision.kind == "new",
            "quality": face.quality.as_dict(),
        }

    def finish(self, request_id: str, filename: str, source: str, results: list[FaceResult]) -> ResponseMessage:
        """Fill in names, write the tags, build the response (§1.3)."""
        placed = [r["person_id"] for r in results if r["person_id"]]
        names = {pid: p.name for pid, p in self.people.get_people(placed).items()}
        for result in results:
            person_id = result["person_id"]
            result["name"] = (names.get(person_id) or generated_name(person_id)) if person_id else ""
        response = response_message(request_id, filename, results)
        tags = [
            Tag(
                r["index"],
                face_id_for(request_id, r["index"]),
                r["person_id"],
                r["name"],
                r["similarity"],
                r["new_person"],
                r["box"],
                r.get("quality", {}),
            )
            for r in results
        ]
        self.people.tag_media(request_id, filename, source, response["result"], tags)
        return response

    # --- whole records --------------------------------------------------------------------
    @tracer.capture_method
    def process_frame(self, message: RequestMessage, vectors: np.ndarray, crops: Sequence[Image.Image]) -> ResponseMessage:
        """One request message whose crops are already embedded; sends the response."""
        results = [
            self.resolve(
                FaceToResolve(
                    message["request_id"], face["index"], face["box"], vector, crop, message["source"], quality_of_entry(face, crop)
                )
            )
            for face, vector, crop in zip(message["faces"], vectors, crops, strict=True)
        ]
        response = self.finish(message["request_id"], message["filename"], message["source"], results)
        self.sqs.send_message(QueueUrl=self.settings.response_queue_url, MessageBody=encode(response))
        return response

    @tracer.capture_method
    def process_photo(self, photo: PhotoRef) -> ResponseMessage | None:
        """An uploaded photo: download, detect, embed, resolve, tag. None for an event outside PHOTO_PREFIX."""
        if photo.from_event and self.settings.photo_prefix and not photo.key.startswith(self.settings.photo_prefix):
            return None
        request_id = photo.request_id
        data = read_object(self.s3, photo.bucket, photo.key, photo.version_id, what=request_id)
        try:
            frame = open_image(data, self.settings.max_image_pixels)
        except InvalidRequestError as exc:
            raise InvalidMessageError(f"{request_id}: {exc.message}") from None
        faces = self.detector.detect(frame)
        crops = face_crops(frame, faces, self.embedder)
        vectors = self.embed(crops)
        results = [
            self.resolve(
                FaceToResolve(request_id, i, [round(v, 1) for v in face.box], vector, crop, f"s3://{photo.bucket}", assess(frame, face))
            )
            for i, (face, vector, crop) in enumerate(zip(faces, vectors, crops, strict=True))
        ]
        response = self.finish(request_id, photo.key.rsplit("/", 1)[-1], f"s3://{photo.bucket}", results)
        if self.settings.photo_responses:
            self.sqs.send_message(QueueUrl=self.settings.response_queue_url, MessageBody=encode(response))
        return response
