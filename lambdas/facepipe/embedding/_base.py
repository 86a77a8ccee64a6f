"""The embedder interface: crops in, unit vectors out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

    from facepipe.detection import DetectedFace

#: most crops one forward pass takes: a 100-face frame, or a batch of frames, is embedded in
#: chunks of this many, so the input tensor stays bounded (32 facenet crops: 9.8 MB of float32)
EMBED_BATCH_SIZE = 32

T = TypeVar("T")


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


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"a chunk size of {size} makes no sense; use 1 or more")
    for start in range(0, len(items), size):
        yield items[start : start + size]
