"""What ``facepipe bench --console`` fills the table with: people (some named), their faces and
presence, frames with their tags, review faces grouped by ``Review.keep``, and crops to show."""

from __future__ import annotations

import io
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

#: ``facepipe bench --console``: what the table holds when the pages are timed
CONSOLE_PEOPLE = 10_000
CONSOLE_FACES = 100_000
#: faces of the one person with many (the Person page's case), the rest spread over everyone
CONSOLE_MANY_FACES = 2_000
#: unknown faces kept for review (Review.keep, timed), of this many strangers
CONSOLE_REVIEW_FACES = 10_000
CONSOLE_STRANGERS = 1_000
#: frames and photos on Activity (META items and their tags)
CONSOLE_FRAMES = 10_000
#: the share of people someone named (the rest keep a generated name)
CONSOLE_NAMED = 0.3
#: faces a second one recognition container keeps (its recent-vectors buffer's clock)
CONTAINER_FACES_PER_SECOND = 10.0
_FIRST = ("Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gia", "Hugo", "Ines", "Jon", "Kai", "Lena", "Mara", "Nils", "Omar", "Pia")
_LAST = ("Quinn", "Reyes", "Stone", "Tanaka", "Ueda", "Vance", "Weber", "Xu", "Young", "Zola", "Marsh", "Ortiz", "Park", "Kim")


def crop_variants(count: int = 16) -> list[bytes]:
    """Face-sized JPEGs (112 px) to stand for kept crops: only their size and decoding matter here."""
    from PIL import Image, ImageDraw

    variants = []
    for i in range(count):
        image = Image.new("RGB", (112, 112), (60 + 10 * i, 90, 150 - 5 * i))
        draw = ImageDraw.Draw(image)
        draw.ellipse((24, 14, 88, 98), fill=(214 - 4 * i, 170, 140 + 3 * i))
        draw.ellipse((40, 44, 50, 54), fill=(40, 40, 40))
        draw.ellipse((62, 44, 72, 54), fill=(40, 40, 40))
        draw.arc((42, 60, 70, 84), 20, 160, fill=(120, 40, 40), width=3)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        variants.append(buffer.getvalue())
    return variants


def stamp(second: int) -> str:
    """An ISO time ``second`` seconds after the bench's epoch (older data has smaller numbers)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_767_225_600 + second))


def group_review(recognizer: Any, count: int, strangers: int, seed: int, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``Review.keep`` of ``count`` synthetic unknown faces of ``strangers`` people (each a random
    direction, its faces within about 0.98 of each other, a few people with many faces): the time
    of each keep, the groups made and how many hold one stranger only."""
    import numpy as np

    from facepipe.detection.quality import FaceQuality
    from facepipe.gallery import FaceToResolve
    from facepipe.index.recent import RecentVectors
    from facepipe.review import Review
    from facepipe_tools.local.moto_patches import forget_moto_copies

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(strangers, 128)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, strangers + 1) ** 0.8
    who = rng.choice(strangers, size=count, p=weights / weights.sum())
    paced = {"now": time.time()}
    settings = recognizer.settings
    review = Review(
        recognizer.index,
        recognizer.people,
        recognizer.namespace,
        recognizer.calibration,
        retention_days=settings.review_retention_days,
        bucket=settings.s3_bucket_name,
        s3=recognizer.s3,
        recent=RecentVectors(clock=lambda: paced["now"]),
        clock=lambda: paced["now"],
    )
    crop = crop_variants(1)[0]
    from PIL import Image

    picture = Image.open(io.BytesIO(crop)).convert("RGB")
    quality = FaceQuality(22.0, 0.98, 40.0, 5.0, 3.0, 1.0, 120.0, "poor")
    times: list[float] = []
    members: dict[str | None, set[int]] = {}
    groups_of: dict[int, set[str | None]] = {}
    for i, stranger in enumerate(who.tolist()):
        vector = centres[stranger] + rng.normal(scale=0.012, size=128).astype(np.float32)
        vector /= np.linalg.norm(vector)
        face = FaceToResolve(f"bench-review-{i}", 0, [20.0, 20.0, 42.0, 42.0], vector, picture, f"camera-{i % 7}", quality, f"{i:064x}")
        paced["now"] += 1.0 / CONTAINER_FACES_PER_SECOND
        started = time.perf_counter()
        group = review.keep(face)
        times.append(time.perf_counter() - started)
        members.setdefault(group, set()).add(stranger)
        groups_of.setdefault(stranger, set()).add(group)
        if i % 100 == 99:
            forget_moto_copies()
        if say and i % 1000 == 999:
            say(
                f"  {i + 1:,} kept, {len(members):,} groups, the last 1,000 at {1000 * statistics.median(times[-1000:]):.0f} ms each (median)"
            )
    pure = sum(1 for people in members.values() if len(people) == 1)
    split = sum(1 for groups in groups_of.values() if len(groups) > 1)
    return {"times": times, "groups": len(members), "pure": pure, "strangers": len(groups_of), "split": split}


