"""Every change facepipe makes to moto's classes, each with its reason (moto's code is not edited).

``patch_moto`` applies them all, once per process; it is idempotent. The local stack's emulator
applies them before it serves (``facepipe_tools.local.emulator``), and the tests that run moto in
process apply the same ones (tests/conftest.py), so both give the same answers.

- ``Table.__deepcopy__`` (``_table_copy``) and ``DynamoDBBackend.transact_write_items``
  (``_naming_its_items``): a transaction's rollback copy holds only the items it names.
- ``Message.__deepcopy__`` (``_message_copy``): SQS receives without a deep copy per message.
- ``SQSBackend.is_message_valid_based_on_retention_period`` (``_retained``): without computing
  every attribute of the queue per message handed out.
- ``SQSBackend.receive_message``, ``send_message``, ``delete_message``,
  ``change_message_visibility``, ``purge_queue`` (``_one_at_a_time``): one request at a time per queue.

Two more are opt-in, for the benches that fill moto in process with a large table (``facepipe
bench --console``); ``patch_moto`` does not apply them:

- ``Table.query`` and ``Table.all_items`` (``moto_reading_partitions``, a context manager): a
  Query reads its partition, not a sort of the whole table (seconds per Query at 100,000 items).
- moto's ``instances_tracked`` records of DynamoDB objects (``forget_moto_copies``, called between
  writes): cleared, as they keep every rollback copy alive and grow the process by megabytes a second.

With many clients polling one response queue, moto's two SQS copies and checks take most of
the emulator's Python time (py-spy; docs/reports/history.md).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, cast

from moto.core.utils import unix_time
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.sqs.models import Message, SQSBackend

__all__ = ["forget_moto_copies", "key_of", "moto_reading_partitions", "patch_moto"]

#: the TransactWriteItems this thread is dispatching (its ``TransactItems``), for ``_table_copy``
_transaction = threading.local()

#: what marks a method wrapped here, so that ``patch_moto`` never wraps it twice
_WRAPPED = "__wrapped_by_facepipe__"

_LOCKED_SQS_METHODS = ("receive_message", "send_message", "delete_message", "change_message_visibility", "purge_queue")


def key_of(table: Table, attributes: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    """(hash, range) of the item of ``table`` whose key (or whole item) is ``attributes``."""
    hash_value = DynamoType(attributes[table.hash_key_attr])
    range_value = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _named_keys(table: Table, operations: list[dict[str, Any]]) -> set[tuple[DynamoType, DynamoType | None]]:
    """(hash, range) of every item of ``table`` that ``operations`` (TransactItems) name."""
    named = set()
    for operation in operations:
        for kind, body in operation.items():
            if body.get("TableName") != table.name:
                continue
            named.add(key_of(table, body["Item"] if kind == "Put" else body["Key"]))
    return named


def _table_copy(table: Table, memo: dict[int, Any]) -> Table:
    """``Table.__deepcopy__``: during a TransactWriteItems, the table with only the items it names
    deep-copied; any other deep copy of a table is moto's own (a full one).

    Why: moto deep-copies the whole table before each TransactWriteItems, to restore it if the
    transaction is cancelled: ~50 ms per 1,000 items, growing with the table, with the GIL held.
    The items a transaction does not name are never written by it, so sharing them restores the
    same table."""
    operations = getattr(_transaction, "operations", None)
    if operations is None:
        full = cast("Table", Table.__new__(Table))  # as the default deep copy makes it
        memo[id(table)] = full
        full.__dict__.update(copy.deepcopy(table.__dict__, memo))
        return full
    snapshot = copy.copy(table)
    snapshot.items = defaultdict(dict, {h: dict(r) if isinstance(r, dict) else r for h, r in table.items.items()})
    for hash_value, range_value in _named_keys(table, operations):
        if range_value is None:
            if hash_value in table.items:
                snapshot.items[hash_value] = copy.deepcopy(table.items[hash_value])
        elif range_value in table.items.get(hash_value, {}):
            snapshot.items[hash_value][range_value] = copy.deepcopy(table.items[hash_value][range_value])
    return snapshot


def _naming_its_items(method: Callable[..., Any]) -> Callable[..., Any]:
    """``DynamoDBBackend.transact_write_items`` telling ``_table_copy`` which items it names.

    Why: moto's TransactWriteItems takes its rollback copy through ``copy.deepcopy``, which passes
    nothing but the table; the transaction's items reach ``_table_copy`` through this thread."""

    @functools.wraps(method)
    def transact(backend: Any, transact_items: list[dict[str, Any]]) -> Any:
        _transaction.operations = transact_items
        try:
            return method(backend, transact_items)
        finally:
            _transaction.operations = None

    setattr(transact, _WRAPPED, True)
    return transact


def _message_copy(message: Message, memo: dict[int, Any]) -> Message:
    """``Message.__deepcopy__``: a shallow copy.

    Why: moto's ReceiveMessage deep-copies every message it returns, only so that filtering its
    attributes leaves the stored one alone; the filter rebinds the copy's ``message_attributes``
    and never changes the stored dict, so a shallow copy is enough."""
    return copy.copy(message)


