"""``facepipe bench --console``: the console's pages timed over a filled table (``console_data``),
on moto in process, and the report."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

from facepipe_tools.bench.aws_calls import AwsCalls
from facepipe_tools.bench.console_data import (
    CONSOLE_FACES,
    CONSOLE_FRAMES,
    CONSOLE_MANY_FACES,
    CONSOLE_NAMED,
    CONSOLE_PEOPLE,
    CONSOLE_REVIEW_FACES,
    CONSOLE_STRANGERS,
    CONTAINER_FACES_PER_SECOND,
    cover_of,
    crop_variants,
    fill_people,
    group_review,
)
from facepipe_tools.bench.measuring import write_report
from facepipe_tools.report import command_line, markdown_table


def console_bench(
    *,
    people: int = CONSOLE_PEOPLE,
    faces: int = CONSOLE_FACES,
    many: int = CONSOLE_MANY_FACES,
    review_faces: int = CONSOLE_REVIEW_FACES,
    strangers: int = CONSOLE_STRANGERS,
    frames: int = CONSOLE_FRAMES,
    runs: int = 5,
    progress: bool = True,
) -> dict[str, Any]:
    """The console's pages timed over a filled table: moto in process (patched as the local
    stack's emulator runs it, and reading partitions: ``moto_reading_partitions``), the embedded
    index, the pages through the console's ASGI app in process (httpx). Returns every number
    ``render_console`` writes."""
    import asyncio
    from urllib.parse import urlencode

    import boto3
    import httpx
    from moto import mock_aws

    from facepipe.embedding import load_embedder
    from facepipe.index.embedded import EmbeddedIndex
    from facepipe.names import StackNames
    from facepipe.people import PeopleStore, keys
    from facepipe.recognition import Recognizer
    from facepipe.storage import face_crop_key
    from facepipe_tools.admin import Admin
    from facepipe_tools.console import console_app
    from facepipe_tools.console.directory import Directory
    from facepipe_tools.local.moto_patches import moto_reading_partitions, patch_moto
    from facepipe_tools.local.resources import create_resources

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    import faiss

    faiss.omp_set_num_threads(1)  # the embedded index on one thread: OpenMP's spinning threads cost more than a small search
    patch_moto()  # a transaction's rollback copy holds the items it names, not the whole table
    with mock_aws(), moto_reading_partitions() as freeze:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        calls = AwsCalls()
        calls.attach(session)
        resources = create_resources(session, StackNames())
        settings = resources.settings(
            vector_backend="local",
            embedding_model="dlib-resnet",
            record_threads=1,
        )
        s3 = session.client("s3")
        store = PeopleStore(settings.ddb_table_name, dynamodb=session.resource("dynamodb"))
        recognizer = Recognizer(settings, load_embedder("dlib-resnet"), EmbeddedIndex(128), store, sqs=session.client("sqs"), s3=s3)

        say(f"keeping {review_faces:,} unknown faces for review (Review.keep) ...")
        calls.reset()
        started = time.perf_counter()
        grouping = group_review(recognizer, review_faces, strangers, seed=1, say=say)
        grouping["seconds"] = time.perf_counter() - started
        grouping["aws_seconds"] = calls.seconds
        grouping["requests"] = sum(calls.requests.values())

        say(f"writing {people:,} people, {faces:,} faces, {frames:,} frames ...")
        started = time.perf_counter()
        filled = fill_people(store, people=people, faces=faces, many=many, frames=frames, named=CONSOLE_NAMED, seed=2)
        fill_seconds = time.perf_counter() - started
        ids, names, faces_of = filled["ids"], filled["names"], filled["faces_of"]

        by_name = sorted(ids, key=lambda i: keys.people_sort_key(names[i], i))
        later = by_name[len(by_name) // 2]
        shown = [*by_name[:48], *by_name[len(by_name) // 2 + 1 : len(by_name) // 2 + 49]]
        wanted = {cover_of(faces_of[p]) for p in shown if p in faces_of}
        wanted |= {face_id for face_id, _ in sorted(faces_of[ids[0]], key=lambda f: f[1], reverse=True)[:120]}
        newest = [faces_of[p][-1][0] for p in list(faces_of)[-50:]]
        wanted |= set(newest)
        say(f"putting {len(wanted)} crops ...")
        crops = crop_variants()
        for n, face_id in enumerate(sorted(wanted)):
            s3.put_object(Bucket=settings.s3_bucket_name, Key=face_crop_key(face_id), Body=crops[n % len(crops)], ContentType="image/jpeg")

        freeze()  # nothing is written from here on
        directory = Directory(store)
        largest = max(recognizer.review.all_groups(), key=lambda g: g.size)
        a_few = next(p for p in ids[1:] if len(faces_of.get(p, [])) >= 8)
        newest_frame = directory.activity(size=1).items[0]
        floor: dict[str, list[float]] = {"query": [], "get": []}
        for _ in range(max(3, runs)):
            calls.reset()
            store.get_person(ids[-1])
            floor["query"].append(calls.seconds)
            calls.reset()
            store.get(keys.profile_key(ids[-1]))
            floor["get"].append(calls.seconds)
        later_cursor = directory.people_cursor(store.get_person(later))
        search = next(names[i] for i in by_name if names[i].startswith("Mara"))[:4]
        frame_query = urlencode({"request_id": newest_frame.request_id, "digest": newest_frame.digest})
        pages = [
            ("People, first page", "/people"),
            ("People, a later page (halfway through the names)", f"/people?after={later_cursor}"),
            (f"People, search {search!r}", f"/people?q={search}"),
            ("People, named only", "/people?named=named"),
            (f"Person with {many:,} faces (120 shown)", f"/people/{ids[0]}"),
            (f"Person with {len(faces_of[a_few])} faces", f"/people/{a_few}"),
            ("Review, newest first", "/review"),
            ("Review, largest first (reads every group)", "/review?order=size"),
            (f"Review group of {largest.size} faces", f"/review/{largest.group_id}"),
            ("Activity", "/activity"),
            ("Activity: one frame drawn (PNG)", f"/activity/frame.png?{frame_query}"),
            ("A person's picture (cover crop)", f"/people/{ids[0]}/face.jpg"),
            ("A crop", f"/crops/{newest[-1]}.jpg"),
        ]
        app = console_app(Admin(recognizer))

        async def measure() -> list[dict[str, Any]]:
            rows = []
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                for label, path in pages:
                    say(f"timing {label} ...")
                    reply = await client.get(path)  # warm-up
                    if reply.status_code != 200:
                        raise RuntimeError(f"{path} answered {reply.status_code}: {reply.text[:500]}")
                    totals, aws, counted = [], [], (0, 0, 0)
                    for _ in range(runs):
                        calls.reset()
                        started = time.perf_counter()
                        reply = await client.get(path)
                        totals.append(time.perf_counter() - started)
                        aws.append(calls.seconds)
                        counted = calls.summary()
                    rows.append(
                        {"page": label, "path": path, "seconds": totals, "aws_seconds": aws, "bytes": len(reply.content), "calls": counted}
                    )
            return rows

        load = os.getloadavg()[0]
        rows = asyncio.run(measure())
        load = max(load, os.getloadavg()[0])
    return {
        "load": load,
        "people": people,
        "faces": faces,
        "many": many,
        "frames": frames,
        "review_faces": review_faces,
        "strangers": strangers,
        "runs": runs,
        "fill_seconds": fill_seconds,
        "crops": len(wanted),
        "grouping": grouping,
        "floor": floor,
        "pages": rows,
    }


def render_console(report: dict[str, Any], command: str) -> str:
    """The report of ``console_bench``: the pages' times and requests, and the grouping's."""
    import numpy as np

    def ms(values: Sequence[float], p: float = 50) -> str:
        return f"{float(np.percentile(np.asarray(values) * 1000, p)):.0f}"

    rows = []
    for row in report["pages"]:
        dynamodb, s3, items = row["calls"]
        own = [t - a for t, a in zip(row["seconds"], row["aws_seconds"], strict=True)]
        rows.append(
            (
                row["page"],
                ms(row["seconds"]),
                ms(row["seconds"], 100),
                ms(row["aws_seconds"]),
                ms(own),
                dynamodb,
                items,
                s3,
                f"{row['bytes'] / 1024:.0f}",
            )
        )
    grouping = report["grouping"]
    times = grouping["times"]
    tenth = max(1, len(times) // 10)
    floor_query, floor_get = ms(report["floor"]["query"]), ms(report["floor"]["get"])
    lines = [
        f"Command: `{command}`  ",
        "",
        "# facepipe bench: the console at scale",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; load average up to "
        f"{report['load']:.1f} while the pages were timed (other work shared the machine)  ",
        f"Table: {report['people']:,} people ({CONSOLE_NAMED:.0%} named), {report['faces']:,} faces ({report['many']:,} of one person), "
        f"{report['frames']:,} frames with their tags, {report['review_faces']:,} review faces; {report['crops']} crops beside the review's; "
        f"written in {report['fill_seconds']:.0f} s with batch writes (the review by `Review.keep`, below).  ",
        "Where: moto in process, patched as the local stack's emulator runs it and reading one partition per Query "
        "(`moto_reading_partitions`: moto itself sorts the whole table for every Query), the embedded index, the console's ASGI "
        f"app in process (httpx); one warm-up, then {report['runs']} runs per page.",
        "",
        "## Pages",
        "",
        "ms are the whole request: *in AWS* is the time its DynamoDB and S3 requests took (moto's), *console* the rest (reading",
        "forms, Jinja, Pillow). *DynamoDB requests* and *items read* are what the page costs on DynamoDB, whatever the table's size.",
        "",
        *markdown_table(
            rows,
            ("page", "median ms", "max ms", "in AWS ms", "console ms", "DynamoDB requests", "items read", "S3 requests", "KiB"),
        ),
        "",
        f"For scale: one Query of a person's profile and presence shards takes {floor_query} ms here, a GetItem {floor_get} ms. "
        "moto still sorts and filters a partition in Python for every Query (the 10,000 people of the People listing, the "
        "10,000 frames of Activity); on DynamoDB a Query or a BatchGetItem is a few milliseconds, so a page's time there is about "
        "its requests, one after another, times that, plus the console's own ms.",
        "",
        "## Grouping the review",
        "",
        f"`Review.keep` of {len(times):,} synthetic unknown faces of {grouping['strangers']:,} strangers (each a random direction in 128 "
        "dimensions, its faces about 0.98 alike, a few strangers with many faces), poor band, one after another, each: the review "
        "index's nearest 16, the group's META read, the transaction, the crop put, the vector upserted; the recent-vectors buffer "
        f"on the clock of one recognition container keeping {CONTAINER_FACES_PER_SECOND:.0f} faces a second.",
        "",
        *markdown_table(
            [
                (
                    f"{len(times):,}",
                    f"{grouping['seconds']:.0f}",
                    f"{grouping['aws_seconds'] / grouping['seconds']:.0%}",
                    f"{1000 * float(np.median(times)):.1f}",
                    f"{1000 * float(np.percentile(times, 95)):.1f}",
                    f"{1000 * float(np.median(times[:tenth])):.1f} → {1000 * float(np.median(times[-tenth:])):.1f}",
                    f"{grouping['groups']:,}",
                    f"{grouping['pure']:,}",
                    grouping["split"],
                )
            ],
            (
                "faces",
                "seconds",
                "in AWS",
                "median ms",
                "p95 ms",
                "median ms, first → last tenth",
                "groups",
                "of one stranger",
                "strangers split",
            ),
        ),
        "",
    ]
    return "\n".join(lines)


def run_console_bench(args: argparse.Namespace) -> int:
    command = command_line(getattr(args, "argv", None) or ["bench", "--console"])
    report = console_bench(runs=max(1, args.repeats), progress=getattr(args, "progress", True))
    write_report(args.out, render_console(report, command))
    return 0
