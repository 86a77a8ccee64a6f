"""End to end through local stacks: per model, the grader's shape at concurrency 1 and
``--concurrency`` from a process of its own, the 640x480 frame one at a time, DynamoDB writes and
a queue hop on the stack's emulator, cold starts, the functions' peak RSS; and recognition's
batches finished one record at a time and at once (``RECORD_THREADS``)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import multiprocessing
import os
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from facepipe_tools.bench.cold_start import detection_event, median_cold_start, recognition_event
from facepipe_tools.bench.grader import grader_in_this_process, grader_summary
from facepipe_tools.bench.measuring import peak_rss_mb, summary, timed
from facepipe_tools.bench.report import EndToEnd, GraderRun, RecordThreads

if TYPE_CHECKING:
    from facepipe.detection import FaceDetector
    from facepipe_tools.bench.frames import FrameSet
    from facepipe_tools.local.stack import StackOptions


def function_rss_mb() -> dict[str, float]:
    """Peak RSS of this process's function processes (the local stack's), by function."""
    peaks: dict[str, float] = {}
    for child in multiprocessing.active_children():
        if child.name.startswith("facepipe-") and child.pid is not None:
            name = child.name.removeprefix("facepipe-")
            peaks[name] = max(peaks.get(name, 0.0), peak_rss_mb(child.pid))
    return peaks


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


def end_to_end(model: str, frames: FrameSet, args: argparse.Namespace, detector: FaceDetector, weights: str) -> EndToEnd:
    """One local stack with ``model``: enroll, the grader's shape at concurrency 1 and ``args.concurrency``,
    the 640x480 frame one at a time, DynamoDB writes and a queue hop, cold starts, peak RSS."""
    from unittest import mock

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
    started = time.perf_counter()
    # the stack's environment for this process's clients, until the stack is stopped
    with mock.patch.dict(os.environ), LocalStack(options) as stack:
        stack_start_s = round(time.perf_counter() - started, 1)
        os.environ.update({**stack_environment(stack.info), **extra, "EMBEDDING_MODEL": model})
        admin = Admin(build_recognizer(Settings.from_env()))
        for name, images in frames.enroll.items():
            admin.enroll(name, images)
        sqs = sqs_client()
        url, queue = stack.info["function_url"], stack.info["response_queue_url"]
        # the client runs in a process of its own, as a camera's does: its threads and boto3 calls
        # do not take this process's interpreter lock from the emulator, the pollers and the URL
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as client:

            def grader(frames: list[tuple[str, bytes]], requests: int, concurrency: int, progress: bool) -> GraderRun:
                return grader_summary(client.submit(grader_in_this_process, url, queue, frames, requests, concurrency, progress).result())

            grader(frames.grader_frames[:2], 2, 1, False)  # warm both functions
            single = grader([frames.vga], args.single, 1, args.progress)
            one_at_a_time = grader(frames.grader_frames, args.single, 1, args.progress)
            concurrent = grader(frames.grader_frames, args.requests, args.concurrency, args.progress)
        function_peak_rss_mb = function_rss_mb()

        # DynamoDB writes and a queue hop, on the stack's emulator
        people = PeopleStore(stack.info["table"], boto3.resource("dynamodb"))
        writes = []
        for i in range(args.repeats * 10):
            tag = Tag(0, f"bench-face-{i}", None, "", 0.5, False, [0.0, 0.0, 10.0, 10.0], {})  # an unknown face: no person to check
            writes.append(timed(people.tag_media, f"bench-{uuid.uuid4()}", "0" * 64, "bench.jpg", "bench", "unknown", [tag])[1])

        hop_queue = sqs.create_queue(QueueName=f"bench-hop-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        body = "x" * 20_000  # about a one-face request message
        hops = []
        for _ in range(args.repeats * 10):
            started = time.perf_counter()
            sqs.send_message(QueueUrl=hop_queue, MessageBody=body)
            message = sqs.receive_message(QueueUrl=hop_queue, MaxNumberOfMessages=1, WaitTimeSeconds=1)["Messages"][0]
            hops.append((time.perf_counter() - started) * 1000)
            sqs.delete_message(QueueUrl=hop_queue, ReceiptHandle=message["ReceiptHandle"])

        # cold starts: fresh processes in the stack's environment
        cold_start = {
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
    return EndToEnd(
        model=model,
        stack_start_s=stack_start_s,
        concurrency=args.concurrency,
        single_640x480=single,
        concurrency_1=one_at_a_time,
        concurrent=concurrent,
        function_peak_rss_mb=function_peak_rss_mb,
        dynamodb_tag_write_ms=summary(writes),
        queue_hop_ms=summary(hops),
        cold_start=cold_start,
    )


def record_threads_effect(model: str, frames: FrameSet, detector: FaceDetector, weights: str, repeats: int) -> RecordThreads:
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
    return RecordThreads(model, len(events[0]["Records"]), default, one, many, round(one.median / many.median, 2))
