"""Serve a handler the ways Lambda does: as a function URL (payload 2.0) and at the runtime
interface emulator's invoke path, so seed 000's documented ``curl`` test works unchanged."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from facepipe_tools.local.context import LambdaContext

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
#: read no more than this from a request (Lambda's own payload cap is 6 MB; we read enough to answer 413)
READ_LIMIT = 64 * 2**20
_TEXT_TYPES = ("text/", "json", "xml", "javascript", "x-www-form-urlencoded")

log = logging.getLogger("facepipe_tools.local")
Handler = Callable[[dict, Any], Any]


def function_url_event(method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict:
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


class FunctionServer:
    """A threaded HTTP server in front of one handler (each request is one invocation)."""

    def __init__(self, handler: Handler, function_name: str, port: int = 0, function_url: bool = True, timeout: float = 60.0):
        self.handler = handler
        self.function_name = function_name
        self.timeout = timeout
        server = self

        class _Request(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("%s %s", function_name, fmt % args)

            def _read(self) -> bytes | None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > READ_LIMIT:
                    self._send(413, {"error": "body_too_large", "message": f"request body over {READ_LIMIT} bytes"})
                    return None
                return self.rfile.read(length) if length else b""

            def _send(self, status: int, body: Any, headers: dict | None = None, raw: bytes | None = None) -> None:
                payload = raw if raw is not None else json.dumps(body).encode()
                self.send_response(status)
                for key, value in (headers or {"Content-Type": "application/json"}).items():
                    self.send_header(key, str(value))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _handle(self) -> None:
                body = self._read()
                if body is None:
                    return
                if self.command == "POST" and urlsplit(self.path).path == INVOKE_PATH:
                    self._send(200, server.invoke_raw(body))
                elif function_url:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    event = function_url_event(self.command, self.path, headers, body, self.client_address[0])
                    status, reply_headers, raw = server.invoke_function_url(event)
                    self._send(status, None, reply_headers, raw)
                else:
                    self._send(404, {"message": f"this function has no URL; POST events to {INVOKE_PATH}"})

            do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _handle

        self._http = ThreadingHTTPServer(("127.0.0.1", port), _Request)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name=f"{function_name}-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def invoke_url(self) -> str:
        return self.url.rstrip("/") + INVOKE_PATH

    def start(self) -> FunctionServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

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

    def invoke_function_url(self, event: dict) -> tuple[int, dict, bytes]:
        """Function URL semantics: a dict with statusCode is the response; anything else is a JSON body."""
        try:
            result = self.invoke(event)
        except Exception:
            log.exception("%s failed", self.function_name)
            return 502, {"Content-Type": "application/json"}, b'{"Message":"Internal Server Error"}'
        if isinstance(result, dict) and "statusCode" in result:
            body = result.get("body") or ""
            raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
            return int(result["statusCode"]), dict(result.get("headers") or {}), raw
        return HTTPStatus.OK, {"Content-Type": "application/json"}, json.dumps(result).encode()
