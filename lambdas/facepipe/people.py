"""People, their faces and the tags of each frame/photo in one DynamoDB table (§5).

Keys:
  PERSON#<person_id> / PROFILE          name, face_count, indexed_faces; GSI1 ("PEOPLE", name#id) lists people
  PERSON#<person_id> / FACE#<face_id>   one sighting or enrolled face (model, preprocessing, crop_key, quality)
  MEDIA#<request_id> / FACE#<index>     the tag of one face of a frame or photo (no person_id: unknown)
  MEDIA#<request_id> / META             filename, source, result
Ids are derived from the work (request_id + face index), and first writes are
conditional, so a repeated delivery writes nothing new (face_count moves only
together with a new face item, in one transaction).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from facepipe import aws

_IDS = uuid.UUID("5b0f6a51-1d1e-4c55-9a56-3d1f1c0c9e11")
PEOPLE_INDEX = "GSI1"
PEOPLE_PARTITION = "PEOPLE"


def face_id_for(request_id: str, index: int) -> str:
    """Deterministic face (and vector) id of face ``index`` of ``request_id``."""
    return uuid.uuid5(_IDS, f"face:{request_id}#{index}").hex


def person_id_for(face_id: str) -> str:
    """Id of the person first seen as ``face_id``: a repeat creates the same person, not a second."""
    return uuid.uuid5(_IDS, f"person:{face_id}").hex


def generated_name(person_id: str) -> str:
    return f"person-{person_id[:6]}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _ddb(value: Any) -> Any:
    """Floats to Decimal (DynamoDB has no float), recursively."""
    if isinstance(value, float):
        return Decimal(str(round(value, 6)))
    if isinstance(value, dict):
        return {k: _ddb(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_ddb(v) for v in value]
    return value


def _py(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _py(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_py(v) for v in value]
    return value


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str
    face_count: int = 0
    created_at: str = ""
    indexed_faces: int = 0  # faces of this person in the vector index (enrolled + confident sightings)


@dataclass(frozen=True)
class FaceRecord:
    face_id: str
    person_id: str
    request_id: str
    face_index: int
    source: str
    box: Sequence[float]
    similarity: float
    model: str
    preprocessing: str
    indexed: bool
    crop_key: str = ""
    enrolled: bool = False
    quality: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tag:
    index: int
    face_id: str
    person_id: str | None  # None: an unknown face (too poor to place, matching nobody)
    name: str
    similarity: float
    new_person: bool
    box: Sequence[float]
    quality: Mapping[str, Any] = field(default_factory=dict)


class PersonNotFoundError(LookupError):
    pass


class PeopleStore:
    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        """``dynamodb`` is a boto3 DynamoDB *resource*; created lazily when omitted."""
        self.table_name = table_name
        self._dynamodb = dynamodb
        self._table: Any = None

    @property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = aws.resource("dynamodb")
        return self._dynamodb

    @property
    def table(self) -> Any:
        if self._table is None:
            self._table = self.dynamodb.Table(self.table_name)
        return self._table

    # --- people ---------------------------------------------------------------------------
    def create_person(self, person_id: str, name: str, created_from: str) -> bool:
        """Create the profile once; False when it already exists (a repeat)."""
        item = {
            "PK": f"PERSON#{person_id}",
            "SK": "PROFILE",
            "type": "person",
            "person_id": person_id,
            "name": name,
            "face_count": 0,
            "indexed_faces": 0,
            "created_at": _now(),
            "created_from": created_from,
            "GSI1PK": PEOPLE_PARTITION,
            "GSI1SK": f"{name.lower()}#{person_id}",
        }
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(PK)")
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def get_person(self, person_id: str) -> Person:
        item = self.table.get_item(Key={"PK": f"PERSON#{person_id}", "SK": "PROFILE"}).get("Item")
        if not item:
            raise PersonNotFoundError(f"no person with id {person_id}")
        return self._person(item)

    def get_people(self, person_ids: Iterable[str]) -> dict[str, Person]:
        ids = sorted(set(person_ids))
        found: dict[str, Person] = {}
        for start in range(0, len(ids), 100):
            keys = [{"PK": f"PERSON#{i}", "SK": "PROFILE"} for i in ids[start : start + 100]]
            request = {self.table_name: {"Keys": keys}}
            while request:
                reply = self.dynamodb.batch_get_item(RequestItems=request)
                for item in reply["Responses"].get(self.table_name, []):
                    person = self._person(item)
                    found[person.person_id] = person
                request = reply.get("UnprocessedKeys") or {}
        return found

    def list_people(self) -> list[Person]:
        people, start = [], None
        while True:
            kwargs = {"IndexName": PEOPLE_INDEX, "KeyConditionExpression": Key("GSI1PK").eq(PEOPLE_PARTITION)}
            if start:
                kwargs["ExclusiveStartKey"] = start
            reply = self.table.query(**kwargs)
            people += [self._person(item) for item in reply["Items"]]
            start = reply.get("LastEvaluatedKey")
            if not start:
                return people

    def find_by_name(self, name: str) -> list[Person]:
        return [p for p in self.list_people() if p.name == name]

    def rename(self, person_id: str, name: str) -> None:
        try:
            self.table.update_item(
                Key={"PK": f"PERSON#{person_id}", "SK": "PROFILE"},
                UpdateExpression="SET #n = :n, GSI1SK = :s",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":n": name, ":s": f"{name.lower()}#{person_id}"},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise PersonNotFoundError(f"no person with id {person_id}") from None
            raise

    # --- faces ----------------------------------------------------------------------------
    def record_face(self, face: FaceRecord) -> bool:
        """Add a face to its person (and count it) once; False when it was already recorded."""
        item = _ddb(
            {
                "PK": f"PERSON#{face.person_id}",
                "SK": f"FACE#{face.face_id}",
                "type": "face",
                "face_id": face.face_id,
                "person_id": face.person_id,
                "request_id": face.request_id,
                "face_index": face.face_index,
                "source": face.source,
                "box": list(face.box),
                "similarity": face.similarity,
                "model": face.model,
                "preprocessing": face.preprocessing,
                "indexed": face.indexed,
                "enrolled": face.enrolled,
                "crop_key": face.crop_key or None,
                "quality": dict(face.quality) or None,
                "created_at": _now(),
            }
        )
        client = self.table.meta.client  # a resource client: takes plain Python values
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(SK)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": {"PK": f"PERSON#{face.person_id}", "SK": "PROFILE"},
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
            if exc.response["Error"]["Code"] == "TransactionCanceledException" and reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise PersonNotFoundError(f"no person with id {face.person_id}") from None
            raise

    def faces_of(self, person_id: str) -> list[dict]:
        items, start = [], None
        while True:
            kwargs = {"KeyConditionExpression": Key("PK").eq(f"PERSON#{person_id}") & Key("SK").begins_with("FACE#")}
            if start:
                kwargs["ExclusiveStartKey"] = start
            reply = self.table.query(**kwargs)
            items += [_py(i) for i in reply["Items"]]
            start = reply.get("LastEvaluatedKey")
            if not start:
                return items

    # --- media tags -----------------------------------------------------------------------
    def tag_media(self, request_id: str, filename: str, source: str, result: str, tags: Sequence[Tag]) -> None:
        """Write the tags of one frame/photo; keyed items, so a repeat rewrites the same values."""
        with self.table.batch_writer(overwrite_by_pkeys=["PK", "SK"]) as batch:
            batch.put_item(
                Item=_ddb(
                    {
                        "PK": f"MEDIA#{request_id}",
                        "SK": "META",
                        "type": "media",
                        "request_id": request_id,
                        "filename": filename,
                        "source": source,
                        "result": result,
                        "faces": len(tags),
                        "tagged_at": _now(),
                    }
                )
            )
            for tag in tags:
                batch.put_item(
                    Item=_ddb(
                        {
                            "PK": f"MEDIA#{request_id}",
                            "SK": f"FACE#{tag.index:04d}",
                            "type": "tag",
                            "request_id": request_id,
                            "face_index": tag.index,
                            "face_id": tag.face_id,
                            "person_id": tag.person_id,
                            "name": tag.name,
                            "unknown": tag.person_id is None,
                            "similarity": tag.similarity,
                            "new_person": tag.new_person,
                            "box": list(tag.box),
                            "quality": dict(tag.quality) or None,
                        }
                    )
                )

    def media(self, request_id: str) -> list[dict]:
        reply = self.table.query(KeyConditionExpression=Key("PK").eq(f"MEDIA#{request_id}"))
        return [_py(i) for i in reply["Items"]]

    # --- admin: merge / delete ------------------------------------------------------------
    def merge(self, source_id: str, target_id: str) -> list[str]:
        """Move every face of ``source_id`` to ``target_id``, retag its media, drop ``source_id``."""
        self.get_person(target_id)
        faces = self.faces_of(source_id)
        for face in faces:
            moved = dict(face, person_id=target_id, merged_from=source_id)
            self.record_face(
                FaceRecord(
                    face_id=moved["face_id"],
                    person_id=target_id,
                    request_id=moved["request_id"],
                    face_index=moved["face_index"],
                    source=moved.get("source", "default"),
                    box=moved.get("box", []),
                    similarity=float(moved.get("similarity", 1.0)),
                    model=moved.get("model", ""),
                    preprocessing=moved.get("preprocessing", ""),
                    indexed=bool(moved.get("indexed")),
                    crop_key=moved.get("crop_key", ""),
                    enrolled=bool(moved.get("enrolled")),
                    quality=moved.get("quality") or {},
                )
            )
            self._retag(moved["request_id"], moved["face_index"], target_id)
            self.table.delete_item(Key={"PK": f"PERSON#{source_id}", "SK": f"FACE#{face['face_id']}"})
        self.table.delete_item(Key={"PK": f"PERSON#{source_id}", "SK": "PROFILE"})
        return [f["face_id"] for f in faces]

    def delete_person(self, person_id: str) -> list[str]:
        self.get_person(person_id)
        faces = self.faces_of(person_id)
        with self.table.batch_writer() as batch:
            for face in faces:
                batch.delete_item(Key={"PK": f"PERSON#{person_id}", "SK": f"FACE#{face['face_id']}"})
            batch.delete_item(Key={"PK": f"PERSON#{person_id}", "SK": "PROFILE"})
        return [f["face_id"] for f in faces]

    def _retag(self, request_id: str, index: int, person_id: str) -> None:
        name = self.get_person(person_id).name
        try:
            self.table.update_item(
                Key={"PK": f"MEDIA#{request_id}", "SK": f"FACE#{index:04d}"},
                UpdateExpression="SET person_id = :p, #n = :n",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":p": person_id, ":n": name},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # --- helpers --------------------------------------------------------------------------
    @staticmethod
    def _person(item: dict) -> Person:
        item = _py(item)
        return Person(
            item["person_id"], item["name"], int(item.get("face_count", 0)), item.get("created_at", ""), int(item.get("indexed_faces", 0))
        )
