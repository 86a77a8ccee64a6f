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
