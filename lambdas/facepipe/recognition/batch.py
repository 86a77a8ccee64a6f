"""One invocation's SQS batch, as a Powertools custom processor (``RecognitionBatch``), where
Powertools puts a custom processor's whole-batch step:

* ``_prepare``: records on their reserved final receive (the previous attempt died) are
  dead-lettered with their reason before any work (``outcomes``); every other record is parsed.
* ``process``: the frame records are embedded on the invoking thread, fewest faces first (records
  sharing a request_id count together and keep their batch order), in forward passes of at most
  ``EMBED_BATCH_SIZE`` crops: small records share a pass, a large one spans several. A record is
  handed to the finishing threads (``chains``) as soon as its last crop is embedded, while the
  next pass runs; photo records (each downloads, detects and embeds its own photo) and records
  that did not parse are handed over at once. ``RECORD_THREADS`` records are finished at a time
  (each makes ~8 sequential DynamoDB, Pinecone and SQS calls; across records they overlap; with
  1, on the invoking thread between passes); records sharing a request_id are finished in batch
  order on one thread (the later one finds the earlier one's stored answer). Each is finished
  through Powertools' ``_process_record``: the record handler (``finish_record``), then the
  record's success or failure, so one bad record does not fail the batch. A frame record that
  does not fit in the time left is not started (``deadline``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, ExceptionInfo, FailureResponse, SuccessResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from PIL import Image

from facepipe.embedding import EMBED_BATCH_SIZE
from facepipe.events import PhotoRef, parse_queue_message
from facepipe.exceptions import InvalidMessageError
from facepipe.messages import RequestMessage
from facepipe.queues import DeadLetters
from facepipe.recognition.chains import Chains
from facepipe.recognition.deadline import Deadline, FaceCosts, RecordDeferred
from facepipe.recognition.outcomes import dead_letter_past_attempts
from facepipe.recognition.recognizer import Recognizer


@dataclass
class Prepared:
    """One record as the batch carries it: parsed, its crops and vectors, how it stands."""

    message: RequestMessage | None = None
    photos: list[PhotoRef] | None = None
    crops: list[Image.Image] | None = None
    vectors: np.ndarray | None = None
    error: Exception | None = None
    past_attempts: bool = False  # on its reserved final receive: dead-lettered before the work
    deferred: bool = False  # not started: too little time left in the invocation
    worked: bool = False  # this delivery did the work (under idempotency: no stored result, nobody answered it yet)
    unembedded: int = 0  # crops still waiting for their forward pass
    embed_seconds: float = 0.0  # the invoking thread's time on it: reading its crops, its share of the passes

    def request_ids(self) -> list[str]:
        if self.message is not None:
            return [self.message["request_id"]]
        return [photo.request_id for photo in self.photos or []]

    def faces(self) -> int:
        return len(self.message["faces"]) if self.message is not None and self.error is None else 0


def classify(body: str) -> Prepared:
    try:
        parsed = parse_queue_message(body)
    except InvalidMessageError as exc:
        return Prepared(error=exc)
    return Prepared(photos=parsed) if isinstance(parsed, list) else Prepared(message=parsed)


class RecognitionBatch(BatchProcessor):
    """One invocation's batch, as a Powertools custom processor (see the module docstring):
    ``_prepare`` dead-letters past attempts and parses, ``process`` embeds in bounded passes and
    finishes each record through ``_process_record`` as soon as it is embedded."""

    def __init__(
        self,
        recognizer: Recognizer,
        work: Callable[[dict[str, Any], Prepared], None],
        costs: FaceCosts,
        dead_letters: DeadLetters,
        threads: int,
        context: LambdaContext | None = None,
    ) -> None:
        """``work`` does a record's work, answers it, dead-letters it (on a finishing thread)."""
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self.recognizer = recognizer
        self.work = work
        self.costs = costs
        self.dead_letters = dead_letters
        self.threads = threads
        self.items: dict[str, Prepared] = {}
        self.deadline = Deadline(context, costs, dead_letters)
        self._waiting: list[tuple[dict[str, Any], int, Image.Image]] = []  # crops waiting for a forward pass
        self._outcomes: dict[str, tuple[Any, ...]] = {}
        self._lock = threading.Lock()

    # --- Powertools' steps ----------------------------------------------------------------
    def _prepare(self) -> None:
        super()._prepare()  # type: ignore[no-untyped-call]
        past = dead_letter_past_attempts(self.dead_letters, self.records)  # first: the batch's work may kill the process again
        self.items = {r["messageId"]: Prepared(past_attempts=True) if r["messageId"] in past else classify(r["body"]) for r in self.records}

    def process(self) -> list[tuple[Any, ...]]:
        """Embed the frame records pass by pass and hand each record over to ``_process_record``
        when it is ready (or deferred); the outcomes, in batch order."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in self.records:
            groups.setdefault(self._key(record), []).append(record)
        fewest_faces_first = sorted(groups.items(), key=lambda group: sum(self.items[r["messageId"]].faces() for r in group[1]))
        with Chains(min(self.threads, len(groups))) as chains:
            started = 0
            for key, group in fewest_faces_first:
                for record in group:
                    item = self.items[record["messageId"]]
                    if item.message is None or item.error is not None:
                        self._hand_over(chains, key, record)  # nothing to embed: a photo, a dead letter, an invalid message
                    elif started and not self.deadline.fits(
                        record, item.request_ids()[0], item.faces(), len(self._waiting)
                    ):  # the first record started is always attempted
                        item.deferred = True
                        self._hand_over(chains, key, record)
                    else:
                        started += 1
                        self._start(chains, key, record, item)
            while self._waiting:
                self._embed_pass(chains)
        outcomes = [self._outcomes[r["messageId"]] for r in self.records]
        self.fail_messages[:] = [record for kind, _, record in outcomes if kind == "fail"]  # in batch order, as they came
        return outcomes

    def finish_record(self, record: SQSRecord) -> None:
        """The record handler (on a finishing thread): the record's work, its answer, its dead letter."""
        item = self.items[record.message_id]
        if item.deferred:
            raise RecordDeferred("too little time left in this invocation; SQS delivers it again")
        began = time.monotonic()
        self.work(record.raw_event, item)
        if item.worked:
            self.costs.finished(time.monotonic() - began, item.faces())

    def success_handler(self, record: Any, result: Any) -> SuccessResponse:
        with self._lock:  # records finish on several threads
            return super().success_handler(record, result)

    def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
        with self._lock:
            return super().failure_handler(record, exception)

    # --- the pipeline -----------------------------------------------------------------------
    def _hand_over(self, chains: Chains, key: str, record: dict[str, Any]) -> None:
        """``record`` to the finishing threads (behind the records of its request_id handed over before)."""

        def finish() -> None:
            outcome = self._process_record(record)
            with self._lock:
                self._outcomes[record["messageId"]] = outcome

        chains.submit(key, finish)

    def _start(self, chains: Chains, key: str, record: dict[str, Any], item: Prepared) -> None:
        """Read the record's crops and queue them for forward passes, running each pass as it fills."""
        assert item.message is not None
        began = time.monotonic()
        try:
            item.crops = self.recognizer.crops_of(item.message)
        except Exception as exc:  # this record fails (or dead-letters) alone, not the batch
            item.error = exc
            self._hand_over(chains, key, record)
            return
        item.embed_seconds = time.monotonic() - began
        item.vectors = np.zeros((len(item.crops), self.recognizer.embedder.dimension), np.float32)
        item.unembedded = len(item.crops)
        if not item.crops:
            self._hand_over(chains, key, record)
            return
        self._waiting += [(record, i, crop) for i, crop in enumerate(item.crops)]
        while len(self._waiting) >= EMBED_BATCH_SIZE:
            self._embed_pass(chains)

    def _embed_pass(self, chains: Chains) -> None:
        """One forward pass of the first ``EMBED_BATCH_SIZE`` waiting crops; each record whose last
        crop it embeds is handed over."""
        chains.raise_if_died()  # a finishing thread met the process's end: so does this one
        batch, self._waiting = self._waiting[:EMBED_BATCH_SIZE], self._waiting[EMBED_BATCH_SIZE:]
        began = time.monotonic()
        try:
            vectors = self.recognizer.embed([crop for _, _, crop in batch])
        except Exception as exc:  # the records with crops in this pass fail alone, not the batch
            failed = {record["messageId"]: record for record, _, _ in batch}
            self._waiting = [waiting for waiting in self._waiting if waiting[0]["messageId"] not in failed]
            for record in failed.values():
                self.items[record["messageId"]].error = exc
                self._hand_over(chains, self._key(record), record)
            return
        share = (time.monotonic() - began) / len(batch)
        for (record, i, _), vector in zip(batch, vectors, strict=True):
            item = self.items[record["messageId"]]
            assert item.vectors is not None
            item.vectors[i] = vector
            item.embed_seconds += share
            item.unembedded -= 1
            if item.unembedded == 0:
                self.costs.embedded(item.embed_seconds, item.faces())
                self._hand_over(chains, self._key(record), record)

    def _key(self, record: dict[str, Any]) -> str:
        """The records of one request_id share a key: they are finished in batch order on one thread."""
        ids = self.items[record["messageId"]].request_ids()
        return min(ids) if ids else record["messageId"]
