"""Model weights that are downloaded at image build time and verified by SHA-256.

Nothing is downloaded at run time: ``scripts/download_weights.py`` (standard library
only, run by ``make weights`` and docker/base.Dockerfile) fetches the file; ``verified_path``
is what the export (``facepipe.embedding.build.onnx_export``) reads it through. The functions
load the exported file and check the digest it records (``facenet.expected_source``); they
find it where the image bakes it (``IMAGE_WEIGHTS_DIR``) or ``make weights`` puts it.
tests/deploy checks this module and the script name the same file and digest.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from facepipe.exceptions import ModelUnavailableError


@dataclass(frozen=True)
class WeightsFile:
    name: str
    url: str
    sha256: str
    size: int


VGGFACE2 = WeightsFile(
    name="20180402-114759-vggface2.pt",
    url="https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt",
    sha256="281cebca8662831adb987a874bdcb36e73f5b1c6dc5ee5878f305e985625d99b",
    size=111_898_327,
)

#: where the images bake the weights (docker/base.Dockerfile)
IMAGE_WEIGHTS_DIR = Path("/opt/facepipe/weights")


def default_weights_path(weights: WeightsFile = VGGFACE2) -> Path:
    baked = IMAGE_WEIGHTS_DIR / weights.name
    if baked.exists():
        return baked
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "facepipe" / "weights"
    return cache / weights.name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_path(path: str | Path | None, weights: WeightsFile = VGGFACE2, setting: str = "FACENET_WEIGHTS_PATH") -> Path:
    """The weights file, checked; a clear error naming the setting when absent or altered."""
    resolved = Path(path) if path else default_weights_path(weights)
    if not resolved.is_file():
        raise ModelUnavailableError(
            f"{weights.name} not found at {resolved}. Download it with `make weights` "
            f"(or set {setting} to its path); the deployed image bakes it in. "
            "For an offline model use EMBEDDING_MODEL=dlib-resnet."
        )
    actual = sha256_of(resolved)
    if actual != weights.sha256:
        raise ModelUnavailableError(f"{resolved} has SHA-256 {actual}, expected {weights.sha256}: delete it and run `make weights` again")
    return resolved
