"""How a record ends when its work fails: retried by SQS, or dead-lettered with its reason.

A message that cannot be valid is dead-lettered at once (``invalid_message``); a record another
delivery is still working on is retried, and on its last attempt dead-lettered
(``still_in_progress``: the other delivery answers); any other failure is retried until its last
attempt (``retries_exhausted``). Records on their reserved final receive (the previous attempt
died: a timeout, out of memory) are dead-lettered before the batch's work begins, so a batch
that dies again cannot take them down. With no dead-letter queue configured a record is never
dropped: SQS keeps it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from facepipe.exceptions import InvalidMessageError
from facepipe.observability import Metric, MetricUnit, child_logger, metrics
from facepipe.queues import DeadLetters

logger = child_logger()


@contextmanager
def record_outcome(dead_letters: DeadLetters, record: dict[str, Any]) -> Iterator[None]:
    """Run a record's work: what fails is dead-lettered with its reason, or raised for SQS to retry."""
    try:
        yield
    except InvalidMessageError as exc:
        dead_letter(dead_letters, record, "invalid_message", exc)
    except IdempotencyAlreadyInProgressError as exc:
        if not dead_letters.is_last_attempt(record):
            raise  # another delivery is working on it: retry this record later
        dead_letter(dead_letters, record, "still_in_progress", exc)  # the other delivery answers; this copy says why it stopped
    except Exception as exc:
        if not dead_letters.is_last_attempt(record):
            logger.warning("record failed; SQS will redeliver it", message_id=record["messageId"], error=repr(exc))
            raise
        dead_letter(dead_letters, record, "retries_exhausted", exc)


def dead_letter_past_attempts(dead_letters: DeadLetters, records: list[dict[str, Any]]) -> set[str]:
    """The message ids of the records on their reserved final receive, dead-lettered now."""
    past = set()
    for record in records:
        if dead_letters.is_past_attempts(record):
            try:
                dead_letter(dead_letters, record, "retries_exhausted", RuntimeError("the previous attempt died (timeout or out of memory)"))
                past.add(record["messageId"])
            except Exception:  # the DLQ refused it: the record is tried once more, then dead-lettered again
                logger.warning("dead-lettering failed; trying the record", message_id=record["messageId"])
    return past


def dead_letter(dead_letters: DeadLetters, record: dict[str, Any], reason: str, exc: Exception) -> None:
    if not dead_letters.send(record, reason, f"{exc.__class__.__name__}: {exc}"):
        raise exc  # no DLQ configured: let SQS keep it rather than drop it
    metrics.add_metric(name=Metric.DEAD_LETTERS, unit=MetricUnit.Count, value=1)
    logger.error("record dead-lettered", message_id=record["messageId"], reason=reason, error=str(exc))
