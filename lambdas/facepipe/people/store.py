"""People, their faces and the tags of each frame/photo in the one DynamoDB table (§5).

Ids are derived from the work (``keys.face_id_for``) and first writes are conditional, so a
repeated delivery writes nothing new: ``face_count`` and ``indexed_faces`` move only together
with a new face item, in one transaction. Reads of several people use TransactGetItems (all
or nothing, retried by botocore: no unprocessed keys to chase); listings use boto3's paginators.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from facepipe import aws
from facepipe.people import keys
from facepipe.people.items import FaceRecord, Person, Tag, from_item, media_item, profile_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_dynamodb.service_resource import Table

#: TransactGetItems reads at most this many items per call
TRANSACT_GET_LIMIT = 100


class PersonNotFoundError(LookupError):
    """No person has that id (or name): never created, merged away or deleted."""


def _failed_condition(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


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

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a query, page by page (boto3's paginator on the table's own client)."""
        for page in self.table.meta.client.get_paginator("query").paginate(TableName=self.table_name, **kwargs):
            yield from page.get("Items", [])

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

    def get_person(self, person_id: str) -> Person:
        item = self.table.get_item(Key=keys.profile_key(person_id)).get("Item")
        if not item:
            raise PersonNotFoundError(f"no person with id {person_id}")
        return Person.from_item(item)

    def get_people(self, person_ids: Iterable[str]) -> dict[str, Person]:
        """The profiles of ``person_ids`` that exist."""
        ids = sorted(set(person_ids))
        found: dict[str, Person] = {}
        client = self.table.meta.client
        for start in range(0, len(ids), TRANSACT_GET_LIMIT):
            chunk = ids[start : start + TRANSACT_GET_LIMIT]
            reply = client.transact_get_items(
                TransactItems=[{"Get": {"TableName": self.table_name, "Key": keys.profile_key(i)}} for i in chunk]
            )
            for response in reply["Responses"]:
                if "Item" in response:
                    person = Person.from_item(response["Item"])
                    found[person.person_id] = person
        return found

    def list_people(self) -> list[Person]:
        return [
            Person.from_item(i)
            for i in self._query(IndexName=keys.PEOPLE_INDEX, KeyConditionExpression=Key("GSI1PK").eq(keys.PEOPLE_PARTITION))
        ]

    def find_by_name(self, name: str) -> list[Person]:
        return [p for p in self.list_people() if p.name == name]

    def rename(self, person_id: str, name: str) -> None:
        try:
            self.table.update_item(
                Key=keys.profile_key(person_id),
                UpdateExpression="SET #n = :n, GSI1SK = :s",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":n": name, ":s": keys.people_sort_key(name, person_id)},
            )
        except ClientError as exc:
            if _failed_condition(exc):
                raise PersonNotFoundError(f"no person with id {person_id}") from None
            raise

    def delete_profile(self, person_id: str) -> None:
        self.table.delete_item(Key=keys.profile_key(person_id))

    # --- faces ----------------------------------------------------------------------------
    def record_face(self, face: FaceRecord) -> bool:
        """Add a face to its person (and count it) once; False when it was already recorded."""
        try:
            self.table.meta.client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self.table_name, "Item": face.item(), "ConditionExpression": "attribute_not_exists(SK)"}},
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": keys.profile_key(face.person_id),
                            "UpdateExpression": "ADD face_count :one, indexed_faces :indexed",
                            "ConditionExpression": "attribute_exists(PK)",
                            "ExpressionAttributeValues": {":one": 1, ":indexed": 1 if face.indexed else 0},
                        }
                    },
                ]
            )
            return True
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException" and reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise PersonNotFoundError(f"no person with id {face.person_id}") from None
            raise

    def faces_of(self, person_id: str) -> list[dict[str, Any]]:
        condition = Key("PK").eq(keys.person_pk(person_id)) & Key("SK").begins_with("FACE#")
        return [from_item(i) for i in self._query(KeyConditionExpression=condition)]

    def delete_face(self, person_id: str, face_id: str) -> None:
        self.table.delete_item(Key=keys.face_key(person_id, face_id))

    # --- media tags -----------------------------------------------------------------------
    def tag_media(self, request_id: str, filename: str, source: str, result: str, tags: Sequence[Tag]) -> None:
        """Write the tags of one frame/photo; keyed items, so a repeat rewrites the same values."""
        with self.table.batch_writer(overwrite_by_pkeys=["PK", "SK"]) as batch:
            batch.put_item(Item=media_item(request_id, filename, source, result, len(tags)))
            for tag in tags:
                batch.put_item(Item=tag.item(request_id))

    def media(self, request_id: str) -> list[dict[str, Any]]:
        return [from_item(i) for i in self._query(KeyConditionExpression=Key("PK").eq(keys.media_pk(request_id)))]

    def retag(self, request_id: str, index: int, person_id: str, name: str) -> None:
        """Point one face's tag at another person (a merge); absent tags stay absent."""
        try:
            self.table.update_item(
                Key=keys.tag_key(request_id, index),
                UpdateExpression="SET person_id = :p, #n = :n",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":p": person_id, ":n": name},
            )
        except ClientError as exc:
            if not _failed_condition(exc):
                raise
