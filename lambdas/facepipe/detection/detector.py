"""The face detector: facenet-pytorch's MTCNN, one frame at a time, over every frame size.

The smallest face searched for is a property of the original frame (``MIN_FACE_SIZE``,
pixels), not of a resized copy: MTCNN's image pyramid starts at ``12 / min_face``. It is also
at least ``face_fraction`` of the frame's short side, up to ``FRACTION_FLOOR_CAP`` px (1/32:
a 64x64 or 640x480 camera frame is searched down to 16 px, 1280x720 down to 22.5 px, 1080p
down to 32 px; the peers ask 36-40 px at 1080p). On frames above ``pixel_budget`` pixels the
smallest face rises with ``sqrt(pixels / pixel_budget)`` so that detection time and memory
stay bounded (a 3840x2160 frame is searched down to 33 px faces, a 48 MP photo down to 78 px).
Frames past the budget are detected on a working copy scaled so that the budget's smallest face
is ``WORK_FACE_PX`` pixels (the share of the frame moves where the pyramid starts, not the
resolution); every face keeps its box and landmarks in original pixels.

MTCNN's three stages run through ``facepipe.detection.mtcnn.detect_face``: facenet-pytorch's
``detect_face`` step for step with the same boxes, scores and landmarks (to ~1e-4 px), its
resampling read off one summed-area table and its nets on channels-last tensors.

Per frame, not in MTCNN's batch mode (fragile with frames of different sizes or without
faces: facenet-pytorch #6/#58/#177). A frame too small to hold the smallest face returns
no face instead of MTCNN's empty-pyramid crash (``torch.cat(): expected a non-empty list``).

Detection scores are trusted less on small boxes, where textures fool MTCNN most: a face
needs ``MIN_FACE_SCORE`` (default 0.90) at 128 px and up, 0.95 from 64 px and 0.97 below
(measured: false detections on the shared and held-out photos scored 0.71-0.951 at 37-62 px;
true frontal faces of 16-24 px score >= 0.97; a real face of a child looking down, 145 px,
scored 0.903).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from facepipe.observability import child_logger, tracer

Box = tuple[float, float, float, float]
Point = tuple[float, float]

logger = child_logger()


class DetectionSettings(Protocol):
    """What a detector is built from (``facepipe.settings.Settings`` has them: detection does not
    import settings, which sits above it)."""

    @property
    def min_face_size(self) -> int: ...
    @property
    def min_face_score(self) -> float: ...
    @property
    def detection_pixel_budget(self) -> int: ...
    @property
    def min_face_fraction(self) -> float: ...


#: px: the share of the short side never asks more than this (a 4K crowd's 40 px faces are found)
FRACTION_FLOOR_CAP = 32.0
#: the working copy shows the smallest searched face at this size (R-Net/O-Net crops stay fine)
WORK_FACE_PX = 24
#: (smallest box side in px, score required): the higher of this ladder and MIN_FACE_SCORE applies
SCORE_LADDER = ((128, 0.0), (64, 0.95), (0, 0.97))
#: MTCNN's own stage thresholds and pyramid factor (facenet-pytorch defaults)
STAGE_THRESHOLDS = (0.6, 0.7, 0.7)
PYRAMID_FACTOR = 0.709


@dataclass(frozen=True)
class DetectedFace:
    """One face in frame coordinates (pixels of the original, EXIF-rotated frame).

    ``box`` is (x1, y1, x2, y2); ``landmarks`` are MTCNN's five points: left eye,
    right eye, nose, left and right mouth corners; ``score`` is MTCNN's probability.
    """

    box: Box
    score: float
    landmarks: tuple[Point, ...]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def size(self) -> float:
        """The face's pixel size in the original frame: the short side of its box."""
        return max(0.0, min(self.width, self.height))

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)


def required_score(size: float, min_score: float) -> float:
    """Detection score a face of ``size`` pixels needs (the ladder, floored by ``min_score``)."""
    ladder = next(score for smallest, score in SCORE_LADDER if size >= smallest)
    return max(min_score, ladder)


