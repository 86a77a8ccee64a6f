"""``facepipe local up``: the whole pipeline on one machine with no AWS account (docs/local.md).

moto server (queues, table, bucket, SSM parameter, from facepipe.names) on 127.0.0.1, in
a process of its own (local/emulator.py); each function's unmodified handler file in its own processes, loaded as Lambda
loads it (local/worker.py): face-detection served as a function URL, face-recognition fed by
an SQS event source that spreads batches over ``recognition_environments`` processes (Lambda
runs several containers at once). They share one embedded index served from this process on
Pinecone's data-plane routes (the functions use the real Pinecone adapter against it), which
can show fresh upserts late, as Pinecone does (``index_delay``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

from facepipe import names as n
from facepipe.access import DEFAULT_TOKENS_PARAMETER, parse_tokens
from facepipe.embedding import dimension_of
from facepipe.names import StackNames
from facepipe.settings import Settings
from facepipe_tools.local.delayed_index import DelayedIndex
from facepipe_tools.local.event_source import SqsEventSource
from facepipe_tools.local.functions import FunctionServer
from facepipe_tools.local.resources import Resources, create_resources
from facepipe_tools.local.vector_server import serve_vector_index
from facepipe_tools.local.worker import FunctionPool
from facepipe_tools.stacks import LOCAL_CREDENTIALS, StackInfo

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

log = logging.getLogger("facepipe_tools.local")

REGION = "us-east-1"
DEFAULT_STATE_FILE = Path(".facepipe/local.json")


@dataclass
class StackOptions:
    moto_port: int = 5000
    detection_port: int = 9000
    recognition_port: int = 9001
    vector_port: int = 5081
    embedding_model: str = "dlib-resnet"
    prefix: str = n.DEFAULT_PREFIX
    batch_size: int = n.BATCH_SIZE
    batching_window: float = 0.0
    request_visibility: int = n.REQUEST_VISIBILITY_SECONDS
    max_receive_count: int = n.MAX_RECEIVE_COUNT
    response_visibility: int = n.RESPONSE_VISIBILITY_SECONDS
    pollers: int = 2
    #: face-detection execution environments (processes) serving the function URL concurrently;
    #: on a 2-core machine one is fastest (measured with tests/clients/seed_client.py, see README)
    detection_environments: int = 1
    #: face-recognition execution environments: more than one, so that what several Lambda
    #: containers do to each other (one stranger in two containers) shows locally
    recognition_environments: int = 2
    #: seconds before an upserted vector is returned by queries (Pinecone: 10-30 s); 0 = at once
    index_delay: float = 0.0
    #: milliseconds a TransactWriteItems / a single write keeps its items in flight in the emulator,
    #: refusing what meets them as DynamoDB does (local/strict_dynamodb.py); 0 = never
    transaction_ms: float = 25.0
    write_ms: float = 5.0
    #: seconds away from a source before a person seen there arrives again (ARRIVAL_COOLDOWN_SECONDS)
    arrival_cooldown: int = 600
    state_file: Path | None = DEFAULT_STATE_FILE
    environment: dict[str, str] = field(default_factory=dict)
    #: per-device tokens {source: token} (facepipe.access): stored as the deployed stack stores
    #: them, and face-detection then asks every request for its token; empty: no tokens
    device_tokens: dict[str, str] = field(default_factory=dict)


def store_device_tokens(ssm: SSMClient, tokens: dict[str, str]) -> None:
    """Per-device tokens into the emulator's SSM, where face-detection reads them (facepipe.access)."""
    parse_tokens(tokens, DEFAULT_TOKENS_PARAMETER)  # the same checks as the function's cold start
    ssm.put_parameter(Name=DEFAULT_TOKENS_PARAMETER, Type="SecureString", Value=json.dumps(tokens), Overwrite=True)


