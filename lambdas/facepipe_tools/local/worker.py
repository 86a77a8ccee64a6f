"""Run one function's handler in its own process, as Lambda runs each function in its own container.

The recognition function holds the GIL for long stretches (dlib's net does not release
it); in its own process it does not stall the emulator, the function URL and the pollers.
One process serves one invocation at a time, like one Lambda execution environment.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import signal
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

from facepipe_tools.local.context import LambdaContext


class FunctionError(RuntimeError):
    """The handler raised (or could not start) in its process."""


def _serve(conn: Connection, function_dir: str, environment: dict[str, str]) -> None:
    import os

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us cleanly on Ctrl-C
    os.environ.update(environment)
    try:
        from facepipe_tools.local.handlers import load_handler

        module = load_handler(function_dir)
    except Exception as exc:
        conn.send(("failed", f"{exc.__class__.__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request[0] == "stop":
            return
        _, event, context = request
        try:
            conn.send(("ok", module.handler(event, context)))
        except Exception as exc:
            conn.send(("error", f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc()}"))


class FunctionProcess:
    def __init__(self, function_dir: str, environment: dict[str, str]) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, function_dir, environment), name=f"facepipe-{function_dir}", daemon=True
        )
        self._lock = threading.Lock()

    def start(self) -> FunctionProcess:
        return self.launch().wait_ready()

    def launch(self) -> FunctionProcess:
        """Start the process (its INIT runs); ``wait_ready`` waits for it."""
        self._process.start()
        return self

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def wait_ready(self) -> FunctionProcess:
        status, payload = self._conn.recv()
        if status != "ready":
            self._process.join(timeout=5)
            raise FunctionError(f"the function could not start: {payload}")
        return self

    def __call__(self, event: Any, context: LambdaContext) -> Any:
        with self._lock:
            self._conn.send(("invoke", event, context))
            status, payload = self._conn.recv()
        if status != "ok":
            raise FunctionError(payload)
        return payload

    def stop(self) -> None:
        with self._lock, contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send(("stop",))
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()


class FunctionPool:
    """``size`` execution environments of one function; each invocation takes an idle one."""

    def __init__(self, function_dir: str, environment: dict[str, str], size: int) -> None:
        self._workers = [FunctionProcess(function_dir, environment) for _ in range(max(1, size))]
        self._idle: queue.Queue[FunctionProcess] = queue.Queue()

    def start(self) -> FunctionPool:
        for worker in self._workers:
            worker.launch()
        try:
            for worker in self._workers:  # they load their models in parallel
                self._idle.put(worker.wait_ready())
        except FunctionError:
            self.stop()
            raise
        return self

    def __call__(self, event: Any, context: LambdaContext) -> Any:
        worker = self._idle.get()
        try:
            return worker(event, context)
        finally:
            self._idle.put(worker)

    def stop(self) -> None:
        for worker in self._workers:
            if worker.alive:
                worker.stop()
