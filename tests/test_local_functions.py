"""The local stack's FunctionServer (docs/local.md): a handler as a function URL (payload 2.0) and at the
runtime interface emulator's invoke path. No models: the handlers here are plain functions."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from facepipe_tools.local import functions
from facepipe_tools.local.functions import INVOKE_PATH, FunctionServer

Event = dict[str, Any]


@pytest.fixture
def serve() -> Iterator[Callable[..., FunctionServer]]:
    """Start FunctionServers on free ports; all are stopped at the end."""
    started: list[FunctionServer] = []

    def start(handler: Callable[[Event, Any], Any], function_url: bool = True) -> FunctionServer:
        server = FunctionServer(handler, "facepipe-test", port=0, function_url=function_url).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def echo(event: Event, context: Any) -> dict[str, Any]:
    """A function URL handler that answers with the event it got (and the context's function name)."""
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Function": context.function_name},
        "body": json.dumps(event),
    }


def test_function_url_event_is_payload_2_0_with_text_body(serve: Callable[..., FunctionServer]) -> None:
    # GIVEN a handler served as a function URL
    server = serve(echo)
    # WHEN a JSON body is POSTed with a query string
    reply = httpx.post(server.url + "frames/cam1?a=1&b=two", json={"request_id": "r1"}, headers={"X-Camera": "door"})
    # THEN the handler got a payload 2.0 event, and its statusCode, headers and body came back
    assert reply.status_code == 201
    assert reply.headers["x-function"] == "facepipe-test"
    event = reply.json()
    assert event["version"] == "2.0"
    assert (event["rawPath"], event["rawQueryString"]) == ("/frames/cam1", "a=1&b=two")
    assert event["queryStringParameters"] == {"a": "1", "b": "two"}
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["headers"]["x-camera"] == "door"
    assert event["headers"]["content-type"] == "application/json"
    assert json.loads(event["body"]) == {"request_id": "r1"}
    assert event["isBase64Encoded"] is False


def test_function_url_binary_body_arrives_base64_encoded(serve: Callable[..., FunctionServer]) -> None:
    # GIVEN a handler served as a function URL WHEN bytes that are not text are POSTed
    server = serve(echo)
    raw = bytes(range(256))
    event = httpx.post(server.url, content=raw, headers={"Content-Type": "image/jpeg"}).json()
    # THEN the body is base64, as AWS sends it, and the path is "/"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw
    assert event["rawPath"] == "/"
    assert event["queryStringParameters"] is None


def test_function_url_base64_reply_is_decoded_and_plain_results_are_json(serve: Callable[..., FunctionServer]) -> None:
    # GIVEN a handler that answers with a base64 body, and one that returns a plain dict
    png = b"\x89PNG\r\n\x1a\n\x00binary"
    image = serve(
        lambda e, c: {
            "statusCode": 200,
            "headers": {"Content-Type": "image/png"},
            "body": base64.b64encode(png).decode(),
            "isBase64Encoded": True,
        }
    )
    plain = serve(lambda e, c: {"faces": 2})
    # WHEN each is called THEN the bytes are sent as they are, the dict as a JSON body
    reply = httpx.get(image.url)
    assert (reply.status_code, reply.headers["content-type"], reply.content) == (200, "image/png", png)
    reply = httpx.get(plain.url)
    assert (reply.status_code, reply.headers["content-type"], reply.json()) == (200, "application/json", {"faces": 2})


def test_function_url_handler_failure_is_502_without_a_trace(serve: Callable[..., FunctionServer]) -> None:
    # GIVEN a handler that raises
    def broken(event: Event, context: Any) -> None:
        raise RuntimeError("secret detail")

    server = serve(broken)
    # WHEN called through its URL THEN 502 as Lambda answers, nothing of the exception
    reply = httpx.post(server.url, json={})
    assert reply.status_code == 502
    assert reply.json() == {"Message": "Internal Server Error"}


def test_function_url_oversized_body_is_413(serve: Callable[..., FunctionServer], monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a read limit of 1 KiB
    monkeypatch.setattr(functions, "READ_LIMIT", 1024)
    calls: list[Event] = []
    server = serve(lambda e, c: calls.append(e))
    # WHEN a larger body arrives THEN 413 with an error code, and the handler never ran
    reply = httpx.post(server.url, content=b"x" * 4096, headers={"Content-Type": "text/plain"})
    assert reply.status_code == 413
    assert reply.json()["error"] == "body_too_large"
    assert calls == []


def test_invoke_path_returns_the_handler_result_like_the_runtime_emulator(serve: Callable[..., FunctionServer]) -> None:
    # GIVEN a function without a URL (as face-recognition is served)
    server = serve(lambda e, c: {"batchItemFailures": [], "got": e}, function_url=False)
    # WHEN a raw event is POSTed to the emulator's invoke path THEN the result comes back as JSON
    assert server.invoke_url == server.url.rstrip("/") + INVOKE_PATH
    assert server.invoke_url.endswith("/2015-03-31/functions/function/invocations")
    reply = httpx.post(server.invoke_url, json={"Records": [{"body": "{}"}]})
    assert reply.status_code == 200
    assert reply.json() == {"batchItemFailures": [], "got": {"Records": [{"body": "{}"}]}}
    # WHEN anything else is asked THEN 404 says where to POST events
    reply = httpx.post(server.url, json={})
    assert reply.status_code == 404
    assert INVOKE_PATH in reply.json()["message"]


def test_invoke_path_reports_a_handler_error_as_a_payload(serve: Callable[..., FunctionServer]) -> None:
    # GIVEN a handler that raises
    def broken(event: Event, context: Any) -> None:
        raise ValueError("no bucketName")

    server = serve(broken)
    # WHEN invoked the emulator's way THEN 200 with errorMessage, errorType and stackTrace
    reply = httpx.post(server.invoke_url, content=b"")
    assert reply.status_code == 200
    error = reply.json()
    assert (error["errorMessage"], error["errorType"]) == ("no bucketName", "ValueError")
    assert isinstance(error["stackTrace"], list)


def test_function_server_port_0_takes_a_free_port_and_stop_frees_it(serve: Callable[..., FunctionServer]) -> None:
    # GIVEN two servers on port 0 THEN they got different free ports on 127.0.0.1
    first, second = serve(echo), serve(echo)
    assert first.url.startswith("http://127.0.0.1:")
    assert first.url.endswith("/")
    assert first.url != second.url
    # WHEN one is stopped THEN it no longer answers; the other still does
    first.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(first.url, timeout=2)
    assert httpx.get(second.url).status_code == 201
