"""Crowds (issue 10): a per-frame face limit, the 4K frame of 60 faces through both functions by
claim check, and one payload POSTed three times at once answered once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import cast

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from PIL import Image, ImageOps

from facepipe.detection import DetectedFace, FaceDetector, select_faces
from facepipe.exceptions import InvalidMessageError
from facepipe.index.embedded import EmbeddedIndex
from facepipe.messages import carry_skipped, encode, parse_request_message, response_message
from facepipe.people import PeopleStore
from facepipe.recognition import Recognizer
from facepipe.recognition.consumer import RecognitionConsumer
from facepipe.runtime import detection_runtime
from facepipe.storage import claim_check_key
from facepipe_tools.local.context import LambdaContext
from facepipe_tools.local.event_source import sqs_record
from facepipe_tools.scenes import context_frame
from helpers import cold_start, drain, drained, frame_body, function_environment, url_event
from helpers import encode as encode_image

FOUR_K = (3840, 2160)
COLUMNS, ROWS = 10, 6


# --------------------------------------------------------------------------- select_faces


def face(x: float, size: float, score: float = 0.99) -> DetectedFace:
    return DetectedFace((x, 10.0, x + size, 10.0 + size), score, ((x, 10.0),) * 5)


def test_select_faces_keeps_the_largest_in_left_to_right_order() -> None:
    # GIVEN five faces left to right, of sizes 30, 90, 10, 60, 20
    faces = [face(0, 30), face(100, 90), face(200, 10), face(300, 60), face(400, 20)]
    # WHEN at most three are kept
    kept, skipped = select_faces(faces, 3)
    # THEN the three largest stay, still left to right, and two are counted as skipped
    assert [f.size for f in kept] == [30, 90, 60]
    assert skipped == 2


def test_select_faces_ties_go_to_the_higher_score() -> None:
    faces = [face(0, 40, 0.91), face(100, 40, 0.99), face(200, 40, 0.95)]
    kept, skipped = select_faces(faces, 2)
    assert [f.score for f in kept] == [0.99, 0.95]
    assert skipped == 1


@pytest.mark.parametrize("limit", [5, 6, 100])
def test_select_faces_within_the_limit_keeps_every_face(limit: int) -> None:
    faces = [face(100 * i, 20 + i) for i in range(5)]
    assert select_faces(faces, limit) == (faces, 0)


def test_select_faces_limit_zero_skips_all_and_negative_is_refused() -> None:
    assert select_faces([face(0, 30)], 0) == ([], 1)
    with pytest.raises(ValueError, match="-1"):
        select_faces([], -1)


# --------------------------------------------------------------------------- the messages carry `skipped`


def request(**extra: object) -> dict:
    return {"v": 1, "request_id": "crowd-1", "filename": "f.jpg", "preprocessing": "p", "faces": [], **extra}


def test_request_message_schema_takes_an_optional_skipped_count() -> None:
    assert "skipped" not in parse_request_message(encode(request()))
    assert parse_request_message(encode(request(skipped=7)))["skipped"] == 7
    for bad in (-1, "7", 1.5):
        with pytest.raises(InvalidMessageError, match="skipped"):
            parse_request_message(encode(request(skipped=bad)))


def test_carry_skipped_puts_the_requests_count_on_the_response() -> None:
    # GIVEN a request message that left 7 faces out, and one that left none
    crowd, small = parse_request_message(encode(request(skipped=7))), parse_request_message(encode(request()))
    # WHEN their responses are built
    # THEN the first tells the client 7 were skipped; the second has no such field (the response's contract unchanged)
    assert carry_skipped(crowd, response_message("crowd-1", "f.jpg", []))["skipped"] == 7
    assert carry_skipped(small, response_message("crowd-1", "f.jpg", [])) == {
        "request_id": "crowd-1",
        "result": "",
        "filename": "f.jpg",
        "faces": [],
    }


# --------------------------------------------------------------------------- a 4K crowd of real faces


@pytest.fixture(scope="session")
def crowd_4k(fixtures_root: Path) -> Image.Image:
    """3840x2160, 10 x 6 cells, each a 330 px square around one real face of the shared fixtures
    (every face of 48 px or more in every photo, mirrored on the second round): 60 faces of
    ~150-260 px, of sizes that differ, on a plain background. The tiles are cut around the boxes of a
    detector that searches every thumbnail down to 16 px, so the scene stays the same whatever the
    defaults (one tile, a child looking down, is a borderline face whose box moves with them)."""
    detector = FaceDetector(face_fraction=0.0)
    tiles: list[Image.Image] = []
    for path in sorted(fixtures_root.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        photo = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        photo.thumbnail((800, 800))  # the faces are cut at 330 px anyway; detection is 4x quicker
        for found in detector.detect(photo):
            if found.size >= 48:
                fraction = 0.45 + 0.04 * (len(tiles) % 6)  # face sizes from ~150 to ~260 px
                tiles.append(context_frame(photo, found.box, fraction, 330)[0])
    assert len(tiles) >= 25, f"the fixtures gave only {len(tiles)} faces"
    canvas = Image.new("RGB", FOUR_K, (96, 104, 112))
    cell_w, cell_h = FOUR_K[0] // COLUMNS, FOUR_K[1] // ROWS
    for i in range(COLUMNS * ROWS):
        tile = tiles[i % len(tiles)] if (i // len(tiles)) % 2 == 0 else ImageOps.mirror(tiles[i % len(tiles)])
        row, column = divmod(i, COLUMNS)
        canvas.paste(tile, (column * cell_w + (cell_w - tile.width) // 2, row * cell_h + (cell_h - tile.height) // 2))
    return canvas


@pytest.fixture(scope="session")
def crowd_4k_jpeg(crowd_4k: Image.Image) -> bytes:
    return encode_image(crowd_4k, "JPEG", quality=90)


@pytest.fixture
def detection(aws, resources, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """Factory: ``detection(**env)`` -> ``lambdas/face_detection/handler.py`` loaded like a cold
    start with the moto stack's environment (and ``env`` on top)."""

    def load(**env: str) -> ModuleType:
        return cast("ModuleType", cold_start("face_detection", function_environment(resources, **env), monkeypatch))

    yield load
    detection_runtime.cache_clear()


