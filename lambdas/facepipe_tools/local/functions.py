"""Serve a handler the ways Lambda does: as a function URL (payload 2.0) and at the runtime
interface emulator's invoke path, so seed 000's documented ``curl`` test works unchanged."""

from __future__ import annotations

import base64
import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from werkzeug.wrappers import Request, Response

from facepipe_tools.local.context import LambdaContext
from facepipe_tools.local.serving import LocalServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
#: read no more than this from a request (Lambda's own payload cap is 6 MB; we read enough to answer 413)
READ_LIMIT = 64 * 2**20
_TEXT_TYPES = ("text/", "json", "xml", "javascript", "x-www-form-urlencoded")
_JSON = {"Content-Type": "application/json"}

log = logging.getLogger("facepipe_tools.local")
#: a Lambda handler: (event, context) -> result
Handler = Callable[[Any, LambdaContext], Any]


def function_url_event(method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    """A Lambda function URL event (payload format 2.0); non-text bodies are base64 like AWS does."""
    url = urlsplit(target)
    content_type = headers.get("content-type", "")
    is_text = not body or any(t in content_type for t in _TEXT_TYPES)
    try:
        text = body.decode("utf-8") if is_text else None
    except UnicodeDecodeError:
        text = None
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path or "/",
        "rawQueryString": url.query,
        "headers": headers,
        "queryStringParameters": dict(parse_qsl(url.query)) or None,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "http": {
                "method": method,
                "path": url.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text if text is not None else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": text is None,
    }


class _Reply(Response):
    default_mimetype = None  # a handler's reply without Content-Type goes out without one


def _json(status: int, payload: Any) -> Response:
    return _Reply(json.dumps(payload), status, _JSON)


class FunctionServer:
    """One handler behind an HTTP server (each request is one invocation); a WSGI app itself."""

    def __init__(self, handler: Handler, function_name: str, port: int = 0, function_url: bool = True, timeout: float = 60.0) -> None:
        self.handler = handler
        self.function_name = function_name
        self.function_url = function_url
        self.timeout = timeout
        self._server = LocalServer(self, port=port, name=f"{function_name}-http")

    @property
    def url(self) -> str:
        return self._server.url + "/"

    @property
    def invoke_url(self) -> str:
        return self._server.url + INVOKE_PATH

    def start(self) -> FunctionServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        """The function URL, or the emulator's invoke path, for one HTTP request."""
        if (request.content_length or 0) > READ_LIMIT:
            return _json(413, {"error": "body_too_large", "message": f"request body over {READ_LIMIT} bytes"})
        body = request.get_data()
        if request.method == "POST" and request.path == INVOKE_PATH:
            return _json(200, self.invoke_raw(body))
        if not self.function_url:
            return _json(404, {"message": f"this function has no URL; POST events to {INVOKE_PATH}"})
        headers = {key.lower(): value for key, value in request.headers.items()}
        target = request.environ.get("RAW_URI") or request.full_path
        event = function_url_event(request.method, target, headers, body, request.remote_addr or "")
        status, reply_headers, raw = self.invoke_function_url(event)
        return _Reply(raw, status, reply_headers or _JSON)

    def context(self) -> LambdaContext:
        return LambdaContext(function_name=self.function_name, timeout_seconds=self.timeout)

    def invoke(self, event: Any) -> Any:
        return self.handler(event, self.context())

    def invoke_raw(self, body: bytes) -> Any:
        """The runtime interface emulator's contract: raw event in, handler result (or error) out."""
        try:
            event = json.loads(body or b"{}")
            return self.invoke(event)
        except Exception as exc:  # the emulator reports errors as a payload, not a status
            return {"errorMessage": str(exc), "errorType": exc.__class__.__name__, "stackTrace": traceback.format_tb(exc.__traceback__)}

    def invoke_function_url(self, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        """Function URL semantics: a dict with statusCode is the response; anything else is a JSON body."""
        try:
            result = self.invoke(event)
        except Exception:
            log.exception("%s failed", self.function_name)
            return 502, dict(_JSON), b'{"Message":"Internal Server Error"}'
        if isinstance(result, dict) and "statusCode" in result:
            body = result.get("body") or ""
            raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
            return int(result["statusCode"]), {str(k): str(v) for k, v in (result.get("headers") or {}).items()}, raw
        return 200, dict(_JSON), json.dumps(result).encode()
