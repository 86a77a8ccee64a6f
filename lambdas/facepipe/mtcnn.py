"""facenet-pytorch's ``detect_face`` for one frame, with the same results and a fraction of the work.

It mirrors ``facenet_pytorch.models.utils.detect_face.detect_face`` (v2.6.0) step for step —
the scale pyramid, P-Net, per-scale and global NMS, box regression, R-Net, O-Net, the
landmarks and the "Min" NMS — with facenet-pytorch's networks and weights (MIT licence,
Tim Esler). Its networks and box helpers are restated here, op for op, because importing
facenet-pytorch imports torchvision, whose ``torch._dynamo`` import costs ~1.5 s of every
cold start; torchvision's ``nms`` is restated in NumPy with its float32 arithmetic and
stable ordering. Three things change, none of them a result:

- **Resampling.** facenet-pytorch resamples with ``interpolate(mode="area")``
  (``adaptive_avg_pool2d``) from the full-resolution float tensor, once per pyramid level
  and once per candidate box (a Python loop of hundreds of calls): ~40% of its time.
  Here every such average is read off one summed-area table of the uint8 frame: the same
  bins (``floor(i*L/n)`` to ``ceil((i+1)*L/n)``), exact integer sums, so the resampled
  pixels equal facenet-pytorch's up to float32 rounding (~1e-5). All candidate boxes of a
  stage are resampled in one vectorised gather.
- **Memory layout.** The networks run on channels-last (NHWC) tensors; values agree to ~1e-6.
  P-Net's first max-pool is taken as maxima of strided views, rows first (``max_pool_2x2``):
  the same values, without torch's slow channels-last pooling of 10 channels.
- **P-Net's heads** (``PNet.windows``): the face probability of each window as the sigmoid of
  its two logits' difference (the softmax's value, to ~1e-6), and the box regression only for
  the windows that pass the threshold; on a large pyramid level the two full 1 x 1 heads had
  cost as much as a convolution.

Measured on 2 x86-64 cores, one torch thread, the shared fixtures at full size, 640 px and
64 px (51 frames): 9.1 s against facenet-pytorch's 12.0 s, ~1.3x, with the same faces
(largest difference 2.4e-4 px). OpenCV's integral image and the view pool came later: the
17 shared probes at full size went from ~190 to ~146-164 ms a frame (means, ``facepipe bench``,
which reports detection per stage; docs/performance.md); then P-Net's heads, the rows-first
pool and box crops by flat ``np.take``: 154 -> 129 ms a frame (6 paired runs, one thread).

Arrays: ``pixels`` is H x W x 3 uint8 RGB. Boxes come back as (n, 5) float64
``[x1, y1, x2, y2, score]`` and landmarks as (n, 5, 2) float64 in ``pixels``' coordinates.
``tests/test_bench_mtcnn.py`` holds the results to facenet-pytorch's on real photos and
synthetic camera and crowd frames.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from facepipe.exceptions import ModelUnavailableError

#: P-Net's input normalisation (facenet-pytorch): (x - 127.5) / 128
_MEAN = 127.5
_SCALE = 0.0078125


def summed_area_table(pixels: np.ndarray) -> np.ndarray:
    """(H+1, W+1, C) integral image of an (H, W, C) uint8 array, zero first row and column; exact integers.

    OpenCV's ``integral`` (int32 while the sums fit): ~9x faster than two NumPy ``cumsum``s, whose
    second pass strides across the channels (a 1.5 MP frame: 42 → 5 ms)."""
    import cv2

    height, width, channels = pixels.shape
    if height * width * 255 < 2**31:
        table: np.ndarray = cv2.integral(np.ascontiguousarray(pixels), sdepth=cv2.CV_32S).reshape(height + 1, width + 1, channels)
        return table
    table = np.zeros((height + 1, width + 1, channels), dtype=np.int64)
    np.cumsum(pixels, axis=0, dtype=np.int64, out=table[1:, 1:])
    np.cumsum(table[1:, 1:], axis=1, out=table[1:, 1:])
    return table


def area_bins(start: np.ndarray, length: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``adaptive_avg_pool2d``'s bins: for regions ``[start, start + length)`` (shape (k,)) into
    ``size`` cells, the first and one-past-last input index of each cell, shape (k, size)."""
    cells = np.arange(size, dtype=np.int64)
    length = np.asarray(length, dtype=np.int64)[:, None]
    first = np.asarray(start, dtype=np.int64)[:, None]
    return first + (cells * length) // size, first + ((cells + 1) * length + size - 1) // size


