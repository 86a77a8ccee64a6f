"""What the review's parts share: the index (its own namespace), the people table, the registry."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from facepipe.index import VectorIndex
from facepipe.index.recent import RecentVectors
from facepipe.matching import Calibration
from facepipe.people import PeopleStore
from facepipe.people.registry import StrangerRegistry
from facepipe.review.faces import review_namespace

#: a new group stays registered this long: past Pinecone's read-after-write delay (10-30 s)
REVIEW_REGISTRY_SECONDS = 300.0


class ReviewParts:
    """The review's index namespace, people table, registry, retention and bucket."""

    def __init__(
        self,
        index: VectorIndex,
        people: PeopleStore,
        namespace: str,
        calibration: Calibration,
        *,
        retention_days: int,
        bucket: str = "",
        s3: Any = None,
        recent: RecentVectors | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = index
        self.people = people
        self.namespace = review_namespace(namespace)
        self.calibration = calibration
        self.retention_seconds = retention_days * 86400
        self.bucket = bucket
        self._s3 = s3
        self.recent = recent or RecentVectors()
        self.clock = clock
        self.registry = StrangerRegistry(people, self.namespace, window=REVIEW_REGISTRY_SECONDS, clock=clock)

    @property
    def s3(self) -> Any:
        from facepipe import aws

        return self._s3 or aws.s3()

    def expiry(self) -> int:
        return int(self.clock() + self.retention_seconds)
