"""dlib-resnet: dlib's ResNet face descriptor (128-d), weights from ``face_recognition_models``.

Crops are dlib face chips: the 5-point shape predictor runs inside the MTCNN box and
``dlib.get_face_chip(size=150, padding=0.25)`` aligns, exactly what
``compute_face_descriptor(img, shape)`` does internally, so descriptors match dlib's own.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from facepipe.detection import DetectedFace
from facepipe.embedding._base import EMBED_BATCH_SIZE, check_crops, chunks, l2_normalise
from facepipe.embedding.models import DLIB_RESNET as SPEC
from facepipe.exceptions import ModelUnavailableError

CROP_SIZE = 150
PADDING = 0.25
#: the spec's id of these crops (5-point chips, 150 px, padding 0.25): another geometry needs another id
PREPROCESSING = SPEC.preprocessing


def _models() -> tuple[Any, Any]:
    try:
        import dlib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
            import face_recognition_models
    except ImportError as exc:
        raise ModelUnavailableError(
            "EMBEDDING_MODEL=dlib-resnet needs the dlib extra: pip install 'facepipe[dlib]' "
            f"(dlib-bin, face_recognition_models, setuptools<81): {exc}"
        ) from exc
    return dlib, face_recognition_models


class DlibCropper:
    preprocessing = PREPROCESSING
    crop_size = CROP_SIZE

    def __init__(self) -> None:
        dlib, models = _models()
        self._dlib = dlib
        self._shape_predictor = dlib.shape_predictor(models.pose_predictor_five_point_model_location())

    def crop(self, frame: Image.Image, face: DetectedFace) -> Image.Image:
        pixels = np.asarray(frame)
        x1, y1, x2, y2 = (round(v) for v in face.box)
        shape = self._shape_predictor(pixels, self._dlib.rectangle(x1, y1, x2, y2))
        chip = self._dlib.get_face_chip(pixels, shape, size=CROP_SIZE, padding=PADDING)
        return Image.fromarray(chip)


class DlibEmbedder(DlibCropper):
    model = SPEC.name
    dimension = SPEC.dimension

    def __init__(self, batch_size: int = EMBED_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, not {batch_size}")
        super().__init__()
        self.batch_size = batch_size  # crops per compute_face_descriptor call
        _, models = _models()
        self._network = self._dlib.face_recognition_model_v1(models.face_recognition_model_location())
        self._lock = threading.Lock()  # one dlib net is not safe to share across threads

    def embed(self, crops: Sequence[Image.Image]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dimension), dtype=np.float32)
        check_crops(crops, CROP_SIZE)
        vectors = []
        for chunk in chunks(crops, self.batch_size):
            chips = [np.ascontiguousarray(np.asarray(c, dtype=np.uint8)) for c in chunk]
            with self._lock:
                vectors += [np.array(v) for v in self._network.compute_face_descriptor(chips)]
        return l2_normalise(np.array(vectors))


def load_embedder(weights_path: str = "", threads: int | None = None) -> DlibEmbedder:
    """The embedder (its spec's loader): its weights come with ``face_recognition_models``, and one
    dlib network runs on one thread, so neither argument applies."""
    return DlibEmbedder()
