"""``facepipe bench``: every stage timed, the references beside it, end to end like the seed's grader.

In one run (docs/performance.md shows a report and how to read it):

- **stages, in process** on a fixed frame set (default: the shared probes): decode, detect,
  align/crop, embed per face and per batch of 10, and the compute of one frame, per model;
- **references** on the same frames and threads: (a) the naive seed-003 way, facenet-pytorch's
  ``MTCNN`` on the full frame then one ``InceptionResnetV1`` call per face; (b) seed 000's
  library, ``face_recognition`` (HOG + dlib; the ``bench`` extra). ``ratio_vs_naive`` and
  ``ratio_vs_face_recognition`` are their mean compute per frame over facepipe's;
- **index query** p50/p95 on the embedded index holding ``--index-size`` faces;
- **end to end through a local stack**, per model: the grader's shape (batches of
  ``concurrency`` requests; each request thread POSTs its frame, then polls the response
  queue with ``receive_message(MaxNumberOfMessages=1, WaitTimeSeconds=5)`` and deletes only
  its own answer) at concurrency 1 and 10, from a process of its own (a camera's client does not
  share the stack's interpreter), frames ``--downscale``-d to camera size; one
  640x480 one-face frame at a time; DynamoDB writes and a queue hop on the stack's emulator;
  peak RSS of each function process;
- **cold start** of each function in a fresh process: interpreter, handler-path imports, ML
  library imports (detection: torch; recognition: onnxruntime, or dlib), INIT (model loads), first answer (both functions: the
  640x480 one-face frame, as a camera's first frame wakes them), then batches of up to 10
  frames and the peak RSS;
- the Lambda memory size per function from the measured CPU need, and its cost per 1,000 frames.

facenet-vggface2 is exported to ONNX first, as the image build does, and every facepipe
measurement loads that file. Where the VGGFace2 weights are absent, it is the real architecture
with random weights (``FACENET_WEIGHTS_PATH=random:timing-only``): the same compute, for timing
only; the report says so.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import io
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facepipe_tools.client import post_frame
from facepipe_tools.report import command_line, markdown_table, percentile, progress_bar

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from PIL import Image

    from facepipe.detection import FaceDetector
    from facepipe.embedding import Embedder
    from facepipe.settings import Settings
    from facepipe_tools.local.stack import StackOptions
    from facepipe_tools.sets import LabelledSet

#: Lambda: one vCPU per 1,769 MB; x86_64 price per GB-second and per request (us-east-1, 2025)
MB_PER_VCPU = 1769
PRICE_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_REQUEST = 0.20 / 1_000_000


@dataclass
class Sample:
    request_id: str
    filename: str
    status: int
    result: str | None
    latency: float | None
    foreign_receives: int


def grader_request(function_url: str, sqs: SQSClient, queue_url: str, filename: str, content: bytes, timeout: float = 60.0) -> Sample:
    """One request exactly as the seed's grading client makes it."""
    request_id = str(uuid.uuid4())
    started = time.perf_counter()
    status, _ = post_frame(function_url, request_id, filename, content)
    foreign = 0
    while status == 200 and time.perf_counter() - started < timeout:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=5).get("Messages", []):
            body = json.loads(message["Body"])
            if body.get("request_id") == request_id:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                return Sample(request_id, filename, status, body.get("result"), time.perf_counter() - started, foreign)
            foreign += 1
    return Sample(request_id, filename, status, None, None, foreign)


def run_grader(
    function_url: str,
    sqs: SQSClient,
    queue_url: str,
    frames: list[tuple[str, bytes]],
    requests: int,
    concurrency: int,
    progress: bool = True,
) -> list[Sample]:
    samples: list[Sample] = []
    bar = progress_bar(requests, "requests", progress, unit="req")
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for start in range(0, requests, concurrency):
            batch = [frames[i % len(frames)] for i in range(start, min(requests, start + concurrency))]
            samples += pool.map(lambda f: grader_request(function_url, sqs, queue_url, *f), batch)
            done = [s.latency for s in samples if s.latency is not None]
            bar.update(len(batch))
            bar.set_postfix(mean=f"{statistics.fmean(done) if done else 0:.3f} s")
    bar.close()
    return samples


def grader_in_this_process(
    function_url: str, queue_url: str, frames: list[tuple[str, bytes]], requests: int, concurrency: int, progress: bool
) -> list[Sample]:
    """``run_grader`` with this process's own SQS client (the environment points it at the stack)."""
    from facepipe_tools.stacks import sqs_client

    return run_grader(function_url, sqs_client(), queue_url, frames, requests, concurrency, progress)


# --- numbers ------------------------------------------------------------------------------
def summary(values: Sequence[float], digits: int = 2) -> dict[str, float | int]:
    """min / median / p95 / mean of ``values`` (ms or s, as given, to ``digits`` decimals), and how many."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "p95": round(percentile(values, 95) or 0.0, digits),
        "mean": round(statistics.fmean(values), digits),
    }


def timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """(``function(*args)``, milliseconds)."""
    started = time.perf_counter()
    result = function(*args)
    return result, (time.perf_counter() - started) * 1000


def weights_setting() -> tuple[str, bool]:
    """(the VGGFace2 weights to export and to give reference (a), whether they are real):
    ``FACENET_WEIGHTS_PATH`` when it names the ``.pt`` file, else its default place ("" means it),
    else random weights. An exported ``.onnx`` there is not what the bench needs: it exports the
    weights itself, as the image build does, and reference (a) loads them into facenet-pytorch."""
    from facepipe.embedding.facenet import RANDOM_WEIGHTS
    from facepipe.embedding.weights import default_weights_path

    configured = os.environ.get("FACENET_WEIGHTS_PATH", "")
    if configured == RANDOM_WEIGHTS:
        return RANDOM_WEIGHTS, False
    if configured and not configured.endswith(".onnx") and Path(configured).is_file():
        return configured, True
    if default_weights_path().is_file():
        return "", True
    return RANDOM_WEIGHTS, False


# --- frames ----------------------------------------------------------------------------------
@dataclass
class FrameSet:
    name: str
    frames: list[tuple[str, bytes]]  # what is measured in process and by the references
    grader_frames: list[tuple[str, bytes]]  # what the grader-shaped run sends (downscaled when asked)
    vga: tuple[str, bytes]  # one 640x480 frame with one face
    enroll: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)


def frame_set(labelled: LabelledSet, detector: FaceDetector, downscale: int | None) -> FrameSet:
    """The probes of ``labelled``; with ``downscale``, every face found in them with its context in an
    NxN frame (as ``facepipe eval --downscale``); a 640x480 one-face frame from the first one-face probe."""
    from facepipe.images import encode_jpeg, open_image
    from facepipe_tools.downscale import face_fraction
    from facepipe_tools.scenes import camera_frame, context_frame

    frames = [(p.filename, p.content) for p in labelled.probes]
    grader: list[tuple[str, bytes]] = []
    vga: tuple[str, bytes] | None = None
    for filename, content in frames:
        photo = open_image(content, 200_000_000)
        faces = detector.detect(photo)
        if vga is None and len(faces) == 1:
            vga = (f"{filename}.640x480.jpg", encode_jpeg(camera_frame(photo, faces[0].box, 120, 640).crop((0, 80, 640, 560))))
        if downscale:
            for i, face in enumerate(faces):
                frame, _ = context_frame(photo, face.box, face_fraction(f"{filename}#{i}"), downscale)
                grader.append((f"{filename}.face{i}.{downscale}px.jpg", encode_jpeg(frame)))
    if vga is None:
        raise ValueError(f"{labelled.name}: no probe with exactly one face to make the 640x480 frame from")
    name = labelled.name + (f", grader frames {downscale}x{downscale}" if downscale else "")
    return FrameSet(name, frames, grader or frames, vga, dict(labelled.enroll))


# --- stages, in process -----------------------------------------------------------------------
def stage_timings(
    frames: Sequence[tuple[str, bytes]], detector: FaceDetector, embedder: Embedder, repeats: int = 3, progress: bool = True
) -> dict[str, Any]:
    """Per stage, ms over ``repeats`` passes of ``frames``: decode, detect, align/crop (per face), embed
    per face and per batch of 10 crops, and ``frame`` = the compute of one frame (decode, detect, crop,
    one embed call for its faces)."""
    from facepipe.images import open_image

    stages: dict[str, list[float]] = {"decode": [], "detect": [], "align_crop": [], "embed_face": [], "embed_batch10": [], "frame": []}
    crops: list[Image.Image] = []
    faces = 0
    bar = progress_bar(repeats * len(frames), f"stages {embedder.model}", progress, unit="frame")
    embedder.embed([embedder.crop(open_image(frames[0][1], 200_000_000), detector.detect(open_image(frames[0][1], 200_000_000))[0])])
    for repeat in range(repeats):
        for _, content in frames:
            frame, decode_ms = timed(open_image, content, 200_000_000)
            found, detect_ms = timed(detector.detect, frame)
            crop_ms = 0.0
            frame_crops = []
            for face in found:
                crop, ms = timed(embedder.crop, frame, face)
                frame_crops.append(crop)
                stages["align_crop"].append(ms)
                crop_ms += ms
            _, embed_ms = timed(embedder.embed, frame_crops) if frame_crops else (None, 0.0)
            stages["decode"].append(decode_ms)
            stages["detect"].append(detect_ms)
            stages["frame"].append(decode_ms + detect_ms + crop_ms + embed_ms)
            if repeat == 0:
                crops += frame_crops
                faces += len(found)
            bar.update()
    bar.close()
    for crop in crops * repeats:
        stages["embed_face"].append(timed(embedder.embed, [crop])[1])
    batches = [[crops[(i + j) % len(crops)] for j in range(10)] for i in range(0, max(len(crops), 10) * repeats, 10)]
    for batch in batches[: max(3, repeats * 2)]:
        stages["embed_batch10"].append(timed(embedder.embed, batch)[1])
    return {"faces": faces, "frames": len(frames), **{name: summary(values) for name, values in stages.items()}}


def exported_model(weights: str, folder: Path) -> str:
    """The ONNX file the functions load, exported from ``weights`` (``RANDOM_WEIGHTS`` or a .pt file)
    into ``folder`` as the image build does (docker/base.Dockerfile, stage ``export``)."""
    from facepipe.embedding.build.onnx_export import export
    from facepipe.embedding.facenet import ONNX_NAME

    return str(export(folder / ONNX_NAME, weights or None))


def naive_reference(weights: str) -> Callable[[bytes], None]:
    """Reference (a), seed 003's way: facenet-pytorch's ``MTCNN(keep_all=True)`` on the full frame (its
    defaults: 20 px smallest face, 160 px crops), then one ``InceptionResnetV1`` call per face; one frame a call."""
    import torch
    from facenet_pytorch import MTCNN, InceptionResnetV1
    from PIL import Image

    from facepipe.embedding.build.onnx_export import vggface2_state_dict
    from facepipe.embedding.facenet import RANDOM_WEIGHTS

    mtcnn = MTCNN(keep_all=True, device="cpu")
    network = InceptionResnetV1(pretrained=None, classify=False).eval()
    if weights != RANDOM_WEIGHTS:
        state = vggface2_state_dict(weights or None)
        network.load_state_dict({name: tensor for name, tensor in state.items() if not name.startswith("logits.")})

    def one(content: bytes) -> None:
        image = Image.open(io.BytesIO(content)).convert("RGB")
        faces = mtcnn(image)
        with torch.inference_mode():
            for face in faces if faces is not None else []:
                network(face.unsqueeze(0))

    return one


def face_recognition_reference() -> Callable[[bytes], None]:
    """Reference (b), seed 000's library: ``face_recognition`` (HOG locations, then dlib encodings); one frame a call."""
    face_recognition = face_recognition_library()

    def one(content: bytes) -> None:
        image = face_recognition.load_image_file(io.BytesIO(content))
        face_recognition.face_encodings(image, face_recognition.face_locations(image))

    return one


