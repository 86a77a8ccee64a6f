"""The recognition side with moto: matching, new people, tags, responses, redelivery, dead letters, photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from PIL import Image, ImageOps

from facepipe.embedding import load_cropper
from facepipe.events import FrameRequest
from facepipe.frames import FrameProcessor
from facepipe.index.embedded import EmbeddedIndex
from facepipe.messages import encode as encode_message
from facepipe.people import PeopleStore
from facepipe.queues import REASON
from facepipe.recognition import Recognizer
from facepipe.recognition.consumer import RecognitionConsumer
from facepipe.storage import claim_check_key
from facepipe_tools.admin import Admin
from facepipe_tools.local.context import LambdaContext
from facepipe_tools.local.event_source import sqs_record
from facepipe_tools.scenes import camera_frame
from helpers import drain, drained, encode, queue_and_receive


def sk(item: dict) -> str:
    """A media item's sort key without its image prefix: ``META`` or ``FACE#<index>``."""
    return str(item["SK"]).split("#", 2)[2]


class DelayedIndex(EmbeddedIndex):
    """An index with Pinecone's read-after-write delay: new vectors are invisible to queries."""

    def __init__(self, dimension: int) -> None:
        super().__init__(dimension)
        self.hidden: set[str] = set()

    def upsert(self, vectors, namespace):
        super().upsert(vectors, namespace)
        self.hidden |= {v.id for v in vectors}

    def query(self, vector, top_k, namespace, filter=None):
        return [m for m in super().query(vector, top_k + len(self.hidden), namespace, filter) if m.id not in self.hidden][:top_k]


@pytest.fixture
def pipeline(aws, settings, detector, dlib_embedder):
    """(frames, recognizer, consumer) wired to moto, the real MTCNN and dlib models."""

    def build(index=None, embedder=dlib_embedder):
        sqs, s3 = aws.client("sqs"), aws.client("s3")
        index = index or EmbeddedIndex(embedder.dimension)
        people = PeopleStore(settings.ddb_table_name, dynamodb=aws.resource("dynamodb"))
        recognizer = Recognizer(settings, embedder, index, people, sqs=sqs, s3=s3, detector=detector)
        persistence = DynamoDBPersistenceLayer(settings.ddb_table_name, key_attr="PK", sort_key_attr="SK", boto3_session=aws)
        consumer = RecognitionConsumer(recognizer, persistence)
        frames = FrameProcessor(settings, detector, load_cropper(embedder.model), sqs=sqs, s3=s3)
        return frames, recognizer, consumer

    return build


def frame(request_id: str, image: Image.Image, filename: str = "frame.jpg") -> FrameRequest:
    return FrameRequest(request_id, filename, "cam-1", image, 0)


def s3_events(sqs, queue_url: str) -> list[dict]:
    """Object-created notifications on the photo queue (S3's one-off s3:TestEvent left out)."""
    return [m for m in drain(sqs, queue_url) if "Records" in json.loads(m["Body"])]


def responses(sqs, settings) -> list[dict]:
    return drained(sqs, settings.response_queue_url)


def test_recognition_unknown_face_becomes_a_new_person(pipeline, sqs, settings, grace_hopper):
    frames, recognizer, consumer = pipeline()
    message = frames.build_message(frame("r-1", grace_hopper), frames.detector.detect(grace_hopper))

    result = consumer.handle(queue_and_receive(sqs, settings.request_queue_url, [encode_message(message)]), LambdaContext())

    assert result == {"batchItemFailures": []}
    (answer,) = responses(sqs, settings)
    (face,) = answer["faces"]
    assert answer["request_id"] == "r-1"
    assert face["new_person"] is True
    assert answer["result"] == face["name"]
    assert face["name"].startswith("person-")
    people = recognizer.people.with_counts(recognizer.people.list_people())
    assert [p.person_id for p in people] == [face["person_id"]]
    assert people[0].face_count == 1
    assert recognizer.index.count(settings.namespace) == 1
    tags = recognizer.people.media("r-1")
    assert {sk(t) for t in tags} == {"META", "FACE#0000"}
    assert next(t for t in tags if sk(t) == "META")["result"] == answer["result"]


