"""Detection over the whole range of frame sizes: camera frames with 18-25 px faces to 4K crowds, and frames too small for any face."""

from __future__ import annotations

import pytest
from PIL import Image

from facepipe.detection import FaceDetector, required_score
from facepipe_tools.scenes import camera_frame, crowd


@pytest.mark.parametrize(("frame", "face_px"), [(48, 18), (64, 18), (64, 20), (64, 25), (96, 20)])
def test_detection_finds_camera_sized_faces(detector, grace_hopper, grace_box, frame, face_px):
    image = camera_frame(grace_hopper, grace_box, face_px, frame)

    faces = detector.detect(image)

    assert len(faces) == 1
    assert 0.7 * face_px <= faces[0].size <= 1.4 * face_px  # in the frame's own pixels
    assert faces[0].score >= 0.97  # the small-face rung of the score ladder


def test_detection_finds_sixty_small_faces_in_a_4k_photo(detector, grace_hopper, grace_box):
    tile = camera_frame(grace_hopper, grace_box, 50, 150)  # a ~50 px face with its context
    photo = crowd(tile)
    assert photo.size == (3840, 2160)

    faces = detector.detect(photo)

    assert len(faces) == 60
    assert all(35 <= f.size <= 70 for f in faces)
    xs = [(f.box[0] + f.box[2]) / 2 for f in faces]
    assert xs == sorted(xs)  # left to right


@pytest.mark.parametrize("size", [(1, 1), (16, 16), (30, 30), (2000, 50), (50, 2000), (12, 400)])
def test_detection_frames_smaller_than_any_face_have_no_face(detector, size):
    assert detector.detect(Image.new("RGB", size, (128, 100, 90))) == []


@pytest.mark.parametrize(
    ("size", "smallest"),
    [
        ((64, 64), 16.0),  # camera frames: 16 px, whatever the share
        ((640, 480), 16.0),
        ((1280, 720), 22.5),  # 1/32 of the short side
        ((1920, 1080), 32.0),  # the share's cap (the peers: 36-40 px at 1080p)
        ((1080, 1920), 32.0),  # portrait: the short side counts
        ((3840, 2160), 32.6),  # past the pixel budget: a 4K crowd's 40-60 px faces are still found
        ((8000, 6000), 78.4),
    ],
)
def test_detection_smallest_face_is_in_original_pixels(size, smallest):
    detector = FaceDetector(min_face_size=16, pixel_budget=2_000_000, face_fraction=1 / 32)
    assert detector.smallest_face(*size) == pytest.approx(smallest, abs=0.1)


def test_detection_face_fraction_zero_searches_every_frame_down_to_min_face_size():
    detector = FaceDetector(min_face_size=16, pixel_budget=2_000_000, face_fraction=0.0)
    assert detector.smallest_face(1920, 1080) == pytest.approx(16.3, abs=0.1)
    assert detector.smallest_face(3840, 2160) == pytest.approx(32.6, abs=0.1)


@pytest.mark.parametrize(("size", "face_px"), [((640, 480), 18), ((1280, 720), 28), ((1920, 1080), 40)])
def test_detection_finds_a_small_face_in_a_camera_frame(detector, grace_hopper, grace_box, size, face_px):
    # GIVEN one face of face_px at the smallest size the defaults promise for this frame size (a
    # VGA camera's 18 px, 1080p's 40 px: Rekognition's bar) somewhere in a frame of plain wall
    frame = Image.new("RGB", size, (96, 104, 112))
    frame.paste(camera_frame(grace_hopper, grace_box, face_px, 4 * face_px), (size[0] // 3, size[1] // 2))

    faces = detector.detect(frame)

    assert len(faces) == 1
    assert 0.7 * face_px <= faces[0].size <= 1.4 * face_px


def test_detection_score_ladder_trusts_small_boxes_less():
    assert required_score(20, 0.90) == 0.97
    assert required_score(100, 0.90) == 0.95
    assert required_score(300, 0.90) == 0.90
    assert required_score(300, 0.99) == 0.99  # MIN_FACE_SCORE is a floor everywhere
