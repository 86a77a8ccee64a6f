"""Small helpers shared by test modules (import as ``from helpers import ...``)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def drain(sqs, queue_url: str, wait: int = 0) -> list[dict]:
    """Every message on a queue (received and deleted)."""
    found = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait, MessageAttributeNames=["All"], AttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        found += batch


ROOT = Path(__file__).resolve().parents[1]
#: how tests run the CLI: this checkout's ``lambdas`` first on the path
CLI_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "lambdas"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


@contextlib.contextmanager
def local_stack(state: Path, *options: str) -> Iterator[dict[str, Any]]:
    """`facepipe local up` on free ports, its endpoints written to ``state`` (and yielded, with
    ``state_file``); stopped with Ctrl-C (SIGINT), which must exit 0 and remove the state file,
    even when started with SIGINT ignored.
    Its output (the functions' logs and metrics) goes to a file beside ``state``: a pipe nobody
    reads fills up and blocks the functions' next print."""
    command = [sys.executable, "-m", "facepipe_tools.cli", "local", "up", "--port", "0", "--moto-port", "0", "--vector-port", "0"]
    log = state.with_suffix(".log")
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, *options, "--state-file", str(state)],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=state.parent,
            env=CLI_ENV,
            # as a script's background job starts it: SIGINT ignored, which Ctrl-C must still stop
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
    deadline = time.monotonic() + 180
    while not state.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"facepipe local up did not start:\n{log.read_text()}")
        time.sleep(0.5)
    info = json.loads(state.read_text())
    info["state_file"] = str(state)
    try:
        yield info
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        assert process.returncode == 0, log.read_text()[-5000:]
        assert not state.exists(), "local.json must be removed when the stack stops"


def queue_and_receive(sqs, queue_url: str, bodies: list[str], max_receive: int = 10) -> dict:
    """Send ``bodies`` and receive them back as a Lambda SQS event (real receipt handles and counts)."""
    from facepipe_tools.local.event_source import sqs_record

    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = []
    while len(messages) < len(bodies):
        messages += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=max_receive, AttributeNames=["All"]).get("Messages", [])
    return {"Records": [sqs_record(m, arn, "us-east-1") for m in messages]}


def stack_settings(resources: Any, **overrides: Any) -> Any:
    """The functions' settings for a stack's ``resources`` (dlib-resnet, the embedded index)."""
    from facepipe.settings import Settings

    return Settings(
        **{
            "request_queue_url": resources.request_queue_url,
            "response_queue_url": resources.response_queue_url,
            "ddb_table_name": resources.table,
            "s3_bucket_name": resources.bucket,
            "vector_backend": "local",
            "embedding_model": "dlib-resnet",
            **overrides,
        }
    )


def function_environment(resources: Any, **extra: str) -> dict[str, str]:
    """The environment Terraform gives the functions, pointed at a moto stack's resources."""
    return {
        "REQUEST_QUEUE_URL": resources.request_queue_url,
        "RESPONSE_QUEUE_URL": resources.response_queue_url,
        "DDB_TABLE_NAME": resources.table,
        "S3_BUCKET_NAME": resources.bucket,
        "EMBEDDING_MODEL": "dlib-resnet",
        # moto in process is not thread-safe (concurrent transactions roll each other's writes
        # back); records of a batch run concurrently in test_record_threads.py, on the emulator
        "RECORD_THREADS": "1",
        **extra,
    }


def cold_start(function_dir: str, environment: dict[str, str], monkeypatch: Any) -> Any:
    """``lambdas/<function_dir>/handler.py`` loaded as a cold start does, with ``environment``."""
    from facepipe.runtime import detection_runtime, recognition_runtime
    from facepipe_tools.local.handlers import load_handler

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    detection_runtime.cache_clear()
    recognition_runtime.cache_clear()
    return load_handler(function_dir)


# --- recognition on moto in process, with the real models (teaching and console tests) ----------


def camera_face(photo: Path, detector: Any) -> tuple[Image.Image, list[float]]:
    """A photo and the box of its largest face (the pipeline's own detector)."""
    from facepipe.detection import largest_face

    image = Image.open(photo).convert("RGB")
    face = largest_face(detector.detect(image))
    assert face is not None, f"no face in {photo}"
    return image, list(face.box)


def camera_replay(image: Image.Image, box: list[float], rng: Any, face_px: float = 22, frame: int = 64) -> bytes:
    """One ``frame`` x ``frame`` camera frame of the face (``face_px`` px): shifted a little,
    re-encoded, lighter or darker. At 22 px in 64 it is a poor face: unknown, kept for review."""
    from PIL import ImageEnhance

    from facepipe_tools.scenes import camera_frame

    dx, dy = rng.uniform(-2, 2), rng.uniform(-2, 2)
    shot = camera_frame(image, [box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy], face_px, frame)
    shot = ImageEnhance.Brightness(shot).enhance(rng.uniform(0.85, 1.15))
    return encode(shot, quality=rng.randint(70, 95))


def moto_recognition(aws: Any, settings: Any, detector: Any, embedder: Any) -> tuple[Any, Any, Any, Any]:
    """(frames, recognizer, consumer, sqs): detection's message builder and recognition on moto in
    process, with ``detector`` (MTCNN) and ``embedder`` (dlib), the embedded index and the people table."""
    from facepipe.consumer import RecognitionConsumer
    from facepipe.embedding import load_cropper
    from facepipe.frames import FrameProcessor
    from facepipe.index.embedded import EmbeddedIndex
    from facepipe.people import PeopleStore
    from facepipe.recognition import Recognizer
    from facepipe.runtime import idempotency_store

    sqs, s3 = aws.client("sqs"), aws.client("s3")
    people = PeopleStore(settings.ddb_table_name, dynamodb=aws.resource("dynamodb"))
    recognizer = Recognizer(settings, embedder, EmbeddedIndex(embedder.dimension), people, sqs=sqs, s3=s3, detector=detector)
    frames = FrameProcessor(settings, detector, load_cropper(embedder.model), sqs=sqs, s3=s3)
    return frames, recognizer, RecognitionConsumer(recognizer, idempotency_store(settings)), sqs


def recognise(
    pipeline: tuple[Any, Any, Any, Any], settings: Any, frames_in: list[tuple[str, bytes]], source: str = "door"
) -> dict[str, dict]:
    """Send (request_id, JPEG) frames through detection's message builder and recognition, ten
    records to a batch; the answers by request_id."""
    from facepipe.events import FrameRequest
    from facepipe.messages import encode as encode_message
    from facepipe_tools.local.context import LambdaContext

    frames, _, consumer, sqs = pipeline
    bodies = []
    for request_id, data in frames_in:
        image = Image.open(io.BytesIO(data)).convert("RGB")
        detected = frames.detector.detect(image)
        if detected:
            request = FrameRequest(request_id, f"{request_id}.jpg", source, image, len(data))
            bodies.append(encode_message(frames.build_message(request, detected)))
    for start in range(0, len(bodies), 10):
        result = consumer.handle(queue_and_receive(sqs, settings.request_queue_url, bodies[start : start + 10]), LambdaContext())
        assert result == {"batchItemFailures": []}
    return {a["request_id"]: a for a in (json.loads(m["Body"]) for m in drain(sqs, settings.response_queue_url))}
