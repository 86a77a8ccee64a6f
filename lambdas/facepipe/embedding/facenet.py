"""facenet-vggface2: facenet-pytorch's InceptionResnetV1 pretrained on VGGFace2 (512-d).

Crops follow what the weights were trained on (facenet-pytorch #62): MTCNN box plus
``margin=14`` at 160 px, no rotation, then ``fixed_image_standardization``. Crop, network
(``facepipe.embedding.inception_resnet_v1``) and standardisation are facenet-pytorch's,
restated so that no cold start imports it (and torchvision with it).

The network runs on channels-last (NHWC) tensors: the same vectors (to ~1e-7) and,
measured with ``facepipe bench`` on 2 x86-64 cores, ~25% less time per batch than the
default layout. It runs as ``fused_resnet.FusedInceptionResnetV1``: batch norms folded,
branch-opening convolutions merged, the same vectors (to ~1e-7), ~7-10% less time.
TorchScript (trace + freeze) and int8 dynamic quantisation (only the last Linear layer
qualifies) measured no gain and are not used.

``FACENET_WEIGHTS_PATH=random:timing-only`` builds the real architecture with random
weights (seeded): for timing where the VGGFace2 file is absent (``facepipe bench``); its
vectors identify nobody, so it logs a warning and must never serve real traffic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facepipe.detection import DetectedFace
from facepipe.embedding._base import EMBED_BATCH_SIZE, check_crops, chunks, l2_normalise
from facepipe.embedding.fused_resnet import fused_for_inference
from facepipe.embedding.inception_resnet_v1 import VGGFACE2_CLASSES, InceptionResnetV1
from facepipe.embedding.weights import VGGFACE2, verified_path
from facepipe.observability import child_logger

CROP_SIZE = 160
MARGIN = 14
PREPROCESSING = "facenet-mtcnn-160-m14-v1"
#: FACENET_WEIGHTS_PATH value for the real architecture with random weights (timing only)
RANDOM_WEIGHTS = "random:timing-only"

logger = child_logger()


def vggface2_state_dict(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The checked VGGFace2 file's tensors (``path``, else the default place), by facenet-pytorch's
    parameter names; its unused ``logits`` head included."""
    state: dict[str, torch.Tensor] = torch.load(verified_path(path, VGGFACE2), map_location="cpu", weights_only=True)
    return state


class FacenetCropper:
    preprocessing = PREPROCESSING
    crop_size = CROP_SIZE

    def crop(self, frame: Image.Image, face: DetectedFace) -> Image.Image:
        """facenet-pytorch's ``extract_face``: the box widened by a margin of ``MARGIN`` final-image
        pixels (float32 arithmetic), clipped to the frame, bilinear to 160 px; an RGB image."""
        box = np.asarray(face.box, dtype=np.float32)
        margin_x = MARGIN * (box[2] - box[0]) / (CROP_SIZE - MARGIN)
        margin_y = MARGIN * (box[3] - box[1]) / (CROP_SIZE - MARGIN)
        region = (
            int(max(box[0] - margin_x / 2, 0)),
            int(max(box[1] - margin_y / 2, 0)),
            int(min(box[2] + margin_x / 2, frame.width)),
            int(min(box[3] + margin_y / 2, frame.height)),
        )
        crop = frame.crop(region).resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BILINEAR)
        return crop if crop.mode == "RGB" else crop.convert("RGB")  # frames are RGB (images.open_image): no copy of the frame


class FacenetEmbedder(FacenetCropper):
    """``embed(crops) -> (n, 512)`` unit vectors. ``network`` is an InceptionResnetV1 with its weights
    loaded (prepared for inference here; drop it after); at most ``batch_size`` crops per forward pass."""

    model = "facenet-vggface2"
    dimension = 512

    def __init__(self, network: InceptionResnetV1, batch_size: int = EMBED_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, not {batch_size}")
        self._network = fused_for_inference(network)
        self.batch_size = batch_size

    @classmethod
    def from_weights(cls, path: str | Path | None = None) -> FacenetEmbedder:
        """The VGGFace2 network from its checked weights file (``path``, else the default place);
        ``RANDOM_WEIGHTS`` gives the same architecture with random weights, for timing only."""
        if str(path) == RANDOM_WEIGHTS:
            logger.warning("facenet-vggface2 with RANDOM weights: for timing only, its vectors identify nobody")
            torch.manual_seed(0)
            return cls(InceptionResnetV1())
        state = vggface2_state_dict(path)
        with torch.device("meta"):  # no random initialisation to throw away: the file assigns every tensor
            network = InceptionResnetV1(classes=VGGFACE2_CLASSES)
        network.load_state_dict(state, assign=True)
        return cls(network)

    def embed(self, crops: Sequence[Image.Image]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dimension), dtype=np.float32)
        check_crops(crops, CROP_SIZE)
        return l2_normalise(np.concatenate([self._forward(chunk) for chunk in chunks(crops, self.batch_size)]))

    def _forward(self, crops: Sequence[Image.Image]) -> np.ndarray:
        """One forward pass: (n, 160, 160) RGB crops -> (n, 512) raw float32 vectors."""
        pixels = torch.from_numpy(np.stack([np.asarray(c, dtype=np.float32) for c in crops])).permute(0, 3, 1, 2)
        batch = ((pixels - 127.5) / 128.0).contiguous(memory_format=torch.channels_last)  # fixed_image_standardization
        with torch.inference_mode():
            vectors: np.ndarray = self._network(batch).numpy()
        return vectors