def fill_people(people_store: Any, *, people: int, faces: int, many: int, frames: int, named: float, seed: int) -> dict[str, Any]:
    """Write ``people`` profiles (``named`` of them named, the rest generated names), their
    presence shards (counts, last seen), ``faces`` face items (``many`` of them the first
    person's) and ``frames`` frames (META and tags) straight into the table, in batches."""
    import random

    import numpy as np

    from facepipe.people import FaceRecord, Tag, generated_name, keys
    from facepipe.people.items import dict_item, profile_item
    from facepipe.vectors import encode_vector

    rng = random.Random(seed)
    vectors = np.random.default_rng(seed).normal(size=(64, 128)).astype(np.float32)
    encoded = [encode_vector(v / np.linalg.norm(v)) for v in vectors]
    ids = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(people)]
    names = {}
    for i, person_id in enumerate(ids):
        if i == 0:
            names[person_id] = "Many Faces"
        elif rng.random() < named:
            names[person_id] = f"{rng.choice(_FIRST)} {rng.choice(_LAST)} {i}"
        else:
            names[person_id] = generated_name(person_id)
    owners = [ids[0]] * many + [rng.choice(ids[1:]) for _ in range(faces - many)]
    faces_of: dict[str, list[tuple[str, str]]] = {}
    with people_store.table.batch_writer() as batch:
        for i, person_id in enumerate(ids):
            profile = profile_item(person_id, names[person_id], "bench")
            batch.put_item(Item={**profile, "created_at": stamp(i)})
        for i, person_id in enumerate(owners):
            face_id = uuid.UUID(int=rng.getrandbits(128)).hex
            created = stamp(people + i)
            record = FaceRecord(
                face_id=face_id,
                person_id=person_id,
                request_id=f"bench-{i}",
                face_index=0,
                source=f"camera-{i % 7}",
                box=[200.0, 120.0, 260.0, 196.0],
                similarity=round(0.9 + 0.1 * rng.random(), 4),
                model="dlib-resnet",
                preprocessing="dlib-chip-150",
                indexed=rng.random() < 0.2,
                crop_key=f"faces/{face_id}.jpg",
                quality={"band": rng.choice(("good", "fair", "poor")), "size": 60.0},
                image_digest=f"{i:064x}",
                vector=encoded[i % len(encoded)],
            )
            batch.put_item(Item={**record.item(), "created_at": created})
            faces_of.setdefault(person_id, []).append((face_id, created))
        for person_id, found in faces_of.items():
            halves = (found[: len(found) // 2], found[len(found) // 2 :])
            for shard, half in enumerate(halves):
                if half:
                    counts = {"faces": len(half), "last_seen": max(created for _, created in half), "type": "presence"}
                    batch.put_item(Item=dict_item({**keys.shard_key(person_id, shard), **counts}))
        recent = owners[-frames:] if frames else []
        for j in range(frames):
            request_id, digest, tagged = f"frame-{j}", f"{j + 1:064x}", stamp(people + faces + j)
            shown = [recent[j]] if j % 3 else [recent[j], recent[j - 1]]
            tags = []
            for index, person_id in enumerate(shown):
                face_id = faces_of[person_id][-1][0]
                box = [80.0 + 220 * index, 100.0, 150.0 + 220 * index, 190.0]
                tags.append(Tag(index, face_id, person_id, names[person_id], 0.95, False, box, {"band": "good"}))
            result = ", ".join(names[p] for p in shown)
            batch.put_item(
                Item=dict_item(
                    {
                        **keys.meta_key(request_id, digest),
                        "GSI1PK": keys.ACTIVITY_PARTITION,
                        "GSI1SK": f"{tagged}#{request_id}#{digest[:16]}",
                        "image_digest": digest,
                        "type": "media",
                        "request_id": request_id,
                        "filename": f"{request_id}.jpg",
                        "source": f"camera-{j % 7}",
                        "result": result,
                        "faces": len(tags),
                        "tagged_at": tagged,
                    }
                )
            )
            for tag in tags:
                batch.put_item(Item=tag.item(request_id, digest))
    return {"ids": ids, "names": names, "faces_of": faces_of}


def cover_of(faces: list[tuple[str, str]]) -> str:
    """The face ``Directory.cover`` shows (the first of a person's faces by key: none is enrolled here)."""
    return min(face_id for face_id, _ in faces)
