"""A page at a time of a GSI1 listing of the people table: what ``directory`` reads with.

A page is read from a cursor, only as far as the page and one item more (to know whether a
next page exists); a filtered listing reads ``FILTERED_READ`` items per request, since a filter
drops items after DynamoDB reads them. A cursor is the last item's keys
(``facepipe.review.encode_cursor``), checked to belong to the listing it is used on
(``BadCursor`` otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from facepipe.review import decode_cursor, encode_cursor

if TYPE_CHECKING:
    from facepipe.people import PeopleStore

__all__ = ["FILTERED_READ", "BadCursor", "Listing", "cursor_of", "first", "projection", "start_key", "window"]

T = TypeVar("T")

#: items a filtered listing asks for per request (a filter drops items after DynamoDB reads them)
FILTERED_READ = 200
_CURSOR_KEYS = ("PK", "SK", "GSI1PK", "GSI1SK")


class BadCursor(ValueError):
    """A page link whose cursor is not one this listing made (edited, or from another listing)."""


@dataclass(frozen=True)
class Listing(Generic[T]):
    """One page of a listing and the cursors of its neighbours (None: there is none)."""

    items: list[T]
    previous: str | None = None
    next: str | None = None


def cursor_of(item: Mapping[str, Any]) -> str:
    """The cursor that starts a listing just after (or, backwards, just before) ``item``."""
    return encode_cursor({k: item[k] for k in _CURSOR_KEYS})


def start_key(cursor: str, partition: str) -> dict[str, Any]:
    """The keys a cursor of the ``partition`` listing starts after (``BadCursor`` when it is not one)."""
    try:
        key = decode_cursor(cursor)
    except (ValueError, UnicodeError) as exc:
        raise BadCursor(f"not a cursor: {exc}") from None
    if set(key) != set(_CURSOR_KEYS) or not all(isinstance(v, str) for v in key.values()) or key["GSI1PK"] != partition:
        raise BadCursor(f"not a cursor of the {partition} listing")
    return key


def projection(fields: Iterable[str]) -> dict[str, Any]:
    """A ProjectionExpression of ``fields`` with a placeholder for each (several are reserved words)."""
    names = {f"#p{i}": name for i, name in enumerate(fields)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


def first(people: PeopleStore, **query: Any) -> list[dict[str, Any]]:
    """The items of one Query request (its first page: ``Limit`` of them at most)."""
    reply = people.table.meta.client.query(TableName=people.table_name, **query)
    return list(reply.get("Items", []))


def _collect(people: PeopleStore, query: Mapping[str, Any], start: dict[str, Any] | None, size: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``size`` items from ``start`` on, and whether more follow."""
    client = people.table.meta.client
    ask = dict(query)
    if start:
        ask["ExclusiveStartKey"] = start
    limit = max(size + 1, FILTERED_READ) if "FilterExpression" in ask else size + 1
    found: list[dict[str, Any]] = []
    while True:
        page = client.query(TableName=people.table_name, Limit=limit, **ask)
        found += page.get("Items", [])
        if len(found) > size:
            return found[:size], True
        if "LastEvaluatedKey" not in page:
            return found, False
        ask["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def window(
    people: PeopleStore,
    partition: str,
    query: dict[str, Any],
    after: str | None,
    before: str | None,
    size: int,
    *,
    newest_first: bool = False,
) -> Listing[dict[str, Any]]:
    """A page of a GSI1 listing: after the cursor ``after``, or the page that ends just before ``before``."""
    forward = not newest_first
    if before and not after:
        items, more = _collect(people, {**query, "ScanIndexForward": not forward}, start_key(before, partition), size)
        if not more:  # the first page: read it forwards, whole
            return window(people, partition, query, None, None, size, newest_first=newest_first)
        items.reverse()
        return Listing(items, cursor_of(items[0]), cursor_of(items[-1]))
    start = start_key(after, partition) if after else None
    items, more = _collect(people, {**query, "ScanIndexForward": forward}, start, size)
    previous = cursor_of(items[0]) if start and items else None
    return Listing(items, previous, cursor_of(items[-1]) if more and items else None)
