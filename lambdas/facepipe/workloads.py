"""Labelled photo sets for the demo, eval and bench.

``../shared/fixtures/faces`` (or ``FACEPIPE_FIXTURES``): real photos of public figures
with ``labels.json`` ground truth. Without it, the one portrait that ships inside an
installed package is used: Grace Hopper from matplotlib's sample data, enrolled from
the original and probed with edited copies, plus a frame with no face.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Probe:
    filename: str
    content: bytes
    expect: tuple[str, ...]
    unknown: int


@dataclass
class Workload:
    name: str
    enroll: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    probes: list[Probe] = field(default_factory=list)


def fixtures_dir() -> Path | None:
    configured = os.environ.get("FACEPIPE_FIXTURES")
    path = Path(configured) if configured else PROJECT_ROOT.parent / "shared" / "fixtures"
    return path if (path / "faces" / "labels.json").is_file() else None


def fixture_workload(root: Path) -> Workload:
    faces = root / "faces"
    labels = json.loads((faces / "labels.json").read_text())
    workload = Workload(f"fixtures ({faces})")
    for person, files in labels["enroll"].items():
        workload.enroll[person] = [(f, (faces / f).read_bytes()) for f in files]
    for filename, truth in labels["probes"].items():
        workload.probes.append(Probe(filename, (faces / filename).read_bytes(), tuple(truth["expect"]), int(truth["unknown"])))
    return workload


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def packaged_workload() -> Workload:
    import matplotlib.cbook

    path = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    original = Image.open(path)
    workload = Workload(f"packaged sample ({path.name} from matplotlib)")
    workload.enroll["grace_hopper"] = [(path.name, path.read_bytes())]
    mirrored = ImageOps.mirror(original)
    small = original.resize((original.width // 2, original.height // 2))
    framed = ImageOps.expand(original.rotate(8, expand=True, fillcolor=(40, 40, 40)), border=120, fill=(90, 110, 130))
    blank = Image.new("RGB", (640, 480), (120, 160, 200))
    workload.probes += [
        Probe("grace_hopper_mirrored.jpg", _jpeg(mirrored), ("grace_hopper",), 0),
        Probe("grace_hopper_small.jpg", _jpeg(small), ("grace_hopper",), 0),
        Probe("grace_hopper_framed.jpg", _jpeg(framed), ("grace_hopper",), 0),
        Probe("empty_sky.jpg", _jpeg(blank), (), 0),
    ]
    return workload


def default_workload() -> Workload:
    root = fixtures_dir()
    return fixture_workload(root) if root is not None else packaged_workload()


def judge(probe: Probe, response: dict | None, enrolled: set[str]) -> tuple[bool, str]:
    """Did the response name the expected people left to right, and make ``unknown`` new people?"""
    if response is None:
        return False, "no response"
    faces = sorted(response.get("faces", []), key=lambda f: (f["box"][0] + f["box"][2]) / 2)
    known = [f["name"] for f in faces if not f.get("new_person") and f["name"] in enrolled]
    strangers = [f for f in faces if f.get("new_person") or f["name"] not in enrolled]
    ok = tuple(known) == probe.expect and len(strangers) == probe.unknown
    why = "" if ok else f"expected {list(probe.expect)} + {probe.unknown} new, got {known} + {len(strangers)} new"
    return ok, why
