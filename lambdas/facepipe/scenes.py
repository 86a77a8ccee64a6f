"""Scenes built from real photos for tests, benchmarks and evaluation: camera frames and crowds.

A camera frame is a square crop around a face with its context, resized so the face is a
given number of pixels wide (the seed's IoT camera: 64x64 frames, 18-25 px faces); a crowd
is a grid of copies of one such tile (a 4K group photo of many small faces).
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image


def camera_frame(image: Image.Image, box: Sequence[float], face_px: float, frame: int = 64) -> Image.Image:
    """A ``frame`` x ``frame`` crop of ``image`` around ``box`` whose face is ``face_px`` wide."""
    x1, y1, x2, y2 = box
    side = (x2 - x1) * frame / face_px
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    crop = image.crop((round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2)))
    return crop.resize((frame, frame), Image.LANCZOS)


def crowd(tile: Image.Image, columns: int = 10, rows: int = 6, size: tuple[int, int] = (3840, 2160)) -> Image.Image:
    """``columns`` x ``rows`` copies of ``tile`` on a plain background."""
    canvas = Image.new("RGB", size, (96, 104, 112))
    cell_w, cell_h = size[0] // columns, size[1] // rows
    for row in range(rows):
        for column in range(columns):
            canvas.paste(tile, (column * cell_w + (cell_w - tile.width) // 2, row * cell_h + (cell_h - tile.height) // 2))
    return canvas


def frames_by_size(portrait: Image.Image, box: Sequence[float]) -> dict[str, Image.Image]:
    """The frame sizes detection must serve, from one portrait: a camera frame, VGA, 1080p, a 4K crowd."""
    x1, _, x2, _ = box
    vga = camera_frame(portrait, box, 120, 640).crop((0, 80, 640, 560))
    full_hd = camera_frame(portrait, box, 240, 1920).crop((0, 420, 1920, 1500))
    return {
        "64x64 (20 px face)": camera_frame(portrait, box, 20, 64),
        "640x480 (1 face)": vga,
        "1920x1080 (1 face)": full_hd,
        "3840x2160 (60 faces of 50 px)": crowd(camera_frame(portrait, box, 50, 150)),
    }
