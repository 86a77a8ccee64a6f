"""The recognition function's SQS batch: bounded forward passes, each record finished as soon as
its crops are embedded, a deadline, partial failures, idempotency, reasoned dead letters.

``RecognitionConsumer.handle`` runs each batch through ``RecognitionBatch``, a Powertools
``BatchProcessor`` whose whole-batch step lives where Powertools puts a custom processor's:

* ``_prepare``: records on their reserved final receive (the previous attempt died) are
  dead-lettered with their reason before any work, so a batch that dies again cannot take them
  down; every other record is parsed.
* ``process``: the frame records are embedded on the invoking thread, fewest faces first (records
  sharing a request_id count together and keep their batch order), in forward passes of at most
  ``EMBED_BATCH_SIZE`` crops: small records share a pass, a large one spans several. A record is
  handed to the finishing threads as soon as its last crop is embedded, while the next pass runs;
  photo records (each downloads, detects and embeds its own photo) and records that did not parse
  are handed over at once. ``RECORD_THREADS`` records are finished at a time (each makes ~8
  sequential DynamoDB, Pinecone and SQS calls; across records they overlap; with 1, on the
  invoking thread between passes); records sharing a request_id are finished in batch order on
  one thread (the later one finds the earlier one's stored answer). Each is finished through
  Powertools' ``_process_record``: the record handler (``RecognitionBatch.finish_record``), then
  the record's success or failure, so one bad record does not fail the batch.
* the deadline: under a Lambda context, a frame record is started (its crops read, then embedded)
  only when its estimated cost fits in the remaining time less a safety margin
  (``SAFETY_SECONDS``, at most ``SAFETY_SHARE`` of the time the invocation started with). The
  estimate comes from what this container measured (``FaceCosts``): per face, the invoking
  thread's seconds (reading and embedding the crop) and a finishing thread's seconds, as moving
  averages (conservative defaults before the first measurement), times the record's faces (the
  embedding also counts the crops already waiting for its pass). A record that does not fit is not
  started: it is reported as a batch item failure, with a warning and the ``RecordsDeferred``
  metric, and SQS delivers it again in another batch (nothing of it was written: no idempotency
  record, no dead letter; SQS still counts the receive). A record is attempted whatever the
  estimate when it is the first one the invocation starts (a record larger than any deadline would
  otherwise never be), or on its last attempt (deferred, its next receive would be the reserved
  final one, which dead-letters it as if its attempt had died). Without a context (seed 000's hand-made test event) there is no
  deadline. Photo records are never deferred: their faces are known only after detection, and they
  come in batches of their own (the photo queue).

Concurrent records are safe for the reasons concurrent containers are (conditional writes, the
stranger registry); what they share in the container is thread-safe (boto3 clients, the index
clients, ``RecentVectors``, metrics). Each frame/photo is processed once per request_id
(Powertools idempotency); a repeat returns the stored response and sends nothing.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    ExceptionInfo,
    FailureResponse,
    SuccessResponse,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from PIL import Image

from facepipe import names
from facepipe.embedding import EMBED_BATCH_SIZE
from facepipe.events import PhotoRef, parse_queue_message
from facepipe.exceptions import InvalidMessageError
from facepipe.messages import RequestMessage
from facepipe.names import IDEMPOTENCY_SECONDS
from facepipe.observability import Metric, MetricUnit, child_logger, metrics
from facepipe.queues import DeadLetters
from facepipe.recognition import Recognised, Recognizer, image_digest

logger = child_logger()

#: seconds an invocation keeps in hand after the records it starts: a record is started only when
#: its estimate fits in the remaining time less this (less ``SAFETY_SHARE`` of a short invocation)
SAFETY_SECONDS = 5.0
SAFETY_SHARE = 0.1
#: seconds a face costs, assumed until this container has measured its own; on the high side
#: (dlib takes ~0.1 s a face in a pass of 10, InceptionResnetV1 ~0.03 s; a 1-face record's
#: finishing is ~8 calls in a row)
DEFAULT_EMBED_SECONDS = 0.25
DEFAULT_FINISH_SECONDS = 0.25
#: weight of one face's measurement in the running costs (a 10-face record moves them 65% of the way)
FACE_WEIGHT = 0.1


class RecordDeferred(Exception):
    """A record not started: the invocation had too little time left for it (SQS delivers it again)."""


@dataclass
class _Prepared:
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


def _classify(body: str) -> _Prepared:
    try:
        parsed = parse_queue_message(body)
    except InvalidMessageError as exc:
        return _Prepared(error=exc)
    return _Prepared(photos=parsed) if isinstance(parsed, list) else _Prepared(message=parsed)


def _with_record_defaults(event: dict[str, Any]) -> dict[str, Any]:
    """Hand-written events (seed 000's documented curl test) carry only ``body``: fill in the rest."""
    records = []
    for record in event.get("Records") or []:
        record = dict(record)
        record.setdefault("messageId", str(uuid.uuid4()))
        record.setdefault("receiptHandle", "")
        record.setdefault("attributes", {})
        record.setdefault("messageAttributes", {})
        record.setdefault("eventSource", "aws:sqs")
        record.setdefault("eventSourceARN", "")
        records.append(record)
    return {**event, "Records": records}


class FaceCosts:
    """What a face costs in this container: seconds of the invoking thread (reading and embedding
    its crop) and of a finishing thread, each a moving average over the faces measured (the first
    measurement replaces the default). Updated from several threads."""

    def __init__(self, embed: float = DEFAULT_EMBED_SECONDS, finish: float = DEFAULT_FINISH_SECONDS) -> None:
        self.embed = embed
        self.finish = finish
        self._measured: set[str] = set()
        self._lock = threading.Lock()

    def embedded(self, seconds: float, faces: int) -> None:
        self._observe("embed", seconds, faces)

    def finished(self, seconds: float, faces: int) -> None:
        self._observe("finish", seconds, faces)

    def estimate(self, faces: int, waiting: int = 0) -> float:
        """Seconds until a record of ``faces`` is finished when started now, behind ``waiting`` crops."""
        return (faces + waiting) * self.embed + faces * self.finish

    def _observe(self, kind: str, seconds: float, faces: int) -> None:
        if faces <= 0:
            return
        per_face = seconds / faces
        with self._lock:
            if kind in self._measured:
                weight = 1.0 - (1.0 - FACE_WEIGHT) ** faces
                per_face = getattr(self, kind) + weight * (per_face - getattr(self, kind))
            self._measured.add(kind)
            setattr(self, kind, per_face)


class _Chains:
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

    def __enter__(self) -> _Chains:
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


class RecognitionBatch(BatchProcessor):
    """One invocation's batch, as a Powertools custom processor (see the module docstring):
    ``_prepare`` dead-letters past attempts and parses, ``process`` embeds in bounded passes and
    finishes each record through ``_process_record`` as soon as it is embedded."""

    def __init__(self, consumer: RecognitionConsumer, context: LambdaContext | None = None) -> None:
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self.consumer = consumer
        self.context = context
        self.items: dict[str, _Prepared] = {}
        self.margin = SAFETY_SECONDS
        self._waiting: list[tuple[dict[str, Any], int, Image.Image]] = []  # crops waiting for a forward pass
        self._outcomes: dict[str, tuple[Any, ...]] = {}
        self._lock = threading.Lock()

    # --- Powertools' steps ----------------------------------------------------------------
    def _prepare(self) -> None:
        super()._prepare()  # type: ignore[no-untyped-call]
        if self.context is not None:
            self.margin = min(SAFETY_SECONDS, SAFETY_SHARE * self.context.get_remaining_time_in_millis() / 1000)
        past = self.consumer._dead_letter_past_attempts(self.records)  # first: the batch's work may kill the process again
        self.items = {
            r["messageId"]: _Prepared(past_attempts=True) if r["messageId"] in past else _classify(r["body"]) for r in self.records
        }

    def process(self) -> list[tuple[Any, ...]]:
        """Embed the frame records pass by pass and hand each record over to ``_process_record``
        when it is ready (or deferred); the outcomes, in batch order."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in self.records:
            groups.setdefault(self._key(record), []).append(record)
        fewest_faces_first = sorted(groups.items(), key=lambda group: sum(self.items[r["messageId"]].faces() for r in group[1]))
        with _Chains(min(self.consumer.threads, len(groups))) as chains:
            started = 0
            for key, group in fewest_faces_first:
                for record in group:
                    item = self.items[record["messageId"]]
                    if item.message is None or item.error is not None:
                        self._hand_over(chains, key, record)  # nothing to embed: a photo, a dead letter, an invalid message
                    elif started and not self._fits(record, item):  # the first record started is always attempted
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
        self.consumer._handle_record(record.raw_event, item)
        if item.worked:
            self.consumer.costs.finished(time.monotonic() - began, item.faces())

    def success_handler(self, record: Any, result: Any) -> SuccessResponse:
        with self._lock:  # records finish on several threads
            return super().success_handler(record, result)

    def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
        with self._lock:
            return super().failure_handler(record, exception)

    # --- the pipeline -----------------------------------------------------------------------
    def _hand_over(self, chains: _Chains, key: str, record: dict[str, Any]) -> None:
        """``record`` to the finishing threads (behind the records of its request_id handed over before)."""

        def finish() -> None:
            outcome = self._process_record(record)
            with self._lock:
                self._outcomes[record["messageId"]] = outcome

        chains.submit(key, finish)

    def _fits(self, record: dict[str, Any], item: _Prepared) -> bool:
        """Whether the invocation has time to start ``record`` (always without a deadline); a record
        that does not fit is deferred (False), logged and counted, unless on its last attempt."""
        if self.context is None:
            return True
        remaining = self.context.get_remaining_time_in_millis() / 1000
        estimate = self.consumer.costs.estimate(item.faces(), waiting=len(self._waiting))
        if remaining - self.margin >= estimate:
            return True
        where: dict[str, Any] = {
            "message_id": record["messageId"],
            "request_id": item.request_ids()[0],
            "faces": item.faces(),
            "estimate_seconds": round(estimate, 2),
            "remaining_seconds": round(remaining, 2),
        }
        if self._last_attempt(record):
            logger.warning("too little time left for a record on its last attempt; attempting it anyway", **where)
            return True
        logger.warning("record deferred: too little time left in this invocation; SQS delivers it again", **where)
        metrics.add_metric(name=Metric.RECORDS_DEFERRED, unit=MetricUnit.Count, value=1)
        return False

    def _last_attempt(self, record: dict[str, Any]) -> bool:
        try:
            return self.consumer.dead_letters.is_last_attempt(record)
        except Exception as exc:  # the redrive policy unknown: attempting cannot lose the record
            logger.warning("receive count unknown; attempting the record", message_id=record["messageId"], error=repr(exc))
            return True

    def _start(self, chains: _Chains, key: str, record: dict[str, Any], item: _Prepared) -> None:
        """Read the record's crops and queue them for forward passes, running each pass as it fills."""
        assert item.message is not None
        began = time.monotonic()
        try:
            item.crops = self.consumer.recognizer.crops_of(item.message)
        except Exception as exc:  # this record fails (or dead-letters) alone, not the batch
            item.error = exc
            self._hand_over(chains, key, record)
            return
        item.embed_seconds = time.monotonic() - began
        item.vectors = np.zeros((len(item.crops), self.consumer.recognizer.embedder.dimension), np.float32)
        item.unembedded = len(item.crops)
        if not item.crops:
            self._hand_over(chains, key, record)
            return
        self._waiting += [(record, i, crop) for i, crop in enumerate(item.crops)]
        while len(self._waiting) >= EMBED_BATCH_SIZE:
            self._embed_pass(chains)

    def _embed_pass(self, chains: _Chains) -> None:
        """One forward pass of the first ``EMBED_BATCH_SIZE`` waiting crops; each record whose last
        crop it embeds is handed over."""
        chains.raise_if_died()  # a finishing thread met the process's end: so does this one
        batch, self._waiting = self._waiting[:EMBED_BATCH_SIZE], self._waiting[EMBED_BATCH_SIZE:]
        began = time.monotonic()
        try:
            vectors = self.consumer.recognizer.embed([crop for _, _, crop in batch])
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
                self.consumer.costs.embedded(item.embed_seconds, item.faces())
                self._hand_over(chains, self._key(record), record)

    def _key(self, record: dict[str, Any]) -> str:
        """The records of one request_id share a key: they are finished in batch order on one thread."""
        ids = self.items[record["messageId"]].request_ids()
        return min(ids) if ids else record["messageId"]


class RecognitionConsumer:
    #: what a frame's stored response is keyed by (Powertools' jmespath over the work: keys.image_work)
    WORK_KEY = "[source, request_id, digest]"

    def __init__(
        self,
        recognizer: Recognizer,
        persistence: BasePersistenceLayer | None,
        dead_letters: DeadLetters | None = None,
        threads: int | None = None,
    ) -> None:
        self.recognizer = recognizer
        self.threads = threads or recognizer.settings.record_threads
        self.dead_letters = dead_letters or DeadLetters(recognizer.sqs)
        self.costs = FaceCosts()  # measured by every batch of this container
        # a frame is its sender's request_id and the image sent with it (keys.image_work): one
        # device cannot silence another's, nor a new image under an old id go unanswered
        self.frame_config = IdempotencyConfig(
            event_key_jmespath=self.WORK_KEY, raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_SECONDS
        )
        self.photo_config = IdempotencyConfig(  # a photo's request_id names its bucket, key and version
            event_key_jmespath="request_id", raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_SECONDS
        )
        self._frame = self._frame_work
        self._photo = self._photo_work
        self.idempotent = persistence is not None
        if persistence is not None:

            def once(unit: str, store: BasePersistenceLayer, config: IdempotencyConfig) -> Any:
                return idempotent_function(data_keyword_argument="work", persistence_store=store, config=config, key_prefix=unit)

            # one store per unit: Powertools' configure() sets the key prefix on the store itself,
            # and frame and photo records may be finished at the same time
            self._frame = once(names.FRAME_UNIT, persistence, self.frame_config)(self._frame_work)
            self._photo = once(names.PHOTO_UNIT, copy.copy(persistence), self.photo_config)(self._photo_work)

    # --- units of work (idempotent per request_id) ------------------------------------------
    def _frame_work(self, work: dict[str, Any], prepared: _Prepared) -> dict[str, Any]:
        assert prepared.message is not None
        assert prepared.vectors is not None
        assert prepared.crops is not None
        prepared.worked = True
        return self.recognizer.process_frame(prepared.message, prepared.vectors, prepared.crops).as_dict()

    def _photo_work(self, work: dict[str, Any]) -> dict[str, Any]:
        recognised = self.recognizer.process_photo(PhotoRef(**{k: v for k, v in work.items() if k != "request_id"}))
        return recognised.as_dict() if recognised is not None else {"request_id": work["request_id"], "skipped": True}

    # --- batch ------------------------------------------------------------------------------
    def handle(self, event: dict[str, Any], context: LambdaContext | None = None) -> PartialItemFailureResponse:
        event = _with_record_defaults(event)
        if context is not None:
            self.frame_config.register_lambda_context(context)
            self.photo_config.register_lambda_context(context)
        batch = RecognitionBatch(self, context)
        return process_partial_response(event=event, record_handler=batch.finish_record, processor=batch, context=context)

    def _handle_record(self, record: dict[str, Any], item: _Prepared) -> None:
        if item.past_attempts:
            return  # dead-lettered before the batch's work began
        try:
            if item.error is not None:
                raise item.error
            if item.message is not None:
                message = item.message
                work = {"source": message["source"], "request_id": message["request_id"], "digest": image_digest(message)}
                done = self._frame(work=work, prepared=item)
                # after the work is recorded done: its events (a retry publishes the same ids), then the answer,
                # which a fresh result under idempotency had not been given by anybody before
                self.recognizer.publisher.recognition(Recognised.from_dict(done), message.get("captured_at"))
                self.recognizer.answer(Recognised.from_dict(done), earlier=not (self.idempotent and item.worked))
                logger.info("frame recognised", request_id=item.message["request_id"], faces=len(item.message["faces"]))
            for photo in item.photos or []:
                done = self._photo(work={"request_id": photo.request_id, **photo.__dict__})
                if not done.get("skipped"):
                    self.recognizer.publisher.recognition(Recognised.from_dict(done))
                if not done.get("skipped") and self.recognizer.settings.photo_responses:
                    self.recognizer.answer(Recognised.from_dict(done))
                logger.info("photo recognised", request_id=photo.request_id)
        except InvalidMessageError as exc:
            self._dead_letter(record, "invalid_message", exc)
        except IdempotencyAlreadyInProgressError as exc:
            if not self.dead_letters.is_last_attempt(record):
                raise  # another delivery is working on it: retry this record later
            self._dead_letter(record, "still_in_progress", exc)  # the other delivery answers; this copy says why it stopped
        except Exception as exc:
            if not self.dead_letters.is_last_attempt(record):
                logger.warning("record failed; SQS will redeliver it", message_id=record["messageId"], error=repr(exc))
                raise
            self._dead_letter(record, "retries_exhausted", exc)

    def _dead_letter_past_attempts(self, records: list[dict[str, Any]]) -> set[str]:
        """Records on their reserved final receive (the previous attempt died): dead-letter them
        with the reason before any work, so a batch that dies again cannot take them down."""
        past = set()
        for record in records:
            if self.dead_letters.is_past_attempts(record):
                try:
                    self._dead_letter(record, "retries_exhausted", RuntimeError("the previous attempt died (timeout or out of memory)"))
                    past.add(record["messageId"])
                except Exception:  # the DLQ refused it: the record is tried once more below, then dead-lettered again
                    logger.warning("dead-lettering failed; trying the record", message_id=record["messageId"])
        return past

    def _dead_letter(self, record: dict[str, Any], reason: str, exc: Exception) -> None:
        if not self.dead_letters.send(record, reason, f"{exc.__class__.__name__}: {exc}"):
            raise exc  # no DLQ configured: let SQS keep it rather than drop it
        metrics.add_metric(name=Metric.DEAD_LETTERS, unit=MetricUnit.Count, value=1)
        logger.error("record dead-lettered", message_id=record["messageId"], reason=reason, error=str(exc))
