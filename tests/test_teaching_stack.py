"""Teaching end to end through `facepipe local up` (two recognition environments) and the CLI:
camera frames of strangers are kept for review in one group each, one `review new` per group
names them in the next frames, `people not` is obeyed, and `calibrate --from-review` reads the
feedback. Never a wrong name, look-alikes included."""

from __future__ import annotations

import json
import random
from pathlib import Path

import boto3
import pytest

from facepipe.detection import FaceDetector
from facepipe_tools.client import send_frames
from helpers import camera_face, camera_replay, cli

# `stack` (conftest.py): `facepipe local up` for this module, two recognition environments
pytestmark = [
    pytest.mark.slow,
    pytest.mark.fixtures,
    pytest.mark.local_stack("--recognition-environments", "2", "--visibility-timeout", "5"),
]
STRANGERS = {"kit": "train/kit_harington/john1.jpeg", "rose": "train/rose_leslie/img1.jpg", "alex": "train/alex_lacamoire/img1.jpg"}
LOOKALIKE = "misc/lin-manuel-miranda.png"
REPLAYS = 4


def replays(fixtures_root: Path, path: str, count: int, rng: random.Random) -> list[bytes]:
    """``count`` 64x64 camera frames of one photo's face (22 px), shifted, re-encoded, lighter or darker."""
    image, box = camera_face(fixtures_root / path, FaceDetector())
    return [camera_replay(image, box, rng) for _ in range(count)]


def answers(stack, frames: list[tuple[str, bytes]], prefix: str) -> dict[str, str]:
    sqs = boto3.session.Session(region_name=stack["region"]).client("sqs", endpoint_url=stack["endpoint_url"])
    outcomes = send_frames(
        stack["function_url"], sqs, stack["response_queue_url"], frames, concurrency=6, request_ids=[f"{prefix}-{n}" for n, _ in frames]
    )
    assert all(o.response is not None for o in outcomes)
    return {o.filename: o.response["result"] for o in outcomes if o.response is not None}


def test_strangers_named_once_in_review_are_named_in_the_next_frames(stack, fixtures_root, capsys):
    rng = random.Random(42)
    frames = [(f"{who}-{i}", data) for who, path in STRANGERS.items() for i, data in enumerate(replays(fixtures_root, path, REPLAYS, rng))]
    frames.append(("lin-0", replays(fixtures_root, LOOKALIKE, 1, rng)[0]))
    rng.shuffle(frames)
    who_of = {name: name.split("-")[0] for name, _ in frames}
    # pass 1: nobody is known, nobody is named
    first = answers(stack, frames, "p1")
    assert set(first.values()) <= {"unknown", ""} | {r for r in first.values() if r.startswith("person-")}
    # the review holds one group per stranger, none mixing two
    groups = json.loads(cli(stack, "review", "list", "--json", check=True).stdout)
    members: dict[str, set[str]] = {}
    for group in groups:
        shown = json.loads(cli(stack, "review", "show", group["group_id"], "--json", check=True).stdout)
        members[group["group_id"]] = {who_of[f["request_id"].split("-", 1)[1]] for f in shown}
    with capsys.disabled():
        print(f"\nteaching through the local stack: {len(groups)} review groups: {sorted(sorted(m) for m in members.values())}")
    assert all(len(m) == 1 for m in members.values())
    for who in STRANGERS:
        (group,) = [g for g, m in members.items() if m == {who}]
        # one command names the whole group
        cli(stack, "review", "new", group, "--name", who, check=True)
    # pass 2: the same frames again are named, every one of them; the look-alike is nobody's
    second = answers(stack, frames, "p2")
    wrong = {n: r for n, r in second.items() if r not in ("unknown", who_of[n]) and not r.startswith("person-")}
    missed = {n: r for n, r in second.items() if who_of[n] in STRANGERS and r != who_of[n]}
    with capsys.disabled():
        print(f"pass 2: {sum(1 for n in second if second[n] == who_of[n])} of {len(second)} frames named, missed {missed}, wrong {wrong}")
    assert wrong == {}
    assert missed == {}
    # "not this person" on one of kit's frames: the same frame again is not named kit
    kit = next(name for name, _ in frames if who_of[name] == "kit")
    shown = json.loads(cli(stack, "tags", f"p2-{kit}", "--json", check=True).stdout)
    face_id = next(t["face_id"] for t in shown if t.get("type") == "tag")
    cli(stack, "people", "not", face_id, check=True)
    again = answers(stack, [(kit, dict(frames)[kit])], "p3")
    assert again[kit] != "kit"
    # and the feedback of this run calibrates the thresholds
    report = cli(stack, "calibrate", "--from-review", check=True).stdout
    with capsys.disabled():
        print(report)
    assert "FACE_SIMILARITY_THRESHOLD_POOR=" in report
    assert "impostor pairs" in report
