"""Face embedders behind one interface (``Embedder``) and their croppers (``Cropper``).

Each model is one ``ModelSpec`` (``models.py``): ``facenet-vggface2`` (512-d, deployed default) and
``dlib-resnet`` (128-d, offline). The functions load croppers and embedders through these specs;
``build/`` holds the image build's torch code (the ONNX export), which the functions never import.
"""

from __future__ import annotations

from facepipe.embedding._base import EMBED_BATCH_SIZE, Cropper, Embedder, l2_normalise
from facepipe.embedding.models import MODELS, ModelSpec, spec_of

__all__ = [
    "EMBED_BATCH_SIZE",
    "MODELS",
    "Cropper",
    "Embedder",
    "ModelSpec",
    "dimension_of",
    "l2_normalise",
    "load_cropper",
    "load_embedder",
    "spec_of",
]


def dimension_of(model: str) -> int:
    """The length of ``model``'s vectors (its spec's)."""
    return spec_of(model).dimension


def load_cropper(model: str) -> Cropper:
    """The crop maker for ``model``: what the detection function needs (no embedding net)."""
    return spec_of(model).load_cropper()


def load_embedder(model: str, facenet_weights_path: str = "", threads: int | None = None) -> Embedder:
    """The embedder for ``model``. facenet-vggface2 from ``facenet_weights_path`` (``FACENET_WEIGHTS_PATH``):
    an exported ``.onnx`` file, the ``.pt`` weights (exported at load: needs torch, onnx and
    ``facepipe.embedding.build``, which the function images leave out) or ``random:timing-only``;
    ``threads``: its onnxruntime session's (default: the machine's cores; dlib-resnet runs on one)."""
    return spec_of(model).load_embedder(facenet_weights_path, threads)
