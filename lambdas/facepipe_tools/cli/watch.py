"""``facepipe watch``: the events facepipe publishes, live in the terminal (docs/events.md).

The local stack's bus has a rule sending every facepipe event to a queue (its ``events_queue_url``);
``watch`` tails it, as ``docker logs -f`` would. A deployed stack: give ``--queue`` the URL of an
SQS queue you made a target of the bus (any rule on ``source: facepipe``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from facepipe.exceptions import FacepipeError
from facepipe.publishing import ALL_TYPES
from facepipe_tools.cli._common import with_stack
from facepipe_tools.stacks import sqs_client, use_stack

if TYPE_CHECKING:
    from facepipe_tools.cli._common import Subparsers


def events(sqs: Any, queue_url: str, *, follow: bool = True) -> Iterator[dict[str, Any]]:
    """Events from the tap queue, oldest first, each taken off it once read."""
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2 if follow else 0).get("Messages", [])
        if not messages and not follow:
            return
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            yield json.loads(message["Body"])


def line(event: dict[str, Any]) -> str:
    detail = event.get("detail", {})
    who = detail.get("name") or ("unknown" if "person_id" in detail else "")
    where = detail.get("source", "")
    about = detail.get("request_id") or detail.get("target") or detail.get("person_id") or ""
    extra = f" group {detail['review_group']}" if detail.get("review_group") else ""
    return f"{event.get('time', '')}  {event.get('detail-type', ''):<16}  {where:<14}  {who}{extra}  {about}".rstrip()


def cmd_watch(args: argparse.Namespace) -> int:
    info = use_stack(args.stack)
    queue = args.queue or (info.get("events_queue_url", "") if info is not None else "")
    if not queue:
        raise FacepipeError("no local stack with an events queue: start `facepipe local up`, or give --queue (an SQS target of the bus)")
    sqs = sqs_client()
    try:
        for event in events(sqs, queue, follow=not args.once):
            detail = event.get("detail", {})
            if args.source and detail.get("source") != args.source:
                continue
            if args.type and event.get("detail-type") not in args.type:
                continue
            print(json.dumps(event, sort_keys=True) if args.json else line(event), flush=True)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        sys.stderr.close()
    return 0


def add_parsers(sub: Subparsers) -> None:
    watch = with_stack(sub.add_parser("watch", help="tail the events facepipe publishes (recognitions, arrivals, operations)"))
    watch.add_argument("--source", default="", help="only this camera / album")
    watch.add_argument("--type", action="append", choices=ALL_TYPES, help="only this detail-type (repeatable)")
    watch.add_argument("--json", action="store_true", help="one JSON event per line")
    watch.add_argument("--once", action="store_true", help="print what is waiting, then stop")
    watch.add_argument("--queue", default="", help="an SQS queue the bus sends events to (default: the local stack's)")
    watch.set_defaults(func=cmd_watch)
