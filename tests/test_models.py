"""Detection and embedders on real photos; the facenet loading path on a real state_dict."""

from __future__ import annotations

import dataclasses
import itertools
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import ImageOps

from facepipe.detection import largest_face
from facepipe.embedding import dimension_of, load_cropper, load_embedder
from facepipe.embedding import weights as weights_module
from facepipe.embedding.build.onnx_export import embedder_from_network
from facepipe.embedding.models import MODELS, calibration_for, spec_of
from facepipe.exceptions import ConfigurationError, ModelUnavailableError
from facepipe.images import open_image
from helpers import CLI_ENV


def test_mtcnn_finds_the_one_face_of_a_portrait(detector, grace_hopper):
    faces = detector.detect(grace_hopper)
    assert len(faces) == 1
    face = faces[0]
    assert face.score >= 0.99
    assert 0 <= face.box[0] < face.box[2] <= grace_hopper.width
    assert 0 <= face.box[1] < face.box[3] <= grace_hopper.height
    left_eye, right_eye, nose = face.landmarks[:3]
    assert left_eye[0] < nose[0] < right_eye[0]


@pytest.mark.parametrize("factor", [3, 6])
def test_mtcnn_boxes_are_in_original_coordinates_at_any_frame_size(detector, grace_hopper, factor):
    big = grace_hopper.resize((grace_hopper.width * factor, grace_hopper.height * factor))
    (small_face,) = detector.detect(grace_hopper)
    (big_face,) = detector.detect(big)  # x6 is 11 MP, over the 2 MP budget: detected on a smaller working copy
    # same face, same place: within 10% of the face width (MTCNN's box regression varies with scale)
    assert np.allclose(np.array(big_face.box) / factor, small_face.box, atol=0.10 * small_face.width)
    assert np.allclose(np.array(big_face.landmarks) / factor, small_face.landmarks, atol=0.05 * small_face.width)


def test_mtcnn_returns_empty_list_for_no_face(detector):
    from PIL import Image

    assert detector.detect(Image.new("RGB", (320, 240), (30, 120, 200))) == []


def test_dlib_embedder_gives_unit_128d_vectors_and_same_person_close(dlib_embedder, detector, grace_hopper):
    mirrored = ImageOps.mirror(grace_hopper)
    crops = [dlib_embedder.crop(img, largest_face(detector.detect(img))) for img in (grace_hopper, mirrored)]
    assert all(c.size == (150, 150) for c in crops)
    vectors = dlib_embedder.embed(crops)
    assert vectors.shape == (2, dimension_of("dlib-resnet"))
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) >= MODELS["dlib-resnet"].calibration.good


def test_dlib_embedder_batch_equals_singles(dlib_embedder, detector, grace_hopper):
    crop = dlib_embedder.crop(grace_hopper, detector.detect(grace_hopper)[0])
    flipped = ImageOps.mirror(crop)
    batch = dlib_embedder.embed([crop, flipped])
    singles = np.vstack([dlib_embedder.embed([crop]), dlib_embedder.embed([flipped])])
    assert np.allclose(batch, singles, atol=1e-5)


def test_embedder_rejects_crops_of_the_wrong_size(dlib_embedder, grace_hopper):
    with pytest.raises(ValueError, match="150x150"):
        dlib_embedder.embed([grace_hopper])


@pytest.mark.fixtures
def test_dlib_golden_similarity_matrix_separates_people(dlib_embedder, detector, fixtures_root, labels):
    """facenet-pytorch's golden test, for our embedder: every enrolled face against every other."""
    vectors, people = [], []
    for person, files in labels["enroll"].items():
        for name in files:
            frame = open_image((fixtures_root / name).read_bytes(), 10**8)
            face = largest_face(detector.detect(frame))
            vectors.append(dlib_embedder.embed([dlib_embedder.crop(frame, face)])[0])
            people.append(person)
    threshold = MODELS["dlib-resnet"].calibration.good
    same, different = [], []
    for i, j in itertools.combinations(range(len(vectors)), 2):
        (same if people[i] == people[j] else different).append(float(vectors[i] @ vectors[j]))
    assert len(same) == 4
    assert len(different) == 32
    assert min(same) >= threshold, same
    assert max(different) < threshold, different


