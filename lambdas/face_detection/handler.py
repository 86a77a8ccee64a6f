"""face-detection: function URL -> MTCNN -> request queue (docs/contracts.md: Request, Request message)."""

from __future__ import annotations

import json
from typing import Any, TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError, IdempotencyValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.access import DeviceTokens
from facepipe.events import parse_frame_request
from facepipe.exceptions import InvalidRequestError
from facepipe.observability import Metric, MetricUnit, metrics, tracer
from facepipe.runtime import detection_runtime

logger = Logger()  # service: POWERTOOLS_SERVICE_NAME
runtime = detection_runtime()  # INIT: load MTCNN once per container
# per-device tokens when DEVICE_TOKENS_SSM_PARAMETER_NAME is set (a public URL); read at INIT
devices = DeviceTokens(runtime.settings.device_tokens_ssm_parameter_name) if runtime.settings.device_tokens_ssm_parameter_name else None


class Reply(TypedDict):
    """A function URL response (payload 2.0)."""

    statusCode: int
    headers: dict[str, str]
    body: str


def _reply(status: int, body: dict[str, Any]) -> Reply:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def _error(status: int, code: str, message: str, request_id: str | None) -> Reply:
    body: dict[str, Any] = {"error": code, "message": message}
    if request_id is not None:
        body["request_id"] = request_id
    return _reply(status, body)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> Reply:
    try:
        request = parse_frame_request(event, runtime.settings, devices)
    except InvalidRequestError as exc:
        logger.info("request refused", error=exc.code, detail=exc.message)
        metrics.add_metric(name=Metric.REQUESTS_REFUSED, unit=MetricUnit.Count, value=1)
        return _error(exc.status, exc.code, exc.message, exc.request_id)
    except Exception:  # a fault of ours (or of SSM reading the tokens), never the caller's: 500, no trace
        logger.exception("internal error while reading the request")
        return _error(500, "internal_error", "internal error; see the function logs", None)
    logger.append_keys(request_id=request.request_id)
    try:
        return _reply(200, dict(runtime.accept(request, context)))
    except IdempotencyValidationError:
        return _error(409, "request_id_reused", "this request_id was already used for another image", request.request_id)
    except IdempotencyAlreadyInProgressError:
        return _error(409, "in_progress", "this request_id is being processed; retry later", request.request_id)
    except Exception:
        logger.exception("internal error")
        return _error(500, "internal_error", "internal error; see the function logs", request.request_id)
