"""Wire formats between the functions and the client, as TypedDicts with builders/parsers: the request message and
the response of docs/contracts.md."""

from __future__ import annotations

import json
import math
from typing import Any, NotRequired, TypedDict, cast

import fastjsonschema

from facepipe.exceptions import InvalidMessageError
from facepipe.images import MAX_CROP_BYTES

MESSAGE_VERSION = 1
#: SQS's classic 256 KiB limit, less room for attributes; above it crops go to S3 (claim check)
MAX_MESSAGE_BYTES = 250 * 1024


class FaceEntry(TypedDict):
    index: int
    box: list[float]
    score: float
    landmarks: list[list[float]]
    quality: NotRequired[dict[str, float | str]]  # facepipe.detection.quality.FaceQuality.as_dict(), measured on the frame
    crop: NotRequired[str]  # base64 JPEG
    crop_key: NotRequired[str]  # S3 key of the JPEG when the message would be too large


class ImageInfo(TypedDict):
    width: int
    height: int
    sha256: NotRequired[str]  # of the image's bytes: a face id is request_id + this + index


class RequestMessage(TypedDict):
    v: int
    request_id: str
    filename: str
    source: str
    received_at: str
    image: ImageInfo
    preprocessing: str
    faces: list[FaceEntry]
    captured_at: NotRequired[str]
    skipped: NotRequired[int]  # faces found beyond MAX_FACES_PER_FRAME, not sent (absent: none)


class FaceResult(TypedDict):
    index: int
    face_id: NotRequired[str]  # the face's id in the people table (``people show``, ``people unassign``)
    box: list[float]
    person_id: str | None  # None: too poor to place with confidence and matching nobody (docs/contracts.md, Response)
    name: str  # "" when person_id is None
    similarity: float
    new_person: bool
    quality: NotRequired[dict[str, float | str]]
    review_group: NotRequired[str]  # an unknown face kept for review: its group (facepipe review list)


class ResponseMessage(TypedDict):
    request_id: str
    result: str
    filename: str
    faces: list[FaceResult]
    skipped: NotRequired[int]  # faces detection found but did not send (MAX_FACES_PER_FRAME); absent: none


UNKNOWN = "unknown"


def result_string(faces: list[FaceResult]) -> str:
    """Names left to right, joined by ", " (the seed client's ``result``); a face placed with
    nobody contributes ``unknown``."""
    ordered = sorted(faces, key=lambda f: ((f["box"][0] + f["box"][2]) / 2, f["index"]))
    return ", ".join(f["name"] if f["person_id"] else UNKNOWN for f in ordered)


def response_message(request_id: str, filename: str, faces: list[FaceResult]) -> ResponseMessage:
    return {"request_id": request_id, "result": result_string(faces), "filename": filename, "faces": faces}


def carry_skipped(request: RequestMessage, response: ResponseMessage) -> ResponseMessage:
    """``response`` with the request's ``skipped`` count, when detection left faces out: the
    client learns its answer lists only the largest faces of a crowd."""
    skipped = request.get("skipped", 0)
    if skipped:
        response["skipped"] = skipped
    return response


def encode(message: object) -> str:
    return json.dumps(message, separators=(",", ":"))


_NUMBER = {"type": "number"}
#: the request_id detection accepts (facepipe.events.REQUEST_ID), anchored for JSON Schema
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
#: a claim check names the crop detection wrote (facepipe.storage.claim_check_key): nothing else in the bucket
CROP_KEY_PATTERN = r"^crops/[A-Za-z0-9._%-]{1,384}/[A-Za-z0-9._:-]{1,128}/([0-9a-f]{1,16}|unknown)/[0-9]{1,6}\.jpg$"
#: base64 of the largest crop accepted (facepipe.images.MAX_CROP_BYTES), line breaks allowed
MAX_CROP_BASE64 = 4 * (MAX_CROP_BYTES + 2) // 3 + 4096
#: the request message (docs/contracts.md) as JSON Schema: what recognition relies on; unknown fields are allowed (newer senders)
REQUEST_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["v", "request_id", "filename", "faces", "preprocessing"],
    "properties": {
        "v": {"const": MESSAGE_VERSION},
        "request_id": {"type": "string", "pattern": REQUEST_ID_PATTERN},
        "filename": {"type": "string", "maxLength": 1024},
        "source": {"type": "string"},
        "preprocessing": {"type": "string"},
        "skipped": {"type": "integer", "minimum": 0},
        "image": {
            "type": "object",
            "properties": {
                "width": {"type": "integer"},
                "height": {"type": "integer"},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            },
        },
        "faces": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "box"],
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "box": {"type": "array", "items": _NUMBER, "minItems": 4, "maxItems": 4},
                    "score": _NUMBER,
                    "landmarks": {"type": "array", "items": {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": 2}},
                    "quality": {"type": "object"},
                    "crop": {"type": "string", "minLength": 1, "maxLength": MAX_CROP_BASE64},
                    "crop_key": {"type": "string", "pattern": CROP_KEY_PATTERN},
                },
                "anyOf": [{"required": ["crop"]}, {"required": ["crop_key"]}],
            },
        },
    },
}
# compiled once at INIT: Powertools' validate() compiles the schema on every call (measured 1.5 ms
# a call for a small schema); fastjsonschema is the validator it uses underneath
_validate_request = fastjsonschema.compile(REQUEST_MESSAGE_SCHEMA)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} does not fit a double")
    return value


def load_json(body: str | bytes, what: str = "message") -> Any:
    """Untrusted JSON text -> Python values; ``InvalidMessageError`` for anything that is not JSON.

    Nesting deeper than the interpreter's recursion limit (``[[[[…`` 200 000 deep) raises
    ``RecursionError`` inside ``json.loads``: that is bad input too, not a crash. ``NaN``,
    ``Infinity`` and numbers beyond a double are refused: they are not JSON, and would come
    back out of ``json.dumps`` as such.
    """
    try:
        return json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise InvalidMessageError(f"{what} is nested too deeply to be a facepipe message") from None
    except (TypeError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise InvalidMessageError(f"{what} is not JSON: {exc}") from None


def parse_request_message(body: str | bytes) -> RequestMessage:
    """Validate a request-queue message against ``REQUEST_MESSAGE_SCHEMA``; ``InvalidMessageError`` says what is wrong."""
    return validate_request_message(load_json(body, "request message"))


def validate_request_message(message: Any) -> RequestMessage:
    """A parsed request message checked against ``REQUEST_MESSAGE_SCHEMA`` (``source`` defaulted)."""
    try:
        _validate_request(message)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise InvalidMessageError(f"request message: {exc.message}") from None
    except RecursionError:
        raise InvalidMessageError("request message is nested too deeply") from None
    message.setdefault("source", "default")
    return cast(RequestMessage, message)