@pytest.fixture
def recognition(aws, settings, detector, dlib_embedder) -> RecognitionConsumer:
    """The recognition function's consumer on moto: real dlib model, embedded index, idempotency."""
    people = PeopleStore(settings.ddb_table_name, dynamodb=aws.resource("dynamodb"))
    recognizer = Recognizer(
        settings,
        dlib_embedder,
        EmbeddedIndex(dlib_embedder.dimension),
        people,
        sqs=aws.client("sqs"),
        s3=aws.client("s3"),
        detector=detector,
    )
    persistence = DynamoDBPersistenceLayer(settings.ddb_table_name, key_attr="PK", sort_key_attr="SK", boto3_session=aws)
    return RecognitionConsumer(recognizer, persistence)


def take_request_queue(aws, resources) -> tuple[list[dict], dict]:
    """Everything on the request queue: (parsed bodies, the same messages as one SQS event)."""
    sqs = aws.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=resources.request_queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = drain(sqs, resources.request_queue_url)
    event = {"Records": [sqs_record(m, arn, "us-east-1") for m in messages]}
    return [json.loads(m["Body"]) for m in messages], event


def answers(aws, resources) -> list[dict]:
    return drained(aws.client("sqs"), resources.response_queue_url)


@pytest.mark.fixtures
def test_4k_frame_of_60_faces_goes_through_by_claim_check_in_one_response(
    aws, resources, detection, recognition, crowd_4k_jpeg: bytes, capsys
) -> None:
    # GIVEN a 4K frame of 60 real faces POSTed to the detection function
    handler = detection()
    started = time.perf_counter()
    reply = handler.handler(url_event(frame_body(crowd_4k_jpeg, request_id="crowd-4k", filename="crowd.jpg")), LambdaContext())
    detection_seconds = time.perf_counter() - started
    # THEN it answers 200 with 60 faces and nothing skipped (the limit is 100)
    assert reply["statusCode"] == 200, reply["body"]
    assert json.loads(reply["body"]) == {"request_id": "crowd-4k", "faces": 60, "status": "queued"}
    # AND one request message went out, its 60 crops by claim check in S3
    (message,), event = take_request_queue(aws, resources)
    body_bytes = len(encode(message).encode())
    assert len(message["faces"]) == 60
    assert "skipped" not in message
    digest = message["image"]["sha256"]
    keys = [claim_check_key(message["source"], "crowd-4k", digest, f["index"]) for f in message["faces"]]
    assert all("crop" not in f and f["crop_key"] == key for f, key in zip(message["faces"], keys, strict=True))
    stored = aws.client("s3").list_objects_v2(Bucket=resources.bucket, Prefix=keys[0].rsplit("/", 1)[0] + "/")
    assert stored["KeyCount"] == 60
    assert body_bytes < 256 * 1024
    # WHEN the recognition function takes the request queue
    started = time.perf_counter()
    assert recognition.handle(event, LambdaContext(function_name="face-recognition")) == {"batchItemFailures": []}
    recognition_seconds = time.perf_counter() - started
    # THEN exactly one response answers the frame, listing 60 faces in the order of the message
    (answer,) = answers(aws, resources)
    assert answer["request_id"] == "crowd-4k"
    assert [f["index"] for f in answer["faces"]] == list(range(60))
    assert [f["box"] for f in answer["faces"]] == [f["box"] for f in message["faces"]]
    assert len(answer["result"].split(", ")) == 60
    with capsys.disabled():
        print(
            f"\n4K crowd: detection {detection_seconds:.1f} s, request message {body_bytes} bytes (claim check), "
            f"recognition {recognition_seconds:.1f} s, {len(answer['faces'])} faces in one response, "
            f"{sum(f['new_person'] for f in answer['faces'])} new people"
        )


