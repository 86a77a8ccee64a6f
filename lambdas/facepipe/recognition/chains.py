"""Records finished on threads: ``RECORD_THREADS`` at a time, those of one request_id in order on one."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType


class Chains:
    """Tasks run ``threads`` at a time; those handed in under one key run one after another on one
    thread, in the order handed in. With one thread: each at once, on the caller's thread."""

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="record") if threads > 1 else None
        self._queues: dict[str, deque[Callable[[], None]]] = {}
        self._futures: list[Future[None]] = []
        self._lock = threading.Lock()
        self._stopped = False

    def submit(self, key: str, task: Callable[[], None]) -> None:
        if self._pool is None:
            task()
            return
        with self._lock:
            if key in self._queues:  # its chain is running: it takes the task after the others
                self._queues[key].append(task)
                return
            self._queues[key] = deque([task])
        self._futures.append(self._pool.submit(self._drain, key))

    def _drain(self, key: str) -> None:
        while True:
            with self._lock:
                queue = self._queues[key]
                if not queue or self._stopped:
                    del self._queues[key]
                    return
                task = queue.popleft()
            try:
                task()
            except BaseException:  # the process is going down (tasks catch their own exceptions)
                self._stopped = True
                raise

    def raise_if_died(self) -> None:
        """Re-raise here what took a task's thread down (nothing else escapes a task)."""
        for future in self._futures:
            if future.done() and future.exception() is not None:
                future.result()

    def __enter__(self) -> Chains:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._pool is None:
            return
        if kind is not None:
            self._stopped = True  # the invoking thread is going down: start nothing more
        self._pool.shutdown(wait=True)
        if kind is None:
            for future in self._futures:
                future.result()