class FaceDetector:
    """MTCNN wrapper: ``detect(frame) -> list[DetectedFace]`` sorted left to right."""

    def __init__(
        self, min_face_size: int = 16, min_score: float = 0.90, pixel_budget: int = 2_000_000, face_fraction: float = 1 / 32
    ) -> None:
        from facepipe.detection.mtcnn import load_networks  # facenet-pytorch's weights, without importing it

        self.min_face_size = min_face_size
        self.min_score = min_score
        self.pixel_budget = pixel_budget
        self.face_fraction = face_fraction
        self._nets = load_networks()

    @classmethod
    def from_settings(cls, settings: DetectionSettings) -> FaceDetector:
        return cls(settings.min_face_size, settings.min_face_score, settings.detection_pixel_budget, settings.min_face_fraction)

    def smallest_face(self, width: int, height: int) -> float:
        """The smallest face (original pixels) searched for in a ``width`` x ``height`` frame."""
        share = min(self.face_fraction * min(width, height), FRACTION_FLOOR_CAP)
        return max(share, self._budget_floor(width, height))

    def _budget_floor(self, width: int, height: int) -> float:
        """``MIN_FACE_SIZE``, grown with sqrt(pixels / budget) past the pixel budget."""
        return self.min_face_size * math.sqrt(max(1.0, width * height / self.pixel_budget))

    def working_scale(self, width: int, height: int) -> float:
        """The working copy's scale: the budget's smallest face shown at ``WORK_FACE_PX``, never enlarged."""
        return min(1.0, WORK_FACE_PX / self._budget_floor(width, height))

    @tracer.capture_method
    def detect(self, frame: Image.Image) -> list[DetectedFace]:
        min_face = self.smallest_face(frame.width, frame.height)
        if min(frame.size) < min_face:
            return []  # no face of the smallest searched size fits
        scale = self.working_scale(frame.width, frame.height)
        work = frame
        if scale < 1.0:
            work = frame.resize((max(1, round(frame.width * scale)), max(1, round(frame.height * scale))), Image.Resampling.BILINEAR)
        boxes, points = self._run(np.asarray(work), min_face * scale)
        faces = []
        for row, marks in zip(boxes, points, strict=True):
            x1, y1, x2, y2 = (float(v) / scale for v in row[:4])
            x1, y1 = max(0.0, x1), max(0.0, y1)
            x2, y2 = min(float(frame.width), x2), min(float(frame.height), y2)
            face = DetectedFace((x1, y1, x2, y2), float(row[4]), tuple((float(x) / scale, float(y) / scale) for x, y in marks))
            if face.size > 0 and face.score >= required_score(face.size, self.min_score):
                faces.append(face)
        faces.sort(key=lambda f: (f.box[0] + f.box[2]) / 2)
        return faces

    def _run(self, pixels: np.ndarray, min_face: float) -> tuple[np.ndarray, np.ndarray]:
        """MTCNN's three stages at ``min_face`` (working-copy pixels): boxes (n, 5), landmarks (n, 5, 2)."""
        import torch

        from facepipe.detection.mtcnn import detect_face

        pnet, rnet, onet = self._nets
        with torch.inference_mode():
            try:
                return detect_face(pixels, min_face, pnet, rnet, onet, STAGE_THRESHOLDS, PYRAMID_FACTOR)
            except RuntimeError as exc:
                # every candidate of a stage fell outside the frame: MTCNN concatenates an empty list
                if "non-empty" not in str(exc):
                    raise
                logger.warning("MTCNN found no usable candidate; treating the frame as faceless", error=str(exc))
                return np.zeros((0, 5)), np.zeros((0, 5, 2))


def select_faces(faces: list[DetectedFace], limit: int) -> tuple[list[DetectedFace], int]:
    """The select step: at most ``limit`` faces of a frame, the largest first (ties: the higher
    score), returned left to right as ``detect`` orders them, and how many were left out.

    A crowd frame is bounded here, before crops, embeddings and writes: the faces left out are
    the smallest, the ones recognition could place least surely anyway (``MAX_FACES_PER_FRAME``).
    """
    if limit < 0:
        raise ValueError(f"a face limit of {limit} makes no sense; use 0 or more")
    if len(faces) <= limit:
        return list(faces), 0
    ranked = sorted(range(len(faces)), key=lambda i: (-faces[i].size, -faces[i].score, i))
    kept = sorted(ranked[:limit])  # detect's left-to-right order, so indices stay left to right
    return [faces[i] for i in kept], len(faces) - limit


def largest_face(faces: list[DetectedFace]) -> DetectedFace | None:
    return max(faces, key=lambda f: f.area, default=None)
