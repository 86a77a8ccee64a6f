"""The review: unknown faces kept and grouped, for a person to name once.

A face recognition leaves ``unknown`` (too poor to place, matching nobody, or ambiguous) is
kept — its crop, vector, quality, source, request and time — for ``REVIEW_RETENTION_DAYS``
(``KEEP_UNKNOWN_FACES=false`` keeps nothing): the table's TTL removes its items, the bucket's
lifecycle its crop under ``review/``, and a vector whose item is gone is deleted the next time a
query returns it.

**Groups.** A kept face joins the review group of the face it is closest to when that pair
reaches the pair's grouping threshold (``Calibration.group_threshold``: the naming threshold,
capped at a floor measured on camera-sized faces, since a group is looked at before it is named)
and beats the next group by ``group_margin``; otherwise it starts a group of its own. Faces of
one stranger arriving together in several containers (the index shows none of them yet) meet
in the review's own stranger registry (``people.registry``, namespace ``<namespace>-review``):
the first registers its new group, the others find it there and join it. Groups are never joined
automatically: one stranger in two groups costs a second keystroke, two strangers in one group
would give one of them the other's name. Vectors live in the namespace ``<namespace>-review``,
apart from the people's, so an unknown face is never a candidate for a person's match.

Items (``keys``): ``REVIEW#<group>`` / ``META`` (size, first and last seen, sources, cover face;
listed newest first through GSI1) and ``REVIEW#<group>`` / ``FACE#<face_id>``; the face's claim
(``FACE#<face_id>`` / ``CLAIM``) names its group, so it is in one place only.
"""

from __future__ import annotations

import base64
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from facepipe.detection.quality import worse
from facepipe.index import Vector, VectorIndex
from facepipe.index.recent import RecentVectors
from facepipe.matching import Calibration
from facepipe.names import TTL_ATTRIBUTE
from facepipe.people import PeopleStore, keys
from facepipe.people.conflicts import cancellation_reasons
from facepipe.people.errors import FaceErasedError
from facepipe.people.items import dict_item, from_item, now
from facepipe.people.registry import StrangerRegistry
from facepipe.storage import delete_every_version, put_jpeg, review_crop_key
from facepipe.vectors import decode_vector, encode_vector

if TYPE_CHECKING:
    from facepipe.gallery import FaceToResolve

#: review candidates asked of the index for one kept face
REVIEW_TOP_K = 16
#: a new group stays registered this long: past Pinecone's read-after-write delay (10-30 s)
REVIEW_REGISTRY_SECONDS = 300.0
#: registry rounds for one new group (each round of strangers arriving together registers one)
REGISTER_ROUNDS = 40
_GROUPS = uuid.UUID("7d1c0e4a-5a0b-4f3e-9a7e-2f1a8c6b5d40")


def review_namespace(namespace: str) -> str:
    return f"{namespace}-review"


def group_id_for(face_id: str) -> str:
    """A group's id: from the face that started it (a repeat starts the same group)."""
    return uuid.uuid5(_GROUPS, face_id).hex[:20]


@dataclass(frozen=True)
class ReviewFace:
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
    def from_item(cls, item: Mapping[str, Any]) -> ReviewFace:
        data = from_item(item)
        return cls(
            str(data["face_id"]),
            str(data["group_id"]),
            str(data["request_id"]),
            str(data.get("image_digest", "")),
            int(data["face_index"]),
            str(data.get("source", "default")),
            data.get("box", []),
            data.get("quality") or {},
            str(data.get("created_at", "")),
            decode_vector(str(data["vector"])),
            float(data.get("similarity", 0.0)),
        )

    @property
    def band(self) -> str:
        return str(self.quality.get("band", "poor"))


@dataclass(frozen=True)
class ReviewGroup:
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


