"""How eval judges each face of an answer, and what its report holds (no stack: answers are built here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facepipe.embedding.models import calibration_for
from facepipe_tools.client import summary
from facepipe_tools.eval_report import EvalReport, ProbeResult
from facepipe_tools.judging import judge_faces, match_faces
from facepipe_tools.pairs import Pairs
from facepipe_tools.sets import ExpectedFace, Probe

ENROLLED = {"obama", "biden"}


def face(box, name="", person_id="p", new=False, similarity=0.9, band="good"):
    return {
        "index": 0,
        "box": list(box),
        "person_id": person_id if (name or new) else None,
        "name": name,
        "similarity": similarity,
        "new_person": new,
        "quality": {"band": band},
    }


def probe(*faces: ExpectedFace, expect=(), unknown=0) -> Probe:
    return Probe("p.jpg", b"", tuple(expect), unknown, tuple(faces))


LEFT, MIDDLE, RIGHT = (0, 0, 10, 10), (20, 0, 30, 10), (40, 0, 50, 10)


def categories(verdicts):
    return [(v.expected, v.category) for v in verdicts]


def test_each_expected_face_gets_its_category_by_box():
    labelled = probe(
        ExpectedFace("biden", LEFT), ExpectedFace("obama", MIDDLE), ExpectedFace(None, RIGHT), expect=("biden", "obama"), unknown=1
    )
    answer = {"faces": [face(RIGHT, "person-1", new=True), face(MIDDLE, "biden"), face(LEFT, "biden")]}
    assert categories(judge_faces(labelled, answer, ENROLLED)) == [("biden", "correct"), ("obama", "wrong name"), (None, "new person")]


def test_a_stranger_named_as_someone_enrolled_is_a_wrong_name_and_unknown_or_missing_faces_are_not():
    labelled = probe(ExpectedFace(None, LEFT), ExpectedFace("obama", MIDDLE), ExpectedFace(None, RIGHT), expect=("obama",), unknown=2)
    answer = {"faces": [face(LEFT, "obama"), face(MIDDLE)]}  # the middle face: person_id null
    verdicts = judge_faces(labelled, answer, ENROLLED)
    assert sorted(categories(verdicts), key=str) == sorted([(None, "wrong name"), ("obama", "unknown"), (None, "no face")], key=str)
    wrong = next(v for v in verdicts if v.category == "wrong name")
    assert (wrong.got, wrong.similarity, wrong.band) == ("obama", 0.9, "good")


def test_an_enrolled_person_made_into_a_new_person_is_a_split_not_correct():
    labelled = probe(ExpectedFace("obama", LEFT), expect=("obama",))
    for answer in ({"faces": [face(LEFT, "person-9", new=True)]}, {"faces": [face(LEFT, "person-9")]}):
        assert categories(judge_faces(labelled, answer, ENROLLED)) == [("obama", "new person")]


def test_faces_nobody_expected_are_judged_as_strangers():
    labelled = probe(ExpectedFace("obama", LEFT), expect=("obama",))
    verdicts = judge_faces(labelled, {"faces": [face(LEFT, "obama"), face(RIGHT, "biden")]}, ENROLLED)
    assert categories(verdicts) == [("obama", "correct"), (None, "wrong name")]
    assert verdicts[1].extra


def test_a_neighbour_in_a_downscaled_frame_counts_only_when_reported():
    labelled = probe(ExpectedFace("obama", LEFT), ExpectedFace("biden", RIGHT, required=False), expect=("obama",))
    assert categories(judge_faces(labelled, {"faces": [face(LEFT, "obama")]}, ENROLLED)) == [("obama", "correct")]
    both = judge_faces(labelled, {"faces": [face(LEFT, "obama"), face(RIGHT, "biden")]}, ENROLLED)
    assert categories(both) == [("obama", "correct"), ("biden", "correct")]


def test_without_boxes_faces_pair_left_to_right_and_missing_answers_are_no_face():
    labelled = Probe("p.jpg", b"", ("biden", "obama"), 0)  # no in-process labelling
    assert categories(judge_faces(labelled, {"faces": [face(MIDDLE, "obama"), face(LEFT, "biden")]}, ENROLLED)) == [
        ("biden", "correct"),
        ("obama", "correct"),
    ]
    assert categories(judge_faces(labelled, None, ENROLLED)) == [("biden", "no face"), ("obama", "no face")]


def test_match_faces_prefers_the_best_overlap():
    expected = [ExpectedFace("a", (0, 0, 10, 10)), ExpectedFace("b", (6, 0, 16, 10))]
    answers = [{"box": [5, 0, 15, 10]}, {"box": [0, 0, 10, 10]}]
    pairs = match_faces(expected, answers)
    assert [(e.name, f["box"][0]) for e, f in pairs] == [("a", 0), ("b", 5)]


@pytest.fixture
def report() -> EvalReport:
    labelled = probe(
        ExpectedFace("biden", LEFT), ExpectedFace("obama", MIDDLE), ExpectedFace(None, RIGHT), expect=("biden", "obama"), unknown=1
    )
    answer = {"faces": [face(LEFT, "biden"), face(MIDDLE, "biden", similarity=0.951, band="fair"), face(RIGHT)]}
    rows = [
        ProbeResult(
            "p.jpg", "biden, obama, +1 stranger", "biden, biden, unknown", 1.2, 200, False, "why", judge_faces(labelled, answer, ENROLLED)
        )
    ]
    rng = np.random.default_rng(0)
    pairs = Pairs(
        np.concatenate([rng.uniform(0.6, 0.9, 50), rng.uniform(0.9, 1.0, 20)]),
        np.array([False] * 50 + [True] * 20),
        np.array(["good"] * 40 + ["poor"] * 30),
        np.full(70, 50.0),
        np.zeros(70, bool),
    )
    return EvalReport(
        "tiny set",
        {"biden": 1, "obama": 2},
        model="dlib-resnet",
        command="facepipe eval tiny.csv --downscale 64",
        probes=rows,
        stats={**summary([]), "mean_s": 1.2},
        pairs=pairs,
    )


def test_report_totals_confusion_and_wrong_names(report):
    totals = report.totals()
    assert totals["known"] == {"correct": 1, "wrong name": 1, "new person": 0, "unknown": 0, "no face": 0}
    assert totals["stranger"]["unknown"] == 1
    rows, columns, counts = report.confusion()
    assert rows == ["biden", "obama", "stranger"]
    assert columns == ["biden", "new", "unknown", "no face"]
    assert counts["obama"]["biden"] == 1
    assert counts["stranger"]["unknown"] == 1
    ((_, wrong),) = report.wrong_names
    assert (wrong.expected, wrong.got, wrong.band) == ("obama", "biden", "fair")


def test_report_files_markdown_starts_with_the_command_json_has_the_same_numbers(report, tmp_path):
    paths = report.write(tmp_path / "out")
    assert {p.name for p in paths.values()} == {"eval.md", "eval.json", "eval.png"}
    markdown = paths["markdown"].read_text()
    assert markdown.splitlines()[0] == "# `facepipe eval tiny.csv --downscale 64`"
    assert "## Wrong names" in markdown
    assert "![similarity](eval.png)" in markdown
    data = json.loads(paths["json"].read_text())
    assert data["wrong_names"] == 1
    assert data["faces"] == report.totals()
    assert data["calibration"]["poor"] == calibration_for("dlib-resnet").poor
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "WRONG NAMES" in report.render()
