"""facenet-vggface2: facenet-pytorch's InceptionResnetV1 pretrained on VGGFace2 (512-d).

Crops follow what the weights were trained on (facenet-pytorch #62): MTCNN box plus
``margin=14`` at 160 px, no rotation, then ``fixed_image_standardization``. Crop, network
(``facepipe.embedding.build.inception_resnet_v1``) and standardisation are facenet-pytorch's,
restated so that no cold start imports it (and torchvision with it).

The network runs in onnxruntime, from the ONNX file the image build exports
(``facepipe.embedding.build.onnx_export``: batch norms folded, branch-opening convolutions
merged): the same vectors as facenet-pytorch's network (to ~1e-6), faster than torch running
the same network, and the recognition function's SQS path never imports torch (~2 s of a cold
start). Outside the image a ``.pt`` weights file loads too (``load_embedder``): the build
package exports it at INIT, which needs torch and ``onnx``.

``FACENET_WEIGHTS_PATH=random:timing-only`` builds the real architecture with random weights
(seeded): for timing where the VGGFace2 file is absent (``facepipe bench``); its vectors
identify nobody, so it logs a warning and must never serve real traffic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facepipe.detection import DetectedFace
from facepipe.embedding._base import EMBED_BATCH_SIZE, check_crops, chunks, l2_normalise
from facepipe.embedding.models import FACENET_VGGFACE2 as SPEC
from facepipe.embedding.weights import IMAGE_WEIGHTS_DIR, VGGFACE2, default_weights_path
from facepipe.exceptions import ModelUnavailableError
from facepipe.observability import child_logger

CROP_SIZE = 160
MARGIN = 14
#: the spec's id of these crops (160 px, margin 14): another geometry needs another id
PREPROCESSING = SPEC.preprocessing
#: FACENET_WEIGHTS_PATH value for the real architecture with random weights (timing only)
RANDOM_WEIGHTS = "random:timing-only"
#: the ONNX file the image bakes beside its weights (docker/base.Dockerfile, stage ``export``)
ONNX_NAME = f"{SPEC.name}.onnx"
#: metadata an exported ONNX file carries (``build.onnx_export``), checked at load
SOURCE_KEY, PREPROCESSING_KEY, MODEL_KEY = "facepipe.source", "facepipe.preprocessing", "facepipe.model"

logger = child_logger()


def default_onnx_path() -> Path | None:
    """The exported network where the image bakes it, else beside the weights' default place (``make weights``)."""
    for candidate in (IMAGE_WEIGHTS_DIR / ONNX_NAME, default_weights_path().with_name(ONNX_NAME)):
        if candidate.is_file():
            return candidate
    return None


def onnx_file_for(path: str | Path | None) -> Path | None:
    """The ONNX file ``FACENET_WEIGHTS_PATH`` names: itself when it ends in ``.onnx``; empty: the
    exported file where the image or ``make weights`` puts it. None: it names what needs exporting
    first (the ``.pt`` weights, ``RANDOM_WEIGHTS``; ``build.onnx_export.exported_embedder``)."""
    if not path:
        return default_onnx_path()
    return Path(path) if str(path).endswith(".onnx") else None


def load_embedder(weights_path: str = "", threads: int | None = None) -> FacenetEmbedder:
    """The embedder for ``FACENET_WEIGHTS_PATH``: an exported ``.onnx`` file (onnxruntime only, no
    torch: the image's), else the ``.pt`` weights or ``RANDOM_WEIGHTS`` exported here at load by
    the build package, which needs torch and ``onnx`` and which the function images leave out."""
    onnx_file = onnx_file_for(weights_path)
    if onnx_file is not None:
        return FacenetEmbedder(onnx_file, threads)
    try:
        from facepipe.embedding.build.onnx_export import exported_embedder
    except ImportError as exc:
        raise ModelUnavailableError(
            f"FACENET_WEIGHTS_PATH={weights_path!r} names weights to export at load, which needs "
            f"facepipe.embedding.build, torch and onnx ({exc}); set it to the exported .onnx file (make weights)"
        ) from exc
    return exported_embedder(weights_path or None, threads)


def expected_source() -> str:
    """What an ONNX file made from the pinned VGGFace2 weights records as its source."""
    return f"sha256:{VGGFACE2.sha256}"


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
    """``embed(crops) -> (n, 512)`` unit vectors. ``model`` is the ONNX file (path or bytes) that
    ``build.onnx_export`` writes; it is run by onnxruntime on ``threads`` threads (default: the machine's
    cores), at most ``batch_size`` crops per run."""

    model = SPEC.name
    dimension = SPEC.dimension

    def __init__(self, model: Path | bytes, threads: int | None = None, batch_size: int = EMBED_BATCH_SIZE) -> None:
        import onnxruntime

        if batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, not {batch_size}")
        if isinstance(model, Path) and not model.is_file():
            raise ModelUnavailableError(f"{model} not found: export it with `make weights` (or set FACENET_WEIGHTS_PATH to it)")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # no busy-waiting between runs: the records' threads (boto3, Powertools) share these vCPUs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: its warnings go to stderr, not to the function's log
        try:
            self._session: Any = onnxruntime.InferenceSession(
                model if isinstance(model, bytes) else str(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
            raise ModelUnavailableError(
                f"{model if isinstance(model, Path) else 'the ONNX model'} is not a model onnxruntime can load: {exc}"
            ) from exc
        self._check(self._session.get_modelmeta().custom_metadata_map, model)
        self.batch_size = batch_size

    @staticmethod
    def _check(metadata: dict[str, str], model: Path | bytes) -> None:
        where = model if isinstance(model, Path) else "the ONNX model"
        source, preprocessing = metadata.get(SOURCE_KEY), metadata.get(PREPROCESSING_KEY)
        if source is None or preprocessing is None:
            raise ModelUnavailableError(f"{where} is not facepipe's export: make it with `python -m facepipe.embedding.build.onnx_export`")
        if metadata.get(MODEL_KEY) != FacenetEmbedder.model:
            raise ModelUnavailableError(f"{where} is a {metadata.get(MODEL_KEY)!r} model, not {FacenetEmbedder.model!r}")
        if preprocessing != PREPROCESSING:
            raise ModelUnavailableError(f"{where} expects crops {preprocessing!r}, not {PREPROCESSING!r}: export it again (make weights)")
        if source == RANDOM_WEIGHTS:
            logger.warning(f"{SPEC.name} with RANDOM weights: for timing only, its vectors identify nobody")
        elif source != expected_source():
            raise ModelUnavailableError(
                f"{where} was exported from {source!r}, not the pinned VGGFace2 weights: export it again (make weights)"
            )

    def embed(self, crops: Sequence[Image.Image]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dimension), dtype=np.float32)
        check_crops(crops, CROP_SIZE)
        return l2_normalise(np.concatenate([self._forward(chunk) for chunk in chunks(crops, self.batch_size)]))

    def _forward(self, crops: Sequence[Image.Image]) -> np.ndarray:
        """One run: (n, 160, 160) RGB crops -> (n, 512) raw float32 vectors."""
        pixels = np.stack([np.asarray(c, dtype=np.float32) for c in crops]).transpose(0, 3, 1, 2)
        batch = np.ascontiguousarray((pixels - 127.5) / 128.0, dtype=np.float32)  # fixed_image_standardization
        vectors: np.ndarray = self._session.run(None, {"crops": batch})[0]
        return vectors
