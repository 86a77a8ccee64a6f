"""The AWS emulator of the local stack: moto's threaded server, with these changes (moto's code
is not edited; the patches of moto's classes, each with its reason, are in
``facepipe_tools.local.moto_patches``, applied before the server starts):

- **The backend of a host is looked up once.** moto's dispatcher lists its own package
  directory and tries its URL patterns on every request, under one lock: with ten clients
  polling the response queue, that was most of the stack process's CPU.
- **DynamoDB requests run one at a time.** moto's TransactWriteItems deep-copies the table
  while other requests may change it ("dictionary changed size during iteration", a 500 the
  SDK retries); in DynamoDB a transaction is isolated, so here it is too.
- **moto's classes patched** (``moto_patches``): a transaction's rollback copy holds only the
  items it names; SQS hands out messages without a deep copy and without walking the queue; an
  SQS queue serves one request at a time.
- **Overlapping transactions are refused, as DynamoDB refuses them.** moto applies one request
  after another and never refuses one for another that is under way, so code that works locally
  could still meet ``TransactionConflict`` on AWS and never retry it. Here a request still runs
  alone, but a TransactWriteItems keeps the items it names (ConditionCheck included) in flight
  for ``transaction_ms`` after it is applied, and a single write (PutItem, UpdateItem,
  DeleteItem, BatchWriteItem) keeps its items for ``write_ms``: the answer waits that long with
  the lock let go. A request meeting them is refused before it is applied, in DynamoDB's words
  ("Transaction conflict handling in DynamoDB"): a transaction naming an item of an ongoing
  transaction is cancelled (``TransactionCanceledException``, reason ``TransactionConflict``
  at that item, moto's shape); a PutItem, UpdateItem or DeleteItem of such an item fails with
  ``TransactionConflictException``; a TransactGetItems naming an item of any write in flight is
  cancelled. Reads (GetItem, Query, Scan, BatchGetItem) never are. A refused or failed request
  leaves nothing in flight. What was refused is counted (``GET /_facepipe/conflicts``,
  ``conflict_counts``); 0 ms turns a window off.

The local stack runs it in a process of its own (``EmulatorProcess``, ``python -m
facepipe_tools.local.emulator``): moto is Python, and in the stack's process it held the
interpreter lock that the event-source pollers, the function URL and the shared index need
(seed grader, 100 requests 10 at a time: mean 0.55 -> 0.48 s, less CPU in all; docs/performance.md).
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
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, cast

from moto.core.responses import BaseResponse
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException, TransactionCanceledException
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.iam.models import get_account_id_from
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from facepipe_tools.local.moto_patches import key_of, patch_moto

#: the windows ``EmulatorProcess``, ``AwsEmulator`` and ``facepipe local up`` keep items in flight
#: by default, milliseconds (see the module docstring)
TRANSACTION_MS = 25.0
WRITE_MS = 5.0

#: the emulator's own route: what it refused (``conflict_counts``); moto's are under /moto-api/
CONFLICTS_PATH = "/_facepipe/conflicts"

#: DynamoDB's reason for refusing a request that meets an ongoing one
ONGOING = "Transaction is ongoing for the item"

_SINGLE_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
#: the DynamoDB operations whose items are followed (read off their request)
_NAMING = _SINGLE_WRITES | {"BatchWriteItem", "TransactWriteItems", "TransactGetItems"}

#: an item of a table: account, region, table name, (hash, range)
_ItemId = tuple[str, str, str, tuple[DynamoType, DynamoType | None]]


def _account_and_region(environ: dict[str, Any]) -> tuple[str, str]:
    """The account and region a DynamoDB request reaches, found as moto's ``BaseResponse`` finds them."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    named = BaseResponse.region_regex.search(environ.get("HTTP_HOST", "")) or BaseResponse.region_from_useragent_regex.search(
        environ.get("HTTP_USER_AGENT", "")
    )
    if named:
        region = named.group(1)
    elif "AWS4" in authorization:
        region = authorization.split(",")[0].split("/")[2]
    else:
        region = BaseResponse.default_region
    access_key = BaseResponse.access_key_regex.search(authorization)
    account = (
        os.environ.get("MOTO_ACCOUNT_ID")
        or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        or get_account_id_from(access_key.group(1) if access_key else "AKIAEXAMPLE")
    )
    return account, region


