"""Area resampling read off one summed-area table: the pyramid levels and the box crops MTCNN's nets see.

facenet-pytorch resamples with ``interpolate(mode="area")`` (``adaptive_avg_pool2d``) from the
full-resolution float tensor, once per pyramid level and once per candidate box. Every such
cell is the mean of a rectangle of pixels, so here each is read off one summed-area table of
the uint8 frame: the same bins (input ``floor(i*L/n)`` to ``ceil((i+1)*L/n)`` for cell ``i``
of ``n`` over a length ``L``), exact integer sums, one float32 division. The resampled pixels
equal facenet-pytorch's up to float32 rounding (~1e-5), and all candidate boxes of a stage are
resampled in one vectorised gather instead of a Python loop of calls.

Every output is normalised as MTCNN's nets expect, ``(x - 127.5) / 128``, and handed over as a
channels-last (n, 3, h, w) float32 tensor.
"""

from __future__ import annotations

import numpy as np
import torch

from facepipe.detection.mtcnn.boxes import PixelSpans

#: MTCNN's input normalisation (facenet-pytorch): (pixel - PIXEL_MEAN) * PIXEL_SCALE, about -1 to 1
PIXEL_MEAN = 127.5
PIXEL_SCALE = 0.0078125


def summed_area_table(pixels: np.ndarray) -> np.ndarray:
    """(H+1, W+1, C) integral image of an (H, W, C) uint8 array, zero first row and column; exact integers.

    OpenCV's ``integral`` (int32 while the sums fit) is ~9x faster than two NumPy ``cumsum``s,
    whose second pass strides across the channels; past int32 the sums are taken in int64 by NumPy."""
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
    for bins of shape (k, h) and (k, w), as ``area_bins`` gives them.

    Each corner is one ``np.take`` of whole table entries by flat index (~2x NumPy's fancy indexing
    by row and column); the sums are exact in the table's integers (int32 arithmetic may wrap in
    between, the result fits), then divided in float32 as the frame's own mean would be."""
    (top, bottom), (left, right) = rows, columns
    width, channels = table.shape[1], table.shape[2]
    flat = table.reshape(-1, channels)
    top_offsets, bottom_offsets = (top * width)[:, :, None], (bottom * width)[:, :, None]  # (k, h, 1) first entries of rows
    left_columns, right_columns = left[:, None, :], right[:, None, :]  # (k, 1, w)

    def corner(row_offsets: np.ndarray, columns: np.ndarray) -> np.ndarray:
        entries: np.ndarray = np.take(flat, (row_offsets + columns).ravel(), axis=0)
        return entries

    sums = (
        corner(bottom_offsets, right_columns)
        - corner(top_offsets, right_columns)
        - corner(bottom_offsets, left_columns)
        + corner(top_offsets, left_columns)
    )
    counts = ((bottom - top)[:, :, None] * (right_columns - left_columns)).astype(np.float32).reshape(-1, 1)
    means: np.ndarray = (sums.astype(np.float32) / counts).reshape(len(top), top.shape[1], left.shape[1], channels)
    return means


def pyramid_level(table: np.ndarray, height: int, width: int, size: tuple[int, int]) -> torch.Tensor:
    """The whole ``height`` x ``width`` frame behind ``table`` area-resampled to ``size`` (h, w),
    normalised, as a channels-last (1, 3, h, w) tensor: P-Net's input at one scale.

    The same bins and sums as ``area_resample``, taken separably: whole rows of the table at
    the row-bin edges, then their columns; a fraction of the gathers. In torch, in place:
    ``index_select`` gathers ~1.5x faster than ``np.take`` here, and no temporary is made
    (the values are bit for bit NumPy's)."""
    zero = np.zeros(1, dtype=np.int64)
    (top,), (bottom,) = area_bins(zero, np.array([height]), size[0])
    (left,), (right,) = area_bins(zero, np.array([width]), size[1])
    integral = torch.from_numpy(table)
    strips = integral.index_select(0, torch.from_numpy(bottom))  # (h, W+1, C): every row bin's sums up to each column
    strips -= integral.index_select(0, torch.from_numpy(top))
    sums = strips.index_select(1, torch.from_numpy(right))
    sums -= strips.index_select(1, torch.from_numpy(left))
    counts = torch.from_numpy(((bottom - top)[:, None] * (right - left)[None, :]).astype(np.float32))
    level = sums.to(torch.float32)
    level /= counts[..., None]
    level -= PIXEL_MEAN
    level *= PIXEL_SCALE
    return level[None].permute(0, 3, 1, 2)


def box_crops(table: np.ndarray, spans: PixelSpans, size: int) -> torch.Tensor:
    """Every box's pixels (facenet-pytorch's ``imgs[:, :, top-1:bottom, left-1:right]``) area-resampled
    to ``size`` x ``size`` and normalised: R-Net's or O-Net's input, channels-last (k, 3, size, size)."""
    rows = area_bins(spans.top - 1, spans.bottom - spans.top + 1, size)
    columns = area_bins(spans.left - 1, spans.right - spans.left + 1, size)
    crops = area_resample(table, rows, columns)
    crops = (crops - np.float32(PIXEL_MEAN)) * np.float32(PIXEL_SCALE)
    return torch.from_numpy(crops).permute(0, 3, 1, 2)