def facepipe_frame(detector: FaceDetector, embedder: Embedder) -> Callable[[bytes], None]:
    """facepipe's compute of one frame, as ``stage_timings`` adds it up: decode, detect, crop, one embed call."""
    from facepipe.images import open_image

    def one(content: bytes) -> None:
        frame = open_image(content, 200_000_000)
        crops = [embedder.crop(frame, face) for face in detector.detect(frame)]
        if crops:
            embedder.embed(crops)

    return one


def paired_frame_times(
    pipelines: dict[str, Callable[[bytes], object]], frames: Sequence[tuple[str, bytes]], repeats: int, progress: bool = True
) -> dict[str, list[float]]:
    """ms per frame of each pipeline, interleaved: every frame goes through all of them in turn (the
    order rotating from frame to frame), ``repeats`` passes, after one warm-up call each. A machine
    whose speed drifts over minutes then slows every pipeline alike, and their ratio holds."""
    for one in pipelines.values():
        one(frames[0][1])  # lazy loads, allocator
    names = list(pipelines)
    times: dict[str, list[float]] = {name: [] for name in names}
    bar = progress_bar(repeats * len(frames), "facepipe and the references, interleaved", progress, unit="frame")
    for turn in range(repeats * len(frames)):
        content = frames[turn % len(frames)][1]
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            times[name].append(timed(pipelines[name], content)[1])
        bar.update()
    bar.close()
    return times


def face_recognition_library() -> Any:
    """The ``face_recognition`` package, loaded from its installed files: its name is also the
    recognition handler's folder (``lambdas/face_recognition``), which comes first on the path."""
    import importlib.metadata
    import importlib.util
    import warnings

    try:
        init = Path(str(importlib.metadata.distribution("face_recognition").locate_file("face_recognition/__init__.py")))
    except importlib.metadata.PackageNotFoundError as exc:
        raise ImportError("face_recognition is not installed") from exc
    name = "_face_recognition_library"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load face_recognition from {init}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    from PIL import ImageFile

    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
        spec.loader.exec_module(module)
    ImageFile.LOAD_TRUNCATED_IMAGES = truncated  # face_recognition turns it on for the whole process
    return module


def index_query_times(size: int, dimension: int, queries: int = 300, seed: int = 0) -> list[float]:
    """ms per ``query(top_k=10)`` on the embedded index holding ``size`` random unit vectors."""
    import numpy as np

    from facepipe.index._base import Vector
    from facepipe.index.embedded import EmbeddedIndex

    rng = np.random.default_rng(seed)
    index = EmbeddedIndex(dimension)
    for start in range(0, size, 10_000):
        values = rng.standard_normal((min(10_000, size - start), dimension)).astype(np.float32)
        index.upsert([Vector(f"face-{start + i}", v, {"person_id": f"person-{(start + i) // 5}"}) for i, v in enumerate(values)], "bench")
    probes = rng.standard_normal((queries, dimension)).astype(np.float32)
    index.query(probes[0], 10, "bench")
    return [timed(index.query, v, 10, "bench")[1] for v in probes]


# --- cold start, in a fresh process -----------------------------------------------------------
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
    print("BENCH " + json.dumps(marks), flush=True)


def cold_start(function_dir: str, events: list[dict[str, Any]]) -> dict[str, float]:
    """A fresh process per function (the stack's environment): interpreter start, handler-path imports,
    ML library imports, INIT (model loads), the answer to ``events[0]``; peak RSS after all ``events``.
    Give every event its own request_id: a repeated one gets the stored answer, not the work."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(events, handle)
    code = f"from facepipe_tools.bench import cold_start_child; cold_start_child({function_dir!r}, {handle.name!r})"
    environment = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING", "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    launched = time.time()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300, check=False)
    os.unlink(handle.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"cold start of {function_dir} failed: {done.stderr[-2000:]}")
    marks: dict[str, float] = json.loads(lines[-1][len("BENCH ") :])
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
) -> dict[str, float]:
    """``cold_start`` in ``runs`` fresh processes, each answering ``first()`` then ``invocations - 1``
    events from ``later()`` (new request_ids every time); the median of each part and of the total
    (imports alone vary by a second between fresh processes on a shared machine), the highest peak RSS."""
    measured = [cold_start(function_dir, [first()] + [later() for _ in range(invocations - 1)]) for _ in range(max(1, runs))]
    result = {key: round(statistics.median(m[key] for m in measured), 3) for key in measured[0]}
    result["peak_rss_mb"] = max(m["peak_rss_mb"] for m in measured)
    result["runs"] = len(measured)
    result["total_s_max"] = max(m["total_s"] for m in measured)
    return result


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
    """An SQS batch of up to 10 request messages (§1.2) made from ``frames``, as detection makes them
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


# --- end to end through a local stack ------------------------------------------------------------
def peak_rss_mb(pid: int) -> float:
    """VmHWM of process ``pid`` in MB (0 when unreadable). Not ``ru_maxrss``: Linux carries that across
    fork and exec, so a child of a big process would report its parent's peak."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def function_rss_mb() -> dict[str, float]:
    """Peak RSS of this process's function processes (the local stack's), by function."""
    peaks: dict[str, float] = {}
    for child in multiprocessing.active_children():
        if child.name.startswith("facepipe-") and child.pid is not None:
            name = child.name.removeprefix("facepipe-")
            peaks[name] = max(peaks.get(name, 0.0), peak_rss_mb(child.pid))
    return peaks


def grader_summary(samples: list[Sample]) -> dict[str, Any]:
    latencies = [s.latency for s in samples if s.latency is not None]
    return {
        "requests": len(samples),
        "answered": len(latencies),
        "failed": sum(1 for s in samples if s.latency is None or s.status != 200),
        "faces_named": sum(1 for s in samples if s.result),
        "latency_s": summary(latencies, digits=3),  # ms: the targets are 200 ms and 0.5 s
        "foreign_receives": sum(s.foreign_receives for s in samples),
        "_latencies": latencies,
    }


def weights_environment(model: str, weights: str) -> dict[str, str]:
    """What the functions need to load facenet-vggface2's weights (or run it with random ones)."""
    return {"FACENET_WEIGHTS_PATH": weights} if model == "facenet-vggface2" and weights else {}


def stack_options(model: str, environment: dict[str, str], prefix: str) -> StackOptions:
    """A local stack for the bench: free ports, no state file, resources named with ``prefix``."""
    from facepipe_tools.local.stack import StackOptions

    return StackOptions(
        moto_port=0,
        detection_port=0,
        recognition_port=0,
        vector_port=0,
        state_file=None,
        embedding_model=model,
        environment=environment,
        prefix=prefix,
    )


