"""frames (function URL request -> request message, docs/contracts.md): validating function URL requests,
and FrameProcessor on moto with the real MTCNN."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Callable

import pytest
from PIL import Image

from facepipe import frames as frames_module
from facepipe.embedding import load_cropper
from facepipe.events import FrameRequest, parse_frame_request
from facepipe.exceptions import ConfigurationError, InvalidRequestError
from facepipe.frames import FrameProcessor
from facepipe.messages import MESSAGE_VERSION, parse_request_message
from facepipe.settings import Settings
from facepipe.storage import claim_check_key
from helpers import BAD_REQUESTS, PLAIN_JPEG, REQUEST_ID, Bad, b64, drain, drained, encode, frame_body, url_event

CROP_SIZES = {"dlib-resnet": 150, "facenet-vggface2": 160}


def refusal(event: dict, settings: Settings) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        parse_frame_request(event, settings)
    return caught.value


# --------------------------------------------------------------------------- parse_frame_request: refusals


@pytest.mark.parametrize("bad", BAD_REQUESTS)
def test_parse_frame_request_bad_input_refused_with_code_and_status(bad: Bad) -> None:
    # GIVEN a function URL event that breaks the request contract
    event = bad.event()
    # WHEN it is parsed
    error = refusal(event, Settings())
    # THEN it is refused with the stable code and HTTP status, a message, and the request_id only when valid
    assert (error.code, error.status) == (bad.code, bad.status)
    assert isinstance(error.message, str)
    assert error.message
    assert error.request_id == bad.request_id


def test_parse_frame_request_body_over_configured_limit_is_413() -> None:
    # GIVEN MAX_BODY_BYTES=2048 and a valid request whose body is just over it
    settings = Settings(max_body_bytes=2048)
    body = json.dumps(frame_body(filename="f.jpg", content=b64(b"x" * 2000)))
    assert len(body) > 2048
    # WHEN it is parsed
    error = refusal(url_event(body), settings)
    # THEN it is body_too_large (413), before anything is decoded
    assert (error.code, error.status) == ("body_too_large", 413)


def test_parse_frame_request_image_over_configured_pixels_is_413() -> None:
    # GIVEN MAX_IMAGE_PIXELS=10000 and a real 200x100 image
    settings = Settings(max_image_pixels=10_000)
    event = url_event(frame_body(encode(Image.new("RGB", (200, 100)), "PNG")))
    # WHEN / THEN it is image_too_large (413), echoing the request_id
    error = refusal(event, settings)
    assert (error.code, error.status, error.request_id) == ("image_too_large", 413, REQUEST_ID)


# --------------------------------------------------------------------------- parse_frame_request: accepted


def test_parse_frame_request_valid_json_body(grace_hopper_bytes: bytes) -> None:
    # GIVEN a valid function URL request with only the required fields
    event = url_event(frame_body(grace_hopper_bytes, filename="test_00.jpg"))
    # WHEN it is parsed
    request = parse_frame_request(event, Settings())
    # THEN every field is carried, with the documented defaults
    assert isinstance(request, FrameRequest)
    assert (request.request_id, request.filename, request.source, request.captured_at) == (
        REQUEST_ID,
        "test_00.jpg",
        "default",
        None,
    )
    assert (request.image.mode, request.image.size) == ("RGB", (512, 600))
    assert request.image_bytes == len(grace_hopper_bytes)


def test_parse_frame_request_base64_encoded_body_accepted() -> None:
    # GIVEN the same body sent base64-encoded (isBase64Encoded: true)
    event = url_event(frame_body(), base64_body=True)
    assert event["isBase64Encoded"] is True
    assert not event["body"].startswith("{")
    # WHEN it is parsed
    request = parse_frame_request(event, Settings())
    # THEN it is read like a plain JSON body
    assert (request.request_id, request.image.size) == (REQUEST_ID, (64, 48))


@pytest.mark.parametrize("captured_at", ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123+02:00", "2026-01-02"])
def test_parse_frame_request_optional_fields_accepted(captured_at: str) -> None:
    # GIVEN a request with source and an ISO-8601 captured_at
    event = url_event(frame_body(source="site-3/door:north_1", captured_at=captured_at))
    # WHEN it is parsed
    request = parse_frame_request(event, Settings())
    # THEN both are carried as sent
    assert (request.source, request.captured_at) == ("site-3/door:north_1", captured_at)


def test_parse_frame_request_longest_request_id_and_wrapped_base64_accepted() -> None:
    # GIVEN a 128-character request_id (the limit) and content wrapped at 76 columns like MIME base64
    content = base64.encodebytes(PLAIN_JPEG).decode()
    assert "\n" in content
    event = url_event(frame_body(request_id="r" * 128, content=content))
    # WHEN / THEN it is accepted
    request = parse_frame_request(event, Settings())
    assert request.request_id == "r" * 128
    assert request.image_bytes == len(PLAIN_JPEG)


def test_parse_frame_request_captured_at_number_refused() -> None:
    # GIVEN captured_at sent as a JSON number instead of an ISO-8601 string
    event = url_event(frame_body(captured_at=20240101))
    # WHEN / THEN it is refused as invalid_field
    error = refusal(event, Settings())
    assert (error.code, error.request_id) == ("invalid_field", REQUEST_ID)


# --------------------------------------------------------------------------- FrameProcessor (moto + real MTCNN)


@pytest.fixture(scope="session")
def croppers() -> dict[str, object]:
    return {model: load_cropper(model) for model in CROP_SIZES}


@pytest.fixture
def processor(aws, settings: Settings, detector, croppers) -> Callable[..., FrameProcessor]:
    """Factory: ``processor(model="dlib-resnet")`` -> FrameProcessor on moto clients."""

    def make(model: str = "dlib-resnet") -> FrameProcessor:
        return FrameProcessor(settings, detector, croppers[model], sqs=aws.client("sqs"), s3=aws.client("s3"))

    return make


@pytest.fixture
def frame(settings: Settings) -> Callable[..., FrameRequest]:
    """Factory: ``frame(image_bytes, **fields)`` -> a FrameRequest parsed from a real function URL event."""

    def make(image: bytes, **fields: object) -> FrameRequest:
        return parse_frame_request(url_event(frame_body(image, **fields)), settings)

    return make


def bodies(aws, url: str) -> list[dict]:
    return drained(aws.client("sqs"), url)


def jpeg_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    canvas = Image.new("RGB", (left.width + right.width, max(left.height, right.height)), (200, 200, 200))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 0))
    return canvas


def assert_box_inside(box: list[float], width: int, height: int) -> None:
    x1, y1, x2, y2 = box
    assert 0 <= x1 < x2 <= width
    assert 0 <= y1 < y2 <= height


@pytest.mark.parametrize("model", list(CROP_SIZES))
def test_frame_processor_one_face_queues_request_message(
    aws, resources, processor, frame, croppers, grace_hopper_bytes: bytes, model: str
) -> None:
    # GIVEN a frame with one face, a source and a capture time
    request = frame(grace_hopper_bytes, filename="hopper.jpg", source="cam-1", captured_at="2026-01-02T03:04:05Z")
    before = dt.datetime.now(dt.UTC)
    # WHEN it is processed
    reply = processor(model).process(request)
    # THEN the caller is told one face was queued
    assert reply == {"request_id": REQUEST_ID, "faces": 1, "status": "queued"}
    # AND exactly one request message is on the request queue, none on the response queue
    [message] = bodies(aws, resources.request_queue_url)
    assert bodies(aws, resources.response_queue_url) == []
    assert message["v"] == MESSAGE_VERSION == 1
    assert (message["request_id"], message["filename"], message["source"]) == (REQUEST_ID, "hopper.jpg", "cam-1")
    assert message["captured_at"] == "2026-01-02T03:04:05Z"
    received = dt.datetime.fromisoformat(message["received_at"].replace("Z", "+00:00"))
    assert before - dt.timedelta(seconds=1) <= received <= dt.datetime.now(dt.UTC)
    assert {k: message["image"][k] for k in ("width", "height")} == {"width": 512, "height": 600}
    assert message["preprocessing"] == croppers[model].preprocessing
    [face] = message["faces"]
    assert face["index"] == 0
    assert_box_inside(face["box"], 512, 600)
    assert face["score"] >= 0.95
    assert len(face["landmarks"]) == 5
    assert all(len(point) == 2 for point in face["landmarks"])
    x1, y1, x2, y2 = face["box"]
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face["landmarks"])  # eyes, nose, mouth inside the face
    assert "crop_key" not in face
    crop = jpeg_of(base64.b64decode(face["crop"], validate=True))
    assert crop.size == (CROP_SIZES[model], CROP_SIZES[model]) == (croppers[model].crop_size,) * 2
    # AND the recognition side's parser accepts it
    assert parse_request_message(json.dumps(message))["request_id"] == REQUEST_ID


def test_frame_processor_no_face_answers_empty_result(aws, resources, processor, frame) -> None:
    # GIVEN a plain-colour frame
    request = frame(encode(Image.new("RGB", (640, 480), (30, 160, 90)), "PNG"), filename="wall.png")
    # WHEN it is processed
    reply = processor().process(request)
    # THEN detection answers it itself: one response with an empty result, nothing for recognition
    assert reply == {"request_id": REQUEST_ID, "faces": 0, "status": "queued"}
    assert bodies(aws, resources.request_queue_url) == []
    [answer] = bodies(aws, resources.response_queue_url)
    assert answer["request_id"] == REQUEST_ID
    assert answer["result"] == ""
    assert answer["faces"] == []
    assert answer["filename"] == "wall.png"


def test_frame_processor_two_faces_ordered_left_to_right(aws, resources, processor, frame, grace_hopper) -> None:
    # GIVEN a frame with the portrait twice, side by side (the right one mirrored)
    canvas = side_by_side(grace_hopper, grace_hopper.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    # WHEN it is processed
    reply = processor().process(frame(encode(canvas, "JPEG", quality=92)))
    # THEN one message carries both faces, indexed 0, 1 from left to right
    assert reply["faces"] == 2
    [message] = bodies(aws, resources.request_queue_url)
    assert {k: message["image"][k] for k in ("width", "height")} == {"width": 1024, "height": 600}
    faces = message["faces"]
    assert [f["index"] for f in faces] == [0, 1]
    centres = [(f["box"][0] + f["box"][2]) / 2 for f in faces]
    assert centres[0] < 512 < centres[1]


def test_frame_processor_exif_rotated_frame_is_detected_upright(aws, resources, processor, frame, grace_hopper) -> None:
    # GIVEN the portrait stored sideways with EXIF Orientation=6 (a phone held on its side)
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = grace_hopper.transpose(Image.Transpose.ROTATE_90)
    assert sideways.size == (600, 512)
    # WHEN it is processed
    reply = processor().process(frame(encode(sideways, "JPEG", quality=92, exif=exif)))
    # THEN the face is found and the message describes the upright frame
    assert reply["faces"] == 1
    [message] = bodies(aws, resources.request_queue_url)
    assert {k: message["image"][k] for k in ("width", "height")} == {"width": 512, "height": 600}
    assert_box_inside(message["faces"][0]["box"], 512, 600)


@pytest.mark.parametrize("model", list(CROP_SIZES))
def test_frame_processor_large_message_claim_checks_crops_to_s3(
    aws, resources, processor, frame, grace_hopper, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    # GIVEN a message limit far below one crop's size, and a frame with two faces
    monkeypatch.setattr(frames_module, "MAX_MESSAGE_BYTES", 2000)
    canvas = side_by_side(grace_hopper, grace_hopper.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    # WHEN it is processed
    reply = processor(model).process(frame(encode(canvas, "JPEG", quality=92)))
    # THEN the queued message carries S3 keys instead of crops, and fits the limit
    assert reply["faces"] == 2
    [raw] = drain(aws.client("sqs"), resources.request_queue_url)
    assert len(raw["Body"].encode()) <= 2000
    message = json.loads(raw["Body"])
    digest = message["image"].get("sha256", "")
    assert [f.get("crop_key") for f in message["faces"]] == [claim_check_key(message["source"], REQUEST_ID, digest, i) for i in (0, 1)]
    assert all("crop" not in f for f in message["faces"])
    parse_request_message(raw["Body"])  # still a valid request message
    # AND each key holds a JPEG crop of the model's size
    s3 = aws.client("s3")
    for face in message["faces"]:
        stored = s3.get_object(Bucket=resources.bucket, Key=face["crop_key"])
        assert stored["ContentType"] == "image/jpeg"
        crop = jpeg_of(stored["Body"].read())
        assert (crop.mode, crop.size) == ("RGB", (CROP_SIZES[model],) * 2)
    assert bodies(aws, resources.response_queue_url) == []


def test_frame_processor_small_message_writes_nothing_to_s3(aws, resources, processor, frame, grace_hopper_bytes) -> None:
    # GIVEN the default SQS limit and a one-face frame
    # WHEN it is processed
    processor().process(frame(grace_hopper_bytes))
    # THEN no crop goes to S3 (the crop travels inline)
    listed = aws.client("s3").list_objects_v2(Bucket=resources.bucket, Prefix="crops/")
    assert listed.get("KeyCount", 0) == 0
    [message] = bodies(aws, resources.request_queue_url)
    assert "crop" in message["faces"][0]


def test_frame_processor_without_queue_urls_fails_at_construction(detector, croppers) -> None:
    # GIVEN settings without REQUEST_QUEUE_URL / RESPONSE_QUEUE_URL
    # WHEN / THEN building the processor fails clearly, before any request
    with pytest.raises(ConfigurationError, match="REQUEST_QUEUE_URL"):
        FrameProcessor(Settings(), detector, croppers["dlib-resnet"])
