"""Face detection with facenet-pytorch's MTCNN, one frame at a time.

MTCNN's batch mode is fragile with frames of different sizes or without faces
(facenet-pytorch #6/#58/#177), and slow on large frames (#77): we detect per frame
on a copy whose long side is capped, then map boxes back to the original frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from facepipe.images import cap_long_side

Box = tuple[float, float, float, float]
Point = tuple[float, float]


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
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)


class FaceDetector:
    """MTCNN wrapper: ``detect(frame) -> list[DetectedFace]`` sorted left to right."""

    def __init__(self, min_face_size: int = 40, min_score: float = 0.95, max_side: int = 1024) -> None:
        from facenet_pytorch import MTCNN  # weights ship inside the package

        self.min_face_size = min_face_size
        self.min_score = min_score
        self.max_side = max_side
        self._mtcnn = MTCNN(keep_all=True, min_face_size=min_face_size, post_process=False, device="cpu").eval()

    def detect(self, frame: Image.Image) -> list[DetectedFace]:
        small, scale = cap_long_side(frame, self.max_side)
        with torch.inference_mode():
            boxes, probs, points = self._mtcnn.detect(small, landmarks=True)
        if boxes is None:
            return []
        faces = []
        for box, prob, marks in zip(boxes, probs, points, strict=True):
            if prob is None or float(prob) < self.min_score:
                continue
            x1, y1, x2, y2 = (float(v) for v in np.asarray(box) * scale)
            x1, y1 = max(0.0, x1), max(0.0, y1)
            x2, y2 = min(float(frame.width), x2), min(float(frame.height), y2)
            if min(x2 - x1, y2 - y1) < self.min_face_size * scale * 0.75:
                continue
            landmarks = tuple((float(x) * scale, float(y) * scale) for x, y in np.asarray(marks))
            faces.append(DetectedFace((x1, y1, x2, y2), float(prob), landmarks))
        faces.sort(key=lambda f: (f.box[0] + f.box[2]) / 2)
        return faces


def largest_face(faces: list[DetectedFace]) -> DetectedFace | None:
    return max(faces, key=lambda f: f.area, default=None)
