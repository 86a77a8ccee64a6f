"""Pinecone's metadata filter language, evaluated in Python for the embedded index.

Supports $eq $ne $gt $gte $lt $lte $in $nin $exists, $and/$or, and the
``{"field": value}`` shorthand for $eq. See docs.pinecone.io "Filter by metadata".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MISSING = object()


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "$exists":
        return (actual is not _MISSING) == bool(expected)
    if actual is _MISSING:
        return op in ("$ne", "$nin")
    values = actual if isinstance(actual, list) else [actual]
    if op == "$eq":
        return expected in values
    if op == "$ne":
        return expected not in values
    if op == "$in":
        return any(v in expected for v in values)
    if op == "$nin":
        return all(v not in expected for v in values)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
        return bool({"$gt": actual > expected, "$gte": actual >= expected, "$lt": actual < expected, "$lte": actual <= expected}[op])
    raise ValueError(f"unsupported filter operator {op!r}")


def matches(metadata: Mapping[str, Any], condition: Mapping[str, Any] | None) -> bool:
    """True when ``metadata`` satisfies the Pinecone-style ``condition`` (None matches all)."""
    if not condition:
        return True
    for key, clause in condition.items():
        if key == "$and":
            if not all(matches(metadata, c) for c in clause):
                return False
        elif key == "$or":
            if not any(matches(metadata, c) for c in clause):
                return False
        elif key.startswith("$"):
            raise ValueError(f"unsupported filter operator {key!r} at top level")
        else:
            actual = metadata.get(key, _MISSING)
            ops = clause if isinstance(clause, Mapping) else {"$eq": clause}
            if not all(_compare(op, actual, expected) for op, expected in ops.items()):
                return False
    return True
