"""Labelled photo sets: what eval, calibrate, the demo and bench run on.

A set is enrollment photos per name plus probes, each with the names expected in it left to
right and a count of faces that belong to nobody enrolled (strangers). Sources:

* ``labels.json`` (the shared fixtures' layout): ``{"enroll": {name: [file, ...]},
  "probes": {file: {"expect": [names left to right], "unknown": n}}}``, paths relative to
  the file (``load_labels_json``; a folder holding ``labels.json`` or ``faces/labels.json``
  works too, ``load_set``).
* a CSV with the header ``Image,Results`` (the seed's grading client): one name per image;
  Image may lack its extension (tried as given, then .jpg/.jpeg/.png/.webp/.bmp). Each row
  expects ``[name]`` and no stranger. Enrollment: ``<name>/*.jpg|png|...`` folders of an
  enroll directory, or else the first image of each name, which is then not probed
  (``load_csv``).
* the shared fixtures (``../shared/fixtures/faces`` or ``FACEPIPE_FIXTURES``), else the one
  portrait that ships inside an installed package: Grace Hopper from matplotlib's sample
  data, enrolled from the original and probed with edited copies plus a frame with no face
  (``default_workload``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from facepipe.exceptions import FacepipeError
from facepipe.images import encode_jpeg
from facepipe.settings import Settings
from facepipe_tools.report import shown_path

if TYPE_CHECKING:
    from facepipe.messages import ResponseMessage

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
Box = tuple[float, float, float, float]


class LabelledSetError(FacepipeError):
    """A labelled set cannot be read: a missing file, a bad CSV header, an unknown layout."""


# --- sets -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExpectedFace:
    """A face a probe should show: ``name`` (None for a stranger) and where it is in the
    frame (``box``; None when the in-process detection did not find it). ``required`` is False
    for a neighbour that a downscaled frame's context happens to show: judged only if found."""

    name: str | None
    box: Box | None = None
    required: bool = True


@dataclass(frozen=True)
class Probe:
    filename: str
    content: bytes
    expect: tuple[str, ...]
    unknown: int
    #: filled by ``FaceLabeller.label`` (and ``downscale``): every labelled face with its box
    faces: tuple[ExpectedFace, ...] = ()


@dataclass
class LabelledSet:
    name: str
    enroll: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    probes: list[Probe] = field(default_factory=list)

    def images(self) -> dict[str, bytes]:
        """Every photo of the set by filename."""
        found = {filename: data for files in self.enroll.values() for filename, data in files}
        found.update((p.filename, p.content) for p in self.probes)
        return found


def _read(base: Path, relative: str, what: str) -> bytes:
    path = base / relative
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LabelledSetError(f"{what}: cannot read {path} ({exc.strerror or exc})") from None


