"""A face's claim (``FACE#<face_id>`` / ``CLAIM``): it names the one person (or review group)
holding the face, and an erased face's claim stays as its erasure mark, kept
``ERASURE_MARK_SECONDS``, so a redelivered frame cannot bring the face back."""

from __future__ import annotations

import time
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from facepipe.names import ERASURE_MARK_SECONDS, TTL_ATTRIBUTE
from facepipe.people import keys
from facepipe.people.errors import FaceClaimedError, FaceErasedError, FaceInReviewError

_WIRE = TypeDeserializer()


def claim_condition(person_id: str) -> dict[str, Any]:
    """A claim put that passes when the face is unclaimed or already ``person_id``'s (a repeat);
    on failure DynamoDB returns the claim as it is (who holds it, or the erasure mark)."""
    return {
        "ConditionExpression": "attribute_not_exists(PK) OR (person_id = :holder AND attribute_not_exists(erased))",
        "ExpressionAttributeValues": {":holder": person_id},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def claim_item(face_id: str, person_id: str) -> dict[str, Any]:
    return {**keys.claim_key(face_id), "type": "claim", "face_id": face_id, "person_id": person_id}


def refused_claim(exc: ClientError, position: int, face_id: str) -> Exception | None:
    """The claim's refusal at ``position`` of a cancelled transaction: erased or held by another."""
    reasons = exc.response.get("CancellationReasons", [])
    if position >= len(reasons) or reasons[position].get("Code") != "ConditionalCheckFailed":
        return None
    stored = reasons[position].get("Item") or {}  # in DynamoDB's wire form: the resource does not convert it
    held = {name: _WIRE.deserialize(value) if isinstance(value, dict) else value for name, value in stored.items()}  # type: ignore[arg-type]
    if held.get("erased"):
        return FaceErasedError(face_id)
    if held.get("group_id"):
        return FaceInReviewError(face_id, str(held["group_id"]))
    holder = held.get("person_id")
    return FaceClaimedError(face_id, str(holder)) if holder else None


def erasure_mark(face_id: str) -> dict[str, Any]:
    """The claim an erased face leaves behind (expires ``ERASURE_MARK_SECONDS`` from now)."""
    return {
        **keys.claim_key(face_id),
        "type": "claim",
        "face_id": face_id,
        "erased": True,
        TTL_ATTRIBUTE: int(time.time()) + ERASURE_MARK_SECONDS,
    }
