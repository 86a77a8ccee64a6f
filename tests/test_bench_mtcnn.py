"""facepipe.detection.mtcnn against facenet-pytorch's own ``detect_face``: the same boxes, scores and landmarks,
the same networks and torchvision's ``nms``.

The speed-up of facepipe.detection.mtcnn is measured by ``facepipe bench`` (docs/performance.md), not here;
these tests hold that it changes no detection, on a real portrait at the frame sizes detection
serves and on the shared fixtures (full size, 640 px and 64 px camera frames).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from facenet_pytorch.models.utils.detect_face import detect_face as facenet_detect_face
from PIL import Image

from facepipe.detection import PYRAMID_FACTOR, STAGE_THRESHOLDS, FaceDetector
from facepipe.detection.mtcnn import detect_face
from facepipe.detection.mtcnn.nets import max_pool_2x2
from facepipe.detection.mtcnn.nms import PAIRWISE_NMS_BOXES, nms
from facepipe.detection.mtcnn.resampling import area_bins, area_resample, pyramid_level, summed_area_table

#: boxes and landmarks in pixels, scores in probability: float32 rounding only
TOLERANCE = 1e-3


def _both(detector: FaceDetector, frame: Image.Image) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(facenet-pytorch's result, facepipe.detection.mtcnn's) on the working copy ``detector.detect`` would use."""
    min_face = detector.smallest_face(frame.width, frame.height)
    scale = detector.working_scale(frame.width, frame.height)
    work = frame.resize((round(frame.width * scale), round(frame.height * scale)), Image.Resampling.BILINEAR) if scale < 1 else frame
    pixels = np.asarray(work)
    nets = detector._nets
    with torch.inference_mode():
        boxes, points = facenet_detect_face(pixels, min_face * scale, *nets, list(STAGE_THRESHOLDS), PYRAMID_FACTOR, "cpu")
        ours = detect_face(pixels, min_face * scale, *nets, STAGE_THRESHOLDS, PYRAMID_FACTOR)
    theirs = np.asarray(boxes[0], dtype=np.float64).reshape(-1, 5), np.asarray(points[0], dtype=np.float64).reshape(-1, 5, 2)
    return theirs, ours


def _assert_same(theirs: tuple[np.ndarray, np.ndarray], ours: tuple[np.ndarray, np.ndarray], what: str) -> None:
    assert ours[0].shape == theirs[0].shape, f"{what}: {len(ours[0])} faces, facenet-pytorch finds {len(theirs[0])}"
    np.testing.assert_allclose(ours[0], theirs[0], atol=TOLERANCE, err_msg=what)
    np.testing.assert_allclose(ours[1], theirs[1], atol=TOLERANCE, err_msg=what)


def test_summed_area_resample_equals_adaptive_average_pooling():
    # GIVEN a random frame and bins that do not divide it evenly
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    table = summed_area_table(pixels)
    rows = area_bins(np.array([0]), np.array([37]), 12)
    columns = area_bins(np.array([0]), np.array([53]), 17)
    # WHEN it is resampled from the table and by torch's area interpolation
    ours = area_resample(table, rows, columns)[0]
    reference = torch.nn.functional.interpolate(torch.from_numpy(pixels).permute(2, 0, 1)[None].float(), size=(12, 17), mode="area")
    # THEN the cells agree to float32 rounding
    np.testing.assert_allclose(ours, reference[0].permute(1, 2, 0).numpy(), atol=1e-4)


@pytest.mark.parametrize("shape", [(37, 53, 3), (1, 1, 3), (64, 64, 3), (5, 7, 1)])
def test_summed_area_table_is_exact(shape):
    # GIVEN a random uint8 frame (odd and even sides, one channel or three)
    pixels = np.random.default_rng(11).integers(0, 256, size=shape, dtype=np.uint8)
    # WHEN its table is built
    table = summed_area_table(pixels)
    # THEN it is the exact integral image: a zero first row and column, then running sums
    expected = np.zeros((shape[0] + 1, shape[1] + 1, shape[2]), dtype=np.int64)
    expected[1:, 1:] = pixels.astype(np.int64).cumsum(axis=0).cumsum(axis=1)
    assert table.shape == expected.shape
    np.testing.assert_array_equal(table, expected)


@pytest.mark.parametrize(("height", "width"), [(8, 8), (7, 9), (1, 1), (2, 3), (1, 6), (61, 40)])
def test_pnet_pool_is_torchs_ceil_mode_max_pool(height, width):
    # GIVEN P-Net's first activations in channels-last layout, odd and even sides
    x = torch.randn(2, 10, height, width).contiguous(memory_format=torch.channels_last)
    # WHEN pooled by the four-view maximum and by torch's MaxPool2d(2, 2, ceil_mode=True)
    ours, theirs = max_pool_2x2(x), torch.nn.MaxPool2d(2, 2, ceil_mode=True)(x)
    # THEN every value is the same, in the layout the next convolution wants
    assert torch.equal(ours, theirs)
    assert ours.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("threshold", [0.6, 0.3])