@pytest.mark.fixtures
def test_4k_frame_over_the_face_limit_sends_the_largest_and_reports_the_rest_as_skipped(
    aws, resources, detection, detector, crowd_4k: Image.Image, crowd_4k_jpeg: bytes
) -> None:
    # GIVEN a detection function allowed 45 faces per frame, and the 60-face 4K frame
    handler = detection(MAX_FACES_PER_FRAME="45")
    every_face = detector.detect(crowd_4k)
    assert len(every_face) == 60
    # WHEN it is POSTed
    reply = handler.handler(url_event(frame_body(crowd_4k_jpeg, request_id="crowd-45")), LambdaContext())
    # THEN the reply counts 45 faces queued and 15 skipped
    assert reply["statusCode"] == 200, reply["body"]
    assert json.loads(reply["body"]) == {"request_id": "crowd-45", "faces": 45, "status": "queued", "skipped": 15}
    # AND the message carries the 45 largest, indexed left to right, and says 15 were skipped
    (message,), _ = take_request_queue(aws, resources)
    assert message["skipped"] == 15
    assert [f["index"] for f in message["faces"]] == list(range(45))
    sent = [f["quality"]["size"] for f in message["faces"]]
    smallest_sent = min(sent)
    left_out = sorted(f.size for f in every_face)[:15]
    assert max(left_out) <= smallest_sent + 0.5
    centres = [(f["box"][0] + f["box"][2]) / 2 for f in message["faces"]]
    assert centres == sorted(centres)


@pytest.mark.fixtures
def test_uploaded_crowd_photo_recognises_the_largest_faces_and_reports_the_rest_as_skipped(
    aws, resources, recognition, detector, crowd_4k: Image.Image, crowd_4k_jpeg: bytes, capsys
) -> None:
    # GIVEN a recognition function allowed 5 faces per frame that answers photos too
    recognizer = recognition.recognizer
    recognizer.settings = replace(recognizer.settings, max_faces_per_frame=5, photo_responses=True)
    sizes = sorted((f.size for f in detector.detect(crowd_4k)), reverse=True)
    # WHEN the 60-face 4K photo is uploaded and its S3 event reaches the function
    aws.client("s3").put_object(Bucket=resources.bucket, Key="photos/crowd.jpg", Body=crowd_4k_jpeg)
    sqs = aws.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=resources.photo_queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    notifications = [m for m in drain(sqs, resources.photo_queue_url) if "Records" in json.loads(m["Body"])]
    event = {"Records": [sqs_record(m, arn, "us-east-1") for m in notifications]}
    with capsys.disabled():
        assert recognition.handle(event, LambdaContext(function_name="face-recognition")) == {"batchItemFailures": []}
    # THEN its one response lists the 5 largest faces and says 55 were skipped
    (answer,) = answers(aws, resources)
    assert answer["skipped"] == 55
    assert len(answer["faces"]) == 5
    assert min(f["quality"]["size"] for f in answer["faces"]) >= sizes[4] - 0.5
    # AND only those 5 were tagged and made people
    tags = recognizer.people.media(answer["request_id"])
    assert len([t for t in tags if "#FACE#" in t["SK"]]) == 5
    assert len(recognizer.people.list_people()) <= 5


