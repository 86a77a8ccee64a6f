"""Face quality: how much a face can be trusted, measured on the original frame.

Per face: pixel size (short side of the box), detection score, sharpness, pose (yaw, pitch,
roll from MTCNN's five landmarks), brightness, and the resulting quality ``band``, which
matching uses to decide how much similarity a match needs (facepipe.matching).

Sharpness is the variance of the Laplacian of the face, in grey, resampled to 64x64: it
measures the detail a face really carries, so a blurred 64 px face scores like a 16 px one
(measured on the calibration set: sharp faces of >= 64 px: 570-1900; the same faces blurred:
30-75; 32 px faces: 160-430; 20 px: 50-150). Heavy JPEG damage is not caught by it.

Pose is an estimate for a typical face geometry (nose tip ~0.6 half eye-distances in front
of the eyes, eye-to-mouth ~2 half eye-distances): yaw = atan(r / 0.6), where r is the
nose's offset from the eye-mouth midline in half eye-distances; pitch likewise from the
nose's height between eyes and mouth. Good enough to tell frontal from turned, not a
measurement in degrees.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from facepipe.detection.detector import DetectedFace

Band = Literal["good", "fair", "poor"]
BANDS: tuple[Band, ...] = ("poor", "fair", "good")  # worst first

SHARPNESS_SIDE = 64
#: (smallest size px, least sharpness) a band needs; below "fair" a face is "poor"
GOOD = (40, 250.0)
FAIR = (24, 80.0)
#: turned further than this (degrees), a face drops one band (yaw, pitch); beyond POOR_YAW it is poor
TURNED = (45.0, 40.0)
POOR_YAW = 60.0
#: nose geometry of a typical face, in half eye-distances (see the module docstring)
NOSE_DEPTH = 0.6
FRONTAL_NOSE_HEIGHT = 0.55
NOSE_DEPTH_OVER_FACE_HEIGHT = 0.3


@dataclass(frozen=True)
class FaceQuality:
    """Quality of one face. ``size`` in original-frame pixels; angles in degrees (estimates)."""

    size: float
    score: float
    sharpness: float
    yaw: float
    pitch: float
    roll: float
    brightness: float
    band: Band

    def as_dict(self) -> dict[str, float | str]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceQuality:
        """From a message or a stored item; ``band`` is recomputed when missing."""
        values = {k: float(data.get(k, 0.0)) for k in ("size", "score", "sharpness", "yaw", "pitch", "roll", "brightness")}
        band = data.get("band")
        if band not in BANDS:
            band = band_of(values["size"], values["sharpness"], values["yaw"], values["pitch"])
        return cls(**values, band=band)


def rank(band: Band) -> int:
    """0 for poor, 1 for fair, 2 for good: ``min`` of ranks is the worse band."""
    return BANDS.index(band)


def worse(a: Band, b: Band) -> Band:
    return a if rank(a) <= rank(b) else b


def band_of(size: float, sharpness: float, yaw: float, pitch: float) -> Band:
    """The band of a face: by size and sharpness, lowered one step for a turned face."""
    if size >= GOOD[0] and sharpness >= GOOD[1]:
        band = 2
    elif size >= FAIR[0] and sharpness >= FAIR[1]:
        band = 1
    else:
        band = 0
    if abs(yaw) > POOR_YAW:
        band = 0
    elif abs(yaw) > TURNED[0] or abs(pitch) > TURNED[1]:
        band = max(0, band - 1)
    return BANDS[band]


def sharpness(frame: Image.Image, box: tuple[float, float, float, float]) -> tuple[float, float]:
    """(variance of the Laplacian, mean brightness 0-255) of the face in grey at 64x64."""
    import cv2

    x1, y1, x2, y2 = (round(v) for v in box)
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(frame.width, max(x1 + 1, x2)), min(frame.height, max(y1 + 1, y2))
    grey = np.asarray(frame.crop((x1, y1, x2, y2)).convert("L"))
    shrinking = min(grey.shape) > SHARPNESS_SIDE
    grey = cv2.resize(grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var()), float(grey.mean())


def pose(landmarks: tuple[tuple[float, float], ...]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from MTCNN's five points (see the module docstring)."""
    left_eye, right_eye, nose, mouth_left, mouth_right = (np.asarray(p, dtype=np.float64) for p in landmarks)
    roll = math.degrees(math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    # undo the roll around the eyes' midpoint, then read yaw and pitch off the nose
    eyes = (left_eye + right_eye) / 2
    turn = math.radians(-roll)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    left_eye, right_eye, nose, mouth_left, mouth_right = (
        (p - eyes) @ rotation.T for p in (left_eye, right_eye, nose, mouth_left, mouth_right)
    )
    half_eyes = max(1e-6, float(np.hypot(*(right_eye - left_eye))) / 2)
    mouth = (mouth_left + mouth_right) / 2
    midline = mouth[0] / 2  # the eyes' midpoint is the origin now
    yaw = math.degrees(math.atan((nose[0] - midline) / half_eyes / NOSE_DEPTH))
    eye_to_mouth = mouth[1] if abs(mouth[1]) > 1e-6 else 1e-6
    pitch = math.degrees(math.atan((nose[1] / eye_to_mouth - FRONTAL_NOSE_HEIGHT) / NOSE_DEPTH_OVER_FACE_HEIGHT))
    return yaw, pitch, roll


def assess(frame: Image.Image, face: DetectedFace) -> FaceQuality:
    """Quality of ``face`` in ``frame`` (the original frame the detector saw)."""
    sharp, brightness = sharpness(frame, face.box)
    yaw, pitch, roll = pose(face.landmarks)
    return FaceQuality(
        size=face.size,
        score=face.score,
        sharpness=sharp,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        brightness=brightness,
        band=band_of(face.size, sharp, yaw, pitch),
    )
