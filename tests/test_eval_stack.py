"""`facepipe eval` (labels.json and CSV) and `facepipe send --video` end to end through one local stack,
and `facepipe eval --downscale 64` through the ephemeral stack eval starts when none runs.

The CLI runs as ``python -m facepipe_tools.cli`` with this checkout's ``lambdas`` first on the path.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from helpers import facepipe

# `stack` (conftest.py): `facepipe local up` for this module, with a 30 s visibility timeout
pytestmark = [pytest.mark.slow, pytest.mark.fixtures, pytest.mark.local_stack("--visibility-timeout", "30")]
CLIP = "misc/short_hamilton_clip.mp4"


def report_of(out: Path) -> dict:
    assert (out / "eval.md").read_text().startswith("# `facepipe eval")
    assert (out / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return json.loads((out / "eval.json").read_text())


def test_eval_shared_photos_full_size_17_of_17_and_no_wrong_name(stack, tmp_path):
    done = facepipe("eval", "--stack", stack["state_file"], "--out", str(tmp_path / "out"), cwd=tmp_path)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    report = report_of(tmp_path / "out")
    assert report["probes_as_labelled"] == {"passed": 17, "total": 17}
    assert report["wrong_names"] == 0
    assert report["faces"]["known"]["correct"] == 19
    # the two strangers: Lin-Manuel Miranda a new person, obama_and_biden's child (turned away, at
    # the good band's edge) a new person or unknown; neither named
    strangers = report["faces"]["stranger"]
    assert strangers["new person"] >= 1
    assert strangers["new person"] + strangers["unknown"] == 2
    assert "17/17 probes as labelled; 0 wrong names" in done.stdout


def test_eval_csv_set_end_to_end(stack, tmp_path, fixtures_root):
    """The seed's Image,Results format, images without extensions, first image of each name enrolled."""
    photos = {
        "o1": "train/obama/obama.jpg",
        "o2": "train/obama/obama2.jpg",
        "o3": "test/obama1.jpg",
        "b1": "train/biden/biden.jpg",
        "b2": "train/biden/biden2.jpg",
        "k1": "train/kit_harington/john1.jpeg",
    }
    for name, source in photos.items():
        (tmp_path / f"{name}{Path(source).suffix}").write_bytes((fixtures_root / source).read_bytes())
    rows = ["o1,obama", "b1,biden", "o2,obama", "o3.jpg,obama", "b2,biden", "k1,kit_harington"]
    (tmp_path / "results.csv").write_text("Image,Results\n" + "\n".join(rows) + "\n")

    done = facepipe("eval", str(tmp_path / "results.csv"), "--stack", stack["state_file"], "--out", str(tmp_path / "out"), cwd=tmp_path)
    print(done.stdout)

    assert done.returncode == 0, done.stdout + done.stderr
    report = report_of(tmp_path / "out")
    assert set(report["enrolled"]) == {"obama", "biden", "kit_harington"}  # kit_harington: enrolled from his one image, never probed
    assert [p["filename"] for p in report["probes"]] == ["o2.jpg", "o3.jpg", "b2.jpg"]
    assert report["faces"]["known"]["correct"] == 3
    assert report["wrong_names"] == 0


def test_send_video_gives_one_answer_per_sampled_frame(stack, tmp_path, fixtures_root):
    from facepipe_tools.video import frames_of_video

    sampled = frames_of_video(fixtures_root / CLIP, 1.0)
    done = facepipe(
        "send",
        "--video",
        str(fixtures_root / CLIP),
        "--fps",
        "1",
        "--no-pace",
        "--id-prefix",
        uuid.uuid4().hex[:8],
        "--stack",
        stack["state_file"],
        cwd=tmp_path,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("short_hamilton_clip_")]
    assert len(lines) == len(sampled)
    assert sorted(line.split()[0] for line in lines) == [f"short_hamilton_clip_{k:05d}.jpg" for k in range(len(sampled))]
    assert all(line.split()[1] == "200" for line in lines)
    table = done.stdout.splitlines()[-1].split()
    assert table[:3] == [str(len(sampled)), str(len(sampled)), "0"]  # requests, answered, failed


def test_eval_downscaled_to_64_gives_no_wrong_name(tmp_path):
    """Acceptance: enroll the 64x64 versions of the enrollment photos, probe every labelled face at 64x64.
    No stack runs in tmp_path, so eval starts an ephemeral one (as `facepipe demo` does)."""
    done = facepipe("eval", "--downscale", "64", "--out", str(tmp_path / "out"), cwd=tmp_path)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr  # exit 1 would mean a wrong name
    report = report_of(tmp_path / "out")
    assert report["downscale"] == 64
    assert report["set"].endswith("64x64 frames")
    assert report["wrong_names"] == 0
    assert len(report["probes"]) == 21  # one frame per labelled face of the 17 probes
    assert sum(report["enrolled"].values()) >= 8  # (nearly) every 64x64 enrollment frame has its face found
    assert sum(report["faces"]["known"].values()) >= 19