def _retained(backend: SQSBackend, queue_name: str, message: Message) -> bool:
    """``SQSBackend.is_message_valid_based_on_retention_period``, with the period read off the queue.

    Why: moto reads the period through GetQueueAttributes, which computes every attribute of the
    queue, counts over all its messages included, for every message ReceiveMessage hands out."""
    queue: Any = backend.get_queue(queue_name)  # moto sets its attributes by name, from the queue's settings
    retention_period = int(queue.message_retention_period)
    return bool(retention_period + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]


def _one_at_a_time(method: Callable[..., Any]) -> Callable[..., Any]:
    """An ``SQSBackend`` method on ``queue_name`` under that queue's lock (moto's ``_messages_lock``:
    a Condition on an RLock, which a long poll's wait lets go of).

    Why: moto's queues are not thread-safe. Two pollers taking one visible message at once (the
    response queue's visibility is 0 s) could overwrite each other's receipt handle, and the
    owner's delete would then fail with ReceiptHandleIsInvalid (SQS accepts every handle it
    gave). DeleteMessage also rebuilds the message list, which a
    SendMessage appending at that moment would lose."""

    @functools.wraps(method)
    def locked(backend: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with backend.get_queue(queue_name)._messages_lock:
            return method(backend, queue_name, *args, **kwargs)

    setattr(locked, _WRAPPED, True)
    return locked


def patch_moto() -> None:
    """Apply every patch of this module to moto's classes (the module docstring); idempotent."""
    if not getattr(DynamoDBBackend.transact_write_items, _WRAPPED, False):
        DynamoDBBackend.transact_write_items = _naming_its_items(DynamoDBBackend.transact_write_items)  # type: ignore[method-assign]
    Table.__deepcopy__ = _table_copy  # type: ignore[attr-defined]
    Message.__deepcopy__ = _message_copy  # type: ignore[attr-defined]
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign,assignment]
    for name in _LOCKED_SQS_METHODS:
        method = getattr(SQSBackend, name)
        if not getattr(method, _WRAPPED, False):
            setattr(SQSBackend, name, _one_at_a_time(method))


# --- opt-in: moto in process holding a large table (``facepipe bench --console``) ---------------
def forget_moto_copies() -> None:
    """Let go of moto's record of every DynamoDB model object it made (kept for its dashboard
    only, ``instances_tracked``): with a transaction's rollback copy among them (tables and items),
    that record keeps every copy alive, and grows the process by megabytes a second."""
    from moto.core.model_instances import model_data

    for model in model_data["dynamodb"].values():
        tracked = getattr(model, "instances_tracked", None)
        if isinstance(tracked, list):
            tracked.clear()


@contextlib.contextmanager
def moto_reading_partitions() -> Iterator[Callable[[], None]]:
    """moto in process with a Query that reads its partition, as DynamoDB does (same answers).

    moto answers every Query by sorting every item of the table (``Table.all_items``) and
    filtering them: seconds per Query at the bench's size, which would time moto, not the
    console. Here a table Query looks its partition up; an index Query, once ``freeze()`` (the
    context's value) is called, reads its partition from a snapshot sorted as the index is,
    taken at its first Query (nothing may be written after ``freeze``)."""
    query, all_items = Table.query, Table.all_items
    lock = threading.RLock()
    frozen: dict[Any, dict[Any, dict[Any, Any]]] = {}
    state = {"frozen": False}

    def partition(table: Table, attribute: str, sort: str, value: Any) -> dict[Any, dict[Any, Any]]:
        key = (id(table), attribute, value)
        if key not in frozen:
            found = [
                item
                for part in table.items.values()
                for item in part.values()
                if attribute in item.attrs and item.attrs[attribute].value == value.value
            ]
            found.sort(
                key=lambda item: (str(item.attrs[sort].value) if sort in item.attrs else "", item.hash_key.value, item.range_key.value)
            )
            ordered: dict[Any, dict[Any, Any]] = {}
            for item in found:
                ordered.setdefault(item.hash_key, {})[item.range_key] = item
            frozen[key] = ordered
        return frozen[key]

    def reading_partitions(table: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        conditions = kwargs.get("hash_key_conditions") or []
        if index_name is None and hash_key is not None:
            subset = {hash_key: table.items[hash_key]} if hash_key in table.items else {}
        elif index_name is not None and state["frozen"] and len(conditions) == 1:
            index = next(i for i in table.all_indexes() if i.name == index_name)
            sort = next((k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"), "")
            subset = partition(table, conditions[0][0], sort, conditions[0][1])
        else:
            return query(table, hash_key, *args, **kwargs)
        with lock:
            whole = table.items
            table.items, table._facepipe_partition = subset, True  # type: ignore[assignment,attr-defined]
            try:
                return query(table, hash_key, *args, **kwargs)
            finally:
                table.items, table._facepipe_partition = whole, False  # type: ignore[attr-defined]

    def partition_items(table: Table) -> Any:
        if getattr(table, "_facepipe_partition", False):
            return [item for part in table.items.values() for item in part.values()]  # in the partition's order
        return all_items(table)

    def freeze() -> None:
        state["frozen"] = True

    Table.query = reading_partitions  # type: ignore[method-assign,assignment]
    Table.all_items = partition_items  # type: ignore[method-assign,assignment]
    try:
        yield freeze
    finally:
        Table.query, Table.all_items = query, all_items  # type: ignore[method-assign]
