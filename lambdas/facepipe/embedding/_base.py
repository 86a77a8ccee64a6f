"""The embedder interface: crops in, unit vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from PIL import Image

from facepipe.detection import DetectedFace


class Cropper(Protocol):
    """Turns a detected face into the aligned, fixed-size crop its embedder was trained on."""

    #: identifies crop geometry and model; stored with every vector so faces can be re-embedded
    preprocessing: str
    crop_size: int

    def crop(self, frame: Image.Image, face: DetectedFace) -> Image.Image: ...


class Embedder(Cropper, Protocol):
    """Crops (it is its own cropper) and embeds them."""

    model: str
    dimension: int

    def embed(self, crops: Sequence[Image.Image]) -> np.ndarray:
        """Crops (RGB, ``crop_size`` square) -> float32 array (n, dimension), rows L2-normalised."""
        ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return normalised


def check_crops(crops: Sequence[Image.Image], size: int) -> None:
    for i, crop in enumerate(crops):
        if crop.size != (size, size) or crop.mode != "RGB":
            raise ValueError(f"crop {i} is {crop.mode} {crop.size[0]}x{crop.size[1]}; expected RGB {size}x{size}")
