"""The gallery: the people facepipe knows, and every face it holds of them.

A person's faces live in three places kept in step by ``Gallery``: the vector index (plus the
vectors this container upserted lately, which Pinecone may not return yet: ``index.recent``),
the people table (profile, face records with their quality), and the photo bucket (the crop
of each indexed face, so it can be re-embedded with another model later, §9). Recognition
asks it for candidates and adds to it; enrollment adds to it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from facepipe.index import Vector, VectorIndex
from facepipe.index.recent import RecentVectors
from facepipe.matching import TOP_K, Candidate
from facepipe.people import FaceRecord, PeopleStore, face_id_for
from facepipe.quality import FaceQuality
from facepipe.storage import face_crop_key, put_jpeg

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_s3 import S3Client

    from facepipe.embedding import Embedder


@dataclass(frozen=True)
class FaceToResolve:
    """A face to place: where it was seen, its embedding, crop and quality."""

    request_id: str
    index: int
    box: Sequence[float]
    vector: np.ndarray
    crop: Image.Image
    source: str
    quality: FaceQuality


class Gallery:
    def __init__(
        self,
        index: VectorIndex,
        people: PeopleStore,
        namespace: str,
        embedder: Embedder,
        *,
        bucket: str = "",
        s3: S3Client | None = None,
        recent: RecentVectors | None = None,
    ) -> None:
        self.index = index
        self.people = people
        self.namespace = namespace
        self.model = embedder.model
        self.preprocessing = embedder.preprocessing
        self.bucket = bucket  # empty: crops are not kept (tests without a bucket)
        self.recent = recent or RecentVectors()
        self._s3 = s3

    @property
    def s3(self) -> S3Client:
        from facepipe import aws

        return self._s3 or aws.s3()

    def candidates(self, vector: np.ndarray) -> list[Candidate]:
        """Indexed faces near ``vector`` (the index, plus what this container upserted lately)."""
        found = {m.id: m for m in self.index.query(vector, TOP_K, self.namespace)}
        for match in self.recent.matches(vector):
            found.setdefault(match.id, match)
        candidates = (Candidate.from_metadata(m.id, m.score, m.metadata) for m in found.values())
        return [c for c in candidates if c is not None]

    def add_face(self, face: FaceToResolve, face_id: str, person_id: str, enrolled: bool = False) -> None:
        """Index ``face`` as one of ``person_id``'s faces (vector, metadata, kept crop)."""
        metadata = {
            "person_id": person_id,
            "source": face.source,
            "request_id": face.request_id,
            "model": self.model,
            "preprocessing": self.preprocessing,
            "enrolled": enrolled,
            "band": face.quality.band,
            "size": round(face.quality.size, 1),
        }
        if self.bucket:  # keep the crop so the face can be re-embedded later (§9)
            put_jpeg(self.s3, self.bucket, face_crop_key(face_id), face.crop)
        self.index.upsert([Vector(face_id, face.vector, metadata)], self.namespace)
        self.recent.add(face_id, face.vector, metadata)

    def record_face(
        self, face: FaceToResolve, face_id: str, person_id: str, similarity: float, indexed: bool, enrolled: bool = False
    ) -> None:
        self.people.record_face(
            FaceRecord(
                face_id=face_id,
                person_id=person_id,
                request_id=face.request_id,
                face_index=face.index,
                source=face.source,
                box=list(face.box),
                similarity=similarity,
                model=self.model,
                preprocessing=self.preprocessing,
                indexed=indexed,
                crop_key=face_crop_key(face_id) if indexed and self.bucket else "",
                enrolled=enrolled,
                quality=face.quality.as_dict(),
            )
        )

    def enroll(self, person_id: str, name: str, face: FaceToResolve) -> str:
        """Add ``face`` to person ``person_id`` (created with ``name`` if new); returns the face id."""
        face_id = face_id_for(face.request_id, face.index)
        self.people.create_person(person_id, name, face.request_id)
        self.add_face(face, face_id, person_id, enrolled=True)
        self.record_face(face, face_id, person_id, 1.0, indexed=True, enrolled=True)
        return face_id
