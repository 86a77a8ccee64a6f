"""Labelled sets (labels.json, CSV, enroll folders), face labelling and the camera-sized version."""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from facepipe_tools.downscale import FACE_FRACTION, downscale, face_fraction
from facepipe_tools.labelling import FaceLabeller, assign_names
from facepipe_tools.scenes import context_frame, context_square
from facepipe_tools.sets import LabelledSetError, fixture_workload, load_csv, load_set


@pytest.fixture
def photos(tmp_path, grace_hopper) -> Path:
    """A folder of small real photos: the portrait, mirrored, and a faceless frame."""
    grace_hopper.save(tmp_path / "hopper.jpg")
    ImageOps.mirror(grace_hopper).save(tmp_path / "hopper_mirrored.png")
    Image.new("RGB", (64, 48), (10, 120, 200)).save(tmp_path / "sky.webp")
    return tmp_path


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "Image,Results") -> Path:
    path.write_text("\n".join([header, *(f"{image},{name}" for image, name in rows)]) + "\n")
    return path


# --- labels.json ----------------------------------------------------------------------------
def test_labels_json_loads_from_the_file_and_from_its_folder(photos):
    labels = {
        "enroll": {"hopper": ["hopper.jpg"]},
        "probes": {"hopper_mirrored.png": {"expect": ["hopper"], "unknown": 0}, "sky.webp": {"expect": [], "unknown": 0}},
    }
    (photos / "labels.json").write_text(json.dumps(labels))

    from_file, from_folder = load_set(photos / "labels.json"), load_set(photos)

    for labelled in (from_file, from_folder):
        assert list(labelled.enroll) == ["hopper"]
        assert labelled.enroll["hopper"][0] == ("hopper.jpg", (photos / "hopper.jpg").read_bytes())
        assert [(p.filename, p.expect, p.unknown) for p in labelled.probes] == [
            ("hopper_mirrored.png", ("hopper",), 0),
            ("sky.webp", (), 0),
        ]


@pytest.mark.fixtures
def test_labels_json_folder_with_faces_subfolder_is_the_shared_layout(fixtures_root, labels):
    labelled = load_set(fixtures_root.parent)  # ../shared/fixtures holds faces/labels.json
    assert set(labelled.enroll) == set(labels["enroll"])
    assert len(labelled.probes) == len(labels["probes"]) == 17
    assert labelled.images().keys() == fixture_workload(fixtures_root.parent).images().keys()


def test_labels_json_missing_image_is_a_clear_error(photos):
    (photos / "labels.json").write_text(json.dumps({"enroll": {"hopper": ["nobody.jpg"]}, "probes": {}}))
    with pytest.raises(LabelledSetError, match=r"enroll\['hopper'\].*nobody.jpg"):
        load_set(photos)


def test_a_folder_without_labels_is_a_clear_error(tmp_path):
    with pytest.raises(LabelledSetError, match=r"neither labels\.json nor faces/labels\.json"):
        load_set(tmp_path)


