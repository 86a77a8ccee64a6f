"""What a person, a face and a tag are, and how they are written to and read from DynamoDB items.

DynamoDB has no float: numbers go in as ``Decimal`` and come back as int or float; ``None``
values are left out of items (an absent attribute reads the same).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from facepipe.people import keys


def to_item(value: Any) -> Any:
    """Floats to Decimal, recursively, and None values out of mappings."""
    if isinstance(value, float):
        return Decimal(str(round(value, 6)))
    if isinstance(value, Mapping):
        return {k: to_item(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_item(v) for v in value]
    return value


def dict_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """An item to write: ``to_item`` of a mapping."""
    item: dict[str, Any] = to_item(values)
    return item


def from_item(value: Any) -> Any:
    """Decimal back to int or float, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: from_item(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_item(v) for v in value]
    return value


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str
    face_count: int = 0  # faces recorded (enrolled + sightings): from the presence shards, when read with them
    created_at: str = ""
    indexed_faces: int = 0  # faces of this person in the vector index (enrolled + confident sightings)
    merged_into: str | None = None  # a tombstone: this person was merged into that one
    deleting: bool = False  # an erasure has begun (``people delete``): recognition treats the person as gone
    last_seen: str = ""  # when the latest face was recorded: from the presence shards, when read with them
    negatives: int = 0  # faces people said are not this person (facepipe.operations.not_this_person)

    @property
    def present(self) -> bool:
        """A person recognition may name: neither merged away nor being erased."""
        return self.merged_into is None and not self.deleting

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Person:
        data = from_item(item)
        return cls(
            data["person_id"],
            data["name"],
            int(data.get("face_count", 0)),
            data.get("created_at", ""),
            int(data.get("indexed_faces", 0)),
            data.get("merged_into"),
            bool(data.get("deleting")),
            negatives=int(data.get("negatives", 0)),
        )

    def with_counts(self, shards: Sequence[Mapping[str, Any]]) -> Person:
        """This person with the counts its presence shards (``keys.shard_key`` items) hold."""
        counted = [from_item(s) for s in shards]
        seen = [str(s["last_seen"]) for s in counted if s.get("last_seen")]
        return dataclasses.replace(self, face_count=sum(int(s.get("faces", 0)) for s in counted), last_seen=max(seen, default=""))


def profile_item(person_id: str, name: str, created_from: str) -> dict[str, Any]:
    return {
        **keys.profile_key(person_id),
        "type": "person",
        "person_id": person_id,
        "name": name,
        "indexed_faces": 0,
        "created_at": now(),
        "created_from": created_from,
        "GSI1PK": keys.PEOPLE_PARTITION,
        "GSI1SK": keys.people_sort_key(name, person_id),
    }


@dataclass(frozen=True)
class FaceRecord:
    face_id: str
    person_id: str
    request_id: str
    face_index: int
    source: str
    box: Sequence[float]
    similarity: float
    model: str
    preprocessing: str
    indexed: bool
    crop_key: str = ""
    enrolled: bool = False
    quality: Mapping[str, Any] = field(default_factory=dict)
    image_digest: str = ""  # SHA-256 of the image the face is in: with request_id and face_index, its tag's key
    vector: str = ""  # its embedding (base64 float32), kept so a person can confirm it into the index later
    taught: str = ""  # "confirmed" or "assigned" by a person: a labelled pair (calibrate --from-review)

    def item(self) -> dict[str, Any]:
        return dict_item(
            {
                **keys.face_key(self.person_id, self.face_id),
                "type": "face",
                "face_id": self.face_id,
                "person_id": self.person_id,
                "request_id": self.request_id,
                "face_index": self.face_index,
                "source": self.source,
                "box": list(self.box),
                "similarity": self.similarity,
                "model": self.model,
                "preprocessing": self.preprocessing,
                "indexed": self.indexed,
                "enrolled": self.enrolled,
                "crop_key": self.crop_key or None,
                "quality": dict(self.quality) or None,
                "image_digest": self.image_digest or None,
                "vector": self.vector or None,
                "taught": self.taught or None,
                "created_at": now(),
            }
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any], person_id: str | None = None) -> FaceRecord:
        """The face an item describes (``person_id``: moved to another person)."""
        data = from_item(item)
        return cls(
            face_id=data["face_id"],
            person_id=person_id or data["person_id"],
            request_id=data["request_id"],
            face_index=data["face_index"],
            source=data.get("source", "default"),
            box=data.get("box", []),
            similarity=float(data.get("similarity", 1.0)),
            model=data.get("model", ""),
            preprocessing=data.get("preprocessing", ""),
            indexed=bool(data.get("indexed")),
            crop_key=data.get("crop_key", ""),
            enrolled=bool(data.get("enrolled")),
            quality=data.get("quality") or {},
            image_digest=data.get("image_digest", ""),
            vector=data.get("vector", ""),
            taught=data.get("taught", ""),
        )


@dataclass(frozen=True)
class Tag:
    index: int
    face_id: str
    person_id: str | None  # None: an unknown face (too poor to place, matching nobody)
    name: str
    similarity: float
    new_person: bool
    box: Sequence[float]
    quality: Mapping[str, Any] = field(default_factory=dict)
    review_group: str = ""  # an unknown face kept for review: its group

    def item(self, request_id: str, digest: str) -> dict[str, Any]:
        return dict_item(
            {
                **keys.tag_key(request_id, digest, self.index),
                "image_digest": digest,
                "type": "tag",
                "request_id": request_id,
                "face_index": self.index,
                "face_id": self.face_id,
                "person_id": self.person_id,
                "name": self.name,
                "unknown": self.person_id is None,
                "similarity": self.similarity,
                "new_person": self.new_person,
                "box": list(self.box),
                "quality": dict(self.quality) or None,
                "review_group": self.review_group or None,
            }
        )


def media_item(request_id: str, digest: str, filename: str, source: str, result: str, faces: int) -> dict[str, Any]:
    tagged_at = now()
    return dict_item(
        {
            **keys.meta_key(request_id, digest),
            "GSI1PK": keys.ACTIVITY_PARTITION,  # the latest frames and photos, newest first
            "GSI1SK": f"{tagged_at}#{request_id}#{digest[:16]}",
            "image_digest": digest,
            "type": "media",
            "request_id": request_id,
            "filename": filename,
            "source": source,
            "result": result,
            "faces": faces,
            "tagged_at": tagged_at,
        }
    )
