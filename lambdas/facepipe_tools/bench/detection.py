"""``facepipe bench --detection``: detection time per frame on the frame sizes detection serves."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

from facepipe_tools.bench.measuring import write_report


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
    write_report(args.out, "\n".join(lines) + "\n")
    return 0
