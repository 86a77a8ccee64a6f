"""People you can trust, end to end: `facepipe local up` with two recognition environments and
an index that shows upserts 10 s late (Pinecone's behaviour), driven by the function URL, the
queues and the `facepipe people` / `tags` / `reindex` CLI."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from facepipe import names
from facepipe.people import keys
from facepipe_tools.client import send_frames
from helpers import cli, encode, eventually

INDEX_DELAY = 10.0
# `stack` (conftest.py): `facepipe local up` for this module, two recognition environments, an index
# showing upserts INDEX_DELAY s late
pytestmark = [
    pytest.mark.slow,
    pytest.mark.fixtures,
    pytest.mark.local_stack("--recognition-environments", "2", "--index-delay", INDEX_DELAY, "--visibility-timeout", "5"),
]
STRANGERS = ["alex_lacamoire/img1.jpg", "biden/biden.jpg", "kit_harington/john1.jpeg", "obama/obama.jpg", "rose_leslie/img1.jpg"]


def people(stack: dict[str, Any]) -> list[dict[str, Any]]:
    done = cli(stack, "people", "list", "--json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def variations(image: Image.Image, count: int) -> list[bytes]:
    """``count`` different frames of one face: mirrored, rescaled, lighter, darker, shifted."""
    w, h = image.size
    makers = [
        lambda im: im,
        ImageOps.mirror,
        lambda im: im.resize((int(w * 0.8), int(h * 0.8))),
        lambda im: ImageEnhance.Brightness(im).enhance(0.75),
        lambda im: ImageEnhance.Brightness(im).enhance(1.2),
        lambda im: im.crop((int(w * 0.04), int(h * 0.04), w, h)),
        lambda im: ImageOps.mirror(im.resize((int(w * 0.7), int(h * 0.7)))),
        lambda im: im.crop((0, 0, int(w * 0.96), int(h * 0.96))),
        lambda im: ImageEnhance.Contrast(im).enhance(0.8),
        lambda im: im.rotate(4, expand=False),
    ]
    return [encode(makers[i % len(makers)](image).convert("RGB")) for i in range(count)]


def send(stack: dict[str, Any], boto: Any, frames: list[bytes], request_ids: list[str] | None = None) -> list[Any]:
    outcomes = send_frames(
        stack["function_url"],
        boto.client("sqs"),
        stack["response_queue_url"],
        [(f"f{i}.jpg", f) for i, f in enumerate(frames)],
        concurrency=10,
        timeout=120,
        request_ids=request_ids,
    )
    assert all(o.status == 200 for o in outcomes), [o.reply for o in outcomes if o.status != 200]
    assert all(o.response is not None for o in outcomes), "every frame is answered"
    return outcomes


def dead_letters(boto: Any, stack: dict[str, Any]) -> int:
    attributes = boto.client("sqs").get_queue_attributes(QueueUrl=stack["request_dlq_url"], AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def face_of(outcome: Any) -> dict[str, Any]:
    (face,) = outcome.response["faces"]
    return dict(face)


def searchable(stack: dict[str, Any], *face_ids: str) -> bool:
    """Whether the stack's index returns every one of ``face_ids`` (it shows upserts INDEX_DELAY s late)."""
    params = {"ids": list(face_ids), "namespace": stack["namespace"]}
    found = httpx.get(f"{stack['vector_url']}/vectors/fetch", headers={"Api-Key": "local"}, params=params).json()["vectors"]
    return set(face_ids) <= set(found)


def index_stats(stack: dict[str, Any]) -> dict[str, Any]:
    return dict(httpx.post(f"{stack['vector_url']}/describe_index_stats", headers={"Api-Key": "local"}, json={}).json())


def test_one_stranger_in_two_containers_with_a_late_index_is_one_person_five_runs(stack, boto, fixtures_root):
    for run, path in enumerate(STRANGERS):
        before = {p["person_id"] for p in people(stack)}
        frames = variations(Image.open(fixtures_root / "train" / path).convert("RGB"), 10)
        outcomes = send(stack, boto, frames)
        placed = {face_of(o)["person_id"] for o in outcomes} - {None}
        created = {p["person_id"] for p in people(stack)} - before
        assert len(created) == 1, f"run {run} ({path}): {len(created)} people made of one stranger"
        assert placed == created, f"run {run} ({path}): every frame names the one person"
        assert sum(face_of(o)["new_person"] for o in outcomes) == 1
    assert dead_letters(boto, stack) == 0


