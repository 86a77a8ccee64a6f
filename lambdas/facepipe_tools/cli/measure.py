"""``facepipe eval``, ``calibrate``, ``demo`` and ``bench``: how well and how fast the pipeline works."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from facepipe.embedding.models import MODELS
from facepipe.exceptions import FacepipeError
from facepipe.settings import Settings
from facepipe_tools.cli._common import admin, with_stack
from facepipe_tools.report import command_of
from facepipe_tools.stacks import sqs_client, stack_environment, use_stack

if TYPE_CHECKING:
    from facepipe_tools.cli._common import Subparsers
    from facepipe_tools.eval_report import EvalReport
    from facepipe_tools.labelling import FaceLabeller
    from facepipe_tools.sets import LabelledSet

BENCH_REPORT = "docs/reports/bench.md"


def _labeller(model: str) -> FaceLabeller:
    """The pipeline's detector and embedder for ``model``, to find and name a set's faces in process."""
    import torch

    from facepipe.detection import FaceDetector
    from facepipe.embedding import load_embedder
    from facepipe_tools.labelling import FaceLabeller

    # One thread unless TORCH_NUM_THREADS says otherwise: this process shares the cores with the
    # stack's functions (and anything else running); torch's default of one thread per core then
    # spins against them (measured: MTCNN on small frames 12x slower with 2 threads on 2 busy cores).
    settings = Settings.from_env(embedding_model=model)
    torch.set_num_threads(settings.torch_num_threads or 1)
    embedder = load_embedder(model, settings.facenet_weights_path, settings.torch_num_threads or 1)
    detector = FaceDetector.from_settings(settings)
    return FaceLabeller(detector, embedder, settings.max_image_pixels)


def _evaluate(args: argparse.Namespace, labelled: LabelledSet, downscale_to: int | None = None, ephemeral: bool = False) -> EvalReport:
    """Label the set (before any stack starts in this process: its threads would slow that down),
    then enroll and probe on the stack in use (unless ``ephemeral``), else on an ephemeral one."""
    from facepipe_tools.evaluate import label_set, run_eval
    from facepipe_tools.local.stack import LocalStack, StackOptions

    info = None if ephemeral else use_stack(args.stack)
    settings = Settings.from_env()
    deployed = not ephemeral and info is None and bool(settings.function_url and settings.response_queue_url)
    model = info["embedding_model"] if info else settings.embedding_model if deployed else StackOptions().embedding_model
    labelling = label_set(labelled, _labeller(model), downscale_to, progress=True)

    def run(function_url: str, queue_url: str) -> EvalReport:
        return run_eval(
            admin(),
            function_url,
            sqs_client(),
            queue_url,
            labelling=labelling,
            concurrency=args.concurrency,
            downscale_to=downscale_to,
            progress=True,
            command=command_of(args),
        )

    if info is not None or deployed:
        settings = Settings.from_env()
        return run(settings.function_url, settings.response_queue_url)
    print("starting an ephemeral local stack (moto, function URL, event source, embedded index) ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with LocalStack.ephemeral() as stack:
        print(f"stack up in {time.perf_counter() - started:.1f} s: function URL {stack.info['function_url']}", file=sys.stderr, flush=True)
        os.environ.update(stack_environment(stack.info))
        return run(stack.info["function_url"], stack.info["response_queue_url"])


def cmd_eval(args: argparse.Namespace) -> int:
    from facepipe_tools.sets import load_set

    if args.downscale is not None and args.downscale < 16:
        raise FacepipeError(f"--downscale {args.downscale}: frames must be at least 16 px (the smallest face searched for)")
    report = _evaluate(args, load_set(args.set, args.enroll), args.downscale)
    paths = report.write(Path(args.out))
    print(report.render())
    print("\nwritten: " + ", ".join(str(p) for p in paths.values()))
    return 0 if not report.wrong_names else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """The default set through an ephemeral stack; nothing is written."""
    from facepipe_tools.sets import default_workload

    report = _evaluate(args, default_workload(), ephemeral=True)
    print(report.render())
    return 0 if report.passed == report.total else 1


def cmd_calibrate(args: argparse.Namespace) -> int:
    from facepipe_tools.calibrate import run_calibration
    from facepipe_tools.sets import load_set

    if args.from_review:
        from facepipe_tools.feedback import calibrate_from_review

        use_stack(args.stack)
        print(calibrate_from_review(admin()))
        return 0

    sets = [load_set(spec) for spec in args.sets] if args.sets else [load_set(None)]
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise FacepipeError(f"a set is given twice: {', '.join(names)}")
    report = run_calibration(sets, _labeller(args.model), args.model, command=command_of(args), progress=True)
    written = report.write(Path(args.out))
    print(report.render())
    print("\nwritten: " + ", ".join(str(p) for p in written))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from facepipe_tools.bench import run_bench, run_console_bench, run_detection_bench, run_events_bench, run_images_bench

    if args.detection:
        if args.out == BENCH_REPORT:
            args.out = "docs/reports/detection.md"
        return run_detection_bench(args)
    if args.images:
        if args.out == BENCH_REPORT:
            args.out = "docs/reports/images.md"
        return run_images_bench(args)
    if args.console:
        if args.out == BENCH_REPORT:
            args.out = "docs/reports/console.md"
        return run_console_bench(args)
    if args.events:
        if args.out == BENCH_REPORT:
            args.out = "docs/reports/events.md"
        return run_events_bench(args)
    return run_bench(args)


def add_parsers(sub: Subparsers) -> None:
    evaluate = with_stack(
        sub.add_parser(
            "eval",
            help="enroll a labelled set, send its probes through the pipeline, judge every face; writes a report",
            description="SET: a labels.json, a folder holding labels.json (or faces/labels.json), or an Image,Results CSV "
            "(default: the shared fixtures, else the packaged sample). Uses the running stack (.facepipe/local.json or "
            "--stack), else starts an ephemeral one. Exit 1 when any face gets a wrong name.",
        )
    )
    evaluate.add_argument("set", nargs="?", metavar="SET", help="labels.json, its folder, or an Image,Results CSV")
    evaluate.add_argument(
        "--enroll", metavar="DIR", help="enroll from <name>/*.jpg folders (a CSV set otherwise enrolls the first image of each name)"
    )
    evaluate.add_argument("--downscale", type=int, metavar="N", help="camera case: every labelled face with its context in an NxN frame")
    evaluate.add_argument("--out", default=".facepipe/eval", help="report folder: eval.md, eval.json, eval.png (default .facepipe/eval)")
    evaluate.add_argument("--concurrency", type=int, default=4)
    evaluate.set_defaults(func=cmd_eval)

    calibrate = sub.add_parser(
        "calibrate",
        help="similarity of same/different people by size and quality band, open-set simulation of the thresholds",
        description="In process, no stack: every labelled face of the sets at full size and degraded (16-96 px, blur, JPEG).",
    )
    calibrate.add_argument(
        "sets", nargs="*", metavar="SET", help="labels.json files, their folders or Image,Results CSVs (default: the shared fixtures)"
    )
    calibrate.add_argument("--model", default="dlib-resnet", choices=tuple(MODELS))
    calibrate.add_argument(
        "--from-review",
        action="store_true",
        help="instead: thresholds per band from the feedback given on the stack (confirmed, assigned, not-this-person faces)",
    )
    calibrate.add_argument("--stack", help="with --from-review: the local stack's state file (default .facepipe/local.json)")
    calibrate.add_argument("--out", default="docs/calibration.md", help="Markdown report; its plot (.png) and numbers (.json) go beside it")
    calibrate.set_defaults(func=cmd_calibrate)

    demo = sub.add_parser("demo", help="start a stack, enroll, send sample frames, print results (make demo)")
    demo.add_argument("--concurrency", type=int, default=4)
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser(
        "bench",
        help="every stage timed, the references beside it, end to end through local stacks; writes a report",
        description="SET: frames to measure (a labels.json, its folder or an Image,Results CSV; default: the shared probes). "
        "Stages in process, references (a) naive seed-003 and (b) face_recognition on the same frames, the embedded index at "
        "--index-size faces, then per model a local stack: the grader's shape at concurrency 1 and --concurrency, a 640x480 "
        "one-face frame, cold starts, peak RSS. facenet-vggface2 runs random weights (timing only) where its file is absent.",
    )
    bench.add_argument("set", nargs="?", metavar="SET", help="labels.json, its folder, or an Image,Results CSV")
    bench.add_argument("--downscale", type=int, metavar="N", help="the grader's frames: every face of the set with its context in NxN")
    bench.add_argument("--models", default=",".join(MODELS), help="comma-separated embedding models (default: every model)")
    bench.add_argument("--requests", type=int, default=100, help="requests of the grader-shaped run (default 100)")
    bench.add_argument("--concurrency", type=int, default=10, help="requests in flight in the grader-shaped run (default 10)")
    bench.add_argument("--single", type=int, default=20, help="requests of each one-at-a-time run (default 20)")
    bench.add_argument("--cold-starts", type=int, default=5, help="fresh processes per function for the cold start (default 5; medians)")
    bench.add_argument("--index-size", type=int, default=100_000, help="faces in the index for the query timing (default 100000)")
    bench.add_argument("--no-stack", action="store_true", help="in-process stages, references and index only")
    bench.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    bench.add_argument("--plot", metavar="FILE.png", help="the plot (default: beside --out)")
    bench.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    bench.add_argument("--out", default=BENCH_REPORT)
    bench.add_argument("--detection", action="store_true", help="detection time per frame size only (docs/reports/detection.md)")
    bench.add_argument("--images", action="store_true", help="memory of opening a frame per format and mode only (docs/reports/images.md)")
    bench.add_argument(
        "--console",
        action="store_true",
        help="the console's pages over 10,000 people and 100,000 faces, and grouping 10,000 review faces (docs/reports/console.md)",
    )
    bench.add_argument(
        "--events",
        action="store_true",
        help="what publishing recognition's events adds per frame: AWS requests and time, on and off (docs/reports/events.md)",
    )
    bench.add_argument("--frames", type=int, default=100, help="--events: frames per case and container (default 100)")
    bench.add_argument(
        "--repeats", type=int, default=3, help="passes over the frames in process (--detection: timed runs per frame; --console: per page)"
    )
    bench.add_argument("--threads", type=int, default=1, help="torch threads in process (default 1, as the local stack's functions)")
    bench.set_defaults(func=cmd_bench)
