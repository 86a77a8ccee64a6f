"""Whether a person is present: neither merged away (a tombstone that redirects) nor being
erased. The profile says so for renames and merges; every face or tag written under a person
checks one of their presence shards (``keys``: why shards) in the same transaction, so a merge
or an erasure racing with recognition never leaves a face or a tag behind on the person it took
away (the writer gets ``PersonGoneError`` and places the face again)."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from facepipe.names import ERASURE_MARK_SECONDS, TTL_ATTRIBUTE
from facepipe.people import keys
from facepipe.people.conflicts import cancellation_reasons
from facepipe.people.errors import PersonGoneError, PersonNotFoundError
from facepipe.people.table import PeopleTable

#: a merged-away person's tombstone (its redirect) is kept this long after the merge completes
TOMBSTONE_SECONDS = 7 * 24 * 3600
#: the condition a person's profile must meet for a rename or a merge into them
PRESENT = "attribute_exists(PK) AND attribute_not_exists(merged_into) AND attribute_not_exists(deleting)"
#: the condition a presence shard meets while its person is present (a shard never written is)
SHARD_PRESENT = "attribute_not_exists(gone)"


def presence_check(person_id: str, shard: int) -> dict[str, Any]:
    """The transaction item that holds a write to ``person_id`` being present."""
    return {"ConditionCheck": {"Key": keys.shard_key(person_id, shard), "ConditionExpression": SHARD_PRESENT}}


def mark_shards(person_id: str, gone: str, merged_into: str | None, expires: int | None) -> list[dict[str, Any]]:
    """Transaction items that set (or, ``gone`` empty, clear) every presence shard's mark."""
    values: dict[str, Any] = {}
    if gone:
        expression = "SET gone = :gone" + (", merged_into = :target" if merged_into else "")
        values[":gone"] = gone
        if merged_into:
            values[":target"] = merged_into
        if expires is not None:
            expression += ", #ttl = :ttl"
            values[":ttl"] = expires
        if gone == "erased":
            expression += " REMOVE faces, last_seen"  # the mark says nothing of them
    else:
        expression = "REMOVE gone, merged_into, #ttl"
    spec: dict[str, Any] = {"UpdateExpression": expression}
    if values:
        spec["ExpressionAttributeValues"] = values
    if "#ttl" in expression:
        spec["ExpressionAttributeNames"] = {"#ttl": TTL_ATTRIBUTE}
    return [{"Update": {"Key": keys.shard_key(person_id, s), **spec}} for s in range(keys.PRESENCE_SHARDS)]


class Presence(PeopleTable):
    """A person leaving: merged into another (and that undone), or their erasure begun."""

    def mark_merged(self, source_id: str, target_id: str) -> None:
        """Turn ``source_id`` into a tombstone that redirects to ``target_id``, in one transaction
        that checks the target is present (idempotent: a repeat toward the same target passes; it
        leaves the people listing). The tombstone expires only once ``finish_merge`` says so."""
        try:
            self.transact(
                [
                    {
                        "Update": {
                            "Key": keys.profile_key(source_id),
                            "UpdateExpression": "SET merged_into = :t REMOVE GSI1PK, GSI1SK",
                            "ConditionExpression": "attribute_exists(PK) AND (attribute_not_exists(merged_into) OR merged_into = :t) "
                            "AND attribute_not_exists(deleting)",
                            "ExpressionAttributeValues": {":t": target_id},
                        }
                    },
                    {"ConditionCheck": {"Key": keys.profile_key(target_id), "ConditionExpression": PRESENT}},
                    *mark_shards(source_id, "merged", target_id, None),
                ]
            )
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise PersonGoneError(target_id) from None
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise PersonNotFoundError(f"{source_id} cannot be merged into {target_id}: it is gone or merged elsewhere") from None
            raise

    def finish_merge(self, source_id: str, target_id: str) -> None:
        """The merge is complete: the tombstone (and its shards) expire ``TOMBSTONE_SECONDS`` from now."""
        expires = int(time.time()) + TOMBSTONE_SECONDS
        self.transact(
            [
                {
                    "Update": {
                        "Key": keys.profile_key(source_id),
                        "UpdateExpression": "SET #ttl = :ttl",
                        "ConditionExpression": "merged_into = :t",
                        "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
                        "ExpressionAttributeValues": {":ttl": expires, ":t": target_id},
                    }
                },
                *mark_shards(source_id, "merged", target_id, expires),
            ]
        )

    def restore_merged(self, source_id: str, target_id: str, name: str) -> None:
        """Undo ``mark_merged`` (the target went away before the merge completed): the source is
        present again, listed under ``name``, with the faces the merge had not moved yet."""
        self.transact(
            [
                {
                    "Update": {
                        "Key": keys.profile_key(source_id),
                        "UpdateExpression": "SET GSI1PK = :people, GSI1SK = :sort REMOVE merged_into, #ttl",
                        "ConditionExpression": "merged_into = :t",
                        "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
                        "ExpressionAttributeValues": {
                            ":t": target_id,
                            ":people": keys.PEOPLE_PARTITION,
                            ":sort": keys.people_sort_key(name, source_id),
                        },
                    }
                },
                *mark_shards(source_id, "", None, None),
            ]
        )

    def mark_deleting(self, person_id: str) -> None:
        """Begin an erasure: from now on recognition treats the person as gone, and the shards'
        marks keep the id from being created again for ``ERASURE_MARK_SECONDS`` (idempotent)."""
        try:
            self.transact(
                [
                    {
                        "Update": {
                            "Key": keys.profile_key(person_id),
                            "UpdateExpression": "SET deleting = :yes",
                            "ConditionExpression": "attribute_exists(PK)",
                            "ExpressionAttributeValues": {":yes": True},
                        }
                    },
                    *mark_shards(person_id, "erased", None, int(time.time()) + ERASURE_MARK_SECONDS),
                ]
            )
        except ClientError as exc:
            if cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
                raise PersonNotFoundError(f"no person with id {person_id}") from None
            raise
