"""What recognition answers about a frame or photo, and how it is counted and tagged.

``Recognised``: a record's response and the image it answers; ``ImageRef``: the image a response
is about; ``face_result``: a placed face as the response lists it; ``tag_of``: the tag a result
is stored as; ``quality_of_entry``: a request message's face quality.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from PIL import Image

from facepipe.detection.quality import FaceQuality, band_of, pose
from facepipe.detection.quality import sharpness as sharpness_of
from facepipe.gallery import FaceToResolve, Placement
from facepipe.messages import FaceEntry, FaceResult, RequestMessage, ResponseMessage, encode
from facepipe.observability import Metric, MetricUnit, metrics
from facepipe.people import Tag


def quality_of_entry(face: FaceEntry, crop: Image.Image) -> FaceQuality:
    """The quality detection measured; for a message without it, an estimate from the entry and
    the crop (sharpness of an aligned crop reads lower than on the frame: it errs to the strict side)."""
    if isinstance(face.get("quality"), dict):
        return FaceQuality.from_dict(face["quality"])
    x1, y1, x2, y2 = (float(v) for v in face["box"])
    size = max(0.0, min(x2 - x1, y2 - y1))
    sharp, brightness = sharpness_of(crop, (0, 0, crop.width, crop.height))
    try:
        yaw, pitch, roll = pose(tuple((float(x), float(y)) for x, y in face["landmarks"]))
    except (KeyError, TypeError, ValueError):
        yaw = pitch = roll = 0.0
    return FaceQuality(size, float(face.get("score", 0.0)), sharp, yaw, pitch, roll, brightness, band_of(size, sharp, yaw, pitch))


@dataclass(frozen=True)
class Recognised:
    """A record's response, the SHA-256 of its image and the source that sent it (with the
    request_id, what it answers)."""

    response: ResponseMessage
    digest: str
    source: str = "default"

    def as_dict(self) -> dict[str, Any]:
        return {"response": dict(self.response), "digest": self.digest, "source": self.source}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Recognised:
        return cls(stored["response"], stored["digest"], stored.get("source", "default"))


@dataclass(frozen=True)
class ImageRef:
    """The image a response is about: the request_id it came with, its SHA-256, file name and source."""

    request_id: str
    digest: str
    filename: str
    source: str


def image_digest(message: RequestMessage) -> str:
    """The SHA-256 of the frame detection saw; for a sender that did not state it, one of the
    faces it sent (a redelivery gives the same, another image with the same request_id does not)."""
    stated = message.get("image", {}).get("sha256")
    return stated or hashlib.sha256(encode(message["faces"]).encode()).hexdigest()


def tag_of(result: FaceResult) -> Tag:
    return Tag(
        result["index"],
        result.get("face_id", ""),
        result["person_id"],
        result["name"],
        result["similarity"],
        result["new_person"],
        result["box"],
        result.get("quality", {}),
        result.get("review_group", ""),
    )


def face_result(face: FaceToResolve, placement: Placement) -> FaceResult:
    """A placed face as the response lists it (name filled in by ``finish``), counted in the metrics."""
    count(placement)
    result: FaceResult = {
        "index": face.index,
        "face_id": face.face_id,
        "box": [float(v) for v in face.box],
        "person_id": placement.person_id,
        "name": "",
        "similarity": round(placement.decision.similarity, 4),
        "new_person": placement.new_person,
        "quality": face.quality.as_dict(),
    }
    if placement.review_group:
        result["review_group"] = placement.review_group
    return result


def count(placement: Placement) -> None:
    decision, indexed = placement.decision, placement.indexed
    if decision.reason == "erased":
        metrics.add_metric(name=Metric.ERASED_FACES, unit=MetricUnit.Count, value=1)
    kind = Metric.NEW_PEOPLE if placement.new_person else {"match": Metric.FACES_MATCHED}.get(decision.kind, Metric.UNKNOWN_FACES)
    metrics.add_metric(name=kind, unit=MetricUnit.Count, value=1)
    if decision.kind == "match" and not placement.new_person:
        metrics.add_metric(name=Metric.SIMILARITY, unit=MetricUnit.NoUnit, value=round(decision.similarity, 4))
        if indexed:
            metrics.add_metric(name=Metric.SIGHTINGS_INDEXED, unit=MetricUnit.Count, value=1)
