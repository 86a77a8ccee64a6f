"""Every face of a labelled set, found and named in process, and the set's camera-sized version.

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

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from facepipe.exceptions import InvalidRequestError
from facepipe_tools.report import progress_bar
from facepipe_tools.scenes import context_frame
from facepipe_tools.sets import Box, ExpectedFace, LabelledSet, LabelledSetError, Probe

if TYPE_CHECKING:
    from facepipe.detection import DetectedFace, FaceDetector
    from facepipe.embedding import Embedder
    from facepipe.quality import FaceQuality

#: a downscaled frame shows its face at this fraction of its side (varied per face)
FACE_FRACTION = (0.28, 0.38)
#: a detection is the labelled face when their boxes overlap at least this much
MIN_IOU = 0.3

Role = Literal["enroll", "probe"]


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
                    LabelledFace(
                        probe.filename,
                        "probe",
                        name_of.get(i),
                        face,
                        quality,
                        vector,
                        index=i,
                        origin=probe.filename,
                        set_name=labelled.name,
                    )
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
                neighbours = [
                    ExpectedFace(o.name, square.map(o.face.box), required=False)
                    for o in labelled
                    if o is not f and square.holds(o.face.box)
                ]
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
