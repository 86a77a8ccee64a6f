"""Every face of a labelled set, found and named in process.

Every photo is detected, assessed and embedded in process with the pipeline's own detector,
``quality.assess`` and embedder (``FaceLabeller.label``). An enrollment photo gives its largest
face (as ``Admin.enroll`` does). In a probe, labels name people left to right but do not say
which detected face is which name or which is the stranger: among the assignments of names to
detected faces that keep left-to-right order, the one with the most names placed, then the
highest summed similarity to each name's enrolled faces, wins (``assign_names``); detected
faces left unassigned are strangers' faces, names left unassigned were not detected.

The camera-sized version of a set is ``downscale.downscale``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from facepipe.exceptions import InvalidRequestError
from facepipe_tools.report import progress_bar
from facepipe_tools.sets import ExpectedFace, LabelledSet, LabelledSetError

if TYPE_CHECKING:
    from facepipe.detection import DetectedFace, FaceDetector
    from facepipe.detection.quality import FaceQuality
    from facepipe.embedding import Embedder

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
        from facepipe.detection.quality import assess

        if not faces:
            return []
        return [(f, assess(frame, f), v) for f, v in zip(faces, self.embed(frame, faces), strict=True)]

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
            expected = [ExpectedFace(name_of.get(i), face.box) for i, (face, _, _) in enumerate(measured)]
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
