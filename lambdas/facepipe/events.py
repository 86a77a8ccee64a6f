"""The events the functions receive, parsed into what the core works on.

* A function URL request (docs/contracts.md, Request; payload 2.0, read through Powertools' ``LambdaFunctionUrlEvent``)
  becomes a ``FrameRequest``: every field and the image are checked here, before anything is
  sent, so a bad request changes nothing.
* A photo message (docs/contracts.md, Photos: an S3 object-created notification, read through Powertools'
  ``S3Event``, or seed 000's ``{"bucketName", "objectKey"}``) becomes ``PhotoRef`` s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent, S3Event
from PIL import Image

from facepipe.access import TOKEN_HEADER, DeviceTokens, header
from facepipe.exceptions import InvalidMessageError, InvalidRequestError
from facepipe.images import decode_base64, open_image
from facepipe.messages import RequestMessage, load_json, validate_request_message
from facepipe.settings import Settings

T = TypeVar("T")


def _get(read: Callable[[], T]) -> T | None:
    """A data class property of a hand-made event that may lack the part it reads."""
    try:
        return read()
    except (KeyError, TypeError, AttributeError):
        return None


# --- function URL -----------------------------------------------------------------------------
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
    request_id = body.get("request_id") if isinstance(body, dict) else None
    return request_id if isinstance(request_id, str) and REQUEST_ID.fullmatch(request_id) else None


def body_of(event: dict[str, Any], max_body_bytes: int) -> bytes:
    """The raw request body of a function URL event (payload 2.0), size-checked before parsing."""
    url_event = LambdaFunctionUrlEvent(event)
    method = _get(lambda: url_event.request_context.http.method) or "POST"
    if not isinstance(method, str) or method.upper() != "POST":
        shown = method[:16] if isinstance(method, str) else type(method).__name__
        raise InvalidRequestError("method_not_allowed", f"use POST, not {shown!r}", 405)
    raw = url_event.get("body")
    if raw is None or raw == "":
        raise InvalidRequestError("empty_body", "the request body is empty; send a JSON object")
    if not isinstance(raw, str):
        raise InvalidRequestError("invalid_json", "the request body must be JSON text")
    # refuse oversize before decoding anything (a base64 body is 4/3 of its bytes)
    encoded = bool(url_event.get("isBase64Encoded"))
    if len(raw) > (max_body_bytes * 4 // 3 + 4 if encoded else max_body_bytes):
        raise InvalidRequestError("body_too_large", f"the body is larger than {max_body_bytes} bytes", 413)
    # strict base64 here: the data class's decoded_body would accept any garbage
    if encoded:
        try:
            data = decode_base64(raw, "body")
        except InvalidRequestError:
            raise InvalidRequestError("invalid_body_encoding", "isBase64Encoded is set but the body is not base64") from None
    else:
        data = raw.encode("utf-8")
    if len(data) > max_body_bytes:
        raise InvalidRequestError("body_too_large", f"the body is {len(data)} bytes; the limit is {max_body_bytes}", 413)
    return data


def parse_frame_request(event: dict[str, Any], settings: Settings, devices: DeviceTokens | None = None) -> FrameRequest:
    """Validate a function URL event into a ``FrameRequest``; ``InvalidRequestError`` otherwise.

    With ``devices``, the request must carry its source's token (facepipe.access), checked
    before the image is decoded."""
    data = body_of(event, settings.max_body_bytes)
    try:
        body = load_json(data, "the body")
    except InvalidMessageError as exc:  # not JSON, or nested too deeply for the parser
        raise InvalidRequestError("invalid_json", str(exc)) from None
    if not isinstance(body, dict):
        raise InvalidRequestError("invalid_json", "the body must be a JSON object with request_id, content, filename")
    try:
        return _frame_request(body, settings, devices, header(event, TOKEN_HEADER) if devices is not None else None)
    except InvalidRequestError as exc:
        exc.request_id = request_id_of(body)
        raise


def _frame_request(body: dict[str, Any], settings: Settings, devices: DeviceTokens | None, token: str | None) -> FrameRequest:
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
    if devices is not None:
        devices.verify(source, token)
    image_bytes = decode_base64(body["content"])
    image = open_image(image_bytes, settings.max_image_pixels)
    digest = hashlib.sha256(image_bytes).hexdigest()
    return FrameRequest(request_id, filename, source, image, len(image_bytes), captured_at, digest)


# --- photos ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhotoRef:
    bucket: str
    key: str
    version_id: str = ""
    etag: str = ""
    from_event: bool = False  # named by an S3 notification (PHOTO_PREFIX applies), not by hand

    @property
    def request_id(self) -> str:
        """``s3://bucket/key#versionId-or-etag`` (docs/contracts.md, Photos)."""
        tag = self.version_id or self.etag.strip('"')
        return f"s3://{self.bucket}/{self.key}#{tag}" if tag else f"s3://{self.bucket}/{self.key}"


