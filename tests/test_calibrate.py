"""`facepipe calibrate` on a small labelled set (two of the shared people), run as the CLI."""

from __future__ import annotations

import json

import pytest

from helpers import CLI_ENV, facepipe


@pytest.mark.slow
@pytest.mark.fixtures
def test_calibrate_two_people_writes_a_sane_report(tmp_path, fixtures_root):
    def at(f: str) -> str:
        return str(fixtures_root / f)

    labels = {
        "enroll": {"obama": [at("train/obama/obama.jpg")], "biden": [at("train/biden/biden.jpg")]},
        "probes": {
            at("test/obama1.jpg"): {"expect": ["obama"], "unknown": 0},
            at("train/obama/obama2.jpg"): {"expect": ["obama"], "unknown": 0},
            at("train/biden/biden2.jpg"): {"expect": ["biden"], "unknown": 0},
            at("misc/two_people.jpg"): {"expect": ["obama", "biden"], "unknown": 0},
        },
    }
    (tmp_path / "labels.json").write_text(json.dumps(labels))

    done = facepipe("calibrate", str(tmp_path / "labels.json"), "--out", str(tmp_path / "cal" / "calibration.md"), cwd=tmp_path)
    print(done.stdout)

    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "cal" / "calibration.md").read_text().startswith("# `facepipe calibrate ")
    assert (tmp_path / "cal" / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert report["faces"] == 7
    assert report["identities"] == 2
    assert report["variants"]["20px"][0] >= 5  # most faces are found again at 20 px
    compared = 0
    for row in report["size_bands"] + report["quality_bands"]:
        if row["genuine_n"] and row["impostor_n"]:
            assert row["genuine_p50"] > row["impostor_p50"], row
            compared += 1
    assert compared >= 4
    full = report["simulation_by_condition"]["full -> full"]
    assert full["correct"] > 0
    assert full.get("wrong", 0) == 0
    assert set(report["edges"]) == {"good", "fair", "poor", "margin"}


def test_calibrate_facenet_without_its_weights_is_a_clear_error(tmp_path):
    env = {**CLI_ENV, "FACENET_WEIGHTS_PATH": str(tmp_path / "missing.pt")}
    done = facepipe("calibrate", "--model", "facenet-vggface2", "--out", str(tmp_path / "c.md"), cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert "missing.pt" in done.stderr
    assert "make weights" in done.stderr
    assert not (tmp_path / "c.md").exists()
