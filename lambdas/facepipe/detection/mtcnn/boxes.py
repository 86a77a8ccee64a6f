"""MTCNN's box arithmetic, facenet-pytorch's helpers (``models/utils/detect_face.py``) op for op.

Boxes are float32 tensors whose rows start ``[x1, y1, x2, y2, score]`` in the coordinates of the
frame the nets see. A net's box regression gives each edge an offset in units of the box's
width (x1, x2) or height (y1, y2): ``x1 + offset * width`` and so on. The arithmetic (the
``+ 1`` in some widths and not in others included) is facenet-pytorch's, so that the boxes,
and the crops taken from them, are the same.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from facepipe.detection.mtcnn.nets import PNET_STRIDE, PNET_WINDOW

#: columns of a P-Net candidate row (``pnet_candidates``): box, score, then the box regression
CANDIDATE_BOX, CANDIDATE_SCORE, CANDIDATE_REGRESSION = slice(0, 4), 4, slice(5, 9)


class PixelSpans(NamedTuple):
    """Each box's first and last row and column inside the frame (facenet-pytorch's ``pad``):
    1-based and inclusive, int32 arrays of shape (k,). The crop of box ``i`` is rows
    ``top[i] - 1`` to ``bottom[i] - 1`` and columns ``left[i] - 1`` to ``right[i] - 1``."""

    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray

    def all_hold_pixels(self) -> bool:
        """Whether every box keeps at least one row and one column inside the frame."""
        return bool(np.all(self.bottom > self.top - 1) and np.all(self.right > self.left - 1))


def pnet_candidates(windows: torch.Tensor, scores: torch.Tensor, regression: torch.Tensor, scale: float) -> torch.Tensor:
    """facenet-pytorch's ``generateBoundingBox`` for one image, from ``PNet.windows``: each passing
    window's box in frame coordinates, its score and its regression, as (k, 9) rows.

    ``windows`` are (row, column) cells of P-Net's output at a pyramid level of ``scale``; a cell
    covers the ``PNET_WINDOW``-pixel window starting ``PNET_STRIDE`` pixels per cell along."""
    column_row = windows.type(regression.dtype).flip(1)  # (x, y) of each cell
    top_left = ((PNET_STRIDE * column_row + 1) / scale).floor()
    bottom_right = ((PNET_STRIDE * column_row + PNET_WINDOW - 1 + 1) / scale).floor()
    return torch.cat([top_left, bottom_right, scores.unsqueeze(1), regression], dim=1)


def regress_candidates(candidates: torch.Tensor) -> torch.Tensor:
    """P-Net's candidates (``pnet_candidates`` rows) moved by their own regression: (k, 5) boxes with scores.

    Unlike ``apply_regression``, the offsets scale with ``x2 - x1`` and ``y2 - y1`` (no ``+ 1``),
    as in facenet-pytorch's first stage."""
    box_width = candidates[:, 2] - candidates[:, 0]
    box_height = candidates[:, 3] - candidates[:, 1]
    offsets = candidates[:, CANDIDATE_REGRESSION]
    return torch.stack(
        [
            candidates[:, 0] + offsets[:, 0] * box_width,
            candidates[:, 1] + offsets[:, 1] * box_height,
            candidates[:, 2] + offsets[:, 2] * box_width,
            candidates[:, 3] + offsets[:, 3] * box_height,
            candidates[:, CANDIDATE_SCORE],
        ]
    ).permute(1, 0)


def apply_regression(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """facenet-pytorch's ``bbreg``: ``boxes`` (in place, and returned) moved by R-Net's or O-Net's
    ``offsets`` (k, 4), in units of the box's ``x2 - x1 + 1`` and ``y2 - y1 + 1``."""
    box_width = boxes[:, 2] - boxes[:, 0] + 1
    box_height = boxes[:, 3] - boxes[:, 1] + 1
    moved = [
        boxes[:, 0] + offsets[:, 0] * box_width,
        boxes[:, 1] + offsets[:, 1] * box_height,
        boxes[:, 2] + offsets[:, 2] * box_width,
        boxes[:, 3] + offsets[:, 3] * box_height,
    ]
    boxes[:, :4] = torch.stack(moved).permute(1, 0)
    return boxes


def square(boxes: torch.Tensor) -> torch.Tensor:
    """facenet-pytorch's ``rerec``: ``boxes`` (in place, and returned) squared on their longer side about their centre."""
    box_height = boxes[:, 3] - boxes[:, 1]
    box_width = boxes[:, 2] - boxes[:, 0]
    side = torch.max(box_width, box_height)
    boxes[:, 0] = boxes[:, 0] + box_width * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + box_height * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, :2] + side.repeat(2, 1).permute(1, 0)
    return boxes


def clip_to_frame(boxes: torch.Tensor, width: int, height: int) -> PixelSpans:
    """facenet-pytorch's ``pad``: the boxes' integer pixel spans (truncated), clipped to a ``width`` x ``height`` frame."""
    corners = boxes.trunc().int().numpy()
    left, top, right, bottom = (corners[:, k] for k in range(4))
    left[left < 1] = 1
    top[top < 1] = 1
    right[right > width] = width
    bottom[bottom > height] = height
    return PixelSpans(top=top, bottom=bottom, left=left, right=right)