def area_resample(table: np.ndarray, rows: tuple[np.ndarray, np.ndarray], columns: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Mean of every (row bin x column bin) cell of the frame behind ``table``: (k, h, w, C) float32
    for bins of shape (k, h) and (k, w).

    Each corner is one ``np.take`` of whole table entries by flat index (~2x NumPy's fancy indexing
    by row and column); the sums are exact in the table's integers (int32 arithmetic may wrap in
    between, the result fits), then divided in float32 as the frame's own mean would be."""
    (top, bottom), (left, right) = rows, columns
    width, channels = table.shape[1], table.shape[2]
    flat = table.reshape(-1, channels)
    t, b = (top * width)[:, :, None], (bottom * width)[:, :, None]
    lft, rgt = left[:, None, :], right[:, None, :]

    def corner(row: np.ndarray, column: np.ndarray) -> np.ndarray:
        entries: np.ndarray = np.take(flat, (row + column).ravel(), axis=0)
        return entries

    sums = corner(b, rgt) - corner(t, rgt) - corner(b, lft) + corner(t, lft)
    counts = ((bottom - top)[:, :, None] * (rgt - lft)).astype(np.float32).reshape(-1, 1)
    means: np.ndarray = (sums.astype(np.float32) / counts).reshape(len(top), top.shape[1], left.shape[1], channels)
    return means


def _pyramid_level(table: np.ndarray, height: int, width: int, size: tuple[int, int]) -> torch.Tensor:
    """The whole frame area-resampled to ``size`` (h, w), normalised, as a channels-last (1, 3, h, w) tensor.

    The same bins and sums as ``area_resample``, taken separably: whole rows of the table at
    the row-bin edges, then their columns; a fraction of the gathers. In torch, in place:
    ``index_select`` gathers ~1.5x faster than ``np.take`` here, and no temporary is made
    (the values are bit for bit NumPy's)."""
    zero = np.zeros(1, dtype=np.int64)
    (top,), (bottom,) = area_bins(zero, np.array([height]), size[0])
    (left,), (right,) = area_bins(zero, np.array([width]), size[1])
    sums_to = torch.from_numpy(table)
    strips = sums_to.index_select(0, torch.from_numpy(bottom))  # (h, W+1, C): every row bin's sums up to each column
    strips -= sums_to.index_select(0, torch.from_numpy(top))
    sums = strips.index_select(1, torch.from_numpy(right))
    sums -= strips.index_select(1, torch.from_numpy(left))
    counts = torch.from_numpy(((bottom - top)[:, None] * (right - left)[None, :]).astype(np.float32))
    level = sums.to(torch.float32)
    level /= counts[..., None]
    level -= _MEAN
    level *= _SCALE
    return level[None].permute(0, 3, 1, 2)


def _box_crops(table: np.ndarray, y: np.ndarray, ey: np.ndarray, x: np.ndarray, ex: np.ndarray, size: int) -> torch.Tensor:
    """facenet-pytorch's ``imgs[:, :, y-1:ey, x-1:ex]`` of every box, area-resampled to ``size``, normalised."""
    rows = area_bins(y - 1, ey - y + 1, size)
    columns = area_bins(x - 1, ex - x + 1, size)
    crops = area_resample(table, rows, columns)
    crops = (crops - np.float32(_MEAN)) * np.float32(_SCALE)
    return torch.from_numpy(crops).permute(0, 3, 1, 2)


