"""What each image says: its faces' tags and its META (written only under people still
present), changed when people are merged, taught or erased; the response-sent marker and
Powertools' stored responses of an image."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from facepipe.names import TTL_ATTRIBUTE
from facepipe.people import keys
from facepipe.people.conflicts import cancellation_reasons
from facepipe.people.errors import PersonGoneError
from facepipe.people.items import Tag, from_item, media_item
from facepipe.people.presence import presence_check
from facepipe.people.table import TRANSACT_LIMIT, PeopleTable, failed_condition


class Tags(PeopleTable):
    """Each image's tags and META, and what the answer to it left behind."""

    def tag_media(self, request_id: str, digest: str, filename: str, source: str, result: str, tags: Sequence[Tag]) -> None:
        """Write the tags of one image (keyed: a repeat rewrites the same values) in as many
        transactions as it takes, each checking that every person its tags name is present
        (``PersonGoneError`` otherwise: place the faces again); the image's META goes last, so a
        META says every tag is there."""
        shard = keys.shard_of(f"{request_id}#{digest}")
        chunk: list[Tag] = []
        for tag in tags:
            named = {t.person_id for t in [*chunk, tag] if t.person_id}
            if len(chunk) + 1 + len(named) + 1 > TRANSACT_LIMIT:  # its puts, the checks, room for the META
                self._tag_chunk(request_id, digest, chunk, shard)
                chunk = []
            chunk.append(tag)
        meta = [{"Put": {"Item": media_item(request_id, digest, filename, source, result, len(tags))}}]
        self._tag_chunk(request_id, digest, chunk, shard, meta)

    def _tag_chunk(self, request_id: str, digest: str, tags: Sequence[Tag], shard: int, extra: Sequence[dict[str, Any]] = ()) -> None:
        people = sorted({t.person_id for t in tags if t.person_id})
        puts = [*extra, *({"Put": {"Item": tag.item(request_id, digest)}} for tag in tags)]
        try:
            self.transact([*puts, *(presence_check(p, shard) for p in people)])
        except ClientError as exc:
            check_reasons = cancellation_reasons(exc)[len(puts) :]
            gone = [person for person, r in zip(people, check_reasons, strict=False) if r == "ConditionalCheckFailed"]
            if gone:
                raise PersonGoneError(gone[0]) from None
            raise

    def media(self, request_id: str) -> list[dict[str, Any]]:
        """Every item of every image sent as ``request_id`` (META and tags, by image digest)."""
        return [from_item(i) for i in self.query(KeyConditionExpression=Key("PK").eq(keys.media_pk(request_id)), ConsistentRead=True)]

    def retag(self, request_id: str, digest: str, index: int, person_id: str, name: str, *, review_group: str = "") -> None:
        """Point one face's tag at another person (a merge, an assignment), or at nobody (empty
        ``person_id``: unknown, kept in ``review_group``); absent and erased tags stay so."""
        if person_id:
            expression, values = (
                "SET person_id = :p, #n = :n, #unknown = :no REMOVE review_group",
                {":p": person_id, ":n": name, ":no": False},
            )
        else:
            expression, values = (
                "SET #n = :n, #unknown = :yes, review_group = :g REMOVE person_id, new_person",
                {
                    ":n": "",
                    ":yes": True,
                    ":g": review_group,
                },
            )
        try:
            self.update(
                keys.tag_key(request_id, digest, index),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(erased)",
                ExpressionAttributeNames={"#n": "name", "#unknown": "unknown"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not failed_condition(exc):
                raise

    def anonymise_tag(self, request_id: str, digest: str, index: int) -> bool:
        """Erase the person from one face's tag: no person, no name, ``unknown``, ``erased``;
        False when absent (a frame still in flight that tags it later meets the person's
        erasure mark on their presence shard, and places the face again)."""
        try:
            self.update(
                keys.tag_key(request_id, digest, index),
                UpdateExpression="SET #n = :empty, #unknown = :yes, erased = :yes REMOVE person_id, new_person",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#n": "name", "#unknown": "unknown"},
                ExpressionAttributeValues={":empty": "", ":yes": True},
            )
            return True
        except ClientError as exc:
            if failed_condition(exc):
                return False
            raise

    def set_result(self, request_id: str, digest: str, result: str, *, forget_filename: bool = False) -> None:
        """Rewrite one image's stored ``result`` (after its tags changed); ``forget_filename``:
        also drop the file name (an erasure: names of files often name people)."""
        expression = "SET #r = :r" + (" REMOVE filename" if forget_filename else "")
        try:
            self.update(
                keys.meta_key(request_id, digest),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#r": "result"},
                ExpressionAttributeValues={":r": result},
            )
        except ClientError as exc:
            if not failed_condition(exc):
                raise

    def was_sent(self, source: str, request_id: str, digest: str) -> bool:
        """Whether the response to this image was sent (its marker, unexpired)."""
        sent = self.get(keys.sent_key(source, request_id, digest))
        return bool(sent) and float(str(sent.get(TTL_ATTRIBUTE, 0))) > time.time()  # type: ignore[union-attr]

    def mark_sent(self, source: str, request_id: str, digest: str, expires: int) -> None:
        self.put({**keys.sent_key(source, request_id, digest), "type": "sent", TTL_ATTRIBUTE: expires})

    def delete_stored_responses(self, works: Sequence[tuple[str, object]]) -> int:
        """Delete Powertools' idempotency records (they hold the response, names included) of each
        ``(unit, work)``; the number that existed."""
        deleted = 0
        for unit, work in works:
            reply = self.delete(keys.idempotency_key(unit, work), ReturnValues="ALL_OLD")
            deleted += 1 if reply.get("Attributes") else 0
        return deleted
