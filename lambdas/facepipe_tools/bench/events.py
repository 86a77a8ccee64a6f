"""``facepipe bench --events``: what publishing recognition's decisions (facepipe.publishing) adds per frame.

On moto in process (patched as the local stack's emulator runs it), two recognition containers
alike but for ``EVENT_BUS_NAME`` (one publishing on the stack's bus, one not) share the table and
the embedded index; the real models (MTCNN builds the request messages up front, dlib-resnet
embeds). The same one-face frames of enrolled people go to both, one-record batches, interleaved
(the order alternating), in two cases: people already present (the publisher's clock 5 s on per
frame: no arrival, the common path) and a person arriving (the clock a cooldown and a second on
before each frame: every frame an arrival). Per frame: the AWS requests by kind (botocore's
events, ``AwsCalls``), the events put, the time of the whole record and of publishing itself.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

from facepipe_tools.bench.aws_calls import AwsCalls
from facepipe_tools.bench.measuring import summary, timed, write_report
from facepipe_tools.report import command_line, markdown_table

#: ``ARRIVAL_COOLDOWN_SECONDS`` of the publishing container (the default)
COOLDOWN = 600
#: the publisher's clock between frames of people already present
PRESENT_STEP = 5.0
#: AWS requests by kind, as the report's columns name them (``service:`` prefixes)
KINDS = {"DynamoDB": "dynamodb:", "EventBridge PutEvents": "events:PutEvents", "S3": "s3:", "SQS": "sqs:"}


@dataclass
class Run:
    """One container's frames of one case: ms per frame, ms publishing, AWS requests and events."""

    frame_ms: list[float] = field(default_factory=list)
    publish_ms: list[float] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    events: int = 0

    def per_frame(self, prefix: str) -> float:
        return sum(n for name, n in self.requests.items() if name.startswith(prefix)) / max(1, len(self.frame_ms))


@dataclass
class EventsReport:
    frames: int
    people: int  # shown in the frames
    enrolled: int
    runs: dict[tuple[str, bool], Run]  # by (case, publishing)
    load: float


