"""The AWS emulator of the local stack: moto's threaded server, with these changes (moto's code
is not edited; the patches of moto's classes, each with its reason, are in
``facepipe_tools.local.moto_patches``, applied before the server starts):

- **The backend of a host is looked up once.** moto's dispatcher lists its own package
  directory and tries its URL patterns on every request, under one lock: with many clients
  polling the response queue, that lookup would take most of the emulator's CPU.
- **DynamoDB requests run one at a time.** moto's TransactWriteItems deep-copies the table
  while other requests may change it ("dictionary changed size during iteration", a 500 the
  SDK retries); in DynamoDB a transaction is isolated, so here it is too.
- **moto's classes patched** (``moto_patches``): a transaction's rollback copy holds only the
  items it names; SQS hands out messages without a deep copy and without walking the queue; an
  SQS queue serves one request at a time.
- **Overlapping transactions are refused, as DynamoDB refuses them**
  (``facepipe_tools.local.strict_dynamodb`` has the rules): a request meeting the items of a
  transaction or write still in flight is refused before it is applied. What was refused is
  counted (``GET /_facepipe/conflicts``, ``conflict_counts``).

The local stack runs it in a process of its own (``EmulatorProcess``, ``python -m
facepipe_tools.local.emulator``): moto is Python, and in the stack's process it would hold the
interpreter lock that the event-source pollers, the function URL and the shared index need.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any, cast

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from facepipe_tools.local.moto_patches import patch_moto
from facepipe_tools.local.strict_dynamodb import NAMING, TRANSACTION_MS, WRITE_MS, InFlight, item_ids

__all__ = [
    "CONFLICTS_PATH",
    "READY",
    "TRANSACTION_MS",
    "WRITE_MS",
    "AwsEmulator",
    "EmulatorError",
    "EmulatorProcess",
    "conflict_counts",
    "main",
    "serve",
]

#: the emulator's own route: what it refused (``conflict_counts``); moto's are under /moto-api/
CONFLICTS_PATH = "/_facepipe/conflicts"


class _Dispatcher(DomainDispatcherApplication):
    def __init__(self, transaction_ms: float = TRANSACTION_MS, write_ms: float = WRITE_MS) -> None:
        super().__init__(create_backend_app)
        self._backends: dict[str | None, Any] = {}
        self._dynamodb_lock = threading.Lock()
        self._in_flight = InFlight(transaction_ms, write_ms)

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backends:  # called under the dispatcher's lock
            self._backends[host] = super().get_backend_for_host(host)
        return self._backends[host]

    def get_application(self, environ: dict[str, Any]) -> Any:
        if environ.get("PATH_INFO") == CONFLICTS_PATH:
            return self._conflicts
        app = super().get_application(environ)
        if app is not self.app_instances.get("dynamodb"):
            return app

        def one_at_a_time(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
            request: dict[str, Any] = {}
            if operation == "TransactWriteItems" or (operation in NAMING and self._in_flight.on):
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                environ["wsgi.input"] = io.BytesIO(body)
                try:
                    request = json.loads(body)
                except ValueError:  # moto answers for it
                    request = {}
            statuses: list[str] = []

            def recorded(status: str, *args: Any) -> Any:
                statuses.append(status)
                return start_response(status, *args)

            with self._dynamodb_lock:
                ids = item_ids(environ, operation, request) if request and self._in_flight.on else []
                refusal = self._in_flight.refusal(operation, ids)
                if refusal is not None:  # refused before it is applied: nothing it names changes
                    return list(refusal(environ, start_response))
                answer = list(app(environ, recorded))
                held = self._in_flight.hold(operation, ids) if statuses and statuses[0].startswith("2") else None
            if held is not None:  # under way for a while: the answer waits, other requests run and may meet it
                window, release = held
                try:
                    time.sleep(window)
                finally:
                    with self._dynamodb_lock:
                        release()
            return answer

        return one_at_a_time

    def _conflicts(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """``GET CONFLICTS_PATH``: what was refused so far and what is in flight now, as JSON."""
        with self._dynamodb_lock:
            body = json.dumps(self._in_flight.report()).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class EmulatorError(RuntimeError):
    """The emulator did not start."""


class AwsEmulator(ThreadedMotoServer):
    """``ThreadedMotoServer`` serving through ``_Dispatcher``; ``start`` raises ``EmulatorError``
    when the server cannot listen (a taken port), where moto's waits forever for a thread that died.
    ``transaction_ms``, ``write_ms``: how long a transaction's and a single write's items stay in
    flight (0: never; ``strict_dynamodb``)."""

    _listening = False

    def __init__(self, *args: Any, transaction_ms: float = TRANSACTION_MS, write_ms: float = WRITE_MS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transaction_ms, self.write_ms = transaction_ms, write_ms

    def start(self) -> None:
        super().start()
        if not self._listening:
            raise EmulatorError(f"the AWS emulator cannot listen on {self._ip_address}:{self._port} (werkzeug's reason above)")

    def _server_entry(self) -> None:
        patch_moto()
        try:  # werkzeug prints why it cannot listen, then raises SystemExit (in this thread)
            dispatcher = _Dispatcher(self.transaction_ms, self.write_ms)
            self._server = make_server(self._ip_address, self._port, dispatcher, True, request_handler=MotoRequestHandler)
            self._listening = True
        finally:
            self._server_ready_event.set()
        self._server.serve_forever()


#: the first line ``serve`` prints: this, then the endpoint
READY = "facepipe emulator listening on"


class EmulatorProcess:
    """``AwsEmulator`` in a process of its own, for as long as this object's process keeps it:
    it stops when ``stop`` is called or when this process ends (its stdin closes)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 60.0,
        *,
        transaction_ms: float = TRANSACTION_MS,
        write_ms: float = WRITE_MS,
    ) -> None:
        self.host, self.port, self.start_timeout = host, port, start_timeout
        self.transaction_ms, self.write_ms = transaction_ms, write_ms
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start the process; its endpoint (``http://host:port``) once it serves."""
        command = [sys.executable, "-m", "facepipe_tools.local.emulator", "--host", self.host, "--port", str(self.port)]
        command += ["--transaction-ms", str(self.transaction_ms), "--write-ms", str(self.write_ms)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._process = process
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], self.start_timeout)
        line = process.stdout.readline() if readable else ""
        if not line.startswith(READY):
            try:  # an end of output before the line: the process is exiting
                exited = process.wait(timeout=5) if readable else None
            except subprocess.TimeoutExpired:
                exited = None
            self.stop()
            why = (
                f"exited with code {exited} (its error is above)"
                if exited is not None
                else f"did not serve within {self.start_timeout:.0f} s"
            )
            raise EmulatorError(f"the AWS emulator on {self.host}:{self.port} {why}")
        return line[len(READY) :].strip()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # serve() returns
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def conflict_counts(endpoint: str, timeout: float = 10.0) -> dict[str, int]:
    """What the emulator at ``endpoint`` refused so far (``transactions_cancelled``,
    ``writes_refused``, ``transact_gets_cancelled``) and the items in flight now
    (``items_in_transactions``, ``items_in_writes``)."""
    with urllib.request.urlopen(endpoint.rstrip("/") + CONFLICTS_PATH, timeout=timeout) as response:
        return cast("dict[str, int]", json.load(response))


def serve(host: str, port: int, transaction_ms: float = TRANSACTION_MS, write_ms: float = WRITE_MS) -> None:
    """Serve until stdin closes; the endpoint goes to stdout first (``READY``), nothing after it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the stack, which stops us after its pollers
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
    emulator = AwsEmulator(ip_address=host, port=port, verbose=False, transaction_ms=transaction_ms, write_ms=write_ms)
    try:
        emulator.start()
    except EmulatorError as exc:
        sys.exit(str(exc))
    print(f"{READY} http://{host}:{emulator.get_host_and_port()[1]}", flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nobody reads stdout from here on
    sys.stdin.read()
    emulator.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m facepipe_tools.local.emulator", description="The local stack's AWS emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument(
        "--transaction-ms",
        type=float,
        default=TRANSACTION_MS,
        help="how long a TransactWriteItems keeps its items in flight, refusing requests that meet them (0: never)",
    )
    parser.add_argument(
        "--write-ms",
        type=float,
        default=WRITE_MS,
        help="how long a PutItem, UpdateItem, DeleteItem or BatchWriteItem keeps its items in flight, for TransactGetItems (0: never)",
    )
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.transaction_ms, args.write_ms)


if __name__ == "__main__":
    main()
