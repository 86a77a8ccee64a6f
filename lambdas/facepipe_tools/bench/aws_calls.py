"""Every AWS request of a boto3 session, counted by kind and timed (the console and events benches)."""

from __future__ import annotations

import time
from typing import Any


class AwsCalls:
    """Every AWS request of a boto3 session, counted and timed (botocore's before-call and
    after-call events; the console's worker threads each time their own)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._started = threading.local()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: dict[str, int] = {}
            self.items = 0
            self.seconds = 0.0

    def attach(self, session: Any) -> None:
        """Count the requests of every client ``session`` makes from now on."""
        session.events.register("before-call", self._before)
        session.events.register("after-call", self._after)

    def _before(self, **kwargs: Any) -> None:
        self._started.at = time.perf_counter()

    def _after(self, model: Any = None, parsed: Any = None, **kwargs: Any) -> None:
        elapsed = time.perf_counter() - getattr(self._started, "at", time.perf_counter())
        name = f"{model.service_model.service_name}:{model.name}" if model is not None else "?"
        items = 0
        if isinstance(parsed, dict):
            if "Count" in parsed:
                items = int(parsed["Count"])
            elif "Responses" in parsed:
                items = sum(len(found) for found in parsed["Responses"].values())
            elif parsed.get("Item"):
                items = 1
        with self._lock:
            self.requests[name] = self.requests.get(name, 0) + 1
            self.items += items
            self.seconds += elapsed

    def summary(self) -> tuple[int, int, int]:
        """(DynamoDB requests, S3 requests, DynamoDB items read) since the last reset."""
        with self._lock:
            dynamodb = sum(n for name, n in self.requests.items() if name.startswith("dynamodb:"))
            s3 = sum(n for name, n in self.requests.items() if name.startswith("s3:"))
            return dynamodb, s3, self.items

    def counts(self) -> dict[str, int]:
        """Requests by ``service:Operation`` since the last reset."""
        with self._lock:
            return dict(self.requests)
