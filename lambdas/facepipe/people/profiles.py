"""People's profiles: created once, read (with their counts), followed through merges, listed
by name, renamed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from facepipe.people import keys
from facepipe.people.conflicts import cancellation_reasons
from facepipe.people.errors import PersonGoneError, PersonNotFoundError
from facepipe.people.items import Person, profile_item
from facepipe.people.presence import PRESENT, presence_check
from facepipe.people.table import PeopleTable, failed_condition

#: how many merges in a row recognition follows (a chain longer than this is an operator's loop)
MAX_REDIRECTS = 8


class Profiles(PeopleTable):
    """A person's profile and their counts."""

    def create_person(self, person_id: str, name: str, created_from: str) -> bool:
        """Create the profile once; False when it already exists (a repeat). ``PersonGoneError``
        when the id was erased (its marks outlive any message that could bring it back)."""
        try:
            self.transact(
                [
                    {"Put": {"Item": profile_item(person_id, name, created_from), "ConditionExpression": "attribute_not_exists(PK)"}},
                    presence_check(person_id, 0),
                ]
            )
            return True
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise PersonGoneError(person_id) from None
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            raise

    def profile(self, person_id: str) -> Person | None:
        """The profile as stored (tombstones and erasures in progress included); None when absent."""
        item = self.get(keys.profile_key(person_id))
        return Person.from_item(item) if item else None

    def get_person(self, person_id: str) -> Person:
        """A person with their counts (profile and presence shards in one query)."""
        items = list(
            self.query(
                KeyConditionExpression=Key("PK").eq(keys.person_pk(person_id)) & Key("SK").begins_with(keys.PROFILE), ConsistentRead=True
            )
        )
        profile = next((i for i in items if i["SK"] == keys.PROFILE), None)
        if profile is None:
            raise PersonNotFoundError(f"no person with id {person_id}")
        return Person.from_item(profile).with_counts([i for i in items if i["SK"] != keys.PROFILE])

    def with_counts(self, people: Sequence[Person]) -> list[Person]:
        """``people`` with their face counts and last sighting (their presence shards, read at once)."""
        shards = self.batch_get(keys.shard_key(p.person_id, s) for p in people for s in range(keys.PRESENCE_SHARDS))
        by_person: dict[str, list[dict[str, Any]]] = {}
        for item in shards:
            by_person.setdefault(str(item["PK"]), []).append(item)
        return [p.with_counts(by_person.get(keys.person_pk(p.person_id), [])) for p in people]

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
        """The profiles of ``person_ids`` that exist (tombstones included), strongly consistent."""
        items = self.batch_get(keys.profile_key(i) for i in set(person_ids))
        return {person.person_id: person for person in map(Person.from_item, items)}

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
            self.update(
                keys.profile_key(person_id),
                UpdateExpression="SET #n = :n, GSI1SK = :s",
                ConditionExpression=PRESENT,
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":n": name, ":s": keys.people_sort_key(name, person_id)},
            )
        except ClientError as exc:
            if failed_condition(exc):
                raise PersonNotFoundError(f"no person with id {person_id}") from None
            raise

    def delete_profile(self, person_id: str) -> None:
        self.delete(keys.profile_key(person_id))
