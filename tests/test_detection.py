"""Detection over the whole range of frame sizes: camera frames with 18-25 px faces to 4K crowds, and frames too small for any face."""

from __future__ import annotations

import pytest
from PIL import Image

from facepipe.detection import FaceDetector, required_score
from facepipe_tools.scenes import camera_frame, crowd


@pytest.fixture(scope="module")
def grace_box(grace_hopper) -> tuple[float, float, float, float]:
    (face,) = FaceDetector().detect(grace_hopper)
    return face.box


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


def test_detection_smallest_face_is_in_original_pixels_and_grows_past_the_budget():
    detector = FaceDetector(min_face_size=16, pixel_budget=2_000_000)
    assert detector.smallest_face(64, 64) == 16
    assert detector.smallest_face(1920, 1080) == pytest.approx(16.3, abs=0.1)
    assert detector.smallest_face(3840, 2160) == pytest.approx(32.6, abs=0.1)  # a 4K crowd's 50 px faces are still found


def test_detection_score_ladder_trusts_small_boxes_less():
    assert required_score(20, 0.90) == 0.97
    assert required_score(100, 0.90) == 0.95
    assert required_score(300, 0.90) == 0.90
    assert required_score(300, 0.99) == 0.99  # MIN_FACE_SCORE is a floor everywhere
