"""The invocation's deadline: a frame record is started only when it fits in the time left.

Under a Lambda context, a frame record is started (its crops read, then embedded) only when its
estimated cost fits in the remaining time less a safety margin (``SAFETY_SECONDS``, at most
``SAFETY_SHARE`` of the time the invocation started with). The estimate comes from what this
container measured (``FaceCosts``): per face, the invoking thread's seconds (reading and
embedding the crop) and a finishing thread's seconds, as moving averages (conservative defaults
before the first measurement), times the record's faces (the embedding also counts the crops
already waiting for their pass). A record that does not fit is not started: it is reported as a
batch item failure (``RecordDeferred``), with a warning and the ``RecordsDeferred`` metric, and
SQS delivers it again in another batch (nothing of it was written: no idempotency record, no
dead letter; SQS still counts the receive). A record is attempted whatever the estimate when it
is the first one the invocation starts (a record larger than any deadline would otherwise never
be), or on its last attempt (deferred, its next receive would be the reserved final one, which
dead-letters it as if its attempt had died). Without a context (a hand-written test event)
there is no deadline. Photo records are never deferred: their faces are known only after
detection, and they come in batches of their own (the photo queue).
"""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.observability import Metric, MetricUnit, child_logger, metrics
from facepipe.queues import DeadLetters

logger = child_logger()

#: seconds an invocation keeps in hand after the records it starts: a record is started only when
#: its estimate fits in the remaining time less this (less ``SAFETY_SHARE`` of a short invocation)
SAFETY_SECONDS = 5.0
SAFETY_SHARE = 0.1
#: seconds a face costs, assumed until this container has measured its own; on the high side
#: (dlib takes ~0.1 s a face in a pass of 10, InceptionResnetV1 ~0.03 s; a 1-face record's
#: finishing is ~8 calls in a row)
DEFAULT_EMBED_SECONDS = 0.25
DEFAULT_FINISH_SECONDS = 0.25
#: weight of one face's measurement in the running costs (a 10-face record moves them 65% of the way)
FACE_WEIGHT = 0.1


class RecordDeferred(Exception):
    """A record not started: the invocation had too little time left for it (SQS delivers it again)."""


class FaceCosts:
    """What a face costs in this container: seconds of the invoking thread (reading and embedding
    its crop) and of a finishing thread, each a moving average over the faces measured (the first
    measurement replaces the default). Updated from several threads."""

    def __init__(self, embed: float = DEFAULT_EMBED_SECONDS, finish: float = DEFAULT_FINISH_SECONDS) -> None:
        self.embed = embed
        self.finish = finish
        self._measured: set[str] = set()
        self._lock = threading.Lock()

    def embedded(self, seconds: float, faces: int) -> None:
        self._observe("embed", seconds, faces)

    def finished(self, seconds: float, faces: int) -> None:
        self._observe("finish", seconds, faces)

    def estimate(self, faces: int, waiting: int = 0) -> float:
        """Seconds until a record of ``faces`` is finished when started now, behind ``waiting`` crops."""
        return (faces + waiting) * self.embed + faces * self.finish

    def _observe(self, kind: str, seconds: float, faces: int) -> None:
        if faces <= 0:
            return
        per_face = seconds / faces
        with self._lock:
            if kind in self._measured:
                weight = 1.0 - (1.0 - FACE_WEIGHT) ** faces
                per_face = getattr(self, kind) + weight * (per_face - getattr(self, kind))
            self._measured.add(kind)
            setattr(self, kind, per_face)


class Deadline:
    """One invocation's time: whether a record can still be started (always, without a context)."""

    def __init__(self, context: LambdaContext | None, costs: FaceCosts, dead_letters: DeadLetters) -> None:
        self.context = context
        self.costs = costs
        self.dead_letters = dead_letters
        self.margin = SAFETY_SECONDS
        if context is not None:
            self.margin = min(SAFETY_SECONDS, SAFETY_SHARE * context.get_remaining_time_in_millis() / 1000)

    def fits(self, record: dict[str, Any], request_id: str, faces: int, waiting: int) -> bool:
        """Whether there is time to start ``record`` (of ``faces``, behind ``waiting`` crops); a
        record that does not fit is deferred (False), logged and counted, unless on its last attempt."""
        if self.context is None:
            return True
        remaining = self.context.get_remaining_time_in_millis() / 1000
        estimate = self.costs.estimate(faces, waiting=waiting)
        if remaining - self.margin >= estimate:
            return True
        where: dict[str, Any] = {
            "message_id": record["messageId"],
            "request_id": request_id,
            "faces": faces,
            "estimate_seconds": round(estimate, 2),
            "remaining_seconds": round(remaining, 2),
        }
        if self._last_attempt(record):
            logger.warning("too little time left for a record on its last attempt; attempting it anyway", **where)
            return True
        logger.warning("record deferred: too little time left in this invocation; SQS delivers it again", **where)
        metrics.add_metric(name=Metric.RECORDS_DEFERRED, unit=MetricUnit.Count, value=1)
        return False

    def _last_attempt(self, record: dict[str, Any]) -> bool:
        try:
            return self.dead_letters.is_last_attempt(record)
        except Exception as exc:  # the redrive policy unknown: attempting cannot lose the record
            logger.warning("receive count unknown; attempting the record", message_id=record["messageId"], error=repr(exc))
            return True
