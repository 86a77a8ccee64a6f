"""The camera client: POST frames to the function URL, poll the response queue, time each answer.

Polls like the seed's grading client (``receive_message(MaxNumberOfMessages=…,
WaitTimeSeconds=…)``) and deletes only its own answers; others come back to
their owners when the response queue's short visibility timeout expires.
"""

from __future__ import annotations

import base64
import json
import statistics
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from facepipe_tools.report import percentile

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from facepipe.messages import ResponseMessage


@dataclass
class Outcome:
    request_id: str
    filename: str
    status: int = 0
    reply: dict[str, Any] = field(default_factory=dict)  # the function URL's JSON reply (docs/contracts.md, Request)
    response: ResponseMessage | None = None  # the answer from the response queue (docs/contracts.md, Response)
    sent_at: float = 0.0
    answered_at: float | None = None

    @property
    def latency(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.sent_at

    @property
    def result(self) -> str | None:
        return None if self.response is None else self.response.get("result")


def sign_request(request: urllib.request.Request, region: str) -> None:
    """SigV4-sign a function URL request (authorization type AWS_IAM) with the caller's credentials."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        raise RuntimeError("the function URL needs AWS_IAM signing but no AWS credentials were found")
    aws_request = AWSRequest(method="POST", url=request.full_url, data=request.data, headers=dict(request.header_items()))
    SigV4Auth(credentials, "lambda", region).add_auth(aws_request)
    for key, value in aws_request.headers.items():
        request.add_header(key, value)


def post_frame(
    function_url: str,
    request_id: str,
    filename: str,
    content: bytes,
    *,
    sign_region: str | None = None,
    timeout: float = 30,
    source: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST one frame (docs/contracts.md, Request; ``source``: the camera, when given): (HTTP status, JSON reply); an
    error reply that is not JSON gives ``{}``."""
    fields = {"request_id": request_id, "filename": filename, "content": base64.b64encode(content).decode()}
    body = json.dumps({**fields, "source": source} if source else fields).encode()
    request = urllib.request.Request(function_url, data=body, method="POST", headers={"Content-Type": "application/json"})
    if sign_region:
        sign_request(request, sign_region)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}


class ResponsePoller:
    """Background pollers that hand each awaited answer to its request and delete it."""

    def __init__(self, sqs: SQSClient, queue_url: str, threads: int = 2) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self._waiting: dict[str, Outcome] = {}
        self._done = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> ResponsePoller:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def expect(self, outcome: Outcome) -> None:
        with self._done:
            self._waiting[outcome.request_id] = outcome

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            except Exception:
                time.sleep(0.2)
                continue
            now = time.perf_counter()
            for message in messages:
                try:
                    body = json.loads(message["Body"])
                except ValueError:
                    continue
                with self._done:
                    outcome = self._waiting.get(body.get("request_id"))
                    if outcome is None:
                        continue  # someone else's: it comes back to them after the visibility timeout
                    if outcome.response is None:
                        outcome.response, outcome.answered_at = body, now
                    self._done.notify_all()
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def wait(self, outcomes: Sequence[Outcome], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._done:
            while any(o.response is None and o.status == 200 for o in outcomes) and time.monotonic() < deadline:
                self._done.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic())))


def send_frames(
    function_url: str,
    sqs: SQSClient,
    response_queue_url: str,
    frames: Sequence[tuple[str, bytes]],
    *,
    concurrency: int = 10,
    timeout: float = 60.0,
    sign_region: str | None = None,
    progress: Callable[[Outcome], object] | None = None,
    request_ids: Sequence[str] | None = None,
    schedule: Sequence[float] | None = None,
    source: str | None = None,
) -> list[Outcome]:
    """Send ``frames`` (filename, bytes), ``concurrency`` in flight, and wait for every answer.

    ``request_ids``: one per frame (default: random). ``source``: the camera's id (the request's). ``schedule``: seconds after the start at
    which each frame is POSTed, like a camera (a frame whose turn comes while ``concurrency``
    requests are in flight goes as soon as one returns)."""
    if request_ids is not None and len(request_ids) != len(frames):
        raise ValueError(f"{len(request_ids)} request ids for {len(frames)} frames")
    if schedule is not None and len(schedule) != len(frames):
        raise ValueError(f"{len(schedule)} send times for {len(frames)} frames")
    ids = list(request_ids) if request_ids is not None else [uuid.uuid4().hex for _ in frames]
    outcomes = [Outcome(request_id, name) for request_id, (name, _) in zip(ids, frames, strict=True)]
    started = time.perf_counter()
    with ResponsePoller(sqs, response_queue_url) as poller:

        def one(i: int) -> Outcome:
            outcome, (_, content) = outcomes[i], frames[i]
            if schedule is not None:
                time.sleep(max(0.0, started + schedule[i] - time.perf_counter()))
            poller.expect(outcome)
            outcome.sent_at = time.perf_counter()
            outcome.status, outcome.reply = post_frame(
                function_url, outcome.request_id, outcome.filename, content, sign_region=sign_region, source=source
            )
            poller.wait([outcome], timeout)
            if progress:
                progress(outcome)
            return outcome

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, range(len(frames))))
    return outcomes


class LatencySummary(TypedDict):
    requests: int
    answered: int
    failed: int  # not 200, or no answer in time
    mean_s: float | None
    p50_s: float | None
    p95_s: float | None
    max_s: float | None


def summary(outcomes: Sequence[Outcome]) -> LatencySummary:
    latencies = sorted(o.latency for o in outcomes if o.latency is not None)

    return {
        "requests": len(outcomes),
        "answered": len(latencies),
        "failed": sum(1 for o in outcomes if o.status != 200 or o.response is None),
        "mean_s": statistics.fmean(latencies) if latencies else None,
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "max_s": latencies[-1] if latencies else None,
    }
