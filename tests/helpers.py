"""Helpers shared by the test modules (``from helpers import ...``): what two test modules need is
here, and no test module imports another. The shared fixtures are in conftest.py (the local stack's
``stack`` among them).

- images: ``encode``, ``b64``, ``handmade_png``
- function URL requests: ``url_event``, ``frame_body``, ``REQUEST_ID``, ``BAD_REQUESTS``
- queues: ``drain``, ``drained``, ``queue_and_receive``, ``queue_depth``
- waiting: ``eventually`` (poll a condition, never a fixed sleep)
- the functions in process: ``stack_settings``, ``function_environment``, ``cold_start``
- the CLI and the local stack: ``facepipe``, ``cli``, ``local_stack``
- recognition on moto in process: ``moto_recognition`` (its ``recognise`` sends frames through)
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PIL import Image

T = TypeVar("T")

# --------------------------------------------------------------------------- images


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def handmade_png(width: int, height: int, *, bit_depth: int = 8, colour_type: int = 2, rows: bytes | None = None) -> bytes:
    """A PNG built byte by byte: signature, IHDR (declared size), one IDAT, IEND.

    Without ``rows`` the IDAT holds a few zero bytes only, so the header may declare a size
    whose pixels are never there (a decompression bomb's shape).
    """
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(rows if rows is not None else b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


# --------------------------------------------------------------------------- function URL requests

REQUEST_ID = "cam-7:frame_0001.a"

# Small images for the validation matrix (errors happen before any detection).
PLAIN_JPEG = encode(Image.new("RGB", (64, 48), (90, 120, 150)), "JPEG")
NOISE_JPEG = encode(Image.effect_noise((128, 128), 64).convert("RGB"), "JPEG", quality=90)
TRUNCATED_JPEG = NOISE_JPEG[: len(NOISE_JPEG) * 3 // 5]  # cut inside the scan data
HUGE_PNG = handmade_png(30000, 30000)  # ~100 bytes declaring 900 Mpx
TIFF = encode(Image.new("RGB", (64, 48)), "TIFF")
EIGHT_MB = 8 * 2**20


def url_event(body: dict | list | str | bytes | int | float | None, base64_body: bool = False, method: str = "POST") -> dict:
    """A Lambda function URL event (payload format 2.0).

    ``body``: a str or bytes is sent as is, anything else as JSON; ``None`` leaves the body out.
    ``base64_body`` sends it base64-encoded with ``isBase64Encoded`` set, as function URLs do for binary bodies.
    """
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc123.lambda-url.us-east-1.on.aws", "user-agent": "pytest"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "pytest"},
            "requestId": "6f1d7c3e-0000-4000-8000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000,
        },
        "isBase64Encoded": base64_body,
    }
    if body is None:
        return event
    if isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    event["body"] = b64(data) if base64_body else data.decode()
    return event


def frame_body(image: bytes = PLAIN_JPEG, *, drop: tuple[str, ...] = (), **fields: object) -> dict:
    """A function URL request body (docs/contracts.md) for ``image``; ``fields`` override or add keys, ``drop`` removes them."""
    body: dict[str, object] = {"request_id": REQUEST_ID, "content": b64(image), "filename": "frame.jpg"}
    body.update(fields)
    for key in drop:
        body.pop(key)
    return body


@dataclass(frozen=True)
class Bad:
    """A request that must be refused: event parts, expected code and status, and the request_id echoed (or None)."""

    body: dict | list | str | bytes | int | None
    code: str
    status: int = 400
    request_id: str | None = None
    base64_body: bool = False
    method: str = "POST"
    #: send ``body`` verbatim although isBase64Encoded is set (a body that claims base64 but is not)
    verbatim: bool = False

    def event(self) -> dict:
        event = url_event(self.body, base64_body=self.base64_body, method=self.method)
        if self.verbatim:
            event["body"] = self.body
        return event


def _field(code: str, status: int = 400, **fields: object) -> Bad:
    """A body with a valid request_id, so the error must echo it."""
    return Bad(frame_body(**fields), code, status, request_id=REQUEST_ID)


#: requests that break the request contract, each with the code and status it is refused with (parsing, and the handler)
BAD_REQUESTS = [
    # the body itself
    pytest.param(Bad("{not json", "invalid_json"), id="invalid-json"),
    pytest.param(Bad('{"request_id": "a",', "invalid_json"), id="json-cut-off"),
    pytest.param(Bad([frame_body()], "invalid_json"), id="json-list"),
    pytest.param(Bad('"a string"', "invalid_json"), id="json-string"),
    pytest.param(Bad("42", "invalid_json"), id="json-number"),
    pytest.param(Bad("null", "invalid_json"), id="json-null"),
    pytest.param(Bad(b"\xff\xfe{\x00\x80", "invalid_json", base64_body=True), id="body-not-utf8"),
    pytest.param(Bad("[" * 200_000 + "]" * 200_000, "invalid_json"), id="json-list-nested-200000-deep"),
    pytest.param(Bad('{"a":' * 200_000 + "1" + "}" * 200_000, "invalid_json"), id="json-object-nested-200000-deep"),
    pytest.param(Bad("[" * 200_000, "invalid_json"), id="json-nested-200000-deep-unclosed"),
    pytest.param(Bad("[" * 200_000 + "]" * 200_000, "invalid_json", base64_body=True), id="json-nested-200000-deep-base64"),
    pytest.param(
        Bad('{"request_id": "r", "filename": "f.jpg", "content": ' + "[" * 200_000 + "]" * 200_000 + "}", "invalid_json"),
        id="json-field-nested-200000-deep",
    ),
    pytest.param(Bad('{"request_id": "r", "filename": "f.jpg", "content": NaN}', "invalid_json"), id="json-nan"),
    pytest.param(Bad('{"request_id": "r", "filename": "f.jpg", "content": 1e999}', "invalid_json"), id="json-number-beyond-double"),
    pytest.param(Bad("", "empty_body"), id="empty-body"),
    pytest.param(Bad(None, "empty_body"), id="no-body"),
    pytest.param(Bad(frame_body(content="A" * EIGHT_MB), "body_too_large", 413), id="body-8mb"),
    pytest.param(Bad(frame_body(content="A" * EIGHT_MB), "body_too_large", 413, base64_body=True), id="body-8mb-base64"),
    pytest.param(Bad("this is *not* base64!", "invalid_body_encoding", base64_body=True, verbatim=True), id="isBase64Encoded-not-base64"),
    pytest.param(Bad(json.dumps(frame_body()), "invalid_body_encoding", base64_body=True, verbatim=True), id="isBase64Encoded-but-json"),
    pytest.param(Bad(frame_body(), "method_not_allowed", 405, method="GET"), id="get-405"),
    pytest.param(Bad(frame_body(), "method_not_allowed", 405, method="PUT"), id="put-405"),
    # missing fields
    pytest.param(Bad(frame_body(drop=("request_id",)), "missing_field"), id="missing-request_id"),
    pytest.param(_field("missing_field", drop=("content",)), id="missing-content"),
    pytest.param(_field("missing_field", drop=("filename",)), id="missing-filename"),
    # mistyped fields
    *(
        pytest.param(Bad(frame_body(request_id=value), "invalid_field"), id=f"request_id-{kind}")
        for kind, value in (("number", 12345), ("list", [REQUEST_ID]), ("null", None))
    ),
    *(
        pytest.param(_field("invalid_field", **{name: value}), id=f"{name}-{kind}")
        for name in ("content", "filename")
        for kind, value in (("number", 12345), ("list", ["x"]), ("null", None))
    ),
    # bad values
    pytest.param(Bad(frame_body(request_id="has space"), "invalid_field"), id="request_id-space"),
    pytest.param(Bad(frame_body(request_id="a/b"), "invalid_field"), id="request_id-slash"),
    pytest.param(Bad(frame_body(request_id="naïve"), "invalid_field"), id="request_id-non-ascii"),
    pytest.param(Bad(frame_body(request_id="ok\n"), "invalid_field"), id="request_id-trailing-newline"),
    pytest.param(Bad(frame_body(request_id="r" * 129), "invalid_field"), id="request_id-129-chars"),
    pytest.param(Bad(frame_body(request_id=""), "invalid_field"), id="request_id-empty"),
    pytest.param(_field("invalid_field", filename=""), id="filename-empty"),
    pytest.param(_field("invalid_field", filename="a\nb.jpg"), id="filename-unprintable"),
    pytest.param(_field("invalid_field", filename="f" * 256), id="filename-256-chars"),
    pytest.param(_field("invalid_field", source="camera one"), id="source-space"),
    pytest.param(_field("invalid_field", source=""), id="source-empty"),
    pytest.param(_field("invalid_field", source=7), id="source-number"),
    pytest.param(_field("invalid_field", captured_at="yesterday"), id="captured_at-words"),
    pytest.param(_field("invalid_field", captured_at="2026-13-45T25:00:00Z"), id="captured_at-impossible-date"),
    pytest.param(_field("invalid_field", content=""), id="content-empty"),
    # the image
    pytest.param(_field("invalid_base64", content="!!! not base64 !!!"), id="content-bad-base64"),
    pytest.param(_field("invalid_image", content=b64(b"GIF89a but not really an image " * 4)), id="content-not-an-image"),
    pytest.param(_field("invalid_image", content=b64(TRUNCATED_JPEG)), id="content-truncated-jpeg"),
    pytest.param(_field("unsupported_format", content=b64(TIFF)), id="content-tiff"),
    pytest.param(_field("image_too_large", 413, content=b64(HUGE_PNG)), id="content-png-30000x30000"),
]


# --------------------------------------------------------------------------- queues


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


def drained(sqs, queue_url: str) -> list[dict]:
    """The JSON bodies of every message on a queue (received and deleted)."""
    return [json.loads(m["Body"]) for m in drain(sqs, queue_url)]


def queue_and_receive(sqs, queue_url: str, bodies: list[str], max_receive: int = 10) -> dict:
    """Send ``bodies`` and receive them back as a Lambda SQS event (real receipt handles and counts)."""
    from facepipe_tools.local.event_source import sent_and_received

    return dict(sent_and_received(sqs, queue_url, bodies, max_receive))


def queue_depth(sqs, queue_url: str) -> int:
    """Messages on a queue, visible or in flight."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


# --------------------------------------------------------------------------- waiting


def eventually(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.3) -> T:
    """``check()`` again and again until it is truthy or ``timeout`` seconds have passed: its last
    value (the caller asserts it). What a test waits for is polled, never slept for."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# --------------------------------------------------------------------------- the functions in process


def stack_settings(resources: Any, **overrides: Any) -> Any:
    """The functions' settings for a stack's ``resources`` (dlib-resnet, the embedded index)."""
    return resources.settings(**{"vector_backend": "local", "embedding_model": "dlib-resnet", **overrides})


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


# --------------------------------------------------------------------------- the CLI and the local stack

ROOT = Path(__file__).resolve().parents[1]
#: how tests run the CLI: this checkout's ``lambdas`` first on the path
CLI_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "lambdas"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def facepipe(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``facepipe <args>`` run as ``python -m facepipe_tools.cli`` with this checkout's code (``CLI_ENV``)."""
    return subprocess.run(
        [sys.executable, "-m", "facepipe_tools.cli", *args], capture_output=True, text=True, cwd=cwd, env=env or CLI_ENV, timeout=timeout
    )


def cli(stack: dict[str, Any], *args: str, check: bool = False, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``facepipe <args> --stack <the stack's state file>``; ``check``: assert it exited 0 (its stderr says why not)."""
    done = facepipe(*args, "--stack", stack["state_file"], cwd=ROOT, timeout=timeout)
    if check:
        assert done.returncode == 0, done.stderr
    return done


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
    from facepipe_tools.scenes import jittered_camera_frame

    return encode(jittered_camera_frame(image, box, rng, face_px, frame), quality=rng.randint(70, 95))


def moto_recognition(aws: Any, settings: Any, detector: Any, embedder: Any) -> Any:
    """Detection's message builder and recognition on moto in process (``InProcessPipeline``), with
    ``detector`` (MTCNN) and ``embedder`` (dlib), the embedded index and the people table."""
    from facepipe_tools.local.in_process import InProcessPipeline

    return InProcessPipeline.create(aws, settings, detector, embedder)
