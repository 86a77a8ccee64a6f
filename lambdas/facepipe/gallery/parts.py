"""What the gallery's parts share: the index, the people table, the registry, the bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from facepipe.gallery.faces import negatives_namespace
from facepipe.index import VectorIndex
from facepipe.index.recent import RecentVectors
from facepipe.matching import Calibration
from facepipe.people import PeopleStore
from facepipe.people.registry import StrangerRegistry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from facepipe.embedding import Embedder


class GalleryParts:
    """The gallery's index namespace, people table, registry, model and bucket."""

    def __init__(
        self,
        index: VectorIndex,
        people: PeopleStore,
        namespace: str,
        embedder: Embedder,
        calibration: Calibration,
        *,
        bucket: str = "",
        s3: S3Client | None = None,
        recent: RecentVectors | None = None,
        registry: StrangerRegistry | None = None,
    ) -> None:
        self.index = index
        self.people = people
        self.namespace = namespace
        self.negatives = negatives_namespace(namespace)
        self.model = embedder.model
        self.preprocessing = embedder.preprocessing
        self.calibration = calibration
        self.bucket = bucket  # empty: crops are not kept (tests without a bucket)
        self.recent = recent or RecentVectors()
        self.registry = registry or StrangerRegistry(people, namespace)
        self._s3 = s3

    @property
    def s3(self) -> S3Client:
        from facepipe import aws

        return self._s3 or aws.s3()