@pytest.fixture(scope="module")
def random_facenet():
    """facenet-pytorch's InceptionResnetV1, random weights and batch-norm statistics (as trained ones are)."""
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    network = InceptionResnetV1(pretrained=None).eval()
    with torch.no_grad():
        for norm in (m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
            norm.running_mean.uniform_(-0.2, 0.2)
            norm.running_var.uniform_(0.5, 2.0)
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.2, 0.2)
    return network


@pytest.fixture(scope="module")
def random_network(random_facenet):
    """facepipe's InceptionResnetV1 with ``random_facenet``'s parameters, by name."""
    from facepipe.embedding.build.inception_resnet_v1 import InceptionResnetV1

    network = InceptionResnetV1().eval()
    network.load_state_dict(random_facenet.state_dict())
    return network


def test_facenet_architecture_gives_512d_unit_vectors(random_network, detector, grace_hopper):
    embedder = embedder_from_network(random_network)
    crop = embedder.crop(grace_hopper, detector.detect(grace_hopper)[0])
    assert crop.size == (160, 160)
    vectors = embedder.embed([crop, ImageOps.mirror(crop)])
    assert vectors.shape == (2, 512)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])


def test_facenet_crop_matches_facenet_pytorch_extract_face(detector, grace_hopper):
    from facenet_pytorch.models.utils.detect_face import extract_face

    face = detector.detect(grace_hopper)[0]
    ours = np.asarray(load_cropper("facenet-vggface2").crop(grace_hopper, face), dtype=np.float32)
    theirs = extract_face(grace_hopper, np.array(face.box, dtype=np.float32), image_size=160, margin=14).permute(1, 2, 0).numpy()
    assert np.array_equal(ours, theirs)


def test_facenet_network_is_facenet_pytorchs(random_facenet, grace_hopper):
    from facepipe.embedding.build.inception_resnet_v1 import InceptionResnetV1

    # GIVEN facepipe's InceptionResnetV1 with facenet-pytorch's parameters, by name
    ours = InceptionResnetV1().eval()
    ours.load_state_dict(random_facenet.state_dict())
    batch = torch.randn(3, 3, 160, 160, generator=torch.Generator().manual_seed(1))
    # THEN the same vectors come out
    with torch.inference_mode():
        np.testing.assert_allclose(ours(batch).numpy(), random_facenet(batch).numpy(), atol=1e-6)


def test_facenet_embedder_gives_facenet_pytorchs_vectors(random_facenet, random_network, detector, grace_hopper):
    # GIVEN crops of a real face, and the embedder (its network prepared for inference: batch norms
    # folded, branches merged) built from the same parameters as facenet-pytorch's network
    embedder = embedder_from_network(random_network)
    crops = varied_crops(embedder.crop(grace_hopper, detector.detect(grace_hopper)[0]), 5)
    # WHEN both embed them (facenet-pytorch after its fixed_image_standardization)
    ours = embedder.embed(crops)
    pixels = torch.from_numpy(np.stack([np.asarray(c, dtype=np.float32) for c in crops])).permute(0, 3, 1, 2)
    with torch.inference_mode():
        theirs = random_facenet((pixels - 127.5) / 128.0).numpy()
    # THEN the vectors are the same to float32 rounding, and they differ between crops
    np.testing.assert_allclose(ours, theirs, atol=2e-6)
    assert np.abs(ours[0] - ours[1]).max() > 1e-5  # a random network's vectors lie close together


def test_facenet_weights_missing_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="FACENET_WEIGHTS_PATH"):
        load_embedder("facenet-vggface2", str(tmp_path / "absent.pt"))


def test_facenet_weights_with_wrong_checksum_are_refused(tmp_path):
    bogus = tmp_path / "20180402-114759-vggface2.pt"
    bogus.write_bytes(b"not the weights")
    with pytest.raises(ModelUnavailableError, match="SHA-256"):
        load_embedder("facenet-vggface2", str(bogus))


