"""``facepipe enroll`` and ``facepipe people list|rename|merge|delete``: people administration."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from facepipe_tools.cli._common import admin, with_stack
from facepipe_tools.report import table
from facepipe_tools.stacks import use_stack

if TYPE_CHECKING:
    from facepipe_tools.cli._common import Subparsers


def cmd_enroll(args: argparse.Namespace) -> int:
    use_stack(args.stack)
    images = [(Path(p).name, Path(p).read_bytes()) for p in args.images]
    report = admin().enroll(args.name, images)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    verb = "created" if report.new_person else "added to"
    print(f"{verb} {report.person.name} ({report.person.person_id}): {len(report.faces)} face(s), {report.person.face_count} in all")
    return 0


def cmd_people(args: argparse.Namespace) -> int:
    use_stack(args.stack)
    people = admin()
    if args.action == "list":
        found = people.list_people()
        print(table([(p.person_id, p.name, p.face_count, p.created_at) for p in found], ("id", "name", "faces", "created")))
    elif args.action == "rename":
        person = people.rename(args.person, args.name)
        print(f"{person.person_id} is now {person.name}")
    elif args.action == "merge":
        person = people.merge(args.source, args.target)
        print(f"merged into {person.name} ({person.person_id}): {person.face_count} faces")
    elif args.action == "delete":
        faces = people.delete(args.person)
        print(f"deleted {args.person} and {len(faces)} face(s)")
    return 0


def add_parsers(sub: Subparsers) -> None:
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
