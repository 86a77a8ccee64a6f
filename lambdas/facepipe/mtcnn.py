"""facenet-pytorch's ``detect_face`` for one frame, with the same results and a fraction of the work.

It mirrors ``facenet_pytorch.models.utils.detect_face.detect_face`` (v2.6.0) step for step —
the scale pyramid, P-Net, per-scale and global NMS, box regression, R-Net, O-Net, the
landmarks and the "Min" NMS — and calls facenet-pytorch's own networks and helpers
(``generateBoundingBox``, ``batched_nms``, ``bbreg``, ``rerec``, ``pad``,
``batched_nms_numpy``). Two things change, neither of them a result:

- **Resampling.** facenet-pytorch resamples with ``interpolate(mode="area")``
  (``adaptive_avg_pool2d``) from the full-resolution float tensor, once per pyramid level
  and once per candidate box (a Python loop of hundreds of calls): ~40% of its time.
  Here every such average is read off one summed-area table of the uint8 frame: the same
  bins (``floor(i*L/n)`` to ``ceil((i+1)*L/n)``), exact integer sums, so the resampled
  pixels equal facenet-pytorch's up to float32 rounding (~1e-5). All candidate boxes of a
  stage are resampled in one vectorised gather.
- **Memory layout.** The networks run on channels-last (NHWC) tensors; values agree to ~1e-6.

Measured on 2 x86-64 cores, one torch thread, the shared fixtures at full size, 640 px and
64 px (51 frames): 9.1 s against facenet-pytorch's 12.0 s, ~1.3x, with the same faces
(largest difference 2.4e-4 px); ``facepipe bench`` reports detection per stage.

Arrays: ``pixels`` is H x W x 3 uint8 RGB. Boxes come back as (n, 5) float64
``[x1, y1, x2, y2, score]`` and landmarks as (n, 5, 2) float64 in ``pixels``' coordinates.
``tests/test_bench_mtcnn.py`` holds the results to facenet-pytorch's on real photos and
synthetic camera and crowd frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

#: P-Net's input normalisation (facenet-pytorch): (x - 127.5) / 128
_MEAN = 127.5
_SCALE = 0.0078125


def summed_area_table(pixels: np.ndarray) -> np.ndarray:
    """(H+1, W+1, C) integral image of an (H, W, C) uint8 array, zero first row and column; exact integers."""
    height, width, channels = pixels.shape
    dtype = np.int32 if height * width * 255 < 2**31 else np.int64
    table = np.zeros((height + 1, width + 1, channels), dtype=dtype)
    np.cumsum(pixels, axis=0, dtype=dtype, out=table[1:, 1:])
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
    for bins of shape (k, h) and (k, w)."""
    (top, bottom), (left, right) = rows, columns
    t, b = top[:, :, None], bottom[:, :, None]
    lft, rgt = left[:, None, :], right[:, None, :]
    sums = table[b, rgt].astype(np.int64) - table[t, rgt] - table[b, lft] + table[t, lft]
    counts = (b - t) * (rgt - lft)
    means: np.ndarray = (sums / counts[..., None]).astype(np.float32)
    return means


def _pyramid_level(table: np.ndarray, height: int, width: int, size: tuple[int, int]) -> torch.Tensor:
    """The whole frame area-resampled to ``size`` (h, w), normalised, as a channels-last (1, 3, h, w) tensor.

    The same bins and sums as ``area_resample``, taken separably: whole rows of the table at
    the row-bin edges (contiguous copies), then their columns; a fraction of the gathers."""
    zero = np.zeros(1, dtype=np.int64)
    (top,), (bottom,) = area_bins(zero, np.array([height]), size[0])
    (left,), (right,) = area_bins(zero, np.array([width]), size[1])
    strips = table[bottom] - table[top]  # (h, W+1, C): every row bin's sums up to each column
    sums = np.take(strips, right, axis=1) - np.take(strips, left, axis=1)  # take: ~2x fancy indexing here
    counts = ((bottom - top)[:, None] * (right - left)[None, :]).astype(np.float32)
    level = sums.astype(np.float32) / counts[..., None]
    level = (level - np.float32(_MEAN)) * np.float32(_SCALE)
    return torch.from_numpy(level[None]).permute(0, 3, 1, 2)


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