def test_pnet_windows_are_its_heads_thresholded(detector, grace_hopper, threshold):
    # GIVEN a pyramid level of a real portrait (faces and background)
    pnet = detector._nets[0]
    pixels = np.asarray(grace_hopper.resize((301, 382)))
    level = pyramid_level(summed_area_table(pixels), *pixels.shape[:2], (287, 226))
    with torch.inference_mode():
        # WHEN P-Net's windows are taken, and its full heads (softmax, regression map) computed
        windows, probability, regression = pnet.windows(level, threshold)
        reg, probs = pnet(level)
    face = probs[0, 1]
    # THEN the windows are the ones whose softmax probability passes, row by row
    expected = (face >= threshold).nonzero()
    assert len(expected) > 10
    assert torch.equal(windows, expected)
    # AND each carries its probability and its regression, to float32 rounding
    np.testing.assert_allclose(probability.numpy(), face[face >= threshold].numpy(), atol=1e-6)
    np.testing.assert_allclose(regression.numpy(), reg[0][:, face >= threshold].T.numpy(), atol=1e-5)


def test_networks_are_facenet_pytorchs_with_its_weights(detector):
    from facenet_pytorch import MTCNN

    reference = MTCNN()
    rng = np.random.default_rng(3)
    for ours, theirs, side in zip(detector._nets, (reference.pnet, reference.rnet, reference.onet), (57, 24, 48), strict=True):
        # GIVEN the same input to facepipe's net and facenet-pytorch's
        batch = torch.from_numpy(rng.uniform(-1, 1, size=(4, 3, side, side)).astype(np.float32))
        with torch.inference_mode():
            mine, reference_out = ours(batch.contiguous(memory_format=torch.channels_last)), theirs(batch)
        # THEN every output agrees (same weights, same layers, same order of outputs)
        assert len(mine) == len(reference_out)
        for a, b in zip(mine, reference_out, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


@pytest.mark.parametrize("count", [400, PAIRWISE_NMS_BOXES + 500])  # every pair at once; box by box
@pytest.mark.parametrize("seed", range(6))
def test_nms_is_torchvisions(seed, count):
    from torchvision.ops import nms as torchvision_nms

    # GIVEN crowded boxes with tied scores, zero-area boxes and exact-threshold overlaps
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 60, size=(count, 2)).astype(np.float32)
    sides = rng.integers(0, 25, size=(count, 2)).astype(np.float32)
    boxes = torch.from_numpy(np.concatenate([corners, corners + sides], axis=1))
    scores = torch.from_numpy(rng.choice(np.float32([0.5, 0.7, 0.9, 1.0]), size=count) if seed % 2 else rng.random(count, dtype=np.float32))
    for threshold in (0.5, 0.7):
        # WHEN both suppress THEN they keep the same boxes in the same order
        assert nms(boxes, scores, threshold).tolist() == torchvision_nms(boxes, scores, threshold).tolist()


@pytest.mark.parametrize("size", [(64, 64), (320, 240), (640, 480), (1280, 720)])
def test_mtcnn_matches_facenet_pytorch_on_a_portrait(detector, grace_hopper, size):
    frame = grace_hopper.resize(size)
    theirs, ours = _both(detector, frame)
    assert len(ours[0]) >= 1
    _assert_same(theirs, ours, f"grace_hopper at {size}")


def test_mtcnn_returns_nothing_for_a_faceless_frame(detector):
    frame = Image.new("RGB", (200, 150), (90, 120, 160))
    theirs, ours = _both(detector, frame)
    assert ours[0].shape == (0, 5)
    assert ours[1].shape == (0, 5, 2)
    _assert_same(theirs, ours, "blank frame")


@pytest.mark.fixtures
@pytest.mark.slow
def test_mtcnn_matches_facenet_pytorch_on_the_fixtures(detector, fixtures_root, labels):
    # GIVEN every probe of the shared fixtures at full size, 640 px and as a 64x64 frame
    for name in labels["probes"]:
        photo = Image.open(fixtures_root / name).convert("RGB")
        scale = 640 / max(photo.size)
        for what, frame in (
            ("full", photo),
            ("640", photo.resize((round(photo.width * scale), round(photo.height * scale)))),
            ("64", photo.resize((64, 64))),
        ):
            # WHEN both detect THEN they find the same faces in the same places
            theirs, ours = _both(detector, frame)
            _assert_same(theirs, ours, f"{name} ({what})")
