"""Wire formats between the functions and the client (§1.2, §1.3), as TypedDicts with builders/parsers."""

from __future__ import annotations

import json
from typing import NotRequired, TypedDict

from facepipe.exceptions import InvalidMessageError

MESSAGE_VERSION = 1
#: SQS's classic 256 KiB limit, less room for attributes; above it crops go to S3 (claim check)
MAX_MESSAGE_BYTES = 250 * 1024


class FaceEntry(TypedDict):
    index: int
    box: list[float]
    score: float
    landmarks: list[list[float]]
    quality: NotRequired[dict[str, float | str]]  # facepipe.quality.FaceQuality.as_dict(), measured on the frame
    crop: NotRequired[str]  # base64 JPEG
    crop_key: NotRequired[str]  # S3 key of the JPEG when the message would be too large


class RequestMessage(TypedDict):
    v: int
    request_id: str
    filename: str
    source: str
    received_at: str
    image: dict[str, int]
    preprocessing: str
    faces: list[FaceEntry]
    captured_at: NotRequired[str]


class FaceResult(TypedDict):
    index: int
    box: list[float]
    person_id: str | None  # None: too poor to place with confidence and matching nobody (§1.3)
    name: str  # "" when person_id is None
    similarity: float
    new_person: bool
    quality: NotRequired[dict[str, float | str]]


class ResponseMessage(TypedDict):
    request_id: str
    result: str
    filename: str
    faces: list[FaceResult]


UNKNOWN = "unknown"


def result_string(faces: list[FaceResult]) -> str:
    """Names left to right, joined by ", " (the seed client's ``result``); a face placed with
    nobody contributes ``unknown``."""
    ordered = sorted(faces, key=lambda f: ((f["box"][0] + f["box"][2]) / 2, f["index"]))
    return ", ".join(f["name"] if f["person_id"] else UNKNOWN for f in ordered)


def response_message(request_id: str, filename: str, faces: list[FaceResult]) -> ResponseMessage:
    return {"request_id": request_id, "result": result_string(faces), "filename": filename, "faces": faces}


def encode(message: object) -> str:
    return json.dumps(message, separators=(",", ":"))


def parse_request_message(body: str) -> RequestMessage:
    """Validate a request-queue message; ``InvalidMessageError`` says what is wrong."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise InvalidMessageError(f"request message is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise InvalidMessageError("request message is not a JSON object")
    if message.get("v") != MESSAGE_VERSION:
        raise InvalidMessageError(f"request message version {message.get('v')!r} is not {MESSAGE_VERSION}")
    for key, kind in (("request_id", str), ("filename", str), ("faces", list), ("preprocessing", str)):
        if not isinstance(message.get(key), kind):
            raise InvalidMessageError(f"request message field {key!r} is missing or not a {kind.__name__}")
    for position, face in enumerate(message["faces"]):
        if not isinstance(face, dict) or not isinstance(face.get("index"), int) or not isinstance(face.get("box"), list):
            raise InvalidMessageError(f"face {position} lacks an integer 'index' or a 'box'")
        if not isinstance(face.get("crop"), str) and not isinstance(face.get("crop_key"), str):
            raise InvalidMessageError(f"face {position} has neither 'crop' nor 'crop_key'")
        if "quality" in face and not isinstance(face["quality"], dict):
            raise InvalidMessageError(f"face {position}: 'quality' is not an object")
    message.setdefault("source", "default")
    return message  # type: ignore[return-value]