def _requested(operation: str, request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table, key or whole item) of each item a DynamoDB request names, in its order."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        named = []
        for entry in request.get("TransactItems", []):
            kind, body = next(iter(entry.items()))
            named.append((body.get("TableName", ""), body.get("Item" if kind == "Put" else "Key", {})))
        return named
    if operation == "BatchWriteItem":
        return [
            (table, write["PutRequest"]["Item"] if "PutRequest" in write else write.get("DeleteRequest", {}).get("Key", {}))
            for table, writes in request.get("RequestItems", {}).items()
            for write in writes
        ]
    return [(request.get("TableName", ""), request.get("Item" if operation == "PutItem" else "Key", {}))]


def _item_ids(environ: dict[str, Any], operation: str, request: dict[str, Any]) -> list[_ItemId | None]:
    """The items a DynamoDB request names, in its order; None where moto will refuse the request
    anyway (no such table, a key attribute missing)."""
    account, region = _account_and_region(environ)
    backend = dynamodb_backends[account][region]
    ids: list[_ItemId | None] = []
    for table_name, attributes in _requested(operation, request):
        try:
            table = backend.get_table(table_name)
            ids.append((account, region, table.name, key_of(table, attributes)))
        except Exception:  # moto answers for it (ResourceNotFound, ValidationException)
            ids.append(None)
    return ids


class _InFlight:
    """The items of the DynamoDB requests that are under way, and what met them (the module
    docstring); every method is called under the dispatcher's DynamoDB lock."""

    def __init__(self, transaction_ms: float, write_ms: float) -> None:
        self.transaction_s, self.write_s = transaction_ms / 1000, write_ms / 1000
        self.transactions: Counter[_ItemId] = Counter()  # items of TransactWriteItems under way
        self.writes: Counter[_ItemId] = Counter()  # items of single writes under way (several may share one)
        self.counts = {"transactions_cancelled": 0, "writes_refused": 0, "transact_gets_cancelled": 0}

    @property
    def on(self) -> bool:
        return self.transaction_s > 0 or self.write_s > 0

    def refusal(self, operation: str, ids: list[_ItemId | None]) -> DynamodbException | None:
        """DynamoDB's answer to a request naming ``ids`` now, if it meets a request under way."""
        if operation in _SINGLE_WRITES:
            if any(i in self.transactions for i in ids if i is not None):
                self.counts["writes_refused"] += 1
                return DynamodbException(ERROR_TYPE_PREFIX + "TransactionConflictException", ONGOING)
            return None
        if operation == "TransactWriteItems":
            meets = [i is not None and i in self.transactions for i in ids]
            counted = "transactions_cancelled"
        elif operation == "TransactGetItems":
            meets = [i is not None and (i in self.transactions or i in self.writes) for i in ids]
            counted = "transact_gets_cancelled"
        else:
            return None
        if not any(meets):
            return None
        self.counts[counted] += 1
        return cast(
            "DynamodbException",
            TransactionCanceledException([("TransactionConflict", ONGOING, None) if m else (None, None, None) for m in meets]),
        )

    def hold(self, operation: str, ids: list[_ItemId | None]) -> tuple[float, Callable[[], None]] | None:
        """Put the items of an applied request in flight: for how long (s), and what lets them go
        (to call under the lock); None when the request keeps nothing in flight."""
        if operation not in _NAMING or operation == "TransactGetItems":
            return None
        flights, window = (self.transactions, self.transaction_s) if operation == "TransactWriteItems" else (self.writes, self.write_s)
        held = [i for i in ids if i is not None]
        if window <= 0 or not held:
            return None
        flights.update(held)

        def release() -> None:
            flights.subtract(held)
            for item_id in held:
                if flights[item_id] <= 0:
                    del flights[item_id]

        return window, release

    def report(self) -> dict[str, int]:
        return {
            **self.counts,
            "items_in_transactions": sum(self.transactions.values()),
            "items_in_writes": sum(self.writes.values()),
        }


class _Dispatcher(DomainDispatcherApplication):
    def __init__(self, transaction_ms: float = TRANSACTION_MS, write_ms: float = WRITE_MS) -> None:
        super().__init__(create_backend_app)
        self._backends: dict[str | None, Any] = {}
        self._dynamodb_lock = threading.Lock()
        self._in_flight = _InFlight(transaction_ms, write_ms)

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
            if operation == "TransactWriteItems" or (operation in _NAMING and self._in_flight.on):
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
                ids = _item_ids(environ, operation, request) if request and self._in_flight.on else []
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
    flight (0: never; the module docstring)."""

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
