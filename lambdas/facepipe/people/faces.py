"""A person's faces: recorded once (the face item, its claim and the counts in one transaction,
checked against the person being present), moved to another person, adopted from the review,
indexed or not, erased."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from facepipe.names import TTL_ATTRIBUTE
from facepipe.people import keys
from facepipe.people.claims import claim_condition, claim_item, erasure_mark, refused_claim
from facepipe.people.conflicts import cancellation_reasons
from facepipe.people.errors import FaceErasedError, PersonGoneError
from facepipe.people.items import FaceRecord, from_item
from facepipe.people.presence import PRESENT, SHARD_PRESENT
from facepipe.people.table import PeopleTable, failed_condition


class Faces(PeopleTable):
    """A person's face items, claims and counts, moved together in one transaction."""

    def _join(self, face: FaceRecord, claim: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Transaction items that add ``face`` to its person: the face item, its claim (``claim``:
        how it is taken, when not a new one), its count on its presence shard (which must still be
        present), the indexed count."""
        shard = keys.shard_of(face.face_id)
        items: list[dict[str, Any]] = [
            {"Put": {"Item": face.item(), "ConditionExpression": "attribute_not_exists(SK)"}},
            claim or {"Put": {"Item": claim_item(face.face_id, face.person_id), **claim_condition(face.person_id)}},
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
            if (refused := refused_claim(exc, 1, face.face_id)) is not None:
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
            if not failed_condition(exc):
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

    def erase_claim(self, face_id: str) -> None:
        """Turn a face's claim into an erasure mark (kept ``ERASURE_MARK_SECONDS``)."""
        self.put(erasure_mark(face_id))

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
        self.transact([{"Put": {"Item": erasure_mark(face_id)}}, {"Delete": {"Key": keys.face_key(person_id, face_id)}}])
