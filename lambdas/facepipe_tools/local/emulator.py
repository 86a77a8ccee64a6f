"""The AWS emulator of the local stack: moto's threaded server, with these changes (moto's code
is not edited; its ``Table`` gets a ``__deepcopy__`` while the emulator runs):

- **The backend of a host is looked up once.** moto's dispatcher lists its own package
  directory and tries its URL patterns on every request, under one lock: with ten clients
  polling the response queue, that was most of the stack process's CPU.
- **DynamoDB requests run one at a time.** moto's TransactWriteItems deep-copies the table
  while other requests may change it ("dictionary changed size during iteration", a 500 the
  SDK retries); in DynamoDB a transaction is isolated, so here it is too.
- **A transaction's rollback copy holds what it writes.** moto deep-copies the whole table
  before each TransactWriteItems, to restore it if the transaction is cancelled: ~50 ms per
  1,000 items, growing with the table, with the GIL held. Here that copy (``_table_copy``)
  shares the items the transaction does not name and deep-copies the ones it does: a
  cancelled transaction restores the same table. Any other deep copy of a table is moto's own.
- **SQS hands out messages without walking the queue.** For every message it returns,
  moto's ReceiveMessage deep-copies it (only so that filtering its attributes leaves the stored
  one alone) and checks its retention period through GetQueueAttributes, which computes every
  attribute of the queue, counts over all its messages included. Here the copy is shallow (the
  filter rebinds the copy's ``message_attributes``, never the stored dict) and the retention
  period is read off the queue. In the seed grader's run (ten clients polling one response
  queue) the two were ~60% of the stack process's Python time (py-spy); its CPU fell from
  8.3-8.6 to 7.1-7.4 s per 100 requests.
- **An SQS queue serves one request at a time.** moto's queues are not thread-safe: two pollers
  taking one visible message at once (the response queue's visibility is 0 s) could overwrite
  each other's receipt handle, and the owner's delete then failed with ReceiptHandleIsInvalid
  (it stopped a ``make bench``; SQS accepts every handle it gave). DeleteMessage also rebuilds
  the message list, which a SendMessage appending at that moment would lose. Here the receive,
  send, delete and visibility calls of a queue hold its own lock (moto's ``_messages_lock``,
  reentrant; a long poll releases it while it waits).

The local stack runs it in a process of its own (``EmulatorProcess``, ``python -m
facepipe_tools.local.emulator``): moto is Python, and in the stack's process it held the
interpreter lock that the event-source pollers, the function URL and the shared index need
(seed grader, 100 requests 10 at a time: mean 0.55 -> 0.48 s, less CPU in all; docs/performance.md).
"""

from __future__ import annotations

import argparse
import copy
import functools
import io
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, cast

from moto.core.utils import unix_time
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from moto.sqs.models import Message, SQSBackend
from werkzeug.serving import make_server

#: the TransactWriteItems this thread is dispatching (its ``TransactItems``), for ``_table_copy``
_transaction = threading.local()


def _named_keys(table: Table, operations: list[dict[str, Any]]) -> set[tuple[DynamoType, DynamoType | None]]:
    """(hash, range) of every item of ``table`` that ``operations`` (TransactItems) name."""
    named = set()
    for operation in operations:
        for kind, body in operation.items():
            if body.get("TableName") != table.name:
                continue
            attributes = body["Item"] if kind == "Put" else body["Key"]
            hash_value = DynamoType(attributes[table.hash_key_attr])
            range_value = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
            named.add((hash_value, range_value))
    return named


def _table_copy(table: Table, memo: dict[int, Any]) -> Table:
    """``Table.__deepcopy__`` while the emulator runs: during a TransactWriteItems it dispatches,
    the table with only the named items deep-copied (see the module docstring); else a full copy."""
    operations = getattr(_transaction, "operations", None)
    if operations is None:
        full = cast("Table", Table.__new__(Table))  # as the default deep copy makes it
        memo[id(table)] = full
        full.__dict__.update(copy.deepcopy(table.__dict__, memo))
        return full
    snapshot = copy.copy(table)
    snapshot.items = defaultdict(dict, {h: dict(r) if isinstance(r, dict) else r for h, r in table.items.items()})
    for hash_value, range_value in _named_keys(table, operations):
        if range_value is None:
            if hash_value in table.items:
                snapshot.items[hash_value] = copy.deepcopy(table.items[hash_value])
        elif range_value in table.items.get(hash_value, {}):
            snapshot.items[hash_value][range_value] = copy.deepcopy(table.items[hash_value][range_value])
    return snapshot


