"""Shared fixtures: real photos, moto-backed AWS resources, models loaded once per session, the
local stack (``stack``). The shared helpers that are not fixtures are in helpers.py."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from facepipe.names import StackNames
from facepipe_tools.sets import fixtures_dir
from helpers import local_stack

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch):
    """Tests never reach AWS: fake credentials, fixed region, no stray endpoint."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _moto_as_the_emulator_runs_it():
    """moto in process, patched as the local stack's emulator patches it (facepipe_tools.local.moto_patches):
    the same answers; a transaction's rollback copy holds only the items it names, not the whole table."""
    from facepipe_tools.local.moto_patches import patch_moto

    patch_moto()


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """One torch thread, as the local stack's functions run: with 2 cores and another busy process,
    torch's default thread count makes MTCNN 10x slower (measured), which only adds noise to tests."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fixtures_root() -> Path:
    root = fixtures_dir()
    if root is None:
        pytest.skip("../shared/fixtures/faces not found (set FACEPIPE_FIXTURES to a folder with labels.json)")
    return root / "faces"


@pytest.fixture(scope="session")
def labels(fixtures_root) -> dict:
    return json.loads((fixtures_root / "labels.json").read_text())


@pytest.fixture(scope="session")
def grace_hopper_bytes() -> bytes:
    """A real portrait that ships inside matplotlib: always available, no fixtures needed."""
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes()


@pytest.fixture(scope="session")
def grace_hopper(grace_hopper_bytes) -> Image.Image:
    return Image.open(io.BytesIO(grace_hopper_bytes)).convert("RGB")


@pytest.fixture
def photo(fixtures_root) -> Callable[[str], Image.Image]:
    """Factory: ``photo("train/obama/obama.jpg")`` -> that shared photo, RGB."""

    def load(relative: str) -> Image.Image:
        return Image.open(fixtures_root / relative).convert("RGB")

    return load


@pytest.fixture(scope="session")
def detector():
    from facepipe.detection import FaceDetector
    from facepipe.settings import Settings

    return FaceDetector.from_settings(Settings())  # the defaults the functions run with


@pytest.fixture(scope="session")
def grace_face(grace_hopper, detector):
    """The one face of the Grace Hopper portrait, as the functions' detector finds it."""
    (face,) = detector.detect(grace_hopper)
    return face


@pytest.fixture(scope="session")
def grace_box(grace_face) -> list[float]:
    return grace_face.box


@pytest.fixture(scope="session")
def dlib_embedder():
    from facepipe.embedding import load_embedder

    return load_embedder("dlib-resnet")


@pytest.fixture
def aws():
    """moto in-process: every boto3 client in the test talks to it."""
    from moto import mock_aws

    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def sqs(aws):
    return aws.client("sqs")


@pytest.fixture
def resources(aws):
    from facepipe_tools.local.resources import create_resources

    return create_resources(aws, StackNames(), request_visibility=30, max_receive_count=3)


@pytest.fixture
def settings(resources):
    from helpers import stack_settings

    # moto in process is not thread-safe: records one at a time (see helpers.function_environment)
    return stack_settings(resources, pinecone_ssm_parameter_name=resources.ssm_parameter, record_threads=1)


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """`facepipe local up` on free ports for the module (a real subprocess, ``helpers.local_stack``),
    started with the options of the module's marker ``pytest.mark.local_stack(*options)``; its
    endpoints and ``state_file``. Stopped with Ctrl-C (SIGINT) after the module's last test. A module
    marked ``fixtures`` is skipped before the stack starts when the shared photos are missing."""
    marker = request.node.get_closest_marker("local_stack")
    options = [str(option) for option in marker.args] if marker else []
    if request.node.get_closest_marker("fixtures"):
        request.getfixturevalue("fixtures_root")
    with local_stack(tmp_path_factory.mktemp(request.module.__name__) / "local.json", *options) as info:
        yield info


@pytest.fixture
def boto(stack, monkeypatch):
    """A plain boto3 session pointed at the local stack with AWS_ENDPOINT_URL, as any client would be."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack["endpoint_url"])
    return boto3.session.Session(region_name=stack["region"])
