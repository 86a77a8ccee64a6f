"""Faces in a frame, and how far each can be trusted: detect → select → assess.

- ``detector``: ``FaceDetector`` (MTCNN over every frame size: the smallest face in original
  pixels, the pixel budget, the score ladder), ``DetectedFace``, and the per-frame face limit
  (``select_faces``).
- ``quality``: per face, size, score, sharpness, pose and brightness, and the band
  (good / fair / poor) matching reads.
- ``mtcnn``: facenet-pytorch's MTCNN restated (nets, resampling, box helpers, NMS, the
  three-stage pipeline); loaded with torch only when a detector is built.

Importing this package loads neither torch nor the networks.
"""

from __future__ import annotations

from facepipe.detection.detector import (
    FRACTION_FLOOR_CAP,
    PYRAMID_FACTOR,
    SCORE_LADDER,
    STAGE_THRESHOLDS,
    WORK_FACE_PX,
    Box,
    DetectedFace,
    FaceDetector,
    Point,
    largest_face,
    required_score,
    select_faces,
)

__all__ = [
    "FRACTION_FLOOR_CAP",
    "PYRAMID_FACTOR",
    "SCORE_LADDER",
    "STAGE_THRESHOLDS",
    "WORK_FACE_PX",
    "Box",
    "DetectedFace",
    "FaceDetector",
    "Point",
    "largest_face",
    "required_score",
    "select_faces",
]