def load_labels_json(path: Path, name: str | None = None) -> LabelledSet:
    """A ``labels.json`` set; image paths are relative to the file's folder."""
    try:
        labels = json.loads(path.read_text())
    except OSError as exc:
        raise LabelledSetError(f"cannot read {path} ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise LabelledSetError(f"{path} is not JSON: {exc}") from None
    enroll = labels.get("enroll") if isinstance(labels, dict) else None
    probes = labels.get("probes") if isinstance(labels, dict) else None
    if not isinstance(enroll, dict) or not isinstance(probes, dict):
        raise LabelledSetError(f"{path} needs an 'enroll' object (name -> files) and a 'probes' object (file -> expect/unknown)")
    base = path.parent
    labelled = LabelledSet(name or shown_path(path))
    for person, files in enroll.items():
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise LabelledSetError(f"{path}: enroll[{person!r}] must be a list of file names")
        labelled.enroll[person] = [(f, _read(base, f, f"{path}: enroll[{person!r}]")) for f in files]
    for filename, truth in probes.items():
        if not isinstance(truth, dict) or not isinstance(truth.get("expect", []), list):
            raise LabelledSetError(f"{path}: probes[{filename!r}] must be {{'expect': [names], 'unknown': n}}")
        expect = tuple(str(n) for n in truth.get("expect", []))
        unknown = truth.get("unknown", 0)
        if not isinstance(unknown, int) or unknown < 0:
            raise LabelledSetError(f"{path}: probes[{filename!r}]['unknown'] must be a count of strangers' faces, got {unknown!r}")
        labelled.probes.append(Probe(filename, _read(base, filename, f"{path}: probe"), expect, unknown))
    return labelled


def resolve_image(base: Path, image: str) -> Path:
    """``image`` under ``base`` as given, else with the first known extension that exists."""
    candidates = [base / image] + [base / f"{image}{suffix}" for suffix in IMAGE_SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(c.name for c in candidates)
    raise LabelledSetError(f"image {image!r} not found in {base} (tried {tried})")


def load_enroll_dir(root: Path) -> dict[str, list[tuple[str, bytes]]]:
    """``<name>/*.jpg|jpeg|png|webp|bmp`` folders -> name -> [(filename, bytes)]."""
    if not root.is_dir():
        raise LabelledSetError(f"enroll directory {root} not found (expected <name>/<photo>.jpg folders)")
    enroll: dict[str, list[tuple[str, bytes]]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            enroll[folder.name] = [(f"{folder.name}/{p.name}", p.read_bytes()) for p in files]
    if not enroll:
        raise LabelledSetError(f"{root} holds no <name>/ folder with photos ({', '.join(IMAGE_SUFFIXES)})")
    return enroll


def load_csv(path: Path, enroll_dir: Path | None = None, name: str | None = None) -> LabelledSet:
    """An ``Image,Results`` CSV; images next to it. Without ``enroll_dir`` the first image of
    each name enrolls that name and is not probed."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise LabelledSetError(f"cannot read {path} ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise LabelledSetError(f"{path} is not a readable CSV: {exc}") from None
    header = [h.strip() for h in rows[0]] if rows else []
    if header != ["Image", "Results"]:
        raise LabelledSetError(f"{path}: the header must be 'Image,Results' (one name per image), got {','.join(header)!r}")
    base = path.parent
    labelled = LabelledSet(name or shown_path(path))
    if enroll_dir is not None:
        labelled.enroll = load_enroll_dir(enroll_dir)
    seen: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2 or not row[0].strip():
            raise LabelledSetError(f"{path}:{line}: expected 'Image,Results', got {','.join(row)!r}")
        image, person = row[0].strip(), row[1].strip()
        if image in seen:
            raise LabelledSetError(f"{path}:{line}: image {image!r} is listed twice")
        seen.add(image)
        file = resolve_image(base, image)
        filename = file.relative_to(base).as_posix()
        if enroll_dir is None and person and person not in labelled.enroll:
            labelled.enroll[person] = [(filename, file.read_bytes())]
            continue
        labelled.probes.append(Probe(filename, file.read_bytes(), (person,) if person else (), 0))
    return labelled


def fixtures_dir() -> Path | None:
    configured = Settings.from_env().fixtures
    path = Path(configured) if configured else PROJECT_ROOT.parent / "shared" / "fixtures"
    return path if (path / "faces" / "labels.json").is_file() else None


def fixture_workload(root: Path) -> LabelledSet:
    faces = root / "faces"
    return load_labels_json(faces / "labels.json", name=f"fixtures ({shown_path(faces)})")


def packaged_workload() -> LabelledSet:
    import matplotlib.cbook

    path = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    original = Image.open(path)
    workload = LabelledSet(f"packaged sample ({path.name} from matplotlib)")
    workload.enroll["grace_hopper"] = [(path.name, path.read_bytes())]
    mirrored = ImageOps.mirror(original)
    small = original.resize((original.width // 2, original.height // 2))
    framed = ImageOps.expand(original.rotate(8, expand=True, fillcolor=(40, 40, 40)), border=120, fill=(90, 110, 130))
    blank = Image.new("RGB", (640, 480), (120, 160, 200))
    workload.probes += [
        Probe("grace_hopper_mirrored.jpg", encode_jpeg(mirrored), ("grace_hopper",), 0),
        Probe("grace_hopper_small.jpg", encode_jpeg(small), ("grace_hopper",), 0),
        Probe("grace_hopper_framed.jpg", encode_jpeg(framed), ("grace_hopper",), 0),
        Probe("empty_sky.jpg", encode_jpeg(blank), (), 0),
    ]
    return workload


def default_workload() -> LabelledSet:
    root = fixtures_dir()
    return fixture_workload(root) if root is not None else packaged_workload()


def load_set(spec: str | Path | None = None, enroll_dir: str | Path | None = None) -> LabelledSet:
    """A set from a ``labels.json`` file, a folder holding one (or ``faces/labels.json``), or an
    ``Image,Results`` CSV; None: the default (shared fixtures, else the packaged sample).
    ``enroll_dir`` (``<name>/*.jpg`` folders) replaces the set's enrollment photos."""
    enroll = Path(enroll_dir) if enroll_dir is not None else None
    if spec is None:
        labelled = default_workload()
    else:
        path = Path(spec)
        if path.is_dir():
            found = next((p for p in (path / "labels.json", path / "faces" / "labels.json") if p.is_file()), None)
            if found is None:
                raise LabelledSetError(f"{path} holds neither labels.json nor faces/labels.json")
            path = found
        if not path.is_file():
            raise LabelledSetError(f"{path} not found: give a labels.json, a folder holding one, or an Image,Results CSV")
        if path.suffix.lower() == ".csv":
            return load_csv(path, enroll)
        if path.suffix.lower() != ".json":
            raise LabelledSetError(f"{path}: unknown set format (expected labels.json or an Image,Results .csv)")
        labelled = load_labels_json(path)
    if enroll is not None:
        labelled.enroll = load_enroll_dir(enroll)
    return labelled


def judge(probe: Probe, response: ResponseMessage | None, enrolled: set[str]) -> tuple[bool, str]:
    """Did the response name the expected people left to right, and make ``unknown`` new people?"""
    if response is None:
        return False, "no response"
    faces = sorted(response.get("faces", []), key=lambda f: (f["box"][0] + f["box"][2]) / 2)
    known = [f["name"] for f in faces if not f.get("new_person") and f["name"] in enrolled]
    strangers = [f for f in faces if f.get("new_person") or f["name"] not in enrolled]
    ok = tuple(known) == probe.expect and len(strangers) == probe.unknown
    why = "" if ok else f"expected {list(probe.expect)} + {probe.unknown} new, got {known} + {len(strangers)} new"
    return ok, why
