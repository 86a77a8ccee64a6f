"""The review as people read it: groups newest first (a page at a time), a group's faces, one face."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from facepipe.people import keys
from facepipe.review.faces import ReviewFace, ReviewGroup, decode_cursor, encode_cursor
from facepipe.review.parts import ReviewParts


class Reading(ReviewParts):
    """Groups and faces as people read them."""

    def groups(self, source: str | None = None, start: str | None = None, limit: int = 50) -> tuple[list[ReviewGroup], str | None]:
        """Groups newest first (``limit`` of them after the cursor ``start``), and the next cursor."""
        kwargs: dict[str, Any] = {
            "IndexName": keys.PEOPLE_INDEX,
            "KeyConditionExpression": Key("GSI1PK").eq(keys.REVIEW_PARTITION),
            "ScanIndexForward": False,
        }
        if source:
            kwargs["FilterExpression"] = Attr("sources").contains(source)
        if start:
            kwargs["ExclusiveStartKey"] = decode_cursor(start)
        found: list[ReviewGroup] = []
        client = self.people.table.meta.client
        while len(found) < limit:
            page = client.query(TableName=self.people.table_name, Limit=max(limit, 25), **kwargs)
            for item in page.get("Items", []):
                if len(found) < limit and int(str(item.get("size", 0))) > 0:
                    found.append(ReviewGroup.from_item(item))
                    last = item
            if "LastEvaluatedKey" not in page:
                return found, None
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found, encode_cursor({k: last[k] for k in ("PK", "SK", "GSI1PK", "GSI1SK")})

    def all_groups(self, source: str | None = None) -> Iterator[ReviewGroup]:
        cursor: str | None = None
        while True:
            page, cursor = self.groups(source, cursor, 500)
            yield from page
            if cursor is None:
                return

    def group(self, group_id: str) -> ReviewGroup | None:
        item = self.people.get(keys.review_meta_key(group_id))
        return ReviewGroup.from_item(item) if item and int(item.get("size", 0)) > 0 else None

    def faces(self, group_id: str) -> list[ReviewFace]:
        """A group's faces, newest first."""
        condition = Key("PK").eq(keys.review_pk(group_id)) & Key("SK").begins_with("FACE#")
        faces = [ReviewFace.from_item(i) for i in self.people.query(KeyConditionExpression=condition, ConsistentRead=True)]
        return sorted(faces, key=lambda f: f.created_at, reverse=True)

    def face(self, face_id: str) -> ReviewFace | None:
        """A kept face by id (its claim names its group)."""
        claim = self.people.get(keys.claim_key(face_id)) or {}
        if not claim.get("group_id") or claim.get("erased"):
            return None
        item = self.people.get(keys.review_face_key(str(claim["group_id"]), face_id))
        return ReviewFace.from_item(item) if item else None
