"""People, their faces and the tags of each image in the one DynamoDB table (§5).

Ids are derived from the work (``keys.face_id_for``) and first writes are conditional, so a
repeated delivery writes nothing new: a person's counts move only together with a new face
item, in one transaction. Faces and tags are written only while their person is *present*
(neither merged away nor being erased): the check rides in the same transaction, on one of the
person's presence shards (``keys``: why shards), so a merge or an erasure racing with
recognition can never leave a face or a tag behind on the person it took away (the writer gets
``PersonGoneError`` and places the face again). A face is held by one person at most: its
``CLAIM`` item moves with it, and an erased face's claim stays as the mark that keeps a
redelivered frame from bringing it back (``FaceErasedError``).

Every request goes through ``conflicts.retrying``: DynamoDB refuses work that overlaps a
transaction in flight, and botocore does not retry that. Reads of several people use
BatchGetItem with consistent reads (a TransactGetItems would be cancelled by any write in
flight on them); listings use boto3's paginators.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from facepipe import aws
from facepipe.names import ERASURE_MARK_SECONDS, TTL_ATTRIBUTE
from facepipe.people import keys
from facepipe.people.conflicts import cancellation_reasons, retrying
from facepipe.people.items import FaceRecord, Person, Tag, from_item, media_item, now, profile_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_dynamodb.service_resource import Table

#: TransactWriteItems writes at most this many items per call; BatchGetItem reads this many keys
TRANSACT_LIMIT = 100
#: a merged-away person's tombstone (its redirect) is kept this long after the merge completes
TOMBSTONE_SECONDS = 7 * 24 * 3600
#: the condition a person's profile must meet for a rename or a merge into them
PRESENT = "attribute_exists(PK) AND attribute_not_exists(merged_into) AND attribute_not_exists(deleting)"
#: the condition a presence shard meets while its person is present (a shard never written is)
SHARD_PRESENT = "attribute_not_exists(gone)"
#: how many merges in a row recognition follows (a chain longer than this is an operator's loop)
MAX_REDIRECTS = 8
_WIRE = TypeDeserializer()


class PersonNotFoundError(LookupError):
    """No person has that id (or name): never created, or erased."""


class PersonGoneError(PersonNotFoundError):
    """A face or tag was about to be written under a person who was merged away or is being
    erased: place the face again (``PeopleStore.current_person`` follows the merge)."""

    def __init__(self, person_id: str) -> None:
        super().__init__(f"person {person_id} was merged away or is being erased")
        self.person_id = person_id


class FaceClaimedError(RuntimeError):
    """The face is already recorded under another person (an earlier delivery placed it
    differently): it stays theirs, one face is never two people's."""

    def __init__(self, face_id: str, holder: str) -> None:
        super().__init__(f"face {face_id} is held by {holder}")
        self.face_id, self.holder = face_id, holder


class FaceInReviewError(RuntimeError):
    """The face is kept for review (an earlier delivery left it unknown): it stays there until a
    person names it."""

    def __init__(self, face_id: str, group_id: str) -> None:
        super().__init__(f"face {face_id} is in review group {group_id}")
        self.face_id, self.group_id = face_id, group_id


class FaceErasedError(RuntimeError):
    """The face was erased with its person: it is never recorded, indexed or named again."""

    def __init__(self, face_id: str) -> None:
        super().__init__(f"face {face_id} was erased")
        self.face_id = face_id


