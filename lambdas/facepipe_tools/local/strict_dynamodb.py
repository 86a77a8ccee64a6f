"""How the local stack's AWS emulator refuses overlapping work, as DynamoDB does.

moto applies one request after another and never refuses one for another that is under way, so
code that works locally could still meet ``TransactionConflict`` on AWS and never retry it. The
emulator (``facepipe_tools.local.emulator``) still applies each DynamoDB request alone, but a
TransactWriteItems keeps the items it names (ConditionCheck included) in flight for
``transaction_ms`` after it is applied, and a single write (PutItem, UpdateItem, DeleteItem,
BatchWriteItem) keeps its items for ``write_ms``: the answer waits that long with the lock let
go. A request meeting them is refused before it is applied, in DynamoDB's words ("Transaction
conflict handling in DynamoDB"):

- a transaction naming an item of an ongoing transaction is cancelled
  (``TransactionCanceledException``, reason ``TransactionConflict`` at that item, moto's shape);
- a PutItem, UpdateItem or DeleteItem of such an item fails with ``TransactionConflictException``;
- a TransactGetItems naming an item of any write in flight is cancelled;
- reads (GetItem, Query, Scan, BatchGetItem) never are.

A refused or failed request leaves nothing in flight. What was refused is counted
(``InFlight.report``); 0 ms turns a window off.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from moto.core.responses import BaseResponse
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException, TransactionCanceledException
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.iam.models import get_account_id_from

from facepipe_tools.local.moto_patches import key_of

__all__ = ["NAMING", "ONGOING", "SINGLE_WRITES", "TRANSACTION_MS", "WRITE_MS", "InFlight", "ItemId", "item_ids"]

#: the windows the emulator and ``facepipe local up`` keep items in flight by default, milliseconds
TRANSACTION_MS = 25.0
WRITE_MS = 5.0

#: DynamoDB's reason for refusing a request that meets an ongoing one
ONGOING = "Transaction is ongoing for the item"

SINGLE_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
#: the DynamoDB operations whose items are followed (read off their request)
NAMING = SINGLE_WRITES | {"BatchWriteItem", "TransactWriteItems", "TransactGetItems"}

#: an item of a table: account, region, table name, (hash, range)
ItemId = tuple[str, str, str, tuple[DynamoType, DynamoType | None]]


def _account_and_region(environ: dict[str, Any]) -> tuple[str, str]:
    """The account and region a DynamoDB request reaches, found as moto's ``BaseResponse`` finds them."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    named = BaseResponse.region_regex.search(environ.get("HTTP_HOST", "")) or BaseResponse.region_from_useragent_regex.search(
        environ.get("HTTP_USER_AGENT", "")
    )
    if named:
        region = named.group(1)
    elif "AWS4" in authorization:
        region = authorization.split(",")[0].split("/")[2]
    else:
        region = BaseResponse.default_region
    access_key = BaseResponse.access_key_regex.search(authorization)
    account = (
        os.environ.get("MOTO_ACCOUNT_ID")
        or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        or get_account_id_from(access_key.group(1) if access_key else "AKIAEXAMPLE")
    )
    return account, region


def _requested(operation: str, request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table, key or whole item) of each item a DynamoDB request names, in its order."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        named = []
        for entry in request.get("TransactItems", []):
            kind, body = next(iter(entry.items()))
            named.append((body.get("TableName", ""), body.get("Item" if kind == "Put" else "Key", {})))
        return named
    if operation == "BatchWriteItem":
        return [
            (table, write["PutRequest"]["Item"] if "PutRequest" in write else write.get("DeleteRequest", {}).get("Key", {}))
            for table, writes in request.get("RequestItems", {}).items()
            for write in writes
        ]
    return [(request.get("TableName", ""), request.get("Item" if operation == "PutItem" else "Key", {}))]


def item_ids(environ: dict[str, Any], operation: str, request: dict[str, Any]) -> list[ItemId | None]:
    """The items a DynamoDB request names, in its order; None where moto will refuse the request
    anyway (no such table, a key attribute missing)."""
    account, region = _account_and_region(environ)
    backend = dynamodb_backends[account][region]
    ids: list[ItemId | None] = []
    for table_name, attributes in _requested(operation, request):
        try:
            table = backend.get_table(table_name)
            ids.append((account, region, table.name, key_of(table, attributes)))
        except Exception:  # moto answers for it (ResourceNotFound, ValidationException)
            ids.append(None)
    return ids


class InFlight:
    """The items of the DynamoDB requests that are under way, and what met them (the module
    docstring); every method is called under the emulator's DynamoDB lock."""

    def __init__(self, transaction_ms: float, write_ms: float) -> None:
        self.transaction_s, self.write_s = transaction_ms / 1000, write_ms / 1000
        self.transactions: Counter[ItemId] = Counter()  # items of TransactWriteItems under way
        self.writes: Counter[ItemId] = Counter()  # items of single writes under way (several may share one)
        self.counts = {"transactions_cancelled": 0, "writes_refused": 0, "transact_gets_cancelled": 0}

    @property
    def on(self) -> bool:
        return self.transaction_s > 0 or self.write_s > 0

    def refusal(self, operation: str, ids: list[ItemId | None]) -> DynamodbException | None:
        """DynamoDB's answer to a request naming ``ids`` now, if it meets a request under way."""
        if operation in SINGLE_WRITES:
            if any(i in self.transactions for i in ids if i is not None):
                self.counts["writes_refused"] += 1
                return DynamodbException(ERROR_TYPE_PREFIX + "TransactionConflictException", ONGOING)
            return None
        if operation == "TransactWriteItems":
            meets = [i is not None and i in self.transactions for i in ids]
            counted = "transactions_cancelled"
        elif operation == "TransactGetItems":
            meets = [i is not None and (i in self.transactions or i in self.writes) for i in ids]
            counted = "transact_gets_cancelled"
        else:
            return None
        if not any(meets):
            return None
        self.counts[counted] += 1
        return cast(
            "DynamodbException",
            TransactionCanceledException([("TransactionConflict", ONGOING, None) if m else (None, None, None) for m in meets]),
        )

    def hold(self, operation: str, ids: list[ItemId | None]) -> tuple[float, Callable[[], None]] | None:
        """Put the items of an applied request in flight: for how long (s), and what lets them go
        (to call under the lock); None when the request keeps nothing in flight."""
        if operation not in NAMING or operation == "TransactGetItems":
            return None
        flights, window = (self.transactions, self.transaction_s) if operation == "TransactWriteItems" else (self.writes, self.write_s)
        held = [i for i in ids if i is not None]
        if window <= 0 or not held:
            return None
        flights.update(held)

        def release() -> None:
            flights.subtract(held)
            for item_id in held:
                if flights[item_id] <= 0:
                    del flights[item_id]

        return window, release

    def report(self) -> dict[str, int]:
        return {
            **self.counts,
            "items_in_transactions": sum(self.transactions.values()),
            "items_in_writes": sum(self.writes.values()),
        }