def test_facenet_loads_a_verified_state_dict(tmp_path, monkeypatch, random_facenet, random_network, detector, grace_hopper):
    """The real loading path (torch.load + strict load_state_dict) on a state_dict shaped like VGGFace2's."""
    network = random_facenet
    network.logits = torch.nn.Linear(512, 8631)
    path = tmp_path / "weights.pt"
    torch.save(network.state_dict(), path)
    del network.logits
    pinned = dataclasses.replace(weights_module.VGGFACE2, sha256=weights_module.sha256_of(path))
    monkeypatch.setattr("facepipe.embedding.build.onnx_export.VGGFACE2", pinned)  # what the file is checked against
    monkeypatch.setattr("facepipe.embedding.facenet.VGGFACE2", pinned)  # what its export records
    loaded = load_embedder("facenet-vggface2", str(path))
    reference = embedder_from_network(random_network)
    crop = reference.crop(grace_hopper, detector.detect(grace_hopper)[0])
    assert np.allclose(loaded.embed([crop]), reference.embed([crop]), atol=1e-5)


# --------------------------------------------------------------------------- the exported ONNX file


@pytest.fixture(scope="module")
def random_onnx(tmp_path_factory):
    """The file ``python -m facepipe.embedding.build.onnx_export --random`` writes."""
    from facepipe.embedding.build.onnx_export import main

    path = tmp_path_factory.mktemp("onnx") / "facenet-vggface2.onnx"
    assert main(["--random", str(path)]) == 0
    return path


def onnx_with_metadata(source_file, destination, **changes) -> None:
    import onnx

    model = onnx.load(source_file)
    properties = {p.key: p.value for p in model.metadata_props}
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {**properties, **changes})
    onnx.save(model, destination)


def test_facenet_loads_its_exported_onnx_file_with_the_networks_vectors(random_onnx, detector, grace_hopper):
    from facepipe.embedding.build.onnx_export import vggface2_network
    from facepipe.embedding.facenet import RANDOM_WEIGHTS

    # GIVEN the exported file and the network it was exported from
    loaded = load_embedder("facenet-vggface2", str(random_onnx))
    network = vggface2_network(RANDOM_WEIGHTS)
    crops = varied_crops(loaded.crop(grace_hopper, detector.detect(grace_hopper)[0]), 3)
    pixels = torch.from_numpy(np.stack([np.asarray(c, dtype=np.float32) for c in crops])).permute(0, 3, 1, 2)
    with torch.inference_mode():
        theirs = torch.nn.functional.normalize(network((pixels - 127.5) / 128.0)).numpy()
    # THEN the file gives the network's unit vectors
    np.testing.assert_allclose(loaded.embed(crops), theirs, atol=2e-6)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"facepipe.source": "sha256:" + "0" * 64}, "not the pinned VGGFace2 weights"),
        ({"facepipe.preprocessing": "facenet-mtcnn-160-m0-v0"}, "expects crops"),
        ({"facepipe.source": ""}, "not the pinned VGGFace2 weights"),
        ({"facepipe.model": "dlib-resnet"}, "is a 'dlib-resnet' model"),
    ],
)
def test_facenet_refuses_an_onnx_file_of_other_weights_crops_or_model(random_onnx, tmp_path, changes, error):
    altered = tmp_path / "altered.onnx"
    onnx_with_metadata(random_onnx, altered, **changes)
    with pytest.raises(ModelUnavailableError, match=error):
        load_embedder("facenet-vggface2", str(altered))


def test_facenet_refuses_an_onnx_file_that_is_not_facepipes_export(random_onnx, tmp_path):
    import onnx

    foreign = tmp_path / "foreign.onnx"
    model = onnx.load(random_onnx)
    del model.metadata_props[:]
    onnx.save(model, foreign)
    with pytest.raises(ModelUnavailableError, match="not facepipe's export"):
        load_embedder("facenet-vggface2", str(foreign))


def test_facenet_onnx_file_missing_or_unreadable_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="make weights"):
        load_embedder("facenet-vggface2", str(tmp_path / "absent.onnx"))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailableError, match="not a model onnxruntime can load"):
        load_embedder("facenet-vggface2", str(garbage))


def test_recognition_with_facenet_never_imports_torch(random_onnx):
    """The recognition function's INIT and SQS path run the ONNX file in onnxruntime: ``import torch``
    (~2 s) stays out of its cold start. A fresh interpreter, as a Lambda container."""
    import subprocess
    import sys

    script = """
import sys
import face_recognition.handler  # INIT runs at import, as in Lambda
from facepipe.runtime import recognition_runtime
from PIL import Image
vectors = recognition_runtime().recognizer.embedder.embed([Image.new("RGB", (160, 160), (120, 90, 60))])
print(vectors.shape, "torch" in sys.modules)
"""
    settings = {"EMBEDDING_MODEL": "facenet-vggface2", "FACENET_WEIGHTS_PATH": str(random_onnx), "VECTOR_BACKEND": "local"}
    queues = {"RESPONSE_QUEUE_URL": "http://127.0.0.1:9/responses", "DDB_TABLE_NAME": "facepipe", "AWS_DEFAULT_REGION": "us-east-1"}
    environment = {**CLI_ENV, **settings, **queues, "TORCH_NUM_THREADS": "1"}  # nothing is called: INIT only builds clients
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip().splitlines()[-1] == "(1, 512) False", done.stdout + done.stderr  # logs come first


