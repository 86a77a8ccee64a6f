"""Face embedders behind one interface (``Embedder``) and their croppers (``Cropper``).

``facenet-vggface2`` (512-d, deployed default) and ``dlib-resnet`` (128-d, offline).
"""

from __future__ import annotations

from facepipe.embedding._base import EMBED_BATCH_SIZE, Cropper, Embedder, l2_normalise
from facepipe.exceptions import ConfigurationError

__all__ = ["EMBED_BATCH_SIZE", "MODELS", "Cropper", "Embedder", "dimension_of", "l2_normalise", "load_cropper", "load_embedder"]

_DIMENSIONS = {"facenet-vggface2": 512, "dlib-resnet": 128}
#: every model's name
MODELS = tuple(_DIMENSIONS)


def dimension_of(model: str) -> int:
    try:
        return _DIMENSIONS[model]
    except KeyError:
        raise ConfigurationError(f"unknown embedding model {model!r}") from None


def load_cropper(model: str) -> Cropper:
    """The crop maker for ``model``: what the detection function needs (no embedding net)."""
    if model == "facenet-vggface2":
        from facepipe.embedding.facenet import FacenetCropper

        return FacenetCropper()
    if model == "dlib-resnet":
        from facepipe.embedding.dlib_resnet import DlibCropper

        return DlibCropper()
    raise ConfigurationError(f"unknown embedding model {model!r}")


def load_embedder(model: str, facenet_weights_path: str = "", threads: int | None = None) -> Embedder:
    """The embedder for ``model``. facenet-vggface2 from ``facenet_weights_path`` (``FACENET_WEIGHTS_PATH``):
    an exported ``.onnx`` file, the ``.pt`` weights (exported at load: needs torch and onnx) or
    ``random:timing-only``; ``threads``: its onnxruntime session's (default: the machine's cores;
    dlib-resnet runs on one)."""
    if model == "facenet-vggface2":
        from facepipe.embedding.facenet import FacenetEmbedder, onnx_file_for

        onnx_file = onnx_file_for(facenet_weights_path)
        if onnx_file is not None:  # the image's exported network: onnxruntime only, no torch
            return FacenetEmbedder(onnx_file, threads)
        from facepipe.embedding.onnx_export import exported_embedder

        return exported_embedder(facenet_weights_path or None, threads)
    if model == "dlib-resnet":
        from facepipe.embedding.dlib_resnet import DlibEmbedder

        return DlibEmbedder()
    raise ConfigurationError(f"unknown embedding model {model!r}")