class Review:
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

    # --- keeping a face -------------------------------------------------------------------
    def group_for(self, face_id: str, vector: np.ndarray, band: str) -> tuple[str | None, float]:
        """The group a face joins (None: it starts one) and its similarity to that group."""
        found = {m.id: m for m in self.index.query(vector, REVIEW_TOP_K, self.namespace)}
        for match in self.recent.matches(vector):
            found.setdefault(match.id, match)
        found.pop(face_id, None)
        while True:
            group, score = self._closest(
                [(str(m.metadata.get("group_id") or ""), m.score, str(m.metadata.get("band", "poor"))) for m in found.values()], band
            )
            if group is None or self.people.get(keys.review_meta_key(group)) is not None:
                return group, score
            # its items expired (REVIEW_RETENTION_DAYS) or were named: clean its vectors, look again
            stale = [i for i, m in found.items() if m.metadata.get("group_id") == group]
            self.index.delete(stale, self.namespace)
            for face in stale:
                found.pop(face)

    def _closest(self, matches: list[tuple[str, float, str]], band: str) -> tuple[str | None, float]:
        """The group of the closest of ``matches`` (group, similarity, band) when it is close enough
        and beats the next group by the margin (``Calibration.group_threshold``, ``group_margin``)."""
        best: dict[str, tuple[float, str]] = {}
        for group, score, their_band in matches:
            if group and (group not in best or score > best[group][0]):
                best[group] = (score, their_band)
        ranked = sorted(best.items(), key=lambda g: -g[1][0])
        if not ranked:
            return None, 0.0
        group, (score, their_band) = ranked[0]
        threshold = self.calibration.group_threshold(worse(band, their_band))  # type: ignore[arg-type]
        second = ranked[1][1][0] if len(ranked) > 1 else None
        if score >= threshold and (second is None or score - second >= self.calibration.group_margin):
            return group, score
        return None, 0.0

    def _new_group(self, face: FaceToResolve) -> tuple[str, float]:
        """The group a face the index finds no group for joins: one started moments ago elsewhere
        (registered, not yet shown by the index: ``people.registry``, the same protocol as new
        people's), or its own, registered so that the next face finds it."""
        band = face.quality.band
        for round_ in range(REGISTER_ROUNDS):
            seen = self.registry.read()
            mine = [s for s in seen.strangers if s.face_id == face.face_id]
            if mine:  # an earlier delivery of this face started it
                return mine[0].person_id, 0.0
            group, score = self._closest([(s.person_id, float(s.vector @ face.vector), s.band) for s in seen.strangers], band)
            if group is not None:
                return group, score
            started = group_id_for(face.face_id)
            meta = {**keys.review_meta_key(started), "type": "review_group", "group_id": started, "size": 0, TTL_ATTRIBUTE: self._expiry()}
            if self.registry.register(seen, meta, face.face_id, face.vector, band, subject="group_id"):
                return started, 0.0
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2**round_)))
        return group_id_for(face.face_id), 0.0  # strangers kept arriving together: a group of its own

    def keep(self, face: FaceToResolve) -> str | None:
        """Keep an unknown face for review; its group (an earlier delivery's, on a repeat), or
        None when the face was erased or is held elsewhere."""
        group, similarity = self.group_for(face.face_id, face.vector, face.quality.band)
        if group is None:
            try:
                group, similarity = self._new_group(face)
            except FaceErasedError:
                return None
        kept = ReviewFace(
            face.face_id,
            group,
            face.request_id,
            face.image_digest,
            face.index,
            face.source,
            [float(v) for v in face.box],
            face.quality.as_dict(),
            now(),
            face.vector,
            round(similarity, 4),
        )
        claim = {**keys.claim_key(face.face_id), "type": "claim", "face_id": face.face_id, "group_id": group}
        try:
            self.people.transact(
                [
                    {"Put": {"Item": {**claim, TTL_ATTRIBUTE: self._expiry()}, "ConditionExpression": "attribute_not_exists(PK)"}},
                    *self._takes(kept),
                ]
            )
        except ClientError as exc:
            if cancellation_reasons(exc)[:1] != ["ConditionalCheckFailed"]:
                raise
            held = self.people.get(keys.claim_key(face.face_id)) or {}
            return None if held.get("erased") or not held.get("group_id") else str(held["group_id"])
        if self.bucket:
            put_jpeg(self.s3, self.bucket, review_crop_key(face.face_id), face.crop)
        self._index(kept)
        return group

    def take_from_person(self, face: Mapping[str, Any], vector: np.ndarray, group: str) -> ReviewFace:
        """A recorded face leaves its person for the review, in group ``group``, in one transaction
        (its claim moves from the person; a repeat finds it there). Its crop is the caller's."""
        data = from_item(face)
        kept = ReviewFace(
            str(data["face_id"]),
            group,
            str(data["request_id"]),
            str(data.get("image_digest", "")),
            int(data["face_index"]),
            str(data.get("source", "default")),
            data.get("box", []),
            data.get("quality") or {},
            now(),
            vector,
        )
        claim = {
            "Update": {
                "Key": keys.claim_key(kept.face_id),
                "UpdateExpression": "SET group_id = :group, #ttl = :ttl REMOVE person_id",
                "ConditionExpression": "person_id = :person AND attribute_not_exists(erased)",
                "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": {":group": group, ":person": str(data["person_id"]), ":ttl": self._expiry()},
            }
        }
        try:
            self.people.transact([claim, *self.people.leave(face), *self._takes(kept)])
        except ClientError as exc:
            held = self.people.get(keys.claim_key(kept.face_id)) or {}
            if cancellation_reasons(exc)[:1] != ["ConditionalCheckFailed"] or held.get("group_id") != group:
                raise
        self._index(kept)
        return kept

    def _expiry(self) -> int:
        return int(self.clock() + self.retention_seconds)

    def _takes(self, face: ReviewFace) -> list[dict[str, Any]]:
        """Transaction items that put ``face`` in its group: its item, and the group's count,
        recency and sources."""
        expires = self._expiry()
        item = dict_item(
            {
                **keys.review_face_key(face.group_id, face.face_id),
                "type": "review_face",
                "face_id": face.face_id,
                "group_id": face.group_id,
                "request_id": face.request_id,
                "image_digest": face.image_digest,
                "face_index": face.face_index,
                "source": face.source,
                "box": list(face.box),
                "quality": dict(face.quality),
                "vector": encode_vector(face.vector),
                "similarity": face.similarity,
                "created_at": face.created_at,
                TTL_ATTRIBUTE: expires,
            }
        )
        meta = {
            "Key": keys.review_meta_key(face.group_id),
            "UpdateExpression": "ADD #size :one, sources :source SET group_id = :group, #type = :meta, last_seen = :now, "
            "first_seen = if_not_exists(first_seen, :now), cover = if_not_exists(cover, :face), "
            "GSI1PK = :review, GSI1SK = :recent, #ttl = :ttl",
            "ExpressionAttributeNames": {"#size": "size", "#type": "type", "#ttl": TTL_ATTRIBUTE},
            "ExpressionAttributeValues": {
                ":one": 1,
                ":source": {face.source},
                ":group": face.group_id,
                ":meta": "review_group",
                ":now": face.created_at,
                ":face": face.face_id,
                ":review": keys.REVIEW_PARTITION,
                ":recent": f"{face.created_at}#{face.group_id}",
                ":ttl": expires,
            },
        }
        return [{"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(SK)"}}, {"Update": meta}]

    def _index(self, face: ReviewFace) -> None:
        metadata = {"group_id": face.group_id, "source": face.source, "band": face.band, "request_id": face.request_id}
        self.index.upsert([Vector(face.face_id, face.vector, metadata)], self.namespace)
        self.recent.add(face.face_id, face.vector, metadata)

    # --- reading ----------------------------------------------------------------------------
    def groups(self, source: str | None = None, start: str | None = None, limit: int = 50) -> tuple[list[ReviewGroup], str | None]:
        """Groups newest first (``limit`` of them after the cursor ``start``), and the next cursor."""
        kwargs: dict[str, Any] = {
            "IndexName": keys.PEOPLE_INDEX,
            "KeyConditionExpression": Key("GSI1PK").eq(keys.REVIEW_PARTITION),
            "ScanIndexForward": False,
        }
        if source:
            kwargs["FilterExpression"] = Attr("sources").contains(source)
        if start:
            kwargs["ExclusiveStartKey"] = decode_cursor(start)
        found: list[ReviewGroup] = []
        client = self.people.table.meta.client
        while len(found) < limit:
            page = client.query(TableName=self.people.table_name, Limit=max(limit, 25), **kwargs)
            for item in page.get("Items", []):
                if len(found) < limit and int(str(item.get("size", 0))) > 0:
                    found.append(ReviewGroup.from_item(item))
                    last = item
            if "LastEvaluatedKey" not in page:
                return found, None
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found, encode_cursor({k: last[k] for k in ("PK", "SK", "GSI1PK", "GSI1SK")})

    def all_groups(self, source: str | None = None) -> Iterator[ReviewGroup]:
        cursor: str | None = None
        while True:
            page, cursor = self.groups(source, cursor, 500)
            yield from page
            if cursor is None:
                return

    def group(self, group_id: str) -> ReviewGroup | None:
        item = self.people.get(keys.review_meta_key(group_id))
        return ReviewGroup.from_item(item) if item and int(item.get("size", 0)) > 0 else None

    def faces(self, group_id: str) -> list[ReviewFace]:
        """A group's faces, newest first."""
        condition = Key("PK").eq(keys.review_pk(group_id)) & Key("SK").begins_with("FACE#")
        faces = [ReviewFace.from_item(i) for i in self.people.query(KeyConditionExpression=condition, ConsistentRead=True)]
        return sorted(faces, key=lambda f: f.created_at, reverse=True)

    def face(self, face_id: str) -> ReviewFace | None:
        """A kept face by id (its claim names its group)."""
        claim = self.people.get(keys.claim_key(face_id)) or {}
        if not claim.get("group_id") or claim.get("erased"):
            return None
        item = self.people.get(keys.review_face_key(str(claim["group_id"]), face_id))
        return ReviewFace.from_item(item) if item else None

    # --- letting a face go ------------------------------------------------------------------
    def release(self, face: ReviewFace) -> None:
        """The face leaves the review (assigned to a person, or dismissed): its vector, crop and
        item, and its count on the group; the caller has already moved or erased its claim."""
        self.index.delete([face.face_id], self.namespace)
        if self.bucket:
            delete_every_version(self.s3, self.bucket, review_crop_key(face.face_id))
        count = {
            "Key": keys.review_meta_key(face.group_id),
            "UpdateExpression": "ADD #size :minus",
            "ExpressionAttributeNames": {"#size": "size"},
            "ExpressionAttributeValues": {":minus": -1},
        }
        gone = {"Key": keys.review_face_key(face.group_id, face.face_id), "ConditionExpression": "attribute_exists(SK)"}
        try:
            self.people.transact([{"Delete": gone}, {"Update": count}])
        except ClientError as exc:
            if cancellation_reasons(exc)[:1] != ["ConditionalCheckFailed"]:
                raise  # else released before (a re-run)
        try:
            self.people.delete(
                keys.review_meta_key(face.group_id),
                ConditionExpression="#size <= :zero",
                ExpressionAttributeNames={"#size": "size"},
                ExpressionAttributeValues={":zero": 0},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise  # else faces are left in the group


def encode_cursor(key: Mapping[str, Any]) -> str:
    import json

    return base64.urlsafe_b64encode(json.dumps(dict(key), default=str).encode()).decode("ascii")


def decode_cursor(cursor: str) -> dict[str, Any]:
    import json

    return dict(json.loads(base64.urlsafe_b64decode(cursor.encode("ascii"))))
