"""``facepipe review list|show|assign|new|dismiss``: name the unknown faces kept for review."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from facepipe_tools.cli._common import admin, with_stack
from facepipe_tools.report import table
from facepipe_tools.stacks import use_stack

if TYPE_CHECKING:
    from facepipe_tools.cli._common import Subparsers


def cmd_review(args: argparse.Namespace) -> int:
    use_stack(args.stack)
    operations = admin()
    review = operations.review
    if args.action == "list":
        groups = list(review.all_groups(args.source or None))
        if args.order == "size":
            groups.sort(key=lambda g: (-g.size, g.last_seen))
        if args.json:
            print(json.dumps([asdict(g) for g in groups], indent=2))
        else:
            rows = [(g.group_id, g.size, g.last_seen, ", ".join(g.sources), g.cover) for g in groups]
            print(table(rows, ("group", "faces", "last seen", "sources", "cover face")))
    elif args.action == "show":
        faces = review.faces(args.group)
        if args.json:
            print(json.dumps([{k: v for k, v in asdict(f).items() if k != "vector"} for f in faces], indent=2, default=str))
        else:
            face_rows = [(f.face_id, f.source, f.created_at, f.band, f.similarity, f.request_id) for f in faces]
            print(table(face_rows, ("face", "source", "seen", "quality", "similarity", "request_id")))
    elif args.action == "assign":
        person = operations.assign(args.target, args.to)
        print(f"{args.target} is now {person.name} ({person.person_id}): {person.face_count} face(s), {person.indexed_faces} indexed")
    elif args.action == "new":
        person = operations.new_person(args.group, args.name)
        print(f"created {person.name} ({person.person_id}) from {args.group}: {person.face_count} face(s)")
    elif args.action == "dismiss":
        print(f"dismissed {operations.dismiss(args.target)} face(s) of {args.target}: erased")
    return 0


def add_parsers(sub: Subparsers) -> None:
    review = sub.add_parser("review", help="the unknown faces kept for review, grouped: list, show, assign, new, dismiss")
    actions = review.add_subparsers(dest="action", required=True)
    listing = with_stack(actions.add_parser("list", help="review groups, newest first (or largest: --order size)"))
    listing.add_argument("--source", default="", help="only groups seen at this camera / album")
    listing.add_argument("--order", choices=("recent", "size"), default="recent")
    listing.add_argument("--json", action="store_true")
    show = with_stack(actions.add_parser("show", help="a group's faces"))
    show.add_argument("group")
    show.add_argument("--json", action="store_true")
    assign = with_stack(actions.add_parser("assign", help="a group (or one review face) is this person"))
    assign.add_argument("target", help="review group or review face id")
    assign.add_argument("--to", required=True, help="the person: id or unique name")
    new = with_stack(actions.add_parser("new", help="a new person, named, from a group"))
    new.add_argument("group", help="review group (or review face) id")
    new.add_argument("--name", required=True)
    dismiss = with_stack(actions.add_parser("dismiss", help="erase a group (or one review face)"))
    dismiss.add_argument("target", help="review group or review face id")
    review.set_defaults(func=cmd_review)