def test_frames_while_their_person_is_merged_away_are_answered_with_the_target(stack, boto, fixtures_root):
    keep = Image.open(fixtures_root / "train/obama/obama2.jpg").convert("RGB")
    gone = Image.open(fixtures_root / "train/kit_harington/john2.jpeg").convert("RGB")
    target = face_of(send(stack, boto, [encode(keep)])[0])
    source = face_of(send(stack, boto, [encode(gone)])[0])
    assert cli(stack, "people", "rename", target["person_id"], "Target Person").returncode == 0
    assert eventually(lambda: searchable(stack, target["face_id"], source["face_id"]), timeout=INDEX_DELAY + 30), "both searchable"
    faces_before = sum(json.loads(cli(stack, "people", "show", p["person_id"], "--json").stdout)["faces"] for p in (target, source))
    # WHEN frames of the source person arrive while it is being merged away
    merged: list[subprocess.CompletedProcess[str]] = []
    merging = threading.Thread(target=lambda: merged.append(cli(stack, "people", "merge", source["person_id"], target["person_id"])))
    merging.start()
    during = send(stack, boto, variations(gone, 6))
    merging.join()
    assert merged[0].returncode == 0, merged[0].stderr
    after = send(stack, boto, variations(gone, 4))
    # THEN every frame is answered (none dead-lettered), the later ones with the target's name,
    # and no face or tag is left on the merged-away person
    assert {face_of(o)["person_id"] for o in during} <= {source["person_id"], target["person_id"]}
    assert [o.result for o in after] == ["Target Person"] * 4
    assert dead_letters(boto, stack) == 0
    shown = json.loads(cli(stack, "people", "show", target["person_id"], "--json").stdout)
    placed = sum(1 for o in [*during, *after] if face_of(o)["person_id"])
    assert shown["faces"] == len(shown["face_list"]) == faces_before + placed
    table = boto.resource("dynamodb").Table(stack["table"])
    leftover = [i for i in table.scan()["Items"] if i.get("person_id") == source["person_id"] and not i.get("merged_into")]
    assert leftover == []


def test_delete_leaves_nothing_and_the_next_frame_is_a_new_person(stack, boto, fixtures_root):
    image = Image.open(fixtures_root / "train/rose_leslie/img2.jpg").convert("RGB")
    first = send(stack, boto, [encode(image)])[0]
    person = face_of(first)
    assert eventually(lambda: searchable(stack, person["face_id"]), timeout=INDEX_DELAY + 30), "the person's face searchable"
    seen = send(stack, boto, variations(image, 3)[1:])
    assert {face_of(o)["person_id"] for o in seen} == {person["person_id"]}
    # WHEN the person is erased
    done = cli(stack, "people", "delete", person["person_id"])
    assert done.returncode == 0, done.stderr
    assert "face records" in done.stdout
    # THEN nothing of them is left in the table, the index or the bucket
    table = boto.resource("dynamodb").Table(stack["table"])
    items = [
        i
        for i in table.scan()["Items"]
        if person["person_id"] in json.dumps(i, default=str) or person["name"] in json.dumps(i, default=str)
    ]
    # (but the erasure's marks: the person's presence shards say "erased", and nothing else)
    marks = [i for i in items if i.get("gone") == "erased"]
    assert len(marks) == 16
    assert all(set(i) == {"PK", "SK", "gone", "expiration"} for i in marks)
    assert [i for i in items if i not in marks] == []
    vectors = httpx.post(
        f"{stack['vector_url']}/query",
        headers={"Api-Key": "local"},
        json={
            "vector": [0.1] * 128,
            "topK": 1000,
            "namespace": stack["namespace"],
            "includeMetadata": True,
            "filter": {"person_id": person["person_id"]},
        },
    ).json()["matches"]
    assert vectors == []
    s3 = boto.client("s3")
    face_ids = [person["face_id"], *(face_of(o)["face_id"] for o in seen)]
    for face_id in face_ids:
        for prefix in ("faces", "sightings"):
            assert s3.list_object_versions(Bucket=stack["photo_bucket"], Prefix=f"{prefix}/{face_id}.jpg").get("Versions") is None
    # and their next frame is a new person
    again = face_of(send(stack, boto, [variations(image, 5)[4]])[0])
    assert again["new_person"]
    assert again["person_id"] != person["person_id"]


