"""People, their faces and the tags of each image in the one DynamoDB table (§5).

Ids are derived from the work (``keys.face_id_for``) and first writes are conditional, so a
repeated delivery writes nothing new: ``face_count`` and ``indexed_faces`` move only together
with a new face item, in one transaction. Faces and tags are written only while their person
is *present* (neither merged away nor being erased): the condition rides in the same
transaction, so a merge or an erasure racing with recognition can never leave a face or a tag
behind on the person it took away (the writer gets ``PersonGoneError`` and places the face again).
Reads of several people use TransactGetItems (all or nothing, retried by botocore: no
unprocessed keys to chase); listings use boto3's paginators.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from facepipe import aws
from facepipe.names import TTL_ATTRIBUTE
from facepipe.people import keys
from facepipe.people.items import FaceRecord, Person, Tag, from_item, media_item, profile_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_dynamodb.service_resource import Table

#: TransactGetItems reads at most this many items per call; TransactWriteItems writes at most this many
TRANSACT_LIMIT = 100
#: a merged-away person's tombstone (its redirect) is kept this long
TOMBSTONE_SECONDS = 7 * 24 * 3600
#: the condition a person must meet for a face or tag to be written under them
PRESENT = "attribute_exists(PK) AND attribute_not_exists(merged_into) AND attribute_not_exists(deleting)"
#: how many merges in a row recognition follows (a chain longer than this is an operator's loop)
MAX_REDIRECTS = 8


class PersonNotFoundError(LookupError):
    """No person has that id (or name): never created, or erased."""


class PersonGoneError(PersonNotFoundError):
    """A face or tag was about to be written under a person who was merged away or is being
    erased: place the face again (``PeopleStore.current_person`` follows the merge)."""

    def __init__(self, person_id: str) -> None:
        super().__init__(f"person {person_id} was merged away or is being erased")
        self.person_id = person_id


def _failed_condition(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _cancellations(exc: ClientError) -> list[str | None]:
    """The reason code per item of a cancelled transaction ([] for any other error)."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    return [r.get("Code") for r in exc.response.get("CancellationReasons", [])]


