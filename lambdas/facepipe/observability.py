"""Powertools logging, tracing and metrics, shared by both functions.

* **Logger**: each function's service name comes from ``POWERTOOLS_SERVICE_NAME`` (Terraform and
  the local stack set ``face-detection`` / ``face-recognition``). The handler's ``Logger()`` is
  the parent; core modules log through ``logger(child=True)`` loggers named under it.
* **Tracer**: X-Ray, active in Lambda only (Powertools disables it elsewhere). boto3 calls are
  subsegments by Powertools' patching; the vector index's calls are captured by name.
* **Metrics**: CloudWatch EMF in namespace ``facepipe``, flushed by the handlers'
  ``log_metrics``; the names below are the whole set, so dashboards and alarms can rely on them.
  Recognition adds metrics from several threads (``RECORD_THREADS``): ``add_metric`` takes a lock,
  since Powertools' read-modify-write of the metric set would lose values.
"""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["NAMESPACE", "Metric", "MetricUnit", "child_logger", "metrics", "tracer"]

NAMESPACE = "facepipe"


class ThreadSafeMetrics(Metrics):
    """Powertools' ``Metrics`` whose ``add_metric`` may be called from several threads at once."""

    _lock = threading.Lock()

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            super().add_metric(*args, **kwargs)


tracer = Tracer()
#: a traced method whose return value stays out of the trace: it names people or carries their
#: ids, and an erasure cannot reach X-Ray
traced_without_result = tracer.capture_method(capture_response=False)
metrics = ThreadSafeMetrics(namespace=NAMESPACE)


class Metric:
    """Metric names (EMF) emitted by the functions."""

    INIT_SECONDS = "InitSeconds"  # per cold start: models and clients loaded
    REQUESTS_REFUSED = "RequestsRefused"  # detection: bad input answered 4xx
    FRAMES = "Frames"  # detection: frames accepted
    FACES_DETECTED = "FacesDetected"  # detection: faces queued for recognition
    SKIPPED_FACES = "SkippedFaces"  # both: faces of a crowd left out by MAX_FACES_PER_FRAME
    FRAMES_WITHOUT_FACE = "FramesWithoutFace"  # detection: answered "" at once
    CLAIM_CHECKS = "ClaimChecks"  # detection: messages whose crops went to S3
    FACES_MATCHED = "FacesMatched"  # recognition: faces named as a known person
    NEW_PEOPLE = "NewPeople"  # recognition: strangers made into people
    UNKNOWN_FACES = "UnknownFaces"  # recognition: faces left unknown (too poor, or ambiguous)
    SIMILARITY = "MatchSimilarity"  # recognition: the best person's similarity, per matched face
    SIGHTINGS_INDEXED = "SightingsIndexed"  # recognition: matched faces added to their person
    DEAD_LETTERS = "DeadLetters"  # recognition: records moved to a DLQ with their reason
    RECORDS_DEFERRED = "RecordsDeferred"  # recognition: records not started for lack of time, left to SQS to deliver again
    CONFLICTS_RETRIED = "DynamoConflictsRetried"  # both: DynamoDB requests refused for overlapping work, sent again
    EVENTS_PUBLISHED = "EventsPublished"  # recognition and operations: EventBridge events put on the bus
    ERASED_FACES = "ErasedFaces"  # recognition: faces of an erased person met again (answered unknown, nothing kept)


def child_logger() -> Logger:
    """A logger of the calling module under the function's service logger."""
    return Logger(child=True)
