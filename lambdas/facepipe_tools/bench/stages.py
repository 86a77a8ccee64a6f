"""Stages in process: each stage of a frame timed per model, facepipe's compute of one frame (what
the references are compared with), and a query of the embedded index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from facepipe_tools.bench.measuring import summary, timed
from facepipe_tools.bench.report import StageTiming
from facepipe_tools.report import progress_bar

if TYPE_CHECKING:
    from PIL import Image

    from facepipe.detection import FaceDetector
    from facepipe.embedding import Embedder


def stage_timings(
    frames: Sequence[tuple[str, bytes]], detector: FaceDetector, embedder: Embedder, repeats: int = 3, progress: bool = True
) -> StageTiming:
    """Per stage, ms over ``repeats`` passes of ``frames``: decode, detect, align/crop (per face), embed
    per face and per batch of 10 crops, and ``frame`` = the compute of one frame (decode, detect, crop,
    one embed call for its faces)."""
    from facepipe.images import open_image

    stages: dict[str, list[float]] = {"decode": [], "detect": [], "align_crop": [], "embed_face": [], "embed_batch10": [], "frame": []}
    crops: list[Image.Image] = []
    faces = 0
    bar = progress_bar(repeats * len(frames), f"stages {embedder.model}", progress, unit="frame")
    embedder.embed([embedder.crop(open_image(frames[0][1], 200_000_000), detector.detect(open_image(frames[0][1], 200_000_000))[0])])
    for repeat in range(repeats):
        for _, content in frames:
            frame, decode_ms = timed(open_image, content, 200_000_000)
            found, detect_ms = timed(detector.detect, frame)
            crop_ms = 0.0
            frame_crops = []
            for face in found:
                crop, ms = timed(embedder.crop, frame, face)
                frame_crops.append(crop)
                stages["align_crop"].append(ms)
                crop_ms += ms
            _, embed_ms = timed(embedder.embed, frame_crops) if frame_crops else (None, 0.0)
            stages["decode"].append(decode_ms)
            stages["detect"].append(detect_ms)
            stages["frame"].append(decode_ms + detect_ms + crop_ms + embed_ms)
            if repeat == 0:
                crops += frame_crops
                faces += len(found)
            bar.update()
    bar.close()
    for crop in crops * repeats:
        stages["embed_face"].append(timed(embedder.embed, [crop])[1])
    batches = [[crops[(i + j) % len(crops)] for j in range(10)] for i in range(0, max(len(crops), 10) * repeats, 10)]
    for batch in batches[: max(3, repeats * 2)]:
        stages["embed_batch10"].append(timed(embedder.embed, batch)[1])
    return StageTiming(faces, len(frames), **{name: summary(values) for name, values in stages.items()})


def facepipe_frame(detector: FaceDetector, embedder: Embedder) -> Callable[[bytes], None]:
    """facepipe's compute of one frame, as ``stage_timings`` adds it up: decode, detect, crop, one embed call."""
    from facepipe.images import open_image

    def one(content: bytes) -> None:
        frame = open_image(content, 200_000_000)
        crops = [embedder.crop(frame, face) for face in detector.detect(frame)]
        if crops:
            embedder.embed(crops)

    return one


def index_query_times(size: int, dimension: int, queries: int = 300, seed: int = 0) -> list[float]:
    """ms per ``query(top_k=10)`` on the embedded index holding ``size`` random unit vectors."""
    import numpy as np

    from facepipe.index._base import Vector
    from facepipe.index.embedded import EmbeddedIndex

    rng = np.random.default_rng(seed)
    index = EmbeddedIndex(dimension)
    for start in range(0, size, 10_000):
        values = rng.standard_normal((min(10_000, size - start), dimension)).astype(np.float32)
        index.upsert([Vector(f"face-{start + i}", v, {"person_id": f"person-{(start + i) // 5}"}) for i, v in enumerate(values)], "bench")
    probes = rng.standard_normal((queries, dimension)).astype(np.float32)
    index.query(probes[0], 10, "bench")
    return [timed(index.query, v, 10, "bench")[1] for v in probes]
