"""``facepipe calibrate``: how similar faces of one person and of different people are, by
size and quality band, and what the model's thresholds (``embedding.models.calibration_for``) do.

In process, no stack. For every labelled face of the given sets (``labelling.FaceLabeller``;
the same name in two sets is one person; a stranger's face is nobody enrolled, and a pair of
two strangers' faces is left out of the statistics, ``pairs.pairs_of``), the camera's
degradations are built from the photo (``scenes.context_frame``): the face at 16, 20 and 24 px
in 64x64 frames, at 32, 48, 64 and 96 px in frames 3x the face, and the 32 and
64 px frames blurred (Gaussian, radius px/32) and JPEG-damaged (quality 15), each only when
the photo's face is larger. Each variant goes through the pipeline's detection (the detected
face overlapping the known box), ``quality.assess``, crop and embedding.

The numbers, the open-set simulation and the edges are the report's
(``calibration_report.CalibrationReport``).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from PIL import Image, ImageFilter

from facepipe.embedding.models import calibration_for
from facepipe.images import encode_jpeg
from facepipe_tools.calibration_report import CalibrationReport, band_tails, size_tails
from facepipe_tools.labelling import FaceLabeller, LabelledFace
from facepipe_tools.pairs import pairs_of
from facepipe_tools.report import progress_bar
from facepipe_tools.scenes import context_frame
from facepipe_tools.sets import LabelledSet
from facepipe_tools.simulation import OpenSet, edges


@dataclass(frozen=True)
class Variant:
    name: str
    face_px: int
    frame_px: int
    degrade: Literal["", "blur", "jpeg"] = ""


VARIANTS: tuple[Variant, ...] = (
    Variant("16px", 16, 64),
    Variant("20px", 20, 64),
    Variant("24px", 24, 64),
    Variant("32px", 32, 96),
    Variant("48px", 48, 144),
    Variant("64px", 64, 192),
    Variant("96px", 96, 288),
    Variant("32px blur", 32, 96, "blur"),
    Variant("32px jpeg15", 32, 96, "jpeg"),
    Variant("64px blur", 64, 192, "blur"),
    Variant("64px jpeg15", 64, 192, "jpeg"),
)


def degrade(frame: Image.Image, variant: Variant) -> Image.Image:
    if variant.degrade == "blur":
        return frame.filter(ImageFilter.GaussianBlur(variant.face_px / 32))
    if variant.degrade == "jpeg":
        return Image.open(io.BytesIO(encode_jpeg(frame, quality=15))).convert("RGB")
    return frame


def measure_variants(
    faces: Sequence[LabelledFace],
    images: dict[tuple[str, str], bytes],
    labeller: FaceLabeller,
    variants: Sequence[Variant] = VARIANTS,
    progress: bool = False,
) -> tuple[list[LabelledFace], Counter[str]]:
    """Every variant of every face that the detector finds again (``file`` stays the photo's,
    so pairs of one photo's variants are never compared). Also: variants tried, per name."""
    tasks = [(f, v) for f in faces for v in variants if v.face_px < f.face.size]
    tried = Counter(v.name for _, v in tasks)
    found: list[LabelledFace] = []
    bar = progress_bar(len(tasks), "degraded variants", progress, unit="face")
    photo_key: tuple[str, str] | None = None
    photo: Image.Image | None = None
    for face, variant in sorted(tasks, key=lambda t: (t[0].set_name, t[0].origin)):
        bar.update()
        key = (face.set_name, face.origin)
        if key != photo_key:
            photo_key, photo = key, labeller.open(images[key], face.origin)
        assert photo is not None
        frame, square = context_frame(photo, face.face.box, variant.face_px / variant.frame_px, variant.frame_px)
        measured = labeller.find(degrade(frame, variant), square.map(face.face.box))
        if measured is not None:
            detected, quality, vector = measured
            found.append(replace(face, face=detected, quality=quality, vector=vector, variant=variant.name))
    bar.close()
    return found, tried


def run_calibration(
    sets: Sequence[LabelledSet],
    labeller: FaceLabeller,
    model: str,
    command: str = "facepipe calibrate",
    progress: bool = False,
    variants: Sequence[Variant] = VARIANTS,
) -> CalibrationReport:
    calibration = calibration_for(model)
    faces: list[LabelledFace] = []
    images: dict[tuple[str, str], bytes] = {}
    warnings: list[str] = []
    for labelled in sets:
        labelling = labeller.label(labelled, progress=progress)
        faces += labelling.faces
        warnings += labelling.warnings
        images.update(((labelled.name, name), data) for name, data in labelled.images().items())
    found, tried = measure_variants(faces, images, labeller, variants, progress)
    everything = faces + found
    pairs = pairs_of(everything, file_of=lambda f: f"{f.set_name}\0{f.origin}")
    found_by = Counter(f.variant for f in found)
    simulation = OpenSet(everything)
    return CalibrationReport(
        command=command,
        model=model,
        sets=[s.name for s in sets],
        calibration=calibration,
        faces=len(faces),
        identities=len({f.identity for f in faces}),
        variants={"full": (len(faces), len(faces)), **{v.name: (found_by[v.name], tried[v.name]) for v in variants}},
        size=size_tails(pairs),
        band=band_tails(pairs, calibration),
        simulation=simulation.run(calibration),
        edges=edges(simulation, calibration, progress),
        pairs=pairs,
        warnings=warnings,
    )
