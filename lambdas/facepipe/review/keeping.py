"""A face kept for review (an unknown one, or one taken from a person) and let go (assigned or
dismissed): its item and claim, its group's count, its vector and crop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from botocore.exceptions import ClientError

from facepipe.index import Vector
from facepipe.names import TTL_ATTRIBUTE
from facepipe.people import keys
from facepipe.people.conflicts import cancellation_reasons
from facepipe.people.errors import FaceErasedError
from facepipe.people.items import dict_item, now
from facepipe.people.table import failed_condition
from facepipe.review.faces import ReviewFace
from facepipe.review.grouping import group_for, new_group
from facepipe.review.parts import ReviewParts
from facepipe.storage import delete_every_version, put_jpeg, review_crop_key
from facepipe.vectors import encode_vector

if TYPE_CHECKING:
    from facepipe.gallery import FaceToResolve, Placement


class Keeping(ReviewParts):
    """A face kept for review, taken from a person, or let go."""

    def keep_unknown(self, face: FaceToResolve, placement: Placement) -> Placement:
        """``placement``, its face kept for review when it is unknown (in its group; unknown and
        kept nowhere when the face was erased or is held elsewhere); a face placed, already kept
        or erased as it is."""
        if placement.person_id is not None or placement.review_group or placement.decision.reason == "erased":
            return placement
        group = self.keep(face)
        return placement.in_review(group) if group else placement.erased()

    def keep(self, face: FaceToResolve) -> str | None:
        """Keep an unknown face for review; its group (an earlier delivery's, on a repeat), or
        None when the face was erased or is held elsewhere."""
        group, similarity = group_for(self, face.face_id, face.vector, face.quality.band)
        if group is None:
            try:
                group, similarity = new_group(self, face)
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
                    {"Put": {"Item": {**claim, TTL_ATTRIBUTE: self.expiry()}, "ConditionExpression": "attribute_not_exists(PK)"}},
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
        kept = ReviewFace.from_item(face, group_id=group, created_at=now(), vector=vector)
        claim = {
            "Update": {
                "Key": keys.claim_key(kept.face_id),
                "UpdateExpression": "SET group_id = :group, #ttl = :ttl REMOVE person_id",
                "ConditionExpression": "person_id = :person AND attribute_not_exists(erased)",
                "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": {":group": group, ":person": str(face["person_id"]), ":ttl": self.expiry()},
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

    def _takes(self, face: ReviewFace) -> list[dict[str, Any]]:
        """Transaction items that put ``face`` in its group: its item, and the group's count,
        recency and sources."""
        expires = self.expiry()
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
            if not failed_condition(exc):
                raise  # else faces are left in the group
