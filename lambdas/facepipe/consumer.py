"""The recognition function's SQS batch: partial failures, idempotency, reasoned dead letters.

All crops of all frame records in a batch are embedded in one forward pass; then
the records are finished, ``RECORD_THREADS`` at a time (each makes ~8 sequential
DynamoDB, Pinecone and SQS calls; across records they overlap), and Powertools'
BatchProcessor reports each record's outcome, so one bad record does not fail the
batch. Records of one request_id are finished in order on one thread. Concurrent
records are safe for the reasons concurrent containers are (conditional writes, the
stranger registry); what they share in the container is thread-safe (boto3 clients,
the index clients, ``RecentVectors``, metrics). Each frame/photo is processed once per
request_id (Powertools idempotency); a repeat returns the stored response and sends nothing.
"""

from __future__ import annotations

import copy
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from PIL import Image

from facepipe import names
from facepipe.events import PhotoRef, parse_queue_message
from facepipe.exceptions import InvalidMessageError
from facepipe.messages import RequestMessage
from facepipe.names import IDEMPOTENCY_SECONDS
from facepipe.observability import Metric, MetricUnit, child_logger, metrics
from facepipe.queues import DeadLetters
from facepipe.recognition import Recognised, Recognizer

logger = child_logger()


@dataclass
class _Prepared:
    message: RequestMessage | None = None
    photos: list[PhotoRef] | None = None
    crops: list[Image.Image] | None = None
    vectors: np.ndarray | None = None
    error: Exception | None = None
    past_attempts: bool = False  # on its reserved final receive: dead-lettered before the work
    worked: bool = False  # this delivery did the work (under idempotency: no stored result, nobody answered it yet)

    def request_ids(self) -> list[str]:
        if self.message is not None:
            return [self.message["request_id"]]
        return [photo.request_id for photo in self.photos or []]


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


class RecognitionConsumer:
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
        self.config = IdempotencyConfig(
            event_key_jmespath="request_id", raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_SECONDS
        )
        self._frame = self._frame_work
        self._photo = self._photo_work
        self.idempotent = persistence is not None
        if persistence is not None:

            def once(unit: str, store: BasePersistenceLayer) -> Any:
                return idempotent_function(data_keyword_argument="work", persistence_store=store, config=self.config, key_prefix=unit)

            # one store per unit: Powertools' configure() sets the key prefix on the store itself,
            # and frame and photo records may be finished at the same time
            self._frame = once(names.FRAME_UNIT, persistence)(self._frame_work)
            self._photo = once(names.PHOTO_UNIT, copy.copy(persistence))(self._photo_work)

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
    def prepare(self, records: list[dict[str, Any]]) -> dict[str, _Prepared]:
        """Parse every record and embed the crops of all frames in one forward pass."""
        prepared = {r["messageId"]: _classify(r["body"]) for r in records}
        frames = []
        for item in prepared.values():
            if item.message is None:
                continue
            try:
                item.crops = self.recognizer.crops_of(item.message)
                frames.append(item)
            except Exception as exc:  # this record fails (or dead-letters) alone, not the batch
                item.error = exc
        crops = [crop for item in frames for crop in item.crops or []]
        vectors = self.recognizer.embed(crops) if crops else np.zeros((0, self.recognizer.embedder.dimension), np.float32)
        start = 0
        for item in frames:
            count = len(item.crops or [])
            item.vectors = vectors[start : start + count]
            start += count
        return prepared

    def handle(self, event: dict[str, Any], context: LambdaContext | None = None) -> PartialItemFailureResponse:
        event = _with_record_defaults(event)
        records = event["Records"]
        if context is not None:
            self.config.register_lambda_context(context)
        past = self._dead_letter_past_attempts(records)  # first: the batch's work may kill the process again
        prepared = self.prepare([r for r in records if r["messageId"] not in past])
        prepared |= {message_id: _Prepared(past_attempts=True) for message_id in past}
        failures = self.finish(records, prepared)

        def record_handler(record: SQSRecord) -> None:
            if (failure := failures.get(record.message_id)) is not None:
                raise failure

        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

    def finish(self, records: list[dict[str, Any]], prepared: dict[str, _Prepared]) -> dict[str, Exception]:
        """Finish every record, ``threads`` at a time; records sharing a request_id in their
        batch order on one thread (the later one finds the earlier one's stored answer). The
        exception of each record that failed, by messageId."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            ids = prepared[record["messageId"]].request_ids()
            groups.setdefault(min(ids) if ids else record["messageId"], []).append(record)

        def finish_group(group: list[dict[str, Any]]) -> dict[str, Exception]:
            failed = {}
            for record in group:
                try:
                    self._handle_record(record, prepared[record["messageId"]])
                except Exception as exc:  # reported per record by BatchProcessor
                    failed[record["messageId"]] = exc
            return failed

        workers = min(self.threads, len(groups))
        if workers <= 1:
            outcomes = [finish_group(group) for group in groups.values()]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="record") as pool:
                outcomes = list(pool.map(finish_group, groups.values()))
        return {message_id: exc for failed in outcomes for message_id, exc in failed.items()}

    def _handle_record(self, record: dict[str, Any], item: _Prepared) -> None:
        if item.past_attempts:
            return  # dead-lettered before the batch's work began
        try:
            if item.error is not None:
                raise item.error
            if item.message is not None:
                done = self._frame(work={"request_id": item.message["request_id"]}, prepared=item)
                # after the work is recorded done; a fresh result under idempotency was answered by nobody before
                self.recognizer.answer(Recognised.from_dict(done), earlier=not (self.idempotent and item.worked))
                logger.info("frame recognised", request_id=item.message["request_id"], faces=len(item.message["faces"]))
            for photo in item.photos or []:
                done = self._photo(work={"request_id": photo.request_id, **photo.__dict__})
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
