"""Fuzzing the function URL (docs/contracts.md, Request) through the real face-detection handler on moto: for any event
and any body, the reply is a JSON 2xx/4xx (never 5xx, never an exception), and a refused request
sends nothing to any queue. Profiles and strategies: tests/fuzzing.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from fuzzing import FUZZ, body_events, fuzz, url_events

from facepipe.runtime import detection_runtime
from facepipe_tools.local.context import LambdaContext
from helpers import cold_start, drain, function_environment

ALLOWED = {200, 400, 401, 403, 405, 409, 413}


@pytest.fixture
def detection_handler(aws, resources, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    environment = function_environment(resources, POWERTOOLS_METRICS_NAMESPACE="facepipe-fuzz", POWERTOOLS_TRACE_DISABLED="true")
    yield cold_start("face_detection", environment, monkeypatch)
    detection_runtime.cache_clear()


@pytest.fixture
def check_reply(aws, resources, detection_handler, capsys) -> Callable[[dict[str, Any]], None]:
    """``check(event)``: invoke the handler and hold its reply and the queues to the properties."""
    sqs = aws.client("sqs")
    queues = (resources.request_queue_url, resources.response_queue_url)
    counts = {"accepted": 0, "refused": 0}

    def waiting() -> int:
        return sum(
            int(
                sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                    "ApproximateNumberOfMessages"
                ]
            )
            for q in queues
        )

    def check(event: dict[str, Any]) -> None:
        reply = detection_handler.handler(event, LambdaContext(function_name="face-detection"))
        capsys.readouterr()  # Powertools prints its metrics (EMF) on every invocation: keep the output small
        assert reply["statusCode"] in ALLOWED, reply
        body = json.loads(reply["body"])
        if reply["statusCode"] == 200:
            counts["accepted"] += 1
            assert body["status"] == "queued"
            for queue in queues:
                drain(sqs, queue)
            return
        counts["refused"] += 1
        assert set(body) <= {"error", "message", "request_id"}
        assert body["error"]
        assert isinstance(body["message"], str)
        assert "Traceback" not in reply["body"]
        assert waiting() == 0, f"a refused request ({reply['statusCode']} {body['error']}) sent a message"

    check.counts = counts  # type: ignore[attr-defined]
    return check


def test_fuzz_function_url_event_never_5xx_and_refusals_send_nothing(check_reply) -> None:
    # GIVEN events whose every part may be missing or malformed (method, context, headers, body, encoding)
    # WHEN each is handled, THEN each reply is JSON 2xx/4xx and no refused one sent anything
    def function_url_event(event: dict[str, Any]) -> None:
        check_reply(event)

    assert fuzz(url_events(), function_url_event) >= FUZZ.max_examples
    print(f"function_url_event: {check_reply.counts}")
    assert check_reply.counts["refused"] > 0


def test_fuzz_function_url_body_never_5xx_and_refusals_send_nothing(check_reply) -> None:
    # GIVEN POSTs whose body is any request-shaped object (fields missing, mistyped, bad images), any JSON,
    # JSON nested 900-250 000 deep, numbers JSON does not have, or any text; base64 or not
    def function_url_body(event: dict[str, Any]) -> None:
        check_reply(event)

    assert fuzz(body_events, function_url_body) >= FUZZ.max_examples
    print(f"function_url_body: {check_reply.counts}")
    assert check_reply.counts["refused"] > 0
    assert check_reply.counts["accepted"] > 0  # the strategy reaches the accepting path too
