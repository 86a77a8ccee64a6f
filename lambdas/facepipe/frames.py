"""Detection side: a function URL request (§1.1) -> validated frame -> faces -> request message (§1.2).

Every check runs before anything is sent, so a bad request changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from PIL import Image

from facepipe import aws
from facepipe.detection import DetectedFace, FaceDetector
from facepipe.embedding import Cropper
from facepipe.exceptions import InvalidRequestError
from facepipe.images import decode_base64, encode_jpeg, open_image
from facepipe.quality import assess
from facepipe.messages import MAX_MESSAGE_BYTES, MESSAGE_VERSION, FaceEntry, RequestMessage, encode, response_message
from facepipe.settings import Settings

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SOURCE = re.compile(r"[A-Za-z0-9._:/-]{1,128}")
MAX_FILENAME = 255


@dataclass(frozen=True)
class FrameRequest:
    request_id: str
    filename: str
    source: str
    image: Image.Image
    image_bytes: int
    captured_at: str | None = None
    content_sha256: str = ""


def request_id_of(body: Any) -> str | None:
    """The request_id to echo in an error reply, when the body has a well-formed one."""
    if isinstance(body, dict) and isinstance(body.get("request_id"), str) and REQUEST_ID.fullmatch(body["request_id"]):
        return body["request_id"]
    return None


def body_of(event: dict, max_body_bytes: int) -> bytes:
    """The raw request body of a function URL event (payload 2.0), size-checked before parsing."""
    method = (event.get("requestContext", {}).get("http", {}).get("method") or "POST").upper()
    if method != "POST":
        raise InvalidRequestError("method_not_allowed", f"use POST, not {method}", 405)
    raw = event.get("body")
    if raw is None or raw == "":
        raise InvalidRequestError("empty_body", "the request body is empty; send a JSON object")
    if not isinstance(raw, str):
        raise InvalidRequestError("invalid_json", "the request body must be JSON text")
    # refuse oversize before decoding anything (a base64 body is 4/3 of its bytes)
    if len(raw) > (max_body_bytes * 4 // 3 + 4 if event.get("isBase64Encoded") else max_body_bytes):
        raise InvalidRequestError("body_too_large", f"the body is larger than {max_body_bytes} bytes", 413)
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError("invalid_body_encoding", "isBase64Encoded is set but the body is not base64") from None
    else:
        data = raw.encode("utf-8")
    if len(data) > max_body_bytes:
        raise InvalidRequestError("body_too_large", f"the body is {len(data)} bytes; the limit is {max_body_bytes}", 413)
    return data


def parse_frame_request(event: dict, settings: Settings) -> FrameRequest:
    """Validate a function URL event into a ``FrameRequest``; ``InvalidRequestError`` otherwise."""
    data = body_of(event, settings.max_body_bytes)
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequestError("invalid_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("invalid_json", "the body must be a JSON object with request_id, content, filename")
    try:
        return _frame_request(body, settings)
    except InvalidRequestError as exc:
        exc.request_id = request_id_of(body)
        raise


def _frame_request(body: dict, settings: Settings) -> FrameRequest:
    for name in ("request_id", "content", "filename"):
        if name not in body:
            raise InvalidRequestError("missing_field", f"'{name}' is required")
    request_id = body["request_id"]
    if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
        raise InvalidRequestError("invalid_field", "'request_id' must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    filename = body["filename"]
    if not isinstance(filename, str) or not filename or len(filename) > MAX_FILENAME or not filename.isprintable():
        raise InvalidRequestError("invalid_field", f"'filename' must be a printable string of 1-{MAX_FILENAME} characters")
    source = body.get("source", "default")
    if not isinstance(source, str) or not SOURCE.fullmatch(source):
        raise InvalidRequestError("invalid_field", "'source' must be 1-128 characters of A-Z a-z 0-9 . _ : / -")
    captured_at = body.get("captured_at")
    if captured_at is not None:
        try:
            if not isinstance(captured_at, str):
                raise ValueError
            dt.datetime.fromisoformat(captured_at.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequestError("invalid_field", "'captured_at' must be an ISO-8601 timestamp") from None
    image_bytes = decode_base64(body["content"])
    image = open_image(image_bytes, settings.max_image_pixels)
    digest = hashlib.sha256(image_bytes).hexdigest()
    return FrameRequest(request_id, filename, source, image, len(image_bytes), captured_at, digest)


def face_crops(frame: Image.Image, faces: list[DetectedFace], cropper: Cropper) -> list[Image.Image]:
    return [cropper.crop(frame, face) for face in faces]


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FrameProcessor:
    """Detects faces in a validated frame and queues them for recognition (or answers "")."""

    def __init__(self, settings: Settings, detector: FaceDetector, cropper: Cropper, sqs: Any = None, s3: Any = None) -> None:
        settings.require("REQUEST_QUEUE_URL", "RESPONSE_QUEUE_URL")
        self.settings = settings
        self.detector = detector
        self.cropper = cropper
        self._sqs = sqs
        self._s3 = s3

    @property
    def sqs(self) -> Any:
        return self._sqs or aws.client("sqs")

    @property
    def s3(self) -> Any:
        return self._s3 or aws.client("s3")

    def build_message(self, request: FrameRequest, faces: list[DetectedFace]) -> RequestMessage:
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
        if request.captured_at:
            message["captured_at"] = request.captured_at
        return message

    def claim_check(self, message: RequestMessage) -> RequestMessage:
        """Move crops to S3 when the message would exceed the SQS limit (§1.2)."""
        if len(encode(message).encode()) <= MAX_MESSAGE_BYTES:
            return message
        self.settings.require("S3_BUCKET_NAME")
        for face in message["faces"]:
            key = f"crops/{message['request_id']}/{face['index']}.jpg"
            self.s3.put_object(
                Bucket=self.settings.s3_bucket_name, Key=key, Body=base64.b64decode(face.pop("crop")), ContentType="image/jpeg"
            )
            face["crop_key"] = key
        return message

    def process(self, request: FrameRequest) -> dict:
        faces = self.detector.detect(request.image)
        if not faces:
            answer = response_message(request.request_id, request.filename, [])
            self.sqs.send_message(QueueUrl=self.settings.response_queue_url, MessageBody=encode(answer))
            return {"request_id": request.request_id, "faces": 0, "status": "queued"}
        message = self.claim_check(self.build_message(request, faces))
        self.sqs.send_message(QueueUrl=self.settings.request_queue_url, MessageBody=encode(message))
        return {"request_id": request.request_id, "faces": len(faces), "status": "queued"}


class FrameAcceptor:
    """``frames.process`` at most once per request_id when a persistence layer is given: a
    client's retry gets the same reply and queues nothing; the same request_id with another
    image raises IdempotencyValidationError."""

    def __init__(self, frames: FrameProcessor, persistence: BasePersistenceLayer | None) -> None:
        self.frames = frames
        self.config = IdempotencyConfig(
            event_key_jmespath="request_id",
            payload_validation_jmespath="content_sha256",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=3600,
        )
        self._once = None
        if persistence is not None:
            self._once = idempotent_function(data_keyword_argument="work", persistence_store=persistence, config=self.config)(
                self._process
            )

    def _process(self, work: dict, request: FrameRequest) -> dict:
        return self.frames.process(request)

    def __call__(self, request: FrameRequest, context: Any = None) -> dict:
        if self._once is None:
            return self.frames.process(request)
        if context is not None:
            self.config.register_lambda_context(context)
        return self._once(work={"request_id": request.request_id, "content_sha256": request.content_sha256}, request=request)