def channels_last(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` (in place) with its convolution weights in channels-last layout, as ``detect_face`` wants its nets."""
    return module.to(memory_format=torch.channels_last)


# --- facenet-pytorch's networks (models/mtcnn.py), with its bundled weights -----------------------
class PNet(nn.Module):
    """MTCNN's proposal network: per 12 x 12 window, box regression (n, 4, h, w) and face probability (n, 2, h, w)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.softmax4_1 = nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features(x)
        return self.conv4_2(x), self.softmax4_1(self.conv4_1(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 32 channels both heads read, (n, 32, h, w)."""
        result: torch.Tensor = self.prelu3(self.conv3(self.prelu2(self.conv2(max_pool_2x2(self.prelu1(self.conv1(x)))))))
        return result

    def windows(self, x: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For one image (1, 3, H, W): the (row, column) of every window whose face probability is at
        least ``threshold``, (k, 2) in row-major order, with its probability (k,) and regression (k, 4).

        ``forward``'s numbers (to ~1e-6) at a fraction of its heads' cost, which on a large pyramid
        level is as much as a convolution's: the probability of a softmax over two logits is the
        sigmoid of their difference, one 32 -> 1 product per window instead of two 1 x 1
        convolutions; the regression is computed only where a window passes."""
        features = self.features(x)
        height, width = features.shape[2:]
        flat = features.permute(0, 2, 3, 1).reshape(height * width, -1)  # channels-last: a view
        logits, bias = self.conv4_1.weight.flatten(1), self.conv4_1.bias
        margin = functional.linear(flat, logits[1:] - logits[:1], None if bias is None else bias[1:] - bias[:1])
        probability = torch.sigmoid(margin.squeeze(1))
        passing = (probability >= threshold).nonzero().squeeze(1)
        regression = functional.linear(flat[passing], self.conv4_2.weight.flatten(1), self.conv4_2.bias)
        return torch.stack((passing // width, passing % width), dim=1), probability[passing], regression


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``MaxPool2d(2, 2, ceil_mode=True)`` (P-Net's ``pool1``) of a channels-last tensor, equal to it
    value for value: torch's channels-last kernel is slow on P-Net's 10 channels (~10% of
    detection on the shared probes). Rows are paired first, over whole contiguous rows, then
    columns, over half the data. On an odd edge the last cell keeps its one row or column."""
    batch, channels, height, width = x.shape
    rows, columns = height // 2, width // 2  # cells with a full second row / column
    nhwc = x.permute(0, 2, 3, 1)
    paired = torch.empty(batch, rows + height % 2, width, channels, dtype=x.dtype)
    torch.maximum(nhwc[:, 0 : 2 * rows : 2], nhwc[:, 1 : 2 * rows : 2], out=paired[:, :rows])
    if height % 2:
        paired[:, rows] = nhwc[:, -1]
    pooled = torch.empty(batch, paired.shape[1], columns + width % 2, channels, dtype=x.dtype)
    torch.maximum(paired[:, :, 0 : 2 * columns : 2], paired[:, :, 1 : 2 * columns : 2], out=pooled[:, :, :columns])
    if width % 2:
        pooled[:, :, columns] = paired[:, :, -1]
    return pooled.permute(0, 3, 1, 2)


class RNet(nn.Module):
    """MTCNN's refinement network on 24 x 24 crops: box regression (n, 4) and face probability (n, 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.softmax5_1 = nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool2(self.prelu2(self.conv2(self.pool1(self.prelu1(self.conv1(x))))))
        x = self.prelu3(self.conv3(x)).permute(0, 3, 2, 1).contiguous()
        x = self.prelu4(self.dense4(x.view(x.shape[0], -1)))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))


class ONet(nn.Module):
    """MTCNN's output network on 48 x 48 crops: box regression (n, 4), landmarks (n, 10), face probability (n, 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool2(self.prelu2(self.conv2(self.pool1(self.prelu1(self.conv1(x))))))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).contiguous()
        x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))


def facenet_data_dir() -> Path:
    """facenet-pytorch's ``data`` folder (the MTCNN weights it ships), found without importing it."""
    spec = find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "facenet-pytorch is not installed: MTCNN's weights ship inside it (pip install facenet-pytorch --no-deps)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load_networks() -> tuple[PNet, RNet, ONet]:
    """P-Net, R-Net and O-Net with facenet-pytorch's weights, in eval mode and channels-last."""
    folder = facenet_data_dir()
    nets = PNet(), RNet(), ONet()
    for net, name in zip(nets, ("pnet", "rnet", "onet"), strict=True):
        net.load_state_dict(torch.load(folder / f"{name}.pt", map_location="cpu", weights_only=True))
        channels_last(net.eval())
    return nets


# --- facenet-pytorch's box helpers (models/utils/detect_face.py) and torchvision's nms -------------
#: ``nms`` compares every pair at once up to this many boxes (a few MB of float32), else box by box
PAIRWISE_NMS_BOXES = 1024


def _overlaps(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...], threshold: float) -> np.ndarray:
    """Whether boxes ``a`` and ``b`` (x1, y1, x2, y2, area; float32, broadcast against each other)
    overlap by more than ``threshold``, IoU in torchvision's float32 arithmetic."""
    zero = np.float32(0)
    width = np.maximum(zero, np.minimum(a[2], b[2]) - np.maximum(a[0], b[0]))
    height = np.maximum(zero, np.minimum(a[3], b[3]) - np.maximum(a[1], b[1]))
    inter = width * height
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 of two empty boxes is NaN: kept, as in torchvision
        overlaps: np.ndarray = (inter / (a[4] + b[4] - inter)).astype(np.float64) > threshold
    return overlaps


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """``torchvision.ops.nms`` on the CPU: the kept indices, best score first (a stable sort, ties
    in index order); a box goes when its float32 IoU with a kept one is above ``threshold``.

    Up to ``PAIRWISE_NMS_BOXES`` boxes the IoU of every pair is computed at once and the greedy
    pass only reads it (R-Net's and the global NMS keep most of their hundreds of boxes: one
    NumPy round per kept box had cost ~10 ms a frame); each pair's arithmetic is the same
    float32 operations either way (``_overlaps``), so the kept boxes are the same."""
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
    left = np.arange(order.size)  # ranks not yet kept or suppressed
    while left.size:
        best, rest = left[0], left[1:]
        keep.append(order[best])
        left = rest[~_overlaps(tuple(c[best] for c in ranked), tuple(c[rest] for c in ranked), threshold)]
    return torch.as_tensor(np.asarray(keep, dtype=np.int64))


def _nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """facenet-pytorch's ``nms_numpy(..., "Min")``: overlap is the intersection over the smaller box (+1 px sides)."""
    x1, y1, x2, y2 = (boxes[:, k].copy() for k in range(4))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)
    pick = []
    while order.size > 0:
        best, rest = order[-1], order[:-1]
        pick.append(best)
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        overlap = width * height / np.minimum(area[best], area[rest])
        order = rest[np.where(overlap <= threshold)]
    return np.asarray(pick, dtype=np.int64)


def _candidates(windows: torch.Tensor, score: torch.Tensor, reg: torch.Tensor, scale: float) -> torch.Tensor:
    """facenet-pytorch's ``generateBoundingBox`` for one image, from ``PNet.windows``: (k, 9) rows of
    box, score and regression."""
    stride, cellsize = 2, 12
    corner = windows.type(reg.dtype).flip(1)
    q1 = ((stride * corner + 1) / scale).floor()
    q2 = ((stride * corner + cellsize - 1 + 1) / scale).floor()
    return torch.cat([q1, q2, score.unsqueeze(1), reg], dim=1)


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """facenet-pytorch's ``bbreg`` (in place)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    moved = [boxes[:, 0] + reg[:, 0] * w, boxes[:, 1] + reg[:, 1] * h, boxes[:, 2] + reg[:, 2] * w, boxes[:, 3] + reg[:, 3] * h]
    boxes[:, :4] = torch.stack(moved).permute(1, 0)
    return boxes


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """facenet-pytorch's ``rerec`` (in place): each box squared on its longer side about its centre."""
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = torch.max(w, h)
    boxes[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, :2] + side.repeat(2, 1).permute(1, 0)
    return boxes


def _clip(boxes: torch.Tensor, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """facenet-pytorch's ``pad``: integer (y, ey, x, ex), 1-based, clipped to the frame."""
    corners = boxes.trunc().int().numpy()
    x, y, ex, ey = (corners[:, k] for k in range(4))
    x[x < 1] = 1
    y[y < 1] = 1
    ex[ex > width] = width
    ey[ey > height] = height
    return y, ey, x, ex


def _in_batches(batch: torch.Tensor, net: nn.Module, size: int = 512) -> tuple[torch.Tensor, ...]:
    """facenet-pytorch's ``fixed_batch_process``: ``net`` on at most ``size`` crops at a time, outputs joined."""
    outputs = [net(batch[start : start + size]) for start in range(0, len(batch), size)]
    return tuple(torch.cat(parts, dim=0) for parts in zip(*outputs, strict=True))


def detect_face(
    pixels: np.ndarray,
    minsize: float,
    pnet: PNet,
    rnet: RNet,
    onet: ONet,
    threshold: tuple[float, float, float],
    factor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """MTCNN on one H x W x 3 uint8 frame: (boxes (n, 5), landmarks (n, 5, 2)); see the module docstring.
    The nets are ``load_networks()``'s: P-Net's heads run through ``PNet.windows``.

    A candidate box wholly outside the frame (facenet-pytorch skips its crop, which
    misaligns its scores) hands the frame to facenet-pytorch's own ``detect_face``.
    """
    height, width = pixels.shape[:2]
    scale = 12.0 / minsize
    smallest = min(height, width) * scale
    scales = []
    while smallest >= 12:
        scales.append(scale)
        scale *= factor
        smallest *= factor
    empty = np.zeros((0, 5)), np.zeros((0, 5, 2))
    if not scales:
        return empty
    table = summed_area_table(pixels)

    # First stage: P-Net over the pyramid, NMS per scale, then over all scales
    boxes_list, picks = [], []
    offset = 0
    for level_scale in scales:
        level = _pyramid_level(table, height, width, (int(height * level_scale + 1), int(width * level_scale + 1)))
        boxes_scale = _candidates(*pnet.windows(level, threshold[0]), level_scale)
        boxes_list.append(boxes_scale)
        picks.append(nms(boxes_scale[:, :4], boxes_scale[:, 4], 0.5) + offset)
        offset += boxes_scale.shape[0]
    boxes = torch.cat(boxes_list, dim=0)
    boxes = boxes[torch.cat(picks, dim=0)]
    boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
    regw = boxes[:, 2] - boxes[:, 0]
    regh = boxes[:, 3] - boxes[:, 1]
    boxes = torch.stack(
        [
            boxes[:, 0] + boxes[:, 5] * regw,
            boxes[:, 1] + boxes[:, 6] * regh,
            boxes[:, 2] + boxes[:, 7] * regw,
            boxes[:, 3] + boxes[:, 8] * regh,
            boxes[:, 4],
        ]
    ).permute(1, 0)
    boxes = _square(boxes)

    def crops(size: int) -> torch.Tensor | None:
        y, ey, x, ex = _clip(boxes, width, height)
        if not (np.all(ey > y - 1) and np.all(ex > x - 1)):
            return None
        return _box_crops(table, y, ey, x, ex, size)

    # Second stage: R-Net on every candidate
    points = torch.zeros(0, 5, 2)
    if len(boxes) > 0:
        batch = crops(24)
        if batch is None:
            return _facenet_detect(pixels, minsize, pnet, rnet, onet, threshold, factor)
        out = _in_batches(batch, rnet)
        score = out[1].permute(1, 0)[1, :]
        ipass = score > threshold[1]
        boxes = torch.cat((boxes[ipass, :4], score[ipass].unsqueeze(1)), dim=1)
        mv = out[0].permute(1, 0)[:, ipass].permute(1, 0)
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes, mv = boxes[pick], mv[pick]
        boxes = _square(_regress(boxes, mv))

    # Third stage: O-Net, landmarks, "Min" NMS
    if len(boxes) > 0:
        batch = crops(48)
        if batch is None:
            return _facenet_detect(pixels, minsize, pnet, rnet, onet, threshold, factor)
        out = _in_batches(batch, onet)
        score = out[2].permute(1, 0)[1, :]
        points = out[1].permute(1, 0)
        ipass = score > threshold[2]
        points = points[:, ipass]
        boxes = torch.cat((boxes[ipass, :4], score[ipass].unsqueeze(1)), dim=1)
        mv = out[0].permute(1, 0)[:, ipass].permute(1, 0)
        w_i = boxes[:, 2] - boxes[:, 0] + 1
        h_i = boxes[:, 3] - boxes[:, 1] + 1
        points_x = w_i.repeat(5, 1) * points[:5, :] + boxes[:, 0].repeat(5, 1) - 1
        points_y = h_i.repeat(5, 1) * points[5:10, :] + boxes[:, 1].repeat(5, 1) - 1
        points = torch.stack((points_x, points_y)).permute(2, 1, 0)
        boxes = _regress(boxes, mv)
        pick = torch.as_tensor(_nms_min(boxes[:, :4].numpy(), boxes[:, 4].numpy(), 0.7))
        boxes, points = boxes[pick], points[pick]
    if len(boxes) == 0:
        return empty
    return boxes.numpy().astype(np.float64).reshape(-1, 5), points.numpy().astype(np.float64).reshape(-1, 5, 2)


def _facenet_detect(pixels: np.ndarray, minsize: float, *nets_and_settings: Any) -> tuple[np.ndarray, np.ndarray]:
    """facenet-pytorch's own ``detect_face`` on one frame, in the shapes ``detect_face`` returns."""
    from facenet_pytorch.models.utils.detect_face import detect_face as facenet_detect_face

    pnet, rnet, onet, threshold, factor = nets_and_settings
    boxes, points = facenet_detect_face(pixels, minsize, pnet, rnet, onet, list(threshold), factor, "cpu")
    return np.asarray(boxes[0], dtype=np.float64).reshape(-1, 5), np.asarray(points[0], dtype=np.float64).reshape(-1, 5, 2)