def _failed_condition(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _claim_condition(person_id: str) -> dict[str, Any]:
    """A claim put that passes when the face is unclaimed or already ``person_id``'s (a repeat);
    on failure DynamoDB returns the claim as it is (who holds it, or the erasure mark)."""
    return {
        "ConditionExpression": "attribute_not_exists(PK) OR (person_id = :holder AND attribute_not_exists(erased))",
        "ExpressionAttributeValues": {":holder": person_id},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def _claim_item(face_id: str, person_id: str) -> dict[str, Any]:
    return {**keys.claim_key(face_id), "type": "claim", "face_id": face_id, "person_id": person_id}


def _refused_claim(exc: ClientError, position: int, face_id: str) -> Exception | None:
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

    # --- requests, each retried while DynamoDB refuses it for overlapping work ---------------
    def get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        """One item, strongly consistent (as stored: Decimals)."""
        return self.table.get_item(Key=dict(key), ConsistentRead=True).get("Item")

    def put(self, item: Mapping[str, Any], **kwargs: Any) -> None:
        retrying(lambda: self.table.put_item(Item=dict(item), **kwargs))

    def update(self, key: Mapping[str, str], **kwargs: Any) -> dict[str, Any]:
        return dict(retrying(lambda: self.table.update_item(Key=dict(key), **kwargs)))

    def delete(self, key: Mapping[str, str], **kwargs: Any) -> dict[str, Any]:
        return dict(retrying(lambda: self.table.delete_item(Key=dict(key), **kwargs)))

    def query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a query, page by page (boto3's paginator on the table's own client)."""
        for page in self.table.meta.client.get_paginator("query").paginate(TableName=self.table_name, **kwargs):
            yield from page.get("Items", [])

    def scan(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a filtered scan (an operator's lookup, never a request's)."""
        for page in self.table.meta.client.get_paginator("scan").paginate(TableName=self.table_name, **kwargs):
            yield from page.get("Items", [])

    def transact(self, items: Sequence[Mapping[str, Any]]) -> None:
        """One TransactWriteItems of ``items`` (each ``{"Put"|"Update"|"Delete"|"ConditionCheck": {...}}``)."""
        table = {"TableName": self.table_name}
        request = [{kind: {**table, **spec} for kind, spec in item.items()} for item in items]
        retrying(lambda: self.table.meta.client.transact_write_items(TransactItems=request))  # type: ignore[arg-type]

    def batch_get(self, item_keys: Iterable[Mapping[str, str]]) -> list[dict[str, Any]]:
        """The items of ``item_keys`` that exist, strongly consistent; unprocessed keys asked again."""
        client, found = self.table.meta.client, []
        wanted = list({(k["PK"], k["SK"]): dict(k) for k in item_keys}.values())
        for start in range(0, len(wanted), TRANSACT_LIMIT):
            ask: dict[str, Any] = {self.table_name: {"Keys": wanted[start : start + TRANSACT_LIMIT], "ConsistentRead": True}}
            for attempt in range(10):
                reply = client.batch_get_item(RequestItems=ask)
                found += reply.get("Responses", {}).get(self.table_name, [])
                ask = reply.get("UnprocessedKeys") or {}
                if not ask:
                    break
                time.sleep(min(0.5, 0.01 * 2**attempt))
            else:
                raise RuntimeError(f"DynamoDB left {len(ask[self.table_name]['Keys'])} keys unread after 10 tries")
        return found

    # --- people ---------------------------------------------------------------------------
    def create_person(self, person_id: str, name: str, created_from: str) -> bool:
        """Create the profile once; False when it already exists (a repeat). ``PersonGoneError``
        when the id was erased (its marks outlive any message that could bring it back)."""
        try:
            self.transact(
                [
                    {"Put": {"Item": profile_item(person_id, name, created_from), "ConditionExpression": "attribute_not_exists(PK)"}},
                    self.presence_check(person_id, 0),
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

    def presence_check(self, person_id: str, shard: int) -> dict[str, Any]:
        """The transaction item that holds a write to ``person_id`` being present."""
        return {"ConditionCheck": {"Key": keys.shard_key(person_id, shard), "ConditionExpression": SHARD_PRESENT}}

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
            if _failed_condition(exc):
                raise PersonNotFoundError(f"no person with id {person_id}") from None
            raise

    def _mark_shards(self, person_id: str, gone: str, merged_into: str | None, expires: int | None) -> list[dict[str, Any]]:
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
                    *self._mark_shards(source_id, "merged", target_id, None),
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
                *self._mark_shards(source_id, "merged", target_id, expires),
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
                *self._mark_shards(source_id, "", None, None),
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
                    *self._mark_shards(person_id, "erased", None, int(time.time()) + ERASURE_MARK_SECONDS),
                ]
            )
        except ClientError as exc:
            if cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
                raise PersonNotFoundError(f"no person with id {person_id}") from None
            raise

    def delete_profile(self, person_id: str) -> None:
        self.delete(keys.profile_key(person_id))

    # --- faces ----------------------------------------------------------------------------
    def _join(self, face: FaceRecord, claim: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Transaction items that add ``face`` to its person: the face item, its claim (``claim``:
        how it is taken, when not a new one), its count on its presence shard (which must still be
        present), the indexed count."""
        shard = keys.shard_of(face.face_id)
        items: list[dict[str, Any]] = [
            {"Put": {"Item": face.item(), "ConditionExpression": "attribute_not_exists(SK)"}},
            claim or {"Put": {"Item": _claim_item(face.face_id, face.person_id), **_claim_condition(face.person_id)}},
            {
                "Update": {
                    "Key": keys.shard_key(face.person_id, shard),
                    "UpdateExpression": "ADD faces :one SET last_seen = :now",
                    "ConditionExpression": SHARD_PRESENT,
                    "ExpressionAttributeValues": {":one": 1, ":now": face.item()["created_at"]},
                }
            },
        ]
        if face.indexed:
            items.append(self._count_indexed(face.person_id, 1))
        return items

    def _count_indexed(self, person_id: str, step: int) -> dict[str, Any]:
        """The transaction item that moves a person's indexed count (joining: they must be present)."""
        update: dict[str, Any] = {
            "Key": keys.profile_key(person_id),
            "UpdateExpression": "ADD indexed_faces :step",
            "ConditionExpression": PRESENT if step > 0 else "attribute_exists(PK)",
            "ExpressionAttributeValues": {":step": step},
        }
        return {"Update": update}

    def leave(self, face: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Transaction items that take a face item (as ``faces_of`` returns it) from its person."""
        person_id, face_id = str(face["person_id"]), str(face["face_id"])
        items: list[dict[str, Any]] = [
            {"Delete": {"Key": keys.face_key(person_id, face_id), "ConditionExpression": "attribute_exists(SK)"}},
            {
                "Update": {
                    "Key": keys.shard_key(person_id, keys.shard_of(face_id)),
                    "UpdateExpression": "ADD faces :minus",
                    "ExpressionAttributeValues": {":minus": -1},
                }
            },
        ]
        if face.get("indexed"):
            items.append(self._count_indexed(person_id, -1))
        return items

    def record_face(self, face: FaceRecord) -> bool:
        """Add a face to its person (and count it) once; False when it was already recorded
        there. ``FaceErasedError``, ``FaceClaimedError`` (another person holds it),
        ``FaceInReviewError`` or ``PersonGoneError`` (the person is not present) otherwise."""
        try:
            self.transact(self._join(face))
            return True
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if (refused := _refused_claim(exc, 1, face.face_id)) is not None:
                raise refused from None
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            if "ConditionalCheckFailed" in reasons[2:]:
                raise PersonGoneError(face.person_id) from None
            raise

    def move_face(self, face: Mapping[str, Any], target_id: str) -> None:
        """Move one face item (as ``faces_of`` returns it) to ``target_id``: the target gains it,
        its claim and its counts in the same transaction the source loses them, checked against
        the target being present (``PersonGoneError``: nothing moved). A repeat (the target
        already has it) only removes what the source still holds."""
        moved = FaceRecord.from_item(face, target_id)
        source_id = str(face["person_id"])
        join = self._join(moved)
        join[0]["Put"]["Item"]["pending"] = source_id  # its vector, tag and result follow: ``moved`` clears it
        join[1] = {  # the claim moves from the source
            "Update": {
                "Key": keys.claim_key(moved.face_id),
                "UpdateExpression": "SET person_id = :target, face_id = :face, #t = :claim",
                "ConditionExpression": "attribute_not_exists(erased) AND (attribute_not_exists(person_id) OR person_id IN (:source, :target))",
                "ExpressionAttributeNames": {"#t": "type"},
                "ExpressionAttributeValues": {":target": target_id, ":source": source_id, ":face": moved.face_id, ":claim": "claim"},
            }
        }
        leave = self.leave(face)
        try:
            self.transact([*join, *leave])
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if reasons[:1] == ["ConditionalCheckFailed"]:  # moved before a crash: finish the move
                try:
                    self.transact(leave)
                except ClientError as again:
                    if not cancellation_reasons(again):
                        raise  # else the source no longer holds it: nothing left to do
                return
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise FaceErasedError(moved.face_id) from None
            if "ConditionalCheckFailed" in reasons[2 : len(join)]:
                raise PersonGoneError(target_id) from None
            raise

    def moved(self, person_id: str, face_id: str) -> None:
        """A moved face's vector, tag and result follow it now: its move is done."""
        try:
            self.update(keys.face_key(person_id, face_id), UpdateExpression="REMOVE pending", ConditionExpression="attribute_exists(SK)")
        except ClientError as exc:
            if not _failed_condition(exc):
                raise

    def adopt_face(self, face: FaceRecord, group_id: str) -> None:
        """A review face (of ``group_id``) joins ``face.person_id``: its claim moves from the group
        in the same transaction (a repeat passes). ``PersonGoneError``, ``FaceErasedError``."""
        claim = {
            "Update": {
                "Key": keys.claim_key(face.face_id),
                "UpdateExpression": "SET person_id = :person, #t = :claim REMOVE group_id, #ttl",
                "ConditionExpression": "attribute_not_exists(erased) AND (group_id = :group OR person_id = :person)",
                "ExpressionAttributeNames": {"#t": "type", "#ttl": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": {":person": face.person_id, ":group": group_id, ":claim": "claim"},
            }
        }
        join = self._join(face, claim)
        try:
            self.transact(join)
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if reasons[:1] == ["ConditionalCheckFailed"] and reasons[1:2] != ["ConditionalCheckFailed"]:
                return  # recorded before a crash
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise FaceErasedError(face.face_id) from None
            if "ConditionalCheckFailed" in reasons[2:]:
                raise PersonGoneError(face.person_id) from None
            raise

    def index_face(self, face: FaceRecord, *, taught: str, indexed: bool = False) -> None:
        """Mark a recorded face as ``taught`` by a person; unless ``indexed`` already, it joins its
        person's indexed faces (counted, on condition that it was not)."""
        mark: dict[str, Any] = {
            "Key": keys.face_key(face.person_id, face.face_id),
            "UpdateExpression": "SET taught = :taught",
            "ConditionExpression": "attribute_exists(SK)",
            "ExpressionAttributeValues": {":taught": taught},
        }
        if indexed:
            self.update(mark["Key"], **{k: v for k, v in mark.items() if k != "Key"})
            return
        mark["UpdateExpression"] += ", #indexed = :yes"
        mark["ConditionExpression"] += " AND #indexed = :no"
        mark["ExpressionAttributeValues"] |= {":yes": True, ":no": False}
        mark["ExpressionAttributeNames"] = {"#indexed": "indexed"}  # a reserved word
        try:
            self.transact([{"Update": mark}, self._count_indexed(face.person_id, 1)])
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise PersonGoneError(face.person_id) from None
            if reasons[:1] != ["ConditionalCheckFailed"]:
                raise  # else indexed already (a repeat)

    def unindex_face(self, person_id: str, face_id: str) -> None:
        """A face leaves its person's indexed faces (it stays recorded): one that adds least, replaced."""
        try:
            self.transact(
                [
                    {
                        "Update": {
                            "Key": keys.face_key(person_id, face_id),
                            "UpdateExpression": "SET #indexed = :no",
                            "ConditionExpression": "#indexed = :yes",
                            "ExpressionAttributeNames": {"#indexed": "indexed"},
                            "ExpressionAttributeValues": {":yes": True, ":no": False},
                        }
                    },
                    self._count_indexed(person_id, -1),
                ]
            )
        except ClientError as exc:
            if cancellation_reasons(exc)[:1] != ["ConditionalCheckFailed"]:
                raise

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

    def erase_claim(self, face_id: str) -> None:
        """Turn a face's claim into an erasure mark (kept ``ERASURE_MARK_SECONDS``)."""
        mark = {**keys.claim_key(face_id), "type": "claim", "face_id": face_id, "erased": True}
        mark[TTL_ATTRIBUTE] = int(time.time()) + ERASURE_MARK_SECONDS
        self.put(mark)

    def faces_of(self, person_id: str) -> list[dict[str, Any]]:
        condition = Key("PK").eq(keys.person_pk(person_id)) & Key("SK").begins_with("FACE#")
        return [from_item(i) for i in self.query(KeyConditionExpression=condition, ConsistentRead=True)]

    def face(self, face_id: str, person_id: str) -> dict[str, Any] | None:
        item = self.get(keys.face_key(person_id, face_id))
        return from_item(item) if item else None

    def holder(self, face_id: str) -> str | None:
        """The person holding face ``face_id`` (its claim), or None (unclaimed or erased)."""
        claim = self.get(keys.claim_key(face_id)) or {}
        return None if claim.get("erased") else (str(claim["person_id"]) if claim.get("person_id") else None)

    def erase_face(self, person_id: str, face_id: str) -> None:
        """The last step of erasing one face: its item goes, its claim becomes the erasure mark
        (kept ``ERASURE_MARK_SECONDS``: a redelivered frame finds it and leaves the face unknown)."""
        mark = {**keys.claim_key(face_id), "type": "claim", "face_id": face_id, "erased": True}
        mark[TTL_ATTRIBUTE] = int(time.time()) + ERASURE_MARK_SECONDS
        self.transact([{"Put": {"Item": mark}}, {"Delete": {"Key": keys.face_key(person_id, face_id)}}])

    # --- media tags -----------------------------------------------------------------------
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
            self.transact([*puts, *(self.presence_check(p, shard) for p in people)])
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
            if not _failed_condition(exc):
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
            if _failed_condition(exc):
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
            if not _failed_condition(exc):
                raise

    # --- the response-sent marker and stored responses ----------------------------------------
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
