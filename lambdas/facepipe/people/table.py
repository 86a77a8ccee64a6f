"""The people table's requests: one item, a query or scan page by page, a transaction, a batch read.

Every write goes through ``conflicts.retrying``: DynamoDB refuses work that overlaps a
transaction in flight, and botocore does not retry that. Reads of several items use BatchGetItem
with consistent reads (a TransactGetItems would be cancelled by any write in flight on them);
listings use boto3's paginators.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from facepipe import aws
from facepipe.people.conflicts import retrying

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_dynamodb.service_resource import Table

#: TransactWriteItems writes at most this many items per call; BatchGetItem reads this many keys
TRANSACT_LIMIT = 100


def failed_condition(exc: ClientError) -> bool:
    """Whether a single write was refused by its condition."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class PeopleTable:
    """The table and its requests, each retried while DynamoDB refuses it for overlapping work."""

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
