"""``facepipe``: the command line for people. Run ``facepipe --help``.

Commands other than ``local up``, ``demo``, ``bench`` and ``calibrate`` act on the stack in
``.facepipe/local.json`` when present (or ``--stack FILE``), otherwise on the deployed settings
in the environment; ``eval`` with neither starts an ephemeral local stack, as ``demo`` does.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from facepipe.exceptions import FacepipeError
from facepipe.names import REQUEST_VISIBILITY_SECONDS
from facepipe.settings import EMBEDDING_MODELS, Settings
from facepipe_tools.report import command_line, seconds, table
from facepipe_tools.stacks import STATE_FILE, stack_environment, use_stack

BENCH_REPORT = "docs/reports/bench.md"


def _admin():
    from facepipe_tools.admin import Admin, build_recognizer

    return Admin(build_recognizer(Settings.from_env()))


# --- commands -------------------------------------------------------------------------------
def cmd_local_up(args: argparse.Namespace) -> int:
    from facepipe_tools.local.stack import LocalStack, StackOptions

    options = StackOptions(
        moto_port=args.moto_port,
        detection_port=args.port,
        recognition_port=args.port + 1 if args.port else 0,
        vector_port=args.vector_port,
        embedding_model=args.model,
        batching_window=args.batching_window,
        request_visibility=args.visibility_timeout,
        state_file=Path(args.state_file),
    )
    stack = LocalStack(options)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    print(f"starting the local stack ({args.model}) ...", flush=True)
    try:
        info = stack.start()
        print(table([(k, v) for k, v in info.items() if k != "pid"], ("endpoint", "value")))
        print(f"\nwritten to {args.state_file}; Ctrl-C stops everything", flush=True)
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping ...", flush=True)
        stack.stop()
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    use_stack(args.stack)
    images = [(Path(p).name, Path(p).read_bytes()) for p in args.images]
    report = _admin().enroll(args.name, images)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    verb = "created" if report.new_person else "added to"
    print(f"{verb} {report.person.name} ({report.person.person_id}): {len(report.faces)} face(s), {report.person.face_count} in all")
    return 0


def cmd_people(args: argparse.Namespace) -> int:
    use_stack(args.stack)
    admin = _admin()
    if args.action == "list":
        people = admin.list()
        print(table([(p.person_id, p.name, p.face_count, p.created_at) for p in people], ("id", "name", "faces", "created")))
    elif args.action == "rename":
        person = admin.rename(args.person, args.name)
        print(f"{person.person_id} is now {person.name}")
    elif args.action == "merge":
        person = admin.merge(args.source, args.target)
        print(f"merged into {person.name} ({person.person_id}): {person.face_count} faces")
    elif args.action == "delete":
        faces = admin.delete(args.person)
        print(f"deleted {args.person} and {len(faces)} face(s)")
    return 0


def _sqs():
    from facepipe import aws

    return aws.client("sqs")


def cmd_send(args: argparse.Namespace) -> int:
    from facepipe_tools.client import send_frames, summary

    use_stack(args.stack)
    function_url = args.function_url or Settings.from_env().function_url
    queue = os.environ.get("RESPONSE_QUEUE_URL")
    if bool(args.frames) == bool(args.video):
        raise FacepipeError("give frames to send, or --video CLIP (not both)")
    request_ids = schedule = None
    if args.video:
        from facepipe_tools.video import frames_of_video, request_stem

        if args.repeat != 1:
            raise FacepipeError("--repeat does not apply to --video (request ids are fixed per sampled frame)")
        sampled = frames_of_video(args.video, args.fps)
        stem = request_stem(args.video)
        prefix = args.id_prefix or stem
        frames = [(f"{stem}_{k:05d}.jpg", jpeg) for k, (_, jpeg) in enumerate(sampled)]
        request_ids = [f"{prefix}-{k:05d}" for k in range(len(frames))]
        schedule = None if args.no_pace else [k / args.fps for k in range(len(frames))]
        pacing = "as fast as --concurrency allows" if args.no_pace else f"one every {1 / args.fps:.3g} s"
        print(f"{args.video}: {len(frames)} frames sampled at {args.fps:g} fps of clip time, sent {pacing}", file=sys.stderr, flush=True)
    else:
        frames = [(Path(p).name, Path(p).read_bytes()) for p in args.frames] * args.repeat
    if not function_url or not queue:
        raise FacepipeError("no stack: start `facepipe local up`, or set FACEPIPE_FUNCTION_URL and RESPONSE_QUEUE_URL")
    region = os.environ.get("AWS_REGION") if args.sign else None

    def progress(outcome):
        print(f"{outcome.filename:32} {outcome.status:4} {seconds(outcome.latency):>8}s  {outcome.result!r}", flush=True)

    outcomes = send_frames(
        function_url,
        _sqs(),
        queue,
        frames,
        concurrency=args.concurrency,
        timeout=args.timeout,
        sign_region=region,
        progress=progress,
        request_ids=request_ids,
        schedule=schedule,
    )
    stats = summary(outcomes)
    print(
        table(
            [
                (
                    stats["requests"],
                    stats["answered"],
                    stats["failed"],
                    seconds(stats["mean_s"]),
                    seconds(stats["p50_s"]),
                    seconds(stats["p95_s"]),
                    seconds(stats["max_s"]),
                )
            ],
            ("requests", "answered", "failed", "mean s", "p50 s", "p95 s", "max s"),
        )
    )
    return 0 if stats["failed"] == 0 else 1


def _command(args: argparse.Namespace) -> str:
    return command_line(getattr(args, "argv", None) or [args.command])


def _labeller(model: str):
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
    embedder = load_embedder(model, settings.facenet_weights_path)
    detector = FaceDetector(settings.min_face_size, settings.min_face_score, settings.detection_pixel_budget)
    return FaceLabeller(detector, embedder, settings.max_image_pixels)


def _evaluate(args: argparse.Namespace, labelled, downscale_to: int | None = None, ephemeral: bool = False):
    """Label the set (before any stack starts in this process: its threads would slow that down),
    then enroll and probe on the stack in use (unless ``ephemeral``), else on an ephemeral one."""
    from facepipe_tools.evaluate import label_set, run_eval
    from facepipe_tools.local.stack import LocalStack, StackOptions

    info = None if ephemeral else use_stack(args.stack)
    settings = Settings.from_env()
    deployed = not ephemeral and info is None and bool(settings.function_url and settings.response_queue_url)
    model = info["embedding_model"] if info else settings.embedding_model if deployed else StackOptions().embedding_model
    labelling = label_set(labelled, _labeller(model), downscale_to, progress=True)

    def run(function_url: str, queue_url: str):
        return run_eval(
            _admin(),
            function_url,
            _sqs(),
            queue_url,
            labelling=labelling,
            concurrency=args.concurrency,
            downscale_to=downscale_to,
            progress=True,
            command=_command(args),
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

    sets = [load_set(spec) for spec in args.sets] if args.sets else [load_set(None)]
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise FacepipeError(f"a set is given twice: {', '.join(names)}")
    report = run_calibration(sets, _labeller(args.model), args.model, command=_command(args), progress=True)
    written = report.write(Path(args.out))
    print(report.render())
    print("\nwritten: " + ", ".join(str(p) for p in written))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from facepipe_tools.bench import run_bench, run_detection_bench

    if args.detection:
        if args.out == BENCH_REPORT:
            args.out = "docs/reports/detection.md"
        return run_detection_bench(args)
    return run_bench(args)


# --- parser ---------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="facepipe", description="Face recognition and tagging pipeline: local stack and operator tools.")
    root.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = root.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="the local stack").add_subparsers(dest="local_command", required=True)
    up = local.add_parser("up", help="run the whole pipeline on this machine until Ctrl-C")
    up.add_argument("--model", default="dlib-resnet", choices=EMBEDDING_MODELS)
    up.add_argument("--port", type=int, default=9000, help="function URL port (recognition's invoke port is +1; 0 = any)")
    up.add_argument("--moto-port", type=int, default=5000)
    up.add_argument("--vector-port", type=int, default=5081)
    up.add_argument("--batching-window", type=float, default=0.0, help="event source batching window, seconds")
    up.add_argument(
        "--visibility-timeout", type=int, default=REQUEST_VISIBILITY_SECONDS, help="request/photo queue visibility timeout, seconds"
    )
    up.add_argument("--state-file", default=str(STATE_FILE))
    up.set_defaults(func=cmd_local_up)

    def with_stack(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--stack", help="local stack file (default .facepipe/local.json when present)")
        return p

    enroll = with_stack(sub.add_parser("enroll", help="add a person (or more faces of them) from photos"))
    enroll.add_argument("--name", required=True)
    enroll.add_argument("images", nargs="+")
    enroll.set_defaults(func=cmd_enroll)

    people = sub.add_parser("people", help="list, rename, merge or delete people")
    actions = people.add_subparsers(dest="action", required=True)
    with_stack(actions.add_parser("list"))
    rename = with_stack(actions.add_parser("rename"))
    rename.add_argument("person", help="id or unique name")
    rename.add_argument("name")
    merge = with_stack(actions.add_parser("merge", help="move SOURCE's faces to TARGET and drop SOURCE"))
    merge.add_argument("source")
    merge.add_argument("target")
    delete = with_stack(actions.add_parser("delete"))
    delete.add_argument("person")
    people.set_defaults(func=cmd_people)

    send = with_stack(sub.add_parser("send", help="camera client: POST frames (or a video's frames), poll answers, report latency"))
    send.add_argument("frames", nargs="*", help="image files (or use --video)")
    send.add_argument("--video", metavar="CLIP", help="sample this clip with OpenCV and stream its frames like a camera")
    send.add_argument("--fps", type=float, default=1.0, help="--video: frames per second of clip time (default 1)")
    send.add_argument("--no-pace", action="store_true", help="--video: send as fast as --concurrency allows, not in clip time")
    send.add_argument(
        "--id-prefix",
        help="--video: request id prefix (default the clip's name: <stem>-00000, ...; "
        "a request id sent again within an hour is not processed again)",
    )
    send.add_argument("--concurrency", type=int, default=10)
    send.add_argument("--repeat", type=int, default=1, help="send the frames this many times")
    send.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each answer")
    send.add_argument("--function-url", help="default: the stack's, or FACEPIPE_FUNCTION_URL")
    send.add_argument("--sign", action="store_true", help="SigV4-sign requests (function URL auth AWS_IAM)")
    send.set_defaults(func=cmd_send)

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
    calibrate.add_argument("--model", default="dlib-resnet", choices=EMBEDDING_MODELS)
    calibrate.add_argument("--out", default="docs/calibration.md", help="Markdown report; its plot (.png) and numbers (.json) go beside it")
    calibrate.set_defaults(func=cmd_calibrate)

    demo = sub.add_parser("demo", help="start a stack, enroll, send sample frames, print results (make demo)")
    demo.add_argument("--concurrency", type=int, default=4)
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="latency benchmark through a local stack; writes a report")
    bench.add_argument("--requests", type=int, default=100)
    bench.add_argument("--concurrency", type=int, default=10)
    bench.add_argument("--out", default=BENCH_REPORT)
    bench.add_argument("--detection", action="store_true", help="detection time per frame size only (docs/reports/detection.md)")
    bench.add_argument("--repeats", type=int, default=5, help="timed runs per frame (--detection)")
    bench.add_argument("--threads", type=int, default=1, help="torch threads (--detection)")
    bench.set_defaults(func=cmd_bench)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG" if args.verbose else "WARNING")
    try:
        return args.func(args)
    except FacepipeError as exc:
        print(f"facepipe: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:
        print(f"facepipe: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
