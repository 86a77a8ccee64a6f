"""Frames built from real photos: a face with its context at camera size, crowds, and the frame sizes
detection must serve. Tests, ``facepipe bench`` and eval's ``--downscale`` all use these.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageEnhance

Box = tuple[float, float, float, float]


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
        return frame.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side)), square
    x0, y0 = math.floor(left), math.floor(top)
    canvas = Image.new("RGB", (math.ceil(left + side) - x0 + 1, math.ceil(top + side) - y0 + 1))
    canvas.paste(frame, (-x0, -y0))
    inner = (left - x0, top - y0, left - x0 + side, top - y0 + side)
    return canvas.resize((size, size), Image.Resampling.LANCZOS, box=inner), square


def camera_frame(image: Image.Image, box: Sequence[float], face_px: float, frame: int = 64) -> Image.Image:
    """A ``frame`` x ``frame`` crop of ``image`` around ``box`` whose face is ``face_px`` pixels (an IoT camera frame)."""
    return context_frame(image, box, face_px / frame, frame)[0]


def jittered_camera_frame(image: Image.Image, box: Sequence[float], rng: random.Random, face_px: float, frame: int = 64) -> Image.Image:
    """A ``camera_frame`` as a camera replays one person: the box shifted up to 2 px either way,
    the light 15% brighter or darker (``rng`` drawn in that order)."""
    dx, dy = rng.uniform(-2, 2), rng.uniform(-2, 2)
    shot = camera_frame(image, [box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy], face_px, frame)
    return ImageEnhance.Brightness(shot).enhance(rng.uniform(0.85, 1.15))


def crowd(tile: Image.Image, columns: int = 10, rows: int = 6, size: tuple[int, int] = (3840, 2160)) -> Image.Image:
    """``columns`` x ``rows`` copies of ``tile`` on a plain background: a 4K group photo of many small faces."""
    canvas = Image.new("RGB", size, (96, 104, 112))
    cell_w, cell_h = size[0] // columns, size[1] // rows
    for row in range(rows):
        for column in range(columns):
            canvas.paste(tile, (column * cell_w + (cell_w - tile.width) // 2, row * cell_h + (cell_h - tile.height) // 2))
    return canvas


def frames_by_size(portrait: Image.Image, box: Sequence[float]) -> dict[str, Image.Image]:
    """The frame sizes detection must serve, from one portrait: a camera frame, VGA, 1080p, a 4K crowd."""
    vga = camera_frame(portrait, box, 120, 640).crop((0, 80, 640, 560))
    full_hd = camera_frame(portrait, box, 240, 1920).crop((0, 420, 1920, 1500))
    return {
        "64x64 (20 px face)": camera_frame(portrait, box, 20, 64),
        "640x480 (1 face)": vga,
        "1920x1080 (1 face)": full_hd,
        "3840x2160 (60 faces of 50 px)": crowd(camera_frame(portrait, box, 50, 150)),
    }
