"""Settings: one table of names, validation at start-up, threshold resolution."""

from __future__ import annotations

import pytest

from facepipe.embedding.models import MODELS, calibration_for
from facepipe.exceptions import ConfigurationError
from facepipe.settings import DETECTION, RECOGNITION, Settings, settings_for, table


def test_settings_defaults_from_empty_environment():
    settings = Settings.from_env({})
    assert settings.embedding_model == "facenet-vggface2"
    assert settings.vector_backend == "pinecone"
    assert settings.pinecone_ssm_parameter_name == "/pinecone/facepipe"
    assert settings.good_threshold is None  # the model's calibration applies
    assert settings.min_face_size == 16
    assert settings.detection_pixel_budget == 2_000_000
    assert settings.max_faces_per_frame == 100
    assert settings.namespace == "faces-facenet-vggface2"


def test_settings_every_name_is_read_by_from_env():
    environ = {s.env: "x" for s in table()}
    with pytest.raises(ConfigurationError):  # "x" is not a valid value for the typed ones: each is parsed
        Settings.from_env(environ)
    assert {s.env for s in settings_for(DETECTION)} >= {"REQUEST_QUEUE_URL", "MAX_BODY_BYTES", "MAX_IMAGE_PIXELS"}
    assert {s.env for s in settings_for(RECOGNITION)} >= {"PINECONE_SSM_PARAMETER_NAME", "FACE_SIMILARITY_THRESHOLD"}
    assert "PINECONE_API_KEY" not in {s.env for s in table()}  # the key lives in SSM, never in the environment


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"EMBEDDING_MODEL": "arcface"}, "EMBEDDING_MODEL"),
        ({"VECTOR_BACKEND": "redis"}, "VECTOR_BACKEND"),
        ({"FACE_SIMILARITY_THRESHOLD": "1.5"}, "FACE_SIMILARITY_THRESHOLD"),
        ({"FACE_SIMILARITY_THRESHOLD": "high"}, "FACE_SIMILARITY_THRESHOLD"),
        ({"MIN_FACE_SCORE": "2"}, "MIN_FACE_SCORE"),
        ({"MIN_FACE_SIZE": "3"}, "MIN_FACE_SIZE"),
        ({"MAX_BODY_BYTES": "-1"}, "MAX_BODY_BYTES"),
        ({"PHOTO_RESPONSES": "maybe"}, "PHOTO_RESPONSES"),
        ({"MAX_FACES_PER_FRAME": "0"}, "MAX_FACES_PER_FRAME"),
        ({"MAX_FACES_PER_FRAME": "1001"}, "MAX_FACES_PER_FRAME"),
        ({"MAX_FACES_PER_FRAME": "lots"}, "MAX_FACES_PER_FRAME"),
    ],
)
def test_settings_bad_values_fail_at_start_up(environ, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(environ)


def test_settings_explicit_threshold_wins():
    settings = Settings.from_env({"FACE_SIMILARITY_THRESHOLD": "0.7", "FACE_RECOGNITION_TOLERANCE": "0.6"})
    assert settings.good_threshold == 0.7


def test_settings_seed_tolerance_maps_to_similarity_per_model():
    dlib = Settings.from_env({"EMBEDDING_MODEL": "dlib-resnet", "FACE_RECOGNITION_TOLERANCE": "0.6"})
    facenet = Settings.from_env({"EMBEDDING_MODEL": "facenet-vggface2", "FACE_RECOGNITION_TOLERANCE": "0.6"})
    assert facenet.good_threshold == pytest.approx(1 - 0.6**2 / 2)  # unit vectors: d <-> 1 - d^2/2
    assert dlib.good_threshold == pytest.approx(1 - (0.6 / 1.41) ** 2 / 2)  # dlib descriptors have norm ~1.41
    assert 0.90 < dlib.good_threshold < 0.92


def test_settings_threshold_moves_every_band_by_the_calibrated_steps():
    calibrated = MODELS["dlib-resnet"].calibration
    moved = calibration_for("dlib-resnet", calibrated.good + 0.02, margin=0.1)
    assert moved.good == pytest.approx(calibrated.good + 0.02)
    assert moved.fair - moved.good == pytest.approx(calibrated.fair - calibrated.good)
    assert moved.poor - moved.good == pytest.approx(calibrated.poor - calibrated.good)
    assert moved.margin == 0.1
    assert calibration_for("dlib-resnet") == calibrated


def test_settings_require_names_what_is_missing():
    with pytest.raises(ConfigurationError, match="REQUEST_QUEUE_URL"):
        Settings().require("REQUEST_QUEUE_URL")


def test_settings_page_table_is_the_settings_table():
    from pathlib import Path

    from facepipe.settings import markdown_table

    documented = (Path(__file__).resolve().parents[1] / "docs" / "settings.md").read_text()
    assert markdown_table() in documented, "docs/settings.md's table differs: paste facepipe.settings.markdown_table() into it"


def test_settings_table_is_the_one_place_of_names_defaults_and_ranges():
    rows = {row.env: row for row in table()}
    assert rows["MIN_FACE_SIZE"].default == Settings().min_face_size == 16
    assert (rows["MIN_FACE_SIZE"].low, rows["MIN_FACE_SIZE"].high) == (12, 4096)
    assert rows["EMBEDDING_MODEL"].choices == ("facenet-vggface2", "dlib-resnet")
    assert rows["FACEPIPE_FUNCTION_URL"].field == "function_url"
    assert not rows["FACEPIPE_FUNCTION_URL"].deployed
    local = Settings(vector_backend="local", torch_num_threads=1).environment()
    assert local == {"VECTOR_BACKEND": "local", "TORCH_NUM_THREADS": "1"}  # only what differs from the defaults
    assert Settings.from_env(local) == Settings(vector_backend="local", torch_num_threads=1)
