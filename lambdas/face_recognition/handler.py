"""face-recognition: SQS batch (request and photo queues) -> embed, match, tag, respond (§1.3, §1.4)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from facepipe.runtime import recognition_runtime

logger = Logger(service="face-recognition")
runtime = recognition_runtime()  # INIT: load the embedder and index client once per container


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: Any) -> dict:
    """Returns ``{"batchItemFailures": [...]}`` (ReportBatchItemFailures)."""
    return runtime.consumer.handle(event, context)