# --------------------------------------------------------------------------- three POSTs at once


# three invocations in one process share Powertools' metrics (Lambda runs one at a time per
# environment): the first to finish flushes them all and the others find none to publish
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_same_payload_posted_three_times_at_once_is_answered_once(
    aws, resources, detection, recognition, grace_hopper_bytes, monkeypatch
) -> None:
    from moto.dynamodb.responses import DynamoHandler

    # moto in process checks a write's condition and writes in two steps another thread can come
    # between (two of three racing puts could both "win"); DynamoDB, and the local stack's
    # emulator, run each request whole: so here too
    one_at_a_time = threading.Lock()
    call_action = DynamoHandler.call_action

    def whole(self):  # type: ignore[no-untyped-def]
        with one_at_a_time:
            return call_action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", whole)
    # GIVEN the detection function, and one payload that three clients POST at the same moment
    handler = detection()
    event = url_event(frame_body(grace_hopper_bytes, request_id="triple-post"))
    start = threading.Barrier(3)
    replies: list[dict] = [{}] * 3

    def post(i: int) -> None:
        start.wait()
        replies[i] = handler.handler(event, LambdaContext())

    threads = [threading.Thread(target=post, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # THEN every POST gets the same 200 reply: the two that found the first one in progress waited for it
    assert [r["statusCode"] for r in replies] == [200, 200, 200], [r["body"] for r in replies]
    assert [json.loads(r["body"]) for r in replies] == [{"request_id": "triple-post", "faces": 1, "status": "queued"}] * 3
    # AND exactly one request message was queued
    messages, records = take_request_queue(aws, resources)
    assert [m["request_id"] for m in messages] == ["triple-post"]
    # WHEN recognition takes the request queue
    assert recognition.handle(records, LambdaContext(function_name="face-recognition")) == {"batchItemFailures": []}
    # THEN exactly one response answers it
    assert [a["request_id"] for a in answers(aws, resources)] == ["triple-post"]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_post_whose_twin_stays_in_progress_past_the_wait_is_409_in_progress(
    aws, resources, detection, grace_hopper_bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a first POST whose work takes 1.5 s, and a detection function that waits 0.3 s for a twin
    handler = detection()
    monkeypatch.setattr(handler.runtime.accept, "wait_seconds", 0.3)
    working, process = threading.Event(), handler.runtime.frames.process

    def slow_process(request):
        working.set()
        time.sleep(1.5)  # the first POST's work, outlasting the twin's wait (the behaviour under test)
        return process(request)

    monkeypatch.setattr(handler.runtime.frames, "process", slow_process)
    event = url_event(frame_body(grace_hopper_bytes, request_id="slow-twin"))
    first: list[dict] = []
    thread = threading.Thread(target=lambda: first.append(handler.handler(event, LambdaContext())))
    thread.start()
    assert working.wait(timeout=30)
    # WHEN the same payload is POSTed while the first is still at work
    started = time.perf_counter()
    second = handler.handler(event, LambdaContext())
    waited = time.perf_counter() - started
    thread.join(timeout=60)
    # THEN the second waited its bounded while and got 409 in_progress; the first got 200; one message queued
    assert (second["statusCode"], json.loads(second["body"])["error"]) == (409, "in_progress")
    assert 0.25 <= waited < 1.4
    assert first[0]["statusCode"] == 200
    assert [m["request_id"] for m in take_request_queue(aws, resources)[0]] == ["slow-twin"]