def end_to_end(model: str, frames: FrameSet, args: argparse.Namespace, detector: FaceDetector, weights: str) -> dict[str, Any]:
    """One local stack with ``model``: enroll, the grader's shape at concurrency 1 and ``args.concurrency``,
    the 640x480 frame one at a time, DynamoDB writes and a queue hop, cold starts, peak RSS."""
    import boto3

    from facepipe.names import DEFAULT_PREFIX
    from facepipe.people import PeopleStore, Tag
    from facepipe.settings import Settings
    from facepipe_tools.admin import Admin, build_recognizer
    from facepipe_tools.local.stack import LocalStack
    from facepipe_tools.stacks import sqs_client, stack_environment

    extra = weights_environment(model, weights)
    # a prefix per model: resource names that say which stack they belong to
    options = stack_options(model, extra, f"{DEFAULT_PREFIX}-bench-{model.split('-')[0]}")
    print(f"starting a local stack with {model} ...", file=sys.stderr, flush=True)
    result: dict[str, Any] = {"model": model}
    started = time.perf_counter()
    saved = dict(os.environ)
    with LocalStack(options) as stack:
        result["stack_start_s"] = round(time.perf_counter() - started, 1)
        os.environ.update({**stack_environment(stack.info), **extra, "EMBEDDING_MODEL": model})
        admin = Admin(build_recognizer(Settings.from_env()))
        for name, images in frames.enroll.items():
            admin.enroll(name, images)
        sqs = sqs_client()
        url, queue = stack.info["function_url"], stack.info["response_queue_url"]
        # the client runs in a process of its own, as a camera's does: its threads and boto3 calls
        # do not take this process's interpreter lock from the emulator, the pollers and the URL
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as client:

            def grader(frames: list[tuple[str, bytes]], requests: int, concurrency: int, progress: bool) -> dict[str, Any]:
                return grader_summary(client.submit(grader_in_this_process, url, queue, frames, requests, concurrency, progress).result())

            grader(frames.grader_frames[:2], 2, 1, False)  # warm both functions
            result["single_640x480"] = grader([frames.vga], args.single, 1, args.progress)
            result["concurrency_1"] = grader(frames.grader_frames, args.single, 1, args.progress)
            result[f"concurrency_{args.concurrency}"] = grader(frames.grader_frames, args.requests, args.concurrency, args.progress)
        result["function_peak_rss_mb"] = function_rss_mb()

        # DynamoDB writes and a queue hop, on the stack's emulator
        people = PeopleStore(stack.info["table"], boto3.resource("dynamodb"))
        writes = []
        for i in range(args.repeats * 10):
            tag = Tag(0, f"bench-face-{i}", None, "", 0.5, False, [0.0, 0.0, 10.0, 10.0], {})  # an unknown face: no person to check
            writes.append(timed(people.tag_media, f"bench-{uuid.uuid4()}", "0" * 64, "bench.jpg", "bench", "unknown", [tag])[1])
        result["dynamodb_tag_write_ms"] = summary(writes)
        hop_queue = sqs.create_queue(QueueName=f"bench-hop-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        body = "x" * 20_000  # about a one-face request message
        hops = []
        for _ in range(args.repeats * 10):
            started = time.perf_counter()
            sqs.send_message(QueueUrl=hop_queue, MessageBody=body)
            message = sqs.receive_message(QueueUrl=hop_queue, MaxNumberOfMessages=1, WaitTimeSeconds=1)["Messages"][0]
            hops.append((time.perf_counter() - started) * 1000)
            sqs.delete_message(QueueUrl=hop_queue, ReceiptHandle=message["ReceiptHandle"])
        result["queue_hop_ms"] = summary(hops)

        # cold starts: fresh processes in the stack's environment
        result["cold_start"] = {
            "face_detection": median_cold_start(
                "face_detection",
                functools.partial(detection_event, frames.vga),
                functools.partial(detection_event, frames.vga),
                args.repeats * 3,
                args.cold_starts,
            ),
            "face_recognition": median_cold_start(
                "face_recognition",
                functools.partial(recognition_event, [frames.vga], detector, model),
                functools.partial(recognition_event, frames.grader_frames, detector, model),
                args.repeats,
                args.cold_starts,
            ),
        }
    os.environ.clear()
    os.environ.update(saved)
    return result


def record_threads_effect(model: str, frames: FrameSet, detector: FaceDetector, weights: str, repeats: int) -> dict[str, Any]:
    """face-recognition invoked with batches of 10 frames' request messages, on two fresh local
    stacks alike but for ``RECORD_THREADS`` (1: records finished one after another; the default:
    at once), the same batches to both, alternately. ms per batch of 10, and the ratio."""
    from facepipe.names import DEFAULT_PREFIX
    from facepipe.settings import Settings
    from facepipe_tools.local.stack import LocalStack, StackOptions

    default = Settings().record_threads
    extra = weights_environment(model, weights)
    warm_up = StackOptions().recognition_environments  # the first batch each execution environment takes
    times: dict[int, list[float]] = {1: [], default: []}
    with contextlib.ExitStack() as running:
        stacks = {}
        for threads in times:
            environment = {**extra, "RECORD_THREADS": str(threads)}
            prefix = f"{DEFAULT_PREFIX}-threads{threads}-{uuid.uuid4().hex[:6]}"  # names that say which stack
            stacks[threads] = running.enter_context(LocalStack(stack_options(model, environment, prefix)))
        queues = Settings(
            request_queue_url=stacks[1].info["request_queue_url"],
            response_queue_url=stacks[1].info["response_queue_url"],
            embedding_model=model,
        )  # the messages are only built here, never sent
        rotated = [frames.grader_frames[i:] + frames.grader_frames[:i] for i in range(repeats * 2 + warm_up)]
        events = [recognition_event(batch, detector, model, queues) for batch in rotated]
        for number, event in enumerate(events):
            for threads, stack in stacks.items():
                reply, ms = timed(stack.recognition.invoke, event)
                if reply.get("batchItemFailures"):
                    raise RuntimeError(f"RECORD_THREADS={threads}: records failed: {reply['batchItemFailures']}")
                if number >= warm_up:
                    times[threads].append(ms)
    one, many = summary(times[1]), summary(times[default])
    return {
        "records": len(events[0]["Records"]),
        "threads": default,
        "one_at_a_time_ms": one,
        "at_once_ms": many,
        "speedup": round(one["median"] / many["median"], 2),
    }


# --- Lambda sizing and cost -----------------------------------------------------------------------
def threads_speedup(make: Callable[[int], Callable[[], Any]], repeats: int = 3) -> dict[str, float]:
    """Median ms of ``make(threads)()`` with 1 and 2 threads (torch's, and what ``make`` gives its
    model: onnxruntime's are fixed when its session is made), and the speed-up.

    The two are timed in turn (1, 2, then 2, 1, ...), ``max(5, 2 * repeats)`` calls each after a
    warm-up call: timed one after the other, a machine that slowed down between them read a
    second vCPU's worth as 1.01x in one run and 1.65x in the next (the sizing rule reads it)."""
    import torch

    before = torch.get_num_threads()
    functions = {threads: make(threads) for threads in (1, 2)}
    times: dict[int, list[float]] = {1: [], 2: []}
    try:
        for turn in range(max(5, 2 * repeats) + 1):
            for threads in (1, 2) if turn % 2 == 0 else (2, 1):
                torch.set_num_threads(threads)
                elapsed = timed(functions[threads])[1]
                if turn:  # the first turn warms both up
                    times[threads].append(elapsed)
    finally:
        torch.set_num_threads(before)
    medians = {threads: statistics.median(values) for threads, values in times.items()}
    return {"one_thread_ms": round(medians[1], 1), "two_threads_ms": round(medians[2], 1), "speedup": round(medians[1] / medians[2], 2)}


def lambda_sizing(
    speedup: float, peak_rss_mb: float, seconds_per_frame_1vcpu: float, architecture: str, invocations_per_frame: float = 1.0
) -> dict[str, Any]:
    """Memory from the CPU need: a second vCPU (2 x 1,769 MB) only when two threads pay (>= 1.5x);
    never below 1.5x the measured peak RSS. Cost per 1,000 frames at that size: compute billed
    per GB-second plus requests (``invocations_per_frame``: 0.1 for SQS batches of 10)."""
    vcpus = 2 if speedup >= 1.5 else 1
    memory = max(vcpus * MB_PER_VCPU, int(peak_rss_mb * 1.5 + 63) // 64 * 64)
    seconds = seconds_per_frame_1vcpu / (speedup if vcpus == 2 else 1.0)
    cost = 1000 * (seconds * memory / 1024 * PRICE_GB_SECOND[architecture]) + 1000 * invocations_per_frame * PRICE_REQUEST
    return {"vcpus": vcpus, "memory_mb": memory, "seconds_per_frame": round(seconds, 4), "usd_per_1000_frames": round(cost, 5)}


# --- the whole run -----------------------------------------------------------------------------------
STAGE_LABELS = {
    "decode": "decode (bytes -> RGB frame)",
    "detect": "detect (MTCNN)",
    "align_crop": "align/crop (per face)",
    "embed_face": "embed, one face a call",
    "embed_batch10": "embed, batch of 10 faces",
    "frame": "compute per frame (decode+detect+crop+embed)",
}


def run_bench(args: argparse.Namespace) -> int:
    import torch

    from facepipe.allocator import keep_freed_memory

    torch.set_num_threads(args.threads)
    kept = keep_freed_memory()  # as the functions run (facepipe.runtime); the references run under it too
    weights, real_weights = weights_setting()
    model_folder = Path(tempfile.mkdtemp(prefix="facepipe-bench-"))
    try:
        return _run_bench(args, weights, real_weights, exported_model(weights, model_folder), kept)
    finally:
        shutil.rmtree(model_folder, ignore_errors=True)


def _run_bench(args: argparse.Namespace, weights: str, real_weights: bool, model_file: str, kept: bool) -> int:
    """``run_bench`` once facenet-vggface2 is exported to ``model_file``; ``weights`` is what it came
    from (what reference (a) loads)."""
    import torch

    from facepipe.detection import FaceDetector
    from facepipe.embedding import dimension_of, load_embedder
    from facepipe.settings import Settings
    from facepipe_tools.cli._common import command as command_of
    from facepipe_tools.sets import load_set

    settings = Settings.from_env()
    detector = FaceDetector.from_settings(settings)
    labelled = load_set(args.set)
    frames = frame_set(labelled, detector, args.downscale)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    report: dict[str, Any] = {
        "command": command_of(args),
        "machine": machine(),
        "frame_set": frames.name,
        "frames": len(frames.frames),
        "grader_frames": len(frames.grader_frames),
        "torch_threads_in_process": args.threads,
        "allocator": "glibc, freed memory kept (facepipe.allocator), for facepipe and the references alike"
        if kept
        else "the C library's default",
        "facenet_weights": ("VGGFace2 (real)" if real_weights else "RANDOM (VGGFace2 file absent): timing only")
        + ", exported to ONNX as the image build does; facepipe runs it in onnxruntime",
        "stages_ms": {},
    }
    embedders = {}
    for model in models:
        embedders[model] = load_embedder(model, model_file if model == "facenet-vggface2" else "", args.threads)
        report["stages_ms"][model] = stage_timings(frames.frames, detector, embedders[model], args.repeats, args.progress)

    references: dict[str, Any] = {}
    ours_model = "facenet-vggface2" if "facenet-vggface2" in models else models[0]
    pipelines: dict[str, Callable[[bytes], object]] = {
        "ours_ms": facepipe_frame(detector, embedders[ours_model]),
        "naive_seed003_ms": naive_reference(weights),
    }
    try:
        pipelines["face_recognition_ms"] = face_recognition_reference()
    except ImportError as exc:
        references["face_recognition_ms"] = {"n": 0, "error": f"face_recognition not installed (pip install 'facepipe[bench]'): {exc}"}
    for name, times in paired_frame_times(pipelines, frames.frames, args.repeats, args.progress).items():
        references[name] = summary(times)
    ours = references["ours_ms"]["mean"]
    references["ours_model"] = ours_model
    references["paired"] = f"interleaved frame by frame, {args.repeats} passes"
    report["references"] = references
    report["ratio_vs_naive"] = round(references["naive_seed003_ms"]["mean"] / ours, 2)
    fr = references["face_recognition_ms"]
    report["ratio_vs_face_recognition"] = round(fr["mean"] / ours, 2) if fr.get("n") else None

    index: dict[str, Any] = {"size": args.index_size}
    for model in models:
        index[model] = summary(index_query_times(args.index_size, dimension_of(model)))
    report["index_query_ms"] = index

    # threads: what a second vCPU buys each function
    vga = frames.vga[1]
    from facepipe.images import open_image

    vga_frame = open_image(vga, 200_000_000)
    threads: dict[str, Any] = {
        "detection (640x480 frame)": threads_speedup(lambda _: functools.partial(detector.detect, vga_frame), args.repeats)
    }
    vga_face = detector.detect(vga_frame)[0]
    for model in models:
        crops = [embedders[model].crop(vga_frame, vga_face)] * 10

        def embed_with(count: int, model: str = model, crops: list[Image.Image] = crops) -> Callable[[], Any]:
            return functools.partial(load_embedder(model, model_file if model == "facenet-vggface2" else "", count).embed, crops)

        threads[f"recognition ({model}, batch of 10)"] = threads_speedup(embed_with, args.repeats)
    report["threads"] = threads
    torch.set_num_threads(args.threads)

    embedders.clear()  # free the models before the stacks load theirs
    report["end_to_end"] = {}
    if not args.no_stack:
        for model in models:
            report["end_to_end"][model] = end_to_end(model, frames, args, detector, model_file)
        print("finishing a batch's records one at a time and at once ...", file=sys.stderr, flush=True)
        report["record_threads"] = {"model": ours_model, **record_threads_effect(ours_model, frames, detector, model_file, args.repeats)}
    report["lambda"] = sizing(report, models, args.concurrency)

    latencies = {m: e[f"concurrency_{args.concurrency}"].pop("_latencies") for m, e in report["end_to_end"].items()}
    for e in report["end_to_end"].values():
        for key in ("single_640x480", "concurrency_1"):
            e[key].pop("_latencies")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    write_plot(report, latencies, plot)
    out.write_text(render(report, plot, out))
    print(render(report, plot, out))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {out}, {plot}" + (f", {args.json}" if args.json else ""), file=sys.stderr)
    failed = any(e[k]["failed"] for e in report["end_to_end"].values() for k in e if k.startswith(("concurrency_", "single_")))
    return 1 if failed else 0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return f"{cpu}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}"


def sizing(report: dict[str, Any], models: list[str], concurrency: int) -> dict[str, Any]:
    """The Lambda memory size per function from the measured CPU need and RSS; cost per 1,000 frames."""
    threads = report["threads"]
    stages = report["stages_ms"]
    deployed = "facenet-vggface2" if "facenet-vggface2" in models else models[0]
    e2e = report["end_to_end"].get(deployed, {})
    rss = e2e.get("function_peak_rss_mb", {})
    cold = e2e.get("cold_start", {})
    detection_rss = max(rss.get("face_detection", 0.0), cold.get("face_detection", {}).get("peak_rss_mb", 0.0))
    recognition_rss = max(rss.get("face_recognition", 0.0), cold.get("face_recognition", {}).get("peak_rss_mb", 0.0))
    detection_s = (stages[deployed]["decode"]["mean"] + stages[deployed]["detect"]["mean"] + stages[deployed]["align_crop"]["mean"]) / 1000
    faces_per_frame = stages[deployed]["faces"] / max(1, stages[deployed]["frames"])
    recognition_s = stages[deployed]["embed_batch10"]["median"] / 10 * faces_per_frame / 1000
    index = report["index_query_ms"].get(deployed, {}).get("median", 0.0)
    writes = e2e.get("dynamodb_tag_write_ms", {}).get("median", 0.0)
    recognition_s += (index + writes) * faces_per_frame / 1000
    return {
        "face_detection": lambda_sizing(threads["detection (640x480 frame)"]["speedup"], detection_rss, detection_s, "x86_64"),
        "face_recognition": lambda_sizing(
            threads[f"recognition ({deployed}, batch of 10)"]["speedup"], recognition_rss, recognition_s, "arm64", 0.1
        ),
        "model": deployed,
        "note": "compute from the in-process stage means on this x86 machine; arm64 speed not measured here",
    }


def _cell(stats: dict[str, Any], key: str) -> str:
    return str(stats.get(key, "-")) if stats.get("n") else "-"


def render(report: dict[str, Any], plot: Path, out: Path) -> str:
    models = list(report["stages_ms"])
    lines = [
        "# facepipe bench",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']}  ",
        f"Frames: {report['frame_set']} ({report['frames']} frames in process, {report['grader_frames']} frames cycled by the grader)  ",
        f"facenet-vggface2 weights: **{report['facenet_weights']}**  ",
        f"In-process torch threads: {report['torch_threads_in_process']}  ",
        f"Allocator: {report.get('allocator', 'the C library default')}",
        "",
        "## Stages, in process (ms: min / median / p95)",
        "",
    ]
    rows = []
    for stage, label in STAGE_LABELS.items():
        rows.append(
            [
                label,
                *(
                    f"{_cell(report['stages_ms'][m][stage], 'min')} / {_cell(report['stages_ms'][m][stage], 'median')} / {_cell(report['stages_ms'][m][stage], 'p95')}"
                    for m in models
                ),
            ]
        )
    index = report["index_query_ms"]
    rows.append(
        [
            f"index query, top 10 of {index['size']:,} faces (embedded faiss)",
            *(f"{_cell(index[m], 'min')} / {_cell(index[m], 'median')} / {_cell(index[m], 'p95')}" for m in models),
        ]
    )
    for key, label in (
        ("dynamodb_tag_write_ms", "DynamoDB tag write (emulator)"),
        ("queue_hop_ms", "queue hop: send + receive (emulator)"),
    ):
        rows.append([label, *(_triple(report["end_to_end"].get(m, {}).get(key, {})) for m in models)])
    lines += markdown_table(rows, ["stage", *models])
    refs = report["references"]
    lines += [
        "",
        "## References, same frames, same threads (compute per frame, ms)",
        "",
        f"Measured {refs.get('paired', 'one after another')}: facepipe's compute of a frame (decode, detect, crop, one embed call) and each reference's.",
        "",
        *markdown_table(
            [
                [f"facepipe ({refs['ours_model']})", _triple(refs["ours_ms"]), _cell(refs["ours_ms"], "mean"), "1.0"],
                [
                    "(a) naive seed 003: MTCNN on the full frame, one InceptionResnetV1 call per face",
                    _triple(refs["naive_seed003_ms"]),
                    _cell(refs["naive_seed003_ms"], "mean"),
                    str(report["ratio_vs_naive"]),
                ],
                [
                    "(b) face_recognition (HOG + dlib), seed 000",
                    _triple(refs["face_recognition_ms"]),
                    _cell(refs["face_recognition_ms"], "mean"),
                    str(report["ratio_vs_face_recognition"]),
                ],
            ],
            ["pipeline", "min / median / p95", "mean", "ratio (reference / facepipe)"],
        ),
        "",
        "## End to end through the local stack (s)",
        "",
        "The seed grader's client (each request thread POSTs its frame, then polls the response queue with "
        "`MaxNumberOfMessages=1`), run from a process of its own; the stack (AWS emulator, both functions, "
        "the client) shares this machine's cores.",
        "",
    ]
    rows = []
    for model, e2e in report["end_to_end"].items():
        for key, value in e2e.items():
            if isinstance(value, dict) and "latency_s" in value:
                lat = value["latency_s"]
                rows.append(
                    [
                        model,
                        key,
                        f"{value['answered']}/{value['requests']}",
                        _cell(lat, "mean"),
                        _cell(lat, "median"),
                        _cell(lat, "p95"),
                        _cell(lat, "min"),
                    ]
                )
    lines += markdown_table(rows, ["model", "run", "answered", "mean", "p50", "p95", "min"])
    if threads := report.get("record_threads"):
        lines += [
            "",
            f"## Finishing a batch's records: face-recognition, {threads['model']}, batches of {threads['records']} frames (ms)",
            "",
            "Two fresh local stacks alike but for `RECORD_THREADS`, invoked alternately with the same batches; "
            "each batch is embedded in one forward pass either way.",
            "",
        ]
        lines += markdown_table(
            [
                ["1 (one record after another)", _triple(threads["one_at_a_time_ms"]), "1.0"],
                [f"{threads['threads']} (at once)", _triple(threads["at_once_ms"]), str(threads["speedup"])],
            ],
            ["RECORD_THREADS", "min / median / p95 per batch", "speed-up (median)"],
        )
    lines += [
        "",
        "## Cold start (s) and peak RSS (MB), fresh process per function",
        "",
        "Medians of several fresh processes per function (each column, and the total; the slowest total beside it). "
        "First answer: the 640x480 one-face frame, to each function (recognition: its one-record batch). "
        "Peak RSS (fresh): the highest, after that and more answers, recognition's to batches of up to 10 frames.",
        "",
    ]
    rows = []
    for model, e2e in report["end_to_end"].items():
        for function, c in e2e["cold_start"].items():
            rows.append(
                [
                    model,
                    function,
                    c["interpreter_s"],
                    c["handler_imports_s"],
                    c["ml_imports_s"],
                    c["init_s"],
                    c["first_answer_s"],
                    f"{c['total_s']} (slowest {c['total_s_max']}, {c['runs']} runs)",
                    c["peak_rss_mb"],
                    e2e["function_peak_rss_mb"].get(function, "-"),
                ]
            )
    lines += markdown_table(
        rows,
        [
            "model",
            "function",
            "interpreter",
            "handler imports",
            "torch / onnxruntime / dlib imports",
            "INIT (models)",
            "first answer",
            "total",
            "peak RSS (fresh)",
            "peak RSS (after the grader runs)",
        ],
    )
    lines += ["", "## Threads: what a second vCPU buys (median ms)", ""]
    lines += markdown_table(
        [[k, v["one_thread_ms"], v["two_threads_ms"], v["speedup"]] for k, v in report["threads"].items()],
        ["work", "1 thread", "2 threads", "speed-up"],
    )
    lam = report["lambda"]
    lines += ["", f"## Lambda size and cost ({lam['model']}; {lam['note']})", ""]
    lines += markdown_table(
        [
            [f, lam[f]["vcpus"], lam[f]["memory_mb"], lam[f]["seconds_per_frame"], lam[f]["usd_per_1000_frames"]]
            for f in ("face_detection", "face_recognition")
        ],
        ["function", "vCPUs", "memory (MB)", "billed s per frame", "USD per 1,000 frames"],
    )
    lines += ["", f"![bench]({os.path.relpath(plot, out.parent)})", ""]
    return "\n".join(lines)


def _triple(stats: dict[str, Any]) -> str:
    return f"{_cell(stats, 'min')} / {_cell(stats, 'median')} / {_cell(stats, 'p95')}" if stats.get("n") else "-"


def write_plot(report: dict[str, Any], latencies: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (stages, refs, e2e) = plt.subplots(1, 3, figsize=(15, 4.2))
    models = list(report["stages_ms"])
    names = list(STAGE_LABELS)
    width = 0.8 / max(1, len(models))
    for i, model in enumerate(models):
        medians = [report["stages_ms"][model][s].get("median", 0) for s in names]
        p95 = [report["stages_ms"][model][s].get("p95", 0) - m for s, m in zip(names, medians, strict=True)]
        stages.bar([x + i * width for x in range(len(names))], medians, width, yerr=[[0] * len(p95), p95], label=model, capsize=2)
    stages.set_xticks([x + width * (len(models) - 1) / 2 for x in range(len(names))], [n.replace("_", "\n") for n in names], fontsize=8)
    stages.set_ylabel("ms (median, bar to p95)")
    stages.set_title("stages, in process")
    stages.legend(fontsize=8)
    r = report["references"]
    labels = [f"facepipe\n{r['ours_model']}", "(a) naive\nseed 003", "(b) face_\nrecognition"]
    values = [r["ours_ms"].get("mean", 0), r["naive_seed003_ms"].get("mean", 0), r["face_recognition_ms"].get("mean", 0)]
    refs.bar(labels, values, color=["tab:green", "tab:orange", "tab:red"])
    refs.set_ylabel("ms per frame (mean)")
    refs.set_title(f"compute per frame: x{report['ratio_vs_naive']} vs (a), x{report['ratio_vs_face_recognition']} vs (b)")
    for model, values in latencies.items():
        e2e.hist(values, bins=20, alpha=0.6, label=f"{model}: mean {statistics.fmean(values):.3f} s" if values else model)
    e2e.axvline(0.5, color="red", linestyle="--", linewidth=0.8, label="target 0.5 s")
    e2e.set_xlabel("latency (s), grader shape")
    e2e.set_ylabel("requests")
    e2e.set_title("end to end, local stack")
    e2e.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def detection_by_frame_size(repeats: int = 5, threads: int = 1) -> list[dict[str, object]]:
    """Detection time per frame on the frame sizes detection must serve (facepipe_tools.scenes), with the
    functions' default settings and ``threads`` torch threads. One warm-up run per frame, then
    ``repeats`` timed runs."""
    import matplotlib.cbook
    import torch
    from PIL import Image

    from facepipe.detection import FaceDetector
    from facepipe.settings import Settings
    from facepipe_tools.scenes import frames_by_size

    torch.set_num_threads(threads)
    settings = Settings.from_env()
    detector = FaceDetector.from_settings(settings)
    portrait = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    (face,) = detector.detect(portrait)
    rows = []
    for name, frame in frames_by_size(portrait, face.box).items():
        found = detector.detect(frame)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            detector.detect(frame)
            times.append((time.perf_counter() - started) * 1000)
        rows.append(
            {
                "frame": name,
                "faces": len(found),
                "smallest_face_px": round(detector.smallest_face(frame.width, frame.height), 1),
                "min_ms": round(min(times), 1),
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
            }
        )
    return rows


def run_detection_bench(args: argparse.Namespace) -> int:
    import torch

    command = "facepipe bench " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else "facepipe bench --detection"
    rows = detection_by_frame_size(args.repeats, args.threads)
    header = ("frame", "faces", "smallest face searched (px)", "min ms", "median ms", "max ms")
    lines = [
        "# facepipe bench: detection time per frame size",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, Python {platform.python_version()}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *[f"| {r['frame']} | {r['faces']} | {r['smallest_face_px']} | {r['min_ms']} | {r['median_ms']} | {r['max_ms']} |" for r in rows],
    ]
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


# --- memory of opening a frame, a fresh process per frame ----------------------------------------
#: ``facepipe bench --images``: (format, mode, width, height); 4000x3000 is a phone's photo,
#: 7300x5475 (39.97 MP) about the largest frame the default MAX_IMAGE_PIXELS lets in
IMAGE_FRAMES = (
    ("JPEG", "RGB", 4000, 3000),
    ("PNG", "RGB", 4000, 3000),
    ("PNG", "RGBA", 4000, 3000),
    ("PNG", "P", 4000, 3000),
    ("PNG", "I;16", 4000, 3000),
    ("PNG", "I;16", 7300, 5475),
)


def bench_image(fmt: str, mode: str, width: int, height: int) -> bytes:
    """A ``width`` x ``height`` frame in ``mode`` (RGB, RGBA, P or I;16) saved as ``fmt``: gradients,
    as a decoder's memory depends on the size and the mode, not on the picture."""
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 0.5, width, dtype=np.float32) + np.linspace(0, 0.5, height, dtype=np.float32)[:, None]
    grey = (ramp * 255).astype(np.uint8)
    if mode == "I;16":
        image = Image.fromarray((ramp * 65535).astype(np.uint16))
    elif mode == "P":
        image = Image.fromarray(grey, "P")
        image.putpalette([value for i in range(256) for value in (i, 255 - i, i // 2)])
    else:
        image = Image.fromarray(np.dstack([grey, grey[::-1], 255 - grey, grey[:, ::-1]][: len(mode)]))  # RGB or RGBA
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
    return buffer.getvalue()


def image_memory_child(path: str) -> None:
    """Run in a fresh interpreter (``image_memory``), with the functions' allocator (facepipe.runtime):
    ``open_image`` on the frame at ``path`` after a tiny one of its format and mode (plugins loaded);
    print its peak RSS above the process's before it, and the part of it numpy and Python allocated
    (tracemalloc's peak: Pillow's own buffers are not traced)."""
    import tracemalloc

    from PIL import Image

    from facepipe.allocator import keep_freed_memory
    from facepipe.images import open_image

    def status_kb(key: str) -> int:
        return next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(key + ":"))

    keep_freed_memory()
    data = Path(path).read_bytes()
    header = Image.open(io.BytesIO(data))
    tiny = io.BytesIO()
    Image.new(header.mode, (8, 8)).save(tiny, header.format)
    open_image(tiny.getvalue(), 64)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM back to VmRSS
    before = status_kb("VmRSS")
    tracemalloc.start()
    open_image(data, 200_000_000)
    traced = tracemalloc.get_traced_memory()[1]
    measured = {"mode": header.mode, "peak_mb": (status_kb("VmHWM") - before) / 1024, "traced_mb": traced / 2**20}
    print("BENCH " + json.dumps(measured), flush=True)


def image_memory(content: bytes) -> dict[str, Any]:
    """``image_memory_child`` on ``content`` in a fresh interpreter: decoded mode, peak MB, traced MB."""
    with tempfile.NamedTemporaryFile(suffix=".frame", delete=False) as handle:
        handle.write(content)
    code = f"from facepipe_tools.bench import image_memory_child; image_memory_child({handle.name!r})"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300, check=False)
    finally:
        os.unlink(handle.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"opening a frame failed: {done.stderr[-2000:]}")
    measured: dict[str, Any] = json.loads(lines[-1][len("BENCH ") :])
    return measured


def run_images_bench(args: argparse.Namespace) -> int:
    import numpy as np
    import PIL

    command = command_line(getattr(args, "argv", None) or ["bench", "--images"])
    rows = []
    for fmt, mode, width, height in IMAGE_FRAMES:
        content = bench_image(fmt, mode, width, height)
        measured = image_memory(content)
        megapixels, peak = width * height / 1e6, measured["peak_mb"]
        sizes = (
            round(megapixels, 1),
            round(len(content) / 2**20, 1),
            round(peak),
            round(peak / megapixels, 1),
            round(measured["traced_mb"], 1),
        )
        rows.append((f"{fmt} {measured['mode']}", f"{width}x{height}", *sizes))
    header = ("frame", "size", "MP", "file MB", "peak MB", "MB per MP", "numpy and Python MB")
    lines = [
        "# facepipe bench: memory of opening a frame",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, Pillow {PIL.__version__}, numpy {np.__version__}",
        "",
        "`open_image` (decode, EXIF orientation, RGB) in a fresh process per frame, with the functions' allocator: the peak",
        "RSS above the process's before it, per megapixel, and the part of it numpy and Python allocated (tracemalloc; Pillow's",
        f"own buffers are not traced). MB are MiB, as Lambda's: the detection function has {MB_PER_VCPU}.",
        "",
        *markdown_table(rows, header),
    ]
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


# --- the console at scale (``facepipe bench --console``) -----------------------------------------
#: ``facepipe bench --console``: what the table holds when the pages are timed
CONSOLE_PEOPLE = 10_000
CONSOLE_FACES = 100_000
#: faces of the one person with many (the Person page's case), the rest spread over everyone
CONSOLE_MANY_FACES = 2_000
#: unknown faces kept for review (Review.keep, timed), of this many strangers
CONSOLE_REVIEW_FACES = 10_000
CONSOLE_STRANGERS = 1_000
#: frames and photos on Activity (META items and their tags)
CONSOLE_FRAMES = 10_000
#: the share of people someone named (the rest keep a generated name)
CONSOLE_NAMED = 0.3
#: faces a second one recognition container keeps (its recent-vectors buffer's clock)
CONTAINER_FACES_PER_SECOND = 10.0
_FIRST = ("Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gia", "Hugo", "Ines", "Jon", "Kai", "Lena", "Mara", "Nils", "Omar", "Pia")
_LAST = ("Quinn", "Reyes", "Stone", "Tanaka", "Ueda", "Vance", "Weber", "Xu", "Young", "Zola", "Marsh", "Ortiz", "Park", "Kim")


class AwsCalls:
    """Every AWS request of a boto3 session, counted and timed (botocore's before-call and
    after-call events; the console's worker threads each time their own)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._started = threading.local()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: dict[str, int] = {}
            self.items = 0
            self.seconds = 0.0

    def attach(self, session: Any) -> None:
        """Count the requests of every client ``session`` makes from now on."""
        session.events.register("before-call", self._before)
        session.events.register("after-call", self._after)

    def _before(self, **kwargs: Any) -> None:
        self._started.at = time.perf_counter()

    def _after(self, model: Any = None, parsed: Any = None, **kwargs: Any) -> None:
        elapsed = time.perf_counter() - getattr(self._started, "at", time.perf_counter())
        name = f"{model.service_model.service_name}:{model.name}" if model is not None else "?"
        items = 0
        if isinstance(parsed, dict):
            if "Count" in parsed:
                items = int(parsed["Count"])
            elif "Responses" in parsed:
                items = sum(len(found) for found in parsed["Responses"].values())
            elif parsed.get("Item"):
                items = 1
        with self._lock:
            self.requests[name] = self.requests.get(name, 0) + 1
            self.items += items
            self.seconds += elapsed

    def summary(self) -> tuple[int, int, int]:
        """(DynamoDB requests, S3 requests, DynamoDB items read) since the last reset."""
        with self._lock:
            dynamodb = sum(n for name, n in self.requests.items() if name.startswith("dynamodb:"))
            s3 = sum(n for name, n in self.requests.items() if name.startswith("s3:"))
            return dynamodb, s3, self.items


def _crop_variants(count: int = 16) -> list[bytes]:
    """Face-sized JPEGs (112 px) to stand for kept crops: only their size and decoding matter here."""
    from PIL import Image, ImageDraw

    variants = []
    for i in range(count):
        image = Image.new("RGB", (112, 112), (60 + 10 * i, 90, 150 - 5 * i))
        draw = ImageDraw.Draw(image)
        draw.ellipse((24, 14, 88, 98), fill=(214 - 4 * i, 170, 140 + 3 * i))
        draw.ellipse((40, 44, 50, 54), fill=(40, 40, 40))
        draw.ellipse((62, 44, 72, 54), fill=(40, 40, 40))
        draw.arc((42, 60, 70, 84), 20, 160, fill=(120, 40, 40), width=3)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        variants.append(buffer.getvalue())
    return variants


def _stamp(second: int) -> str:
    """An ISO time ``second`` seconds after the bench's epoch (older data has smaller numbers)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_767_225_600 + second))


def _forget_moto_copies() -> None:
    """Let go of moto's record of every DynamoDB model object it made (kept for its dashboard
    only, ``instances_tracked``): with a transaction's rollback copy among them (tables and items),
    that record keeps every copy alive, and grows the process by megabytes a second."""
    from moto.core.model_instances import model_data

    for model in model_data["dynamodb"].values():
        tracked = getattr(model, "instances_tracked", None)
        if isinstance(tracked, list):
            tracked.clear()


def _group_review(recognizer: Any, count: int, strangers: int, seed: int, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``Review.keep`` of ``count`` synthetic unknown faces of ``strangers`` people (each a random
    direction, its faces within about 0.98 of each other, a few people with many faces): the time
    of each keep, the groups made and how many hold one stranger only."""
    import numpy as np

    from facepipe.detection.quality import FaceQuality
    from facepipe.gallery import FaceToResolve
    from facepipe.index.recent import RecentVectors
    from facepipe.review import Review

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(strangers, 128)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, strangers + 1) ** 0.8
    who = rng.choice(strangers, size=count, p=weights / weights.sum())
    paced = {"now": time.time()}
    settings = recognizer.settings
    review = Review(
        recognizer.index,
        recognizer.people,
        recognizer.namespace,
        recognizer.calibration,
        retention_days=settings.review_retention_days,
        bucket=settings.s3_bucket_name,
        s3=recognizer.s3,
        recent=RecentVectors(clock=lambda: paced["now"]),
        clock=lambda: paced["now"],
    )
    crop = _crop_variants(1)[0]
    from PIL import Image

    picture = Image.open(io.BytesIO(crop)).convert("RGB")
    quality = FaceQuality(22.0, 0.98, 40.0, 5.0, 3.0, 1.0, 120.0, "poor")
    times: list[float] = []
    members: dict[str | None, set[int]] = {}
    groups_of: dict[int, set[str | None]] = {}
    for i, stranger in enumerate(who.tolist()):
        vector = centres[stranger] + rng.normal(scale=0.012, size=128).astype(np.float32)
        vector /= np.linalg.norm(vector)
        face = FaceToResolve(f"bench-review-{i}", 0, [20.0, 20.0, 42.0, 42.0], vector, picture, f"camera-{i % 7}", quality, f"{i:064x}")
        paced["now"] += 1.0 / CONTAINER_FACES_PER_SECOND
        started = time.perf_counter()
        group = review.keep(face)
        times.append(time.perf_counter() - started)
        members.setdefault(group, set()).add(stranger)
        groups_of.setdefault(stranger, set()).add(group)
        if i % 100 == 99:
            _forget_moto_copies()
        if say and i % 1000 == 999:
            say(
                f"  {i + 1:,} kept, {len(members):,} groups, the last 1,000 at {1000 * statistics.median(times[-1000:]):.0f} ms each (median)"
            )
    pure = sum(1 for people in members.values() if len(people) == 1)
    split = sum(1 for groups in groups_of.values() if len(groups) > 1)
    return {"times": times, "groups": len(members), "pure": pure, "strangers": len(groups_of), "split": split}


def _fill_people(people_store: Any, *, people: int, faces: int, many: int, frames: int, named: float, seed: int) -> dict[str, Any]:
    """Write ``people`` profiles (``named`` of them named, the rest generated names), their
    presence shards (counts, last seen), ``faces`` face items (``many`` of them the first
    person's) and ``frames`` frames (META and tags) straight into the table, in batches."""
    import random

    import numpy as np

    from facepipe.people import FaceRecord, Tag, generated_name, keys
    from facepipe.people.items import dict_item, profile_item
    from facepipe.vectors import encode_vector

    rng = random.Random(seed)
    vectors = np.random.default_rng(seed).normal(size=(64, 128)).astype(np.float32)
    encoded = [encode_vector(v / np.linalg.norm(v)) for v in vectors]
    ids = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(people)]
    names = {}
    for i, person_id in enumerate(ids):
        if i == 0:
            names[person_id] = "Many Faces"
        elif rng.random() < named:
            names[person_id] = f"{rng.choice(_FIRST)} {rng.choice(_LAST)} {i}"
        else:
            names[person_id] = generated_name(person_id)
    owners = [ids[0]] * many + [rng.choice(ids[1:]) for _ in range(faces - many)]
    faces_of: dict[str, list[tuple[str, str]]] = {}
    with people_store.table.batch_writer() as batch:
        for i, person_id in enumerate(ids):
            profile = profile_item(person_id, names[person_id], "bench")
            batch.put_item(Item={**profile, "created_at": _stamp(i)})
        for i, person_id in enumerate(owners):
            face_id = uuid.UUID(int=rng.getrandbits(128)).hex
            created = _stamp(people + i)
            record = FaceRecord(
                face_id=face_id,
                person_id=person_id,
                request_id=f"bench-{i}",
                face_index=0,
                source=f"camera-{i % 7}",
                box=[200.0, 120.0, 260.0, 196.0],
                similarity=round(0.9 + 0.1 * rng.random(), 4),
                model="dlib-resnet",
                preprocessing="dlib-chip-150",
                indexed=rng.random() < 0.2,
                crop_key=f"faces/{face_id}.jpg",
                quality={"band": rng.choice(("good", "fair", "poor")), "size": 60.0},
                image_digest=f"{i:064x}",
                vector=encoded[i % len(encoded)],
            )
            batch.put_item(Item={**record.item(), "created_at": created})
            faces_of.setdefault(person_id, []).append((face_id, created))
        for person_id, found in faces_of.items():
            halves = (found[: len(found) // 2], found[len(found) // 2 :])
            for shard, half in enumerate(halves):
                if half:
                    counts = {"faces": len(half), "last_seen": max(created for _, created in half), "type": "presence"}
                    batch.put_item(Item=dict_item({**keys.shard_key(person_id, shard), **counts}))
        recent = owners[-frames:] if frames else []
        for j in range(frames):
            request_id, digest, tagged = f"frame-{j}", f"{j + 1:064x}", _stamp(people + faces + j)
            shown = [recent[j]] if j % 3 else [recent[j], recent[j - 1]]
            tags = []
            for index, person_id in enumerate(shown):
                face_id = faces_of[person_id][-1][0]
                box = [80.0 + 220 * index, 100.0, 150.0 + 220 * index, 190.0]
                tags.append(Tag(index, face_id, person_id, names[person_id], 0.95, False, box, {"band": "good"}))
            result = ", ".join(names[p] for p in shown)
            batch.put_item(
                Item=dict_item(
                    {
                        **keys.meta_key(request_id, digest),
                        "GSI1PK": keys.ACTIVITY_PARTITION,
                        "GSI1SK": f"{tagged}#{request_id}#{digest[:16]}",
                        "image_digest": digest,
                        "type": "media",
                        "request_id": request_id,
                        "filename": f"{request_id}.jpg",
                        "source": f"camera-{j % 7}",
                        "result": result,
                        "faces": len(tags),
                        "tagged_at": tagged,
                    }
                )
            )
            for tag in tags:
                batch.put_item(Item=tag.item(request_id, digest))
    return {"ids": ids, "names": names, "faces_of": faces_of}


def _cover_of(faces: list[tuple[str, str]]) -> str:
    """The face ``Directory.cover`` shows (the first of a person's faces by key: none is enrolled here)."""
    return min(face_id for face_id, _ in faces)


@contextlib.contextmanager
def moto_reading_partitions() -> Iterator[Callable[[], None]]:
    """moto in process with a Query that reads its partition, as DynamoDB does (same answers).

    moto answers every Query by sorting every item of the table (``Table.all_items``) and
    filtering them: seconds per Query at the bench's size, which would time moto, not the
    console. Here a table Query looks its partition up; an index Query, once ``freeze()`` (the
    context's value) is called, reads its partition from a snapshot sorted as the index is,
    taken at its first Query (nothing may be written after ``freeze``)."""
    import threading

    from moto.dynamodb.models.table import Table

    query, all_items = Table.query, Table.all_items
    lock = threading.RLock()
    frozen: dict[Any, dict[Any, dict[Any, Any]]] = {}
    state = {"frozen": False}

    def partition(table: Table, attribute: str, sort: str, value: Any) -> dict[Any, dict[Any, Any]]:
        key = (id(table), attribute, value)
        if key not in frozen:
            found = [
                item
                for part in table.items.values()
                for item in part.values()
                if attribute in item.attrs and item.attrs[attribute].value == value.value
            ]
            found.sort(
                key=lambda item: (str(item.attrs[sort].value) if sort in item.attrs else "", item.hash_key.value, item.range_key.value)
            )
            ordered: dict[Any, dict[Any, Any]] = {}
            for item in found:
                ordered.setdefault(item.hash_key, {})[item.range_key] = item
            frozen[key] = ordered
        return frozen[key]

    def reading_partitions(table: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        conditions = kwargs.get("hash_key_conditions") or []
        if index_name is None and hash_key is not None:
            subset = {hash_key: table.items[hash_key]} if hash_key in table.items else {}
        elif index_name is not None and state["frozen"] and len(conditions) == 1:
            index = next(i for i in table.all_indexes() if i.name == index_name)
            sort = next((k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"), "")
            subset = partition(table, conditions[0][0], sort, conditions[0][1])
        else:
            return query(table, hash_key, *args, **kwargs)
        with lock:
            whole = table.items
            table.items, table._facepipe_partition = subset, True  # type: ignore[assignment,attr-defined]
            try:
                return query(table, hash_key, *args, **kwargs)
            finally:
                table.items, table._facepipe_partition = whole, False  # type: ignore[attr-defined]

    def partition_items(table: Table) -> Any:
        if getattr(table, "_facepipe_partition", False):
            return [item for part in table.items.values() for item in part.values()]  # in the partition's order
        return all_items(table)

    def freeze() -> None:
        state["frozen"] = True

    Table.query = reading_partitions  # type: ignore[method-assign,assignment]
    Table.all_items = partition_items  # type: ignore[method-assign,assignment]
    try:
        yield freeze
    finally:
        Table.query, Table.all_items = query, all_items  # type: ignore[method-assign]


def console_bench(
    *,
    people: int = CONSOLE_PEOPLE,
    faces: int = CONSOLE_FACES,
    many: int = CONSOLE_MANY_FACES,
    review_faces: int = CONSOLE_REVIEW_FACES,
    strangers: int = CONSOLE_STRANGERS,
    frames: int = CONSOLE_FRAMES,
    runs: int = 5,
    progress: bool = True,
) -> dict[str, Any]:
    """The console's pages timed over a filled table: moto in process (patched as the local
    stack's emulator runs it, and reading partitions: ``moto_reading_partitions``), the embedded
    index, the pages through the console's ASGI app in process (httpx). Returns every number
    ``render_console`` writes."""
    import asyncio
    from urllib.parse import urlencode

    import boto3
    import httpx
    from moto import mock_aws

    from facepipe.embedding import load_embedder
    from facepipe.index.embedded import EmbeddedIndex
    from facepipe.names import StackNames
    from facepipe.people import PeopleStore, keys
    from facepipe.recognition import Recognizer
    from facepipe.settings import Settings
    from facepipe.storage import face_crop_key
    from facepipe_tools.admin import Admin
    from facepipe_tools.console import console_app
    from facepipe_tools.console.directory import Directory
    from facepipe_tools.local.moto_patches import patch_moto
    from facepipe_tools.local.resources import create_resources

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    import faiss

    faiss.omp_set_num_threads(1)  # the embedded index on one thread: OpenMP's spinning threads cost more than a small search
    patch_moto()  # a transaction's rollback copy holds the items it names, not the whole table
    with mock_aws(), moto_reading_partitions() as freeze:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        calls = AwsCalls()
        calls.attach(session)
        resources = create_resources(session, StackNames())
        settings = Settings(
            request_queue_url=resources.request_queue_url,
            response_queue_url=resources.response_queue_url,
            ddb_table_name=resources.table,
            s3_bucket_name=resources.bucket,
            vector_backend="local",
            embedding_model="dlib-resnet",
            record_threads=1,
        )
        s3 = session.client("s3")
        store = PeopleStore(settings.ddb_table_name, dynamodb=session.resource("dynamodb"))
        recognizer = Recognizer(settings, load_embedder("dlib-resnet"), EmbeddedIndex(128), store, sqs=session.client("sqs"), s3=s3)

        say(f"keeping {review_faces:,} unknown faces for review (Review.keep) ...")
        calls.reset()
        started = time.perf_counter()
        grouping = _group_review(recognizer, review_faces, strangers, seed=1, say=say)
        grouping["seconds"] = time.perf_counter() - started
        grouping["aws_seconds"] = calls.seconds
        grouping["requests"] = sum(calls.requests.values())

        say(f"writing {people:,} people, {faces:,} faces, {frames:,} frames ...")
        started = time.perf_counter()
        filled = _fill_people(store, people=people, faces=faces, many=many, frames=frames, named=CONSOLE_NAMED, seed=2)
        fill_seconds = time.perf_counter() - started
        ids, names, faces_of = filled["ids"], filled["names"], filled["faces_of"]

        by_name = sorted(ids, key=lambda i: keys.people_sort_key(names[i], i))
        later = by_name[len(by_name) // 2]
        shown = [*by_name[:48], *by_name[len(by_name) // 2 + 1 : len(by_name) // 2 + 49]]
        wanted = {_cover_of(faces_of[p]) for p in shown if p in faces_of}
        wanted |= {face_id for face_id, _ in sorted(faces_of[ids[0]], key=lambda f: f[1], reverse=True)[:120]}
        newest = [faces_of[p][-1][0] for p in list(faces_of)[-50:]]
        wanted |= set(newest)
        say(f"putting {len(wanted)} crops ...")
        crops = _crop_variants()
        for n, face_id in enumerate(sorted(wanted)):
            s3.put_object(Bucket=settings.s3_bucket_name, Key=face_crop_key(face_id), Body=crops[n % len(crops)], ContentType="image/jpeg")

        freeze()  # nothing is written from here on
        directory = Directory(store)
        largest = max(recognizer.review.all_groups(), key=lambda g: g.size)
        a_few = next(p for p in ids[1:] if len(faces_of.get(p, [])) >= 8)
        newest_frame = directory.activity(size=1).items[0]
        floor: dict[str, list[float]] = {"query": [], "get": []}
        for _ in range(max(3, runs)):
            calls.reset()
            store.get_person(ids[-1])
            floor["query"].append(calls.seconds)
            calls.reset()
            store.get(keys.profile_key(ids[-1]))
            floor["get"].append(calls.seconds)
        later_cursor = directory.people_cursor(store.get_person(later))
        search = next(names[i] for i in by_name if names[i].startswith("Mara"))[:4]
        frame_query = urlencode({"request_id": newest_frame.request_id, "digest": newest_frame.digest})
        pages = [
            ("People, first page", "/people"),
            ("People, a later page (halfway through the names)", f"/people?after={later_cursor}"),
            (f"People, search {search!r}", f"/people?q={search}"),
            ("People, named only", "/people?named=named"),
            (f"Person with {many:,} faces (120 shown)", f"/people/{ids[0]}"),
            (f"Person with {len(faces_of[a_few])} faces", f"/people/{a_few}"),
            ("Review, newest first", "/review"),
            ("Review, largest first (reads every group)", "/review?order=size"),
            (f"Review group of {largest.size} faces", f"/review/{largest.group_id}"),
            ("Activity", "/activity"),
            ("Activity: one frame drawn (PNG)", f"/activity/frame.png?{frame_query}"),
            ("A person's picture (cover crop)", f"/people/{ids[0]}/face.jpg"),
            ("A crop", f"/crops/{newest[-1]}.jpg"),
        ]
        app = console_app(Admin(recognizer))

        async def measure() -> list[dict[str, Any]]:
            rows = []
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                for label, path in pages:
                    say(f"timing {label} ...")
                    reply = await client.get(path)  # warm-up
                    if reply.status_code != 200:
                        raise RuntimeError(f"{path} answered {reply.status_code}: {reply.text[:500]}")
                    totals, aws, counted = [], [], (0, 0, 0)
                    for _ in range(runs):
                        calls.reset()
                        started = time.perf_counter()
                        reply = await client.get(path)
                        totals.append(time.perf_counter() - started)
                        aws.append(calls.seconds)
                        counted = calls.summary()
                    rows.append(
                        {"page": label, "path": path, "seconds": totals, "aws_seconds": aws, "bytes": len(reply.content), "calls": counted}
                    )
            return rows

        load = os.getloadavg()[0]
        rows = asyncio.run(measure())
        load = max(load, os.getloadavg()[0])
    return {
        "load": load,
        "people": people,
        "faces": faces,
        "many": many,
        "frames": frames,
        "review_faces": review_faces,
        "strangers": strangers,
        "runs": runs,
        "fill_seconds": fill_seconds,
        "crops": len(wanted),
        "grouping": grouping,
        "floor": floor,
        "pages": rows,
    }


def render_console(report: dict[str, Any], command: str) -> str:
    """The report of ``console_bench``: the pages' times and requests, and the grouping's."""
    import numpy as np

    def ms(values: Sequence[float], p: float = 50) -> str:
        return f"{float(np.percentile(np.asarray(values) * 1000, p)):.0f}"

    rows = []
    for row in report["pages"]:
        dynamodb, s3, items = row["calls"]
        own = [t - a for t, a in zip(row["seconds"], row["aws_seconds"], strict=True)]
        rows.append(
            (
                row["page"],
                ms(row["seconds"]),
                ms(row["seconds"], 100),
                ms(row["aws_seconds"]),
                ms(own),
                dynamodb,
                items,
                s3,
                f"{row['bytes'] / 1024:.0f}",
            )
        )
    grouping = report["grouping"]
    times = grouping["times"]
    tenth = max(1, len(times) // 10)
    floor_query, floor_get = ms(report["floor"]["query"]), ms(report["floor"]["get"])
    lines = [
        f"Command: `{command}`  ",
        "",
        "# facepipe bench: the console at scale",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; load average up to "
        f"{report['load']:.1f} while the pages were timed (other work shared the machine)  ",
        f"Table: {report['people']:,} people ({CONSOLE_NAMED:.0%} named), {report['faces']:,} faces ({report['many']:,} of one person), "
        f"{report['frames']:,} frames with their tags, {report['review_faces']:,} review faces; {report['crops']} crops beside the review's; "
        f"written in {report['fill_seconds']:.0f} s with batch writes (the review by `Review.keep`, below).  ",
        "Where: moto in process, patched as the local stack's emulator runs it and reading one partition per Query "
        "(`moto_reading_partitions`: moto itself sorts the whole table for every Query), the embedded index, the console's ASGI "
        f"app in process (httpx); one warm-up, then {report['runs']} runs per page.",
        "",
        "## Pages",
        "",
        "ms are the whole request: *in AWS* is the time its DynamoDB and S3 requests took (moto's), *console* the rest (reading",
        "forms, Jinja, Pillow). *DynamoDB requests* and *items read* are what the page costs on DynamoDB, whatever the table's size.",
        "",
        *markdown_table(
            rows,
            ("page", "median ms", "max ms", "in AWS ms", "console ms", "DynamoDB requests", "items read", "S3 requests", "KiB"),
        ),
        "",
        f"For scale: one Query of a person's profile and presence shards takes {floor_query} ms here, a GetItem {floor_get} ms. "
        "moto still sorts and filters a partition in Python for every Query (the 10,000 people of the People listing, the "
        "10,000 frames of Activity); on DynamoDB a Query or a BatchGetItem is a few milliseconds, so a page's time there is about "
        "its requests, one after another, times that, plus the console's own ms.",
        "",
        "## Grouping the review",
        "",
        f"`Review.keep` of {len(times):,} synthetic unknown faces of {grouping['strangers']:,} strangers (each a random direction in 128 "
        "dimensions, its faces about 0.98 alike, a few strangers with many faces), poor band, one after another, each: the review "
        "index's nearest 16, the group's META read, the transaction, the crop put, the vector upserted; the recent-vectors buffer "
        f"on the clock of one recognition container keeping {CONTAINER_FACES_PER_SECOND:.0f} faces a second.",
        "",
        *markdown_table(
            [
                (
                    f"{len(times):,}",
                    f"{grouping['seconds']:.0f}",
                    f"{grouping['aws_seconds'] / grouping['seconds']:.0%}",
                    f"{1000 * float(np.median(times)):.1f}",
                    f"{1000 * float(np.percentile(times, 95)):.1f}",
                    f"{1000 * float(np.median(times[:tenth])):.1f} → {1000 * float(np.median(times[-tenth:])):.1f}",
                    f"{grouping['groups']:,}",
                    f"{grouping['pure']:,}",
                    grouping["split"],
                )
            ],
            (
                "faces",
                "seconds",
                "in AWS",
                "median ms",
                "p95 ms",
                "median ms, first → last tenth",
                "groups",
                "of one stranger",
                "strangers split",
            ),
        ),
        "",
    ]
    return "\n".join(lines)


def run_console_bench(args: argparse.Namespace) -> int:
    command = command_line(getattr(args, "argv", None) or ["bench", "--console"])
    report = console_bench(runs=max(1, args.repeats), progress=getattr(args, "progress", True))
    text = render_console(report, command)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0
