"""The faces that are *not* a person (negative links, ``PERSON#<id>`` / ``NOT#<face_id>``): stored
once with the face's vector, counted on the profile so matching consults them only for people
who have some."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from facepipe.people import keys
from facepipe.people.conflicts import cancellation_reasons
from facepipe.people.errors import PersonNotFoundError
from facepipe.people.items import from_item, now
from facepipe.people.table import PeopleTable


class Negatives(PeopleTable):
    """Faces people said are not a person."""

    def add_negative(self, person_id: str, face_id: str, vector: str, band: str) -> None:
        """Store that face ``face_id`` is not ``person_id`` (once; the profile counts it)."""
        item = {**keys.negative_key(person_id, face_id), "type": "negative", "face_id": face_id, "vector": vector, "band": band}
        try:
            self.transact(
                [
                    {"Put": {"Item": {**item, "created_at": now()}, "ConditionExpression": "attribute_not_exists(SK)"}},
                    {
                        "Update": {
                            "Key": keys.profile_key(person_id),
                            "UpdateExpression": "ADD negatives :one",
                            "ConditionExpression": "attribute_exists(PK)",
                            "ExpressionAttributeValues": {":one": 1},
                        }
                    },
                ]
            )
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise PersonNotFoundError(f"no person with id {person_id}") from None
            if reasons[:1] != ["ConditionalCheckFailed"]:
                raise  # else stored before (a repeat)

    def negatives(self, person_id: str) -> list[dict[str, Any]]:
        condition = Key("PK").eq(keys.person_pk(person_id)) & Key("SK").begins_with("NOT#")
        return [from_item(i) for i in self.query(KeyConditionExpression=condition, ConsistentRead=True)]
