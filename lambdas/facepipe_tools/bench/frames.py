"""The frames a bench run measures (``FrameSet``) and the facenet-vggface2 weights it exports."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facepipe.detection import FaceDetector
    from facepipe_tools.sets import LabelledSet


def weights_setting() -> tuple[str, bool]:
    """(the VGGFace2 weights to export and to give reference (a), whether they are real):
    ``FACENET_WEIGHTS_PATH`` when it names the ``.pt`` file, else its default place ("" means it),
    else random weights. An exported ``.onnx`` there is not what the bench needs: it exports the
    weights itself, as the image build does, and reference (a) loads them into facenet-pytorch."""
    from facepipe.embedding.facenet import RANDOM_WEIGHTS
    from facepipe.embedding.weights import default_weights_path

    configured = os.environ.get("FACENET_WEIGHTS_PATH", "")
    if configured == RANDOM_WEIGHTS:
        return RANDOM_WEIGHTS, False
    if configured and not configured.endswith(".onnx") and Path(configured).is_file():
        return configured, True
    if default_weights_path().is_file():
        return "", True
    return RANDOM_WEIGHTS, False


# --- frames ----------------------------------------------------------------------------------


def exported_model(weights: str, folder: Path) -> str:
    """The ONNX file the functions load, exported from ``weights`` (``RANDOM_WEIGHTS`` or a .pt file)
    into ``folder`` as the image build does (docker/base.Dockerfile, stage ``export``)."""
    from facepipe.embedding.build.onnx_export import export
    from facepipe.embedding.facenet import ONNX_NAME

    return str(export(folder / ONNX_NAME, weights or None))


@dataclass
class FrameSet:
    name: str
    frames: list[tuple[str, bytes]]  # what is measured in process and by the references
    grader_frames: list[tuple[str, bytes]]  # what the grader-shaped run sends (downscaled when asked)
    vga: tuple[str, bytes]  # one 640x480 frame with one face
    enroll: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)


def frame_set(labelled: LabelledSet, detector: FaceDetector, downscale: int | None) -> FrameSet:
    """The probes of ``labelled``; with ``downscale``, every face found in them with its context in an
    NxN frame (as ``facepipe eval --downscale``); a 640x480 one-face frame from the first one-face probe."""
    from facepipe.images import encode_jpeg, open_image
    from facepipe_tools.downscale import face_fraction
    from facepipe_tools.scenes import camera_frame, context_frame

    frames = [(p.filename, p.content) for p in labelled.probes]
    grader: list[tuple[str, bytes]] = []
    vga: tuple[str, bytes] | None = None
    for filename, content in frames:
        photo = open_image(content, 200_000_000)
        faces = detector.detect(photo)
        if vga is None and len(faces) == 1:
            vga = (f"{filename}.640x480.jpg", encode_jpeg(camera_frame(photo, faces[0].box, 120, 640).crop((0, 80, 640, 560))))
        if downscale:
            for i, face in enumerate(faces):
                frame, _ = context_frame(photo, face.box, face_fraction(f"{filename}#{i}"), downscale)
                grader.append((f"{filename}.face{i}.{downscale}px.jpg", encode_jpeg(frame)))
    if vga is None:
        raise ValueError(f"{labelled.name}: no probe with exactly one face to make the 640x480 frame from")
    name = labelled.name + (f", grader frames {downscale}x{downscale}" if downscale else "")
    return FrameSet(name, frames, grader or frames, vga, dict(labelled.enroll))
