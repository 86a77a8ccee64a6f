"""What each function builds once per container (at INIT), from settings.

Handlers call ``detection_runtime()`` / ``recognition_runtime()``; the result is cached,
so models load once and clients are reused across invocations.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from facepipe.allocator import keep_freed_memory
from facepipe.detection import FaceDetector
from facepipe.embedding import dimension_of, load_cropper, load_embedder
from facepipe.frames import FrameAcceptor, FrameProcessor
from facepipe.index import make_index
from facepipe.names import IDEMPOTENCY_PARTITION
from facepipe.observability import Metric, MetricUnit, child_logger, metrics
from facepipe.people import PeopleStore
from facepipe.recognition import Recognizer
from facepipe.recognition.consumer import RecognitionConsumer
from facepipe.settings import Settings

logger = child_logger()


def idempotency_store(settings: Settings) -> DynamoDBPersistenceLayer:
    """Powertools idempotency records live in the one table, under their own partition."""
    return DynamoDBPersistenceLayer(
        table_name=settings.ddb_table_name, key_attr="PK", sort_key_attr="SK", static_pk_value=IDEMPOTENCY_PARTITION
    )


def _threads(settings: Settings) -> int:
    """Threads for the models: ``TORCH_NUM_THREADS``, else the machine's cores (in Lambda, the vCPUs the memory buys)."""
    return settings.torch_num_threads or os.cpu_count() or 1


def _tune_process(settings: Settings) -> None:
    """torch's threads, when the function runs torch (recognition does not on its SQS path: facenet
    runs in onnxruntime, dlib-resnet in dlib). And the allocator keeps freed tensors' memory for
    the next frame (facepipe.allocator)."""
    keep_freed_memory()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(_threads(settings))


def _initialised(function: str, started: float, settings: Settings) -> float:
    """INIT's duration: logged, and a metric flushed with the first invocation (its cold start)."""
    seconds = time.perf_counter() - started
    logger.info(f"{function} initialised", init_seconds=round(seconds, 3), embedding_model=settings.embedding_model)
    metrics.add_metric(name=Metric.INIT_SECONDS, unit=MetricUnit.Seconds, value=round(seconds, 3))
    return seconds


@dataclass
class DetectionRuntime:
    settings: Settings
    frames: FrameProcessor
    accept: FrameAcceptor  # frames.process, once per request_id when a table is set
    init_seconds: float


@dataclass
class RecognitionRuntime:
    settings: Settings
    recognizer: Recognizer
    consumer: RecognitionConsumer
    init_seconds: float


@functools.cache
def detection_runtime() -> DetectionRuntime:
    started = time.perf_counter()
    settings = Settings.from_env()
    detector = FaceDetector.from_settings(settings)
    _tune_process(settings)
    frames = FrameProcessor(settings, detector, load_cropper(settings.embedding_model))
    accept = FrameAcceptor(frames, idempotency_store(settings) if settings.ddb_table_name else None)
    seconds = _initialised("detection", started, settings)
    return DetectionRuntime(settings, frames, accept, seconds)


@functools.cache
def recognition_runtime() -> RecognitionRuntime:
    started = time.perf_counter()
    settings = Settings.from_env()
    settings.require("RESPONSE_QUEUE_URL", "DDB_TABLE_NAME")
    embedder = load_embedder(settings.embedding_model, settings.facenet_weights_path, _threads(settings))
    _tune_process(settings)
    index = make_index(settings, dimension_of(settings.embedding_model))
    recognizer = Recognizer(settings, embedder, index, PeopleStore(settings.ddb_table_name))
    consumer = RecognitionConsumer(recognizer, idempotency_store(settings))
    seconds = _initialised("recognition", started, settings)
    return RecognitionRuntime(settings, recognizer, consumer, seconds)
