"""Lambda sizing and cost: what a second vCPU buys (``threads_speedup``), and from it, the peak RSS
and the measured compute, each function's memory size and its cost per 1,000 frames."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from facepipe_tools.bench.measuring import Stats, timed
from facepipe_tools.bench.report import EndToEnd, LambdaSize, Sizing, Speedup, StageTiming, Threads

#: Lambda: one vCPU per 1,769 MB; x86_64 price per GB-second and per request (us-east-1, 2025)
MB_PER_VCPU = 1769
PRICE_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_REQUEST = 0.20 / 1_000_000


def threads_speedup(make: Callable[[int], Callable[[], Any]], repeats: int = 3) -> Speedup:
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
    return Speedup(round(medians[1], 1), round(medians[2], 1), round(medians[1] / medians[2], 2))


def lambda_sizing(
    speedup: float, peak_rss_mb: float, seconds_per_frame_1vcpu: float, architecture: str, invocations_per_frame: float = 1.0
) -> LambdaSize:
    """Memory from the CPU need: a second vCPU (2 x 1,769 MB) only when two threads pay (>= 1.5x);
    never below 1.5x the measured peak RSS. Cost per 1,000 frames at that size: compute billed
    per GB-second plus requests (``invocations_per_frame``: 0.1 for SQS batches of 10)."""
    vcpus = 2 if speedup >= 1.5 else 1
    memory = max(vcpus * MB_PER_VCPU, int(peak_rss_mb * 1.5 + 63) // 64 * 64)
    seconds = seconds_per_frame_1vcpu / (speedup if vcpus == 2 else 1.0)
    cost = 1000 * (seconds * memory / 1024 * PRICE_GB_SECOND[architecture]) + 1000 * invocations_per_frame * PRICE_REQUEST
    return LambdaSize(vcpus, memory, round(seconds, 4), round(cost, 5))


def sizing(
    stages: dict[str, StageTiming], threads: Threads, index_query_ms: dict[str, Stats], end_to_end: dict[str, EndToEnd], models: list[str]
) -> Sizing:
    """The Lambda memory size per function from the measured CPU need and RSS; cost per 1,000 frames."""
    deployed = "facenet-vggface2" if "facenet-vggface2" in models else models[0]
    e2e = end_to_end.get(deployed)
    rss = e2e.function_peak_rss_mb if e2e else {}
    cold = {function: c.peak_rss_mb for function, c in e2e.cold_start.items()} if e2e else {}
    detection_rss = max(rss.get("face_detection", 0.0), cold.get("face_detection", 0.0))
    recognition_rss = max(rss.get("face_recognition", 0.0), cold.get("face_recognition", 0.0))
    stage = stages[deployed]
    detection_s = (stage.decode.mean + stage.detect.mean + stage.align_crop.mean) / 1000
    faces_per_frame = stage.faces / max(1, stage.frames)
    recognition_s = stage.embed_batch10.median / 10 * faces_per_frame / 1000
    index = index_query_ms.get(deployed, Stats()).median
    writes = e2e.dynamodb_tag_write_ms.median if e2e else 0.0
    recognition_s += (index + writes) * faces_per_frame / 1000
    return Sizing(
        face_detection=lambda_sizing(threads.detection.speedup, detection_rss, detection_s, "x86_64"),
        face_recognition=lambda_sizing(threads.recognition[deployed].speedup, recognition_rss, recognition_s, "arm64", 0.1),
        model=deployed,
        note="compute from the in-process stage means on this x86 machine; arm64 speed not measured here",
    )