def detect_face(
    pixels: np.ndarray,
    minsize: float,
    pnet: torch.nn.Module,
    rnet: torch.nn.Module,
    onet: torch.nn.Module,
    threshold: tuple[float, float, float],
    factor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """MTCNN on one H x W x 3 uint8 frame: (boxes (n, 5), landmarks (n, 5, 2)); see the module docstring.
    The nets are facenet-pytorch's, best passed through ``channels_last`` once.

    A candidate box wholly outside the frame (facenet-pytorch skips its crop, which
    misaligns its scores) hands the frame to facenet-pytorch's own ``detect_face``.
    """
    from facenet_pytorch.models.utils import detect_face as fp
    from torchvision.ops.boxes import batched_nms

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
    table = summed_area_table(np.ascontiguousarray(pixels))

    # First stage: P-Net over the pyramid, NMS per scale, then over all scales
    boxes_list, inds_list, picks = [], [], []
    offset = 0
    for level_scale in scales:
        level = _pyramid_level(table, height, width, (int(height * level_scale + 1), int(width * level_scale + 1)))
        reg, probs = pnet(level)
        boxes_scale, inds_scale = fp.generateBoundingBox(reg, probs[:, 1], level_scale, threshold[0])
        boxes_list.append(boxes_scale)
        inds_list.append(inds_scale)
        picks.append(batched_nms(boxes_scale[:, :4], boxes_scale[:, 4], inds_scale, 0.5) + offset)
        offset += boxes_scale.shape[0]
    boxes = torch.cat(boxes_list, dim=0)
    image_inds = torch.cat(inds_list, dim=0)
    pick = torch.cat(picks, dim=0)
    boxes, image_inds = boxes[pick], image_inds[pick]
    pick = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
    boxes, image_inds = boxes[pick], image_inds[pick]
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
    boxes = fp.rerec(boxes)

    def crops(size: int) -> torch.Tensor | None:
        y, ey, x, ex = fp.pad(boxes, width, height)
        if not (np.all(ey > y - 1) and np.all(ex > x - 1)):
            return None
        return _box_crops(table, y, ey, x, ex, size)

    # Second stage: R-Net on every candidate
    points = torch.zeros(0, 5, 2)
    if len(boxes) > 0:
        batch = crops(24)
        if batch is None:
            return _facenet_detect(pixels, minsize, pnet, rnet, onet, threshold, factor)
        out = fp.fixed_batch_process(batch, rnet)
        score = out[1].permute(1, 0)[1, :]
        ipass = score > threshold[1]
        boxes = torch.cat((boxes[ipass, :4], score[ipass].unsqueeze(1)), dim=1)
        image_inds = image_inds[ipass]
        mv = out[0].permute(1, 0)[:, ipass].permute(1, 0)
        pick = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
        boxes, image_inds, mv = boxes[pick], image_inds[pick], mv[pick]
        boxes = fp.rerec(fp.bbreg(boxes, mv))

    # Third stage: O-Net, landmarks, "Min" NMS
    if len(boxes) > 0:
        batch = crops(48)
        if batch is None:
            return _facenet_detect(pixels, minsize, pnet, rnet, onet, threshold, factor)
        out = fp.fixed_batch_process(batch, onet)
        score = out[2].permute(1, 0)[1, :]
        points = out[1].permute(1, 0)
        ipass = score > threshold[2]
        points = points[:, ipass]
        boxes = torch.cat((boxes[ipass, :4], score[ipass].unsqueeze(1)), dim=1)
        image_inds = image_inds[ipass]
        mv = out[0].permute(1, 0)[:, ipass].permute(1, 0)
        w_i = boxes[:, 2] - boxes[:, 0] + 1
        h_i = boxes[:, 3] - boxes[:, 1] + 1
        points_x = w_i.repeat(5, 1) * points[:5, :] + boxes[:, 0].repeat(5, 1) - 1
        points_y = h_i.repeat(5, 1) * points[5:10, :] + boxes[:, 1].repeat(5, 1) - 1
        points = torch.stack((points_x, points_y)).permute(2, 1, 0)
        boxes = fp.bbreg(boxes, mv)
        pick = fp.batched_nms_numpy(boxes[:, :4], boxes[:, 4], image_inds, 0.7, "Min")
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
