"""``facepipe send``: the camera client. POST frames (or a video's frames), poll the answers, report latency."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from facepipe.exceptions import FacepipeError
from facepipe.settings import Settings
from facepipe_tools.cli._common import with_stack
from facepipe_tools.report import seconds, table
from facepipe_tools.stacks import sqs_client, use_stack

if TYPE_CHECKING:
    from facepipe_tools.cli._common import Subparsers
    from facepipe_tools.client import Outcome


def cmd_send(args: argparse.Namespace) -> int:
    from facepipe_tools.client import send_frames, summary

    use_stack(args.stack)
    function_url = args.function_url or Settings.from_env().function_url
    queue = os.environ.get("RESPONSE_QUEUE_URL")
    if bool(args.frames) == bool(args.video):
        raise FacepipeError("give frames to send, or --video CLIP (not both)")
    request_ids: list[str] | None = None
    schedule: list[float] | None = None
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

    def progress(outcome: Outcome) -> None:
        print(f"{outcome.filename:32} {outcome.status:4} {seconds(outcome.latency):>8}s  {outcome.result!r}", flush=True)

    outcomes = send_frames(
        function_url,
        sqs_client(),
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
    row = (stats["requests"], stats["answered"], stats["failed"], *(seconds(stats[k]) for k in ("mean_s", "p50_s", "p95_s", "max_s")))
    print(table([row], ("requests", "answered", "failed", "mean s", "p50 s", "p95 s", "max s")))
    return 0 if stats["failed"] == 0 else 1


def add_parsers(sub: Subparsers) -> None:
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
