"""Labelled photo sets, their faces, and their camera-sized versions: what eval, calibrate,
the demo and bench run on.

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

Faces (``FaceLabeller.label``): every photo is detected, assessed and embedded in process
with the pipeline's own detector, ``quality.assess`` and embedder. An enrollment photo gives
its largest face (as ``Admin.enroll`` does). In a probe, labels name people left to right
but do not say which detected face is which name or which is the stranger: among the
assignments of names to detected faces that keep left-to-right order, the one with the
most names placed, then the highest summed similarity to each name's enrolled faces, wins
(``assign_names``); detected faces left unassigned are strangers' faces, names left
unassigned were not detected.

Camera-sized version (``downscale``): every labelled face is cut out with its context, a
square about 3x the face (the face covers 0.28-0.38 of the side, varied deterministically per
face) and resized to ``size`` x ``size``: at 64 the faces are ~18-25 px. An enrollment photo
gives one frame of its largest face; a probe gives one frame per labelled face, expecting
``[name]`` for an enrolled person's face and ``[]`` with one stranger otherwise.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image, ImageOps

from facepipe.exceptions import FacepipeError, InvalidRequestError

if TYPE_CHECKING:
    from facepipe.detection import DetectedFace, FaceDetector
    from facepipe.embedding import Embedder
    from facepipe.matching import Calibration
    from facepipe.quality import FaceQuality

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
#: a downscaled frame shows its face at this fraction of its side (varied per face)
FACE_FRACTION = (0.28, 0.38)
#: a detection is the labelled face when their boxes overlap at least this much
MIN_IOU = 0.3

Box = tuple[float, float, float, float]
Role = Literal["enroll", "probe"]


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


#: the demo's and bench's older name for a labelled set
Workload = LabelledSet


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
    labelled = LabelledSet(name or f"{path}")
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
    labelled = LabelledSet(name or f"{path}")
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
    configured = os.environ.get("FACEPIPE_FIXTURES")
    path = Path(configured) if configured else PROJECT_ROOT.parent / "shared" / "fixtures"
    return path if (path / "faces" / "labels.json").is_file() else None


def fixture_workload(root: Path) -> LabelledSet:
    faces = root / "faces"
    return load_labels_json(faces / "labels.json", name=f"fixtures ({faces})")


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


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
        Probe("grace_hopper_mirrored.jpg", _jpeg(mirrored), ("grace_hopper",), 0),
        Probe("grace_hopper_small.jpg", _jpeg(small), ("grace_hopper",), 0),
        Probe("grace_hopper_framed.jpg", _jpeg(framed), ("grace_hopper",), 0),
        Probe("empty_sky.jpg", _jpeg(blank), (), 0),
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


# --- faces ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelledFace:
    """One labelled face as the pipeline sees it: detection, quality and embedding (unit vector).

    ``file`` is the frame the face was measured in; ``origin`` the set's photo it comes from
    (the same for a full-size face); ``name`` is None for a stranger."""

    file: str
    role: Role
    name: str | None
    face: DetectedFace
    quality: FaceQuality
    vector: np.ndarray
    index: int = 0  # among the labelled photo's faces, left to right
    origin: str = ""
    variant: str = "full"
    set_name: str = ""

    @property
    def identity(self) -> str:
        """The person: the name, or one stranger per face of a photo."""
        return self.name if self.name is not None else f"stranger:{self.set_name}:{self.origin or self.file}#{self.index}"

    @property
    def degraded(self) -> bool:
        return "blur" in self.variant or "jpeg" in self.variant


@dataclass
class Labelling:
    """A set whose probes carry their expected faces (boxes), and every labelled face."""

    set: LabelledSet
    faces: list[LabelledFace]
    warnings: list[str] = field(default_factory=list)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def assign_names(names: Sequence[str], vectors: np.ndarray, gallery: Mapping[str, np.ndarray]) -> list[int | None]:
    """For each expected name (left to right), the index of its face among ``vectors`` (faces
    left to right) or None.

    Among assignments that keep left-to-right order, the one placing the most names, then with
    the highest summed similarity of each face to its name's enrolled faces (``gallery``:
    name -> (k, d) unit vectors; a name without enrolled faces scores 0). Dynamic programming
    over (faces, names), like an alignment."""
    faces, count = len(vectors), len(names)
    sims = np.zeros((faces, count))
    for j, name in enumerate(names):
        enrolled = gallery.get(name)
        if enrolled is not None and len(enrolled) and faces:
            sims[:, j] = (np.asarray(vectors) @ np.asarray(enrolled).T).max(axis=1)
    best = [[(0, 0.0)] * (count + 1) for _ in range(faces + 1)]
    for i in range(1, faces + 1):
        for j in range(1, count + 1):
            placed, total = best[i - 1][j - 1]
            best[i][j] = max(best[i - 1][j], best[i][j - 1], (placed + 1, total + float(sims[i - 1, j - 1])))
    assigned: list[int | None] = [None] * count
    i, j = faces, count
    while i > 0 and j > 0:
        placed, total = best[i - 1][j - 1]
        if best[i][j] == (placed + 1, total + float(sims[i - 1, j - 1])):
            assigned[j - 1] = i - 1
            i, j = i - 1, j - 1
        elif best[i][j] == best[i - 1][j]:
            i -= 1
        else:
            j -= 1
    return assigned


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "img"):
    """A tqdm bar on stderr (or a silent stand-in): ``update()`` per step, ``close()`` at the end."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False)