def _message_copy(message: Message, memo: dict[int, Any]) -> Message:
    """``Message.__deepcopy__`` while the emulator runs: a shallow copy (see the module docstring)."""
    return copy.copy(message)


def _retained(backend: SQSBackend, queue_name: str, message: Message) -> bool:
    """``SQSBackend.is_message_valid_based_on_retention_period``, with the period read off the queue."""
    queue: Any = backend.get_queue(queue_name)  # moto sets its attributes by name, from the queue's settings
    retention_period = int(queue.message_retention_period)
    return bool(retention_period + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]


def _one_at_a_time(method: Callable[..., Any]) -> Callable[..., Any]:
    """An ``SQSBackend`` method on ``queue_name`` under that queue's lock (see the module docstring)."""

    @functools.wraps(method)
    def locked(backend: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with backend.get_queue(queue_name)._messages_lock:  # a Condition on an RLock: wait() lets go of it
            return method(backend, queue_name, *args, **kwargs)

    locked.__wrapped_by_facepipe__ = True  # type: ignore[attr-defined]
    return locked


def _patch_moto() -> None:
    """moto's classes as the emulator runs them (the module docstring); idempotent."""
    Table.__deepcopy__ = _table_copy  # type: ignore[attr-defined]
    Message.__deepcopy__ = _message_copy  # type: ignore[attr-defined]
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign,assignment]
    for name in ("receive_message", "send_message", "delete_message", "change_message_visibility", "purge_queue"):
        method = getattr(SQSBackend, name)
        if not getattr(method, "__wrapped_by_facepipe__", False):
            setattr(SQSBackend, name, _one_at_a_time(method))


class _Dispatcher(DomainDispatcherApplication):
    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._backends: dict[str | None, Any] = {}
        self._dynamodb_lock = threading.Lock()

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backends:  # called under the dispatcher's lock
            self._backends[host] = super().get_backend_for_host(host)
        return self._backends[host]

    def get_application(self, environ: dict[str, Any]) -> Any:
        app = super().get_application(environ)
        if app is not self.app_instances.get("dynamodb"):
            return app

        def one_at_a_time(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with self._dynamodb_lock:
                if environ.get("HTTP_X_AMZ_TARGET", "").endswith(".TransactWriteItems"):
                    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                    environ["wsgi.input"] = io.BytesIO(body)
                    _transaction.operations = json.loads(body).get("TransactItems", [])
                try:
                    return list(app(environ, start_response))
                finally:
                    _transaction.operations = None

        return one_at_a_time


class EmulatorError(RuntimeError):
    """The emulator did not start."""


class AwsEmulator(ThreadedMotoServer):
    """``ThreadedMotoServer`` serving through ``_Dispatcher``; ``start`` raises ``EmulatorError``
    when the server cannot listen (a taken port), where moto's waits forever for a thread that died."""

    _listening = False

    def start(self) -> None:
        super().start()
        if not self._listening:
            raise EmulatorError(f"the AWS emulator cannot listen on {self._ip_address}:{self._port} (werkzeug's reason above)")

    def _server_entry(self) -> None:
        _patch_moto()
        try:  # werkzeug prints why it cannot listen, then raises SystemExit (in this thread)
            self._server = make_server(self._ip_address, self._port, _Dispatcher(), True, request_handler=MotoRequestHandler)
            self._listening = True
        finally:
            self._server_ready_event.set()
        self._server.serve_forever()


#: the first line ``serve`` prints: this, then the endpoint
READY = "facepipe emulator listening on"


class EmulatorProcess:
    """``AwsEmulator`` in a process of its own, for as long as this object's process keeps it:
    it stops when ``stop`` is called or when this process ends (its stdin closes)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 60.0) -> None:
        self.host, self.port, self.start_timeout = host, port, start_timeout
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start the process; its endpoint (``http://host:port``) once it serves."""
        command = [sys.executable, "-m", "facepipe_tools.local.emulator", "--host", self.host, "--port", str(self.port)]
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


def serve(host: str, port: int) -> None:
    """Serve until stdin closes; the endpoint goes to stdout first (``READY``), nothing after it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the stack, which stops us after its pollers
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
    emulator = AwsEmulator(ip_address=host, port=port, verbose=False)
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
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