#: S3 bucket names (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html)
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_KEY_BYTES = 1024


def photo_ref(bucket: object, key: object, version_id: object = "", etag: object = "", from_event: bool = False) -> PhotoRef:
    """A ``PhotoRef`` whose parts are what S3 accepts; ``InvalidMessageError`` otherwise (a bad
    name never becomes good, so the message is dead-lettered instead of retried)."""
    if not isinstance(bucket, str) or not BUCKET.fullmatch(bucket):
        raise InvalidMessageError(f"photo message: {str(bucket)[:80]!r} is not an S3 bucket name")
    if not isinstance(key, str) or not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidMessageError(f"photo message: the object key must be 1-{MAX_KEY_BYTES} bytes of text")
    if not key.isprintable() or any(0xD800 <= ord(c) <= 0xDFFF for c in key):
        raise InvalidMessageError("photo message: the object key holds control characters")
    version_id = version_id if version_id is not None else ""
    etag = etag if etag is not None else ""
    if not isinstance(version_id, str) or not isinstance(etag, str) or len(version_id) > 1024 or len(etag) > 1024:
        raise InvalidMessageError("photo message: versionId and eTag must be strings")
    return PhotoRef(bucket, key, version_id, etag, from_event)


def photo_refs(body: dict[str, Any]) -> list[PhotoRef]:
    """Objects named by an S3 event or the legacy ``{"bucketName", "objectKey"}`` form;
    [] for S3's test event."""
    if "bucketName" in body or "objectKey" in body:
        if not isinstance(body.get("bucketName"), str) or not isinstance(body.get("objectKey"), str):
            raise InvalidMessageError("photo message needs string 'bucketName' and 'objectKey'")
        return [photo_ref(body["bucketName"], body["objectKey"])]
    if body.get("Event") == "s3:TestEvent":
        return []
    if not isinstance(body.get("Records"), list):
        raise InvalidMessageError("photo message is neither an S3 event nor {bucketName, objectKey}")
    refs = []
    for record in S3Event(body).records:
        try:
            obj = record.s3.get_object
            bucket, key, version_id, etag = record.s3.bucket.name, obj.key, obj.version_id, obj.etag
            if not isinstance(key, str):
                raise TypeError(key)
            key = unquote_plus(key)
        except (KeyError, TypeError, AttributeError):
            raise InvalidMessageError("S3 event record lacks s3.bucket.name / s3.object.key") from None
        refs.append(photo_ref(bucket, key, version_id, etag, True))
    return refs


#: what a message on the recognition side's queues names: a frame's crops (the request message) or photos (docs/contracts.md)
QueueMessage = RequestMessage | list[PhotoRef]


def is_photo_message(body: object) -> bool:
    """A photo message rather than a request message (docs/contracts.md), by its top-level keys."""
    return isinstance(body, dict) and any(k in body for k in ("Records", "bucketName", "objectKey", "Event"))


def parse_queue_message(body: str | bytes) -> QueueMessage:
    """Validate the body of a request- or photo-queue message: the request message or the photos
    it names (docs/contracts.md). ``InvalidMessageError`` for anything else, whatever its shape (not
    JSON, nested too deeply, wrong types): the message can never succeed, dead-letter it."""
    parsed = load_json(body, "queue message")
    if is_photo_message(parsed):
        return photo_refs(parsed)
    return validate_request_message(parsed)
