"""MTCNN's three stages on one frame: ``detect_face``, facenet-pytorch's ``detect_face`` step for step.

1. **Proposal** (``propose``): the frame resampled at every scale of the pyramid
   (``pyramid_scales``), P-Net's passing windows as candidate boxes, suppressed per scale
   (IoU 0.5) and across scales (IoU 0.7), moved by their regression and squared.
2. **Refinement** (``refine``): R-Net on a 24 x 24 crop of every candidate; the passing ones
   suppressed (IoU 0.7), moved by R-Net's regression and squared.
3. **Output** (``output``): O-Net on 48 x 48 crops: the final scores, the five landmarks,
   the last regression, and facenet-pytorch's "Min" suppression (0.7 of the smaller box).

Boxes come back as (n, 5) float64 ``[x1, y1, x2, y2, score]`` and landmarks as (n, 5, 2) float64
(left eye, right eye, nose, left and right mouth corners) in the frame's pixel coordinates.
``tests/test_bench_mtcnn.py`` holds the results to facenet-pytorch's on real photos and
synthetic camera and crowd frames.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facepipe.detection.mtcnn.boxes import (
    CANDIDATE_BOX,
    CANDIDATE_SCORE,
    apply_regression,
    clip_to_frame,
    pnet_candidates,
    regress_candidates,
    square,
)
from facepipe.detection.mtcnn.nets import ONET_INPUT_SIDE, PNET_WINDOW, RNET_INPUT_SIDE, ONet, PNet, RNet
from facepipe.detection.mtcnn.nms import nms, nms_over_smaller_box
from facepipe.detection.mtcnn.resampling import box_crops, pyramid_level, summed_area_table

#: facenet-pytorch's suppression thresholds: P-Net per scale and across the pyramid, R-Net (IoU), O-Net (over the smaller box)
PER_SCALE_IOU = 0.5
ACROSS_SCALES_IOU = 0.7
REFINED_IOU = 0.7
OUTPUT_OVERLAP = 0.7
#: facenet-pytorch's ``fixed_batch_process``: R-Net and O-Net see at most this many crops at a time
NET_BATCH = 512


class CandidateOutsideFrame(Exception):
    """A candidate box has no pixel inside the frame: facenet-pytorch skips its crop, which misaligns
    its scores with its boxes; ``detect_face`` hands such a frame to facenet-pytorch itself."""


def pyramid_scales(height: int, width: int, min_face: float, factor: float) -> list[float]:
    """The scales P-Net sees the frame at: ``PNET_WINDOW / min_face`` first (a face of ``min_face``
    pixels fills a window), each next one ``factor`` times smaller, while the frame's short side
    still holds a window."""
    scale = PNET_WINDOW / min_face
    short_side = min(height, width) * scale
    scales = []
    while short_side >= PNET_WINDOW:
        scales.append(scale)
        scale *= factor
        short_side *= factor
    return scales


def propose(table: np.ndarray, scales: list[float], pnet: PNet, threshold: float) -> torch.Tensor:
    """The first stage: (k, 5) square candidate boxes with P-Net's scores, from the frame behind ``table``."""
    height, width = table.shape[0] - 1, table.shape[1] - 1
    per_scale = []
    for scale in scales:
        level = pyramid_level(table, height, width, (int(height * scale + 1), int(width * scale + 1)))
        candidates = pnet_candidates(*pnet.windows(level, threshold), scale)
        per_scale.append(candidates[nms(candidates[:, CANDIDATE_BOX], candidates[:, CANDIDATE_SCORE], PER_SCALE_IOU)])
    candidates = torch.cat(per_scale, dim=0)
    candidates = candidates[nms(candidates[:, CANDIDATE_BOX], candidates[:, CANDIDATE_SCORE], ACROSS_SCALES_IOU)]
    return square(regress_candidates(candidates))


def refine(table: np.ndarray, boxes: torch.Tensor, rnet: RNet, threshold: float) -> torch.Tensor:
    """The second stage: the ``boxes`` R-Net scores above ``threshold``, with its scores, suppressed,
    moved by its regression and squared, (k, 5)."""
    offsets, probabilities = run_in_batches(rnet, crops_of(table, boxes, RNET_INPUT_SIDE))
    face_probability = probabilities[:, 1]
    passing = face_probability > threshold
    boxes = torch.cat((boxes[passing, :4], face_probability[passing].unsqueeze(1)), dim=1)
    offsets = offsets[passing]
    kept = nms(boxes[:, :4], boxes[:, 4], REFINED_IOU)
    return square(apply_regression(boxes[kept], offsets[kept]))