def test_recognition_enrolled_person_is_named(pipeline, sqs, settings, grace_hopper, grace_hopper_bytes):
    frames, recognizer, consumer = pipeline()
    Admin(recognizer).enroll("grace_hopper", [("grace_hopper.jpg", grace_hopper_bytes)])
    probe = ImageOps.mirror(grace_hopper)
    message = frames.build_message(frame("r-2", probe), frames.detector.detect(probe))

    consumer.handle(queue_and_receive(sqs, settings.request_queue_url, [encode_message(message)]), LambdaContext())

    (answer,) = responses(sqs, settings)
    assert answer["result"] == "grace_hopper"
    assert answer["faces"][0]["new_person"] is False
    assert answer["faces"][0]["similarity"] >= recognizer.calibration.good
    assert len(recognizer.people.list_people()) == 1


def test_recognition_redelivery_changes_nothing(pipeline, sqs, settings, grace_hopper):
    frames, recognizer, consumer = pipeline()
    body = encode_message(frames.build_message(frame("r-3", grace_hopper), frames.detector.detect(grace_hopper)))
    consumer.handle(queue_and_receive(sqs, settings.request_queue_url, [body]), LambdaContext())
    first = responses(sqs, settings)
    table_before = recognizer.people.table.scan()["Items"]

    again = consumer.handle(queue_and_receive(sqs, settings.request_queue_url, [body]), LambdaContext())  # SQS delivers it again

    assert again == {"batchItemFailures": []}
    assert len(first) == 1
    assert responses(sqs, settings) == []
    assert recognizer.people.table.scan()["Items"] == table_before
    assert recognizer.index.count(settings.namespace) == 1


def test_recognition_repeat_without_idempotency_store_still_makes_one_person(pipeline, sqs, settings, grace_hopper):
    """Even when the idempotency record is gone, ids derived from the work keep repeats harmless."""
    frames, recognizer, _ = pipeline()
    bare = RecognitionConsumer(recognizer, persistence=None)
    body = encode_message(frames.build_message(frame("r-4", grace_hopper), frames.detector.detect(grace_hopper)))
    bare.handle(queue_and_receive(sqs, settings.request_queue_url, [body]), LambdaContext())
    bare.handle(queue_and_receive(sqs, settings.request_queue_url, [body]), LambdaContext())

    (person,) = recognizer.people.with_counts(recognizer.people.list_people())
    assert person.face_count == 1
    assert recognizer.index.count(settings.namespace) == 1
    # one answer: the repeat computed the same response, and the "sent" marker kept it from going out twice
    assert [a["faces"][0]["person_id"] for a in responses(sqs, settings)] == [person.person_id]


def test_recognition_stranger_seen_twice_within_index_delay_is_one_person(pipeline, sqs, settings, grace_hopper, dlib_embedder):
    frames, recognizer, consumer = pipeline(index=DelayedIndex(dlib_embedder.dimension))
    probe = ImageOps.mirror(grace_hopper)
    bodies = [
        encode_message(frames.build_message(frame(rid, img), frames.detector.detect(img)))
        for rid, img in (("r-5a", grace_hopper), ("r-5b", probe))
    ]
    consumer.handle(queue_and_receive(sqs, settings.request_queue_url, bodies[:1]), LambdaContext())
    consumer.handle(queue_and_receive(sqs, settings.request_queue_url, bodies[1:]), LambdaContext())

    answers = {a["request_id"]: a for a in responses(sqs, settings)}
    assert answers["r-5a"]["faces"][0]["new_person"] is True
    assert answers["r-5b"]["faces"][0]["new_person"] is False
    assert answers["r-5a"]["result"] == answers["r-5b"]["result"]
    assert len(recognizer.people.list_people()) == 1


def test_recognition_embeds_a_whole_batch_in_one_forward_pass(pipeline, sqs, settings, grace_hopper, monkeypatch):
    frames, recognizer, consumer = pipeline()
    images = [grace_hopper, ImageOps.mirror(grace_hopper), grace_hopper.resize((256, 300))]
    bodies = [encode_message(frames.build_message(frame(f"r-6{i}", img), frames.detector.detect(img))) for i, img in enumerate(images)]
    calls = []
    original = recognizer.embedder.embed
    monkeypatch.setattr(recognizer.embedder, "embed", lambda crops: calls.append(len(crops)) or original(crops))

    consumer.handle(queue_and_receive(sqs, settings.request_queue_url, bodies), LambdaContext())

    assert calls == [3]
    assert len(responses(sqs, settings)) == 3


