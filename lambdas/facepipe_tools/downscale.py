"""The camera-sized version of a labelled set (``facepipe eval --downscale N``).

Every labelled face is cut out with its context, a square about 3x the face (the face covers
0.28-0.38 of the side, varied deterministically per face) and resized to ``size`` x ``size``:
at 64 the faces are ~18-25 px. An enrollment photo gives one frame of its largest face; a probe
gives one frame per labelled face, expecting ``[name]`` for an enrolled person's face and ``[]``
with one stranger otherwise.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from PIL import Image

from facepipe_tools.labelling import FaceLabeller, LabelledFace, Labelling
from facepipe_tools.report import progress_bar
from facepipe_tools.scenes import context_frame
from facepipe_tools.sets import Box, ExpectedFace, LabelledSet, Probe

#: a downscaled frame shows its face at this fraction of its side (varied per face)
FACE_FRACTION = (0.28, 0.38)


def face_fraction(key: str, low: float = FACE_FRACTION[0], high: float = FACE_FRACTION[1]) -> float:
    """A fraction in [low, high] fixed by ``key`` (same face, same frame, every run)."""
    digest = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return low + (high - low) * digest / 0xFFFFFFFF


def _derived_name(filename: str, size: int, index: int | None) -> str:
    stem = filename.rsplit(".", 1)[0] if "." in filename.rsplit("/", 1)[-1] else filename
    return f"{stem}.{size}px.jpg" if index is None else f"{stem}.face{index}.{size}px.jpg"


def downscale(labelling: Labelling, size: int, labeller: FaceLabeller, progress: bool = False) -> Labelling:
    """The camera-sized version of a labelled set (module docstring), its faces measured in the
    new frames. A probe frame expects its own face; another labelled face wholly inside it is
    a neighbour, judged only if the pipeline reports it. A face the detector misses in its
    frame is left out of ``faces`` (its frame is still probed)."""
    from facepipe.images import encode_jpeg

    source = labelling.set
    images = source.images()
    by_origin: dict[str, list[LabelledFace]] = {}
    for f in labelling.faces:
        by_origin.setdefault(f.origin, []).append(f)
    derived = LabelledSet(f"{source.name}, {size}x{size} frames")
    warnings = list(labelling.warnings)
    frames: list[tuple[LabelledFace, str, Image.Image, Box]] = []
    for origin, labelled in by_origin.items():
        photo = labeller.open(images[origin], origin)
        for f in labelled:
            frame, square = context_frame(photo, f.face.box, face_fraction(f"{origin}#{f.index}"), size)
            box = square.map(f.face.box)
            if f.role == "enroll":
                filename = _derived_name(origin, size, None)
                derived.enroll.setdefault(f.name or "", []).append((filename, encode_jpeg(frame)))
            else:
                filename = _derived_name(origin, size, f.index)
                neighbours = [
                    ExpectedFace(o.name, square.map(o.face.box), required=False)
                    for o in labelled
                    if o is not f and square.holds(o.face.box)
                ]
                expected = (ExpectedFace(f.name, box), *neighbours)
                derived.probes.append(Probe(filename, encode_jpeg(frame), (f.name,) if f.name else (), 0 if f.name else 1, expected))
            frames.append((f, filename, frame, box))
    faces: list[LabelledFace] = []
    bar = progress_bar(len(frames), f"faces at {size}x{size}", progress)
    for face, filename, frame, box in frames:
        bar.update()
        found = labeller.find(frame, box)
        if found is None:
            warnings.append(f"{filename}: the {face.name or 'stranger'} face is not found at {size}x{size}")
            continue
        detected, quality, vector = found
        faces.append(replace(face, file=filename, face=detected, quality=quality, vector=vector, variant=f"{size}px"))
    bar.close()
    return Labelling(derived, faces, warnings)
