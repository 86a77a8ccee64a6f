"""Non-maximum suppression, both kinds MTCNN uses: torchvision's ``nms`` (intersection over union,
in float32) and facenet-pytorch's ``nms_numpy(..., "Min")`` (intersection over the smaller box).

torchvision's is restated in NumPy with its float32 arithmetic and stable ordering so that
detection never imports torchvision (its ``torch._dynamo`` import costs ~1.5 s of a cold start);
``tests/test_bench_mtcnn.py`` holds both paths to torchvision's kept indices.
"""

from __future__ import annotations

import numpy as np
import torch

#: ``nms`` compares every pair at once up to this many boxes (a few MB of float32), else box by box
PAIRWISE_NMS_BOXES = 1024


def _overlaps(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...], threshold: float) -> np.ndarray:
    """Whether boxes ``a`` and ``b`` (x1, y1, x2, y2, area; float32, broadcast against each other)
    overlap by more than ``threshold``, IoU in torchvision's float32 arithmetic."""
    zero = np.float32(0)
    width = np.maximum(zero, np.minimum(a[2], b[2]) - np.maximum(a[0], b[0]))
    height = np.maximum(zero, np.minimum(a[3], b[3]) - np.maximum(a[1], b[1]))
    intersection = width * height
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 of two empty boxes is NaN: kept, as in torchvision
        overlaps: np.ndarray = (intersection / (a[4] + b[4] - intersection)).astype(np.float64) > threshold
    return overlaps


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """``torchvision.ops.nms`` on the CPU: the kept indices, best score first (a stable sort, ties
    in index order); a box goes when its float32 IoU with a kept one is above ``threshold``.

    ``boxes`` are (n, 4) float32 ``[x1, y1, x2, y2]``, ``scores`` (n,). Up to ``PAIRWISE_NMS_BOXES``
    boxes the IoU of every pair is computed at once and the greedy pass only reads it (R-Net's and
    the pyramid-wide NMS keep most of their hundreds of boxes, and one NumPy round per kept box
    costs ~10 ms a frame); each pair's arithmetic is the same float32 operations either way
    (``_overlaps``), so the kept boxes are the same."""
    x1, y1, x2, y2 = (np.ascontiguousarray(column) for column in boxes.numpy().T)
    order = np.argsort(-scores.numpy(), kind="stable")
    ranked = tuple(column[order] for column in (x1, y1, x2, y2, (x2 - x1) * (y2 - y1)))
    if order.size <= PAIRWISE_NMS_BOXES:
        suppresses = _overlaps(tuple(c[:, None] for c in ranked), tuple(c[None, :] for c in ranked), threshold)
        removed = np.zeros(order.size, dtype=bool)
        kept = []
        for rank in range(order.size):
            if not removed[rank]:
                kept.append(rank)
                removed[rank + 1 :] |= suppresses[rank, rank + 1 :]
        return torch.as_tensor(order[kept].astype(np.int64))
    keep = []
    remaining = np.arange(order.size)  # ranks not yet kept or suppressed
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        keep.append(order[best])
        remaining = rest[~_overlaps(tuple(c[best] for c in ranked), tuple(c[rest] for c in ranked), threshold)]
    return torch.as_tensor(np.asarray(keep, dtype=np.int64))


def nms_over_smaller_box(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """facenet-pytorch's ``nms_numpy(..., "Min")``, its last step: the kept indices, best score first;
    a box goes when its intersection with a kept one, over the smaller of the two boxes' areas
    (sides counted ``+ 1`` px), is above ``threshold``. Catches a small box inside a larger one,
    which IoU would keep."""
    x1, y1, x2, y2 = (boxes[:, k].copy() for k in range(4))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)  # ascending: the best is last
    kept = []
    while order.size > 0:
        best, rest = order[-1], order[:-1]
        kept.append(best)
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        overlap = width * height / np.minimum(area[best], area[rest])
        order = rest[np.where(overlap <= threshold)]
    return np.asarray(kept, dtype=np.int64)
