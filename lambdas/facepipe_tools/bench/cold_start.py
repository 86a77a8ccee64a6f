"""Cold start of each function in a fresh process: interpreter, handler-path imports, ML library
imports (detection: torch; recognition: onnxruntime, or dlib), INIT (model loads), the first
answer, then more answers (the peak RSS); and the events they answer."""

from __future__ import annotations

import base64
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facepipe_tools.bench.measuring import fresh_process, peak_rss_mb, print_numbers
from facepipe_tools.bench.report import ColdStart

if TYPE_CHECKING:
    from facepipe.detection import FaceDetector
    from facepipe.settings import Settings


def cold_start_child(function_dir: str, events_json: str) -> None:
    """Run in a fresh interpreter (``cold_start``): time the imports, INIT and the answer to the first
    of the events in ``events_json``; answer the rest (the peak RSS); print JSON."""
    begun = time.time()
    marks: dict[str, float] = {}
    started = time.perf_counter()
    import facepipe.runtime  # noqa: F401  the handler path: powertools, boto3, the core

    marks["handler_imports_s"] = time.perf_counter() - started
    started = time.perf_counter()
    if function_dir == "face_detection":
        import torch  # noqa: F401  MTCNN
    elif os.environ.get("EMBEDDING_MODEL") == "dlib-resnet":
        import dlib  # noqa: F401
    else:
        import onnxruntime  # noqa: F401  InceptionResnetV1, exported
    marks["ml_imports_s"] = time.perf_counter() - started
    started = time.perf_counter()
    from facepipe_tools.local.context import LambdaContext
    from facepipe_tools.local.handlers import load_handler

    module = load_handler(function_dir)
    marks["init_s"] = time.perf_counter() - started
    first, *later = json.loads(Path(events_json).read_text())
    started = time.perf_counter()
    module.handler(first, LambdaContext(function_name=function_dir))
    marks["first_answer_s"] = time.perf_counter() - started
    for event in later:
        module.handler(event, LambdaContext(function_name=function_dir))
    marks["peak_rss_mb"] = peak_rss_mb(os.getpid())
    marks["begun_at"] = begun
    print_numbers(marks)


def cold_start(function_dir: str, events: list[dict[str, Any]]) -> dict[str, float]:
    """A fresh process per function (the stack's environment): interpreter start, handler-path imports,
    ML library imports, INIT (model loads), the answer to ``events[0]``; peak RSS after all ``events``.
    Give every event its own request_id: a repeated one gets the stored answer, not the work."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(events, handle)
    code = f"from facepipe_tools.bench.cold_start import cold_start_child; cold_start_child({function_dir!r}, {handle.name!r})"
    environment = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    launched = time.time()
    try:
        marks: dict[str, float] = fresh_process(code, f"cold start of {function_dir}", environment)
    finally:
        os.unlink(handle.name)
    marks["interpreter_s"] = marks.pop("begun_at") - launched
    marks["total_s"] = (
        marks["interpreter_s"] + marks["handler_imports_s"] + marks["ml_imports_s"] + marks["init_s"] + marks["first_answer_s"]
    )
    return {k: round(v, 3) for k, v in marks.items()}


def median_cold_start(
    function_dir: str,
    first: Callable[[], dict[str, Any]],
    later: Callable[[], dict[str, Any]],
    invocations: int,
    runs: int,
) -> ColdStart:
    """``cold_start`` in ``runs`` fresh processes, each answering ``first()`` then ``invocations - 1``
    events from ``later()`` (new request_ids every time); the median of each part and of the total
    (imports alone vary by a second between fresh processes on a shared machine), the highest peak RSS."""
    measured = [cold_start(function_dir, [first()] + [later() for _ in range(invocations - 1)]) for _ in range(max(1, runs))]
    medians = {key: round(statistics.median(m[key] for m in measured), 3) for key in measured[0]}
    medians["peak_rss_mb"] = max(m["peak_rss_mb"] for m in measured)
    return ColdStart(**medians, runs=len(measured), total_s_max=max(m["total_s"] for m in measured))


def detection_event(frame: tuple[str, bytes]) -> dict[str, Any]:
    body = {"request_id": f"bench-cold-{uuid.uuid4()}", "filename": frame[0], "content": base64.b64encode(frame[1]).decode()}
    return {
        "version": "2.0",
        "rawPath": "/",
        "body": json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"http": {"method": "POST"}},
    }


def recognition_event(
    frames: Sequence[tuple[str, bytes]], detector: FaceDetector, model: str, settings: Settings | None = None
) -> dict[str, Any]:
    """An SQS batch of up to 10 request messages (docs/contracts.md, Request message) made from ``frames``, as detection makes them
    (with ``settings``; default: this process's environment, a stack's)."""
    from facepipe.embedding import load_cropper
    from facepipe.events import FrameRequest
    from facepipe.frames import FrameProcessor
    from facepipe.images import open_image
    from facepipe.messages import encode
    from facepipe.settings import Settings

    processor = FrameProcessor(settings or Settings.from_env(embedding_model=model), detector, load_cropper(model))
    records = []
    for filename, content in frames:
        image = open_image(content, 200_000_000)
        faces = detector.detect(image)
        if not faces:
            continue
        request = FrameRequest(f"bench-cold-{uuid.uuid4()}", filename, "bench", image, len(content))
        records.append({"messageId": str(uuid.uuid4()), "body": encode(processor.build_message(request, faces))})
        if len(records) == 10:
            break
    return {"Records": records}
