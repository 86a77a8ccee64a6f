"""face-recognition: SQS batch (request and photo queues) -> embed, match, tag, respond (docs/contracts.md: Response, Photos)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.observability import metrics, tracer
from facepipe.runtime import recognition_runtime

logger = Logger()  # service: POWERTOOLS_SERVICE_NAME
runtime = recognition_runtime()  # INIT: load the embedder and index client once per container


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Returns ``{"batchItemFailures": [...]}`` (ReportBatchItemFailures)."""
    return runtime.consumer.handle(event, context)
