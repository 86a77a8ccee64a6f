"""face-detection handler (docs/contracts.md: Request, Entry points and names): the real handler module,
invoked like Lambda, on moto with the real MTCNN."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from botocore.exceptions import EndpointConnectionError
from PIL import Image

from facepipe.runtime import detection_runtime
from facepipe_tools.local.context import LambdaContext
from facepipe_tools.local.handlers import load_handler
from helpers import BAD_REQUESTS, REQUEST_ID, Bad, cold_start, drained, encode, frame_body, function_environment, handmade_png, url_event

SECRET_DETAIL = "boom: connection to sqs.internal:4566 refused"


# --------------------------------------------------------------------------- factories


@pytest.fixture
def detection_handler(aws, resources, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """``lambdas/face_detection/handler.py`` imported like a cold start, configured by env vars for the moto stack."""
    yield cold_start("face_detection", function_environment(resources, VECTOR_BACKEND="local"), monkeypatch)
    detection_runtime.cache_clear()


@pytest.fixture
def invoke(detection_handler: ModuleType) -> Callable[[dict], dict]:
    """Factory: ``invoke(event)`` -> the handler's function URL reply."""

    def call(event: dict) -> dict:
        return detection_handler.handler(event, LambdaContext(function_name="face-detection"))

    return call


@pytest.fixture
def queued(aws, resources) -> Callable[[], tuple[list[dict], list[dict]]]:
    """Factory: ``queued()`` -> (request-queue bodies, response-queue bodies), drained."""

    def read() -> tuple[list[dict], list[dict]]:
        sqs = aws.client("sqs")
        requests = drained(sqs, resources.request_queue_url)
        responses = drained(sqs, resources.response_queue_url)
        return requests, responses

    return read


def json_reply(reply: dict) -> dict:
    assert reply["headers"]["Content-Type"] == "application/json"
    return json.loads(reply["body"])


class FailingSQS:
    """An SQS client whose sends fail like a network fault."""

    def send_message(self, **_: object) -> dict:
        raise EndpointConnectionError(endpoint_url=SECRET_DETAIL)


# --------------------------------------------------------------------------- 200


def test_handler_real_face_is_queued(invoke, queued, grace_hopper_bytes: bytes) -> None:
    # GIVEN a POST of a real one-face portrait
    event = url_event(frame_body(grace_hopper_bytes, filename="hopper.jpg"))
    # WHEN the function URL invokes the handler
    reply = invoke(event)
    # THEN it answers 200 {request_id, faces: 1, status: queued} as JSON
    assert reply["statusCode"] == 200
    assert json_reply(reply) == {"request_id": REQUEST_ID, "faces": 1, "status": "queued"}
    # AND one message with one face waits for recognition, no answer yet
    requests, responses = queued()
    assert [(m["request_id"], m["filename"], len(m["faces"])) for m in requests] == [(REQUEST_ID, "hopper.jpg", 1)]
    assert requests[0]["preprocessing"].startswith("dlib-")  # EMBEDDING_MODEL=dlib-resnet reached the cropper
    assert responses == []


def test_handler_base64_encoded_body_is_queued(invoke, queued, grace_hopper_bytes: bytes) -> None:
    # GIVEN the same request sent with isBase64Encoded
    # WHEN / THEN it is accepted like a plain body
    reply = invoke(url_event(frame_body(grace_hopper_bytes), base64_body=True))
    assert (reply["statusCode"], json_reply(reply)["faces"]) == (200, 1)
    assert len(queued()[0]) == 1


def test_handler_frame_without_face_answers_on_response_queue(invoke, queued) -> None:
    # GIVEN a plain-colour frame
    event = url_event(frame_body(encode(Image.new("RGB", (320, 240), (240, 240, 235)), "JPEG"), filename="wall.jpg"))
    # WHEN it is posted
    reply = invoke(event)
    # THEN the reply counts no face and the client's answer ("") is already queued
    assert reply["statusCode"] == 200
    assert json_reply(reply) == {"request_id": REQUEST_ID, "faces": 0, "status": "queued"}
    requests, responses = queued()
    assert requests == []
    assert [(r["request_id"], r["result"], r["faces"]) for r in responses] == [(REQUEST_ID, "", [])]


# --------------------------------------------------------------------------- 4xx


