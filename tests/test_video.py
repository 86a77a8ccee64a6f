"""Sampling a clip like a camera (`facepipe send --video`)."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image

from facepipe_tools.video import VideoError, frames_of_video, request_stem
from helpers import facepipe


@pytest.mark.fixtures
def test_frames_of_video_samples_the_clip_at_one_frame_per_second(fixtures_root):
    frames = frames_of_video(fixtures_root / "misc/short_hamilton_clip.mp4", 1.0)
    assert 9 <= len(frames) <= 10  # a 9 s clip
    times = [t for t, _ in frames]
    assert times[0] == 0.0
    assert all(0.95 <= b - a <= 1.05 for a, b in itertools.pairwise(times))
    for _, jpeg in frames:
        image = Image.open(io.BytesIO(jpeg))
        assert image.format == "JPEG"
        assert image.size == (640, 360)
    assert len(frames_of_video(fixtures_root / "misc/short_hamilton_clip.mp4", 4.0)) in range(36, 41)


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("not a video")
    with pytest.raises(VideoError, match=r"clip\.mp4"):
        frames_of_video(fake)
    with pytest.raises(VideoError, match="no such video"):
        frames_of_video(tmp_path / "absent.mp4")


def test_send_video_that_cannot_be_decoded_exits_2(tmp_path):
    fake = tmp_path / "broken clip.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    done = facepipe("send", "--video", str(fake), cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "broken clip.mp4" in done.stderr


def test_request_stem_is_safe_for_request_ids():
    assert request_stem("/videos/My clip (1).mp4") == "My-clip-1"
    assert request_stem("short_hamilton_clip.mp4") == "short_hamilton_clip"
