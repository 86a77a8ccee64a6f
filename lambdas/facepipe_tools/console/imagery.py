"""The pictures the console serves: kept face crops, and frames drawn from them.

Crops are read from the bucket and streamed through the console (never as S3 URLs): a face's
crop is under ``faces/`` (indexed), ``sightings/`` (other recorded faces) or ``review/`` (kept for
review), tried in that order.

The original frames are not kept, so a frame is drawn: a canvas of the frame's size with each
face's kept crop at its box (a grey box where no crop is kept: erased, expired, or never kept),
and a frame around each box. The META item of an image does not record its size yet
(``facepipe.people.items.media_item``; ``Frame.size`` reads ``width`` and ``height`` once it
does), so ``frame_size`` takes the smallest usual frame size that holds every box
(``FRAME_SIZES``), else the boxes' extent: the faces are where they were, the canvas may be
larger or smaller than the frame was.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

from facepipe.exceptions import FacepipeError
from facepipe.images import MAX_CROP_BYTES, open_image
from facepipe.storage import face_crop_key, read_object, review_crop_key, sighting_crop_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "CROP_KEYS",
    "FRAME_SIZES",
    "RENDER_SIDE",
    "DrawnFace",
    "frame_size",
    "placeholder_jpeg",
    "read_crop",
    "render_frame",
    "render_scale",
]

#: where a face's crop may be, in the order they are tried
CROP_KEYS = (face_crop_key, sighting_crop_key, review_crop_key)
#: frame sizes cameras and phones send, smallest first: a drawn frame takes the first that holds every box
FRAME_SIZES = (
    (64, 64),
    (96, 96),
    (128, 128),
    (160, 160),
    (224, 224),
    (256, 256),
    (320, 240),
    (640, 480),
    (800, 600),
    (1024, 768),
    (1280, 720),
    (1280, 960),
    (1920, 1080),
    (2560, 1440),
    (3840, 2160),
    (4000, 3000),
)
#: the longer side of a drawn frame, in pixels (shown at half that: sharp on high-density screens)
RENDER_SIDE = 640
BACKGROUND = (38, 42, 51)
MISSING = (128, 128, 128)
#: box colours: a named face, an unknown face, an erased one
COLOURS = {"named": (64, 200, 120), "unknown": (240, 176, 48), "erased": (150, 150, 150)}


def read_crop(s3: S3Client, bucket: str, face_id: str) -> bytes | None:
    """The JPEG of face ``face_id``'s kept crop, or None when none is kept (or no bucket is set)."""
    if not bucket:
        return None
    for key_of in CROP_KEYS:
        try:
            return read_object(
                s3, bucket, key_of(face_id), what="face crop", max_bytes=MAX_CROP_BYTES, limit_name="facepipe.images.MAX_CROP_BYTES"
            )
        except FacepipeError:  # not there (or over the limit): the next place
            continue
    return None


@functools.cache
def placeholder_jpeg(side: int = 96) -> bytes:
    """A plain grey square: the picture of a person with no crop kept."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), MISSING).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def frame_size(boxes: Sequence[Sequence[float]]) -> tuple[int, int]:
    """The size of the frame ``boxes`` (x1, y1, x2, y2) were found in, as well as it can be told."""
    right = max((float(b[2]) for b in boxes if len(b) == 4), default=1.0)
    bottom = max((float(b[3]) for b in boxes if len(b) == 4), default=1.0)
    for width, height in FRAME_SIZES:
        if right <= width and bottom <= height:
            return width, height
    return int(math.ceil(right / 16) * 16), int(math.ceil(bottom / 16) * 16)


def render_scale(size: tuple[int, int]) -> float:
    """Drawn pixels per frame pixel: the longer side becomes ``RENDER_SIDE``."""
    return RENDER_SIDE / max(size)


@dataclass(frozen=True)
class DrawnFace:
    box: Sequence[float]
    crop: bytes | None  # its kept crop (JPEG), None: drawn grey
    kind: str = "named"  # "named", "unknown" or "erased": the box's colour


def render_frame(size: tuple[int, int], faces: Sequence[DrawnFace]) -> bytes:
    """A PNG of a ``size`` frame drawn at ``render_scale``: each face's crop in its box (grey
    without one), framed in its kind's colour."""
    scale = render_scale(size)
    canvas = Image.new("RGB", (round(size[0] * scale), round(size[1] * scale)), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for face in faces:
        if len(face.box) != 4:
            continue
        x1, y1, x2, y2 = (round(float(v) * scale) for v in face.box)
        width, height = max(1, x2 - x1), max(1, y2 - y1)
        crop = _open(face.crop)
        if crop is None:
            draw.rectangle((x1, y1, x1 + width, y1 + height), fill=MISSING)
        else:
            canvas.paste(crop.resize((width, height), Image.Resampling.LANCZOS), (x1, y1))
        line = max(2, round(scale))
        draw.rectangle((x1 - line, y1 - line, x1 + width + line, y1 + height + line), outline=COLOURS.get(face.kind, MISSING), width=line)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG", optimize=False, compress_level=3)
    return buffer.getvalue()


def _open(data: bytes | None) -> Image.Image | None:
    if data is None:
        return None
    try:
        return open_image(data, 1 << 22)
    except FacepipeError:  # not an image we can read: drawn as missing
        return None