class PeopleStore:
    def __init__(self, table_name: str, dynamodb: DynamoDBServiceResource | None = None) -> None:
        """``dynamodb`` is a boto3 DynamoDB *resource*; created lazily when omitted."""
        self.table_name = table_name
        self._dynamodb = dynamodb
        self._table: Table | None = None

    @property
    def table(self) -> Table:
        if self._table is None:
            resource = self._dynamodb or aws.dynamodb()
            self._table = resource.Table(self.table_name)
        return self._table

    def query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a query, page by page (boto3's paginator on the table's own client)."""
        for page in self.table.meta.client.get_paginator("query").paginate(TableName=self.table_name, **kwargs):
            yield from page.get("Items", [])

    def transact(self, items: Sequence[Mapping[str, Any]]) -> None:
        """One TransactWriteItems of ``items`` (each ``{"Put"|"Update"|"Delete"|"ConditionCheck": {...}}``)."""
        table = {"TableName": self.table_name}
        self.table.meta.client.transact_write_items(
            TransactItems=[{kind: {**table, **spec} for kind, spec in item.items()} for item in items]  # type: ignore[misc]
        )

    # --- people ---------------------------------------------------------------------------
    def create_person(self, person_id: str, name: str, created_from: str) -> bool:
        """Create the profile once; False when it already exists (a repeat)."""
        try:
            self.table.put_item(Item=profile_item(person_id, name, created_from), ConditionExpression="attribute_not_exists(PK)")
            return True
        except ClientError as exc:
            if _failed_condition(exc):
                return False
            raise

    def profile(self, person_id: str) -> Person | None:
        """The profile as stored (tombstones and erasures in progress included); None when absent."""
        item = self.table.get_item(Key=keys.profile_key(person_id), ConsistentRead=True).get("Item")
        return Person.from_item(item) if item else None

    def get_person(self, person_id: str) -> Person:
        person = self.profile(person_id)
        if person is None:
            raise PersonNotFoundError(f"no person with id {person_id}")
        return person

    def current_person(self, person_id: str) -> Person | None:
        """Who ``person_id`` is now: the person it was merged into (followed), or None when it
        is gone (erased, or being erased)."""
        for _ in range(MAX_REDIRECTS):
            person = self.profile(person_id)
            if person is None or person.deleting:
                return None
            if person.merged_into is None:
                return person
            person_id = person.merged_into
        raise PersonNotFoundError(f"more than {MAX_REDIRECTS} merges in a row from {person_id}: check the merges")

    def get_people(self, person_ids: Iterable[str]) -> dict[str, Person]:
        """The profiles of ``person_ids`` that exist (tombstones included)."""
        ids = sorted(set(person_ids))
        found: dict[str, Person] = {}
        client = self.table.meta.client
        for start in range(0, len(ids), TRANSACT_LIMIT):
            chunk = ids[start : start + TRANSACT_LIMIT]
            reply = client.transact_get_items(
                TransactItems=[{"Get": {"TableName": self.table_name, "Key": keys.profile_key(i)}} for i in chunk]
            )
            for response in reply["Responses"]:
                if "Item" in response:
                    person = Person.from_item(response["Item"])
                    found[person.person_id] = person
        return found

    def list_people(self) -> list[Person]:
        """Everyone listed by name (people being erased included: their erasure can be resumed)."""
        return [
            Person.from_item(i)
            for i in self.query(IndexName=keys.PEOPLE_INDEX, KeyConditionExpression=Key("GSI1PK").eq(keys.PEOPLE_PARTITION))
        ]

    def find_by_name(self, name: str) -> list[Person]:
        return [p for p in self.list_people() if p.name == name]

    def rename(self, person_id: str, name: str) -> None:
        try:
            self.table.update_item(
                Key=keys.profile_key(person_id),
                UpdateExpression="SET #n = :n, GSI1SK = :s",
                ConditionExpression=PRESENT,
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":n": name, ":s": keys.people_sort_key(name, person_id)},
            )
        except ClientError as exc:
            if _failed_condition(exc):
                raise PersonNotFoundError(f"no person with id {person_id}") from None
            raise

    def mark_merged(self, source_id: str, target_id: str) -> None:
        """Turn ``source_id`` into a tombstone that redirects to ``target_id`` (idempotent: a
        repeat toward the same target passes; it leaves the people listing)."""
        try:
            self.table.update_item(
                Key=keys.profile_key(source_id),
                UpdateExpression="SET merged_into = :t, #ttl = :ttl REMOVE GSI1PK, GSI1SK",
                ConditionExpression="attribute_exists(PK) AND (attribute_not_exists(merged_into) OR merged_into = :t) "
                "AND attribute_not_exists(deleting)",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":t": target_id, ":ttl": int(time.time()) + TOMBSTONE_SECONDS},
            )
        except ClientError as exc:
            if _failed_condition(exc):
                raise PersonNotFoundError(f"{source_id} cannot be merged into {target_id}: it is gone or merged elsewhere") from None
            raise

    def mark_deleting(self, person_id: str) -> None:
        """Begin an erasure: from now on recognition treats the person as gone (idempotent)."""
        try:
            self.table.update_item(
                Key=keys.profile_key(person_id),
                UpdateExpression="SET deleting = :yes",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":yes": True},
            )
        except ClientError as exc:
            if _failed_condition(exc):
                raise PersonNotFoundError(f"no person with id {person_id}") from None
            raise

    def delete_profile(self, person_id: str) -> None:
        self.table.delete_item(Key=keys.profile_key(person_id))

    # --- faces ----------------------------------------------------------------------------
    def _add_face(self, face: FaceRecord) -> list[dict[str, Any]]:
        """The transaction items that add ``face`` to its person and count it."""
        return [
            {"Put": {"Item": face.item(), "ConditionExpression": "attribute_not_exists(SK)"}},
            {
                "Update": {
                    "Key": keys.profile_key(face.person_id),
                    "UpdateExpression": "ADD face_count :one, indexed_faces :indexed",
                    "ConditionExpression": PRESENT,
                    "ExpressionAttributeValues": {":one": 1, ":indexed": 1 if face.indexed else 0},
                }
            },
        ]

    def record_face(self, face: FaceRecord) -> bool:
        """Add a face to its person (and count it) once; False when it was already recorded.
        ``PersonGoneError`` when the person is not present."""
        try:
            self.transact(self._add_face(face))
            return True
        except ClientError as exc:
            reasons = _cancellations(exc)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise PersonGoneError(face.person_id) from None
            raise

    def move_face(self, face: Mapping[str, Any], target_id: str) -> None:
        """Move one face item (as ``faces_of`` returns it) to ``target_id``: the target gains it
        and its counts in the same transaction the source loses it. A repeat (the target
        already has it) only removes what the source still holds."""
        moved = FaceRecord.from_item(face, target_id)
        source_id = str(face["person_id"])
        leave = [
            {"Delete": {"Key": keys.face_key(source_id, str(face["face_id"])), "ConditionExpression": "attribute_exists(SK)"}},
            {
                "Update": {
                    "Key": keys.profile_key(source_id),
                    "UpdateExpression": "ADD face_count :minus, indexed_faces :indexed",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": {":minus": -1, ":indexed": -1 if moved.indexed else 0},
                }
            },
        ]
        try:
            self.transact([*self._add_face(moved), *leave])
        except ClientError as exc:
            reasons = _cancellations(exc)
            if reasons[:1] == ["ConditionalCheckFailed"]:  # moved before a crash: finish the move
                try:
                    self.transact(leave)
                except ClientError as again:
                    if not _cancellations(again):
                        raise  # else the source no longer holds it: nothing left to do
                return
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise PersonGoneError(target_id) from None
            raise

    def faces_of(self, person_id: str) -> list[dict[str, Any]]:
        condition = Key("PK").eq(keys.person_pk(person_id)) & Key("SK").begins_with("FACE#")
        return [from_item(i) for i in self.query(KeyConditionExpression=condition, ConsistentRead=True)]

    def face(self, face_id: str, person_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key=keys.face_key(person_id, face_id), ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def delete_face(self, person_id: str, face_id: str) -> None:
        self.table.delete_item(Key=keys.face_key(person_id, face_id))

    # --- media tags -----------------------------------------------------------------------
    def tag_media(self, request_id: str, digest: str, filename: str, source: str, result: str, tags: Sequence[Tag]) -> None:
        """Write the tags of one image (keyed: a repeat rewrites the same values), each batch of
        them in a transaction that also checks every person it names is present
        (``PersonGoneError`` otherwise: place the faces again)."""
        items: list[dict[str, Any]] = [{"Put": {"Item": media_item(request_id, digest, filename, source, result, len(tags))}}]
        items += [{"Put": {"Item": tag.item(request_id, digest)}} for tag in tags]
        people = sorted({t.person_id for t in tags if t.person_id})
        checks = [{"ConditionCheck": {"Key": keys.profile_key(p), "ConditionExpression": PRESENT}} for p in people]
        room = TRANSACT_LIMIT - len(checks)
        if room < 1:
            raise ValueError(f"a frame naming {len(people)} people cannot be tagged in one transaction; bound faces per frame")
        for start in range(0, len(items), room):
            chunk = items[start : start + room]
            try:
                self.transact([*chunk, *checks])
            except ClientError as exc:
                check_reasons = _cancellations(exc)[len(chunk) :]  # the checks come after the chunk's puts
                gone = [person for person, r in zip(people, check_reasons, strict=False) if r == "ConditionalCheckFailed"]
                if gone:
                    raise PersonGoneError(gone[0]) from None
                raise

    def media(self, request_id: str) -> list[dict[str, Any]]:
        """Every item of every image sent as ``request_id`` (META and tags, by image digest)."""
        return [from_item(i) for i in self.query(KeyConditionExpression=Key("PK").eq(keys.media_pk(request_id)), ConsistentRead=True)]

    def retag(self, request_id: str, digest: str, index: int, person_id: str, name: str) -> None:
        """Point one face's tag at another person (a merge); absent tags stay absent."""
        try:
            self.table.update_item(
                Key=keys.tag_key(request_id, digest, index),
                UpdateExpression="SET person_id = :p, #n = :n",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":p": person_id, ":n": name},
            )
        except ClientError as exc:
            if not _failed_condition(exc):
                raise

    def anonymise_tag(self, request_id: str, digest: str, index: int) -> bool:
        """Erase the person from one face's tag: no person, no name, ``unknown``; False when absent."""
        try:
            self.table.update_item(
                Key=keys.tag_key(request_id, digest, index),
                UpdateExpression="SET #n = :empty, #unknown = :yes, erased = :yes REMOVE person_id",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#n": "name", "#unknown": "unknown"},
                ExpressionAttributeValues={":empty": "", ":yes": True},
            )
            return True
        except ClientError as exc:
            if _failed_condition(exc):
                return False
            raise

    def set_result(self, request_id: str, digest: str, result: str) -> None:
        """Rewrite one image's stored ``result`` (after its tags changed)."""
        try:
            self.table.update_item(
                Key=keys.meta_key(request_id, digest),
                UpdateExpression="SET #r = :r",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#r": "result"},
                ExpressionAttributeValues={":r": result},
            )
        except ClientError as exc:
            if not _failed_condition(exc):
                raise

    def delete_stored_responses(self, request_id: str, units: Sequence[str]) -> int:
        """Delete Powertools' idempotency records of ``request_id`` (they hold the response, names
        included) for each unit of work; the number that existed."""
        deleted = 0
        for unit in units:
            reply = self.table.delete_item(Key=keys.idempotency_key(unit, request_id), ReturnValues="ALL_OLD")
            deleted += 1 if reply.get("Attributes") else 0
        return deleted
