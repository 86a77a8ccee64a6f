"""The recognition function's SQS batch consumer: ``RecognitionConsumer.handle`` runs each
batch through ``RecognitionBatch`` (``batch``: a Powertools custom processor with bounded
forward passes, each record finished as soon as its crops are embedded, under the invocation's
``deadline``), and returns the partial failures.

Each frame or photo is processed once (Powertools idempotency): a frame per (source,
request_id, image), a photo per request_id (its bucket, key and version); a repeat returns the
stored response and sends nothing. What fails ends as ``outcomes`` says: retried by SQS, or
dead-lettered with its reason. Concurrent records are safe for the reasons concurrent
containers are (conditional writes, the stranger registry); what they share in the container is
thread-safe (boto3 clients, the index clients, ``RecentVectors``, metrics).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe import names
from facepipe.events import PhotoRef
from facepipe.names import IDEMPOTENCY_SECONDS
from facepipe.observability import child_logger
from facepipe.queues import DeadLetters
from facepipe.recognition.batch import Prepared, RecognitionBatch
from facepipe.recognition.deadline import FaceCosts
from facepipe.recognition.outcomes import record_outcome
from facepipe.recognition.recognizer import Recognizer
from facepipe.recognition.results import Recognised, image_digest

logger = child_logger()


def with_record_defaults(event: dict[str, Any]) -> dict[str, Any]:
    """Hand-written events (the documented test event) carry only ``body``: fill in the rest."""
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
    """The recognition function's batches, on one container's recognizer."""

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
    def _frame_work(self, work: dict[str, Any], prepared: Prepared) -> dict[str, Any]:
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
        event = with_record_defaults(event)
        if context is not None:
            self.frame_config.register_lambda_context(context)
            self.photo_config.register_lambda_context(context)
        batch = RecognitionBatch(self.recognizer, self._handle_record, self.costs, self.dead_letters, self.threads, context)
        return process_partial_response(event=event, record_handler=batch.finish_record, processor=batch, context=context)

    def _handle_record(self, record: dict[str, Any], item: Prepared) -> None:
        """A record's work, its events and its answer (on a finishing thread)."""
        if item.past_attempts:
            return  # dead-lettered before the batch's work began
        with record_outcome(self.dead_letters, record):
            if item.error is not None:
                raise item.error
            if item.message is not None:
                message = item.message
                work = {"source": message["source"], "request_id": message["request_id"], "digest": image_digest(message)}
                done = self._frame(work=work, prepared=item)
                # after the work is recorded done: its events (a retry publishes the same ids), then the answer,
                # which a fresh result under idempotency had not been given by anybody before
                recognised = Recognised.from_dict(done)
                self.recognizer.publisher.recognition(recognised.response, recognised.source, message.get("captured_at"))
                self.recognizer.answer(recognised, earlier=not (self.idempotent and item.worked))
                logger.info("frame recognised", request_id=item.message["request_id"], faces=len(item.message["faces"]))
            for photo in item.photos or []:
                done = self._photo(work={"request_id": photo.request_id, **photo.__dict__})
                if not done.get("skipped"):
                    recognised = Recognised.from_dict(done)
                    self.recognizer.publisher.recognition(recognised.response, recognised.source)
                    if self.recognizer.settings.photo_responses:
                        self.recognizer.answer(recognised)
                logger.info("photo recognised", request_id=photo.request_id)
