"""The review's vocabulary: a kept face, a group, their ids and namespace, a listing's cursor."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facepipe.people.items import from_item
from facepipe.vectors import decode_vector

_GROUPS = uuid.UUID("7d1c0e4a-5a0b-4f3e-9a7e-2f1a8c6b5d40")


def review_namespace(namespace: str) -> str:
    return f"{namespace}-review"


def group_id_for(face_id: str) -> str:
    """A group's id: from the face that started it (a repeat starts the same group)."""
    return uuid.uuid5(_GROUPS, face_id).hex[:20]


@dataclass(frozen=True)
class ReviewFace:
    """A face kept for review, in its group."""

    face_id: str
    group_id: str
    request_id: str
    image_digest: str
    face_index: int
    source: str
    box: Sequence[float]
    quality: Mapping[str, Any]
    created_at: str
    vector: np.ndarray = field(repr=False)
    similarity: float = 0.0  # to the group's face it joined (0 for the face that started it)

    @classmethod
    def from_item(
        cls, item: Mapping[str, Any], *, group_id: str = "", created_at: str = "", vector: np.ndarray | None = None
    ) -> ReviewFace:
        """A review face from its item, or from a person's face item given the ``group_id`` it
        starts, its ``created_at`` and ``vector`` (its similarity then 0: it joined no face)."""
        data = from_item(item)
        return cls(
            str(data["face_id"]),
            group_id or str(data["group_id"]),
            str(data["request_id"]),
            str(data.get("image_digest", "")),
            int(data["face_index"]),
            str(data.get("source", "default")),
            data.get("box", []),
            data.get("quality") or {},
            created_at or str(data.get("created_at", "")),
            decode_vector(str(data["vector"])) if vector is None else vector,
            0.0 if group_id else float(data.get("similarity", 0.0)),
        )

    @property
    def band(self) -> str:
        return str(self.quality.get("band", "poor"))


@dataclass(frozen=True)
class ReviewGroup:
    """A review group: its size, when it was seen, where, the face shown for it."""

    group_id: str
    size: int
    first_seen: str
    last_seen: str
    sources: tuple[str, ...]
    cover: str  # the face shown for the group

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ReviewGroup:
        data = from_item(item)
        return cls(
            str(data["group_id"]),
            int(data.get("size", 0)),
            str(data.get("first_seen", "")),
            str(data.get("last_seen", "")),
            tuple(sorted(data.get("sources") or ())),
            str(data.get("cover", "")),
        )


def encode_cursor(key: Mapping[str, Any]) -> str:
    """A listing's next page, as a URL-safe string (the last item's keys)."""
    return base64.urlsafe_b64encode(json.dumps(dict(key), default=str).encode()).decode("ascii")


def decode_cursor(cursor: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(cursor.encode("ascii"))))
