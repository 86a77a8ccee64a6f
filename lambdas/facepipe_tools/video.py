"""Frames of a video clip, sampled as a camera would send them (``facepipe send --video``)."""

from __future__ import annotations

import re
from pathlib import Path

from facepipe.exceptions import FacepipeError

JPEG_QUALITY = 90
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]+")


class VideoError(FacepipeError):
    """A clip cannot be opened or decoded."""


def frames_of_video(path: str | Path, fps: float = 1.0, quality: int = JPEG_QUALITY) -> list[tuple[float, bytes]]:
    """(timestamp in seconds of clip time, JPEG bytes) of the frames at ``fps`` per second.

    Sample k is the first decoded frame at or after k / fps seconds (frame times from the
    clip's frame rate, else from the decoder's position); a clip slower than ``fps`` gives
    every frame. Raises ``VideoError`` when the clip cannot be opened or has no decodable frame."""
    import cv2

    if not fps > 0:
        raise VideoError(f"--fps must be positive, got {fps}")
    clip = Path(path)
    if not clip.is_file():
        raise VideoError(f"{clip}: no such video file")
    capture = cv2.VideoCapture(str(clip))
    if not capture.isOpened():
        raise VideoError(f"{clip}: OpenCV cannot open it as a video")
    rate = capture.get(cv2.CAP_PROP_FPS)
    rate = rate if rate and rate > 0 and rate < 1000 else 0.0
    sampled: list[tuple[float, bytes]] = []
    index = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            at = index / rate if rate else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            index += 1
            if at + 1e-6 < len(sampled) / fps:
                continue
            encoded, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not encoded:
                raise VideoError(f"{clip}: frame {index - 1} could not be encoded as JPEG")
            sampled.append((round(at, 3), jpeg.tobytes()))
    finally:
        capture.release()
    if not sampled:
        raise VideoError(f"{clip}: no frame could be decoded (not a video OpenCV can read?)")
    return sampled


def request_stem(path: str | Path) -> str:
    """The clip's file stem made safe for request ids and filenames (A-Z a-z 0-9 . _ : -)."""
    return _UNSAFE.sub("-", Path(path).stem).strip("-")[:100] or "clip"