def test_without_the_shared_fixtures_the_default_set_is_the_packaged_portrait(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEPIPE_FIXTURES", str(tmp_path))  # no faces/labels.json there
    labelled = load_set(None)
    assert "matplotlib" in labelled.name
    assert list(labelled.enroll) == ["grace_hopper"]
    assert len(labelled.probes) == 4


# --- CSV --------------------------------------------------------------------------------------
def test_csv_first_image_of_each_name_enrolls_and_extensions_are_optional(photos):
    csv = write_csv(photos / "results.csv", [("hopper", "grace"), ("hopper_mirrored", "grace"), ("sky.webp", "grace")])

    labelled = load_set(csv)

    assert labelled.enroll == {"grace": [("hopper.jpg", (photos / "hopper.jpg").read_bytes())]}
    assert [(p.filename, p.expect, p.unknown) for p in labelled.probes] == [
        ("hopper_mirrored.png", ("grace",), 0),  # found as .png
        ("sky.webp", ("grace",), 0),  # given with its extension
    ]


def test_csv_with_an_enroll_directory_probes_every_row(photos, tmp_path_factory):
    enroll = tmp_path_factory.mktemp("enroll")
    (enroll / "grace").mkdir()
    (enroll / "grace" / "a.jpg").write_bytes((photos / "hopper.jpg").read_bytes())
    (enroll / "grace" / "notes.txt").write_text("not a photo")
    csv = write_csv(photos / "results.csv", [("hopper", "grace"), ("hopper_mirrored", "grace")])

    labelled = load_csv(csv, enroll_dir=enroll)

    assert labelled.enroll == {"grace": [("grace/a.jpg", (photos / "hopper.jpg").read_bytes())]}
    assert [p.filename for p in labelled.probes] == ["hopper.jpg", "hopper_mirrored.png"]


def test_csv_bad_header_is_a_clear_error(photos):
    csv = write_csv(photos / "results.csv", [("hopper", "grace")], header="file,name")
    with pytest.raises(LabelledSetError, match="header must be 'Image,Results'"):
        load_set(csv)


def test_csv_missing_image_names_what_was_tried(photos):
    csv = write_csv(photos / "results.csv", [("hopper", "grace"), ("img404", "grace")])
    with pytest.raises(LabelledSetError, match=r"'img404' not found .*img404\.jpg.*img404\.bmp"):
        load_set(csv)


def test_enroll_directory_without_photos_is_a_clear_error(photos, tmp_path_factory):
    csv = write_csv(photos / "results.csv", [("hopper", "grace")])
    with pytest.raises(LabelledSetError, match="no <name>/ folder with photos"):
        load_set(csv, enroll_dir=tmp_path_factory.mktemp("empty"))


# --- assignment and geometry ------------------------------------------------------------------
def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_assign_names_keeps_left_to_right_order_and_leaves_the_stranger_out():
    gallery = {"biden": np.stack([unit(1, 0, 0)]), "obama": np.stack([unit(0, 1, 0)])}
    faces = np.stack([unit(0.9, 0.1, 0.1), unit(0.1, 0.9, 0.1), unit(0.1, 0.1, 1)])  # biden, obama, stranger
    assert assign_names(["biden", "obama"], faces, gallery) == [0, 1]
    # the stranger in the middle: order kept, the unlike face left over
    assert assign_names(["biden", "obama"], faces[[0, 2, 1]], gallery) == [0, 2]
    # more names than faces: the most names placed, the best-matching one wins
    assert assign_names(["biden", "obama"], faces[[1]], gallery) == [None, 0]
    assert assign_names([], faces, gallery) == []


def test_face_fraction_is_fixed_per_face_and_in_range():
    values = [face_fraction(f"photo.jpg#{i}") for i in range(200)]
    assert values == [face_fraction(f"photo.jpg#{i}") for i in range(200)]
    assert all(FACE_FRACTION[0] <= v <= FACE_FRACTION[1] for v in values)
    assert max(values) - min(values) > 0.08  # they spread over the range


def test_context_frame_shows_the_face_at_its_fraction_and_stays_inside_the_photo(grace_hopper):
    box = (150.0, 100.0, 350.0, 330.0)  # 200 px wide, 230 tall: the face's size is 200
    frame, square = context_frame(grace_hopper, box, 0.3125, 64)
    assert frame.size == (64, 64)
    x1, y1, x2, y2 = square.map(box)
    assert x2 - x1 == pytest.approx(20.0)  # 200 px face at 0.3125 of the side -> 20 of 64 px
    assert x1 >= 0
    assert x2 <= 64
    assert y1 >= 0
    assert y2 <= 64
    near_edge = context_square(grace_hopper.width, grace_hopper.height, (0, 0, 100, 100), 0.3, 64)
    assert (near_edge.left, near_edge.top) == (0.0, 0.0)  # shifted in, not padded
    too_big, _ = context_frame(grace_hopper, (0, 0, 400, 400), 0.3, 64)  # the square exceeds the photo: black beyond it
    assert too_big.size == (64, 64)
    assert too_big.getpixel((63, 63)) == (0, 0, 0)


# --- faces of the shared photos, full size and at 64x64 ----------------------------------------
@pytest.fixture(scope="module")
def one_torch_thread():
    """As the CLI runs it: one thread (torch's one-per-core spins against anything else running)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def fixture_labelling(fixtures_root, detector, dlib_embedder, one_torch_thread):
    labeller = FaceLabeller(detector, dlib_embedder)
    labelling = labeller.label(fixture_workload(fixtures_root.parent))
    return labeller, labelling


@pytest.mark.slow
@pytest.mark.fixtures
def test_labelling_names_every_face_of_the_shared_probes(fixture_labelling):
    _, labelling = fixture_labelling
    probes = {p.filename: p for p in labelling.set.probes}
    # obama_and_biden.jpg: biden, obama, and the stranger on the right
    assert [f.name for f in probes["test/obama_and_biden.jpg"].faces] == ["biden", "obama", None]
    assert [f.name for f in probes["misc/two_people.jpg"].faces] == ["obama", "biden"]
    assert [f.name for f in probes["misc/lin-manuel-miranda.png"].faces] == [None]
    assert all(f.box is not None for p in probes.values() for f in p.faces)  # every labelled face was found
    assert sum(1 for f in labelling.faces if f.role == "enroll") == 9


@pytest.mark.slow
@pytest.mark.fixtures
def test_downscale_gives_one_64px_frame_per_labelled_face_with_18_to_25px_faces(fixture_labelling):
    labeller, labelling = fixture_labelling

    small = downscale(labelling, 64, labeller)

    probe_faces = [f for f in labelling.faces if f.role == "probe"]
    assert len(small.set.probes) == len(probe_faces) == 21
    assert sum(len(files) for files in small.set.enroll.values()) == 9  # one frame per enrollment photo
    for probe in small.set.probes:
        assert Image.open(io.BytesIO(probe.content)).size == (64, 64)
    strangers = [p for p in small.set.probes if not p.expect]
    assert {p.filename for p in strangers} == {"test/obama_and_biden.face2.64px.jpg", "misc/lin-manuel-miranda.face0.64px.jpg"}
    assert all(p.unknown == 1 for p in strangers)
    assert all(p.unknown == 0 and len(p.expect) == 1 for p in small.set.probes if p.expect)
    sizes = [f.quality.size for f in small.faces]
    assert len(sizes) >= 0.9 * (len(probe_faces) + 9)  # the detector finds (nearly) all of them again
    assert 18 <= statistics.median(sizes) <= 25
    assert all(14 <= s <= 28 for s in sizes), sorted(sizes)


def test_pairs_leave_out_two_strangers_and_faces_of_one_file():
    from facepipe.detection import DetectedFace
    from facepipe.detection.quality import FaceQuality
    from facepipe_tools.labelling import LabelledFace
    from facepipe_tools.pairs import pairs_of

    def labelled(file, name, vector, band="good"):
        return LabelledFace(
            file,
            "probe",
            name,
            DetectedFace((0, 0, 50, 50), 0.99, ((0, 0),) * 5),
            FaceQuality(50, 0.99, 500, 0, 0, 0, 100, band),
            unit(*vector),
            origin=file,
        )

    faces = [
        labelled("a.jpg", "obama", (1, 0)),
        labelled("a.jpg", None, (0, 1)),
        labelled("b.jpg", "obama", (1, 0.1), "poor"),
        labelled("c.jpg", None, (0, 1)),
    ]
    pairs = pairs_of(faces)
    # of 6 pairs, a.jpg's two faces (one file) and the two strangers (one person or not?) are left out
    assert len(pairs.similarity) == 4
    assert sorted(pairs.same.tolist()) == [False, False, False, True]
    assert pairs.band[pairs.same].tolist() == ["poor"]  # the worse face's band
