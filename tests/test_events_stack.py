"""Events end to end through `facepipe local up` (two recognition environments, a bus with a
watched queue) and `facepipe watch --json`: exactly the expected events for two named people and
two strangers at two cameras, one arrival for ten frames, another after the cooldown, and one
arrival when both environments see the same person at once."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import boto3
import pytest
from PIL import Image

from facepipe_tools.client import send_frames
from helpers import cli, encode, eventually, queue_depth

COOLDOWN = 8
# `stack` (conftest.py): `facepipe local up` for this module, two recognition environments, arrivals
# after COOLDOWN s away
pytestmark = [
    pytest.mark.slow,
    pytest.mark.fixtures,
    pytest.mark.local_stack("--recognition-environments", "2", "--visibility-timeout", "5", "--arrival-cooldown", COOLDOWN),
]


def watched(stack) -> list[dict]:
    """What `facepipe watch --json` shows of the events waiting (it takes them off the tap)."""
    return [json.loads(line) for line in cli(stack, "watch", "--json", "--once", check=True).stdout.splitlines() if line.strip()]


def send(stack, frames: list[tuple[str, str, bytes]], concurrency: int = 4) -> list:
    """(request_id, source, JPEG): POSTed with their camera's source."""
    sqs = boto3.session.Session(region_name=stack["region"]).client("sqs", endpoint_url=stack["endpoint_url"])
    outcomes = []
    for source in dict.fromkeys(s for _, s, _ in frames):
        mine = [(rid, data) for rid, s, data in frames if s == source]
        outcomes += send_frames(
            stack["function_url"],
            sqs,
            stack["response_queue_url"],
            [(f"{rid}.jpg", data) for rid, data in mine],
            request_ids=[rid for rid, _ in mine],
            concurrency=concurrency,
            source=source,
        )
    assert all(o.response is not None for o in outcomes)
    return outcomes


def photo_jpeg(fixtures_root: Path, path: str, turn: float = 0) -> bytes:
    return encode(Image.open(fixtures_root / path).convert("RGB").rotate(turn), quality=90)


def test_events_of_people_and_strangers_arrivals_and_their_cooldown(stack, fixtures_root):
    cli(stack, "enroll", "--name", "obama", str(fixtures_root / "train/obama/obama.jpg"), check=True)
    cli(stack, "enroll", "--name", "biden", str(fixtures_root / "train/biden/biden.jpg"), check=True)
    assert watched(stack) == []  # enrolling publishes nothing
    # two named people and two strangers, at two cameras, interleaved
    frames = [
        ("e-1", "door", photo_jpeg(fixtures_root, "train/obama/obama2.jpg")),
        ("e-2", "garage", photo_jpeg(fixtures_root, "train/biden/biden2.jpg")),
        ("e-3", "door", photo_jpeg(fixtures_root, "train/alex_lacamoire/img1.jpg")),
        ("e-4", "garage", photo_jpeg(fixtures_root, "train/kit_harington/john1.jpeg")),
    ]
    send(stack, frames)
    got = watched(stack)
    kinds = Counter((e["detail-type"], e["detail"]["source"], e["detail"]["name"]) for e in got)
    new = {(e["detail"]["source"], e["detail"]["name"]) for e in got if e["detail-type"] == "New Person"}
    assert {source for source, _ in new} == {"door", "garage"}
    expected = Counter({("Face Recognized", "door", "obama"): 1, ("Face Recognized", "garage", "biden"): 1})
    for source, name in [("door", "obama"), ("garage", "biden"), *new]:
        expected[("Person Arrived", source, name)] = 1
    for source, name in new:
        expected[("New Person", source, name)] = 1
    assert kinds == expected
    assert len({e["detail"]["id"] for e in got}) == len(got)
    # ten frames of obama at the door within a minute: recognised each time, no arrival
    send(stack, [(f"o-{i}", "door", photo_jpeg(fixtures_root, "train/obama/obama2.jpg", turn=i % 4)) for i in range(10)])
    assert Counter(e["detail-type"] for e in watched(stack)) == {"Face Recognized": 10}
    # after the cooldown away, he arrives again (this sleep is the behaviour under test: away for longer than the cooldown)
    time.sleep(COOLDOWN + 1)
    send(stack, [("o-late", "door", photo_jpeg(fixtures_root, "train/obama/obama2.jpg"))])
    assert Counter(e["detail-type"] for e in watched(stack)) == {"Face Recognized": 1, "Person Arrived": 1}
    # biden at the porch, the same moment in both recognition environments: one arrival (once the
    # last frame's batch is done, its message deleted, both environments are free to take them at once)
    sqs = boto3.session.Session(region_name=stack["region"]).client("sqs", endpoint_url=stack["endpoint_url"])
    assert eventually(lambda: queue_depth(sqs, stack["request_queue_url"]) == 0), "the earlier frames are still queued"
    send(stack, [(f"b-{i}", "porch", photo_jpeg(fixtures_root, "train/biden/biden2.jpg", turn=i)) for i in range(6)], concurrency=6)
    arrivals = [e for e in watched(stack) if e["detail-type"] == "Person Arrived"]
    assert len(arrivals) == 1
    assert arrivals[0]["detail"]["name"] == "biden"