def write_state(path: Path, info: StackInfo) -> None:
    """``info`` as ``path`` (local.json), whole or not at all: scripts and the CLI poll for the file
    and read it as soon as it exists, so it appears by rename, never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(partial, path)


class LocalStack:
    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self.names = StackNames(self.options.prefix)
        self.resources: Resources | None = None
        self._info: StackInfo | None = None
        self._stoppers: list[Callable[[], None]] = []

    @property
    def info(self) -> StackInfo:
        """The endpoints of the started stack (what ``.facepipe/local.json`` holds)."""
        if self._info is None:
            raise RuntimeError("the local stack is not started")
        return self._info

    def environment(self, endpoint: str, resources: Resources, vector_url: str) -> dict[str, str]:
        """What the two functions see: the same names Terraform sets (facepipe.settings); the
        index is the stack's, served on Pinecone's routes (``vector_url``)."""
        settings = resources.settings(
            pinecone_ssm_parameter_name=resources.ssm_parameter,
            vector_backend="pinecone",
            pinecone_index_host=vector_url,
            embedding_model=self.options.embedding_model,
            torch_num_threads=1,  # the two functions share this machine's cores; in Lambda each gets its own vCPUs
            device_tokens_ssm_parameter_name=DEFAULT_TOKENS_PARAMETER if self.options.device_tokens else "",
            event_bus_name=resources.event_bus,
            arrival_cooldown_seconds=self.options.arrival_cooldown,
        )
        aws = {**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
        return {**aws, **settings.environment(), **self.options.environment}

    def start(self) -> StackInfo:
        from facepipe_tools.local.emulator import EmulatorProcess

        opts = self.options
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the function URL's per-request access log
        moto = EmulatorProcess("127.0.0.1", opts.moto_port, transaction_ms=opts.transaction_ms, write_ms=opts.write_ms)
        self._stoppers.append(moto.stop)  # after the event sources (they are inserted first)
        endpoint = moto.start()
        log.info("AWS emulator (moto, its own process) on %s", endpoint)

        session = boto3.session.Session(
            region_name=REGION,
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
        )
        resources = create_resources(
            session,
            self.names,
            endpoint_url=endpoint,
            request_visibility=opts.request_visibility,
            max_receive_count=opts.max_receive_count,
            response_visibility=opts.response_visibility,
        )
        self.resources = resources
        if opts.device_tokens:
            store_device_tokens(session.client("ssm", endpoint_url=endpoint), opts.device_tokens)
        # the shared index, on Pinecone's data-plane routes: every recognition environment (and
        # the CLI) reaches it through the real Pinecone adapter
        index = DelayedIndex(dimension_of(opts.embedding_model), opts.index_delay)
        vectors = serve_vector_index(index, port=opts.vector_port)
        self._stoppers.append(vectors.stop)
        os.environ.update(self.environment(endpoint, resources, vectors.url))

        log.info("loading face-detection and %d face-recognition environments (%s)", opts.recognition_environments, opts.embedding_model)
        detection = FunctionPool("face_detection", dict(os.environ), opts.detection_environments).start()
        self._stoppers.append(detection.stop)
        recognition = FunctionPool("face_recognition", dict(os.environ), opts.recognition_environments).start()
        self._stoppers.append(recognition.stop)
        self.detection = FunctionServer(detection, self.names.detection_function, opts.detection_port).start()
        self.recognition = FunctionServer(recognition, self.names.recognition_function, opts.recognition_port, function_url=False).start()
        self._stoppers += [self.detection.stop, self.recognition.stop]

        sqs = session.client("sqs", endpoint_url=endpoint)
        for queue_url in (resources.request_queue_url, resources.photo_queue_url):
            source = SqsEventSource(
                sqs,
                queue_url,
                self.recognition.invoke,
                batch_size=opts.batch_size,
                batching_window=opts.batching_window,
                pollers=max(opts.pollers, opts.recognition_environments),
                region=REGION,
            ).start()
            self._stoppers.insert(0, source.stop)

        self._info = {
            "function_url": self.detection.url,
            "endpoint_url": endpoint,
            "request_queue_url": resources.request_queue_url,
            "response_queue_url": resources.response_queue_url,
            "photo_queue_url": resources.photo_queue_url,
            "request_dlq_url": resources.request_dlq_url,
            "photo_dlq_url": resources.photo_dlq_url,
            "photo_bucket": resources.bucket,
            "table": resources.table,
            "ssm_parameter": resources.ssm_parameter,
            "event_bus": resources.event_bus,
            "events_queue_url": resources.events_queue_url,
            "vector_url": vectors.url,
            "embedding_model": opts.embedding_model,
            "namespace": Settings.from_env().namespace,
            "detection_invoke_url": self.detection.invoke_url,
            "recognition_invoke_url": self.recognition.invoke_url,
            "region": REGION,
            "pid": os.getpid(),
        }
        if opts.state_file is not None:
            write_state(opts.state_file, self._info)
        return self._info

    def stop(self) -> None:
        for stop in self._stoppers:
            try:
                stop()
            except Exception:  # keep stopping the rest
                log.exception("while stopping the local stack")
        self._stoppers.clear()
        state = self.options.state_file
        if state is not None and state.exists() and json.loads(state.read_text()).get("pid") == os.getpid():
            state.unlink()

    @classmethod
    def ephemeral(cls) -> LocalStack:
        """A stack on free ports that writes no state file (``facepipe demo``, ``eval``, ``bench``)."""
        return cls(StackOptions(moto_port=0, detection_port=0, recognition_port=0, vector_port=0, state_file=None))

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
