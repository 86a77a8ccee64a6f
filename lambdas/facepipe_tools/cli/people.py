"""``facepipe enroll``, ``facepipe people list|show|sheet|rename|merge|unassign|delete|confirm|not``,
``facepipe tags`` and ``facepipe reindex``: people administration."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facepipe.embedding.models import MODELS
from facepipe.people import generated_name
from facepipe_tools.cli._common import admin, with_stack
from facepipe_tools.report import table
from facepipe_tools.stacks import use_stack

if TYPE_CHECKING:
    from facepipe.people import Person
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


def person_dict(person: Person) -> dict[str, Any]:
    return {"person_id": person.person_id, "name": person.name, "faces": person.face_count, "created_at": person.created_at}


def cmd_people(args: argparse.Namespace) -> int:
    use_stack(args.stack)
    people = admin()
    if args.action == "list":
        found = [p for p in people.list_people() if p.present]
        if args.json:
            print(json.dumps([person_dict(p) for p in found], indent=2))
        else:
            print(table([(p.person_id, p.name, p.face_count, p.created_at) for p in found], ("id", "name", "faces", "created")))
    elif args.action == "show":
        person, faces = people.show(args.person)
        if args.json:
            print(json.dumps({**person_dict(person), "face_list": faces}, indent=2, default=str))
            return 0
        print(f"{person.name} ({person.person_id}): {person.face_count} face(s), created {person.created_at}")
        rows = [
            (
                f["face_id"],
                f.get("source"),
                f.get("created_at"),
                f.get("similarity"),
                (f.get("quality") or {}).get("band"),
                "yes" if f.get("indexed") else "",
                f.get("request_id"),
            )
            for f in faces
        ]
        print(table(rows, ("face", "source", "seen", "similarity", "quality", "indexed", "request_id")))
    elif args.action == "sheet":
        chosen = (
            [p for p in people.list_people() if p.present and p.name == generated_name(p.person_id)]
            if args.unnamed
            else [people.person(args.person)]
        )
        sheet = people.sheet(chosen, per_person=6 if args.unnamed else 0)
        sheet.save(args.out)
        print(f"wrote {args.out}: {len(chosen)} person(s), {sheet.width}x{sheet.height}")
    elif args.action == "rename":
        person = people.rename(args.person, args.name)
        print(f"{person.person_id} is now {person.name}")
    elif args.action == "merge":
        person = people.merge(args.source, args.target)
        print(f"merged into {person.name} ({person.person_id}): {person.face_count} faces")
    elif args.action == "unassign":
        person = people.unassign(args.face)
        print(f"face {args.face} is now {person.name} ({person.person_id})")
    elif args.action == "delete":
        print("\n".join(people.delete(args.person).lines()))
    elif args.action == "confirm":
        person = people.confirm(args.face)
        print(f"face {args.face} confirmed as {person.name} ({person.person_id}): {person.indexed_faces} indexed face(s)")
    elif args.action == "not":
        group = people.not_this_person(args.face)
        print(f"face {args.face} is not that person: it will not be named so again; it is in review group {group}")
    return 0


def cmd_tags(args: argparse.Namespace) -> int:
    use_stack(args.stack)
    items = admin().tags(args.media)
    if not items:
        print(f"no tags for {args.media}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(items, indent=2, default=str))
        return 0
    for meta in (i for i in items if i.get("type") == "media"):
        print(
            f"{meta['request_id']} ({meta.get('filename')}, {meta.get('source')}, image {str(meta.get('image_digest'))[:12]}): {meta.get('result')!r}"
        )
    rows = [
        (t["face_index"], t.get("name") or "unknown", t.get("person_id"), t.get("similarity"), t.get("face_id"))
        for t in items
        if t.get("type") == "tag"
    ]
    print(table(rows, ("face", "name", "person", "similarity", "face_id")))
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    use_stack(args.stack)
    print("\n".join(admin().reindex(args.model, args.namespace).lines()))
    return 0


def add_parsers(sub: Subparsers) -> None:
    enroll = with_stack(sub.add_parser("enroll", help="add a person (or more faces of them) from photos"))
    enroll.add_argument("--name", required=True)
    enroll.add_argument("images", nargs="+")
    enroll.set_defaults(func=cmd_enroll)

    people = sub.add_parser("people", help="list, show, sheet, rename, merge, unassign, delete (erase), confirm or deny people's faces")
    actions = people.add_subparsers(dest="action", required=True)
    listing = with_stack(actions.add_parser("list"))
    listing.add_argument("--json", action="store_true")
    show = with_stack(actions.add_parser("show", help="a person's faces: source, time, similarity, quality"))
    show.add_argument("person", help="id or unique name")
    show.add_argument("--json", action="store_true")
    sheet = with_stack(actions.add_parser("sheet", help="a contact sheet (PNG) of stored face crops"))
    which = sheet.add_mutually_exclusive_group(required=True)
    which.add_argument("person", nargs="?", help="id or unique name")
    which.add_argument("--unnamed", action="store_true", help="everyone still under a generated name")
    sheet.add_argument("--out", required=True, help="PNG file to write")
    rename = with_stack(actions.add_parser("rename"))
    rename.add_argument("person", help="id or unique name")
    rename.add_argument("name")
    merge = with_stack(actions.add_parser("merge", help="move SOURCE's faces to TARGET; SOURCE redirects to TARGET (re-runnable)"))
    merge.add_argument("source")
    merge.add_argument("target")
    unassign = with_stack(actions.add_parser("unassign", help="move one wrongly matched face out into a new person"))
    unassign.add_argument("face", help="face id (people show, or a response's faces[].face_id)")
    delete = with_stack(actions.add_parser("delete", help="erase a person everywhere (re-runnable); prints what it removed"))
    delete.add_argument("person")
    confirm = with_stack(actions.add_parser("confirm", help="a recognised face is right: it joins its person's indexed faces"))
    confirm.add_argument("face", help="face id (people show, or a response's faces[].face_id)")
    deny = with_stack(actions.add_parser("not", help="a recognised face is not its person: never named so again, moved to review"))
    deny.add_argument("face", help="face id (people show, or a response's faces[].face_id)")
    people.set_defaults(func=cmd_people)

    tags = with_stack(sub.add_parser("tags", help="the stored tags of a frame (request_id) or photo (s3://bucket/key)"))
    tags.add_argument("media", help="request_id, or s3://bucket/key (its latest version)")
    tags.add_argument("--json", action="store_true")
    tags.set_defaults(func=cmd_tags)

    reindex = with_stack(sub.add_parser("reindex", help="re-embed every stored crop with another model into its namespace"))
    reindex.add_argument("--model", required=True, choices=tuple(MODELS))
    reindex.add_argument("--namespace", default="", help="target namespace (default faces-<model>)")
    reindex.set_defaults(func=cmd_reindex)
