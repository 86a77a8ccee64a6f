"""face-detection: function URL -> MTCNN -> request queue (§1.1, §1.2)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from facepipe.events import parse_frame_request
from facepipe.exceptions import InvalidRequestError
from facepipe.runtime import detection_runtime

logger = Logger(service="face-detection")
runtime = detection_runtime()  # INIT: load MTCNN once per container


def _reply(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: Any) -> dict:
    try:
        request = parse_frame_request(event, runtime.settings)
    except InvalidRequestError as exc:
        logger.info("request refused", error=exc.code, detail=exc.message)
        body = {"error": exc.code, "message": exc.message}
        if exc.request_id is not None:
            body["request_id"] = exc.request_id
        return _reply(exc.status, body)
    logger.append_keys(request_id=request.request_id)
    try:
        return _reply(200, runtime.accept(request, context))
    except IdempotencyValidationError:
        return _reply(
            409,
            {
                "error": "request_id_reused",
                "message": "this request_id was already used for another image",
                "request_id": request.request_id,
            },
        )
    except IdempotencyAlreadyInProgressError:
        return _reply(
            409, {"error": "in_progress", "message": "this request_id is being processed; retry later", "request_id": request.request_id}
        )
    except Exception:
        logger.exception("internal error")
        return _reply(
            500, {"error": "internal_error", "message": "internal error; see the function logs", "request_id": request.request_id}
        )
