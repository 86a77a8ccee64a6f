"""Queue messages at the validation layer (facepipe.events.parse_queue_message): request-queue
messages and photo-queue messages (docs/contracts.md; S3 events and seed 000's form). For any body the
result is a valid message or InvalidMessageError (dead-letter with its reason), never another
exception, and validation makes no AWS call. Crops of accepted messages go through
facepipe.images.open_crop the same way. Profiles and strategies: tests/fuzzing.py."""

from __future__ import annotations

import base64
import binascii
import json
import string
from typing import Any

import pytest
from botocore.client import BaseClient
from fuzzing import FUZZ, IMAGES, deep_json, fuzz, json_values, mutated_images, odd_json
from hypothesis import strategies as st
from PIL import Image

from facepipe.events import BUCKET, PhotoRef, parse_queue_message
from facepipe.exceptions import InvalidMessageError, InvalidRequestError
from facepipe.images import decode_base64, open_crop
from facepipe.messages import CROP_KEY_PATTERN, REQUEST_ID_PATTERN, parse_request_message
from helpers import encode

CROP = encode(Image.new("RGB", (150, 150), (120, 100, 90)), "JPEG")


@pytest.fixture(autouse=True)
def no_aws_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation sends nothing and reads nothing: any botocore call fails the test."""

    def refuse(self: Any, operation: str, params: Any) -> None:
        raise AssertionError(f"validation made an AWS call: {operation}")

    monkeypatch.setattr(BaseClient, "_make_api_call", refuse)


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 200_000 + "]" * 200_000, id="list-200000-deep"),
        pytest.param('{"a":' * 200_000 + "1" + "}" * 200_000, id="object-200000-deep"),
        pytest.param('{"Records": ' + "[" * 200_000 + "]" * 200_000 + "}", id="records-200000-deep"),
        pytest.param('{"v": 1, "faces": [' + "[" * 100_000 + "]" * 100_000 + "]}", id="faces-100000-deep"),
        pytest.param('{"v": 1, "request_id": NaN}', id="nan"),
        pytest.param('{"bucketName": "facepipe-photos", "objectKey": 1e999}', id="number-beyond-double"),
    ],
)
def test_parse_queue_message_hostile_json_is_an_invalid_message(body: str) -> None:
    with pytest.raises(InvalidMessageError):
        parse_queue_message(body)


@pytest.mark.parametrize("body", ["[" * 200_000, "[" * 200_000 + "]" * 200_000])
def test_parse_request_message_nested_too_deep_is_an_invalid_message(body: str) -> None:
    with pytest.raises(InvalidMessageError, match="nested too deeply"):
        parse_request_message(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param({"bucketName": 7, "objectKey": "photos/a.jpg"}, "bucketName", id="bucket-number"),
        pytest.param({"bucketName": "", "objectKey": "photos/a.jpg"}, "bucket name", id="bucket-empty"),
        pytest.param({"bucketName": "Bad_Bucket", "objectKey": "photos/a.jpg"}, "bucket name", id="bucket-invalid"),
        pytest.param({"bucketName": "facepipe-photos", "objectKey": ""}, "object key", id="key-empty"),
        pytest.param({"bucketName": "facepipe-photos", "objectKey": "k" * 1025}, "object key", id="key-too-long"),
        pytest.param({"bucketName": "facepipe-photos", "objectKey": "a\nb"}, "control characters", id="key-newline"),
        pytest.param({"Records": [{"s3": {"bucket": {"name": 7}, "object": {"key": "k"}}}]}, "bucket name", id="record-bucket-number"),
        pytest.param({"Records": [{"s3": {"bucket": {"name": "facepipe-photos"}, "object": {"key": 7}}}]}, "lacks", id="record-key-number"),
        pytest.param(
            {"Records": [{"s3": {"bucket": {"name": "facepipe-photos"}, "object": {"key": "k", "versionId": 3}}}]},
            "versionId",
            id="record-version-number",
        ),
    ],
)
def test_photo_message_with_names_s3_would_refuse_is_an_invalid_message(body: dict, reason: str) -> None:
    # A name S3 refuses would fail as a parameter error, retried until the DLQ without a reason
    with pytest.raises(InvalidMessageError, match=reason):
        parse_queue_message(json.dumps(body))


@pytest.mark.parametrize(
    "face",
    [
        pytest.param({"index": 0, "box": [0, 0, 1, 1], "crop_key": "photos/someone-else.jpg"}, id="crop-key-outside-crops"),
        pytest.param({"index": 0, "box": [0, 0, 1, 1], "crop_key": "crops/../faces/x.jpg"}, id="crop-key-dot-dot"),
        pytest.param({"index": 0, "box": [0, 0, 1, 1], "crop": ""}, id="crop-empty"),
    ],
)
def test_request_message_crop_references_are_checked(face: dict) -> None:
    message = {"v": 1, "request_id": "r1", "filename": "f.jpg", "preprocessing": "p", "faces": [face]}
    with pytest.raises(InvalidMessageError):
        parse_queue_message(json.dumps(message))


# --------------------------------------------------------------------------- strategies

buckets = st.one_of(st.sampled_from(["facepipe-photos-local", "my.bucket-1"]), st.text(max_size=70), json_values)
keys = st.one_of(st.sampled_from(["photos/a.jpg", "photos/b%20c.jpg", "photos/+x"]), st.text(max_size=80), json_values)


@st.composite
def s3_records(draw: st.DrawFn) -> Any:
    obj: dict[str, Any] = {"key": draw(keys)}
    for name in ("versionId", "eTag", "size"):
        if draw(st.booleans()):
            obj[name] = draw(st.one_of(st.text(max_size=30), json_values))
    record: dict[str, Any] = {
        "eventSource": "aws:s3",
        "eventName": draw(st.sampled_from(["ObjectCreated:Put", "ObjectCreated:CompleteMultipartUpload", "ObjectRemoved:Delete"])),
        "s3": {"bucket": {"name": draw(buckets)}, "object": obj},
    }
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(json_values)  # a record of any shape
    if shape == 1:
        record["s3"] = draw(json_values)
    if shape == 2:
        record["s3"]["object"] = draw(json_values)
    return record


photo_bodies = st.one_of(
    st.builds(lambda records: {"Records": records}, st.lists(s3_records(), max_size=4)),
    st.builds(lambda bucket, key: {"bucketName": bucket, "objectKey": key}, buckets, keys),
    st.fixed_dictionaries(
        {}, optional={"bucketName": buckets, "objectKey": keys, "Records": json_values, "Event": st.just("s3:TestEvent")}
    ),
).map(json.dumps)
photo_texts = st.one_of(photo_bodies, deep_json.map(lambda text: '{"Records": ' + text + "}"), odd_json, st.text(max_size=100))

numbers = st.one_of(st.integers(-5, 5000), st.floats(allow_nan=False, allow_infinity=False), json_values)
crops = st.one_of(
    st.just(base64.b64encode(CROP).decode()),
    st.sampled_from(IMAGES).map(lambda b: base64.b64encode(b).decode()),
    mutated_images.map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=40),
    json_values,
)


@st.composite
def faces(draw: st.DrawFn) -> Any:
    face: dict[str, Any] = {
        "index": draw(st.one_of(st.integers(0, 100), numbers)),
        "box": draw(st.one_of(st.lists(st.floats(0, 500), min_size=4, max_size=4), st.lists(numbers, max_size=6), json_values)),
        "score": draw(numbers),
        "landmarks": draw(st.one_of(st.lists(st.lists(st.floats(0, 500), min_size=2, max_size=2), max_size=5), json_values)),
    }
    which = draw(st.integers(0, 3))
    if which in (0, 2):
        face["crop"] = draw(crops)
    if which in (1, 2):
        face["crop_key"] = draw(st.one_of(st.just("crops/r1/0.jpg"), st.text(max_size=40), json_values))
    if draw(st.integers(0, 9)) == 0:
        del face[draw(st.sampled_from(sorted(face)))]
    if draw(st.integers(0, 9)) == 0:
        face["quality"] = draw(json_values)
    return face if draw(st.integers(0, 19)) else draw(json_values)


@st.composite
def request_messages(draw: st.DrawFn) -> Any:
    message: dict[str, Any] = {
        "v": draw(st.one_of(st.just(1), json_values)),
        "request_id": draw(
            st.one_of(st.text(string.ascii_letters + string.digits + "._:-", min_size=1, max_size=130), st.text(max_size=20), json_values)
        ),
        "filename": draw(st.one_of(st.just("f.jpg"), st.text(max_size=30), json_values)),
        "source": draw(st.one_of(st.just("door"), json_values)),
        "received_at": "2026-01-01T00:00:00Z",
        "image": draw(st.one_of(st.just({"width": 640, "height": 480}), json_values)),
        "preprocessing": draw(st.one_of(st.just("dlib-150-v1"), json_values)),
        "faces": draw(st.one_of(st.lists(faces(), max_size=4), json_values)),
    }
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(sorted(message)))
        if draw(st.booleans()):
            del message[name]
    return message


@st.composite
def nearly_valid_request_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request message (inline crops or claim checks) with at most one part replaced by anything."""
    count = draw(st.integers(0, 3))
    face_list: list[Any] = []
    for index in range(count):
        face: dict[str, Any] = {"index": index, "box": [10.0, 10.0, 60.0, 70.0], "score": 0.99, "landmarks": [[20.0, 30.0]] * 5}
        if draw(st.booleans()):
            face["crop"] = draw(crops) if draw(st.integers(0, 3)) == 0 else base64.b64encode(CROP).decode()
        else:
            face["crop_key"] = f"crops/r1/{index}.jpg"
        face_list.append(face)
    message: dict[str, Any] = {
        "v": 1,
        "request_id": draw(st.text(string.ascii_letters + string.digits + "._:-", min_size=1, max_size=128)),
        "filename": "f.jpg",
        "source": "door",
        "received_at": "2026-01-01T00:00:00Z",
        "image": {"width": 640, "height": 480},
        "preprocessing": "dlib-150-v1",
        "faces": face_list,
    }
    if draw(st.booleans()):
        target = draw(st.sampled_from([*sorted(message), *(["face"] if face_list else [])]))
        if target == "face":
            face = draw(st.sampled_from(face_list))
            face[draw(st.sampled_from(["index", "box", "score", "landmarks", "crop", "crop_key"]))] = draw(json_values)
        else:
            message[target] = draw(json_values)
    return message