def test_reused_request_id_after_the_window_overwrites_nothing(stack, boto, fixtures_root):
    s3 = boto.client("s3")
    table = boto.resource("dynamodb").Table(stack["table"])
    request_id = f"cam9-{uuid.uuid4().hex[:6]}"
    first = face_of(send(stack, boto, [encode(Image.open(fixtures_root / "train/biden/biden2.jpg").convert("RGB"))], [request_id])[0])
    crop = s3.get_object(Bucket=stack["photo_bucket"], Key=f"faces/{first['face_id']}.jpg")["Body"].read()
    tags_before = table.query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": keys.media_pk(request_id)})["Items"]
    # the idempotency window passes (its records expire)
    for item in table.query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": names.IDEMPOTENCY_PARTITION})["Items"]:
        table.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})
    second = face_of(
        send(stack, boto, [encode(Image.open(fixtures_root / "train/alex_lacamoire/img1.jpg").convert("RGB"))], [request_id])[0]
    )
    assert second["face_id"] != first["face_id"]
    assert second["person_id"] != first["person_id"]
    assert s3.get_object(Bucket=stack["photo_bucket"], Key=f"faces/{first['face_id']}.jpg")["Body"].read() == crop
    tags_after = table.query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": keys.media_pk(request_id)})["Items"]
    assert all(t in tags_after for t in tags_before)
    tags = json.loads(cli(stack, "tags", request_id, "--json").stdout)
    assert {t["person_id"] for t in tags if t["type"] == "tag"} == {first["person_id"], second["person_id"]}


def test_people_tools_end_to_end(stack, boto, fixtures_root, tmp_path):
    image = Image.open(fixtures_root / "train/kit_harington/john1.jpeg").convert("RGB")
    outcomes = send(stack, boto, variations(image, 2))
    person_id = face_of(outcomes[0])["person_id"]
    listed = {p["person_id"]: p for p in people(stack)}
    assert person_id in listed
    shown = cli(stack, "people", "show", person_id)
    assert shown.returncode == 0
    assert face_of(outcomes[0])["face_id"] in shown.stdout
    # a contact sheet of the stored crops, for naming strangers by eye
    sheet_file = tmp_path / "sheet.png"
    assert cli(stack, "people", "sheet", person_id, "--out", str(sheet_file)).returncode == 0
    sheet = np.asarray(Image.open(sheet_file).convert("L"), dtype=float)
    assert sheet.shape[1] == 6 * 128
    assert sheet[:128, :128].std() > 20
    unnamed = tmp_path / "unnamed.png"
    assert cli(stack, "people", "sheet", "--unnamed", "--out", str(unnamed)).returncode == 0
    # unassign one face into a new person
    moved = face_of(outcomes[1])
    done = cli(stack, "people", "unassign", moved["face_id"])
    assert done.returncode == 0, done.stderr
    tags = json.loads(cli(stack, "tags", outcomes[1].request_id, "--json").stdout)
    new_owner = next(t["person_id"] for t in tags if t["type"] == "tag")
    assert new_owner not in (person_id, None)
    # tags of a bare s3:// URI: its latest version
    key = f"photos/{uuid.uuid4().hex}.jpg"
    boto.client("s3").put_object(Bucket=stack["photo_bucket"], Key=key, Body=encode(image))
    started = time.monotonic()
    while (
        found := cli(stack, "tags", f"s3://{stack['photo_bucket']}/{key}", "--json")
    ).returncode != 0 and time.monotonic() - started < 30:
        time.sleep(0.5)
    assert found.returncode == 0, found.stderr
    photo_tags = json.loads(found.stdout)
    assert time.monotonic() - started < 15  # tagged within seconds
    assert [t["faces"] for t in photo_tags if t["type"] == "media"] == [1]
    # reindex every stored crop into another namespace
    done = cli(stack, "reindex", "--model", "dlib-resnet", "--namespace", "faces-dlib-resnet-v2")
    assert done.returncode == 0, done.stderr
    assert "re-embedded" in done.stdout
    count = int(done.stdout.split("re-embedded ")[1].split(" ")[0])
    # the index shows upserts late: until every re-embedded vector is there
    eventually(
        lambda: index_stats(stack)["namespaces"].get("faces-dlib-resnet-v2", {}).get("vectorCount") == count, timeout=INDEX_DELAY + 30
    )
    stats = index_stats(stack)
    assert count >= 1
    assert stats["namespaces"]["faces-dlib-resnet-v2"]["vectorCount"] == count