class FaceLabeller:
    """Finds and names the faces of labelled sets with the pipeline's detector, quality
    measure and embedder (``admin.build_recognizer(...)`` has them, or ``FaceDetector()`` and
    ``load_embedder(model)``)."""

    def __init__(self, detector: FaceDetector, embedder: Embedder, max_image_pixels: int = 40_000_000) -> None:
        self.detector = detector
        self.embedder = embedder
        self.max_image_pixels = max_image_pixels

    def open(self, data: bytes, what: str = "image") -> Image.Image:
        from facepipe.images import open_image

        try:
            return open_image(data, self.max_image_pixels)
        except InvalidRequestError as exc:
            raise LabelledSetError(f"{what}: {exc.message}") from None

    def embed(self, frame: Image.Image, faces: Sequence[DetectedFace]) -> np.ndarray:
        return self.embedder.embed([self.embedder.crop(frame, f) for f in faces])

    def measure(self, frame: Image.Image, faces: Sequence[DetectedFace]) -> list[tuple[DetectedFace, FaceQuality, np.ndarray]]:
        """Quality and embedding of each of ``faces`` (detected in ``frame``)."""
        from facepipe.quality import assess

        vectors = self.embed(frame, faces) if faces else []
        return [(f, assess(frame, f), v) for f, v in zip(faces, vectors, strict=True)]

    def find(self, frame: Image.Image, near: Sequence[float]) -> tuple[DetectedFace, FaceQuality, np.ndarray] | None:
        """The detected face of ``frame`` that is the face at ``near`` (best IoU >= MIN_IOU), measured."""
        faces = self.detector.detect(frame)
        overlap = [(iou(f.box, near), f) for f in faces]
        score, face = max(overlap, key=lambda t: t[0], default=(0.0, None))
        if face is None or score < MIN_IOU:
            return None
        return self.measure(frame, [face])[0]

    def label(self, labelled: LabelledSet, progress: bool = False) -> Labelling:
        """Every face of ``labelled``, named (see the module docstring); probes get their boxes."""
        from facepipe.detection import largest_face

        faces: list[LabelledFace] = []
        warnings: list[str] = []
        total = sum(len(files) for files in labelled.enroll.values()) + len(labelled.probes)
        bar = progress_bar(total, "finding faces", progress)
        for name, files in labelled.enroll.items():
            for filename, data in files:
                bar.update()
                frame = self.open(data, filename)
                face = largest_face(self.detector.detect(frame))
                if face is None:
                    warnings.append(f"{filename}: no face found; {name} is not enrolled from it")
                    continue
                ((detected, quality, vector),) = self.measure(frame, [face])
                faces.append(LabelledFace(filename, "enroll", name, detected, quality, vector, origin=filename, set_name=labelled.name))
        gallery: dict[str, list[np.ndarray]] = {}
        for f in faces:
            gallery.setdefault(f.name or "", []).append(f.vector)
        stacked = {name: np.stack(vectors) for name, vectors in gallery.items()}
        probes = []
        for probe in labelled.probes:
            bar.update()
            frame = self.open(probe.content, probe.filename)
            measured = self.measure(frame, self.detector.detect(frame))
            vectors = np.stack([v for _, _, v in measured]) if measured else np.zeros((0, 1))
            assigned = assign_names(probe.expect, vectors, stacked)
            name_of = {i: name for name, i in zip(probe.expect, assigned, strict=True) if i is not None}
            expected = [ExpectedFace(name_of.get(i), tuple(face.box)) for i, (face, _, _) in enumerate(measured)]
            expected += [ExpectedFace(name) for name, i in zip(probe.expect, assigned, strict=True) if i is None]
            strangers_found = len(measured) - len(name_of)
            expected += [ExpectedFace(None)] * max(0, probe.unknown - strangers_found)
            for i, (face, quality, vector) in enumerate(measured):
                faces.append(
                    LabelledFace(probe.filename, "probe", name_of.get(i), face, quality, vector, index=i, origin=probe.filename,
                                 set_name=labelled.name)
                )
            missing = [name for name, i in zip(probe.expect, assigned, strict=True) if i is None]
            if missing:
                warnings.append(f"{probe.filename}: no face found for {', '.join(missing)}")
            probes.append(replace(probe, faces=tuple(expected)))
        bar.close()
        return Labelling(replace(labelled, probes=probes), faces, warnings)