def output(table: np.ndarray, boxes: torch.Tensor, onet: ONet, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The third stage: the ``boxes`` O-Net scores above ``threshold``, with its scores, moved by its
    regression, (k, 5), and their landmarks, (k, 5, 2); suppressed by overlap over the smaller box.

    The landmarks are placed in the box O-Net saw, before its regression moves it."""
    offsets, landmarks, probabilities = run_in_batches(onet, crops_of(table, boxes, ONET_INPUT_SIDE))
    face_probability = probabilities[:, 1]
    passing = face_probability > threshold
    landmarks = landmarks[passing]
    boxes = torch.cat((boxes[passing, :4], face_probability[passing].unsqueeze(1)), dim=1)
    offsets = offsets[passing]
    box_width = boxes[:, 2] - boxes[:, 0] + 1
    box_height = boxes[:, 3] - boxes[:, 1] + 1
    points_x = box_width[:, None] * landmarks[:, :5] + boxes[:, :1] - 1  # (k, 5)
    points_y = box_height[:, None] * landmarks[:, 5:10] + boxes[:, 1:2] - 1
    points = torch.stack((points_x, points_y), dim=2)
    boxes = apply_regression(boxes, offsets)
    kept = torch.as_tensor(nms_over_smaller_box(boxes[:, :4].numpy(), boxes[:, 4].numpy(), OUTPUT_OVERLAP))
    return boxes[kept], points[kept]


def crops_of(table: np.ndarray, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """The net input of every box: its pixels in the frame behind ``table``, resampled to ``side`` x ``side``."""
    spans = clip_to_frame(boxes, table.shape[1] - 1, table.shape[0] - 1)
    if not spans.all_hold_pixels():
        raise CandidateOutsideFrame
    return box_crops(table, spans, side)


def run_in_batches(net: nn.Module, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """facenet-pytorch's ``fixed_batch_process``: ``net`` on at most ``NET_BATCH`` crops at a time, its outputs joined."""
    outputs = [net(crops[start : start + NET_BATCH]) for start in range(0, len(crops), NET_BATCH)]
    return tuple(torch.cat(parts, dim=0) for parts in zip(*outputs, strict=True))


def no_faces() -> tuple[np.ndarray, np.ndarray]:
    """``detect_face``'s answer for a frame without faces: (0, 5) boxes and (0, 5, 2) landmarks."""
    return np.zeros((0, 5)), np.zeros((0, 5, 2))


def detect_face(
    pixels: np.ndarray,
    min_face: float,
    pnet: PNet,
    rnet: RNet,
    onet: ONet,
    thresholds: tuple[float, float, float],
    factor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """MTCNN on one H x W x 3 uint8 RGB frame: (boxes (n, 5), landmarks (n, 5, 2)); see the module docstring.

    ``min_face`` is the smallest face searched for, in ``pixels``' pixels; ``thresholds`` hold each
    stage's least face probability; ``factor`` is the pyramid's step. The nets are
    ``load_networks()``'s (channels-last; P-Net's heads run through ``PNet.windows``).
    """
    height, width = pixels.shape[:2]
    scales = pyramid_scales(height, width, min_face, factor)
    if not scales:
        return no_faces()
    table = summed_area_table(pixels)
    boxes = propose(table, scales, pnet, thresholds[0])
    try:
        if len(boxes) > 0:
            boxes = refine(table, boxes, rnet, thresholds[1])
        if len(boxes) == 0:
            return no_faces()
        boxes, points = output(table, boxes, onet, thresholds[2])
    except CandidateOutsideFrame:
        return facenet_pytorch_detect_face(pixels, min_face, (pnet, rnet, onet), thresholds, factor)
    if len(boxes) == 0:
        return no_faces()
    return boxes.numpy().astype(np.float64).reshape(-1, 5), points.numpy().astype(np.float64).reshape(-1, 5, 2)


def facenet_pytorch_detect_face(
    pixels: np.ndarray, min_face: float, nets: tuple[PNet, RNet, ONet], thresholds: tuple[float, float, float], factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """facenet-pytorch's own ``detect_face`` on one frame, in the shapes ``detect_face`` returns."""
    from facenet_pytorch.models.utils.detect_face import detect_face as facenet_detect_face

    boxes, points = facenet_detect_face(pixels, min_face, *nets, list(thresholds), factor, "cpu")
    return np.asarray(boxes[0], dtype=np.float64).reshape(-1, 5), np.asarray(points[0], dtype=np.float64).reshape(-1, 5, 2)