def test_facenet_pt_weights_without_the_build_package_are_a_clear_error(tmp_path, monkeypatch):
    # GIVEN an interpreter without facepipe.embedding.build (as the function images are)
    monkeypatch.setitem(sys.modules, "facepipe.embedding.build.onnx_export", None)
    # WHEN FACENET_WEIGHTS_PATH names weights to export at load
    # THEN the error says what to set instead
    with pytest.raises(ModelUnavailableError, match=r"exported \.onnx file"):
        load_embedder("facenet-vggface2", str(tmp_path / "weights.pt"))


# --------------------------------------------------------------------------- one spec per model


def test_model_specs_are_what_their_croppers_and_embedders_are(dlib_embedder, random_onnx):
    # GIVEN every model's spec, and what its loaders give
    embedders = {"dlib-resnet": dlib_embedder, "facenet-vggface2": load_embedder("facenet-vggface2", str(random_onnx))}
    assert set(embedders) == set(MODELS)
    for name, spec in MODELS.items():
        cropper, embedder = spec.load_cropper(), embedders[name]
        # THEN the cropper and the embedder carry the spec's name, dimension and preprocessing
        assert spec.name == name == embedder.model
        assert spec.dimension == dimension_of(name) == embedder.dimension
        assert spec.preprocessing == cropper.preprocessing == embedder.preprocessing
        assert type(load_cropper(name)) is type(cropper)
        # AND its calibration is the one matching uses
        assert calibration_for(name) == spec.calibration
        assert spec.calibration.good <= spec.calibration.fair <= spec.calibration.poor <= 1.0


def test_model_specs_are_what_every_other_place_reads():
    from facepipe import operations
    from facepipe.settings import Settings, table

    rows = {row.env: row for row in table()}
    assert rows["EMBEDDING_MODEL"].choices == tuple(MODELS)
    for name, spec in MODELS.items():
        assert f"`{name}` ({spec.dimension}-d)" in rows["EMBEDDING_MODEL"].help
        tolerance = Settings(embedding_model=name, face_recognition_tolerance=0.6).good_threshold
        assert tolerance == pytest.approx(1 - (0.6 / spec.descriptor_norm) ** 2 / 2)
        assert f"{name} {spec.calibration.good:.2f}" in rows["FACE_SIMILARITY_THRESHOLD"].help
    # the namespaces a face's vectors are erased from: the functions' and every model's
    functions = SimpleNamespace(namespace="faces-custom")
    assert operations.PeopleOperations.namespaces(functions) == ["faces-custom", *(f"faces-{name}" for name in MODELS)]


def test_an_unknown_model_is_a_configuration_error():
    for read in (dimension_of, load_cropper, load_embedder, calibration_for, spec_of):
        with pytest.raises(ConfigurationError, match="unknown embedding model 'arcface'; choose one of facenet-vggface2, dlib-resnet"):
            read("arcface")


def test_published_vggface2_weights_are_pinned():
    pinned = weights_module.VGGFACE2
    assert pinned.url.startswith("https://github.com/timesler/facenet-pytorch/releases/download/")
    assert len(pinned.sha256) == 64
    assert int(pinned.sha256, 16)


# --------------------------------------------------------------------------- bounded chunks (crowds)


def varied_crops(crop, count: int) -> list:
    """``count`` different crops of one face: mirrored, rotated a little, brighter or darker."""
    from PIL import ImageEnhance

    crops = []
    for i in range(count):
        varied = crop.rotate((i % 7 - 3) * 2.0, resample=2)
        varied = ImageEnhance.Brightness(varied).enhance(0.8 + 0.03 * (i % 13))
        crops.append(ImageOps.mirror(varied) if i % 2 else varied)
    return crops