@pytest.mark.parametrize("bad", BAD_REQUESTS)
def test_handler_bad_input_returns_4xx_and_queues_nothing(invoke, queued, bad: Bad) -> None:
    # GIVEN a request that breaks the request contract
    # WHEN it is posted
    reply = invoke(bad.event())
    # THEN the handler answers its 4xx as JSON {error, message, request_id?}
    assert reply["statusCode"] == bad.status
    assert 400 <= reply["statusCode"] < 500
    body = json_reply(reply)
    assert body["error"] == bad.code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body.get("request_id") == bad.request_id
    assert set(body) <= {"error", "message", "request_id"}
    # AND nothing was sent anywhere
    assert queued() == ([], [])


def test_handler_ten_gigapixel_png_is_413(invoke, queued) -> None:
    # GIVEN a tiny PNG whose header declares 100000x100000
    event = url_event(frame_body(handmade_png(100000, 100000)))
    # WHEN / THEN the reply is 413 image_too_large, and nothing is queued
    reply = invoke(event)
    assert (reply["statusCode"], json_reply(reply)["error"]) == (413, "image_too_large")
    assert queued() == ([], [])


# --------------------------------------------------------------------------- 500


def test_handler_internal_fault_is_500_without_stack_trace(
    detection_handler, invoke, queued, grace_hopper_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a valid frame, and an SQS client that fails on send
    monkeypatch.setattr(detection_handler.runtime.frames, "_sqs", FailingSQS())
    # WHEN it is posted
    reply = invoke(url_event(frame_body(grace_hopper_bytes)))
    # THEN the reply is 500 with the request_id and a generic message: no trace, no internal detail
    assert reply["statusCode"] == 500
    body = json_reply(reply)
    assert body["request_id"] == REQUEST_ID
    assert body["error"] == "internal_error"
    assert "Traceback" not in reply["body"]
    assert "sqs.internal" not in reply["body"]
    assert "EndpointConnectionError" not in reply["body"]
    assert queued() == ([], [])


# --------------------------------------------------------------------------- fixtures (real photos)


@pytest.mark.fixtures
def test_handler_group_photo_faces_ordered_left_to_right(invoke, queued, fixtures_root) -> None:
    # GIVEN the fixture photo of Obama and Biden (three faces)
    photo = (fixtures_root / "test" / "obama_and_biden.jpg").read_bytes()
    # WHEN it is posted
    reply = invoke(url_event(frame_body(photo, filename="obama_and_biden.jpg")))
    # THEN three faces are queued in one message, indexed and ordered left to right by box centre
    assert reply["statusCode"] == 200
    assert json_reply(reply)["faces"] == 3
    [message], responses = queued()
    assert responses == []
    faces = message["faces"]
    assert [f["index"] for f in faces] == [0, 1, 2]
    centres = [(f["box"][0] + f["box"][2]) / 2 for f in faces]
    assert centres == sorted(centres)
    assert len(set(centres)) == 3


def test_handler_retried_post_is_accepted_once(invoke, queued, grace_hopper_bytes) -> None:
    # GIVEN a frame with a face, POSTed twice with the same request_id (a client retry)
    event = url_event(frame_body(grace_hopper_bytes))
    first, second = invoke(event), invoke(event)
    # THEN both replies are the same 200, and only one message was queued
    assert first["statusCode"] == second["statusCode"] == 200
    assert json_reply(first) == json_reply(second)
    requests, responses = queued()
    assert len(requests) == 1
    assert responses == []


def test_handler_request_id_reused_for_another_image_is_409(invoke, queued, grace_hopper_bytes) -> None:
    # GIVEN a request_id already used for one frame
    assert invoke(url_event(frame_body(grace_hopper_bytes)))["statusCode"] == 200
    queued()
    # WHEN the same request_id comes with another image
    other = url_event(frame_body(encode(Image.new("RGB", (64, 48), (10, 200, 10)))))
    reply = invoke(other)
    # THEN it is refused with 409 and nothing more is queued
    assert (reply["statusCode"], json_reply(reply)["error"]) == (409, "request_id_reused")
    assert queued() == ([], [])


@pytest.mark.parametrize("size", [(1, 1), (16, 16), (30, 30), (2000, 50)])
def test_handler_frame_smaller_than_any_face_is_answered_with_no_face(invoke, queued, size):
    """A frame too small for MTCNN's pyramid is no 500: such a frame has zero faces and gets its "" answer."""
    image = encode(Image.new("RGB", size, (120, 110, 100)), "PNG")

    reply = invoke(url_event(frame_body(image, request_id=f"tiny-{size[0]}x{size[1]}")))

    assert reply["statusCode"] == 200, reply
    assert json_reply(reply) == {"request_id": f"tiny-{size[0]}x{size[1]}", "faces": 0, "status": "queued"}
    requests, responses = queued()
    assert requests == []
    assert [(r["request_id"], r["result"]) for r in responses] == [(f"tiny-{size[0]}x{size[1]}", "")]


def test_handler_camera_frame_with_a_20px_face_is_queued_with_its_quality(invoke, queued, grace_hopper, grace_box):
    from facepipe_tools.scenes import camera_frame

    content = encode(camera_frame(grace_hopper, grace_box, 20, 64))
    reply = invoke(url_event(frame_body(content, request_id="cam-64")))

    assert reply["statusCode"] == 200
    assert json_reply(reply)["faces"] == 1
    (request,), _ = queued()
    (face,) = request["faces"]
    assert {k: request["image"][k] for k in ("width", "height")} == {"width": 64, "height": 64}
    assert request["image"]["sha256"] == hashlib.sha256(content).hexdigest()  # recognition keys the face ids on it
    assert 14 <= face["quality"]["size"] <= 28
    assert face["quality"]["band"] == "poor"
    assert set(face["quality"]) == {"size", "score", "sharpness", "yaw", "pitch", "roll", "brightness", "band"}


# --------------------------------------------------------------------------- per-device tokens (auth NONE)

CAMERA_TOKEN = "k3y-for-the-door-camera-0123456789"
TOKENS_PARAMETER = "/facepipe/device-tokens"


@pytest.fixture
def token_handler(aws, resources, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The handler of a public URL: DEVICE_TOKENS_SSM_PARAMETER_NAME names a SecureString of tokens."""
    from aws_lambda_powertools.utilities import parameters

    aws.client("ssm").put_parameter(
        Name=TOKENS_PARAMETER, Type="SecureString", Value=json.dumps({"door": CAMERA_TOKEN, "yard": "another-device-token-abcdefgh"})
    )
    for name, value in {
        "REQUEST_QUEUE_URL": resources.request_queue_url,
        "RESPONSE_QUEUE_URL": resources.response_queue_url,
        "DDB_TABLE_NAME": resources.table,
        "S3_BUCKET_NAME": resources.bucket,
        "EMBEDDING_MODEL": "dlib-resnet",
        "DEVICE_TOKENS_SSM_PARAMETER_NAME": TOKENS_PARAMETER,
    }.items():
        monkeypatch.setenv(name, value)
    parameters.clear_caches()
    detection_runtime.cache_clear()
    yield load_handler("face_detection")
    detection_runtime.cache_clear()
    parameters.clear_caches()


def with_token(event: dict, token: str | None) -> dict:
    if token is not None:
        event["headers"]["x-facepipe-token"] = token
    return event


@pytest.mark.parametrize(
    ("source", "token", "status", "code"),
    [
        pytest.param("door", None, 401, "missing_token", id="no-token"),
        pytest.param("door", "", 401, "missing_token", id="empty-token"),
        pytest.param("door", CAMERA_TOKEN[:-1], 403, "invalid_token", id="token-one-char-short"),
        pytest.param("door", "another-device-token-abcdefgh", 403, "invalid_token", id="another-devices-token"),
        pytest.param("garage", CAMERA_TOKEN, 403, "invalid_token", id="unknown-source"),
        pytest.param("default", CAMERA_TOKEN, 403, "invalid_token", id="no-source-field"),
    ],
)
def test_handler_with_device_tokens_refuses_without_the_sources_token(
    token_handler, queued, grace_hopper_bytes: bytes, source: str, token: str | None, status: int, code: str
) -> None:
    # GIVEN a public URL with per-device tokens, and a frame whose token does not fit its source
    body = frame_body(grace_hopper_bytes) if source == "default" else frame_body(grace_hopper_bytes, source=source)
    # WHEN it is posted
    reply = token_handler.handler(with_token(url_event(body), token), LambdaContext())
    # THEN it is refused (401 without a token, 403 with a wrong one) and nothing is sent
    assert (reply["statusCode"], json_reply(reply)["error"]) == (status, code)
    assert json_reply(reply)["request_id"] == REQUEST_ID
    assert queued() == ([], [])


def test_handler_with_device_tokens_accepts_the_sources_token(token_handler, queued, grace_hopper_bytes: bytes) -> None:
    # GIVEN the door camera's frame with its token
    event = with_token(url_event(frame_body(grace_hopper_bytes, source="door")), CAMERA_TOKEN)
    # WHEN / THEN it is queued
    reply = token_handler.handler(event, LambdaContext())
    assert (reply["statusCode"], json_reply(reply)["faces"]) == (200, 1)
    assert len(queued()[0]) == 1


def test_handler_with_device_tokens_checks_the_token_before_decoding(token_handler, queued, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a frame without a token whose image would be a 10-gigapixel bomb
    decoded: list[bytes] = []
    monkeypatch.setattr("facepipe.events.open_image", lambda data, limit: decoded.append(data))
    reply = token_handler.handler(url_event(frame_body(handmade_png(100000, 100000), source="door")), LambdaContext())
    # THEN the refusal is 401, and the image was never looked at
    assert reply["statusCode"] == 401
    assert decoded == []


def test_device_tokens_compare_in_constant_time(aws, monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    from facepipe import access
    from facepipe.exceptions import InvalidRequestError

    # GIVEN a tokens parameter, and a spy on hmac.compare_digest
    ssm = aws.client("ssm")
    ssm.put_parameter(Name=TOKENS_PARAMETER, Type="SecureString", Value=json.dumps({"door": CAMERA_TOKEN}))
    parameters.clear_caches()
    compared: list[tuple[bytes, bytes]] = []
    real = access.hmac.compare_digest
    monkeypatch.setattr(access.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    tokens = access.DeviceTokens(TOKENS_PARAMETER, ssm)
    # WHEN a right and a wrong token are checked, and one of a source that has none
    tokens.verify("door", CAMERA_TOKEN)
    for source, token in (("door", "x" * len(CAMERA_TOKEN)), ("garage", CAMERA_TOKEN)):
        with pytest.raises(InvalidRequestError):
            tokens.verify(source, token)
    # THEN every check went through compare_digest (the unknown source too)
    assert len(compared) == 3
    assert compared[0] == (CAMERA_TOKEN.encode(), CAMERA_TOKEN.encode())


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("{}", id="no-device"),
        pytest.param('["door"]', id="a-list"),
        pytest.param('{"door": "short"}', id="token-too-short"),
        pytest.param('{"door": 12345678901234567890123}', id="token-not-a-string"),
    ],
)
def test_device_tokens_malformed_parameter_fails_at_init(aws, value: str) -> None:
    from aws_lambda_powertools.utilities import parameters

    from facepipe.access import DeviceTokens
    from facepipe.exceptions import ConfigurationError

    ssm = aws.client("ssm")
    ssm.put_parameter(Name=TOKENS_PARAMETER, Type="SecureString", Value=value)
    parameters.clear_caches()
    with pytest.raises(ConfigurationError, match=TOKENS_PARAMETER):
        DeviceTokens(TOKENS_PARAMETER, ssm)


def test_device_tokens_missing_parameter_fails_at_init(aws) -> None:
    from facepipe.access import DeviceTokens
    from facepipe.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="cannot read the device tokens"):
        DeviceTokens("/facepipe/nowhere", aws.client("ssm"))


def test_local_stack_honours_device_tokens_through_the_same_setting(aws, resources) -> None:
    from aws_lambda_powertools.utilities import parameters

    from facepipe.access import DEFAULT_TOKENS_PARAMETER, DeviceTokens
    from facepipe.exceptions import ConfigurationError, InvalidRequestError
    from facepipe_tools.local.stack import LocalStack, StackOptions, store_device_tokens

    # GIVEN a local stack started with device tokens
    stack = LocalStack(StackOptions(device_tokens={"door": CAMERA_TOKEN}, state_file=None))
    # THEN its functions get the deployed setting, and the tokens are where that setting points
    environment = stack.environment("http://127.0.0.1:5000", resources, "http://127.0.0.1:5081")
    assert environment["DEVICE_TOKENS_SSM_PARAMETER_NAME"] == DEFAULT_TOKENS_PARAMETER
    ssm = aws.client("ssm")
    store_device_tokens(ssm, stack.options.device_tokens)
    parameters.clear_caches()
    tokens = DeviceTokens(environment["DEVICE_TOKENS_SSM_PARAMETER_NAME"], ssm)
    tokens.verify("door", CAMERA_TOKEN)
    with pytest.raises(InvalidRequestError):
        tokens.verify("door", "wrong-token-wrong-token-wrong")
    # AND a stack without tokens asks for none; a weak token is refused before anything starts
    assert "DEVICE_TOKENS_SSM_PARAMETER_NAME" not in LocalStack(StackOptions(state_file=None)).environment(
        "http://x", resources, "http://v"
    )
    with pytest.raises(ConfigurationError):
        store_device_tokens(ssm, {"door": "short"})
