"""Recognition of one record: crops -> embeddings -> who each face is -> tags -> the response.

``Recognizer`` builds what a recognition container keeps (gallery, review, publisher) and chains
the steps for one record: ``process_frame`` (a request message whose crops are embedded with the
batch's) and ``process_photo`` (an upload: download, detect, embed). Placing is
``recognition.placing``, the answer ``recognition.answering``; a person merged away or erased
between two steps has their faces placed again (the merge is followed, an erased person's
leftovers dropped), so no record fails for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from facepipe import aws
from facepipe.detection import FaceDetector
from facepipe.detection.quality import assess
from facepipe.embedding import Embedder
from facepipe.embedding.models import calibration_for
from facepipe.events import PhotoRef
from facepipe.exceptions import InvalidMessageError, InvalidRequestError
from facepipe.frames import face_crops, within_limit
from facepipe.gallery import FaceToResolve, Gallery
from facepipe.images import decode_base64, open_crop, open_image
from facepipe.index import VectorIndex
from facepipe.index.recent import RecentVectors
from facepipe.messages import FaceEntry, FaceResult, RequestMessage, ResponseMessage, carry_skipped
from facepipe.observability import traced_without_result
from facepipe.people import PeopleStore, Person
from facepipe.people.registry import StrangerRegistry
from facepipe.publishing import Publisher
from facepipe.recognition.answering import Answering
from facepipe.recognition.placing import Placing
from facepipe.recognition.results import ImageRef, Recognised, image_digest, quality_of_entry
from facepipe.review import Review
from facepipe.settings import Settings
from facepipe.storage import read_crop, read_photo


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
        self.placing = Placing(settings, self.gallery, self.review)
        self.answering = Answering(settings, people, self.gallery, self.placing, lambda: self.sqs)
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

    # --- the steps of placing and answering (facepipe.recognition.placing, .answering) --------
    def resolve(self, face: FaceToResolve) -> FaceResult:
        return self.placing.resolve(face)

    def resolve_frame(self, faces: Sequence[FaceToResolve]) -> tuple[list[FaceResult], set[int], dict[str, Person]]:
        return self.placing.resolve_frame(faces)

    def finish(
        self,
        image: ImageRef,
        faces: Sequence[FaceToResolve],
        results: list[FaceResult],
        indexed: set[int] | None = None,
        read: dict[str, Person] | None = None,
    ) -> ResponseMessage:
        return self.answering.finish(image, faces, results, indexed, read)

    def answer(self, recognised: Recognised, earlier: bool = True) -> bool:
        return self.answering.answer(recognised, earlier)

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
