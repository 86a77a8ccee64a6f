"""Detection side: a validated frame (facepipe.events) -> faces -> request message (docs/contracts.md) or the "" answer.

``FrameProcessor`` detects, measures each face's quality, crops for the embedder, claim-checks
crops too large for SQS and sends; ``FrameAcceptor`` runs it at most once per request_id.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NotRequired, TypedDict

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from PIL import Image

from facepipe import aws, names
from facepipe.detection import DetectedFace, FaceDetector, select_faces
from facepipe.detection.quality import assess
from facepipe.embedding import Cropper
from facepipe.events import FrameRequest
from facepipe.images import decode_base64, encode_jpeg
from facepipe.messages import MAX_MESSAGE_BYTES, MESSAGE_VERSION, FaceEntry, RequestMessage, encode, response_message
from facepipe.names import IDEMPOTENCY_SECONDS
from facepipe.observability import Metric, MetricUnit, child_logger, metrics, tracer
from facepipe.settings import Settings
from facepipe.storage import claim_check_key, put_jpeg

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

logger = child_logger()

#: how long a POST whose request_id another invocation is working on waits for that one's reply
#: (then 409 in_progress): a client that sent the same frame twice at once gets one answer, twice
IN_PROGRESS_WAIT_SECONDS = 2.0
#: first pause between looks at the other invocation's record; doubles up to ``_MAX_PAUSE``
_FIRST_PAUSE, _MAX_PAUSE = 0.05, 0.4


def face_crops(frame: Image.Image, faces: list[DetectedFace], cropper: Cropper) -> list[Image.Image]:
    return [cropper.crop(frame, face) for face in faces]


def within_limit(found: list[DetectedFace], limit: int, request_id: str) -> tuple[list[DetectedFace], int]:
    """``select_faces`` for a frame or photo, counted: the ``SkippedFaces`` metric and a warning
    when a crowd left faces out (``MAX_FACES_PER_FRAME``)."""
    faces, skipped = select_faces(found, limit)
    if skipped:
        metrics.add_metric(name=Metric.SKIPPED_FACES, unit=MetricUnit.Count, value=skipped)
        logger.warning(
            "crowd: only the largest faces are recognised", request_id=request_id, found=len(found), sent=len(faces), skipped=skipped
        )
    return faces, skipped


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Queued(TypedDict):
    """The function URL's 200 reply (docs/contracts.md, Request); ``skipped`` only when faces beyond
    ``MAX_FACES_PER_FRAME`` were left out."""

    request_id: str
    faces: int
    status: str
    skipped: NotRequired[int]


class FrameProcessor:
    """Detects faces in a validated frame and queues them for recognition (or answers "")."""

    def __init__(
        self, settings: Settings, detector: FaceDetector, cropper: Cropper, sqs: SQSClient | None = None, s3: S3Client | None = None
    ) -> None:
        settings.require("REQUEST_QUEUE_URL", "RESPONSE_QUEUE_URL")
        self.settings = settings
        self.detector = detector
        self.cropper = cropper
        self._sqs = sqs
        self._s3 = s3

    @property
    def sqs(self) -> SQSClient:
        return self._sqs or aws.sqs()

    @property
    def s3(self) -> S3Client:
        return self._s3 or aws.s3()

    def build_message(self, request: FrameRequest, faces: list[DetectedFace], skipped: int = 0) -> RequestMessage:
        crops = face_crops(request.image, faces, self.cropper)
        entries: list[FaceEntry] = [
            {
                "index": i,
                "box": [round(v, 1) for v in face.box],
                "score": round(face.score, 5),
                "landmarks": [[round(x, 1), round(y, 1)] for x, y in face.landmarks],
                "quality": assess(request.image, face).as_dict(),
                "crop": base64.b64encode(encode_jpeg(crop)).decode("ascii"),
            }
            for i, (face, crop) in enumerate(zip(faces, crops, strict=True))
        ]
        message: RequestMessage = {
            "v": MESSAGE_VERSION,
            "request_id": request.request_id,
            "filename": request.filename,
            "source": request.source,
            "received_at": _now(),
            "image": {"width": request.image.width, "height": request.image.height},
            "preprocessing": self.cropper.preprocessing,
            "faces": entries,
        }
        if request.content_sha256:
            message["image"]["sha256"] = request.content_sha256
        if request.captured_at:
            message["captured_at"] = request.captured_at
        if skipped:
            message["skipped"] = skipped
        return message

    def claim_check(self, message: RequestMessage) -> RequestMessage:
        """Move crops to S3 when the message would exceed the SQS limit (a claim check: docs/contracts.md, Request message)."""
        if len(encode(message).encode()) <= MAX_MESSAGE_BYTES:
            return message
        self.settings.require("S3_BUCKET_NAME")
        metrics.add_metric(name=Metric.CLAIM_CHECKS, unit=MetricUnit.Count, value=1)
        digest = message["image"].get("sha256", "")
        for face in message["faces"]:
            key = claim_check_key(message["source"], message["request_id"], digest, face["index"])
            put_jpeg(self.s3, self.settings.s3_bucket_name, key, decode_base64(face.pop("crop"), "crop"))
            face["crop_key"] = key
        return message

    @tracer.capture_method
    def process(self, request: FrameRequest) -> Queued:
        faces, skipped = within_limit(self.detector.detect(request.image), self.settings.max_faces_per_frame, request.request_id)
        metrics.add_metric(name=Metric.FRAMES, unit=MetricUnit.Count, value=1)
        metrics.add_metric(name=Metric.FACES_DETECTED, unit=MetricUnit.Count, value=len(faces))
        if not faces:
            metrics.add_metric(name=Metric.FRAMES_WITHOUT_FACE, unit=MetricUnit.Count, value=1)
            answer = response_message(request.request_id, request.filename, [])
            self.sqs.send_message(QueueUrl=self.settings.response_queue_url, MessageBody=encode(answer))
            return {"request_id": request.request_id, "faces": 0, "status": "queued"}
        message = self.claim_check(self.build_message(request, faces, skipped))
        self.sqs.send_message(QueueUrl=self.settings.request_queue_url, MessageBody=encode(message))
        reply: Queued = {"request_id": request.request_id, "faces": len(faces), "status": "queued"}
        if skipped:
            reply["skipped"] = skipped
        return reply


class FrameAcceptor:
    """``frames.process`` at most once per request_id *of a source* when a persistence layer is
    given (a request_id is its caller's own: one camera can neither block nor replay another's):
    a client's retry gets the same reply and queues nothing; the same request_id with another
    image raises IdempotencyValidationError. A POST that finds the same request_id in progress
    waits up to ``wait_seconds`` for its reply, then raises IdempotencyAlreadyInProgressError."""

    def __init__(
        self, frames: FrameProcessor, persistence: BasePersistenceLayer | None, wait_seconds: float = IN_PROGRESS_WAIT_SECONDS
    ) -> None:
        self.frames = frames
        self.wait_seconds = wait_seconds
        self.config = IdempotencyConfig(
            event_key_jmespath="[source, request_id]",  # keys.detection_work
            payload_validation_jmespath="content_sha256",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_SECONDS,
        )
        self._once: Callable[..., Queued] | None = None
        if persistence is not None:
            self._once = idempotent_function(
                data_keyword_argument="work", persistence_store=persistence, config=self.config, key_prefix=names.DETECTION_UNIT
            )(self._process)

    def _process(self, work: dict[str, str], request: FrameRequest) -> Queued:
        return self.frames.process(request)

    def __call__(self, request: FrameRequest, context: LambdaContext | None = None) -> Queued:
        if self._once is None:
            return self.frames.process(request)
        if context is not None:
            self.config.register_lambda_context(context)
        work = {"source": request.source, "request_id": request.request_id, "content_sha256": request.content_sha256}
        deadline, pause = time.monotonic() + self.wait_seconds, _FIRST_PAUSE
        while True:
            try:
                return self._once(work=work, request=request)
            except IdempotencyAlreadyInProgressError:
                # the same frame, sent twice at once: the other invocation's reply is moments away
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                logger.info("request_id in progress elsewhere; waiting for its reply", remaining=round(remaining, 2))
                time.sleep(min(pause, remaining))  # the last look is at the deadline
                pause = min(2 * pause, _MAX_PAUSE)