class CountingDlibNet:
    """dlib's face_recognition_model_v1, recording how many chips each call is given."""

    def __init__(self, network) -> None:
        self.network = network
        self.calls: list[int] = []

    def compute_face_descriptor(self, chips):
        self.calls.append(len(chips))
        return self.network.compute_face_descriptor(chips)


def test_dlib_embedder_embeds_a_crowd_in_bounded_chunks_with_one_pass_results(dlib_embedder, detector, grace_hopper, monkeypatch):
    from facepipe.embedding import EMBED_BATCH_SIZE

    # GIVEN 20 different crops, and the embedder the functions load taking at most 8 per call
    assert dlib_embedder.batch_size == EMBED_BATCH_SIZE == 32  # what the functions run with
    crops = varied_crops(dlib_embedder.crop(grace_hopper, detector.detect(grace_hopper)[0]), 20)
    counting = CountingDlibNet(dlib_embedder._network)
    monkeypatch.setattr(dlib_embedder, "_network", counting)
    monkeypatch.setattr(dlib_embedder, "batch_size", 8)
    # WHEN they are embedded in chunks, then in one pass
    chunked = dlib_embedder.embed(crops)
    monkeypatch.setattr(dlib_embedder, "batch_size", 20)
    one_pass = dlib_embedder.embed(crops)
    # THEN no call saw more than 8 crops, and the vectors are those of one pass, in order
    assert counting.calls == [8, 8, 4, 20]
    assert chunked.shape == (20, 128)
    assert np.allclose(chunked, one_pass, atol=1e-6)
    assert not np.allclose(chunked[0], chunked[1])  # the crops really differ: order is checked


class CountingSession:
    """An onnxruntime session, recording how many crops each run is given."""

    def __init__(self, session, calls: list[int]) -> None:
        self.session, self.calls = session, calls

    def run(self, outputs, feeds):
        self.calls.append(feeds["crops"].shape[0])
        return self.session.run(outputs, feeds)


def test_facenet_embedder_embeds_a_crowd_in_bounded_chunks_with_one_pass_results(random_network, detector, grace_hopper):
    # GIVEN 40 different crops and an embedder taking at most 16 per run
    embedder = embedder_from_network(random_network, batch_size=16)
    crops = varied_crops(embedder.crop(grace_hopper, detector.detect(grace_hopper)[0]), 40)
    batches: list[int] = []
    # WHEN they are embedded in chunks, then in one pass
    embedder._session = CountingSession(embedder._session, batches)
    chunked = embedder.embed(crops)
    one_pass_embedder = embedder_from_network(random_network, batch_size=40)
    one_pass_embedder._session = CountingSession(one_pass_embedder._session, batches)
    one_pass = one_pass_embedder.embed(crops)
    # THEN no run saw more than 16 crops, and the vectors are those of one pass, in order
    assert batches == [16, 16, 8, 40]
    assert chunked.shape == (40, 512)
    assert np.allclose(chunked, one_pass, atol=1e-5)
    assert not np.allclose(chunked[0], chunked[1])


@pytest.mark.parametrize("size", [0, -1])
def test_embedders_refuse_a_chunk_size_below_one(random_network, size):
    with pytest.raises(ValueError, match="batch_size"):
        embedder_from_network(random_network, batch_size=size)


def test_detection_and_facenet_embedding_import_neither_torchvision_nor_facenet_pytorch(grace_hopper_bytes, tmp_path):
    """Their import (torch._dynamo through torchvision) cost ~1.5 s of every cold start (``facepipe bench``)."""
    import subprocess
    import sys

    photo = tmp_path / "portrait.jpg"
    photo.write_bytes(grace_hopper_bytes)
    script = f"""
import sys
from facepipe.detection import FaceDetector
from facepipe.embedding import load_embedder
from facepipe.embedding.facenet import RANDOM_WEIGHTS
from facepipe.images import open_image
from facepipe.embedding.models import calibration_for
frame = open_image(open({str(photo)!r}, "rb").read(), 10_000_000)
faces = FaceDetector().detect(frame)
embedder = load_embedder("facenet-vggface2", RANDOM_WEIGHTS)
vectors = embedder.embed([embedder.crop(frame, faces[0])])
print(len(faces), vectors.shape, sorted(m for m in ("torchvision", "facenet_pytorch", "torch._dynamo") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.split("\n")[0] == "1 (1, 512) []", done.stdout + done.stderr
