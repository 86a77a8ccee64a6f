"""Both functions' cores in this process, over the clients of one boto3 session (moto's, for the
tests and the console's screenshots): frames sent through detection's message builder, then
through the request queue to the recognition consumer, as Lambda's event source hands them on."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from PIL import Image

from facepipe.embedding import load_cropper
from facepipe.events import FrameRequest
from facepipe.frames import FrameProcessor
from facepipe.index.embedded import EmbeddedIndex
from facepipe.messages import encode
from facepipe.people import PeopleStore
from facepipe.recognition import Recognizer
from facepipe.recognition.consumer import RecognitionConsumer
from facepipe.runtime import idempotency_store
from facepipe_tools.local.context import LambdaContext
from facepipe_tools.local.event_source import sent_and_received

if TYPE_CHECKING:
    import boto3
    from aws_lambda_powertools.utilities.typing import LambdaContext as PowertoolsContext

    from facepipe.detection import FaceDetector
    from facepipe.embedding import Embedder
    from facepipe.index import VectorIndex
    from facepipe.settings import Settings


@dataclass
class InProcessPipeline:
    """Detection's message builder and recognition's consumer on one session's queues, table,
    bucket, and a vector index in memory."""

    settings: Settings
    frames: FrameProcessor
    recognizer: Recognizer
    consumer: RecognitionConsumer
    sqs: Any

    @classmethod
    def create(
        cls,
        session: boto3.session.Session,
        settings: Settings,
        detector: FaceDetector,
        embedder: Embedder,
        index: VectorIndex | None = None,
    ) -> InProcessPipeline:
        sqs, s3 = session.client("sqs"), session.client("s3")
        people = PeopleStore(settings.ddb_table_name, dynamodb=session.resource("dynamodb"))
        index = index or EmbeddedIndex(embedder.dimension)
        recognizer = Recognizer(settings, embedder, index, people, sqs=sqs, s3=s3, detector=detector)
        frames = FrameProcessor(settings, detector, load_cropper(embedder.model), sqs=sqs, s3=s3)
        return cls(settings, frames, recognizer, RecognitionConsumer(recognizer, idempotency_store(settings)), sqs)

    def recognise(self, frames_in: list[tuple[str, bytes]], source: str = "door", batch: int = 10) -> dict[str, dict[str, Any]]:
        """Send ``(request_id, JPEG)`` frames through detection and recognition, ``batch`` records
        an invocation; the answers by request_id. A frame without a face is not queued (detection
        answers it itself). ``RuntimeError`` when a record fails."""
        bodies = []
        for request_id, data in frames_in:
            image = Image.open(io.BytesIO(data)).convert("RGB")
            detected = self.frames.detector.detect(image)
            if detected:
                request = FrameRequest(request_id, f"{request_id}.jpg", source, image, len(data))
                bodies.append(encode(self.frames.build_message(request, detected)))
        for start in range(0, len(bodies), batch):
            event = sent_and_received(self.sqs, self.settings.request_queue_url, bodies[start : start + batch], batch)
            result = self.consumer.handle(dict(event), cast("PowertoolsContext", LambdaContext()))  # every field Powertools reads
            if result["batchItemFailures"]:
                raise RuntimeError(f"records failed: {result['batchItemFailures']}")
        return {answer["request_id"]: answer for answer in self._responses()}

    def _responses(self) -> list[dict[str, Any]]:
        """Every response on the response queue, received and deleted."""
        found = []
        while batch := self.sqs.receive_message(QueueUrl=self.settings.response_queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                self.sqs.delete_message(QueueUrl=self.settings.response_queue_url, ReceiptHandle=message["ReceiptHandle"])
                found.append(json.loads(message["Body"]))
        return found
