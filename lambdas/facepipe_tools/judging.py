"""How eval judges one probe: which response face is which expected face, and what each one got.

Each expected face of a probe gets a category:

* ``correct``: the expected name;
* ``wrong name``: an enrolled name that is not the expected one (the worst answer);
* ``new person``: a face given a person nobody enrolled (for an enrolled person's face, a
  split; for a stranger's face, the right answer);
* ``unknown``: ``person_id: null`` (too poor to place, matching nobody);
* ``no face``: the pipeline did not report the face.

A stranger's face (and the face of a labelled name nobody enrolled) is fine as
``new person``, ``unknown`` or ``no face``; an enrolled name on it is a ``wrong name``.

Which response face is which expected face: by box, against the in-process full-size
detection of the same frame (IoU >= 0.3, best overlaps first) — the same detector on the same
bytes, so when both find the same faces this is left-to-right order. What is left on both
sides is paired left to right; expected faces still left are ``no face``; response faces
still left are judged as strangers' faces (an enrolled name there is a wrong name). In a
downscaled frame, a neighbour face the context happens to show is judged only when the
pipeline reports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facepipe_tools.labelling import MIN_IOU, iou
from facepipe_tools.sets import ExpectedFace, Probe

if TYPE_CHECKING:
    from facepipe.messages import FaceResult, ResponseMessage

CATEGORIES = ("correct", "wrong name", "new person", "unknown", "no face")
#: categories that are the right answer for a stranger's face
STRANGER_OK = ("new person", "unknown", "no face")
STRANGER = "stranger"


@dataclass(frozen=True)
class FaceVerdict:
    """One expected (or unexpected) face of a probe and what the pipeline said about it."""

    expected: str | None  # the labelled name; None: a stranger
    known: bool  # the expected name is enrolled
    got: str | None  # the response's name ("" for unknown); None: not reported
    category: str
    similarity: float | None = None
    band: str | None = None  # the response face's quality band
    extra: bool = False  # a response face no required expected face accounts for

    @property
    def row(self) -> str:
        return self.expected if self.known and self.expected else STRANGER

    def column(self, enrolled: set[str]) -> str:
        if self.got is None:
            return "no face"
        if self.got == "":
            return "unknown"
        return self.got if self.got in enrolled else "new"

    @property
    def label(self) -> str:
        who = self.expected if self.expected else STRANGER
        return f"{'+' if self.extra else ''}{who}: {self.category}"


def categorize(expected: str | None, enrolled: set[str], face: FaceResult | None) -> str:
    if face is None:
        return "no face"
    if not face.get("person_id"):
        return "unknown"
    name = face.get("name", "")
    if name in enrolled:
        return "correct" if name == expected else "wrong name"
    return "new person"


def _centre(box: Sequence[float]) -> float:
    return (float(box[0]) + float(box[2])) / 2


Pair = tuple[ExpectedFace | None, "FaceResult | None"]


def match_faces(expected: Sequence[ExpectedFace], faces: Sequence[FaceResult]) -> list[Pair]:
    """Pairs of (expected face, response face) as the module docstring says."""
    pairs: list[Pair] = []
    overlaps = sorted(
        ((iou(e.box, f["box"]), i, j) for i, e in enumerate(expected) if e.box is not None for j, f in enumerate(faces)),
        reverse=True,
    )
    used_expected: set[int] = set()
    used_faces: set[int] = set()
    for overlap, i, j in overlaps:
        if overlap < MIN_IOU:
            break
        if i in used_expected or j in used_faces:
            continue
        used_expected.add(i)
        used_faces.add(j)
        pairs.append((expected[i], faces[j]))
    left_expected = [e for i, e in enumerate(expected) if i not in used_expected and e.required]
    left_expected.sort(key=lambda e: (e.box is None, _centre(e.box) if e.box else 0.0))
    left_faces = sorted((f for j, f in enumerate(faces) if j not in used_faces), key=lambda f: _centre(f["box"]))
    for k in range(max(len(left_expected), len(left_faces))):
        pairs.append((left_expected[k] if k < len(left_expected) else None, left_faces[k] if k < len(left_faces) else None))
    # in the labels' order; response faces nobody expected last, left to right
    position = {id(e): i for i, e in enumerate(expected)}

    def order(pair: Pair) -> tuple[int, float]:
        want, face = pair
        if want is not None:
            return position[id(want)], 0.0
        assert face is not None  # a pair always holds at least one face
        return len(expected), _centre(face["box"])

    return sorted(pairs, key=order)


def judge_faces(probe: Probe, response: ResponseMessage | None, enrolled: set[str]) -> list[FaceVerdict]:
    """A verdict per expected face of ``probe`` (and per response face nobody expected)."""
    expected = list(probe.faces) or [ExpectedFace(n) for n in probe.expect] + [ExpectedFace(None)] * probe.unknown
    faces = list(response.get("faces", [])) if response else []
    verdicts = []
    for want, face in match_faces(expected, faces):
        name = want.name if want is not None else None
        band = face.get("quality", {}).get("band") if face is not None else None
        verdicts.append(
            FaceVerdict(
                expected=name,
                known=name in enrolled,
                got=None if face is None else (face.get("name", "") if face.get("person_id") else ""),
                category=categorize(name, enrolled, face),
                similarity=None if face is None else face.get("similarity"),
                band=None if band is None else str(band),
                extra=want is None or not want.required,
            )
        )
    return verdicts
