"""Face quality on real faces: size in original pixels, sharpness, pose from the five landmarks, the band."""

from __future__ import annotations

import pytest
from PIL import ImageFilter, ImageOps

from facepipe.detection.quality import FaceQuality, assess, band_of, pose, worse
from facepipe_tools.scenes import camera_frame


def test_quality_of_a_sharp_frontal_portrait_is_good(grace_hopper, grace_face):
    quality = assess(grace_hopper, grace_face)
    assert quality.size == pytest.approx(grace_face.size)
    assert quality.score == grace_face.score
    assert quality.sharpness > 250
    assert abs(quality.yaw) < 20
    assert abs(quality.roll) < 15
    assert quality.band == "good"


def test_quality_blur_lowers_sharpness_and_band(grace_hopper, grace_face):
    blurred = grace_hopper.filter(ImageFilter.GaussianBlur(6))
    sharp, soft = assess(grace_hopper, grace_face), assess(blurred, grace_face)
    assert soft.sharpness < sharp.sharpness / 5
    assert soft.band == "poor"


def test_quality_camera_sized_face_is_poor(grace_hopper, grace_face):
    from facepipe.detection import FaceDetector

    frame = camera_frame(grace_hopper, grace_face.box, 20, 64)
    (face,) = FaceDetector().detect(frame)
    quality = assess(frame, face)
    assert 14 <= quality.size <= 28  # pixels of the 64x64 frame, not of some resized copy
    assert quality.band == "poor"


def test_quality_pose_reads_roll_and_turns(grace_face):
    yaw, pitch, roll = pose(grace_face.landmarks)
    assert abs(yaw) < 20
    assert abs(pitch) < 25
    assert abs(roll) < 15
    # the same landmarks rotated by 30 degrees: roll follows, yaw and pitch do not
    import math

    cx, cy = grace_face.landmarks[2]
    turn = math.radians(30)
    rotated = tuple(
        (cx + (x - cx) * math.cos(turn) - (y - cy) * math.sin(turn), cy + (x - cx) * math.sin(turn) + (y - cy) * math.cos(turn))
        for x, y in grace_face.landmarks
    )
    yaw2, pitch2, roll2 = pose(rotated)
    assert roll2 == pytest.approx(roll + 30, abs=0.5)
    assert yaw2 == pytest.approx(yaw, abs=1)
    assert pitch2 == pytest.approx(pitch, abs=1)
    # a nose shifted towards the right eye reads as a turned head
    (le, re, nose, ml, mr) = grace_face.landmarks
    turned = (le, re, (nose[0] + 0.6 * (re[0] - le[0]), nose[1]), ml, mr)
    assert pose(turned)[0] > 40


def test_quality_mirror_flips_the_sign_of_yaw(grace_hopper, grace_face):
    from facepipe.detection import FaceDetector

    (mirrored,) = FaceDetector().detect(ImageOps.mirror(grace_hopper))
    yaw, _, _ = pose(grace_face.landmarks)
    mirrored_yaw, _, _ = pose(mirrored.landmarks)
    assert abs(yaw + mirrored_yaw) < max(6.0, abs(yaw) / 2)


@pytest.mark.parametrize(
    ("size", "sharpness", "yaw", "pitch", "band"),
    [
        (120, 900, 0, 0, "good"),
        (40, 250, 0, 0, "good"),
        (39, 900, 0, 0, "fair"),
        (120, 200, 0, 0, "fair"),  # big but soft
        (120, 60, 0, 0, "poor"),  # big but blurred
        (20, 300, 0, 0, "poor"),  # camera-sized
        (120, 900, 50, 0, "fair"),  # turned: one step down
        (120, 900, 0, 45, "fair"),
        (120, 900, 70, 0, "poor"),  # profile
    ],
)
def test_quality_bands(size, sharpness, yaw, pitch, band):
    assert band_of(size, sharpness, yaw, pitch) == band


def test_quality_round_trips_through_a_message():
    quality = FaceQuality(20.5, 0.99, 80.0, 3.0, -4.0, 1.0, 120.0, "poor")
    assert FaceQuality.from_dict(quality.as_dict()) == quality
    recomputed = FaceQuality.from_dict({"size": 80, "score": 0.99, "sharpness": 900})
    assert recomputed.band == "good"
    assert worse("good", "poor") == "poor"
    assert worse("fair", "good") == "fair"
