"""``facepipe bench``: end-to-end latency through a local stack, measured like the seed's grader.

The grader's shape: batches of ``concurrency`` requests; each request thread POSTs its
frame, then polls the response queue with ``receive_message(MaxNumberOfMessages=1,
WaitTimeSeconds=5)`` and deletes only its own answer. Writes a Markdown report (table,
the command that made it, machine facts) and a latency plot beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from facepipe_tools.client import post_frame
from facepipe_tools.report import percentile, progress_bar

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


def write_report(samples: list[Sample], out: Path, command: str, context: dict[str, object]) -> str:
    latencies = [s.latency for s in samples if s.latency is not None]
    failed = [s for s in samples if s.latency is None or s.status != 200]
    rows = [
        ("requests", len(samples)),
        ("answered", len(latencies)),
        ("failed", len(failed)),
        ("mean latency (s)", f"{statistics.fmean(latencies):.3f}" if latencies else "-"),
        ("p50 (s)", f"{percentile(latencies, 50):.3f}" if latencies else "-"),
        ("p95 (s)", f"{percentile(latencies, 95):.3f}" if latencies else "-"),
        ("max (s)", f"{max(latencies):.3f}" if latencies else "-"),
        ("answers first seen by another poller", sum(s.foreign_receives for s in samples)),
    ]
    lines = [
        "# facepipe bench: end-to-end latency through the local stack",
        "",
        f"Command: `{command}`",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
        "| setting | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in context.items()],
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    if latencies:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, (series, hist) = plt.subplots(1, 2, figsize=(10, 3.5))
        series.plot([s.latency if s.latency is not None else float("nan") for s in samples], marker=".", linewidth=0.8)
        series.set_xlabel("request #")
        series.set_ylabel("latency (s)")
        series.axhline(3.0, color="red", linestyle="--", linewidth=0.8, label="seed bar (3 s)")
        series.legend()
        hist.hist(latencies, bins=20)
        hist.set_xlabel("latency (s)")
        hist.set_ylabel("requests")
        figure.suptitle(f"{len(latencies)} answers, mean {statistics.fmean(latencies):.3f} s")
        figure.tight_layout()
        plot = out.with_suffix(".png")
        figure.savefig(plot, dpi=90)
        lines += ["", f"![latency]({plot.name})"]
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    return text


def run_bench(args: argparse.Namespace) -> int:
    from facepipe.settings import Settings
    from facepipe_tools.admin import Admin, build_recognizer
    from facepipe_tools.local.stack import LocalStack
    from facepipe_tools.sets import default_workload
    from facepipe_tools.stacks import sqs_client, stack_environment

    command = "facepipe bench " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else "facepipe bench"
    workload = default_workload()
    print(f"starting a local stack; workload: {workload.name}", file=sys.stderr)
    started = time.perf_counter()
    with LocalStack.ephemeral() as stack:
        stack_seconds = time.perf_counter() - started
        os.environ.update(stack_environment(stack.info))
        admin = Admin(build_recognizer(Settings.from_env()))
        for name, images in workload.enroll.items():
            admin.enroll(name, images)
        frames = [(p.filename, p.content) for p in workload.probes]
        samples = run_grader(
            stack.info["function_url"], sqs_client(), stack.info["response_queue_url"], frames, args.requests, args.concurrency
        )
    context = {
        "workload": workload.name,
        "frames cycled": len(frames),
        "concurrency (requests in flight)": args.concurrency,
        "embedding model": stack.info["embedding_model"],
        "stack start-up (s)": f"{stack_seconds:.1f}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    print(write_report(samples, Path(args.out), command, context))
    return 0 if all(s.latency is not None for s in samples) else 1


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
    detector = FaceDetector(settings.min_face_size, settings.min_face_score, settings.detection_pixel_budget)
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
