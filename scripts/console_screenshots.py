"""Screenshots of the console's pages (``make screenshots``): People, a person, Review, Activity.

Builds sample data the way the pipeline makes it, in process: moto for AWS, the real MTCNN and
dlib models, people enrolled from the shared fixtures' photos, camera frames (64x64, faces of
about 22 px: unknown, kept for review) and larger frames (named, or a new unnamed person) sent
through detection's message builder and recognition. Then the console is served on a free
loopback port and Debian's Chromium (Playwright) writes a PNG of each page into docs/console/.

    .venv/bin/python scripts/console_screenshots.py [--out docs/console]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambdas"))

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 900}
#: who is enrolled, from which photo
ENROLLED = {"obama": "train/obama/obama.jpg", "biden": "train/biden/biden.jpg", "Rose Leslie": "train/rose_leslie/img2.jpg"}
#: who passes the camera unnamed (64x64 frames: review groups), how many times
STRANGERS = {"train/kit_harington/john1.jpeg": 6, "train/alex_lacamoire/img1.jpg": 3}
#: good frames of people nobody enrolled: new people with generated names
NEWCOMERS = ("misc/lin-manuel-miranda.png", "train/kit_harington/john2.jpeg")
#: photos with several faces
GROUPS = ("test/obama_and_biden.jpg", "test/kit_with_rose.jpg")


def fake_aws() -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        os.environ[key] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


class Sample:
    """Recognition on moto in process, and the admin over it."""

    def __init__(self, fixtures: Path) -> None:
        import boto3
        import torch

        from facepipe.detection import FaceDetector
        from facepipe.embedding import load_embedder
        from facepipe.names import StackNames
        from facepipe.settings import Settings
        from facepipe_tools.admin import Admin
        from facepipe_tools.local.in_process import InProcessPipeline
        from facepipe_tools.local.resources import create_resources

        torch.set_num_threads(1)
        self.fixtures = fixtures
        session = boto3.session.Session(region_name="us-east-1")
        resources = create_resources(session, StackNames(), request_visibility=30, max_receive_count=3)
        settings = resources.settings(
            vector_backend="local",
            embedding_model="dlib-resnet",
            pinecone_ssm_parameter_name=resources.ssm_parameter,
            record_threads=1,
        )
        self.detector = FaceDetector.from_settings(Settings())
        self.pipeline = InProcessPipeline.create(session, settings, self.detector, load_embedder("dlib-resnet"))
        self.admin = Admin(self.pipeline.recognizer)

    def face(self, relative: str) -> tuple[Image.Image, list[float]]:
        from facepipe.detection import largest_face

        image = Image.open(self.fixtures / relative).convert("RGB")
        found = largest_face(self.detector.detect(image))
        if found is None:
            raise SystemExit(f"no face found in {relative}")
        return image, list(found.box)

    def shot(self, relative: str, face_px: float, side: int, rng: random.Random) -> bytes:
        from facepipe_tools.scenes import jittered_camera_frame

        image, box = self.face(relative)
        return jpeg(jittered_camera_frame(image, box, rng, face_px, side), rng.randint(75, 95))

    def build(self) -> dict[str, str]:
        """The sample data; the ids of the pages to show."""
        from facepipe_tools.scenes import camera_frame

        rng = random.Random(20260501)
        enrolled = {}
        for name, relative in ENROLLED.items():
            image, box = self.face(relative)
            enrolled[name] = self.admin.enroll(name, [(Path(relative).name, jpeg(camera_frame(image, box, 90, 220)))]).person.person_id
        # the enrolled pass the door camera, larger and smaller
        frames = [
            (f"door-{name.split()[0]}-{i}", self.shot(ENROLLED[name], rng.choice((48, 56, 64)), 160, rng))
            for name in ENROLLED
            for i in range(3)
        ]
        frames += [(f"door-new-{i}", self.shot(relative, 60, 160, rng)) for i, relative in enumerate(NEWCOMERS)]
        rng.shuffle(frames)
        self.pipeline.recognise(frames, "door")
        # strangers on the hall camera, 64x64: unknown, grouped for review
        stranger_frames = [
            (f"hall-{i}-{j}", self.shot(relative, 22, 64, rng))
            for i, (relative, count) in enumerate(STRANGERS.items())
            for j in range(count)
        ]
        rng.shuffle(stranger_frames)
        self.pipeline.recognise(stranger_frames, "hall")
        # group photos on the lobby camera
        photos = []
        for i, relative in enumerate(GROUPS):
            image = Image.open(self.fixtures / relative).convert("RGB")
            image.thumbnail((640, 480))
            photos.append((f"lobby-{i}", jpeg(image)))
        self.pipeline.recognise(photos, "lobby")
        return {"person": enrolled["obama"]}


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    import uvicorn

    from facepipe_tools.console import listen, url_of

    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit("the console did not start")
        time.sleep(0.01)
    try:
        yield url_of(sock).rstrip("/")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def screenshots(url: str, pages: dict[str, str], out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            for name, path in pages.items():
                page.goto(url + path)
                page.evaluate("() => { for (const img of document.images) img.loading = 'eager'; }")  # the whole page is shot
                page.wait_for_function("() => Array.from(document.images).every(img => img.complete)")
                page.wait_for_load_state("networkidle")
                target = out / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                written.append(target)
        finally:
            browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "console"), help="folder for the PNGs (default docs/console)")
    args = parser.parse_args()
    if not CHROMIUM.is_file():
        raise SystemExit(f"{CHROMIUM} not found: `make chromium` installs Debian's chromium")
    from facepipe_tools.sets import fixtures_dir

    fixtures = fixtures_dir()
    if fixtures is None:
        raise SystemExit("../shared/fixtures/faces not found (set FACEPIPE_FIXTURES to a folder with labels.json)")
    fake_aws()
    from moto import mock_aws

    from facepipe_tools.console import console_app

    with mock_aws():
        sample = Sample(fixtures / "faces")
        ids = sample.build()
        pages = {"people": "/people", "person": f"/people/{ids['person']}", "review": "/review", "activity": "/activity"}
        with serving(console_app(sample.admin)) as url:
            written = screenshots(url, pages, Path(args.out))
    for path in written:
        print(f"written {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