def test_recognition_bad_record_is_dead_lettered_with_reason_and_others_answered(pipeline, sqs, settings, resources, grace_hopper):
    frames, _, consumer = pipeline()
    good = encode_message(frames.build_message(frame("r-7", grace_hopper), frames.detector.detect(grace_hopper)))

    result = consumer.handle(
        queue_and_receive(sqs, settings.request_queue_url, [good, '{"v": 1, "request_id": "x"}', "not json"]), LambdaContext()
    )

    assert result == {"batchItemFailures": []}
    assert [a["request_id"] for a in responses(sqs, settings)] == ["r-7"]
    dead = drain(sqs, resources.request_dlq_url)
    assert sorted(m["Body"] for m in dead) == sorted(['{"v": 1, "request_id": "x"}', "not json"])
    assert {m["MessageAttributes"][REASON]["StringValue"] for m in dead} == {"invalid_message"}


def test_recognition_crops_for_another_model_are_dead_lettered(pipeline, sqs, settings, resources, grace_hopper, detector):
    _, _, consumer = pipeline()
    facenet_frames = FrameProcessor(settings, detector, load_cropper("facenet-vggface2"), sqs=sqs)
    body = encode_message(facenet_frames.build_message(frame("r-8", grace_hopper), detector.detect(grace_hopper)))

    consumer.handle(queue_and_receive(sqs, settings.request_queue_url, [body]), LambdaContext())

    (dead,) = drain(sqs, resources.request_dlq_url)
    assert "EMBEDDING_MODEL" in dead["MessageAttributes"]["facepipe-error"]["StringValue"]
    assert responses(sqs, settings) == []