# --- camera-sized frames --------------------------------------------------------------------
def face_fraction(key: str, low: float = FACE_FRACTION[0], high: float = FACE_FRACTION[1]) -> float:
    """A fraction in [low, high] fixed by ``key`` (same face, same frame, every run)."""
    digest = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return low + (high - low) * digest / 0xFFFFFFFF


@dataclass(frozen=True)
class ContextSquare:
    """The square of a photo a camera-sized frame shows: top-left corner, side (photo pixels)
    and the frame's side; ``map`` moves a photo box into the frame."""

    left: float
    top: float
    side: float
    size: int

    def map(self, box: Sequence[float]) -> Box:
        k = self.size / self.side
        x1, y1, x2, y2 = (float(v) for v in box)
        return ((x1 - self.left) * k, (y1 - self.top) * k, (x2 - self.left) * k, (y2 - self.top) * k)

    def holds(self, box: Sequence[float]) -> bool:
        """Whether the whole of a photo box is inside the frame."""
        x1, y1, x2, y2 = self.map(box)
        return x1 >= 0 and y1 >= 0 and x2 <= self.size and y2 <= self.size


def context_square(width: int, height: int, box: Sequence[float], fraction: float, size: int) -> ContextSquare:
    """The square around the face at ``box`` whose side is the face's size (short side of the
    box) / ``fraction``, kept inside the photo where it fits (the face moves off-centre rather
    than meeting a black border)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(1.0, min(x2 - x1, y2 - y1) / fraction)
    left, top = (x1 + x2) / 2 - side / 2, (y1 + y2) / 2 - side / 2
    if side <= width:
        left = min(max(0.0, left), width - side)
    if side <= height:
        top = min(max(0.0, top), height - side)
    return ContextSquare(left, top, side, size)


def context_frame(frame: Image.Image, box: Sequence[float], fraction: float, size: int) -> tuple[Image.Image, ContextSquare]:
    """A ``size`` x ``size`` frame of the face at ``box`` with its context (``context_square``),
    resampled with Lanczos; black beyond the photo's edges."""
    square = context_square(frame.width, frame.height, box, fraction, size)
    left, top, side = square.left, square.top, square.side
    if left >= 0 and top >= 0 and left + side <= frame.width and top + side <= frame.height:
        return frame.resize((size, size), Image.LANCZOS, box=(left, top, left + side, top + side)), square
    x0, y0 = math.floor(left), math.floor(top)
    canvas = Image.new("RGB", (math.ceil(left + side) - x0 + 1, math.ceil(top + side) - y0 + 1))
    canvas.paste(frame, (-x0, -y0))
    inner = (left - x0, top - y0, left - x0 + side, top - y0 + side)
    return canvas.resize((size, size), Image.LANCZOS, box=inner), square


