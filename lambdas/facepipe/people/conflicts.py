"""DynamoDB's refusals of overlapping work, retried in one place with jittered backoff.

DynamoDB does not lock items for a transaction; it refuses what overlaps one in flight:

* a TransactWriteItems naming an item that another TransactWriteItems in flight names (any
  action, ConditionCheck included) is cancelled: ``TransactionCanceledException`` with the
  reason ``TransactionConflict`` on that item;
* a TransactGetItems naming an item with a write in flight is cancelled the same way;
* a PutItem, UpdateItem or DeleteItem on an item in a transaction in flight fails with
  ``TransactionConflictException``.

Throttling inside a transaction comes back the same way (reason ``ThrottlingError``). botocore
retries none of these (its rules name ``TransactionInProgressException`` only), and nothing was
written, so sending the same request again is safe. A cancellation that also reports a failed
condition is the caller's to judge (a condition is a fact, not a race), so it is not retried.

Every retry is counted (``conflicts_retried``; the ``DynamoConflictsRetried`` metric), so the
fault suite and the stack tests can say how many there were.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

#: attempts of one request before its error is raised (the record then fails and SQS redelivers it)
CONFLICT_TRIES = 10
#: the first retry waits up to this long (full jitter), doubling up to ``MAX_DELAY``
BASE_DELAY, MAX_DELAY = 0.01, 0.5
_RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
_FINAL_REASONS = frozenset({"ConditionalCheckFailed", "ValidationError", "ItemCollectionSizeLimitExceeded", "DuplicateItem"})

_lock = threading.Lock()
_retried = 0


def cancellation_reasons(exc: ClientError) -> list[str | None]:
    """The reason code per item of a cancelled transaction ([] for any other error)."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    return [r.get("Code") for r in exc.response.get("CancellationReasons", [])]


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a refusal that the same request may overcome a moment later."""
    if not isinstance(exc, ClientError):
        return False
    code = exc.response.get("Error", {}).get("Code")
    if code == "TransactionConflictException":
        return True
    reasons = set(cancellation_reasons(exc))
    return bool(reasons & _RETRYABLE_REASONS) and not reasons & _FINAL_REASONS


def conflicts_retried() -> int:
    """Retries of refused requests in this process so far."""
    return _retried


def _count() -> None:
    global _retried
    with _lock:
        _retried += 1
    from facepipe.observability import Metric, MetricUnit, metrics

    metrics.add_metric(name=Metric.CONFLICTS_RETRIED, unit=MetricUnit.Count, value=1)


def retrying(call: Callable[[], T], *, tries: int = CONFLICT_TRIES, sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, sent again after a jittered pause while DynamoDB refuses it for overlapping work."""
    for attempt in range(tries):
        try:
            return call()
        except ClientError as exc:
            if not is_conflict(exc) or attempt == tries - 1:
                raise
            _count()
            sleep(random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**attempt)))
    raise AssertionError("unreachable")  # the loop returns or raises