def test_recognition_transient_failure_is_retried_then_dead_lettered(pipeline, sqs, settings, resources, grace_hopper, monkeypatch):
    frames, recognizer, consumer = pipeline()
    body = encode_message(frames.build_message(frame("r-9", grace_hopper), frames.detector.detect(grace_hopper)))

    def unavailable(*args, **kwargs):
        raise ConnectionError("index unreachable")

    monkeypatch.setattr(recognizer.index, "query", unavailable)
    sqs.send_message(QueueUrl=settings.request_queue_url, MessageBody=body)
    arn = sqs.get_queue_attributes(QueueUrl=settings.request_queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    (message,) = sqs.receive_message(QueueUrl=settings.request_queue_url, AttributeNames=["All"])["Messages"]
    record = sqs_record(message, arn, "us-east-1")

    first = consumer.handle({"Records": [record]}, LambdaContext())
    assert first == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert drain(sqs, resources.request_dlq_url) == []

    record["attributes"]["ApproximateReceiveCount"] = "2"  # maxReceiveCount - 1: the last try that works
    last = consumer.handle({"Records": [record]}, LambdaContext())
    assert last == {"batchItemFailures": []}
    (dead,) = drain(sqs, resources.request_dlq_url)
    assert dead["MessageAttributes"][REASON]["StringValue"] == "retries_exhausted"
    assert "index unreachable" in dead["MessageAttributes"]["facepipe-error"]["StringValue"]
    assert responses(sqs, settings) == []

    # the final receive is kept for a process that died on its last try: it dead-letters at once
    monkeypatch.undo()
    record["attributes"]["ApproximateReceiveCount"] = "3"
    assert consumer.handle({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    (dead,) = drain(sqs, resources.request_dlq_url)
    assert dead["MessageAttributes"][REASON]["StringValue"] == "retries_exhausted"
    assert "previous attempt died" in dead["MessageAttributes"]["facepipe-error"]["StringValue"]
    assert responses(sqs, settings) == []


def test_recognition_claim_checked_crops_are_read_from_s3(pipeline, sqs, settings, grace_hopper, monkeypatch, aws):
    frames, _, consumer = pipeline()
    monkeypatch.setattr("facepipe.frames.MAX_MESSAGE_BYTES", 100)
    message = frames.claim_check(frames.build_message(frame("r-10", grace_hopper), frames.detector.detect(grace_hopper)))
    assert "crop" not in message["faces"][0]
    assert message["faces"][0]["crop_key"] == claim_check_key("cam-1", "r-10", message["image"].get("sha256", ""), 0)

    consumer.handle(queue_and_receive(sqs, settings.request_queue_url, [encode_message(message)]), LambdaContext())

    (answer,) = responses(sqs, settings)
    assert answer["faces"][0]["new_person"] is True


def test_recognition_photo_upload_is_tagged(pipeline, sqs, settings, resources, grace_hopper_bytes, aws):
    _, recognizer, consumer = pipeline()
    Admin(recognizer).enroll("grace_hopper", [("grace_hopper.jpg", grace_hopper_bytes)])
    s3 = aws.client("s3")
    s3.put_object(Bucket=resources.bucket, Key="photos/party.jpg", Body=grace_hopper_bytes)
    (notification,) = s3_events(sqs, resources.photo_queue_url)  # S3 sent the event to the photo queue
    event = json.loads(notification["Body"])
    obj = event["Records"][0]["s3"]["object"]
    version = obj.get("versionId") or obj["eTag"].strip('"')  # moto's events carry no versionId

    consumer.handle(queue_and_receive(sqs, resources.photo_queue_url, [notification["Body"]]), LambdaContext())

    request_id = f"s3://{resources.bucket}/photos/party.jpg#{version}"
    tags = {sk(t): t for t in recognizer.people.media(request_id)}
    assert tags["META"]["result"] == "grace_hopper"
    assert tags["FACE#0000"]["name"] == "grace_hopper"
    assert responses(sqs, settings) == []  # PHOTO_RESPONSES is off by default


def test_recognition_accepts_seed_000_legacy_photo_message(pipeline, sqs, settings, resources, grace_hopper_bytes, aws):
    _, recognizer, consumer = pipeline()
    aws.client("s3").put_object(Bucket=resources.bucket, Key="test-image.jpg", Body=grace_hopper_bytes)
    body = json.dumps({"bucketName": resources.bucket, "objectKey": "test-image.jpg"})

    result = consumer.handle(queue_and_receive(sqs, resources.photo_queue_url, [body]), LambdaContext())

    assert result == {"batchItemFailures": []}
    tags = recognizer.people.media(f"s3://{resources.bucket}/test-image.jpg")
    assert len([t for t in tags if sk(t).startswith("FACE#")]) == 1


def test_recognition_photo_that_is_not_an_image_is_dead_lettered(pipeline, sqs, resources, aws):
    _, _, consumer = pipeline()
    aws.client("s3").put_object(Bucket=resources.bucket, Key="photos/notes.jpg", Body=b"plain text, not a photo")
    (notification,) = s3_events(sqs, resources.photo_queue_url)

    consumer.handle(queue_and_receive(sqs, resources.photo_queue_url, [notification["Body"]]), LambdaContext())

    (dead,) = drain(sqs, resources.photo_dlq_url)
    assert dead["MessageAttributes"][REASON]["StringValue"] == "invalid_message"


def test_recognition_one_person_twice_in_a_frame_is_named_once(pipeline, sqs, settings, grace_hopper, grace_hopper_bytes):
    frames, recognizer, consumer = pipeline()
    Admin(recognizer).enroll("grace_hopper", [("grace_hopper.jpg", grace_hopper_bytes)])
    canvas = Image.new("RGB", (grace_hopper.width * 2, grace_hopper.height))
    canvas.paste(grace_hopper, (0, 0))
    canvas.paste(ImageOps.grayscale(ImageOps.mirror(grace_hopper)).convert("RGB"), (grace_hopper.width, 0))
    message = frames.build_message(frame("r-11", canvas), frames.detector.detect(canvas))

    consumer.handle(queue_and_receive(sqs, settings.request_queue_url, [encode_message(message)]), LambdaContext())

    (answer,) = responses(sqs, settings)
    # the faces of one frame are placed jointly: the closer one is her, the other is left unknown
    assert sorted(answer["result"].split(", ")) == ["grace_hopper", "unknown"]
    assert [f["index"] for f in answer["faces"]] == [0, 1]
    assert answer["faces"][0]["box"][0] < answer["faces"][1]["box"][0]


def test_recognition_zero_face_frame_is_answered_by_detection(pipeline, sqs, settings):
    frames, _, _ = pipeline()
    reply = frames.process(frame("r-12", Image.new("RGB", (320, 240), (20, 20, 20))))
    assert reply == {"request_id": "r-12", "faces": 0, "status": "queued"}
    assert responses(sqs, settings) == [{"request_id": "r-12", "result": "", "filename": "frame.jpg", "faces": []}]
    assert drain(sqs, settings.request_queue_url) == []


def test_recognition_vectors_record_model_and_preprocessing(pipeline, sqs, settings, grace_hopper):
    frames, recognizer, consumer = pipeline()
    message = frames.build_message(frame("r-13", grace_hopper), frames.detector.detect(grace_hopper))
    consumer.handle(queue_and_receive(sqs, settings.request_queue_url, [encode_message(message)]), LambdaContext())
    (answer,) = responses(sqs, settings)
    (match,) = recognizer.index.query(np.ones(128, dtype=np.float32), 1, settings.namespace)
    assert match.metadata["person_id"] == answer["faces"][0]["person_id"]
    assert match.metadata["model"] == "dlib-resnet"
    assert match.metadata["preprocessing"] == recognizer.embedder.preprocessing
    assert match.metadata["request_id"] == "r-13"
    faces = recognizer.people.faces_of(answer["faces"][0]["person_id"])
    assert faces[0]["crop_key"] == f"faces/{match.id}.jpg"


def test_encode_helper_roundtrip(grace_hopper):
    assert Image.open(__import__("io").BytesIO(encode(grace_hopper))).size == grace_hopper.size


def test_recognition_photo_that_no_longer_exists_is_dead_lettered(pipeline, sqs, resources):
    _, _, consumer = pipeline()
    body = json.dumps({"bucketName": resources.bucket, "objectKey": "photos/deleted.jpg"})

    result = consumer.handle(queue_and_receive(sqs, resources.photo_queue_url, [body]), LambdaContext())

    assert result == {"batchItemFailures": []}
    (dead,) = drain(sqs, resources.photo_dlq_url)
    assert "does not exist" in dead["MessageAttributes"]["facepipe-error"]["StringValue"]


def test_recognition_unreadable_claim_check_fails_only_its_record(pipeline, sqs, settings, resources, grace_hopper, monkeypatch):
    frames, recognizer, consumer = pipeline()
    good = encode_message(frames.build_message(frame("r-14", grace_hopper), frames.detector.detect(grace_hopper)))
    monkeypatch.setattr("facepipe.frames.MAX_MESSAGE_BYTES", 100)
    checked = frames.claim_check(frames.build_message(frame("r-15", grace_hopper), frames.detector.detect(grace_hopper)))
    original = recognizer.s3.get_object

    def flaky(**kwargs):
        if kwargs["Key"].startswith("crops/cam-1/r-15/"):
            raise ConnectionError("S3 timed out")
        return original(**kwargs)

    monkeypatch.setattr(recognizer.s3, "get_object", flaky)
    event = queue_and_receive(sqs, settings.request_queue_url, [good, encode_message(checked)])

    result = consumer.handle(event, LambdaContext())

    failed_id = next(r["messageId"] for r in event["Records"] if "r-15" in r["body"])
    assert result == {"batchItemFailures": [{"itemIdentifier": failed_id}]}
    assert [a["request_id"] for a in responses(sqs, settings)] == ["r-14"]


# --- quality-aware matching (camera frames, unknown faces, a person is several faces) -----------


def send_frames_through(frames, consumer, sqs, settings, *named_images):
    bodies = [encode_message(frames.build_message(frame(rid, img), frames.detector.detect(img))) for rid, img in named_images]
    consumer.handle(queue_and_receive(sqs, settings.request_queue_url, bodies), LambdaContext())
    return {a["request_id"]: a for a in responses(sqs, settings)}


def test_recognition_camera_sized_stranger_is_unknown_and_creates_nobody(pipeline, sqs, settings, grace_hopper, grace_box):
    frames, recognizer, consumer = pipeline()
    camera = camera_frame(grace_hopper, grace_box, 20, 64)

    answers = send_frames_through(frames, consumer, sqs, settings, ("cam-1", camera))

    (face,) = answers["cam-1"]["faces"]
    assert answers["cam-1"]["result"] == "unknown"
    assert face["person_id"] is None
    assert face["name"] == ""
    assert face["new_person"] is False
    assert face["quality"]["band"] == "poor"
    assert face["quality"]["size"] < 30
    assert recognizer.people.list_people() == []
    assert recognizer.index.count(settings.namespace) == 0
    tag = next(t for t in recognizer.people.media("cam-1") if sk(t) == "FACE#0000")
    assert tag["unknown"] is True
    assert "person_id" not in tag
    assert tag["quality"]["band"] == "poor"


def test_recognition_camera_frame_enrolled_is_named(pipeline, sqs, settings, grace_hopper, grace_box):
    frames, recognizer, consumer = pipeline()
    camera = camera_frame(grace_hopper, grace_box, 20, 64)
    report = Admin(recognizer).enroll("grace_hopper", [("cam.jpg", encode(camera))])
    assert report.faces
    assert any("poor quality" in w for w in report.warnings)

    answers = send_frames_through(frames, consumer, sqs, settings, ("cam-2", camera))

    assert answers["cam-2"]["result"] == "grace_hopper"


@pytest.mark.fixtures
def test_recognition_confident_good_sighting_joins_its_person_once(pipeline, sqs, settings, fixtures_root):
    frames, recognizer, consumer = pipeline()
    report = Admin(recognizer).enroll("obama", [("obama.jpg", (fixtures_root / "train/obama/obama.jpg").read_bytes())])
    person_id = report.person.person_id
    sighting = Image.open(fixtures_root / "train/obama/obama2.jpg").convert("RGB")  # the same person, another photo

    first = send_frames_through(frames, consumer, sqs, settings, ("r-20", sighting))["r-20"]["faces"][0]
    again = send_frames_through(frames, consumer, sqs, settings, ("r-21", sighting))["r-21"]["faces"][0]

    assert first["person_id"] == again["person_id"] == person_id
    assert first["similarity"] < recognizer.calibration.near_duplicate <= again["similarity"]  # the second is a near-duplicate
    assert recognizer.people.get_person(person_id).indexed_faces == 2
    assert recognizer.index.count(settings.namespace) == 2
    indexed = {f["face_id"]: f for f in recognizer.people.faces_of(person_id)}
    assert sum(1 for f in indexed.values() if f["indexed"]) == 2
    assert len(indexed) == 3


def test_recognition_sightings_stop_at_the_per_person_cap(pipeline, sqs, settings, grace_hopper, grace_hopper_bytes, monkeypatch):
    monkeypatch.setattr("facepipe.matching.MAX_FACES_PER_PERSON", 1)
    frames, recognizer, consumer = pipeline()
    person_id = Admin(recognizer).enroll("grace_hopper", [("grace_hopper.jpg", grace_hopper_bytes)]).person.person_id

    answers = send_frames_through(frames, consumer, sqs, settings, ("r-22", ImageOps.mirror(grace_hopper).rotate(6)))

    assert answers["r-22"]["result"] == "grace_hopper"
    assert recognizer.people.get_person(person_id).indexed_faces == 1
    assert recognizer.index.count(settings.namespace) == 1


@pytest.mark.parametrize("size", [(1, 1), (30, 30), (2000, 50)])
def test_recognition_photo_too_small_for_a_face_is_recorded_without_retry(pipeline, sqs, resources, aws, size):
    _, recognizer, consumer = pipeline()
    aws.client("s3").put_object(Bucket=resources.bucket, Key="photos/tiny.png", Body=encode(Image.new("RGB", size, (90, 90, 90)), "PNG"))
    (notification,) = s3_events(sqs, resources.photo_queue_url)

    result = consumer.handle(queue_and_receive(sqs, resources.photo_queue_url, [notification["Body"]]), LambdaContext())

    assert result == {"batchItemFailures": []}
    assert drain(sqs, resources.photo_dlq_url) == []
    (meta,) = [t for t in recognizer.people.media(next(iter(_media_ids(recognizer)))) if sk(t) == "META"]
    assert meta["result"] == ""
    assert meta["faces"] == 0


def _media_ids(recognizer) -> set[str]:
    return {item["request_id"] for item in recognizer.people.table.scan()["Items"] if item["PK"].startswith("MEDIA#")}