def _derived_name(filename: str, size: int, index: int | None) -> str:
    stem = filename.rsplit(".", 1)[0] if "." in filename.rsplit("/", 1)[-1] else filename
    return f"{stem}.{size}px.jpg" if index is None else f"{stem}.face{index}.{size}px.jpg"


def downscale(labelling: Labelling, size: int, labeller: FaceLabeller, progress: bool = False) -> Labelling:
    """The camera-sized version of a labelled set (module docstring), its faces measured in the
    new frames. A probe frame expects its own face; another labelled face wholly inside it is
    a neighbour, judged only if the pipeline reports it. A face the detector misses in its
    frame is left out of ``faces`` (its frame is still probed)."""
    from facepipe.images import encode_jpeg

    source = labelling.set
    images = source.images()
    by_origin: dict[str, list[LabelledFace]] = {}
    for f in labelling.faces:
        by_origin.setdefault(f.origin, []).append(f)
    derived = LabelledSet(f"{source.name}, {size}x{size} frames")
    warnings = list(labelling.warnings)
    frames: list[tuple[LabelledFace, str, Image.Image, Box]] = []
    for origin, labelled in by_origin.items():
        photo = labeller.open(images[origin], origin)
        for f in labelled:
            frame, square = context_frame(photo, f.face.box, face_fraction(f"{origin}#{f.index}"), size)
            box = square.map(f.face.box)
            if f.role == "enroll":
                filename = _derived_name(origin, size, None)
                derived.enroll.setdefault(f.name or "", []).append((filename, encode_jpeg(frame)))
            else:
                filename = _derived_name(origin, size, f.index)
                neighbours = [ExpectedFace(o.name, square.map(o.face.box), required=False)
                              for o in labelled if o is not f and square.holds(o.face.box)]
                expected = (ExpectedFace(f.name, box), *neighbours)
                derived.probes.append(Probe(filename, encode_jpeg(frame), (f.name,) if f.name else (), 0 if f.name else 1, expected))
            frames.append((f, filename, frame, box))
    faces: list[LabelledFace] = []
    bar = progress_bar(len(frames), f"faces at {size}x{size}", progress)
    for face, filename, frame, box in frames:
        bar.update()
        found = labeller.find(frame, box)
        if found is None:
            warnings.append(f"{filename}: the {face.name or 'stranger'} face is not found at {size}x{size}")
            continue
        detected, quality, vector = found
        faces.append(replace(face, file=filename, face=detected, quality=quality, vector=vector, variant=f"{size}px"))
    bar.close()
    return Labelling(derived, faces, warnings)


# --- similarity of pairs --------------------------------------------------------------------
@dataclass(frozen=True)
class Pairs:
    """Every pair of faces from different files: similarity, same person, the worse quality
    band of the two, the smaller size, and whether either face is degraded (blur / JPEG)."""

    similarity: np.ndarray
    same: np.ndarray
    band: np.ndarray
    size: np.ndarray
    degraded: np.ndarray

    def select(self, mask: np.ndarray) -> Pairs:
        return Pairs(self.similarity[mask], self.same[mask], self.band[mask], self.size[mask], self.degraded[mask])


