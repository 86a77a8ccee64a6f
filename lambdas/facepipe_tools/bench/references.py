"""The references facepipe's compute per frame is compared with, on the same frames and threads:
(a) the naive seed-003 way, facenet-pytorch's ``MTCNN`` on the full frame then one
``InceptionResnetV1`` call per face; (b) seed 000's library, ``face_recognition`` (HOG + dlib; the
``bench`` extra); timed interleaved with facepipe's (``paired_frame_times``)."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facepipe_tools.bench.measuring import summary, timed
from facepipe_tools.bench.report import ReferenceTiming
from facepipe_tools.bench.stages import facepipe_frame
from facepipe_tools.report import progress_bar

if TYPE_CHECKING:
    from facepipe.detection import FaceDetector
    from facepipe.embedding import Embedder


def naive_reference(weights: str) -> Callable[[bytes], None]:
    """Reference (a), seed 003's way: facenet-pytorch's ``MTCNN(keep_all=True)`` on the full frame (its
    defaults: 20 px smallest face, 160 px crops), then one ``InceptionResnetV1`` call per face; one frame a call."""
    import torch
    from facenet_pytorch import MTCNN, InceptionResnetV1
    from PIL import Image

    from facepipe.embedding.build.onnx_export import vggface2_state_dict
    from facepipe.embedding.facenet import RANDOM_WEIGHTS

    mtcnn = MTCNN(keep_all=True, device="cpu")
    network = InceptionResnetV1(pretrained=None, classify=False).eval()
    if weights != RANDOM_WEIGHTS:
        state = vggface2_state_dict(weights or None)
        network.load_state_dict({name: tensor for name, tensor in state.items() if not name.startswith("logits.")})

    def one(content: bytes) -> None:
        image = Image.open(io.BytesIO(content)).convert("RGB")
        faces = mtcnn(image)
        with torch.inference_mode():
            for face in faces if faces is not None else []:
                network(face.unsqueeze(0))

    return one


def face_recognition_reference() -> Callable[[bytes], None]:
    """Reference (b), seed 000's library: ``face_recognition`` (HOG locations, then dlib encodings); one frame a call."""
    face_recognition = face_recognition_library()

    def one(content: bytes) -> None:
        image = face_recognition.load_image_file(io.BytesIO(content))
        face_recognition.face_encodings(image, face_recognition.face_locations(image))

    return one


def paired_frame_times(
    pipelines: dict[str, Callable[[bytes], object]], frames: Sequence[tuple[str, bytes]], repeats: int, progress: bool = True
) -> dict[str, list[float]]:
    """ms per frame of each pipeline, interleaved: every frame goes through all of them in turn (the
    order rotating from frame to frame), ``repeats`` passes, after one warm-up call each. A machine
    whose speed drifts over minutes then slows every pipeline alike, and their ratio holds."""
    for one in pipelines.values():
        one(frames[0][1])  # lazy loads, allocator
    names = list(pipelines)
    times: dict[str, list[float]] = {name: [] for name in names}
    bar = progress_bar(repeats * len(frames), "facepipe and the references, interleaved", progress, unit="frame")
    for turn in range(repeats * len(frames)):
        content = frames[turn % len(frames)][1]
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            times[name].append(timed(pipelines[name], content)[1])
        bar.update()
    bar.close()
    return times


def face_recognition_library() -> Any:
    """The ``face_recognition`` package, loaded from its installed files: its name is also the
    recognition handler's folder (``lambdas/face_recognition``), which comes first on the path."""
    import importlib.metadata
    import importlib.util
    import warnings

    try:
        init = Path(str(importlib.metadata.distribution("face_recognition").locate_file("face_recognition/__init__.py")))
    except importlib.metadata.PackageNotFoundError as exc:
        raise ImportError("face_recognition is not installed") from exc
    name = "_face_recognition_library"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load face_recognition from {init}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    from PIL import ImageFile

    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
        spec.loader.exec_module(module)
    ImageFile.LOAD_TRUNCATED_IMAGES = truncated  # face_recognition turns it on for the whole process
    return module


def reference_timing(
    detector: FaceDetector, embedder: Embedder, weights: str, frames: Sequence[tuple[str, bytes]], repeats: int, progress: bool
) -> ReferenceTiming:
    """facepipe's compute per frame (with ``embedder``) and both references', interleaved on ``frames``;
    (b) is left out, said why, when ``face_recognition`` is not installed."""
    pipelines: dict[str, Callable[[bytes], object]] = {"ours": facepipe_frame(detector, embedder), "naive": naive_reference(weights)}
    error = None
    try:
        pipelines["face_recognition"] = face_recognition_reference()
    except ImportError as exc:
        error = f"face_recognition not installed (pip install 'facepipe[bench]'): {exc}"
    times = {name: summary(values) for name, values in paired_frame_times(pipelines, frames, repeats, progress).items()}
    paired = f"interleaved frame by frame, {repeats} passes"
    return ReferenceTiming(embedder.model, paired, times["ours"], times["naive"], times.get("face_recognition", summary([])), error)
