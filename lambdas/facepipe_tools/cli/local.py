"""``facepipe local up``: the whole pipeline on this machine until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from facepipe.embedding.models import MODELS
from facepipe.names import REQUEST_VISIBILITY_SECONDS
from facepipe_tools.report import table
from facepipe_tools.stacks import STATE_FILE

if TYPE_CHECKING:
    from facepipe_tools.cli._common import Subparsers


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
        detection_environments=args.detection_environments,
        recognition_environments=args.recognition_environments,
        index_delay=args.index_delay,
        arrival_cooldown=args.arrival_cooldown,
        transaction_ms=args.transaction_ms,
        write_ms=args.write_ms,
    )
    stack = LocalStack(options)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    # Ctrl-C stops it even when started in the background of a script (which ignores SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
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


def add_parsers(sub: Subparsers) -> None:
    local = sub.add_parser("local", help="the local stack").add_subparsers(dest="local_command", required=True)
    up = local.add_parser("up", help="run the whole pipeline on this machine until Ctrl-C")
    up.add_argument("--model", default="dlib-resnet", choices=tuple(MODELS))
    up.add_argument("--port", type=int, default=9000, help="function URL port (recognition's invoke port is +1; 0 = any)")
    up.add_argument("--moto-port", type=int, default=5000)
    up.add_argument("--vector-port", type=int, default=5081)
    up.add_argument("--batching-window", type=float, default=0.0, help="event source batching window, seconds")
    up.add_argument(
        "--visibility-timeout", type=int, default=REQUEST_VISIBILITY_SECONDS, help="request/photo queue visibility timeout, seconds"
    )
    up.add_argument("--state-file", default=str(STATE_FILE))
    up.add_argument(
        "--detection-environments", type=int, default=1, help="face-detection processes (Lambda containers) behind the function URL"
    )
    up.add_argument(
        "--recognition-environments", type=int, default=2, help="face-recognition processes (Lambda containers) fed by the event source"
    )
    up.add_argument("--index-delay", type=float, default=0.0, help="seconds before an upsert is searchable, as in Pinecone (10-30 s)")
    up.add_argument(
        "--arrival-cooldown",
        type=int,
        default=600,
        help="ARRIVAL_COOLDOWN_SECONDS: seconds away from a source before someone arrives again",
    )
    up.add_argument(
        "--transaction-ms",
        type=float,
        default=25.0,
        help="ms a DynamoDB transaction stays under way in the emulator, refusing requests that meet its items as DynamoDB does (0 = never)",
    )
    up.add_argument(
        "--write-ms",
        type=float,
        default=5.0,
        help="ms a single DynamoDB write stays under way, for the transact-gets that meet it (0 = never)",
    )
    up.set_defaults(func=cmd_local_up)