class Clock:
    """The publisher's clock, moved by the bench."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def events_bench(frames: int = 100, progress: bool = True) -> EventsReport:
    """``frames`` frames per case through both containers (see the module docstring)."""
    from unittest import mock

    import boto3
    from moto import mock_aws

    from facepipe.detection import FaceDetector
    from facepipe.embedding import load_cropper, load_embedder
    from facepipe.events import FrameRequest
    from facepipe.frames import FrameProcessor
    from facepipe.images import open_image
    from facepipe.index.embedded import EmbeddedIndex
    from facepipe.messages import encode
    from facepipe.names import StackNames
    from facepipe.people import PeopleStore
    from facepipe.publishing import Publisher
    from facepipe.recognition import Recognizer
    from facepipe.recognition.consumer import RecognitionConsumer
    from facepipe.runtime import idempotency_store
    from facepipe_tools.admin import Admin
    from facepipe_tools.local.context import LambdaContext
    from facepipe_tools.local.moto_patches import patch_moto
    from facepipe_tools.local.resources import create_resources
    from facepipe_tools.sets import load_set

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    patch_moto()
    labelled = load_set(None)
    # the idempotency layer makes its client before it is swapped for the counted one: a region for it
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "us-east-1"}), mock_aws():
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        calls = AwsCalls()
        calls.attach(session)
        resources = create_resources(session, StackNames())
        settings = resources.settings(
            vector_backend="local",
            embedding_model="dlib-resnet",
            record_threads=1,
            arrival_cooldown_seconds=COOLDOWN,
        )
        sqs, s3 = session.client("sqs"), session.client("s3")
        detector, embedder, index, clock = FaceDetector.from_settings(settings), load_embedder("dlib-resnet"), EmbeddedIndex(128), Clock()
        consumers = {}
        for publishing in (True, False):
            people = PeopleStore(settings.ddb_table_name, dynamodb=session.resource("dynamodb"))
            recognizer = Recognizer(settings, embedder, index, people, sqs=sqs, s3=s3, detector=detector)
            bus = resources.event_bus if publishing else ""
            recognizer.publisher = Publisher(bus, people, COOLDOWN, client=session.client("events"), clock=clock)
            persistence = idempotency_store(settings)
            persistence.client = session.client("dynamodb")  # its requests counted too
            consumers[publishing] = RecognitionConsumer(recognizer, persistence)
        say("enrolling the shared fixtures' people ...")
        admin = Admin(consumers[True].recognizer)
        for name, images in labelled.enroll.items():
            admin.enroll(name, images)
        processor = FrameProcessor(settings, detector, load_cropper("dlib-resnet"), sqs=sqs, s3=s3)
        shots = []  # (filename, frame, its one face, bytes) of every probe showing one known person
        shown: set[str] = set()
        for probe in labelled.probes:
            if len(probe.expect) == 1 and not probe.unknown:
                image = open_image(probe.content, settings.max_image_pixels)
                found = detector.detect(image)
                if len(found) == 1:
                    shots.append((probe.filename, image, found, len(probe.content)))
                    shown.add(probe.expect[0])

        def record(i: int) -> dict[str, Any]:
            filename, image, found, size = shots[i % len(shots)]
            request = FrameRequest(f"bench-events-{uuid.uuid4()}", filename, "door", image, size)
            return {"Records": [{"messageId": str(uuid.uuid4()), "body": encode(processor.build_message(request, found))}]}

        runs = {(case, publishing): Run() for case in ("present", "arrival") for publishing in (True, False)}

        def send(case: str, publishing: bool, event: dict[str, Any], timed_run: bool) -> None:
            run, publisher = runs[(case, publishing)], consumers[publishing].recognizer.publisher
            publish = publisher.recognition
            published: list[int] = []

            def publishing_timed(*args: Any, **kwargs: Any) -> int:
                count, ms = timed(functools.partial(publish, *args, **kwargs))
                published.append(count)
                if timed_run:
                    run.publish_ms.append(ms)
                return int(count)

            publisher.recognition = publishing_timed  # type: ignore[method-assign]
            calls.reset()
            try:
                reply, ms = timed(consumers[publishing].handle, event, LambdaContext())
            finally:
                del publisher.recognition
            if reply["batchItemFailures"]:
                raise RuntimeError(f"a record failed: {reply['batchItemFailures']}")
            if timed_run:
                run.frame_ms.append(ms)
                run.events += sum(published)
                for name, n in calls.counts().items():
                    run.requests[name] = run.requests.get(name, 0) + n

        say(f"{len(shots)} one-face frames; warming up (every person arrives once) ...")
        for i in range(len(shots)):
            for publishing in (True, False):
                send("present", publishing, record(i), timed_run=False)
        load = os.getloadavg()[0]
        for case, step in (("present", PRESENT_STEP), ("arrival", COOLDOWN + 1.0)):
            say(f"{frames} frames, {case}, publishing on and off ...")
            for i in range(frames):
                clock.now += step
                for publishing in (True, False) if i % 2 == 0 else (False, True):
                    send(case, publishing, record(i), timed_run=True)
            load = max(load, os.getloadavg()[0])
    return EventsReport(frames, len(shown), len(labelled.enroll), runs, load)


def render_events(report: EventsReport, command: str) -> str:
    """The per-frame table of ``events_bench``, and the DynamoDB operations publishing adds."""
    rows = []
    for (case, publishing), run in report.runs.items():
        frame, publish = summary(run.frame_ms, 1), summary(run.publish_ms, 2)
        rows.append(
            (
                "people present (no arrival)" if case == "present" else "a person arrives (after the cooldown)",
                "on" if publishing else "off",
                *(f"{run.per_frame(prefix):.2f}" for prefix in KINDS.values()),
                f"{run.events / max(1, len(run.frame_ms)):.2f}",
                frame.cell("median"),
                frame.cell("p95"),
                publish.cell("median") if publishing else "-",
                publish.cell("p95") if publishing else "-",
            )
        )
    operations = sorted({name for run in report.runs.values() for name in run.requests if name.startswith("dynamodb:")})
    by_operation = [
        (name.removeprefix("dynamodb:"), *(f"{report.runs[key].per_frame(name):.2f}" for key in report.runs)) for name in operations
    ]
    lines = [
        f"Command: `{command}`  ",
        "",
        "# facepipe bench: what publishing events adds per frame",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; load average up to "
        f"{report.load:.1f} while the frames were timed (other work shared the machine)  ",
        f"Frames: {report.frames} per case and container, one-face frames of {report.people} of the shared fixtures' "
        f"{report.enrolled} enrolled people (their request messages built up front by MTCNN), one record a batch, embedded "
        "by dlib-resnet.  ",
        "Where: moto in process (patched as the local stack's emulator runs it), the embedded index; two recognition containers "
        "alike but for `EVENT_BUS_NAME`, sharing the table and the index, the same frames to both, interleaved.",
        "",
        "## Per frame",
        "",
        "*present*: the publisher's clock moves 5 s a frame, so every face's person is here already (one conditional write "
        f"refreshes their sighting; one Face Recognized event). *arrives*: it moves {COOLDOWN + 1} s (the cooldown and a second) "
        "before each frame, so every frame is an arrival (the write that finds them gone, the event, the write marking it "
        "published). Requests are every AWS request of the record (the idempotency record, the recognition's reads and "
        "writes, the crop, the answer); *publishing ms* is `Publisher.recognition` alone, inside the record's ms.",
        "",
        *markdown_table(
            rows,
            (
                "frames",
                "publishing",
                *(f"{kind} requests" for kind in KINDS),
                "events",
                "median ms",
                "p95 ms",
                "publishing median ms",
                "publishing p95 ms",
            ),
        ),
        "",
        "## DynamoDB requests per frame, by operation",
        "",
        *markdown_table(
            by_operation,
            ("operation", *(f"{case}, {'on' if publishing else 'off'}" for case, publishing in report.runs)),
        ),
        "",
        "On DynamoDB a conditional UpdateItem is one write unit (its item is small) and a failed condition is billed as one "
        "too; PutEvents is billed per 64 KB entry. moto's times are not DynamoDB's: the requests are what carries over.",
        "",
    ]
    return "\n".join(lines)


def run_events_bench(args: argparse.Namespace) -> int:
    command = command_line(getattr(args, "argv", None) or ["bench", "--events"])
    report = events_bench(frames=max(1, args.frames), progress=getattr(args, "progress", True))
    write_report(args.out, render_events(report, command))
    return 0