def pairs_of(faces: Sequence[LabelledFace], file_of: Callable[[LabelledFace], str] = lambda f: f.file) -> Pairs:
    """All pairs of ``faces`` whose files differ (``file_of``: which file a face is from), except
    pairs of two strangers' faces: nobody knows whether they are one person (a passer-by in the
    background of two photos of one series often is: 0.954 on the held-out set)."""
    from facepipe.quality import rank

    if len(faces) < 2:
        empty = np.zeros(0)
        return Pairs(empty, empty.astype(bool), empty.astype(str), empty, empty.astype(bool))
    vectors = np.stack([f.vector for f in faces])
    first, second = np.triu_indices(len(faces), 1)
    files = np.array([file_of(f) for f in faces])
    named = np.array([f.name is not None for f in faces])
    keep = (files[first] != files[second]) & (named[first] | named[second])
    first, second = first[keep], second[keep]
    identity = np.array([f.identity for f in faces])
    ranks = np.array([rank(f.quality.band) for f in faces])
    sizes = np.array([f.quality.size for f in faces])
    degraded = np.array([f.degraded for f in faces])
    bands = np.array(["poor", "fair", "good"])[np.minimum(ranks[first], ranks[second])]
    return Pairs(
        similarity=np.einsum("ij,ij->i", vectors[first], vectors[second]),
        same=identity[first] == identity[second],
        band=bands,
        size=np.minimum(sizes[first], sizes[second]),
        degraded=degraded[first] | degraded[second],
    )


def band_summary(pairs: Pairs, calibration: Calibration) -> list[dict]:
    """Per quality band of the pair: counts, the extremes and what the band's threshold does."""
    rows = []
    for band in ("good", "fair", "poor"):
        selected = pairs.select(pairs.band == band)
        genuine, impostor = selected.similarity[selected.same], selected.similarity[~selected.same]
        threshold = calibration.threshold(band)
        rows.append({
            "band": band,
            "threshold": threshold,
            "same_pairs": int(len(genuine)),
            "different_pairs": int(len(impostor)),
            "same_min": float(genuine.min()) if len(genuine) else None,
            "same_median": float(np.median(genuine)) if len(genuine) else None,
            "different_median": float(np.median(impostor)) if len(impostor) else None,
            "different_max": float(impostor.max()) if len(impostor) else None,
            "same_below_threshold": int((genuine < threshold).sum()),
            "different_at_or_above_threshold": int((impostor >= threshold).sum()),
        })
    return rows


def plot_pairs(pairs: Pairs, calibration: Calibration, title: str, path: Path) -> Path:
    """Histograms (pair counts, log scale) of same-person vs different-person similarity, one
    panel per quality band of the pair, the band's threshold drawn as a vertical line. PNG (Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, panels = plt.subplots(1, 3, figsize=(13, 3.8), sharex=True)
    lowest = min(float(pairs.similarity.min(initial=1.0)), calibration.good)
    bins = np.linspace(max(-1.0, math.floor(lowest * 20) / 20 - 0.05), 1.0, 61)
    for panel, band in zip(panels, ("good", "fair", "poor"), strict=True):
        selected = pairs.select(pairs.band == band)
        genuine, impostor = selected.similarity[selected.same], selected.similarity[~selected.same]
        if len(impostor):
            panel.hist(impostor, bins=bins, alpha=0.6, color="tab:red", label=f"different people ({len(impostor)})")
        if len(genuine):
            panel.hist(genuine, bins=bins, alpha=0.6, color="tab:green", label=f"same person ({len(genuine)})")
        if len(selected.similarity):
            panel.set_yscale("log")  # the tails are what a threshold is about
        threshold = calibration.threshold(band)
        panel.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:.3f}")
        panel.set_title(f"{band} pairs")
        panel.set_xlabel("cosine similarity")
        if not len(selected.similarity):
            panel.text(0.5, 0.5, "no pairs", transform=panel.transAxes, ha="center")
        panel.legend(fontsize=7, loc="upper left")
    panels[0].set_ylabel("pairs (log scale)")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