request_texts = st.one_of(
    request_messages().map(json.dumps),
    nearly_valid_request_messages().map(json.dumps),
    deep_json,
    odd_json,
    json_values.map(json.dumps),
    st.text(max_size=100),
)


# --------------------------------------------------------------------------- properties


def _valid_photo(ref: PhotoRef) -> None:
    assert isinstance(ref.bucket, str)
    assert BUCKET.fullmatch(ref.bucket)
    assert isinstance(ref.key, str)
    assert ref.key
    assert isinstance(ref.version_id, str)
    assert isinstance(ref.etag, str)
    assert isinstance(ref.request_id, str)


def test_fuzz_photo_queue_messages_are_valid_or_invalid_message() -> None:
    seen = {"photos": 0, "refused": 0}

    def photo_queue_message(body: str) -> None:
        try:
            parsed = parse_queue_message(body)
        except InvalidMessageError as exc:
            parsed, reason = None, str(exc)
        if parsed is None:
            seen["refused"] += 1
            assert reason  # a dead letter says why
            return
        if isinstance(parsed, list):
            seen["photos"] += 1
            for ref in parsed:
                _valid_photo(ref)

    assert fuzz(photo_texts, photo_queue_message) >= FUZZ.max_examples
    print(f"photo_queue_message: {seen}")
    assert seen["photos"] > 0
    assert seen["refused"] > 0


