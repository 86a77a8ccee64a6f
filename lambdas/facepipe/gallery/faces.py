"""The gallery's vocabulary: a face to place (``FaceToResolve``), who it is (``Placement``), the
metadata of an indexed face, and where the faces that are not a person are kept."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from facepipe.detection.quality import FaceQuality
from facepipe.matching import Decision
from facepipe.people import Person, face_id_for

if TYPE_CHECKING:
    from collections.abc import Sequence

#: how often a face is placed before its record fails (an erased person's leftovers were dropped, or
#: its person went away before its write): the one retry loop, ``recognition.placing.Placing.place``
PLACEMENT_TRIES = 5


def negatives_namespace(namespace: str) -> str:
    """Where the faces people said are not a person are (``facepipe.operations.not_this_person``)."""
    return f"{namespace}-negatives"


class PlacementError(RuntimeError):
    """A face could not be placed after ``PLACEMENT_TRIES`` (the gallery kept changing under it):
    transient, SQS delivers the record again."""


@dataclass(frozen=True)
class FaceToResolve:
    """A face to place: where it was seen (request, the image's SHA-256, its index), its
    embedding, crop and quality."""

    request_id: str
    index: int
    box: Sequence[float]
    vector: np.ndarray
    crop: Image.Image
    source: str
    quality: FaceQuality
    image_digest: str = ""

    @property
    def face_id(self) -> str:
        return face_id_for(self.request_id, self.image_digest, self.index)


@dataclass(frozen=True)
class Placement:
    """Who a face is: ``person_id`` (None: unknown), whether it makes a new person, whether it
    joins its person's indexed faces."""

    decision: Decision
    person_id: str | None
    new_person: bool = False
    indexed: bool = False
    person: Person | None = None  # the profile read while placing (present then), when one was
    review_group: str = ""  # an unknown face kept for review: its group

    def erased(self) -> Placement:
        """This face belongs to an erased person: unknown, nothing of it kept or named."""
        return Placement(replace(self.decision, kind="unknown", person_id=None, reason="erased"), None)

    def in_review(self, group: str) -> Placement:
        """This face is unknown and kept for review, in ``group``."""
        return Placement(replace(self.decision, kind="unknown", person_id=None), None, review_group=group)


def indexed_metadata(
    person_id: str, source: str, request_id: str, model: str, preprocessing: str, *, enrolled: bool, band: str, size: float
) -> dict[str, Any]:
    """What the index keeps with one of a person's faces (what matching reads back: ``Candidate``)."""
    return {
        "person_id": person_id,
        "source": source,
        "request_id": request_id,
        "model": model,
        "preprocessing": preprocessing,
        "enrolled": enrolled,
        "band": band,
        "size": round(size, 1),
    }
