"""``facepipe bench``: one run measuring everything (docs/performance.md shows a report and how to read it).

- **stages, in process** on a fixed frame set (default: the shared probes): decode, detect,
  align/crop, embed per face and per batch of 10, and the compute of one frame, per model
  (``stages``);
- **references** on the same frames and threads (``references``): (a) the naive seed-003 way,
  (b) seed 000's library, ``face_recognition``; their mean compute per frame over facepipe's;
- **index query** p50/p95 on the embedded index holding ``--index-size`` faces;
- **threads**: what a second vCPU buys each function (``sizing.threads_speedup``);
- **end to end through a local stack**, per model (``end_to_end``): the grader's shape
  (``grader``) at concurrency 1 and 10 from a process of its own, frames ``--downscale``-d to
  camera size; one 640x480 one-face frame at a time; DynamoDB writes and a queue hop on the
  stack's emulator; peak RSS of each function process; a batch's records one at a time and at once;
- **cold start** of each function in a fresh process (``cold_start``);
- the Lambda memory size per function from the measured CPU need, and its cost per 1,000 frames (``sizing``).

facenet-vggface2 is exported to ONNX first, as the image build does, and every facepipe
measurement loads that file. Where the VGGFace2 weights are absent, it is the real architecture
with random weights (``FACENET_WEIGHTS_PATH=random:timing-only``): the same compute, for timing
only; the report says so.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facepipe_tools.bench.end_to_end import end_to_end, record_threads_effect
from facepipe_tools.bench.frames import exported_model, frame_set, weights_setting
from facepipe_tools.bench.measuring import summary
from facepipe_tools.bench.references import reference_timing
from facepipe_tools.bench.render import render, write_plot
from facepipe_tools.bench.report import BenchReport, Threads
from facepipe_tools.bench.sizing import sizing, threads_speedup
from facepipe_tools.bench.stages import index_query_times, stage_timings
from facepipe_tools.report import command_of

if TYPE_CHECKING:
    from PIL import Image


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
    from facepipe.images import open_image
    from facepipe.settings import Settings
    from facepipe_tools.sets import load_set

    settings = Settings.from_env()
    detector = FaceDetector.from_settings(settings)
    labelled = load_set(args.set)
    frames = frame_set(labelled, detector, args.downscale)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    embedders = {}
    stages = {}
    for model in models:
        embedders[model] = load_embedder(model, model_file if model == "facenet-vggface2" else "", args.threads)
        stages[model] = stage_timings(frames.frames, detector, embedders[model], args.repeats, args.progress)

    ours_model = "facenet-vggface2" if "facenet-vggface2" in models else models[0]
    references = reference_timing(detector, embedders[ours_model], weights, frames.frames, args.repeats, args.progress)
    index = {model: summary(index_query_times(args.index_size, dimension_of(model))) for model in models}

    # threads: what a second vCPU buys each function
    vga_frame = open_image(frames.vga[1], 200_000_000)
    detection = threads_speedup(lambda _: functools.partial(detector.detect, vga_frame), args.repeats)
    vga_face = detector.detect(vga_frame)[0]
    recognition = {}
    for model in models:
        crops = [embedders[model].crop(vga_frame, vga_face)] * 10

        def embed_with(count: int, model: str = model, crops: list[Image.Image] = crops) -> Callable[[], Any]:
            return functools.partial(load_embedder(model, model_file if model == "facenet-vggface2" else "", count).embed, crops)

        recognition[model] = threads_speedup(embed_with, args.repeats)
    threads = Threads(detection, recognition)
    torch.set_num_threads(args.threads)

    embedders.clear()  # free the models before the stacks load theirs
    stacks = {}
    record_threads = None
    if not args.no_stack:
        for model in models:
            stacks[model] = end_to_end(model, frames, args, detector, model_file)
        print("finishing a batch's records one at a time and at once ...", file=sys.stderr, flush=True)
        record_threads = record_threads_effect(ours_model, frames, detector, model_file, args.repeats)
    report = BenchReport(
        command=command_of(args),
        machine=machine(),
        frame_set=frames.name,
        frames=len(frames.frames),
        grader_frames=len(frames.grader_frames),
        torch_threads_in_process=args.threads,
        allocator="glibc, freed memory kept (facepipe.allocator), for facepipe and the references alike"
        if kept
        else "the C library's default",
        facenet_weights=("VGGFace2 (real)" if real_weights else "RANDOM (VGGFace2 file absent): timing only")
        + ", exported to ONNX as the image build does; facepipe runs it in onnxruntime",
        stages=stages,
        references=references,
        index_size=args.index_size,
        index_query_ms=index,
        threads=threads,
        end_to_end=stacks,
        record_threads=record_threads,
        sizing=sizing(stages, threads, index, stacks, models),
    )

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    write_plot(report, plot)
    out.write_text(render(report, plot, out))
    print(render(report, plot, out))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    print(f"written: {out}, {plot}" + (f", {args.json}" if args.json else ""), file=sys.stderr)
    failed = any(run.failed for e in report.end_to_end.values() for run in e.runs().values())
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
