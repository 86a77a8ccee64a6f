"""The seed grader's client, as the end-to-end runs use it: each request thread POSTs its frame,
then polls the response queue with ``receive_message(MaxNumberOfMessages=1, WaitTimeSeconds=5)``
and deletes only its own answer."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facepipe_tools.bench.measuring import summary
from facepipe_tools.bench.report import GraderRun
from facepipe_tools.client import post_frame
from facepipe_tools.report import progress_bar

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


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


def grader_summary(samples: list[Sample]) -> GraderRun:
    latencies = [s.latency for s in samples if s.latency is not None]
    return GraderRun(
        requests=len(samples),
        answered=len(latencies),
        failed=sum(1 for s in samples if s.latency is None or s.status != 200),
        faces_named=sum(1 for s in samples if s.result),
        latency_s=summary(latencies, digits=3),  # s, to the ms: the targets are 200 ms and 0.5 s
        foreign_receives=sum(s.foreign_receives for s in samples),
        latencies=latencies,
    )