def test_fuzz_request_queue_messages_are_valid_or_invalid_message() -> None:
    seen = {"requests": 0, "refused": 0, "crops": 0}

    def request_queue_message(body: str) -> None:
        try:
            parsed = parse_queue_message(body)
        except InvalidMessageError as exc:
            parsed, reason = None, str(exc)
        if parsed is None:
            seen["refused"] += 1
            assert reason  # a dead letter says why
            return
        if isinstance(parsed, list):  # a request-shaped text that is a photo message after all
            return
        seen["requests"] += 1
        import re

        assert re.fullmatch(REQUEST_ID_PATTERN.strip("^$"), parsed["request_id"])
        for face in parsed["faces"]:
            assert "crop" in face or "crop_key" in face
            if "crop_key" in face:
                assert re.fullmatch(CROP_KEY_PATTERN.strip("^$"), face["crop_key"])
            if "crop" in face:
                # what recognition does with an inline crop: base64, then open_crop; only message errors
                try:
                    open_crop(decode_base64(face["crop"], "crop"), 150)
                    seen["crops"] += 1
                except (InvalidMessageError, InvalidRequestError):
                    pass
                except binascii.Error as exc:  # pragma: no cover - decode_base64 wraps it
                    raise AssertionError(exc) from exc

    assert fuzz(request_texts, request_queue_message) >= FUZZ.max_examples
    print(f"request_queue_message: {seen}")
    assert seen["requests"] > 0
    assert seen["refused"] > 0
